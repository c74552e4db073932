#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# QEMU 10.0 beside the installed QEMU 7.2, for tests that upgrade a
# running 7.2 guest to 10.0. Debian bookworm-backports' qemu-system-x86
# is downloaded and unpacked into a prefix, never installed:
#   1. a bookworm-backports apt source (a file in sources.list.d, on the
#      mirror of the existing bookworm source) unless one is configured;
#      backports keeps apt's priority 100, so `apt-get install
#      qemu-system-x86` still picks bookworm's 7.2;
#   2. apt-get update, when apt does not know a backports version yet;
#   3. apt-get download of qemu-system-x86, -common, -data at that
#      version, seabios (backports: 10.0 asks for >> 1.16.3-1~) and
#      ipxe-qemu (the NIC ROMs), each unpacked with dpkg -x;
#   4. libraries: the binary needs none newer than bookworm's; those
#      missing (no QEMU installed) are installed from bookworm;
#   5. a wrapper that runs it with its own ROMs (-L) and modules
#      (QEMU_MODULE_DIR), by exec, so its pid is QEMU's.
# The last line printed on stdout is the wrapper's path; the rest goes to
# stderr. Nothing is done again when the wrapper already answers 10.x.
# Prefix: ${MIGRD_QEMU10_CACHE:-$HOME/.cache/migrd-qemu10}.
# Exit 77 when not root, 1 with a sentence when it cannot be had.
set -eu

say() { echo "qemu10.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || {
	say "SKIP: needs root (apt-get update, a file in /etc/apt/sources.list.d)"
	exit 77
}
for c in apt-get apt-cache dpkg ldd; do
	command -v "$c" >/dev/null || die "$c is missing: this is not a Debian system"
done

cache=${MIGRD_QEMU10_CACHE:-${HOME:?HOME is not set}/.cache/migrd-qemu10}
root=$cache/root
wrap=$cache/qemu-system-x86_64
suite=bookworm-backports
mkdir -p "$cache"

works() { "$wrap" --version 2>/dev/null | grep -q 'version 10\.'; }
if [ -x "$wrap" ] && works; then
	echo "$wrap"
	exit 0
fi

# One run at a time per prefix.
if command -v flock >/dev/null; then
	exec 9>"$cache/.lock"
	flock 9
	if [ -x "$wrap" ] && works; then
		echo "$wrap"
		exit 0
	fi
fi

# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ "$codename" = bookworm ] ||
	die "this is Debian '${codename:-?}', not 12 (bookworm): no $suite here"

# Active apt source files (not *.disabled and the like).
sources() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && echo "$f"
	done
}

# The URI of the source that serves plain bookworm (one-line or deb822).
mirror() {
	for f in $(sources); do
		case $f in
		*.sources)
			awk 'function flush() {
				if (deb && uri != "" && suites ~ /(^| )bookworm( |$)/) { print uri; exit }
				deb = 0; uri = ""; suites = "" }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
			END { flush() }' "$f" ;;
		*)
			awk '$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
				if ($(i + 1) == "bookworm") { print $i; exit } }' "$f" ;;
		esac
	done | head -n 1
}

known() { # the backports version of package $1, if apt knows one
	apt-cache madison "$1" 2>/dev/null |
		awk -F'|' -v s="$suite/" '$3 ~ s { gsub(/ /, "", $2); print $2; exit }'
}

apt_update() { # waits for another apt's lock, up to 10 minutes
	n=0
	until apt-get -q update >"$cache/update.log" 2>&1; do
		if ! grep -q 'Could not get lock' "$cache/update.log" || [ $n -ge 60 ]; then
			cat "$cache/update.log" >&2
			die "apt-get update failed"
		fi
		n=$((n + 1))
		sleep 10
	done
}

