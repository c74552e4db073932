#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian packages, as an operator gets them (`./dev debs`): built
# from the tracked sources with dpkg-buildpackage -us -uc -b, checked by
# lintian (no errors), installed on this machine with apt-get, and the
# packaged migrd answering the packaged migctl. Everything is purged at
# the end. Needs root (it installs); exit 77 without.
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to install packages"; exit 77; }
top=$(cd "$(dirname "$0")/.." && pwd)
pkgs="migrd libmig0 libmig-dev migrd-libvirt"
# Somebody's installed migrd is theirs: this test would replace and purge it.
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' &&
		{ echo "SKIP: $p is installed here already; not touching it"; exit 77; }
done
work=$(mktemp -d)
passes=0 fails=0
cleanup() {
	[ -n "${mpid:-}" ] && kill "$mpid" 2>/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkgs >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM
expect() { # expect NAME COMMAND...
	name=$1
	shift
	if "$@"; then passes=$((passes + 1)); else fails=$((fails + 1)); echo "FAIL: $name"; fi
}

# 1. build, from what git tracks (no build trees, nothing generated)
mkdir "$work/src"
git -C "$top" archive HEAD | tar -x -C "$work/src"
if ! (cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	echo "FAIL: dpkg-buildpackage -us -uc -b:"
	grep -E 'error|\*\*\*' "$work/build.log" | head -n 20
	exit 1
fi
passes=$((passes + 1))
for p in $pkgs; do
	expect "package $p built" sh -c "ls '$work'/${p}_*.deb >/dev/null 2>&1"
done
ls "$work"/*.deb 2>/dev/null | sed 's|.*/|built: |'

# 2. lintian: no errors
lintian "$work"/*.changes >"$work/lintian.log" 2>&1
sed 's/^/lintian: /' "$work/lintian.log"
expect "lintian: no errors" sh -c "! grep -q '^E:' '$work/lintian.log'"

# 3. installed, the packaged migrd serves the packaged migctl
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$work"/*.deb \
	>"$work/install.log" 2>&1; then
	echo "FAIL: apt-get install the packages:"
	tail -n 20 "$work/install.log"
	exit 1
fi
passes=$((passes + 1))
expect "migrd is /usr/sbin/migrd" test -x /usr/sbin/migrd
expect "the units are where systemd looks" test -f /lib/systemd/system/migrd.socket
expect "the hook is where libvirt looks" test -x /etc/libvirt/hooks/qemu.d/migrd
expect "libmig.pc for VMM authors" pkg-config --exists libmig
mkdir -m 0755 "$work/run"
/usr/sbin/migrd --foreground --socket "$work/run/migrd.sock" 2>"$work/migrd.log" &
mpid=$!
i=0
while [ $i -lt 50 ] && ! [ -S "$work/run/migrd.sock" ]; do sleep 0.1; i=$((i + 1)); done
MIGRD_SOCKET=$work/run/migrd.sock /usr/bin/migctl status >"$work/status" 2>&1
expect "migctl status against the packaged migrd" test $? = 0
expect "it says who it is" grep -q "^migrd 0" "$work/status"
cat "$work/status"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
