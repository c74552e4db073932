#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd restarts without forgetting: registrations (identity, name, UUID,
# owner) are back after migrd is killed (SIGKILL) or stopped (SIGTERM)
# and started again; an owner that exited meanwhile, or whose pid now
# names another process, is not. Owners here are plain processes: what
# is re-pinned is a process, whatever it runs. Exit 77 without root.
set -u
: "${MIGRD:?run through make check}" "${MIGCTL:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to register VMs"; exit 77; }
REFVMM=${REFVMM:-unused} . "$(dirname "$0")/lib.sh" 2>/dev/null ||
	{ echo "SKIP: lib.sh"; exit 77; }

up() {
	"$MIGRD" --foreground --config "$dir/migrd.conf" 2>>"$dir/migrd.log" &
	mpid=$!
	pids="$pids $mpid"
	wait_for 10 sh -c "'$MIGCTL' status >/dev/null 2>&1" || { echo "migrd did not start"; exit 1; }
}
id_of() { "$MIGCTL" --json show "$1" 2>/dev/null | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n 1; }
owner_of() { "$MIGCTL" --json show "$1" 2>/dev/null | sed -n 's/.*"owner_pid":\([0-9]*\).*/\1/p' | head -n 1; }

printf 'socket = %s\n' "$sock" >"$dir/migrd.conf"
up
sleep 600 & a=$!
sleep 600 & b=$!
sleep 600 & c=$!
pids="$pids $a $b $c"
"$MIGCTL" register va --pid $a --uuid 0b7a5e3c-3c9e-4d0e-9a7e-1f2d3c4b5a69 >/dev/null
"$MIGCTL" register vb --pid $b >/dev/null
"$MIGCTL" register vc --pid $c >/dev/null
ida=$(id_of va) idb=$(id_of vb)
expect "registered" test -n "$ida" -a -n "$idb"

# 1. killed: everything is back, identities unchanged
kill -9 $mpid; wait $mpid 2>/dev/null
up
expect "after SIGKILL: va keeps its identity" test "$(id_of va)" = "$ida"
expect "after SIGKILL: vb keeps its identity" test "$(id_of vb)" = "$idb"
expect "after SIGKILL: the UUID is back" sh -c "'$MIGCTL' show 0b7a5e3c-3c9e-4d0e-9a7e-1f2d3c4b5a69 >/dev/null"
expect "after SIGKILL: the owner is back" test "$(owner_of vb)" = $b

# 2. an owner that exits while migrd is down is not registered again
kill -9 $mpid; wait $mpid 2>/dev/null
kill -9 $b; wait $b 2>/dev/null
up
expect "owner gone while down: vb is gone" sh -c "! '$MIGCTL' show vb >/dev/null 2>&1"
expect "owner gone while down: va stays" test "$(id_of va)" = "$ida"
expect "it says why" has "$dir/migrd.log" 'VM vb .*gone since migrd stopped'

# 3. the journal names a process, not a pid: a recycled pid inherits nothing
kill -9 $mpid; wait $mpid 2>/dev/null
sed -i "s/^\(vm [0-9a-f]* vc [^ ]* [0-9]*\) [0-9]*/\1 1/" "$dir/migrd.state"
up
expect "another process behind the pid: vc is gone" sh -c "! '$MIGCTL' show vc >/dev/null 2>&1"

# 4. a clean stop remembers too, and a new registration works after
kill -TERM $mpid; wait $mpid 2>/dev/null
up
expect "after SIGTERM: va keeps its identity" test "$(id_of va)" = "$ida"
sleep 600 & e=$!
pids="$pids $e"
expect "a new registration after restarts" sh -c "'$MIGCTL' register ve --pid $e >/dev/null"
expect "identities stay unique" test "$(id_of ve)" != "$ida"

# 5. a journal that is not one is ignored, with a word, not obeyed
kill -9 $mpid; wait $mpid 2>/dev/null
echo "vm garbage" >"$dir/migrd.state"
up
expect "a foreign journal: nothing registered" sh -c "! '$MIGCTL' show va >/dev/null 2>&1"
expect "a foreign journal: said" has "$dir/migrd.log" 'not a migrd journal'
finish
