#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# domain.xml.in under the real libvirtd: memguest in a KVM domain on
# shared memfd RAM, with a disk, a tap NIC and an appended serial log.
#   1. virsh create: the guest fills its RAM and reports, ok=1, counter
#      continuous;
#   2. what libvirt gave QEMU, printed for whoever replaces that QEMU:
#      its argv (/proc/PID/cmdline) and its fd table; the memfd and the
#      tap (/dev/net/tun) are there, the monitor is a listening socket fd;
#   3. destroyed and created again on the same log: the first boot's
#      lines are still there (append='on'), the second boot's follow.
# It starts virtlogd and libvirtd if none runs, with QEMU as root
# (/dev/kvm is 0600 in these containers; qemu.conf is restored after),
# and stops only what it started. MEMGUEST_ACCEL=tcg: a TCG domain.
# (libvirt 9.0 hands QEMU no serial log file: the fd in "-add-fd set=0,
# fd=N" is a pipe to virtlogd, which appends to the file. A new QEMU on
# the same argv needs that pipe at fd N, the tap at its fd, the monitor
# listener at its fd.)
set -u
. "$(dirname "$0")/guest.sh"
. "$(dirname "$0")/../host-leftovers.sh"
accel=${MEMGUEST_ACCEL:-kvm}
for p in libvirtd virtlogd virsh qemu-system-x86_64; do
	command -v $p >/dev/null || {
		echo "SKIP: $p is not installed (Debian: libvirt-daemon-system, libvirt-clients, qemu-system-x86)"
		exit 77
	}
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (libvirt's system instance)"; exit 77; }
type=kvm
if [ "$accel" = tcg ]; then
	type=qemu
elif [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is not usable (MEMGUEST_ACCEL=tcg runs it under TCG)"
	exit 77
fi
img=$(mg_image) || {
	echo "FAIL: no memguest image: make tests/qemu/memguest, or set MEMGUEST"
	exit 1
}

dir=$(mktemp -d)
chmod 755 "$dir"
conf=/etc/libvirt/qemu.conf
name=memguest-$$
uuid=$(cat /proc/sys/kernel/random/uuid)
log=$dir/serial.log
virsh() { command virsh -q -c qemu:///system "$@"; }
started_logd= started_libvirtd= conf_saved=
cleanup() {
	virsh destroy "$name" >/dev/null 2>&1
	if [ -n "$started_libvirtd" ]; then
		kill "$started_libvirtd"
		mg_t=100
		while kill -0 "$started_libvirtd" 2>/dev/null && [ $mg_t -gt 0 ]; do
			sleep 0.1
			mg_t=$((mg_t - 1))
		done
	fi
	# The same inode, so nothing that holds qemu.conf open sees a new file.
	[ -n "$conf_saved" ] && cat "$dir/qemu.conf" >"$conf"
	[ -n "$started_logd" ] && kill "$started_logd"
	rm -rf "$dir"
}
trap cleanup EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }
expect() { # expect NAME COMMAND...
	n=$1
	shift
	if "$@"; then ok; else bad "$n"; fi
}

# ---- a libvirtd of our own, unless one runs ----
if ! pgrep -x virtlogd >/dev/null; then
	virtlogd --daemon || { echo "FAIL: virtlogd does not start"; exit 1; }
	started_logd=$(cat /run/virtlogd.pid)
fi
if pgrep -x libvirtd >/dev/null; then
	echo "note: a libvirtd already runs; its qemu.conf is used as it is"
else
	# A libvirtd started now would reconnect to, and might kill, the
	# domains of one that is stopped for a while (an upgrade test's).
	for f in /run/libvirt/qemu/*.pid; do
		[ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null || continue
		echo "SKIP: $f runs while no libvirtd does; not starting one under it"
		exit 77
	done
	qemu_as_root "$conf" "$dir/qemu.conf"
	conf_saved=1
	libvirtd --daemon || { echo "FAIL: libvirtd does not start"; exit 1; }
	started_libvirtd=$(cat /run/libvirtd.pid)
	mg_t=300
	until virsh version >/dev/null 2>&1; do
		mg_t=$((mg_t - 1))
		[ $mg_t -gt 0 ] || { echo "FAIL: libvirtd does not answer"; exit 1; }
		sleep 0.1
	done
fi

# fd_table PID: ls -l of its fds, annotated
fd_table() {
	for f in $(ls "/proc/$1/fd" | sort -n); do
		l=$(readlink "/proc/$1/fd/$f") || continue
		more=
		case $l in
		pipe:*)
			for o in $(ls -d /proc/[0-9]*/fd/* 2>/dev/null); do
				p=${o#/proc/}
				p=${p%%/*}
				[ "$p" != "$1" ] && [ "$(readlink "$o")" = "$l" ] &&
					more="$more $(cat "/proc/$p/comm") (pid $p fd ${o##*/})"
			done
			[ -n "$more" ] && more=" other end:$more"
			;;
		/dev/net/tun)
			more=" $(sed -n 's/^iff:[[:space:]]*/tap /p' "/proc/$1/fdinfo/$f")"
			;;
		esac
		echo "  $f -> $l$more"
	done
}

