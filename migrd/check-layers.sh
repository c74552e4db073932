#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd's layers (migrd/README.md), checked on what was built, not on
# what the README says:
#  1. calls: no object of a layer uses a symbol defined in a layer above
#     it (nm on each layer's library);
#  2. includes: no file of a layer includes a header of a layer above
#     it, or reaches out of the include path with a relative path;
#  3. every .c file of a layer folder is in that layer's library;
#  4. the protocol (Mig__/mig__ protobuf) only in handlers and transport;
#     sending only in transport;
# then prints which layer calls which, with the number of symbols: the
# structure, which has no circle when 1 holds.
#
# usage: check-layers.sh SRCDIR BUILDDIR LAYER... (bottom up)
set -u
src=$1 build=$2
shift 2
layers="$*"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "check-layers: $*"; fail=1; }

i=0
for l in $layers; do
	a=$build/migrd/.libs/libmigrd-$l.a
	[ -f "$a" ] || { echo "check-layers: $a is not built (make first)"; exit 2; }
	echo "$l" >"$tmp/rank.$i"
	nm -A --defined-only -g "$a" | awk -v l="$l" -v r="$i" \
		'$2 ~ /^[A-Z]$/ { print $3, l, r }' >>"$tmp/defs"
	nm -A -u "$a" | awk -v l="$l" -v r="$i" '{
		n = split($1, p, ":"); obj = p[n - 1]
		sub(/^libmigrd_[a-z]+_la-/, "", obj)
		print $NF, l, r, obj }' >>"$tmp/uses"
	i=$((i + 1))
done

# 1. calls
sort -k1,1 "$tmp/defs" >"$tmp/defs.s"
sort -k1,1 "$tmp/uses" >"$tmp/uses.s"
join "$tmp/uses.s" "$tmp/defs.s" >"$tmp/edges"
# sym user-layer user-rank obj def-layer def-rank
awk '$6 > $3 { printf "%s/%s calls up into %s: %s\n", $2, $4, $5, $1 }' \
	"$tmp/edges" >"$tmp/up"
while read -r line; do bad "$line"; done <"$tmp/up"

# 2. includes, 3. files, 4. protocol and sending
r=0
for l in $layers; do
	dir=$src/migrd/$l
	above=$(echo "$layers" | tr ' ' '\n' | awk -v r="$r" 'NR > r + 1')
	for f in "$dir"/*.[ch]; do
		grep -nE '#include "(\.\./|[a-z]+/)' "$f" | grep -v '"proto/' |
			while read -r m; do
				echo "check-layers: ${f#"$src"/}:$m: reaches out of its include path"
			done >>"$tmp/inc"
		for u in $above; do
			for h in "$src"/migrd/"$u"/*.h; do
				hn=$(basename "$h")
				grep -n "#include \"$hn\"" "$f" | while read -r m; do
					echo "check-layers: ${f#"$src"/}:$m: includes $u's $hn"
				done >>"$tmp/inc"
			done
		done
		case $f in *.c) ;; *) continue ;; esac
		o=$(basename "$f" .c)
		[ "$l/$o" = transport/main ] && continue
		nm -A "$build/migrd/.libs/libmigrd-$l.a" 2>/dev/null |
			grep -q "libmigrd_${l}_la-$o\.o:" ||
			echo "check-layers: ${f#"$src"/} is not in libmigrd-$l" >>"$tmp/inc"
	done
	case $l in
	core|base|domain)
		grep -nE 'Mig__|mig__[a-z_]+__' "$dir"/*.[ch] |
			sed "s|^$src/|check-layers: protobuf below the handlers: |" >>"$tmp/inc"
		;;
	esac
	r=$((r + 1))
done
while read -r line; do fail=1; echo "$line"; done <"$tmp/inc"
awk '$2 != "transport" && $1 ~ /^(mig_send_response|mig_wire_send|sendmsg|send|sendto)$/ {
	printf "%s/%s sends (%s): only the transport may\n", $2, $4, $1 }' \
	"$tmp/uses" >"$tmp/send"
while read -r line; do bad "$line"; done <"$tmp/send"

echo "migrd's layers, bottom up, and what each calls below it (symbols):"
for l in $layers; do
	below=$(awk -v l="$l" '$2 == l && $5 != l { print $5 }' "$tmp/edges" |
		sort | uniq -c | sort -rn | awk '{ printf " %s(%s)", $2, $1 }')
	echo "  $l ->${below:- nothing of migrd}"
done
if [ $fail = 0 ]; then
	echo "check-layers: PASS: no layer calls or includes one above it"
else
	echo "check-layers: FAIL (above)"
fi
exit $fail
