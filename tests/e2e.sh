#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# End to end on the real kernel: the reference VMM runs a real KVM guest
# and is live-upgraded through a real migrd. What counts is what the guest
# itself reports: its checksum unchanged and its counter continuing.
#   1. every strategy (share, copy, memfd, and link through the FAKE
#      inode-link ioctl preloaded from tests/fake), three consecutive
#      upgrades each;
#   2. the destination killed (SIGKILL) at each step before commit: the
#      guest keeps running in the source, and a later upgrade still works;
#   3. the source killed during prepare: the destination says why and
#      nothing is left open in migrd;
#   4. pre-launch: the new VMM started first waits for the offer, then
#      takes the guest; with no offer it gives up when told;
#   5. guest shapes of real VMMs: 3 vCPUs and RAM split around the hole
#      below 4 GiB (two regions on one fd), every strategy, every vCPU's
#      own verdict; a successor of another shape is refused at load.
# Exit 77 (skip) where /dev/kvm or root is missing.
set -u
: "${FAKE_LINK:?run through make check}"
MEM=${E2E_MEM:-128M}
. "$(dirname "$0")/lib.sh"
start_migrd

# Reports (ok=1) a VMM printed after its "handed over": it ran the guest
# it had given away (stdout, line-buffered: the log keeps their order).
after_handover() {
	awk '/^handed over/ { h = 1; next }
	     h && /^report .*ok=1/ { n++ }
	     END { print n + 0 }' "$1" 2>/dev/null || echo 0
}

# upgrades NAME STRATEGY COUNT PATTERN: COUNT upgrades in a row of the VMM
# $pid, each checked: PATTERN in the new VMM's line, the guest's own
# verdict, the old VMM gone, nothing left in migrd. $pid: the last VMM.
upgrades() {
	for n in $(seq "$3"); do
		old=$pid
		upgrade "$1" $n $2
		log=$dir/$1.$n
		if ! wait_for 300 has "$log" '^upgrade '; then
			bad "$1 upgrade $n finished"; cat "$log"; return 1
		fi
		expect "$1 #$n: $4" grep -q "$4" "$log"
		expect "$1 #$n: guest verdict ok" has "$log" 'verdict=ok'
		expect "$1 #$n: old VMM exited" wait_for 30 gone "$old"
		expect "$1 #$n: old VMM ran nothing after handing over" \
			test "$(after_handover "$dir/$1.$((n - 1))")" = 0
		expect "$1 #$n: migrd holds no fds" test "$(held_fds)" = 0
		pid=$new
	done
}

# ---- 1. every strategy, three upgrades in a row ----
for s in share copy memfd link; do
	ram=gmem
	[ $s = memfd ] && ram=memfd
	boot "vm-$s" $ram || continue
	sum=$(grep '^report' "$dir/vm-$s.0" | head -n 1 | sed 's/.*checksum=\([^ ]*\).*/\1/')
	# The strategy asked for, and the guest's checksum unchanged.
	upgrades "vm-$s" $s 3 "^upgrade strategy=$s .* checksum=$sum "
	expect "$s: three upgrades recorded" sh -c \
		"'$MIGCTL' show vm-$s | grep -q 'upgrades: 3'"
	before=$(reports "$dir/vm-$s.3")
	expect "$s: guest still reporting ok" wait_for 60 more_reports "$dir/vm-$s.3" "$before"
	kill "$pid"
done

# ---- 2. destination dies at each step: the source keeps the guest ----
boot vm-crash gmem
src=$dir/vm-crash.0
n=0
for fault in dest-claimed dest-ready dest-has-state dest-loaded; do
	n=$((n + 1))
	aborts=$(grep -c 'keeps running here\|resumes here' "$src")
	upgrade vm-crash $n share $fault
	wait_for 60 gone "$new" || bad "$fault: destination died"
	expect "$fault: source hears the abort" wait_for 30 sh -c \
		"[ \$(grep -c 'keeps running here\|resumes here' '$src') -gt $aborts ]"
	count=$(reports "$src")
	c0=$(last_counter "$src")
	expect "$fault: guest runs on in the source" wait_for 60 more_reports "$src" "$count"
	c1=$(last_counter "$src")
	expect "$fault: counter continues ($c0 -> $c1)" test "$c1" -gt "$c0"
	expect "$fault: source still alive" kill -0 "$pid"
	expect "$fault: migrd holds no fds" test "$(held_fds)" = 0
