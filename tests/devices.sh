#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What a VMM author gets beside the memory, end to end with the reference
# VMM and a real guest:
#   1. a device fd: refvmm's console is a FIFO whose reader attaches once,
#      before the first upgrade, and reads the guest's lines from all four
#      VMMs across three upgrades without reconnecting; it sees EOF only
#      when the last VMM is gone (migrd kept no copy);
#   2. the state format checked before the pause: a destination that
#      loads only other versions is refused at claim, says why, and the
#      guest runs on in the source, never paused; then a destination
#      that loads it upgrades the same guest.
set -u
MEM=64M
. "$(dirname "$0")/lib.sh"
start_migrd

# ---- 1. the console outlives every VMM ----
mkfifo "$dir/console"
cat "$dir/console" >"$dir/console.out" &
reader=$!
pids="$pids $reader"
boot con gmem --console "$dir/console"
expect "the first VMM writes the console" \
	wait_for 30 grep -q "vmm=$pid " "$dir/console.out"
for n in 1 2 3; do
	old=$pid
	upgrade con $n share
	if ! wait_for 300 has "$dir/con.$n" '^upgrade '; then
		bad "console upgrade $n finished"; cat "$dir/con.$n"; break
	fi
	expect "#$n: guest verdict ok" has "$dir/con.$n" 'verdict=ok'
	expect "#$n: old VMM exited" wait_for 30 gone "$old"
	pid=$new
	expect "#$n: the new VMM writes the same console" \
		wait_for 30 grep -q "vmm=$pid " "$dir/console.out"
	expect "#$n: the reader never reconnected" kill -0 "$reader"
	expect "#$n: migrd holds no fds" test "$(held_fds)" = 0
done
vmms=$(sed -n 's/^guest: vmm=\([0-9]*\) .*/\1/p' "$dir/console.out" | uniq | wc -l)
expect "one reader read four VMMs, each once in turn" test "$vmms" = 4
expect "every console line says ok" sh -c "! grep -v ' ok=1$' '$dir/console.out'"
kill "$pid"
expect "EOF once the last VMM is gone" wait_for 30 gone "$reader"

# ---- 2. a destination that cannot load the state ----
boot compat gmem
src=$dir/compat.0
export REFVMM_LOADS=refvmm-x86:3-4
upgrade compat 1 share
unset REFVMM_LOADS
expect "incompatible: the destination gives up" wait_for 60 gone "$new"
expect "incompatible: it says why" \
	has "$dir/compat.1" 'cannot load state refvmm-x86 v2 (it loads refvmm-x86 v3-4)'
expect "incompatible: it never got to build a VM" \
	sh -c "! grep -q '^claimed' '$dir/compat.1'"
expect "incompatible: the source hears it before pausing" \
	wait_for 30 has "$src" 'called off before switchover; the guest keeps running here'
count=$(reports "$src")
expect "incompatible: the guest runs on in the source" \
	wait_for 60 more_reports "$src" "$count"
expect "incompatible: migrd holds no fds" test "$(held_fds)" = 0
expect "incompatible: no upgrade recorded" \
	sh -c "'$MIGCTL' show compat | grep -q 'upgrades: 0'"
old=$pid
upgrade compat 2 share
expect "compatible: the same guest upgrades" wait_for 300 has "$dir/compat.2" 'verdict=ok'
expect "compatible: old VMM exited" wait_for 30 gone "$old"
finish
