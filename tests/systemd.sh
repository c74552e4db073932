#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd socket-activated, as migrd.socket does it, with Debian's
# systemd-socket-activate standing in for systemd: nothing runs until the
# first connection, which starts migrd on the passed socket and is served.
# Readiness (NOTIFY_SOCKET) and a passed socket of the wrong kind are
# tests/test-systemd.c. Needs root and the systemd package; exit 77
# without them.
set -u
: "${MIGRD:?run through make check}" "${MIGCTL:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to register VMs"; exit 77; }
command -v systemd-socket-activate >/dev/null ||
	{ echo "SKIP: no systemd-socket-activate (Debian package systemd)"; exit 77; }
REFVMM=${REFVMM:-unused} . "$(dirname "$0")/lib.sh" 2>/dev/null ||
	{ echo "SKIP: lib.sh"; exit 77; }

printf 'socket = %s\n' "$sock" >"$dir/migrd.conf"
comm() { cat "/proc/$1/comm" 2>/dev/null; }

# 1. activated on the first connection, on the socket it was passed
systemd-socket-activate --seqpacket -l "$sock" \
	"$MIGRD" --foreground --config "$dir/migrd.conf" 2>"$dir/act.log" &
act=$!
pids="$pids $act"
expect "the socket is there first" wait_for 10 test -S "$sock"
expect "and no migrd yet" test "$(comm $act)" != migrd
expect "the first connection is served" "$MIGCTL" status >/dev/null
expect "by migrd, started for it" test "$(comm $act)" = migrd
expect "on the passed socket" has "$dir/act.log" "serving the socket systemd passed: $sock"
sleep 600 & owner=$!
pids="$pids $owner"
expect "it serves on" "$MIGCTL" register act1 --pid $owner
expect "and lists" sh -c "'$MIGCTL' list | grep -q act1"
kill "$act"
expect "it stops on SIGTERM" wait_for 10 gone "$act"
expect "leaving the socket, which is systemd's" test -S "$sock"

finish
