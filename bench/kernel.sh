#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# link against copy on our patched kernel, in one boot (`./dev
# bench-kernel`, which runs this inside it under QEMU TCG). link: refvmm
# on private guest_memfd, the real KVM_LINK_GUEST_MEMFD with the proof of
# identity, nothing copied. copy: refvmm on memfd RAM (what the host can
# read on a kernel without gmem mmap), copied during the pause. Under TCG
# absolute times mean little; the ratio, and how each grows with the
# guest's size, do. N upgrades per size and strategy; medians at the end.
set -u
N=${N:-5}
SIZES=${SIZES:-32M 128M 512M}
MEM=32M
. "$(dirname "$0")/lib.sh"
start_migrd

# run NAME RAM STRATEGY SIZE: boot, N upgrades, one "bench" line each
run() {
	MEM=$4
	boot "$1" "$2" || return 1
	for n in $(seq 1 "$N"); do
		kill -USR1 "$pid"
		tok=$("$MIGCTL" grant "$1") || return 1
		MIG_TOKEN=$tok "$REFVMM" --take "$1" --strategy "$3" \
			>"$dir/$1.$n" 2>&1 &
		new=$!
		pids="$pids $new"
		if ! wait_for 900 has "$dir/$1.$n" '^upgrade '; then
			echo "bench: $1 upgrade $n did not finish"
			cat "$dir/$1.$n"
			return 1
		fi
		echo "bench size=$4 $(grep '^upgrade ' "$dir/$1.$n")"
		wait_for 60 gone "$pid"
		pid=$new
	done
	kill "$pid"
	wait_for 60 gone "$pid"
}

for size in $SIZES; do
	run "l$size" private link "$size" || exit 1
	run "c$size" memfd copy "$size" || exit 1
done >"$dir/bench.out"
cat "$dir/bench.out"

# Medians per size and strategy, and copy's downtime over link's.
echo "kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs (QEMU TCG), $N upgrades each"
printf '%-6s %-5s %14s %14s\n' size strat downtime_us total_ms
for size in $SIZES; do
	for s in link copy; do
		grep "^bench size=$size upgrade strategy=$s " "$dir/bench.out" |
			sed 's/.*downtime_us=\([0-9]*\) total_ms=\([0-9.]*\).*/\1 \2/' |
			sort -n | awk -v size="$size" -v s="$s" '
				{ d[NR] = $1; t[NR] = $2 }
				END { m = int((NR + 1) / 2);
				      printf "%-6s %-5s %14d %14.1f\n", size, s, d[m], t[m] }'
	done
done | tee "$dir/medians"
awk '{ k = $1; if ($2 == "link") l[k] = $3; else c[k] = $3 }
     END { for (k in l) if (l[k]) printf "size=%s copy/link downtime ratio=%.1f\n", k, c[k] / l[k] }' \
	"$dir/medians"
