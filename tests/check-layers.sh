#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd/check-layers.sh checked on a tree of two made-up layers, so that
# it is known to fail on what it names: a call up, an include up, a file
# outside its layer's library, protobuf below the handlers, a send
# outside the transport; and to pass the same tree without them.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
check=$here/migrd/check-layers.sh
CC=${CC:-cc}
command -v nm >/dev/null && command -v ar >/dev/null ||
	{ echo "SKIP: needs nm and ar (binutils)"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT HUP TERM
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }

# A tree: domain (below) and transport (above), one file each; $1 goes
# into the domain's file, $2 into the transport's.
tree() {
	rm -rf "$tmp/src" "$tmp/build"
	mkdir -p "$tmp/src/migrd/domain" "$tmp/src/migrd/transport" \
		"$tmp/build/migrd/.libs"
	printf '/* the layer header */\nint low(void);\n' >"$tmp/src/migrd/domain/domain.h"
	printf '#include "domain.h"\nint up(void);\n' >"$tmp/src/migrd/transport/transport.h"
	printf '#include "domain.h"\n%s\nint low(void) { return 1; }\n' "$1" \
		>"$tmp/src/migrd/domain/low.c"
	printf '#include "transport.h"\n%s\nint up(void) { return low(); }\n' "$2" \
		>"$tmp/src/migrd/transport/up.c"
	for l in domain transport; do
		for c in "$tmp/src/migrd/$l"/*.c; do
			o=$tmp/build/libmigrd_${l}_la-$(basename "$c" .c).o
			"$CC" -c -w -I"$tmp/src/migrd/domain" \
				-I"$tmp/src/migrd/transport" -o "$o" "$c" || return 1
		done
		ar rc "$tmp/build/migrd/.libs/libmigrd-$l.a" \
			"$tmp/build"/libmigrd_${l}_la-*.o
		rm -f "$tmp/build"/*.o
	done
}

run() { sh "$check" "$tmp/src" "$tmp/build" domain transport >"$tmp/out" 2>&1; }

# expect_fail NAME PATTERN: the check fails, saying PATTERN
expect_fail() {
	if run; then
		bad "$1: passed"
		cat "$tmp/out"
	elif ! grep -q "$2" "$tmp/out"; then
		bad "$1: failed without saying \"$2\""
		cat "$tmp/out"
	else
		ok
	fi
}

tree "" "" || { echo "FAIL: cannot build the made-up layers"; exit 1; }
if run && grep -q "PASS" "$tmp/out"; then ok; else bad "a clean tree passes"; cat "$tmp/out"; fi
grep -q "transport -> domain(1)" "$tmp/out" && ok ||
	bad "the structure names the call down"

tree "int up(void); int sneak(void) { return up(); }" ""
expect_fail "a call up" "domain/low.o calls up into transport: up"

tree '#include "transport.h"' ""
expect_fail "an include up" "includes transport's transport.h"

tree '#include "../transport/transport.h"' ""
expect_fail "an include out of the path" "reaches out of its include path"

tree "" ""
printf 'int stray(void) { return 0; }\n' >"$tmp/src/migrd/transport/stray.c"
expect_fail "a file outside its library" "transport/stray.c is not in libmigrd-transport"

tree "typedef struct Mig__Request Mig__Request;" ""
expect_fail "protobuf below the handlers" "protobuf below the handlers"

tree "#include <sys/socket.h>
int say(int fd) { return (int)send(fd, \"x\", 1, 0); }" ""
expect_fail "a send outside the transport" "domain/low.o sends (send)"

echo "$passes passed, $fails failed"
[ $fails = 0 ]
