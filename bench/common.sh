# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the bench/ scripts: where things are, the header every
# result carries, a private migrd, and a percentile summary.
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$here/build}
MIGRD=$build/migrd/migrd MIGCTL=$build/migctl/migctl
REFVMM=$build/examples/refvmm/refvmm
FAKE_LINK=$build/tests/fake/.libs/link-ioctl.so
out=${BENCH_OUT:-$build/bench}
mkdir -p "$out"
for b in "$MIGRD" "$MIGCTL" "$REFVMM"; do
	[ -x "$b" ] || { echo "bench: $b is not built; run ./dev bench" >&2; exit 1; }
done

# The machine, kernel and commit the figures belong to.
header() {
	echo "# $1: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "# machine: $(uname -n), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "# kernel: $(uname -r); kvm modules: $(ls /sys/module | grep '^kvm' | tr '\n' ' ')"
	echo "# commit: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here" diff --quiet 2>/dev/null || echo '+changes')"
}

tmp=$(mktemp -d)
sock=$tmp/migrd.sock
export MIGRD_SOCKET=$sock
pids=
cleanup() {
	# Every VMM says its pid; $! may be a libtool wrapper's.
	for p in $pids $(sed -n 's/^running pid=\([0-9]*\).*/\1/p' "$tmp"/* 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'exit 130' INT TERM

wait_line() { # wait_line FILE PATTERN SECONDS
	_w=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		_w=$((_w + 1))
		[ $_w -le $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}

start_migrd() {
	"$MIGRD" --foreground --socket "$sock" 2>"$tmp/migrd.log" &
	migrd_pid=$!
	pids="$pids $migrd_pid"
	wait_line "$tmp/migrd.log" listening 10 || { echo "bench: migrd did not start" >&2; exit 1; }
}

# p50, p99 and max of column COL of stdin (numbers, one per line).
percentiles() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (!NR) { print "- - -"; exit }
		i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999)
		printf "%s %s %s\n", v[i50], v[i99], v[NR] }'
}

# migrd's CPU time (ms), RSS and peak RSS (KiB), open fds.
migrd_usage() {
	awk '{ printf "%d ", ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"' }' "/proc/$migrd_pid/stat"
	awk '/VmRSS/ { r = $2 } /VmHWM/ { h = $2 } END { printf "%d %d ", r, h }' "/proc/$migrd_pid/status"
	ls "/proc/$migrd_pid/fd" | wc -l
}
