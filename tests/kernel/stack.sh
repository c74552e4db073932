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
#      which tests/kernel/gmem-link.c shows with the old VM's KVM_RUN);
#   4. huge pages (#21): a guest on memfd RAM of 2 MiB hugetlbfs pages is
#      upgraded by sharing the memfd and by copying into new huge pages,
#      each time its own verdict, then rebound to a new VM that finds only
#      zeros in fresh huge pages; a guest on shmem THP is upgraded with
#      its memory still mapped huge.
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

# ---- 4. huge pages: hugetlbfs, then shmem THP ----
if [ ! -d /sys/kernel/mm/hugepages ]; then
	bad "huge pages: this kernel has no hugetlbfs (kernel/config/base.config asks for it)"
	finish
	exit
fi
# The guest's, a copy's, and a rebind's fresh memory: 3 x MEM of 2 MiB.
echo $((3 * ${MEM%M} / 2 + 4)) >/proc/sys/vm/nr_hugepages
expect "huge: pages reserved" test "$(cat /proc/sys/vm/nr_hugepages)" -gt 0
boot big memfd --hugepages hugetlb || { finish; exit 1; }
expect "huge: the guest runs on 2 MiB pages" has "$dir/big.0" 'pages=2M'
sum=$(grep '^report' "$dir/big.0" | head -n 1 | sed 's/.*checksum=\([^ ]*\).*/\1/')
n=0
for how in memfd copy; do
	n=$((n + 1))
	old=$pid
	upgrade big $n $how
	if ! wait_for 600 has "$dir/big.$n" '^upgrade '; then
		bad "huge $how upgrade finished"
		cat "$dir/big.$n" "$dir/migrd.log"
		break
	fi
	say 'upgrade ' "$dir/big.$n"
	expect "huge $how: still 2 MiB pages" has "$dir/big.$n" 'pages=2M'
	expect "huge $how: the guest's verdict" has "$dir/big.$n" 'verdict=ok'
	expect "huge $how: its checksum unchanged" has "$dir/big.$n" "checksum=$sum"
	expect "huge $how: the old VMM exited" wait_for 60 gone "$old"
	pid=$new
done
tok=$("$MIGCTL" grant big --rebind newbig)
kill -USR1 "$pid"
MIG_TOKEN=$tok "$REFVMM" --take big --name newbig --verbose \
	>"$dir/newbig.0" 2>&1 &
pids="$pids $!"
expect "huge rebind: the new guest scanned its memory" wait_for 600 has "$dir/newbig.0" '^rebind guest_nonzero'
say 'rebind ' "$dir/newbig.0"
expect "huge rebind: the guest found only zeros" has "$dir/newbig.0" 'guest_nonzero_words=0 '
expect "huge rebind: verdict" has "$dir/newbig.0" 'verdict=zeroed'
expect "huge rebind: fresh huge pages" has "$dir/newbig.0" 'pages=2M'

# THP on shmem: asked for by the VMM, granted where shmem_enabled allows.
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
echo advise >"$thp"
pmd() { awk '/^ShmemPmdMapped|^FilePmdMapped/ { n += $2 } END { print n + 0 }' "/proc/$1/smaps_rollup"; }
boot thp memfd --hugepages thp || { finish; exit 1; }
expect "thp: the guest runs on THP" has "$dir/thp.0" 'pages=thp'
expect "thp: its memory is mapped huge" test "$(pmd "$pid")" -gt 0
old=$pid
TAKE_ARGS="--hugepages thp" upgrade thp 1 memfd
if wait_for 600 has "$dir/thp.1" '^upgrade '; then
	say 'upgrade ' "$dir/thp.1"
	expect "thp: the guest's verdict" has "$dir/thp.1" 'verdict=ok'
	expect "thp: the successor maps it huge" test "$(pmd "$new")" -gt 0
	expect "thp: the old VMM exited" wait_for 60 gone "$old"
else
	bad "thp upgrade finished"
	cat "$dir/thp.1" "$dir/migrd.log"
fi

finish
