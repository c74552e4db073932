# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the QEMU benches before tests/qemu/host.sh: the binaries of
# the build tree (BUILD, default build/) and where figures go
# (BENCH_OUT, default build/bench).
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
export MIGRD=$build/migrd/migrd MIGCTL=$build/migctl/migctl \
	HOOK=$build/plugins/libvirt/migrd-libvirt-hook \
	MEMGUEST=$build/tests/qemu/memguest
out=${BENCH_OUT:-$build/bench}
mkdir -p "$out"
