#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Criterion integration tests that need /dev/kvm, run inside the
# patched kernel booted under QEMU (kernel/check.sh --stack packs them
# and runs this after the stack), as root, with real KVM:
#   CRITERION="test-handoff ..." DIR=/stack sh criterion.sh
# The programs are in DIR, migrd is MIGRD_BIN, migctl MIGCTL, the FAKE
# link ioctl FAKE_LINK (as make check sets them). Each program runs alone
# (--jobs 1: two emulated CPUs) with a TAP report, which, unlike
# Criterion's "Synthesis" line, counts skipped tests too.
#
# Criterion's workers share an arena in /dev/shm: check.sh mounts it.
# Here KVM exists, so a test that skips has not run: it counts as failed,
# with its reason. A failed, crashed or timed-out test is printed with
# Criterion's own lines about it. The last line adds up:
# "N passed, N failed".
set -u
DIR=${DIR:-/stack}
LIMIT=${CRITERION_LIMIT:-900}	# seconds per program, under TCG
out=${TMPDIR:-/tmp}/criterion
mkdir -p "$out"
passed=0 failed=0
for t in $CRITERION; do
	tap=$out/$t.tap log=$out/$t.log
	start=$(date +%s)
	# Criterion's own opts, then any filter this program is given:
	# CRITERION_FILTER_test_x='pattern' (a test too slow under TCG;
	# check.sh passes on its own environment's).
	filter=$(eval "echo \"\${CRITERION_FILTER_$(echo "$t" | tr -c 'a-zA-Z0-9\n' _):-}\"")
	rc=0
	timeout "$LIMIT" "$DIR/$t" --jobs 1 --tap="$tap" \
		${filter:+--filter "$filter"} >"$log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	[ -f "$tap" ] || : >"$tap"
	# ok / not ok / ok ... # SKIP, one line each; "1..N" the plan.
	# (What a filter leaves out Criterion reports as "SKIP test was
	# skipped": not a failure, that was asked for.)
	set -- $(awk -v filter="$filter" '
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan += $1 }
		filter != "" && /^ok .*# SKIP test was skipped$/ { x++; next }
		/^ok / && /# SKIP/ { s++; next }
		/^ok / { p++; next }
		/^not ok / { f++ }
		END { print p + 0, f + 0, s + 0, plan + 0, x + 0 }' "$tap")
	p=$1 f=$2 s=$3 plan=$4 x=$5
	missing=$((plan - p - f - s - x))
	[ "$missing" -lt 0 ] && missing=0
	bad=$((f + s + missing))
	# A program that died before its report, or that failed without
	# saying which test: one failure.
	if [ "$bad" = 0 ] && { [ "$rc" != 0 ] || [ "$plan" = 0 ]; }; then
		bad=1
		echo "FAIL: $t exited $rc after ${secs} s with ${p} of ${plan} tests passed"
		tail -n 20 "$log" | sed 's/^/# /'
	fi
	echo "# criterion $t: $p passed, $f failed, $s skipped, $missing not run${filter:+, $x left out by the filter '$filter'}, ${secs} s"
	sed -n 's/^not ok - \(.*\)$/FAIL: '"$t"' \1/p' "$tap"
	[ -n "$filter" ] && sed -i '/# SKIP test was skipped$/d' "$tap"
	sed -n 's/^ok - \(.*[^ ]\)  *# SKIP \(.*\)$/FAIL: '"$t"' \1 skipped here, where KVM exists: \2/p' "$tap"
	[ "$missing" -gt 0 ] && [ "$rc" != 0 ] &&
		echo "FAIL: $t: $missing tests never reported (exit $rc; a timeout is 124)"
	if [ "$f" -gt 0 ]; then
		# Criterion's own lines on what failed and where.
		grep -E '^\[(----|FAIL)\]' "$log" | head -n 60 | sed 's/^/# /'
	fi
	passed=$((passed + p))
	failed=$((failed + bad))
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
