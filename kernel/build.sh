#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel:
#   kernel/build.sh [--debug | --apply-only | --selftest | --each]
#
# Installs what it needs (Debian packages), unpacks Debian's
# linux-source-6.12 at the version the series is known to apply to (the
# pin below) into a cache outside the source tree, applies
# kernel/patches/*.patch in order, merges kernel/config/*.config onto
# tinyconfig and builds bzImage. The cache is reused while the source
# version, the patches and the config are unchanged: a second run only
# runs make, a patch change costs an incremental rebuild, not a cold one.
# Everything it says goes to stderr; stdout gets one line, the bzImage's
# path, and only once that bzImage exists. --apply-only stops after the
# series is applied (what ./dev kernel-newest asks first). --selftest
# builds, instead of a kernel, the series' KVM selftest
# (tools/testing/selftests/kvm/guest_memfd_link_test) with the kernel's
# own selftests Makefile against the patched tree's uapi headers, linked
# statically for the busybox initramfs, and prints its path. --each
# checks that the series bisects: the (normal) kernel is built after each
# patch in turn, and the selftest after the patch that adds it; it ends
# with the whole series applied, so a check-kernel after it is warm.
#
#   MIGRD_KERNEL_CACHE           the cache (default: ~/.cache/migrd-kernel)
#   MIGRD_KERNEL_SOURCE_VERSION  another linux-source-6.12 version to use
#   MIGRD_KERNEL_TARBALL         a linux-source tarball to use instead of
#                                the package (with ..._SOURCE_VERSION)
#   MIGRD_KERNEL_PATCHES         the series (default: kernel/patches)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# Only the bzImage's path reaches stdout: check.sh reads it from there.
exec 3>&1 1>&2
variant=normal
case "${1:-}" in
--debug) variant=debug ;;
--apply-only) variant= ;;
--selftest) variant=selftest ;;
--each) variant=each ;;
"") ;;
*) echo "usage: kernel/build.sh [--debug | --apply-only | --selftest | --each]" >&2; exit 2 ;;
esac
cache=${MIGRD_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/migrd-kernel}
pkg=linux-source-6.12
# The version the series in patches/ is known to apply to and pass on.
# Debian serves a few older versions beside the newest for a while; when
# this one goes, rebase the series (./dev kernel-newest tells whether it
# still applies to the newest) and move the pin.
pinned=6.12.118-1~deb12u1
version=${MIGRD_KERNEL_SOURCE_VERSION:-$pinned}
tarball=${MIGRD_KERNEL_TARBALL:-/usr/src/$pkg.tar.xz}
series=${MIGRD_KERNEL_PATCHES:-$here/patches}
packages="qemu-system-x86 busybox-static flex bison bc libelf-dev
	libssl-dev cpio gzip xz-utils make gcc patch perl rsync"

say() { echo "kernel: $*" >&2; }
die() { say "$*"; exit 1; }

installed() { # installed PACKAGE: its installed version, or nothing
	dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null |
		sed -n 's/^install ok installed //p'
}

# The pin is gone from apt (Debian serves only the newest security
# update): go on with the newest served version, loudly, rather than
# fail a machine on a version move the series may well survive. If the
# series does not apply there, apply() stops with the patch and file.
newest_served() { # newest_served SERVED-VERSIONS
	[ -z "${MIGRD_KERNEL_SOURCE_VERSION:-}" ] ||
		die "$pkg $version (MIGRD_KERNEL_SOURCE_VERSION) is not served by apt (served: $(echo $1))"
	newest=$(apt-cache policy $pkg | sed -n 's/^ *Candidate: //p')
	case "$newest" in
	"" | "(none)") die "$pkg $version, the version kernel/patches/ is known to apply to, is no longer served by apt, and no other version is (is bookworm-security in apt's sources?)" ;;
	esac
	say "WARNING: $pkg $version, the version kernel/patches/ is known to apply to, is no longer served by apt (served: $(echo $1)); trying the newest, $newest. Once it passes, move the pin in kernel/build.sh; if the series does not apply, rebase it (./dev kernel-newest tells ahead of time)."
	version=$newest
}

