# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the QEMU tests, the QEMU demo and the QEMU bench: a private
# migrd, the built hook behind a wrapper in libvirt's hook directory,
# virtlogd and libvirtd (QEMU as root: /dev/kvm is 0600 here; qemu.conf is
# restored at exit), and memguest domains from domain.xml.in. Needs MIGRD
# and HOOK; sets dir, sock, qemu, type. Exits 77 with the reason where it
# cannot run: a libvirtd already running, not root, packages missing.
# Without /dev/kvm the domains run under TCG (type='qemu').
here=${here:-$(cd "$(dirname "$0")" && pwd)}
. "$here/qemu/guest.sh"
. "$here/host-leftovers.sh"
for p in libvirtd virtlogd virsh qemu-system-x86_64; do
	command -v $p >/dev/null || {
		echo "SKIP: $p is not installed (./dev libvirtd installs it)"
		exit 77
	}
done
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (libvirt's system instance)"; exit 77; }
pgrep -r R,S,D,T -x libvirtd >/dev/null && {
	echo "SKIP: a libvirtd already runs here; this test starts its own"
	exit 77
}
img=$(mg_image) || { echo "FAIL: no memguest image (make tests/qemu/memguest)"; exit 1; }
type=kvm
[ -w /dev/kvm ] || { type=qemu; echo "note: no /dev/kvm here: the domains run under TCG"; }

umask 022
dir=$(mktemp -d)
chmod 755 "$dir"
sock=$dir/migrd.sock
export MIGRD_SOCKET=$sock
conf=/etc/libvirt/qemu.conf
hooks=/etc/libvirt/hooks/qemu.d
wrapper=$hooks/zz-migrd-qemu-test-$$
qemu=$(command -v qemu-system-x86_64)
passes=0 fails=0 doms= migrd_pid= started_logd=
virsh() { command virsh -q -c qemu:///system "$@"; }
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }
expect() { # expect NAME COMMAND...
	what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}
wait_for() { # wait_for SECONDS COMMAND...
	t=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.1
	done
}
host_cleanup() {
	for d in $doms; do
		virsh destroy "$d" >/dev/null 2>&1
	done
	pkill -x libvirtd
	wait_for 10 sh -c "! pgrep -r R,S,D,T -x libvirtd >/dev/null"
	# libvirtd gone before it could: no QEMU of ours outlives the test.
	for d in $doms; do
		pkill -9 -f "guest=$d," 2>/dev/null
	done
	[ -f "$dir/qemu.conf" ] && cat "$dir/qemu.conf" >"$conf"
	stop_virtlogd
	[ -n "$migrd_pid" ] && kill "$migrd_pid" 2>/dev/null
	rm -f "$wrapper"
	rm -rf "$dir"
}
trap host_cleanup EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM

# MIGRD_EXTRA_CONF: more migrd.conf lines (bench/qemu.sh gives a copy
# of several GiB under TCG the time it takes).
start_migrd() {
	printf 'socket = %s\n%s\n' "$sock" "${MIGRD_EXTRA_CONF:-}" >"$dir/migrd.conf"
	"$MIGRD" --foreground --config "$dir/migrd.conf" 2>>"$dir/migrd.log" &
	migrd_pid=$!
	wait_for 10 test -S "$sock" || { echo "FAIL: migrd did not start"; exit 1; }
}
start_libvirtd() {
	libvirtd --daemon || return 1
	wait_for 30 virsh version >/dev/null
}
# The management daemon answers (a libvirtd that exited but was not
# reaped yet still shows in pgrep).
libvirtd_runs() { virsh version >/dev/null 2>&1; }

# ---- the host: migrd, the hook, virtlogd, libvirtd with QEMU as root ----
start_migrd
printf 'socket = %s\n' "$sock" >"$dir/hook.conf"
mkdir -p "$hooks"
# A run killed by SIGKILL leaves its wrapper behind: without its
# directory it does nothing, and the next run removes it.
rm_stale_wrappers "$hooks"
printf '#!/bin/sh\n[ -d %s ] || exit 0\nMIGRD_HOOK_CONF=%s exec %s "$@" 2>>%s\n' \
	"$dir" "$dir/hook.conf" "$HOOK" "$dir/hook.err" >"$wrapper"
chmod 755 "$wrapper"
qemu_as_root "$conf" "$dir/qemu.conf"
start_virtlogd || { echo "FAIL: virtlogd does not start"; exit 1; }
start_libvirtd || { echo "FAIL: libvirtd does not start"; exit 1; }

# define_domain NAME MIB [SOURCE]: its XML; SOURCE memfd (default) or file
define_domain() {
	truncate -s 16M "$dir/$1.disk"
	sed -e "s|@TYPE@|$type|" -e "s|@NAME@|$1|" \
		-e "s|@UUID@|$(cat /proc/sys/kernel/random/uuid)|" \
		-e "s|@MEM_MIB@|$2|" -e "s|@KERNEL@|$img|" -e "s|@SEED@|$$|" \
		-e "s|@DISK@|$dir/$1.disk|" -e "s|@TAP@|mq$(echo "$$-$1" | cksum | cut -d' ' -f1)|" \
		-e "s|@LOG@|$dir/$1.log|" -e "s|@EMULATOR@|$qemu|" \
		"$here/qemu/domain.xml.in" >"$dir/$1.xml"
	[ "${3:-memfd}" = memfd ] ||
		sed -i -e "/<source type='memfd'\/>/d" -e "/<access mode='shared'\/>/d" "$dir/$1.xml"
}
# start_domain NAME MIB [SOURCE]: running, the guest reporting
start_domain() {
	define_domain "$@"
	virsh create "$dir/$1.xml" >/dev/null || return 1
	doms="$doms $1"
	mg_wait 300 "$dir/$1.log" '^memguest: filled ' &&
		mg_wait_reports 120 "$dir/$1.log" 2
}
qpid() { cat "/run/libvirt/qemu/$1.pid"; }
# qemu_copy PREFIX: a copy of the installed QEMU in a prefix of its own,
# as a package would install it (QEMU finds its modules and ROMs relative
# to its own binary: ../lib/<multiarch>/qemu, ../lib/ipxe/qemu,
# ../share/qemu); prints the binary's path. Another file, so a domain
# upgraded onto it runs another binary.
qemu_copy() {
	mkdir -p "$1/bin" "$1/lib"
	cp "$qemu" "$1/bin/qemu-system-x86_64"
	ln -s /usr/lib/* "$1/lib/"
	ln -s /usr/share "$1/share"
	echo "$1/bin/qemu-system-x86_64"
}
# host_header: the machine and versions, for a bench's figures
host_header() {
	echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r); guests under $([ "$type" = kvm ] && echo KVM || echo TCG, no /dev/kvm)"
	echo "# commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
}
