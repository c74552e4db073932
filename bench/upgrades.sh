#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Downtime and whole-handoff time against guest memory size, per strategy,
# and where the pause goes. For each size and strategy one real guest is
# booted and live-upgraded N times in a row through a private migrd; every
# upgrade's own line (measured in the VMMs, CLOCK_MONOTONIC) becomes a CSV
# row, and each point is summarised as p50 / p99 / max.
#
#   bench/upgrades.sh [SIZES] [N] [STRATEGIES]
#       default: "1G 2G 4G 8G" 20 "share link memfd copy"
#
# PRELAUNCH=1 starts each new VMM before the old one offers.
# link runs through the FAKE inode-link ioctl (tests/fake) on kernels
# without KVM_LINK_GUEST_MEMFD. The guest fills and checks one word per
# page (STRIDE=4096, the default): every page populated, as a real
# guest's are. STRIDE=1048576 is the sparse mode (one word per MiB, quick
# on emulating KVMs), labelled as such in the header.
# HUGEPAGES=hugetlb|thp puts the memfd points on huge pages (refvmm
# --hugepages; hugetlb needs pages reserved in /proc/sys/vm/nr_hugepages).
# Output: $BENCH_OUT (default build/bench): upgrades.csv (every upgrade),
# upgrades-summary.csv, and the table on stdout.
set -eu
. "$(dirname "$0")/common.sh"
sizes=${1:-1G 2G 4G 8G}
n=${2:-20}
strategies=${3:-share link memfd copy}
stride=${STRIDE:-4096}
huge=${HUGEPAGES:-}
# PRELAUNCH=1: start each new VMM first and signal the old one once it
# waits (refvmm --take sets up its VM, then waits for the offer), so that
# neither the exec nor the VM setup is in the whole handoff.
prelaunch=${PRELAUNCH:-0}
csv=$out/upgrades.csv
sum=$out/upgrades-summary.csv

header "upgrades$([ "$prelaunch" = 1 ] && echo ", pre-launched destinations")" | tee "$out/upgrades.header"
if [ "$stride" -le 4096 ]; then
	echo "# guest memory: every page populated (one word per $stride bytes)"
else
	echo "# guest memory: SPARSE, one word per $stride bytes touched (not a real guest's)"
fi | tee -a "$out/upgrades.header"
[ -z "$huge" ] || echo "# memfd points on huge pages: $huge" | tee -a "$out/upgrades.header"
echo "strategy,mem_mib,run,downtime_us,total_ms,save_us,transfer_us,copy_us,load_us,commit_us,resume_us,verdict" >"$csv"
start_migrd

field() { sed -n "/^upgrade /s/.* $1=\([^ ]*\).*/\1/p" "$2"; }

# upgrade_point STRATEGY SIZE: boot, then N upgrades; rows into $csv
upgrade_point() {
	s=$1 mem=$2 ram=gmem preload= hp=
	[ "$s" = memfd ] && ram=memfd
	[ "$s" = memfd ] && [ -n "$huge" ] && hp="--hugepages $huge"
	[ "$s" = link ] && preload=$FAKE_LINK
	name=b-$s-$mem
	"$REFVMM" --name "$name" --mem "$mem" --ram $ram --stride "$stride" \
		$hp >"$tmp/$name.0" 2>&1 &
	pid=$!
	pids="$pids $pid"
	wait_line "$tmp/$name.0" '^running' 900 || { echo "bench: $name did not boot" >&2; return 1; }
	"$MIGCTL" register "$name" --pid "$pid" >/dev/null
	i=1
	while [ $i -le "$n" ]; do
		log=$tmp/$name.$i
		[ "$prelaunch" = 1 ] || kill -USR1 "$pid"
		MIG_TOKEN=$("$MIGCTL" grant "$name") LD_PRELOAD=$preload \
			"$REFVMM" --take "$name" --strategy "$s" $hp >"$log" 2>&1 &
		new=$!
		pids="$pids $new"
		# Pre-launch: the new VMM is up and waiting before the offer.
		if [ "$prelaunch" = 1 ]; then
			wait_line "$log" '^waiting for an offer' 60 ||
				{ echo "bench: $name: no pre-launched VMM" >&2; return 1; }
			kill -USR1 "$pid"
		fi
		wait_line "$log" '^upgrade ' 900 || { echo "bench: $name upgrade $i failed" >&2; cat "$log" >&2; return 1; }
		wait "$pid" 2>/dev/null || true
		echo "$s,$(field mem "$log" | tr -d MiB),$i,$(field downtime_us "$log"),$(field total_ms "$log"),$(field save_us "$log"),$(field transfer_us "$log"),$(field copy_us "$log"),$(field load_us "$log"),$(field commit_us "$log"),$(field resume_us "$log"),$(field verdict "$log")" >>"$csv"
		pid=$new
		i=$((i + 1))
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

col() { # col STRATEGY MIB N: column N of that point's rows
	awk -F, -v s="$1" -v m="$2" -v c="$3" '$1 == s && $2 == m { print $c }' "$csv"
}

echo "strategy,mem_mib,n,downtime_p50_us,downtime_p99_us,downtime_max_us,total_p50_ms,total_p99_ms,total_max_ms,save_p50_us,transfer_p50_us,copy_p50_us,load_p50_us,commit_p50_us,resume_p50_us,verdicts_ok" >"$sum"
printf '%-6s %6s %3s | %27s | %24s | %s\n' "" "" "" "downtime us p50/p99/max" "total ms p50/p99/max" "pause p50 us: save transfer copy load commit resume"
for mem in $sizes; do
	for s in $strategies; do
		upgrade_point "$s" "$mem" || exit 1
		mib=$(field mem "$tmp/b-$s-$mem.1" | tr -d MiB)
		set -- $(col "$s" "$mib" 4 | percentiles) $(col "$s" "$mib" 5 | percentiles)
		phases=
		for c in 6 7 8 9 10 11; do
			phases="$phases $(col "$s" "$mib" $c | percentiles | cut -d' ' -f1)"
		done
		ok=$(col "$s" "$mib" 12 | grep -c '^ok$' || true)
		echo "$s,$mib,$n,$1,$2,$3,$4,$5,$6,$(echo $phases | tr ' ' ,),$ok" >>"$sum"
		printf '%-6s %5sM %3s | %8s %8s %9s | %7s %7s %8s | %s  (%s/%s ok)\n' \
			"$s" "$mib" "$n" "$1" "$2" "$3" "$4" "$5" "$6" "$phases" "$ok" "$n"
	done
done
echo "# migrd after all that: cpu_ms rss_kib peak_kib fds = $(migrd_usage)"
[ -z "${NO_PLOT:-}" ] && "$here/bench/plot.sh" "$sum" "$out" || true
