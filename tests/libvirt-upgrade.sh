#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migctl upgrade through the real libvirt library, against libvirt's test
# driver (test:///PATH, a node with one running domain, tests/data), with
# the reference VMM as that domain's VMM, registered under its UUID:
#   1. by name and by UUID: the guest is live-upgraded (its own verdict),
#      and the result is written to and read back from the domain's
#      metadata through libvirt;
#   2. the domain stops mid-way (destroyed through libvirt once the new
#      VMM has claimed; the test driver lives in migctl's process, so
#      migctl does it, through MIGCTL_TEST_STOP_DOMAIN_AFTER_CLAIM): the
#      lifecycle event aborts the upgrade and the guest runs on in the
#      source (tests/migctl-test: the installed migctl has no such hook);
#   3. clear errors: no such domain, a domain migrd does not know, libvirt
#      unreachable, bad usage.
set -u
MEM=64M
. "$(dirname "$0")/lib.sh"
start_migrd
cp "$(dirname "$0")/data/libvirt-node.xml" "$dir/node.xml"
uri=test://$dir/node.xml
uuid=6695eb01-f6a4-8304-79aa-97f2502e193f

"$REFVMM" --name upvm --mem $MEM --verbose >"$dir/upvm.0" 2>&1 &
pid=$!
pids="$pids $pid"
wait_for 300 has "$dir/upvm.0" '^running' || bad "the VMM boots"
"$MIGCTL" register upvm --pid "$pid" --uuid "$uuid" >/dev/null || bad "register"

upgrade() { # upgrade N DOMAIN [migctl options] -> $rc, output $dir/up.N
	n=$1 d=$2
	shift 2
	"$MIGCTL" upgrade --connect "$uri" --log "$dir/upvm.$n" "$@" "$d" -- \
		"$REFVMM" --take upvm --verbose >"$dir/up.$n" 2>&1
	rc=$?
}
vmm_pid() { sed -n 's/.*new VMM pid \([0-9]*\).*/\1/p' "$dir/up.$1"; }
# A pid that was never read is no process: "kill -0 ''" and "/proc//"
# must not pass for one (nor kill -0 0, the whole process group).
runs() { case $1 in ''|0|*[!0-9]*) return 1;; esac; kill -0 "$1"; }
exited() { case $1 in ''|0|*[!0-9]*) return 1;; esac; gone "$1"; }
no_token_in() { # no_token_in PID: its environment read, no MIG_TOKEN in it
	runs "$1" && tr '\0' '\n' <"/proc/$1/environ" >"$dir/environ" &&
		! grep -q '^MIG_TOKEN=' "$dir/environ"
}
runs_take() { # runs_take PID: its command line has --take upvm
	runs "$1" && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- '--take upvm'
}

# ---- 1. by name, then by UUID ----
old=$pid
upgrade 1 upvm
expect "by name: exit 0" test $rc = 0
expect "by name: the guest's verdict" has "$dir/upvm.1" 'verdict=ok'
expect "by name: says so" has "$dir/up.1" 'domain upvm upgraded: new VMM pid'
expect "by name: metadata read back" has "$dir/up.1" "^metadata: <upgrade .*count=\"1\" strategy=\"share\""
expect "by name: metadata has the downtime" grep -q 'downtime_us="[1-9][0-9]*"' "$dir/up.1"
expect "by name: old VMM exited" wait_for 30 exited "$old"
pid=$(vmm_pid 1)
expect "by name: new VMM runs the guest" runs "$pid"
old=$pid
"$MIGCTL" --json upgrade --connect "$uri" --log "$dir/upvm.2" "$uuid" -- \
	"$REFVMM" --take upvm --verbose >"$dir/up.2" 2>&1
expect "by UUID, --json: exit 0" test $? = 0
expect "by UUID: JSON result" grep -q '"strategy":"share".*"upgrades":2' "$dir/up.2"
expect "by UUID: the guest's verdict" has "$dir/upvm.2" 'verdict=ok'
pid=$(sed -n 's/.*"vmm_pid":\([0-9]*\).*/\1/p' "$dir/up.2")
expect "by UUID: old VMM exited" wait_for 30 exited "$old"

