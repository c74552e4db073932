#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kill matrix: every step of a live upgrade x {source, destination,
# migrd, orchestrator} killed by SIGKILL, KM_TRIALS times each (default 5),
# with real guests (refvmm on real KVM). After each trial, judged by the
# guests' own progress reports:
#   - the guest runs on exactly one side: never on both (DOUBLE), never on
#     neither while a live VMM could have run it (LOST). Both VMMs alive
#     at the end is a DOUBLE, and so is a single ok=1 report from a source
#     after it said "handed over" (however short, before exit_grace
#     killed it); the guest's counter must go on from where the source
#     left it, in whichever VMM runs it (LOST otherwise);
#   - migrd holds no fd for it, has no session open, and names the VMM
#     that runs it as the VM's owner, also when migrd itself was killed
#     and started again (LEAK otherwise);
#   - no other VMM is left running.
# "with-vmm" counts the cases where the guest died with the only process
# that could run it: the source before its state left, the destination
# after it had the guest. Prints the matrix; exit 77 where KVM or root is
# missing.
set -u
MEM=${KM_MEM:-32M}
TRIALS=${KM_TRIALS:-5}
. "$(dirname "$0")/lib.sh"
# KM_KEEP=DIR keeps the logs there, for a look after a failure.
[ -n "${KM_KEEP:-}" ] && trap 'rm -rf "$KM_KEEP"; cp -r "$dir" "$KM_KEEP"; cleanup' EXIT

printf 'socket = %s\noffer_timeout = 3s\nprepare_timeout = 5s\nexit_grace = 2s\n' \
	"$sock" >"$dir/migrd.conf"
mpid= src= srclog= n=0 tno=0

migrd_up() { # migrd_up [FAULT]
	MIGRD_FAULT=${1:-} "$MIGRD" --foreground --config "$dir/migrd.conf" \
		2>>"$dir/migrd.log" &
	mpid=$!
	pids="$pids $mpid"
	wait_for 10 sh -c "'$MIGCTL' status >/dev/null 2>&1" ||
		{ echo "migrd did not start"; tail "$dir/migrd.log"; exit 1; }
}

migrd_restart() { # migrd_restart [FAULT]
	kill -9 "$mpid" 2>/dev/null
	wait "$mpid" 2>/dev/null
	migrd_up "${1:-}"
}

# A new guest as VM km, killed at FAULT (a refvmm fault point) if given,
# or stopped (SIGSTOP) at STOP.
boot_src() { # boot_src [FAULT [STOP]]
	n=$((n + 1))
	srclog=$dir/g.$n
	REFVMM_FAULT=${1:-} REFVMM_STOP_AT=${2:-} "$REFVMM" --name km \
		--mem "$MEM" --verbose >"$srclog" 2>&1 &
	src=$!
	pids="$pids $src"
	wait_for 120 has "$srclog" '^running' || { bad "a guest boots"; return 1; }
	"$MIGCTL" register km --pid "$src" >/dev/null || bad "km registers"
}

# The orchestrator: what `migctl upgrade` or a management script does.
# It dies by SIGKILL at DIE (signalled, granted, started), if given.
orchestrate='
	src=$1 die=$2 fault=$3 log=$4
	here() { [ "$die" = "$1" ] && kill -9 $$; }
	kill -USR1 "$src"
	here signalled
	tok=$("$MIGCTL" grant km) || exit 1
	here granted
	MIG_TOKEN=$tok REFVMM_FAULT=$fault "$REFVMM" --take km --verbose \
		>"$log" 2>&1 &
	echo $! >"$log.pid"
	here started
	wait
