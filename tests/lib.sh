# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the shell tests: a private migrd, a tally, polling helpers.
# Needs MIGRD, MIGCTL and REFVMM (make check sets them) and root + KVM.

: "${MIGRD:?run through make check}" "${MIGCTL:?}" "${REFVMM:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to register VMs"; exit 77; }
[ -w /dev/kvm ] || { echo "SKIP: /dev/kvm is not usable"; exit 77; }

# Files migrd reads as root must be writable by nobody else.
umask 022
dir=$(mktemp -d)
sock=$dir/migrd.sock
export MIGRD_SOCKET=$sock
passes=0 fails=0 pids=
cleanup() {
	# Every VMM says its pid, also those started by migctl upgrade.
	# (Regular files only: a test's FIFO would block the reading.)
	for p in $pids $(find "$dir" -maxdepth 1 -type f -exec \
			sed -n 's/^running pid=\([0-9]*\).*/\1/p' {} + 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM

ok() { passes=$((passes + 1)); }
bad() { fails=$((fails + 1)); echo "FAIL: $*"; }
expect() { # expect NAME COMMAND...
	name=$1
	shift
	if "$@"; then ok; else bad "$name"; fi
}
finish() {
	echo "$passes passed, $fails failed"
	[ $fails = 0 ]
}

wait_for() { # wait_for SECONDS COMMAND...: poll until it succeeds
	t=$(($1 * 10))
	shift
	while ! "$@" 2>/dev/null; do
		t=$((t - 1))
		[ $t -gt 0 ] || return 1
		sleep 0.1
	done
}
has() { grep -q "$2" "$1"; }
reports() { grep -c '^report .*ok=1' "$1"; }
last_counter() { grep '^report' "$1" | tail -n 1 | sed 's/.*counter=\([0-9]*\).*/\1/'; }
more_reports() { [ "$(reports "$1")" -gt "$2" ]; }
held_fds() { "$MIGCTL" --json status | sed 's/.*"open_fds":\([0-9]*\).*/\1/'; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# start_migrd [CONFIG LINES]: a private daemon on $sock
start_migrd() {
	printf 'socket = %s\n%s\n' "$sock" "${1:-}" >"$dir/migrd.conf"
	"$MIGRD" --foreground --config "$dir/migrd.conf" 2>"$dir/migrd.log" &
	pids="$pids $!"
	wait_for 10 test -S "$sock" || { echo "migrd did not start"; exit 1; }
}

# boot NAME RAM [ARGS...] -> $pid, log $dir/NAME.0
boot() {
	name=$1 ram=$2
	shift 2
	"$REFVMM" --name "$name" --mem "$MEM" --ram "$ram" --verbose "$@" \
		>"$dir/$name.0" 2>&1 &
	pid=$!
	pids="$pids $pid"
	wait_for 300 has "$dir/$name.0" '^running' || { bad "$name boots"; return 1; }
	"$MIGCTL" register "$name" --pid "$pid" >/dev/null || bad "$name registers"
}

# upgrade NAME N STRATEGY [FAULT] -> $new, log $dir/NAME.N: signal the VMM
# ($pid) to offer, grant, start its successor (with $TAKE_ARGS). link has the FAKE ioctl
# preloaded where FAKE_LINK names it (a kernel without the real one).
upgrade() {
	kill -USR1 "$pid"
	tok=$("$MIGCTL" grant "$1") || bad "$1: grant for upgrade $2"
	preload=
	[ "$3" = link ] && preload=${FAKE_LINK:-}
	MIG_TOKEN=$tok LD_PRELOAD=$preload ASAN_OPTIONS=verify_asan_link_order=0 \
		REFVMM_FAULT=${4:-} "$REFVMM" --take "$1" --strategy "$3" \
		--verbose ${TAKE_ARGS:-} >"$dir/$1.$2" 2>&1 &
	new=$!
	pids="$pids $new"
}
