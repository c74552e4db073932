#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The libvirt hook fed exactly what libvirt feeds a qemu.d hook: the
# arguments DOMAIN OPERATION SUB-OP EXTRA and, on stdin, the XML of a real
# domain definition (tests/data/hookvm.xml), with libvirt's pid file
# naming the VMM, here the reference VMM. Checked against migrd's state.
set -u
: "${HOOK:?run through make check}"
MEM=64M
. "$(dirname "$0")/lib.sh"
start_migrd
xml=$(dirname "$0")/data/hookvm.xml
uuid=3c1f8a2e-5b7d-4e0a-9c2b-7d8e6f5a4b31

"$REFVMM" --name hookvm --mem $MEM >"$dir/hookvm.0" 2>&1 &
pid=$!
pids="$pids $pid"
wait_for 300 has "$dir/hookvm.0" '^running' || bad "the VMM boots"
mkdir "$dir/run"
echo "$pid" >"$dir/run/hookvm.pid"
printf 'socket = %s\npid_dir = %s\n' "$sock" "$dir/run" >"$dir/hook.conf"
conf=$dir/hook.conf
hook() { MIGRD_HOOK_CONF=$conf "$HOOK" "$@" <"$xml" 2>"$dir/hook.err"; }
registered() { "$MIGCTL" show "$uuid" >/dev/null 2>&1; }
owner() { "$MIGCTL" --json show "$uuid" | sed 's/.*"owner_pid":\([0-9]*\).*/\1/'; }

expect "prepare: passes" hook hookvm prepare begin -
expect "prepare: registers nothing" sh -c "! '$MIGCTL' show '$uuid' >/dev/null 2>&1"
expect "started: passes" hook hookvm started begin -
expect "started: registered under its UUID" registered
expect "started: owner is the VMM of the pid file" test "$(owner)" = "$pid"
expect "started: under its name" sh -c "'$MIGCTL' show hookvm | grep -q 'uuid:     $uuid'"
id=$("$MIGCTL" --json show "$uuid" | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
expect "reconnect: passes" hook hookvm reconnect begin -
expect "reconnect: still one registration" test "$("$MIGCTL" --json list | grep -o "\"uuid\":\"$uuid\"" | wc -l)" = 1
expect "reconnect: the same identity" sh -c "'$MIGCTL' --json show '$uuid' | grep -q '\"id\":\"$id\"'"
# The registered VM can be upgraded like any other.
kill -USR1 "$pid"
MIG_TOKEN=$("$MIGCTL" grant "$uuid") "$REFVMM" --take hookvm >"$dir/hookvm.1" 2>&1 &
new=$!
pids="$pids $new"
expect "a hook-registered VM upgrades" wait_for 300 has "$dir/hookvm.1" 'verdict=ok'
expect "stopped: passes" hook hookvm stopped end -
expect "stopped: unregistered" sh -c "! '$MIGCTL' show '$uuid' >/dev/null 2>&1"
expect "release: passes when already gone" hook hookvm release end -

# migrd down, a missing pid file, bad XML: a domain still starts...
printf 'socket = %s\npid_dir = %s\n' "$dir/nobody.sock" "$dir/run" >"$dir/down.conf"
conf=$dir/down.conf
expect "migrd down: the start goes on" hook hookvm started begin -
expect "migrd down: says so" has "$dir/hook.err" 'migrd is not reachable'
conf=$dir/hook.conf
mv "$dir/run/hookvm.pid" "$dir/run/moved"
expect "no pid file: the start goes on" hook hookvm started begin -
expect "no pid file: says so" has "$dir/hook.err" 'no pid file'
expect "no pid file: nothing registered" sh -c "! '$MIGCTL' show '$uuid' >/dev/null 2>&1"
mv "$dir/run/moved" "$dir/run/hookvm.pid"
expect "bad XML: the start goes on" sh -c "echo '<domain>' | MIGRD_HOOK_CONF='$dir/hook.conf' '$HOOK' hookvm started begin - 2>/dev/null"
# ...unless strict = yes.
printf 'strict = yes\n' >>"$dir/down.conf"
conf=$dir/down.conf
hook hookvm started begin -
expect "strict: migrd down fails the start" test $? = 1
expect "strict: a stop still passes" hook hookvm stopped end -
printf 'strict = maybe\n' >"$dir/bad.conf"
conf=$dir/bad.conf
hook hookvm started begin -
expect "a bad config line is named" has "$dir/hook.err" 'bad.conf:1:'
expect "no arguments: usage" sh -c "! '$HOOK' </dev/null 2>/dev/null"
finish
