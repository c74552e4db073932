#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel: kernel/build.sh [--debug]
#
# Installs what it needs (Debian packages), unpacks Debian's
# linux-source-6.12 into a cache outside the source tree, applies
# kernel/patches/*.patch in order, merges kernel/config/*.config onto
# tinyconfig and builds bzImage. The cache is reused while the source
# package, the patches and the config are unchanged: a second run only
# runs make, a patch change costs an incremental rebuild, not a cold one.
# Prints the bzImage's path on its last line.
#
#   MIGRD_KERNEL_CACHE   the cache (default: ~/.cache/migrd-kernel)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
variant=normal
case "${1:-}" in
--debug) variant=debug ;;
"") ;;
*) echo "usage: kernel/build.sh [--debug]" >&2; exit 2 ;;
esac
cache=${MIGRD_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/migrd-kernel}
pkg=linux-source-6.12
packages="$pkg qemu-system-x86 busybox-static flex bison bc libelf-dev
	libssl-dev cpio gzip xz-utils make gcc"

say() { echo "kernel: $*" >&2; }

deps() {
	missing=
	for p in $packages; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		say "missing Debian packages:$missing (run as root, or apt-get install them)"
		exit 1
	fi
	say "installing$missing"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
}

# The source tree, unpacked once per version of the Debian package.
unpack() {
	version=$(dpkg-query -W -f='${Version}' "$pkg")
	src=$cache/src
	if [ "$(cat "$src/.migrd-version" 2>/dev/null)" != "$version" ]; then
		say "unpacking $pkg $version into $src"
		rm -rf "$src"
		mkdir -p "$src"
		tar -xJf /usr/src/$pkg.tar.xz -C "$src" --strip-components=1
		echo "$version" >"$src/.migrd-version"
		mkdir -p "$src/.migrd-applied"
	fi
}

# Bring the tree to exactly kernel/patches: take back the series that is
# applied (newest first), apply ours. A tree that will not take its old
# series back is unpacked anew.
patches() {
	applied=$src/.migrd-applied
	if diff -r -q "$applied" "$here/patches" >/dev/null 2>&1; then
		return 0
	fi
	for p in $(ls -r "$applied"/*.patch 2>/dev/null); do
		if ! patch -s -R -p1 -d "$src" <"$p"; then
			say "cannot take back $(basename "$p"): unpacking anew"
			rm -f "$src/.migrd-version"
			unpack
			break
		fi
	done
	rm -rf "$applied"
	mkdir -p "$applied"
	for p in "$here"/patches/*.patch; do
		[ -e "$p" ] || continue
		say "applying $(basename "$p")"
		patch -s -p1 -N -d "$src" <"$p"
		cp "$p" "$applied/"
	done
}

configure() {
	out=$cache/out-$variant
	frags="$here/config/base.config"
	[ "$variant" = debug ] && frags="$frags $here/config/debug.config"
	stamp=$(cat $frags | sha256sum | cut -c1-16)
	[ "$(cat "$out/.migrd-config" 2>/dev/null)" = "$stamp" ] && return 0
	say "configuring $variant kernel in $out"
	mkdir -p "$out"
	make -s -C "$src" O="$out" tinyconfig >/dev/null
	(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$out" \
		"$out/.config" $frags >/dev/null)
	make -s -C "$src" O="$out" olddefconfig >/dev/null
	# A fragment option that Kconfig dropped is a config bug: say which.
	for f in $frags; do
		grep -E '^CONFIG_[A-Z0-9_]+=y' "$f" | while read -r line; do
			grep -qx "$line" "$out/.config" ||
				say "warning: $line did not survive olddefconfig"
		done
	done
	echo "$stamp" >"$out/.migrd-config"
}

deps
unpack
patches
configure
say "building $variant bzImage ($(nproc) jobs)"
make -s -C "$src" O="$out" -j"$(nproc)" bzImage >&2
echo "$out/arch/x86/boot/bzImage"