'

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stopped() { grep -q '^State:.*stopped' "/proc/$1/status" 2>/dev/null; }
session_of_km() { # 0 also when km is not registered
	"$MIGCTL" --json show km 2>/dev/null |
		sed -n 's/.*"session":\([0-9]*\).*/\1/p' | head -n 1 | grep . ||
		echo 0
}
owner_of_km() {
	"$MIGCTL" --json show km 2>/dev/null |
		sed -n 's/.*"owner_pid":\([0-9]*\).*/\1/p' | head -n 1
}
# A side is done when it is gone, took over, or said it keeps the guest.
SRC_DONE='keeps running here\|resumes here\|^handed over\|cannot reach migrd'
marks() { grep -c "$SRC_DONE" "$1" 2>/dev/null; }
src_done() {
	! alive "$src" || [ "$(marks "$srclog")" -gt "$smarks" ]
}
dst_done() {
	[ -n "$dst" ] || return 0
	! alive "$dst" || has "$dlog" '^upgrade '
}
settled() {
	src_done && dst_done && [ "$(session_of_km)" -eq 0 ] 2>/dev/null &&
		! { alive "$src" && alive "$dst"; }
}
progress() { # progress LOG: the guest behind LOG reports on
	c=$(reports "$1")
	wait_for 30 more_reports "$1" "$c"
}
# Reports (ok=1) of a VMM after its "handed over": it ran the guest it
# had given away. refvmm prints both on stdout, line-buffered, so their
# order in the log is the order they happened in.
after_handover() {
	awk '/^handed over/ { h = 1; next }
	     h && /^report .*ok=1/ { n++ }
	     END { print n + 0 }' "$1" 2>/dev/null || echo 0
}
# The guest's counter, last reported in LOG (0 before any report).
counter_in() {
	c=$(last_counter "$1" 2>/dev/null)
	echo "${c:-0}"
}

# trial VICTIM POINT -> one of: src dest with-vmm LOST DOUBLE LEAK
trial() {
	tno=$((tno + 1))
	victim=$1 point=$2 dst= dlog=$dir/d.$tno.$point
	sfault= sstop= dfault= ofault= mfault=
	case $victim:$point in
	source:*) sfault=$point ;;
	destination:*) dfault=$point ;;
	orchestrator:*) ofault=$point ;;
	# No request reaches migrd while the guest is paused: stop the
	# source there and kill migrd from here.
	migrd:during-pause) sstop=src-paused ;;
	migrd:*) mfault=$point ;;
	esac
	if [ -n "$sfault$sstop" ] || ! alive "$src"; then
		alive "$src" && { kill -9 "$src"; wait_for 10 sh -c "! '$MIGCTL' show km >/dev/null 2>&1"; }
		boot_src "$sfault" "$sstop" || return
	fi
	[ -n "$mfault" ] && migrd_restart "$mfault"
	smarks=$(marks "$srclog")
	handed=$(grep -c '^handed over' "$srclog")
	sh -c "$orchestrate" orch "$src" "$ofault" "$dfault" "$dlog" &
	orch=$!
	wait_for 15 sh -c "test -s '$dlog.pid' || ! kill -0 $orch" &&
		[ -s "$dlog.pid" ] && dst=$(cat "$dlog.pid")
	if [ -n "$sstop" ]; then
		wait_for 15 stopped "$src" || echo "# $victim $point: the source did not stop"
		kill -9 "$mpid"
		wait "$mpid" 2>/dev/null
		kill -CONT "$src"
		migrd_restart
	fi
	# migrd killed itself at its fault point (or never reached it):
	# start it again, as systemd would, and let it find its journal.
	if [ -n "$mfault" ]; then
		wait_for 15 sh -c "! kill -0 $mpid 2>/dev/null"
		migrd_restart
	fi
	wait_for 30 settled || echo "# $victim $point: not settled after 30 s"
	# A source still in its switchover (paused) is not done yet, and
	# one that handed over is on its way out.
	wait_for 15 src_done || true
	[ "$(grep -c '^handed over' "$srclog")" -gt "$handed" ] &&
		wait_for 10 sh -c "! kill -0 $src 2>/dev/null"
	kill -9 "$orch" 2>/dev/null
	# The old VMM after a commit exits or is killed within exit_grace.
	wait_for 10 sh -c "! { kill -0 $src 2>/dev/null && kill -0 ${dst:-0} 2>/dev/null; }"
	judge
}

