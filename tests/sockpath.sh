#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The socket path as an attacker on the same host sees it: a file, a
# symlink or another user's directory where migrd's socket goes, a
# writable ancestor, a second migrd on the same socket. Each is refused
# with a clear message and changes nothing; the same steps on a safe
# path work (a stale socket left by a killed migrd is replaced). Needs
# root (to make directories owned by others); exit 77 without it.
set -u
: "${MIGRD:?run through make check}" "${MIGCTL:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to own directories as others"; exit 77; }
REFVMM=${REFVMM:-unused} . "$(dirname "$0")/lib.sh" 2>/dev/null ||
	{ echo "SKIP: lib.sh"; exit 77; }

# try SOCKET [CONFIG LINES]: migrd in the foreground; its exit in $rc
try() {
	printf 'socket = %s\n%s\n' "$1" "${2:-}" >"$dir/try.conf"
	"$MIGRD" --foreground --config "$dir/try.conf" >"$dir/try.log" 2>&1 &
	tpid=$!
	# It refuses and exits, or it answers and is stopped.
	wait_for 5 sh -c "! kill -0 $tpid || MIGRD_SOCKET='$1' '$MIGCTL' status" \
		>/dev/null 2>&1 || kill -9 "$tpid"
	kill "$tpid" 2>/dev/null
	wait "$tpid"
	rc=$?
}
started() { [ $rc = 0 ]; }
refused() { [ $rc = 1 ] && has "$dir/try.log" "$1"; }

# 1. a regular file where the socket goes: refused, and left alone
mkdir -m 0755 "$dir/s1"
echo precious >"$dir/s1/migrd.sock"
try "$dir/s1/migrd.sock"
expect "a regular file is refused" refused "exists and is not a socket"
expect "and left alone" grep -q precious "$dir/s1/migrd.sock"
rm "$dir/s1/migrd.sock"
try "$dir/s1/migrd.sock"
expect "without it migrd starts" started

# 2. a symlink there (to root's 0600 file): refused, its target unchanged
echo secret >"$dir/target"
chmod 0600 "$dir/target"
ln -s "$dir/target" "$dir/s1/migrd.sock"
try "$dir/s1/migrd.sock" "socket_mode = 0666"
expect "a symlink is refused" refused "exists and is not a socket"
expect "its target keeps mode 0600" test "$(stat -c %a "$dir/target")" = 600
expect "the symlink stays" test -L "$dir/s1/migrd.sock"
rm "$dir/s1/migrd.sock"

# 3. the socket's directory owned by another user: refused
mkdir -m 0755 "$dir/s3"
chown 65534 "$dir/s3"
try "$dir/s3/migrd.sock"
expect "another user's directory is refused" refused "owned by uid 65534"
expect "no socket made there" test ! -e "$dir/s3/migrd.sock"
chown 0 "$dir/s3"
try "$dir/s3/migrd.sock"
expect "root's directory is used" started

# 4. a directory writable by others, or by its group: refused
mkdir -m 0777 "$dir/s4"
chmod 0777 "$dir/s4"
try "$dir/s4/migrd.sock"
expect "a world-writable directory is refused" refused "writable by everybody"
chmod 0775 "$dir/s4"
try "$dir/s4/migrd.sock"
expect "a group-writable directory is refused" refused "writable by its group"
chmod 1777 "$dir/s4"
try "$dir/s4/migrd.sock"
expect "sticky is not enough for the socket's own directory" refused "writable by everybody"

# 5. an ancestor writable by others: refused, unless sticky (as /tmp is)
mkdir -m 0777 "$dir/pub"
chmod 0777 "$dir/pub"
mkdir -m 0755 "$dir/pub/s5"
try "$dir/pub/s5/migrd.sock"
expect "a writable ancestor is refused" refused "refusing $dir/pub/s5: writable by everybody"
chmod 1777 "$dir/pub"
try "$dir/pub/s5/migrd.sock"
expect "a sticky ancestor is fine" started

# 6. the socket has its mode from the start
try "$dir/s1/migrd.sock" "socket_mode = 0660"
expect "socket_mode applies" test "$(grep -c 'listening' "$dir/try.log")" = 1
"$MIGRD" --foreground --config "$dir/try.conf" 2>"$dir/a.log" &
a=$!
pids="$pids $a"
wait_for 5 test -S "$dir/s1/migrd.sock"
expect "mode 0660" test "$(stat -c %a "$dir/s1/migrd.sock")" = 660

# 7. a second migrd on the same socket: refused; the first serves on
try "$dir/s1/migrd.sock" "socket_mode = 0660"
expect "a second migrd is refused" refused "another migrd pid $a is already serving"
expect "the first still answers" sh -c "MIGRD_SOCKET='$dir/s1/migrd.sock' '$MIGCTL' status >/dev/null"

# 8. killed, it leaves a stale socket: the next migrd replaces it
kill -9 $a
wait $a 2>/dev/null
expect "a stale socket is left" test -S "$dir/s1/migrd.sock"
try "$dir/s1/migrd.sock"
expect "the next migrd starts" started
expect "saying it replaced the stale socket" has "$dir/try.log" "replaced the stale socket"
expect "stopped, it removes its socket" test ! -e "$dir/s1/migrd.sock"

# 9. a socket somebody serves without the lock (a migrd from before it):
# refused, and left in place
if command -v systemd-socket-activate >/dev/null; then
	rm -f "$dir/s1/migrd.sock"
	systemd-socket-activate --seqpacket -l "$dir/s1/migrd.sock" sleep 600 \
		>/dev/null 2>&1 &
	other=$!
	pids="$pids $other"
	wait_for 5 test -S "$dir/s1/migrd.sock"
	MIG_TIMEOUT_MS=1000 try "$dir/s1/migrd.sock"
	expect "a served socket without the lock is refused" refused "without the lock is serving"
	expect "and left in place" test -S "$dir/s1/migrd.sock"
	kill "$other"
fi

finish