deps() {
	missing=
	for p in $packages; do
		[ -n "$(installed "$p")" ] || missing="$missing $p"
	done
	src_pkg=
	if [ -z "${MIGRD_KERNEL_TARBALL:-}" ] &&
	   [ "$(installed $pkg)" != "$version" ]; then
		src_pkg="$pkg=$version"
	fi
	[ -z "$missing$src_pkg" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing Debian packages:$missing${src_pkg:+ $src_pkg} (run as root, or apt-get install them)"
	fi
	say "installing$missing${src_pkg:+ $src_pkg}"
	apt-get update -q >/dev/null
	if [ -n "$src_pkg" ]; then
		served=$(apt-cache madison $pkg | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
		if ! echo "$served" | grep -qxF "$version"; then
			newest_served "$served"
			src_pkg="$pkg=$version"
		fi
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades \
		$missing $src_pkg >/dev/null
	[ -z "$src_pkg" ] || [ "$(installed $pkg)" = "$version" ] ||
		die "installing $pkg=$version left $(installed $pkg) installed"
}

# The source tree, unpacked once per source version.
unpack() {
	src=$cache/src
	if [ "$(cat "$src/.migrd-version" 2>/dev/null)" != "$version" ]; then
		say "unpacking $pkg $version into $src"
		rm -rf "$src"
		mkdir -p "$src"
		tar -xJf "$tarball" -C "$src" --strip-components=1
		echo "$version" >"$src/.migrd-version"
		mkdir -p "$src/.migrd-applied"
	fi
}

# Apply one patch, or stop the build with what failed: first a dry run,
# so a patch that does not apply leaves the tree as the patches before it
# left it (and .migrd-applied says exactly which those are).
apply() { # apply PATCH
	name=$(basename "$1")
	if ! out=$(patch -p1 -N --dry-run -d "$src" <"$1" 2>&1); then
		files=$(echo "$out" | awk '
			/^checking file / { f = $3 }
			/FAILED|Skipping patch|Reversed|can.t find file/ { print f }' |
			sort -u | tr '\n' ' ' | sed 's/ $//')
		say "patch $name does not apply to $pkg $version${files:+ (in: $files)}:"
		echo "$out" | sed 's/^/kernel:   /' >&2
		die "the series in kernel/patches/ does not apply to $pkg $version: rebase it, or set MIGRD_KERNEL_SOURCE_VERSION to the version it applies to"
	fi
	say "applying $name"
	patch -s -p1 -N -d "$src" <"$1" >&2
	cp "$1" "$src/.migrd-applied/"
}

# Bring the tree to exactly kernel/patches: take back the series that is
# applied (newest first), apply ours. A tree that will not take its old
# series back is unpacked anew.
patches() {
	applied=$src/.migrd-applied
	if diff -r -q "$applied" "$series" >/dev/null 2>&1; then
		return 0
	fi
	for p in $(ls -r "$applied"/*.patch 2>/dev/null); do
		if ! patch -s -R -p1 -d "$src" <"$p" >/dev/null 2>&1; then
			say "cannot take back $(basename "$p"): unpacking anew"
			rm -f "$src/.migrd-version"
			unpack
			break
		fi
	done
	rm -rf "$applied"
	mkdir -p "$applied"
	for p in "$series"/*.patch; do
		[ -e "$p" ] || continue
		apply "$p"
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

# The selftest, against this tree's uapi headers (the ioctl is not in
# the installed ones): built like any KVM selftest, only statically.
selftest() {
	st=$cache/selftest
	mkdir -p "$st/out"
	say "building the KVM selftest guest_memfd_link_test"
	nice -n "${MIGRD_KERNEL_NICE:-10}" make -s -C "$src" O="$st/hdr" \
		headers_install INSTALL_HDR_PATH="$st/usr" >/dev/null
	nice -n "${MIGRD_KERNEL_NICE:-10}" make -s -j"$(nproc)" \
		-C "$src/tools/testing/selftests/kvm" OUTPUT="$st/out" \
		KHDR_INCLUDES="-isystem $st/usr/include" EXTRA_CFLAGS=-static \
		"$st/out/guest_memfd_link_test"
	[ -x "$st/out/guest_memfd_link_test" ] ||
		die "make succeeded but left no $st/out/guest_memfd_link_test"
	echo "$st/out/guest_memfd_link_test" >&3
}

# Bisectability: the tree builds after each patch of the series.
each() {
	prefix=$(mktemp -d)
	trap 'rm -rf "$prefix"' EXIT
	total=$(ls "$series"/*.patch | wc -l)
	n=0
	for p in "$series"/*.patch; do
		n=$((n + 1))
		cp "$p" "$prefix/"
		say "each: $n/$total $(basename "$p")"
		MIGRD_KERNEL_PATCHES=$prefix "$0" >/dev/null ||
			die "each: the kernel does not build after $(basename "$p")"
		if grep -q '^+++ b/tools/testing/selftests/' "$p"; then
			MIGRD_KERNEL_PATCHES=$prefix "$0" --selftest >/dev/null ||
				die "each: the selftest does not build after $(basename "$p")"
		fi
	done
	say "each: the tree builds after each of the $total patches"
}

[ "$variant" = each ] && { each; exit 0; }
deps
unpack
patches
[ -n "$variant" ] || { say "$pkg $version: the series applies"; exit 0; }
[ "$variant" = selftest ] && { selftest; exit 0; }
configure
say "building $variant bzImage on $pkg $version ($(nproc) jobs)"
nice -n "${MIGRD_KERNEL_NICE:-10}" make -s -C "$src" O="$out" -j"$(nproc)" bzImage
image=$out/arch/x86/boot/bzImage
[ -f "$image" ] || die "make succeeded but left no $image"
echo "$image" >&3
