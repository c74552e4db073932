#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd.service is confined: `systemd-analyze security` rates its
# exposure at most 3.0 (run offline, on the unit file: no systemd needs
# to run here), it has a watchdog, and its runtime directory is where
# migrd.socket and migrd.conf's defaults put the socket and journal, and
# outlives a restart (the journal). Needs systemd-analyze (Debian package
# systemd, 252 or later for --offline); exit 77 without it.
set -u
: "${SERVICE:?run through make check}"
SRC=${SRC:-$(dirname "$0")/..}
command -v systemd-analyze >/dev/null ||
	{ echo "SKIP: no systemd-analyze (Debian package systemd)"; exit 77; }
passes=0 fails=0
expect() { # expect NAME COMMAND...
	name=$1
	shift
	if "$@"; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: $name"; fi
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Built only where systemd's unit directory was found: else from its source.
if [ -f "$SERVICE" ]; then
	cp "$SERVICE" "$dir/migrd.service"
else
	sed 's|@sbindir@|/usr/sbin|g' "$SRC/systemd/migrd.service.in" >"$dir/migrd.service"
fi
cp "$SRC/systemd/migrd.socket" "$dir/migrd.socket"
systemd-analyze security --offline=yes --no-pager "$dir/migrd.service" \
	>"$dir/out" 2>&1 || true
level=$(sed -n 's/.*Overall exposure level for migrd.service: \([0-9.]*\).*/\1/p' "$dir/out")
[ -n "$level" ] || {
	echo "SKIP: this systemd-analyze cannot rate a unit file offline"
	exit 77
}
echo "exposure: $level"
expect "exposure $level is at most 3.0" awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'
has() { grep -q "^$2" "$1"; }
expect "a watchdog" has "$dir/migrd.service" 'WatchdogSec=[1-9]'
expect "the runtime directory outlives a restart" \
	has "$dir/migrd.service" 'RuntimeDirectoryPreserve=yes'
expect "the runtime directory is /run/migrd" \
	has "$dir/migrd.service" 'RuntimeDirectory=migrd$'
expect "the socket is in it" \
	has "$dir/migrd.socket" 'ListenSequentialPacket=/run/migrd/migrd.sock$'
expect "and so is migrd's default socket" \
	grep -q 'MIG_DEFAULT_SOCKET[[:space:]]*"/run/migrd/migrd.sock"' \
	"$SRC/libmig/libmig.h"
expect "the capabilities migrd uses, and no CAP_SYS_ADMIN" sh -c \
	"grep '^CapabilityBoundingSet=' '$dir/migrd.service' | grep -q CAP_SYS_PTRACE &&
	 ! grep '^CapabilityBoundingSet=' '$dir/migrd.service' | grep -q CAP_SYS_ADMIN"
echo "$passes passed, $fails failed"
[ $fails = 0 ]
