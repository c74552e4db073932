#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Plot upgrades-summary.csv: downtime and whole handoff against guest
# memory, one line per strategy, p50 with p99 above it. Needs gnuplot
# (Debian: gnuplot-nox); writes downtime.png and downtime.svg.
#
#   bench/plot.sh SUMMARY.csv OUTDIR
set -eu
sum=$1 dir=$2
command -v gnuplot >/dev/null || { echo "plot: gnuplot not installed (apt-get install gnuplot-nox)"; exit 0; }
strategies=$(tail -n +2 "$sum" | cut -d, -f1 | awk '!seen[$0]++')
plots() { # plots P50COL P99COL
	sep=
	for s in $strategies; do
		printf '%s"< grep ^%s, %s" using ($2/1024):%s:%s:%s with yerrorlines title "%s"' \
			"$sep" "$s" "$sum" "$1" "$1" "$2" "$s"
		sep=', '
	done
}
for term in "pngcairo size 1100,460" "svg size 1100,460 dynamic"; do
	ext=png
	case $term in svg*) ext=svg ;; esac
	gnuplot <<GP
set terminal $term font "sans,10"
set output "$dir/downtime.$ext"
set datafile separator ","
set multiplot layout 1,2 title "migrd live upgrade, $(sed -n 's/^# machine: //p;s/^# kernel: \([^;]*\).*/kernel \1/p' "$dir/upgrades.header" 2>/dev/null | paste -sd, -)"
set logscale x 2
set logscale y 10
set format y "%g"
set xlabel "guest memory (GiB)"
set grid
set key top left
set ylabel "downtime, paused -> resumed (us)"
set title "downtime (p50, bar to p99)"
plot $(plots 4 5)
set ylabel "whole handoff, requested -> commit (ms)"
set title "whole handoff (p50, bar to p99)"
plot $(plots 7 8)
unset multiplot
GP
done
echo "plot: $dir/downtime.png $dir/downtime.svg"