# ---- 1. the domain runs the guest ----
if command -v qemu-img >/dev/null; then
	qemu-img create -q -f raw "$dir/disk.raw" 16M
else
	truncate -s 16M "$dir/disk.raw"
fi
sed -e "s|@TYPE@|$type|" -e "s|@NAME@|$name|" -e "s|@UUID@|$uuid|" \
	-e "s|@MEM_MIB@|256|" -e "s|@KERNEL@|$img|" -e "s|@SEED@|1234|" \
	-e "s|@DISK@|$dir/disk.raw|" -e "s|@TAP@|mgtap$$|" -e "s|@LOG@|$log|" \
	-e "s|@EMULATOR@|$(command -v qemu-system-x86_64)|" \
	"$(dirname "$0")/domain.xml.in" >"$dir/domain.xml"
if ! virsh create "$dir/domain.xml" >/dev/null; then
	bad "virsh create"
	echo "$passes passed, $fails failed"
	exit 1
fi
pid=$(cat "/run/libvirt/qemu/$name.pid")
expect "the guest fills its RAM" mg_wait 600 "$log" '^memguest: filled '
expect "the guest reports 3 times" mg_wait_reports 60 "$log" 3
expect "the guest's reports: ok=1, counter continuous" mg_verdict "$log"
sed -n 's/^memguest: \(filled\|fill_ms\)/  guest: \1/p' "$log"

# ---- 2. what libvirt gave QEMU ----
cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
echo "QEMU pid $pid, argv:"
echo "$cmd"
echo "QEMU's fds (a pipe: who holds its other end; the tap: its name):"
fd_table "$pid"
expect "argv: memfd RAM, shared" \
	sh -c "echo '$cmd' | grep -q '\"qom-type\":\"memory-backend-memfd\".*\"share\":true'"
fds=$(ls -l "/proc/$pid/fd")
expect "fds: the memfd" sh -c "echo '$fds' | grep -q 'memfd:memory-backend-memfd'"
expect "fds: the tap" sh -c "echo '$fds' | grep -q ' /dev/net/tun$'"
mon=$(echo "$cmd" | sed -n 's/.*id=charmonitor,fd=\([0-9]*\).*/\1/p')
expect "argv: the monitor is an fd libvirt passed" test -n "$mon"
# /proc/net/unix: Flags 00010000 is __SO_ACCEPTCON, a listener.
listening() {
	ino=$(readlink "/proc/$pid/fd/$1" | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
	[ -n "$ino" ] && awk -v i="$ino" '$7 == i && $4 == "00010000" { f = 1 }
		END { exit !f }' /proc/net/unix
}
expect "fds: the monitor fd is a listening socket" listening "${mon:-none}"

# ---- 3. the log survives a new QEMU ----
expect "virsh destroy" virsh destroy "$name" >/dev/null
cp "$log" "$dir/first.log"
filled_twice() { [ "$(grep -c '^memguest: filled ' "$log")" -ge 2 ]; }
expect "virsh create again, same log" virsh create "$dir/domain.xml" >/dev/null
mg_t=600
until filled_twice || [ $mg_t = 0 ]; do
	sleep 1
	mg_t=$((mg_t - 1))
done
expect "the second boot fills its RAM, after the first's lines" filled_twice
expect "the first boot's lines are kept" sh -c \
	"head -c $(wc -c <"$dir/first.log") '$log' | cmp -s - '$dir/first.log'"
expect "virsh destroy" virsh destroy "$name" >/dev/null
echo "$passes passed, $fails failed"
[ $fails = 0 ]
