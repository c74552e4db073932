#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/qemu.sh [MIB...] [N]: an unmodified QEMU under the real libvirtd,
# upgraded N times (default 3) per size (default 1024 4096 MiB) with its
# memory handed over by migrd (migctl upgrade --emulator), against QEMU's
# own copy migration of the same domain through the same path
# (migctl upgrade --copy: fresh memory, no x-ignore-shared), in one run.
# The guest (memguest) fills every page of its RAM first, so the copy
# has everything to copy. Per upgrade: QEMU's downtime (source stop to
# completion), the time on to the new QEMU running, the bytes QEMU sent
# and the whole upgrade (libvirtd's stop and start included). Needs root
# and what ./dev libvirtd installs; QEMU_BENCH_EMULATOR picks the new
# QEMU (default: the same 7.2). Figures to $BENCH_OUT (build/bench).
set -u
. "$(dirname "$0")/qemu-env.sh"
n=3 sizes=
for a in "$@"; do
	case $a in
	*[!0-9]*) echo "usage: bench/qemu.sh [MIB...] [N]" >&2; exit 2 ;;
	esac
	sizes="$sizes $a"
done
# The last number is the count when more than one is given.
set -- $sizes
if [ $# -ge 2 ]; then
	eval "n=\${$#}"
	sizes=$(echo "$sizes" | awk '{ $NF = ""; print }')
fi
sizes=${sizes:-1024 4096}
here=$top/tests
# QEMU's copy of several GiB under TCG outlasts migrd's default deadlines.
export MIGRD_EXTRA_CONF="prepare_timeout = 1800s
switch_timeout = 1800s"
. "$here/qemu/host.sh"
emu=${QEMU_BENCH_EMULATOR:-$qemu}
res=$out/qemu.txt
jf() { echo "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }

{
	echo "# bench/qemu.sh: $(date -u +%Y-%m-%dT%H:%MZ)"
	host_header
	echo "# QEMU $($qemu --version | head -n 1 | sed 's/.*version //') -> $($emu --version | head -n 1 | sed 's/.*version //'), libvirt $(libvirtd --version | sed 's/.* //')"
	printf '%-8s %-8s %12s %12s %12s %14s  %s\n' MiB path qemu_down_ms resume_ms total_ms bytes guest
} | tee "$res"
for mib in $sizes; do
	for mode in migrd copy; do
		d=qb-$mode-$mib-$$
		if ! start_domain "$d" "$mib"; then
			echo "bench: the $mib MiB domain did not start" >&2
			continue
		fi
		flag=
		[ $mode = copy ] && flag=--copy
		for i in $(seq "$n"); do
			o=$("$MIGCTL" --json upgrade $flag --timeout 1800 "$d" --emulator "$emu" 2>"$dir/err") || {
				echo "bench: $d: $(cat "$dir/err")" >&2
				break
			}
			c=$(mg_reports "$dir/$d.log")
			mg_wait_reports 120 "$dir/$d.log" $((c + 1))
			v=ok
			mg_verdict "$dir/$d.log" >/dev/null || v=BAD
			printf '%-8s %-8s %12s %12s %12s %14s  %s\n' "$mib" "$mode" \
				"$(jf "$o" downtime_ms)" "$(jf "$o" resume_ms)" \
				"$(jf "$o" total_ms)" "$(jf "$o" bytes)" "$v" | tee -a "$res"
		done
		virsh destroy "$d" >/dev/null 2>&1
	done
done
echo "figures: $res"
