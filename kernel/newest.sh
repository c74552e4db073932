#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Does the series still apply to, and pass on, the newest linux-source-6.12
# Debian serves?  kernel/newest.sh [CHECK-ARGS...]
#
# The pinned version (kernel/build.sh) keeps ./dev check-kernel
# reproducible; this says, before the pinned version stops being served,
# whether the next one needs a rebase. When the newest is the pinned one
# there is nothing to build: it says so (with the last check-kernel result
# on it, if there is one). Otherwise it fetches the newest source package
# with apt-get download into a cache of its own (the pinned cache and the
# installed package are left alone), tries the series on it and, if it
# applies, builds that kernel and runs kernel/check.sh CHECK-ARGS on it.
# Its answer is one line starting "kernel-newest:"; it never fails (exit
# 0): it is a warning ahead of time, not a gate.
#
#   MIGRD_KERNEL_NEWEST   try this served version instead of the newest
set -u
here=$(cd "$(dirname "$0")" && pwd)
pkg=linux-source-6.12
cache=${MIGRD_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/migrd-kernel}
pinned=$(sed -n 's/^pinned=//p' "$here/build.sh")

answer() { echo "kernel-newest: $*"; exit 0; }

if [ "$(id -u)" = 0 ]; then
	apt-get update -q >/dev/null 2>&1 ||
		echo "kernel-newest: apt-get update failed; using apt's last lists" >&2
fi
newest=${MIGRD_KERNEL_NEWEST:-$(apt-cache policy $pkg 2>/dev/null |
	sed -n 's/^ *Candidate: //p')}
case "$newest" in
"" | "(none)") answer "apt serves no $pkg; cannot tell (pinned: $pinned)" ;;
esac

if [ "$newest" = "$pinned" ]; then
	last=$(cat "$cache/out-normal/result" 2>/dev/null)
	answer "$newest = pinned, series applies${last:+, $last (last ./dev check-kernel)}"
fi

dir=$cache/newest
deb=$dir/deb
tarball=$dir/$pkg-$newest.tar.xz
if [ ! -f "$tarball" ]; then
	echo "kernel-newest: fetching $pkg $newest" >&2
	rm -rf "$deb" "$dir"/$pkg-*.tar.xz
	mkdir -p "$deb"
	(cd "$deb" && apt-get download -q "$pkg=$newest" >/dev/null 2>&1) ||
		answer "$newest (pinned $pinned): apt-get download failed; cannot tell"
	dpkg-deb --fsys-tarfile "$deb"/*.deb |
		tar -xO "./usr/src/$pkg.tar.xz" >"$tarball.part" &&
		mv "$tarball.part" "$tarball" ||
		answer "$newest (pinned $pinned): no source tarball in the package; cannot tell"
	rm -rf "$deb"
fi

export MIGRD_KERNEL_CACHE="$dir" MIGRD_KERNEL_SOURCE_VERSION="$newest" \
	MIGRD_KERNEL_TARBALL="$tarball"
if ! out=$("$here/build.sh" --apply-only 2>&1); then
	why=$(echo "$out" | sed -n 's/^kernel: patch \(.*\) does not apply to [^ ]* [^ ]*\(.*\):$/\1\2/p' |
		head -n 1)
	echo "$out" >&2
	answer "$newest (pinned $pinned): series does not apply: ${why:-see above}; rebase before the pin has to move"
fi
result=$("$here/check.sh" "$@" | tail -n 1)
case "$result" in
*" passed, "*" failed") answer "$newest (pinned $pinned): series applies, $result" ;;
*) answer "$newest (pinned $pinned): series applies, but the kernel did not build or boot (see above)" ;;
esac