if [ -z "$(known qemu-system-x86)" ]; then
	srcs=$(sources)
	# shellcheck disable=SC2086
	if [ -z "$srcs" ] || ! grep -qs "^[^#]*$suite" $srcs; then
		uri=$(mirror)
		[ -n "$uri" ] || uri=http://deb.debian.org/debian
		key=/usr/share/keyrings/debian-archive-keyring.gpg
		f=/etc/apt/sources.list.d/migrd-$suite.sources
		say "adding $f ($uri $suite main)"
		{
			echo "Types: deb"
			echo "URIs: $uri"
			echo "Suites: $suite"
			echo "Components: main"
			[ -f "$key" ] && echo "Signed-By: $key"
		} >"$f"
	fi
	say "apt-get update"
	apt_update
fi

ver=$(known qemu-system-x86)
[ -n "$ver" ] ||
	die "$suite does not serve qemu-system-x86 (apt-cache madison qemu-system-x86 lists no $suite version)"
case $ver in
1:10.*) ;;
*) die "$suite serves qemu-system-x86 $ver, not QEMU 10" ;;
esac
seabios=$(known seabios)

tmp=$cache/tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp/debs" "$tmp/root"
trap 'rm -rf "$tmp"' EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM
# apt downloads as _apt where it can write.
id _apt >/dev/null 2>&1 && chown _apt "$tmp/debs"
say "downloading qemu-system-x86 $ver from $suite"
(
	cd "$tmp/debs"
	apt-get -q download "qemu-system-x86=$ver" "qemu-system-common=$ver" \
		"qemu-system-data=$ver" "seabios${seabios:+=$seabios}" ipxe-qemu
) >"$cache/download.log" 2>&1 || {
	cat "$cache/download.log" >&2
	die "apt-get download of QEMU $ver from $suite failed"
}
for d in "$tmp"/debs/*.deb; do
	dpkg -x "$d" "$tmp/root"
done
bin=$tmp/root/usr/bin/qemu-system-x86_64
[ -x "$bin" ] || die "the qemu-system-x86 $ver package has no usr/bin/qemu-system-x86_64"

# Libraries: the package's lib* dependencies from bookworm, if any is missing.
if ldd "$bin" | grep -q 'not found'; then
	libs=$(apt-cache show "qemu-system-x86=$ver" | sed -n 's/^Depends: //p' |
		tr ',' '\n' | sed 's/[(|].*//; s/ //g' | grep -E '^(lib|zlib)')
	say "installing the libraries QEMU $ver needs, from bookworm: $(echo "$libs" | tr '\n' ' ')"
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600 \
		install --no-install-recommends $libs >"$cache/libs.log" 2>&1 || {
		cat "$cache/libs.log" >&2
		die "installing QEMU $ver's libraries failed"
	}
fi
missing=$(ldd "$bin" | awk '/not found/ { print $1 }')
[ -z "$missing" ] || die "QEMU $ver still lacks libraries: $(echo "$missing" | tr '\n' ' ')"

rm -rf "$root.old"
[ ! -d "$root" ] || mv "$root" "$root.old"
mv "$tmp/root" "$root"
rm -rf "$root.old"
cat >"$wrap.new" <<EOF
#!/bin/sh
# QEMU $ver from Debian $suite, unpacked by tests/qemu/qemu10.sh:
# its own ROMs (-L, searched before the installed QEMU's) and modules.
export QEMU_MODULE_DIR='$root/usr/lib/x86_64-linux-gnu/qemu'
exec '$root/usr/bin/qemu-system-x86_64' -L '$root/usr/share/qemu' \\
	-L '$root/usr/share/seabios' -L '$root/usr/lib/ipxe/qemu' "\$@"
EOF
chmod 755 "$wrap.new"
mv "$wrap.new" "$wrap"
works || die "the unpacked QEMU $ver does not run: $("$wrap" --version 2>&1 | head -n 1)"

cand=$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: //p')
[ "$cand" != "$ver" ] ||
	say "warning: apt would now install qemu-system-x86 $ver over the installed QEMU (a pin raises $suite)"
say "$("$wrap" --version | head -n 1)"
echo "$wrap"