judge() {
	s_alive=0 d_alive=0
	alive "$src" && s_alive=1
	alive "$dst" && d_alive=1
	if [ $s_alive = 1 ] && [ $d_alive = 1 ]; then
		result=DOUBLE
		kill -9 "$dst"
		return
	fi
	late=$(after_handover "$srclog")
	if [ "$late" -gt 0 ]; then
		echo "DOUBLE after $victim $point: the source reported $late times after it handed over"
		result=DOUBLE
		[ $d_alive = 1 ] && kill -9 "$dst"
		return
	fi
	# Where the source left the guest's counter: the runner goes on.
	c_src=$(counter_in "$srclog")
	if [ $s_alive = 0 ] && [ $d_alive = 0 ]; then
		echo "# $victim $point: no VMM left"
		case $victim:$point in
		source:src-offered|source:src-paused|destination:dest-committed)
			result=with-vmm ;;
		*)	result=LOST ;;
		esac
		src=
		wait_for 10 sh -c "! '$MIGCTL' show km >/dev/null 2>&1" ||
			result=LEAK
		return
	fi
	if [ $d_alive = 1 ]; then
		src=$dst srclog=$dlog result=dest
	else
		result=src
	fi
	echo "# $victim $point: guest on the $result (pid $src)"
	if ! progress "$srclog"; then
		result=LOST
	elif [ "$(counter_in "$srclog")" -le "$c_src" ] 2>/dev/null; then
		echo "LOST after $victim $point: counter $(counter_in "$srclog"), the source had reached $c_src"
		result=LOST
	elif [ "$(held_fds)" != 0 ] || [ "$(owner_of_km)" != "$src" ] ||
	     [ "$(session_of_km)" != 0 ]; then
		result=LEAK
		echo "LEAK after $victim $point: fds $(held_fds), owner $(owner_of_km) (want $src), session $(session_of_km)"
	fi
}

migrd_up
points_source="src-offered src-paused src-state-sent src-handed-over"
points_destination="dest-claimed dest-ready dest-has-state dest-loaded dest-committed"
points_migrd="before-claim after-claim before-ready after-ready during-pause before-commit after-commit"
points_orchestrator="signalled granted started"

printf '%-13s %-16s %6s %5s %5s %8s %5s %7s %5s\n' victim point trials \
	src dest with-vmm LOST DOUBLE LEAK >"$dir/matrix"
lost=0 double=0 leak=0
for victim in source destination migrd orchestrator; do
	eval "points=\$points_$victim"
	for point in $points; do
		case " ${KM_ONLY:-$victim:$point} " in
		*" $victim:$point "*) ;;
		*) continue ;;
		esac
		cs=0 cd=0 cw=0 cl=0 cx=0 ck=0
		i=0
		while [ $i -lt "$TRIALS" ]; do
			i=$((i + 1))
			result=
			trial "$victim" "$point"
			case $result in
			src) cs=$((cs + 1)) ;;
			dest) cd=$((cd + 1)) ;;
			with-vmm) cw=$((cw + 1)) ;;
			DOUBLE) cx=$((cx + 1)) ;;
			LEAK) ck=$((ck + 1)) ;;
			*) cl=$((cl + 1)) ;;
			esac
		done
		printf '%-13s %-16s %6d %5d %5d %8d %5d %7d %5d\n' "$victim" \
			"$point" "$TRIALS" $cs $cd $cw $cl $cx $ck >>"$dir/matrix"
		lost=$((lost + cl)) double=$((double + cx)) leak=$((leak + ck))
		echo "# $victim $point: src $cs dest $cd with-vmm $cw LOST $cl DOUBLE $cx LEAK $ck"
		expect "$victim $point: no guest lost" test $cl = 0
		expect "$victim $point: no guest run twice" test $cx = 0
		expect "$victim $point: migrd consistent" test $ck = 0
	done
done
cat "$dir/matrix"
echo "kill matrix: $lost lost guests, $double double runs, $leak inconsistent"
finish