done
old=$pid
upgrade vm-crash 9 share
expect "after the crashes an upgrade still works" wait_for 300 has "$dir/vm-crash.9" 'verdict=ok'
expect "the source exits after that commit" wait_for 30 gone "$old"
kill "$new"

# ---- 3. source dies during prepare ----
stopped() { grep -q '^State:.*stopped' "/proc/$1/status"; }
boot vm-src gmem
old=$pid
kill -USR1 "$pid"
MIG_TOKEN=$("$MIGCTL" grant vm-src) REFVMM_STOP_AT=dest-claimed \
	"$REFVMM" --take vm-src >"$dir/vm-src.1" 2>&1 &
new=$!
pids="$pids $new"
wait_for 60 stopped "$new" || bad "vm-src: destination stopped after its claim"
kill -9 "$old"
wait_for 30 has "$dir/migrd.log" 'VM vm-src.*aborted' || bad "migrd saw the source die"
kill -CONT "$new"
expect "source death: destination gives up" wait_for 60 gone "$new"
wait "$new"
expect "source death: destination exit status" test $? != 0
expect "source death: a clear error" has "$dir/vm-src.1" 'no state from the source: Session .* aborted'
expect "source death: migrd holds no fds" test "$(held_fds)" = 0
expect "source death: the VM went with its owner" sh -c "! '$MIGCTL' show vm-src >/dev/null 2>&1"

# ---- 4. pre-launch: the new VMM first, then the offer ----
boot vm-pre gmem
old=$pid
MIG_TOKEN=$("$MIGCTL" grant vm-pre) "$REFVMM" --take vm-pre --wait 30 \
	>"$dir/vm-pre.1" 2>&1 &
new=$!
pids="$pids $new"
expect "pre-launch: the new VMM waits for the offer" \
	wait_for 60 has "$dir/vm-pre.1" '^waiting for an offer of vm-pre'
sleep 0.5
expect "pre-launch: nothing is offered meanwhile" \
	sh -c "'$MIGCTL' --json show vm-pre | grep -q '\"session\":0'"
expect "pre-launch: the guest runs on in the old VMM" kill -0 "$old"
kill -USR1 "$old"
expect "pre-launch: the offer is taken" wait_for 300 has "$dir/vm-pre.1" 'verdict=ok'
expect "pre-launch: old VMM exited" wait_for 30 gone "$old"
kill "$new"
# Nobody offers: it gives up when told, saying why.
boot vm-late gmem
MIG_TOKEN=$("$MIGCTL" grant vm-late) "$REFVMM" --take vm-late --wait 1 \
	>"$dir/vm-late.1" 2>&1
expect "pre-launch: no offer in time fails" test $? != 0
expect "pre-launch: says so" has "$dir/vm-late.1" 'no upgrade session: .*timed out'
expect "pre-launch: the guest still runs in its VMM" kill -0 "$pid"
kill "$pid"

# ---- 5. guest shapes: 3 vCPUs, RAM split around the hole below 4 GiB ----
TAKE_ARGS="--vcpus 3"
for s in share copy memfd link; do
	ram=gmem
	[ $s = memfd ] && ram=memfd
	boot "shape-$s" $ram --vcpus 3 --low-mem 32M || continue
	upgrades "shape-$s" $s 2 "^upgrade strategy=$s .* vcpus=3 regions=2 "
	kill "$pid"
done
# A successor started with another number of vCPUs cannot load the
# state: the guest resumes in the source, and the right one takes it.
boot shape-odd gmem --vcpus 3 --low-mem 32M
TAKE_ARGS="--vcpus 2"
upgrade shape-odd 1 share
expect "shape: 2 vCPUs for 3 give up" wait_for 60 gone "$new"
expect "shape: and say why" has "$dir/shape-odd.1" 'the guest has 3 vCPUs; this VMM was started with --vcpus 2'
count=$(reports "$dir/shape-odd.0")
expect "shape: the guest runs on in the source" \
	wait_for 60 more_reports "$dir/shape-odd.0" "$count"
TAKE_ARGS="--vcpus 3"
old=$pid
upgrade shape-odd 2 share
expect "shape: then 3 take it" wait_for 300 has "$dir/shape-odd.2" 'verdict=ok'
expect "shape: old VMM exited" wait_for 30 gone "$old"
TAKE_ARGS=

finish
