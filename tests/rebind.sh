#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The rebind rule as the guests see it, on the real kernel with the
# reference VMM. The victim's guest fills its memory with a pattern
# derived from its secret seed.
#   1. a new VMM with no token, or a forged one, tries to take the victim:
#      refused, and the victim's guest runs on, counter continuing;
#   2. the same steps with the operator's successor token (an upgrade):
#      the guest finds its secret intact (checksum unchanged);
#   3. an operator-authorised rebind to a new VM: the new VM's guest scans
#      every page of the memory it was given before writing anything and
#      finds only zeros, as does the host through its mapping; the old
#      guest's VMM is told its memory is gone and exits; the new VM runs
#      under a new identity and can itself be upgraded;
#   4. the same for memfd RAM split around the hole below 4 GiB.
# Exit 77 (skip) where /dev/kvm or root is missing.
set -u
MEM=${REBIND_MEM:-64M}
. "$(dirname "$0")/lib.sh"
start_migrd

take() { # take NAME LOG TOKEN [ARGS...] -> $new
	n=$1 log=$2 tok=$3
	shift 3
	MIG_TOKEN=$tok "$REFVMM" --take "$n" --verbose "$@" >"$log" 2>&1 &
	new=$!
	pids="$pids $new"
}
exited_with() { wait "$1"; [ $? = "$2" ]; }

boot victim gmem --seed 0x5ec12e7 || exit 1
sum=$(grep '^report' "$dir/victim.0" | head -n 1 | sed 's/.*checksum=\([^ ]*\).*/\1/')

# ---- 1. no token, a forged token: refused, the guest runs on ----
kill -USR1 "$pid"
take victim "$dir/notoken" ""
expect "no token: refused before anything" wait_for 30 gone "$new"
expect "no token: says it needs one" has "$dir/notoken" 'needs the token'
real=$("$MIGCTL" grant victim)
forged=$(echo "$real" | tr '0-9a-f' '1-9a-f0')
take victim "$dir/forged" "$forged"
expect "forged token: the claimant gives up" wait_for 30 gone "$new"
expect "forged token: refused by migrd" has "$dir/forged" 'refused: the token is not one migrd issued'
expect "forged token: no memory was claimed" sh -c "! grep -q '^claimed' '$dir/forged'"
count=$(reports "$dir/victim.0")
expect "refused claims: the victim's guest runs on" wait_for 60 more_reports "$dir/victim.0" "$count"
expect "refused claims: migrd counted them" sh -c \
	"'$MIGCTL' --json status | grep -q '\"refused\":1'"
# The session the victim opened is still there for the real successor.

# ---- 2. the same steps with the successor token: secret intact ----
old=$pid
take victim "$dir/victim.1" "$real"
expect "upgrade: finished" wait_for 300 has "$dir/victim.1" '^upgrade '
expect "upgrade: the guest's verdict" has "$dir/victim.1" 'verdict=ok'
expect "upgrade: checksum of the secret unchanged" has "$dir/victim.1" "checksum=$sum"
expect "upgrade: old VMM exited" wait_for 30 gone "$old"
pid=$new
id=$("$MIGCTL" --json show victim | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')

# ---- 3. a rebind to a new VM: only zeros ----
tok=$("$MIGCTL" grant victim --rebind newvm)
kill -USR1 "$pid"
take victim "$dir/newvm.0" "$tok" --name newvm
expect "rebind: the new guest scanned its memory" wait_for 300 has "$dir/newvm.0" '^rebind guest_nonzero'
expect "rebind: the guest found only zeros" has "$dir/newvm.0" 'guest_nonzero_words=0 '
expect "rebind: the host mapping found only zeros" has "$dir/newvm.0" '^rebind strategy=.* zeroed=1 host_nonzero_words=0$'
expect "rebind: verdict" has "$dir/newvm.0" 'verdict=zeroed'
words=$(sed -n 's/.*guest_words=\([0-9]*\).*/\1/p' "$dir/newvm.0")
expect "rebind: the guest looked at every page ($words)" test "${words:-0}" -ge $(( (${MEM%M} - 1) * 256 ))
expect "rebind: the new guest comes up" wait_for 300 has "$dir/newvm.0" '^running'
expect "rebind: the old VMM exited" wait_for 30 gone "$pid"
expect "rebind: the old identity ended" sh -c "! '$MIGCTL' show victim >/dev/null 2>&1"
newid=$("$MIGCTL" --json show newvm | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
expect "rebind: a new identity ($newid)" test -n "$newid" -a "$newid" != "$id"
expect "rebind: migrd zeroed it (log)" has "$dir/migrd.log" 'zeroed and verified'
expect "rebind: migrd holds no fds" test "$(held_fds)" = 0

# The new VM is a VM like any other: it can be upgraded as itself.
pid=$new
kill -USR1 "$pid"
take newvm "$dir/newvm.1" "$("$MIGCTL" grant newvm)"
expect "new VM: upgrade" wait_for 300 has "$dir/newvm.1" 'verdict=ok'
kill "$new"

# ---- 4. memfd RAM split around the hole below 4 GiB: one memfd at two
# offsets. The rebind gives the new VM one fresh memfd at the same two
# offsets, so it finds its layout, and only zeros, in all of it. ----
boot split memfd --low-mem 32M --seed 0x5ec12e7 || exit 1
tok=$("$MIGCTL" grant split --rebind newsplit)
kill -USR1 "$pid"
take split "$dir/newsplit.0" "$tok" --name newsplit
expect "split rebind: the new guest scanned its memory" \
	wait_for 300 has "$dir/newsplit.0" '^rebind guest_nonzero'
expect "split rebind: only zeros" has "$dir/newsplit.0" 'verdict=zeroed'
words=$(sed -n 's/.*guest_words=\([0-9]*\).*/\1/p' "$dir/newsplit.0")
expect "split rebind: the guest looked at both regions ($words)" \
	test "${words:-0}" -ge $(( (${MEM%M} - 1) * 256 ))
expect "split rebind: the new guest comes up" wait_for 300 has "$dir/newsplit.0" '^running'
expect "split rebind: migrd holds no fds" test "$(held_fds)" = 0
finish
