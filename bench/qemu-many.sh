#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/qemu-many.sh [GUESTS] [MIB] [PARALLEL...]: a whole host's QEMU
# domains upgraded in one `migctl upgrade --all`, once per --parallel
# value (default: 32 guests of 256 MiB, --parallel 1 4 16). Each pass
# moves every domain onto another copy of the installed QEMU (its own
# prefix, as a package update leaves it). Per pass: the whole run, each
# domain's QEMU downtime and time to resume (p50 / p99 over the
# domains), and migrd's CPU time and resident memory over the pass. The
# guests are memguest, idle between checks, every page of their RAM
# written once. Needs root and what ./dev libvirtd installs. Figures to
# $BENCH_OUT (build/bench).
set -u
. "$(dirname "$0")/qemu-env.sh"
guests=${1:-32}
mib=${2:-256}
[ $# -ge 2 ] && shift 2 || set --
pars=${*:-1 4 16}
here=$top/tests
. "$here/qemu/host.sh"
res=$out/qemu-many.txt
pat="qm-$$-*"

# pct P FILE: the P-th percentile of the numbers in FILE (one per line)
pct() { sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print (NR ? v[i] : "-") }'; }
# migrd's CPU time (ms) and resident set (KiB)
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$migrd_pid/stat"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$migrd_pid/status"; }

{
	echo "# bench/qemu-many.sh: $(date -u +%Y-%m-%dT%H:%MZ)"
	host_header
	echo "# $guests domains of $mib MiB; QEMU $($qemu --version | head -n 1 | sed 's/.*version //'), libvirt $(libvirtd --version | sed 's/.* //')"
	printf '%-9s %9s %9s %16s %16s %12s %12s  %s\n' parallel upgraded total_s "downtime_ms p50/p99" "resume_ms p50/p99" migrd_cpu_ms migrd_rss_kib result
} | tee "$res"

for i in $(seq "$guests"); do
	n=$(printf "qm-$$-%02d" "$i")
	define_domain "$n" "$mib"
	virsh create "$dir/$n.xml" >/dev/null && doms="$doms $n"
done
for n in $doms; do
	mg_wait 900 "$dir/$n.log" '^memguest: filled ' || {
		echo "bench: $n did not start" >&2
		exit 1
	}
done

k=0
for p in $pars; do
	k=$((k + 1))
	emu=$(qemu_copy "$dir/q$k")
	c0=$(cpu_ms)
	t0=$(date +%s%3N)
	"$MIGCTL" --json upgrade --all --match "$pat" --parallel "$p" --max-failures 0 \
		--emulator "$emu" >"$dir/r$k.json" 2>"$dir/r$k.err"
	rc=$?
	t=$(($(date +%s%3N) - t0))
	c=$(($(cpu_ms) - c0))
	tr '{' '\n' <"$dir/r$k.json" | sed -n 's/.*"downtime_ms":\([0-9]*\).*/\1/p' >"$dir/down$k"
	tr '{' '\n' <"$dir/r$k.json" | sed -n 's/.*"resume_ms":\([0-9]*\).*/\1/p' >"$dir/res$k"
	up=$(sed -n 's/.*"upgraded":\([0-9]*\).*/\1/p' "$dir/r$k.json")
	printf '%-9s %9s %9s %16s %16s %12s %12s  %s\n' "$p" "${up:-0}/$guests" \
		"$(echo "$t" | awk '{ printf "%.1f", $1 / 1000 }')" \
		"$(pct 50 "$dir/down$k")/$(pct 99 "$dir/down$k")" \
		"$(pct 50 "$dir/res$k")/$(pct 99 "$dir/res$k")" "$c" "$(rss_kib)" \
		"$([ $rc = 0 ] && echo ok || tail -n 1 "$dir/r$k.err")" | tee -a "$res"
done
echo "figures: $res"
