#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# migctl against a real migrd: output, --json and the exit codes scripts
# rely on. Exit 77 (skip) where it cannot run.
set -u
: "${MIGRD:?run through make check}" "${MIGCTL:?run through make check}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to register VMs"; exit 77; }

umask 022
dir=$(mktemp -d)
sock=$dir/migrd.sock
export MIGRD_SOCKET=$sock
fails=0 passes=0
cleanup() { kill "$daemon" "$owner" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM

check() { # check NAME EXPECTED-EXIT COMMAND...
	name=$1 want=$2
	shift 2
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" = "$want" ]; then
		passes=$((passes + 1))
	else
		fails=$((fails + 1))
		echo "FAIL: $name: exit $got, wanted $want: $out"
	fi
}
expect_out() { # expect_out NAME PATTERN (on $out)
	if printf '%s' "$out" | grep -q -- "$2"; then
		passes=$((passes + 1))
	else
		fails=$((fails + 1))
		echo "FAIL: $1: output lacks '$2': $out"
	fi
}

check "no daemon" 3 "$MIGCTL" status
expect_out "no daemon says so" "migrd is not running"

"$MIGRD" --socket "$sock" --foreground 2>"$dir/log" &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

check "usage" 2 "$MIGCTL"
check "unknown command" 2 "$MIGCTL" frobnicate
check "help" 0 "$MIGCTL" --help
expect_out "help lists commands" "unregister VM"
check "status" 0 "$MIGCTL" status
expect_out "status shows policy" "rebind policy: zero"
check "status json" 0 "$MIGCTL" --json status
expect_out "json status" '"rebind_policy":"zero"'

sleep 600 &
owner=$!
# Register only once the child runs sleep: migrd rightly drops an owner
# that executes a new program, and the fork has not exec'd yet.
for _ in $(seq 100); do
	[ "$(cat /proc/$owner/comm 2>/dev/null)" = sleep ] && break
	sleep 0.02
done
check "register" 0 "$MIGCTL" register web1 --pid "$owner" \
	--uuid 6e8bc430-9c3a-11d9-9669-0800200c9a66
id=$out
check "register bad name" 1 "$MIGCTL" register "bad name" --pid "$owner"
check "register twice" 1 "$MIGCTL" register web1 --pid "$owner"
expect_out "duplicate explained" "already registered"
check "register without pid" 2 "$MIGCTL" register web2
check "list" 0 "$MIGCTL" list
expect_out "list shows vm" "web1 .*$id"
check "show by uuid" 0 "$MIGCTL" --json show 6E8BC430-9C3A-11D9-9669-0800200C9A66
expect_out "show json" "\"id\":\"$id\""
check "show missing" 4 "$MIGCTL" show nope
check "abort missing" 4 "$MIGCTL" abort 42
check "abort not a number" 2 "$MIGCTL" abort x
check "status with an extra argument" 2 "$MIGCTL" status extra
expect_out "says so" "status takes no arguments"
check "list with an extra argument" 2 "$MIGCTL" list extra
check "show with two" 2 "$MIGCTL" show web1 web2
expect_out "says so" "too many arguments for show"
check "json list parses" 0 sh -c "'$MIGCTL' --json list | jq -e .vms"

"$MIGCTL" watch --count 1 >"$dir/watch" 2>&1 &
watcher=$!
sleep 0.3
check "unregister" 0 "$MIGCTL" unregister "$id"
wait "$watcher"
out=$(cat "$dir/watch")
expect_out "watch saw it" "VM web1 unregistered"
check "show after unregister" 4 "$MIGCTL" show web1

kill "$daemon"
wait "$daemon"
check "daemon gone" 3 "$MIGCTL" list
[ ! -e "$sock" ] && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: socket left behind"; }

# migrd's own configuration: clear errors, nothing left behind
umask 022
printf 'socket = %s\nsocket_group = nosuchgroup\n' "$sock" >"$dir/bad.conf"
check "unknown group" 2 "$MIGRD" --foreground --config "$dir/bad.conf"
expect_out "names file, line and group" "bad.conf:2: socket_group: there is no group named nosuchgroup"
[ ! -e "$sock" ] && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: socket left behind by a bad group"; }
printf 'socket = %s\n' "$sock" >"$dir/open.conf"
chmod 0666 "$dir/open.conf"
check "world-writable config" 2 "$MIGRD" --foreground --config "$dir/open.conf"
expect_out "refused, as sshd does" "writable by everybody; refusing it"
check "a directory as config" 2 "$MIGRD" --foreground --config "$dir"
expect_out "says what it is" "not a regular file"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
