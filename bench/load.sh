#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Many VMs upgraded at once: K guests of MEM each are booted and
# registered, then all K are live-upgraded concurrently (share). Prints
# the wall time and rate of the whole batch, each upgrade's downtime
# (p50/p99/max), migrd's CPU time and RSS across the batch, and its fd
# count before and after (it must come back to where it was).
#
#   bench/load.sh [K] [MEM]        default 32 256M
# Every page of each guest populated (STRIDE=4096); STRIDE=1048576 is
# the sparse mode, said in the header.
set -eu
. "$(dirname "$0")/common.sh"
k=${1:-32}
mem=${2:-256M}
csv=$out/load.csv
stride=${STRIDE:-4096}

{ header "load: $k guests of $mem upgraded at once"
  echo "# guest memory: one word per $stride bytes$([ "$stride" -le 4096 ] && echo ", every page populated" || echo ": SPARSE")"; } |
	tee "$out/load.header"
start_migrd
i=1
while [ $i -le "$k" ]; do
	"$REFVMM" --name "l$i" --mem "$mem" --stride "$stride" >"$tmp/l$i.0" 2>&1 &
	eval "pid$i=$!"
	pids="$pids $!"
	i=$((i + 1))
done
i=1
while [ $i -le "$k" ]; do
	wait_line "$tmp/l$i.0" '^running' 900 || { echo "load: guest $i did not boot" >&2; exit 1; }
	eval "\"$MIGCTL\" register l$i --pid \$pid$i" >/dev/null
	i=$((i + 1))
done
set -- $(migrd_usage)
cpu0=$1 fds0=$4
t0=$(date +%s%N)
i=1
while [ $i -le "$k" ]; do
	eval "kill -USR1 \$pid$i"
	MIG_TOKEN=$("$MIGCTL" grant "l$i") "$REFVMM" --take "l$i" --strategy share \
		>"$tmp/l$i.1" 2>&1 &
	pids="$pids $!"
	i=$((i + 1))
done
i=1
while [ $i -le "$k" ]; do
	wait_line "$tmp/l$i.1" '^upgrade ' 900 || { echo "load: upgrade $i failed" >&2; cat "$tmp/l$i.1" >&2; exit 1; }
	i=$((i + 1))
done
t1=$(date +%s%N)
# The old VMMs exit once their guest is handed over.
i=1
while [ $i -le "$k" ]; do
	eval "while kill -0 \$pid$i 2>/dev/null; do sleep 0.1; done"
	i=$((i + 1))
done
sleep 0.5
set -- $(migrd_usage)
cpu1=$1 rss=$2 peak=$3 fds1=$4
echo "vm,downtime_us,total_ms,verdict" >"$csv"
for f in "$tmp"/l*.1; do
	sed -n 's/^upgrade .* downtime_us=\([0-9]*\) total_ms=\([0-9.]*\) .* verdict=\([a-zA-Z]*\).*/\1,\2,\3/p' "$f" |
		sed "s/^/$(basename "$f" .1),/" >>"$csv"
done
ok=$(grep -c ',ok$' "$csv" || true)
wall_ms=$(( (t1 - t0) / 1000000 ))
echo "upgrades: $k at once, $ok with the guest's verdict ok"
echo "batch wall time: $wall_ms ms ($(awk -v k="$k" -v w="$wall_ms" 'BEGIN { printf "%.1f", k * 1000 / w }') upgrades/s, bounded by the guests' own reports on $(nproc) CPUs)"
echo "downtime us p50/p99/max: $(tail -n +2 "$csv" | cut -d, -f2 | percentiles)"
echo "total ms p50/p99/max: $(tail -n +2 "$csv" | cut -d, -f3 | percentiles)"
echo "migrd: cpu $((cpu1 - cpu0)) ms for the batch, rss $rss KiB (peak $peak KiB), fds $fds0 before, $fds1 after"
[ "$fds0" = "$fds1" ] || echo "load: WARNING: migrd's fds did not come back ($fds0 -> $fds1)"
