#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# memguest booted straight by QEMU, no libvirt, on shared memfd RAM as
# libvirt would give it:
#   1. at each size (MEMGUEST_SIZES, default 256 and 2048 MiB) it fills its
#      RAM, then reports with its counter going 1, 2, 3 and ok=1; the fill
#      time and the report interval are printed;
#   2. one page of its RAM zeroed from outside, through QEMU's memfd:
#      the guest names the address and says ok=0 (the test can fail).
# KVM by default; MEMGUEST_ACCEL=tcg runs it without /dev/kvm.
# MEMGUEST_ARGS adds to the guest's command line (stride=4: every word).
set -u
. "$(dirname "$0")/guest.sh"
accel=${MEMGUEST_ACCEL:-kvm}
command -v qemu-system-x86_64 >/dev/null || {
	echo "SKIP: qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
	exit 77
}
if [ "$accel" = kvm ] && [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is not usable (MEMGUEST_ACCEL=tcg runs it under TCG)"
	exit 77
fi
img=$(mg_image) || {
	echo "FAIL: no memguest image: make tests/qemu/memguest, or set MEMGUEST"
	exit 1
}

dir=$(mktemp -d)
qpid=
stop() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	qpid=
}
trap 'stop; rm -rf "$dir"' EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }

boot() { # boot MiB LOG: in the background, its pid in $qpid
	qemu-system-x86_64 -accel "$accel" -m "$1" \
		-object memory-backend-memfd,id=pc.ram,size="$1"M,share=on \
		-machine pc,memory-backend=pc.ram \
		-kernel "$img" -append "seed=1234 ${MEMGUEST_ARGS:-}" \
		-serial file:"$2" -display none -monitor none -nic none \
		-no-reboot 2>>"$dir/qemu.err" &
	qpid=$!
}

# zero PID OFFSET: one page of the guest's RAM, written through the memfd
# QEMU holds (RAM below 4 GiB: memfd offset = guest-physical address)
zero() {
	for fd in /proc/"$1"/fd/*; do
		case $(readlink "$fd") in
		*memfd:memory-backend-memfd*) break ;;
		esac
		fd=
	done
	[ -n "$fd" ] || return 1
	dd if=/dev/zero of="$fd" bs=4096 seek=$(($2 / 4096)) count=1 \
		conv=notrunc status=none
}

# run MiB [negative]
run() {
	log=$dir/serial.$1
	t0=$(now_ms)
	boot "$1" "$log"
	if ! mg_wait 600 "$log" '^memguest: filled '; then
		bad "$1 MiB: the guest never said it filled its RAM"
		cat "$log" "$dir/qemu.err"
		stop
		return
	fi
	t1=$(now_ms)
	mg_wait_reports 60 "$log" 1
	t2=$(now_ms)
	if ! mg_wait_reports 60 "$log" 3; then
		bad "$1 MiB: fewer than 3 reports in 60 s"
		cat "$log"
		stop
		return
	fi
	t3=$(now_ms)
	if mg_verdict "$log"; then ok; else bad "$1 MiB: the guest's reports"; fi
	echo "$1 MiB ($accel): $(sed -n 's/^memguest: \(filled .*\)/\1/p' "$log"), \
the guest's fill_ms=$(sed -n 's/^memguest: fill_ms=//p' "$log"), \
QEMU start to 'filled' $((t1 - t0)) ms, a report every $(((t3 - t2) / 2)) ms"

	if [ "${2:-}" = negative ]; then
		# 128 MiB is inside what the guest checks at any size here.
		if zero "$qpid" $((128 << 20)) &&
			mg_wait 60 "$log" \
				'^memguest: BAD addr=0x08000000 got=0x00000000 ' &&
			mg_wait 10 "$log" '^memguest: counter=.* ok=0 '; then
			ok
			grep -m 1 '^memguest: BAD' "$log"
		else
			bad "$1 MiB: a zeroed page went unseen"
			tail -n 5 "$log"
		fi
	fi
	stop
}

first=negative
for mib in ${MEMGUEST_SIZES:-256 2048}; do
	run "$mib" $first
	first=
done
echo "$passes passed, $fails failed"
[ $fails = 0 ]
