#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The demo: boot a real KVM guest in the reference VMM, then live-upgrade
# its VMM several times through a private migrd. Each upgrade starts a new
# VMM process first (pre-launch: it sets up its VM and waits), then asks
# the old one to hand over; the new one takes the guest's memory over (not
# a copy) and prints what the guest itself reports afterwards. The
# guest's console is a FIFO read by one reader from start to end: its fd
# goes from VMM to VMM with the memory.
#
#   examples/demo.sh [--mem 1G] [--vcpus 1] [--upgrades 3] [--strategy auto]
#                    [--ram gmem]
#
# BUILD names the build directory (default: build/ beside this script's
# parent). Needs root (or access to /dev/kvm and the right to register).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
mem=1G vcpus=1 upgrades=3 strategy=auto ram=gmem
while [ $# -gt 0 ]; do
	case $1 in
	--mem) mem=$2; shift 2 ;;
	--vcpus) vcpus=$2; shift 2 ;;
	--upgrades) upgrades=$2; shift 2 ;;
	--strategy) strategy=$2; shift 2 ;;
	--ram) ram=$2; shift 2 ;;
	*) echo "usage: $0 [--mem SIZE] [--vcpus N] [--upgrades N] [--strategy S] [--ram gmem|memfd]" >&2
	   exit 2 ;;
	esac
done

migrd=$build/migrd/migrd migctl=$build/migctl/migctl
vmm=$build/examples/refvmm/refvmm
for b in "$migrd" "$migctl" "$vmm"; do
	[ -x "$b" ] || { echo "demo: $b is not built; run ./dev demo" >&2; exit 1; }
done
[ -w /dev/kvm ] || { echo "demo: /dev/kvm is not usable here" >&2; exit 1; }

dir=$(mktemp -d)
sock=$dir/migrd.sock
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

fail() {
	echo "demo: $*" >&2
	for f in "$dir"/*.log; do echo "--- $f" >&2; tail -n 5 "$f" >&2; done
	exit 1
}

wait_line() { # wait_line FILE PATTERN SECONDS
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || return 1
		sleep 0.1
	done
}

"$migrd" --foreground --socket "$sock" 2>"$dir/migrd.log" &
pids="$pids $!"
wait_line "$dir/migrd.log" listening 10 || fail "migrd did not start"

mkfifo "$dir/console"
cat "$dir/console" >"$dir/console.out" &
reader=$!
pids="$pids $reader"
echo "== booting a $mem guest with $vcpus vCPUs on $ram (it fills its memory from a seed, then counts)"
"$vmm" --name demo --mem "$mem" --vcpus "$vcpus" --ram "$ram" \
	--console "$dir/console" --socket "$sock" >"$dir/vmm0.log" 2>&1 &
pid=$!
pids="$pids $pid"
wait_line "$dir/vmm0.log" '^running' 600 || fail "the guest did not boot"
sed -n 's/^running /   guest up: /p' "$dir/vmm0.log"
"$migctl" -s "$sock" register demo --pid "$pid" >/dev/null ||
	fail "cannot register the VM"
echo "   registered with migrd as 'demo' (owner pid $pid)"

n=1
while [ $n -le "$upgrades" ]; do
	echo "== upgrade $n: VMM pid $pid hands the guest to a new VMM process"
	# Management authorises the upgrade: a one-time token for the
	# successor of this VM, handed over in the environment.
	token=$("$migctl" -s "$sock" grant demo) || fail "cannot get a token"
	MIG_TOKEN=$token "$vmm" --take demo --vcpus "$vcpus" \
		--strategy "$strategy" --socket "$sock" >"$dir/vmm$n.log" 2>&1 &
	new=$!
	pids="$pids $new"
	wait_line "$dir/vmm$n.log" '^waiting for an offer' 60 ||
		fail "the new VMM did not come up"
	echo "   new VMM pid $new is up and waits; now the old one offers"
	kill -USR1 "$pid"
	wait_line "$dir/vmm$n.log" '^upgrade ' 600 || fail "upgrade $n did not finish"
	wait "$pid" || fail "the old VMM (pid $pid) did not exit cleanly"
	line=$(grep '^upgrade ' "$dir/vmm$n.log")
	echo "$line" | sed -e 's/^upgrade /   /' -e 's/ counter_before=/\n   guest counter: /' \
		-e 's/ counter_after=/ -> /' -e 's/ checksum=/, checksum /' \
		-e 's/ verdict=/, guest verdict: /'
	case $line in *verdict=ok*) ;; *) fail "the guest reports damage after upgrade $n" ;; esac
	echo "   old VMM pid $pid exited; new VMM pid $new runs the guest"
	pid=$new
	n=$((n + 1))
done

echo "== the console: one reader from the start"
lines=$(wc -l <"$dir/console.out")
writers=$(sed -n 's/^guest: vmm=\([0-9]*\) .*/\1/p' "$dir/console.out" | uniq | wc -l)
kill -0 "$reader" 2>/dev/null || fail "the console's reader saw its end"
echo "   $lines lines from $writers VMMs in turn, never reopened; the last:"
tail -n 1 "$dir/console.out" | sed 's/^/   /'

echo "== migrd's view"
"$migctl" -s "$sock" show demo | sed 's/^/   /'
"$migctl" -s "$sock" status | sed 's/^/   /'
echo "== $upgrades upgrades, the guest's memory never copied, the guest itself found it intact every time"
