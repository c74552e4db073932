#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Downtime and whole-handoff time against guest memory size, for the
# zero-copy strategies: runs the demo (a real guest, a real migrd) for
# each size and strategy and prints one row per upgrade. link goes through
# the FAKE ioctl (tests/fake) on kernels without KVM_LINK_GUEST_MEMFD.
#
#   bench/downtime-by-size.sh [SIZES] [UPGRADES]    default "1G 4G" 3
#
# Run after ./dev build, as root. The figures are whatever this machine
# measures; the header says which machine, kernel and commit.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$here/build}
sizes=${1:-1G 4G}
upgrades=${2:-3}
fake=$build/tests/fake/.libs/link-ioctl.so

echo "# migrd downtime by size: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# kernel: $(uname -r); kvm modules: $(ls /sys/module | grep '^kvm' | tr '\n' ' ')"
echo "# commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf '%-8s %-6s %-8s %14s %14s  %s\n' strategy mem upgrade downtime_us total_ms guest
for mem in $sizes; do
	for s in share link; do
		preload=
		if [ $s = link ]; then
			[ -f "$fake" ] || make -C "$build" tests/fake/link-ioctl.la >/dev/null
			preload=$fake
		fi
		LD_PRELOAD=$preload BUILD=$build "$here/examples/demo.sh" \
			--mem "$mem" --upgrades "$upgrades" --strategy $s |
		sed -n 's/.*strategy=\([a-z]*\) mem=\([0-9]*\)MiB downtime_us=\([0-9]*\) total_ms=\([0-9.]*\).*/\1 \2 \3 \4/p;s/.*guest verdict: \(.*\)/verdict \1/p' |
		awk -v mem="$mem" '$1 == "verdict" { printf "%s\n", $2; next }
			{ n++; printf "%-8s %-6s %-8d %14d %14.1f  ", $1, mem, n, $3, $4 }'
	done
done
