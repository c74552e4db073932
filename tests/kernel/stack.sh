#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The whole stack on the patched kernel (kernel/check.sh --stack runs it
# inside the booted kernel, with the project's own binaries): a real
# migrd, and a refvmm guest on private guest_memfd (a protected VM: the
# host cannot read its RAM, only the guest can) that
#   1. is upgraded 3 times with --strategy link: the real
#      KVM_LINK_GUEST_MEMFD, the source VM fd presented as the proof of
#      identity, no LD_PRELOAD; each time the guest's own verdict;
#   2. loses its successor after the link, before the commit: the source
#      runs on (a preserving link revokes nobody);
#   3. is rebound to a new VM: the source exits, migrd hands the memory
#      out, the new VM links it without a proof and its guest finds only
#      zeros; the kernel zeroed it too (and revoked every other holder,
#      which tests/kernel/gmem-link.c shows with the old VM's KVM_RUN).
# Each upgrade line is printed for the console; the last line counts.
set -u
MEM=${MEM:-32M}
. "$(dirname "$0")/lib.sh"
start_migrd

say() { sed -n "s/^\($1\)/# \1/p" "$2"; }

# ---- 1. three upgrades through the real link ioctl ----
boot vm private || { finish; exit 1; }
sum=$(grep '^report' "$dir/vm.0" | head -n 1 | sed 's/.*checksum=\([^ ]*\).*/\1/')
for n in 1 2 3; do
	old=$pid
	upgrade vm $n link
	if ! wait_for 600 has "$dir/vm.$n" '^upgrade '; then
		bad "link upgrade $n finished"
		cat "$dir/vm.$n" "$dir/migrd.log"
		break
	fi
	say 'upgrade ' "$dir/vm.$n"
	expect "link #$n: on private memory" has "$dir/vm.$n" 'ram=private'
	expect "link #$n: the real ioctl" has "$dir/vm.$n" '^upgrade strategy=link '
	expect "link #$n: the guest's verdict" has "$dir/vm.$n" 'verdict=ok'
	expect "link #$n: its checksum unchanged" has "$dir/vm.$n" "checksum=$sum"
	expect "link #$n: the old VMM exited" wait_for 60 gone "$old"
	pid=$new
done
expect "three upgrades recorded" sh -c "'$MIGCTL' show vm | grep -q 'upgrades: 3'"

# ---- 2. the successor dies after linking, before its commit ----
count=$(reports "$dir/vm.3")
upgrade vm 4 link dest-loaded
expect "killed successor: it linked first" wait_for 600 has "$dir/vm.4" 'ram=private'
expect "killed successor: it died" wait_for 600 gone "$new"
expect "killed successor: the source runs on" wait_for 600 more_reports "$dir/vm.3" "$count"
expect "killed successor: its guest still ok" sh -c \
	"grep '^report' '$dir/vm.3' | tail -n 1 | grep -q 'ok=1'"

# ---- 3. a rebind to a new VM: the kernel gives it zeros ----
tok=$("$MIGCTL" grant vm --rebind newvm)
kill -USR1 "$pid"
MIG_TOKEN=$tok "$REFVMM" --take vm --name newvm --strategy link --verbose \
	>"$dir/newvm.0" 2>&1 &
pids="$pids $!"
expect "rebind: the new guest scanned its memory" wait_for 600 has "$dir/newvm.0" '^rebind guest_nonzero'
say 'rebind ' "$dir/newvm.0"
expect "rebind: linked" has "$dir/newvm.0" '^rebind strategy=link zeroed=1 '
expect "rebind: the guest found only zeros" has "$dir/newvm.0" 'guest_nonzero_words=0 '
expect "rebind: verdict" has "$dir/newvm.0" 'verdict=zeroed'
expect "rebind: the old VMM exited" wait_for 60 gone "$pid"
expect "rebind: migrd checked and zeroed" has "$dir/migrd.log" 'nobody else holds its memory'

finish