# ---- 1b. the log, a wrapper COMMAND, the token ----
old=$pid
"$MIGCTL" upgrade --connect "$uri" upvm -- "$REFVMM" --take upvm >"$dir/up.9" 2>&1
expect "no --log: exit 0" test $? = 0
plog=$(sed -n 's/^log: //p' "$dir/up.9")
expect "no --log: a private log" sh -c "test \"\$(stat -c %a \"\$(dirname '$plog')\")\" = 700"
expect "no --log: the VMM's output is there" has "$plog" 'verdict=ok'
rm -rf "$(dirname "$plog")"
pid=$(vmm_pid 9)
expect "no --log: old VMM exited" wait_for 30 exited "$old"
old=$pid
"$MIGCTL" upgrade --connect "$uri" --log "$dir/upvm.7" upvm -- \
	sh -c '"$0" --take upvm --verbose; echo wrapper done' "$REFVMM" \
	>"$dir/up.7" 2>&1
expect "through a wrapper: exit 0" test $? = 0
expect "through a wrapper: the guest's verdict" has "$dir/upvm.7" 'verdict=ok'
pid=$(vmm_pid 7)
expect "through a wrapper: the VMM, not the wrapper, is named" \
	runs_take "$pid"
expect "through a wrapper: old VMM exited" wait_for 30 exited "$old"
expect "the token is nowhere in the new VMM's environment" \
	no_token_in "$pid"
echo precious >"$dir/target"
ln -s "$dir/target" "$dir/evil.log"
"$MIGCTL" upgrade --connect "$uri" --log "$dir/evil.log" upvm -- \
	"$REFVMM" --take upvm >"$dir/up.8" 2>&1
expect "a symlinked log: exit 1" test $? = 1
expect "a symlinked log: says so" has "$dir/up.8" "cannot open the VMM's log"
expect "a symlinked log: its target untouched" grep -q precious "$dir/target"
expect "a symlinked log: the guest stays" runs "$pid"
expect "a symlinked log: no session opened" test "$(held_fds)" = 0

# ---- 2. the domain stops mid-way: the guest stays in the source ----
count=$(reports "$dir/upvm.7")
# The hook is in the test build of migctl only.
shipped=$MIGCTL
MIGCTL=${MIGCTL_TEST:?run through make check}
MIGCTL_TEST_STOP_DOMAIN_AFTER_CLAIM=1 REFVMM_STOP_AT=dest-claimed upgrade 3 upvm
MIGCTL=$shipped
expect "domain stopped: exit 5" test $rc = 5
expect "domain stopped: says why" has "$dir/up.3" 'called off: the domain stopped'
expect "domain stopped: source still runs" runs "$pid"
expect "domain stopped: its guest runs on" wait_for 60 more_reports "$dir/upvm.7" "$count"
expect "domain stopped: migrd holds no fds" test "$(held_fds)" = 0
expect "domain stopped: the session was aborted" sh -c \
	"'$MIGCTL' list | grep -q 'aborted.*the domain stopped'"

# ---- 3. errors ----
upgrade 4 nosuchdomain
expect "no such domain: exit 4" test $rc = 4
expect "no such domain: says so" has "$dir/up.4" 'libvirt has no domain nosuchdomain'
"$MIGCTL" unregister upvm
upgrade 5 upvm
expect "unknown to migrd: exit 4" test $rc = 4
expect "unknown to migrd: hints at the hook" has "$dir/up.5" 'is the libvirt hook installed'
"$MIGCTL" upgrade --connect "test://$dir/missing.xml" upvm -- true >"$dir/up.6" 2>&1
expect "libvirt unreachable: exit 6" test $? = 6
"$MIGCTL" upgrade upvm >/dev/null 2>&1
expect "no command: usage, exit 2" test $? = 2
finish
