#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# An unmodified QEMU under the real libvirtd, upgraded with
# `migctl upgrade DOMAIN --emulator PATH` (plugins/libvirt/qemu-upgrade.c):
# migrd adopts the domain's memfd RAM and the fds libvirt gave QEMU, the
# new QEMU runs on them, QEMU's own migration moves only the device state.
# The guest is memguest (tests/qemu/memguest.S): it filled its RAM from a
# seed, re-checks it and reports a counter on its serial port, so every
# verdict below is the guest's own.
#   1. three upgrades of a 256 MiB domain with a disk and a tap NIC, QEMU
#      to the same QEMU: the guest's counter continuous and ok=1, under
#      2 MiB sent, the new pid in libvirt's status file and in migrd's
#      registration (same identity), virsh suspend/resume/dominfo working,
#      disk and tap held by the new QEMU;
#   2. QEMU 7.2 -> bookworm-backports' QEMU 10.0 (tests/qemu/qemu10.sh),
#      when it can be had;
#   3. a 2 GiB domain: still under 2 MiB sent;
#   4. refusals before anything pauses: RAM that is not shared memfd, an
#      emulator that is not executable;
#   5. the kill matrix (QEMU_KM_TRIALS, default 1): old QEMU, new QEMU,
#      migrd and migctl killed at each step; afterwards exactly one QEMU
#      runs the guest (judged by its reports), libvirtd runs and manages
#      the domain, migrd's registration names the live QEMU.
# Starts its own virtlogd, libvirtd (QEMU as root: qemu.conf restored
# after) and migrd; skips where a libvirtd already runs. Without /dev/kvm
# the domains run under TCG (type='qemu').
set -u
: "${MIGRD:?run through ./dev libvirtd}" "${MIGCTL:?}" "${HOOK:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/qemu/host.sh"
status_pid() { sed -n "s/.*<domstatus [^>]*pid='\([0-9]*\)'.*/\1/p" "/run/libvirt/qemu/$1.xml"; }
field() { "$MIGCTL" --json show "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",]*\).*/\1/p"; }
jfield() { echo "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
# more_reports NAME N: the guest said more than N lines
more_reports() { [ "$(mg_reports "$dir/$1.log")" -gt "$2" ]; }
holds() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q "$2"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# What the host looks like after a failure, for whoever reads the log.
diagnose() {
	echo "-- libvirtd: $(pgrep -x libvirtd || echo none); QEMUs: $(pgrep -f "guest=$1," | tr '\n' ' ')"
	echo "-- status file pid: $(status_pid "$1"), pid file: $(qpid "$1")"
	tail -n 5 "/var/log/libvirt/qemu/$1.log" 2>/dev/null | sed 's/^/-- qemu log: /'
	tail -n 3 "$dir/$1.log" | sed 's/^/-- guest: /'
}

# upgrade_checked NAME EMULATOR: one upgrade and everything after it
upgrade_checked() {
	n=$1 emu=$2
	old=$(qpid "$n") id=$(field "$n" id) before=$(mg_reports "$dir/$n.log")
	out=$("$MIGCTL" --json upgrade "$n" --emulator "$emu" 2>"$dir/upgrade.err")
	rc=$?
	expect "$n: migctl upgrade exits 0 ($(cat "$dir/upgrade.err"))" test $rc = 0
	[ $rc = 0 ] || { diagnose "$n"; return 1; }
	new=$(qpid "$n")
	expect "$n: a new QEMU pid in libvirt's pid file" test "$new" != "$old"
	expect "$n: libvirt's status file names it" test "$(status_pid "$n")" = "$new"
	expect "$n: the old QEMU is gone" wait_for 10 sh -c "! kill -0 $old"
	want=$("$emu" --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/"major":\1[,}]/p')
	expect "$n: the new QEMU is $emu's version ($want), libvirt says" sh -c \
		"virsh -c qemu:///system qemu-monitor-command $n '{\"execute\":\"query-version\"}' | grep -qE '$want'"
	expect "$n: the guest reports on" wait_for 60 more_reports "$n" $((before + 2))
	expect "$n: the guest's verdict: memory intact, counter continuous" mg_verdict "$dir/$n.log"
	bytes=$(jfield "$out" bytes)
	expect "$n: QEMU sent under 2 MiB ($bytes bytes)" test "${bytes:-99999999}" -lt 2097152
	expect "$n: migrd's registration names the new QEMU" test "$(field "$n" owner_pid)" = "$new"
	expect "$n: the same identity in migrd" test "$(field "$n" id)" = "$id"
	expect "$n: the disk is open in the new QEMU" holds "$new" "$n.disk"
	expect "$n: the tap is held by the new QEMU" holds "$new" /dev/net/tun
	expect "$n: libvirtd runs" libvirtd_runs
	expect "$n: virsh dominfo: running" sh -c "virsh -c qemu:///system domstate $n | grep -q running"
	virsh suspend "$n" >/dev/null
	c=$(mg_reports "$dir/$n.log")
	sleep 1
	expect "$n: virsh suspend stops the guest" test "$(mg_reports "$dir/$n.log")" -le $((c + 1))
	virsh resume "$n" >/dev/null
	expect "$n: virsh resume runs it again" wait_for 30 more_reports "$n" $((c + 1))
	echo "$n: $emu: $(jfield "$out" downtime_ms) ms downtime in QEMU, $(jfield "$out" resume_ms) ms to resume, $bytes bytes, $(jfield "$out" total_ms) ms in all"
}

# QEMU_TEST_ONLY=km: the kill matrix alone (for chasing one cell).
[ "${QEMU_TEST_ONLY:-}" = km ] && {
	. "$here/qemu-killmatrix.sh"
	echo "$passes passed, $fails failed"
	[ $fails = 0 ]
	exit
}
# ---- 1. three upgrades, the same QEMU ----
dom=mq-$$
if start_domain "$dom" 256; then
	ok
	for i in 1 2 3; do
		upgrade_checked "$dom" "$qemu" || break
	done
	# A guest its user paused stays paused on the new QEMU.
	virsh suspend "$dom" >/dev/null
	c=$(mg_reports "$dir/$dom.log")
	"$MIGCTL" upgrade "$dom" --emulator "$qemu" >/dev/null 2>"$dir/upgrade.err"
	expect "$dom: a paused guest is upgraded ($(cat "$dir/upgrade.err"))" test $? = 0
	expect "$dom: ... and libvirt still calls it paused" sh -c \
		"virsh -c qemu:///system domstate $dom | grep -q paused"
	sleep 1
	expect "$dom: ... and it does not run" test "$(mg_reports "$dir/$dom.log")" -le $((c + 1))
	virsh resume "$dom" >/dev/null
	expect "$dom: ... until resumed" wait_for 30 more_reports "$dom" $((c + 1))
	expect "$dom: ... its verdict" mg_verdict "$dir/$dom.log"
else
	bad "the 256 MiB domain starts and its guest reports"
fi

# ---- 2. QEMU 7.2 -> 10.0 (bookworm-backports, unpacked beside 7.2) ----
if q10=$(sh "$here/qemu/qemu10.sh" 2>"$dir/qemu10.err" | tail -n 1) &&
		[ -x "$q10" ]; then
	dom10=mq10-$$
	if start_domain "$dom10" 256; then
		ok
		upgrade_checked "$dom10" "$q10"
		# And on from 10.0 to itself: the machine type stays 7.2's.
		upgrade_checked "$dom10" "$q10"
	else
		bad "the domain for 7.2 -> 10.0 starts"
	fi
	virsh destroy "$dom10" >/dev/null 2>&1
else
	echo "note: no QEMU 10.0 here ($(tail -n 1 "$dir/qemu10.err")): 7.2 -> 10.0 not tried"
fi

# ---- 3. 2 GiB: what QEMU sends does not grow with the RAM ----
big=mqbig-$$
if start_domain "$big" 2048; then
	ok
	upgrade_checked "$big" "$qemu"
else
	bad "the 2 GiB domain starts and its guest reports"
fi
virsh destroy "$big" >/dev/null 2>&1

# ---- 4. refused before anything pauses ----
# refused NAME WHY-PATTERN MIGCTL-ARGS...: exit 1, the sentence, nothing
# changed: the same QEMU, libvirtd never stopped, the guest reporting on.
refused() {
	n=$1 why=$2
	shift 2
	old=$(qpid "$n") lv=$(pgrep -r R,S,D -x libvirtd) c=$(mg_reports "$dir/$n.log")
	"$MIGCTL" upgrade "$@" >/dev/null 2>"$dir/refused.err"
	rc=$?
	expect "$n: refused ($why), exit 1, not $rc" test $rc = 1
	expect "$n: the refusal says why: $(cat "$dir/refused.err")" grep -q "$why" "$dir/refused.err"
	expect "$n: the same QEMU runs it" test "$(qpid "$n")" = "$old"
	expect "$n: libvirtd was left alone" test "$(pgrep -r R,S,D -x libvirtd)" = "$lv"
	expect "$n: the guest reports on" wait_for 60 more_reports "$n" $((c + 1))
	expect "$n: migrd holds nothing for it" test "$(field "$n" session)" = 0
}
printf 'not a program\n' >"$dir/notexec"
chmod 644 "$dir/notexec"
refused "$dom" "not an executable file" "$dom" --emulator "$dir/notexec"
refused "$dom" "not an executable file" "$dom" --emulator "$dir/none"
filedom=mqfile-$$
if start_domain "$filedom" 64 file; then
	ok
	refused "$filedom" "not shared memfd" "$filedom" --emulator "$qemu"
else
	bad "a domain without memfd RAM starts"
fi
virsh destroy "$filedom" >/dev/null 2>&1
# A new QEMU that cannot run: the swap is undone, the old QEMU resumed.
old=$(qpid "$dom") id=$(field "$dom" id) c=$(mg_reports "$dir/$dom.log")
"$MIGCTL" upgrade "$dom" --emulator /bin/false >/dev/null 2>"$dir/false.err"
expect "$dom: a successor that exits at once fails the upgrade" test $? = 1
expect "$dom: ... and the old QEMU runs the guest on" test "$(qpid "$dom")" = "$old"
expect "$dom: ... libvirtd runs again" libvirtd_runs
expect "$dom: ... libvirt manages it" sh -c "virsh -c qemu:///system domstate $dom | grep -q running"
expect "$dom: ... the guest reports on, counter continuous" wait_for 60 more_reports "$dom" $((c + 1))
expect "$dom: ... its verdict" mg_verdict "$dir/$dom.log"
expect "$dom: ... migrd's registration unchanged" test "$(field "$dom" owner_pid):$(field "$dom" id)" = "$old:$id"
virsh destroy "$dom" >/dev/null 2>&1

# ---- 5. the kill matrix ----
. "$here/qemu-killmatrix.sh"

echo "$passes passed, $fails failed"
[ $fails = 0 ]
