#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Boot the patched kernel under QEMU (TCG) and run the kernel tests in it:
#   kernel/check.sh [--debug] [--stack BUILD [--bench]] TEST-BINARY [TEST...]
#
# The initramfs holds busybox, an /init, the static test binary and the
# series' own KVM selftest (guest_memfd_link_test, built by build.sh
# --selftest; it runs after the test binary when no TEST is named); with
# --stack, also the project's own migrd, migctl and refvmm from BUILD with
# the shared libraries they load, and tests/kernel/stack.sh, which runs
# the whole stack on this kernel after the kernel tests; then (not with
# --bench) every Criterion program of BUILD's tests/ that needs KVM (its
# source calls REQUIRE_ROOT_KVM or kvm_unavailable), with the FAKE link
# ioctl and jq, run by tests/kernel/criterion.sh, where a skipped test
# counts as failed. Those need guest_memfd with MMAP and INIT_SHARED
# (Linux 6.18); while the kernel's uapi header lacks either, they are
# left out with a line saying so (MIGRD_KERNEL_CRITERION=1: run them
# anyway; =0: never). The run fails on
# a failed test, a missing closing line, or anything the kernel itself
# reports: a WARNING, a BUG or oops, KASAN, lockdep. Its last line adds
# up the suites' own "N passed, N failed". With --bench, bench/kernel.sh
# (link against copy) runs instead of the stack's tests, and its figures
# are the output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debug= stack=
[ "${1:-}" = --debug ] && { debug=--debug; shift; }
[ "${1:-}" = --stack ] && { stack=$(cd "$2" && pwd); shift 2; }
suite=tests/kernel/stack.sh
[ -n "$stack" ] && [ "${1:-}" = --bench ] && { suite=bench/kernel.sh; shift; }
[ $# -ge 1 ] || { echo "usage: kernel/check.sh [--debug] [--stack BUILD [--bench]] TEST-BINARY [TEST...]" >&2; exit 2; }
bin=$(readlink -f "$1")
shift

# build.sh prints the bzImage's path and nothing else on stdout, and only
# once it exists: a build that failed stops here, before anything boots.
if ! image=$("$here/build.sh" $debug); then
	echo "kernel: the kernel did not build (see above); nothing booted" >&2
	exit 1
fi
[ -f "$image" ] && [ "${image##*/}" = bzImage ] || {
	echo "kernel: build.sh gave '$image', which is not a bzImage" >&2
	exit 1
}
selftest=
if [ $# = 0 ] && [ "$suite" != bench/kernel.sh ]; then
	selftest=$("$here/build.sh" --selftest) || {
		echo "kernel: the KVM selftest did not build (see above)" >&2
		exit 1
	}
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Under TCG the kernel's own TSC calibration fails now and then, which
# leaves KVM's clock at 0 and hangs KVM_RUN: give it the host's frequency.
khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)

mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" \
	"$work/root/dev" "$work/root/tests" "$work/root/tmp" "$work/root/run"
cp /bin/busybox "$work/root/bin/busybox"
cp "$bin" "$work/root/tests/"
run_selftest=
if [ -n "$selftest" ]; then
	cp "$selftest" "$work/root/tests/"
	run_selftest="echo 'selftest: begin'
/tests/$(basename "$selftest")
echo \"selftest: end rc=\$?\""
fi

# The project's programs, as built, with every library they load: packed
# into the initramfs (no kernel options needed, unlike a 9p root).
pack() { # pack PROGRAM...: into /stack, their libraries into /stack/lib
	mkdir -p "$work/root/stack/lib" "$work/root/lib64"
	for p in "$@"; do
		cp "$p" "$work/root/stack/"
		LD_LIBRARY_PATH=$stack/libmig/.libs ldd "$p" |
			sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' |
			while read -r lib; do
				cp -L "$lib" "$work/root/stack/lib/"
			done
	done
	cp -L /lib64/ld-linux-x86-64.so.2 "$work/root/lib64/"
}
# The Criterion programs that need KVM, found by their sources (so a new
# one comes along), built in BUILD if they are not yet (make check builds
# them), packed with the FAKE link ioctl, jq (test-inject) and the runner.
crit= filters=
criterion() {
	src=${image%/out-*/arch/x86/boot/bzImage}/src
	case ${MIGRD_KERNEL_CRITERION:-auto} in
	0) return 0 ;;
	1) ;;
	*)	if ! grep -q GUEST_MEMFD_FLAG_MMAP "$src/include/uapi/linux/kvm.h" ||
		   ! grep -q GUEST_MEMFD_FLAG_INIT_SHARED "$src/include/uapi/linux/kvm.h"; then
			echo "kernel: NOT RUN: the Criterion KVM tests (harness.c's kvm_unavailable) need guest_memfd with MMAP|INIT_SHARED, which this kernel lacks; they would all skip (MIGRD_KERNEL_CRITERION=1 runs them anyway)" >&2
			return 0
		fi ;;
	esac
	crit=$(grep -l -E 'REQUIRE_ROOT_KVM|kvm_unavailable' \
		"$here"/../tests/test-*.c | sed 's|.*/||; s|\.c$||' | tr '\n' ' ')
	[ -n "$crit" ] || return 0
	targets=
	for t in $crit; do targets="$targets tests/$t"; done
	if ! make -C "$stack" $targets tests/fake/link-ioctl.la >"$work/make.log" 2>&1; then
		echo "kernel: the Criterion tests did not build:" >&2
		tail -n 30 "$work/make.log" >&2
		exit 1
	fi
	for t in $crit; do
		p=$stack/tests/$t
		# A libtool wrapper script: the real program is in .libs.
		if [ "$(head -c 2 "$p")" = "#!" ]; then
			p=$stack/tests/.libs/$t
			[ -f "$p" ] || p=$stack/tests/.libs/lt-$t
		fi
		pack "$p"
		[ "${p##*/}" = "$t" ] || mv "$work/root/stack/${p##*/}" "$work/root/stack/$t"
	done
	pack "$stack/tests/fake/.libs/link-ioctl.so"
	jq=$(command -v jq || true)
	[ -z "$jq" ] || pack "$jq"
	cp "$here/../tests/kernel/criterion.sh" "$work/root/stack/"
	# CRITERION_FILTER_test_x='pattern' narrows one program (a test too
	# slow under TCG): passed on from this environment.
	filters=$(env | sed -n "s/^\(CRITERION_FILTER_[A-Za-z0-9_]*\)=\(.*\)/\1='\2'/p" | tr '\n' ' ')
}
run_stack=
if [ -n "$stack" ]; then
	pack "$stack/migrd/migrd" "$stack/migctl/migctl" \
		"$stack/examples/refvmm/.libs/refvmm"
	cp "$here/../tests/lib.sh" "$here/../$suite" "$work/root/stack/"
	[ "$suite" = bench/kernel.sh ] || criterion
	run_stack="mount -t tmpfs tmp /tmp; mkdir -p /run
echo 'stack: begin'
N=${BENCH_N:-5} SIZES='${BENCH_SIZES:-32M 128M 512M}' \\
	LD_LIBRARY_PATH=/stack/lib MIGRD=/stack/migrd MIGCTL=/stack/migctl \\
	REFVMM=/stack/refvmm sh /stack/$(basename "$suite")
echo \"stack: end rc=\$?\""
	[ -z "$crit" ] || run_stack="$run_stack
mkdir -p /dev/shm; mount -t tmpfs shm /dev/shm
echo 'criterion: begin'
$filters CRITERION='$crit' DIR=/stack LD_LIBRARY_PATH=/stack/lib PATH=/stack:/bin \\
	MIGRD_BIN=/stack/migrd MIGCTL=/stack/migctl REFVMM=/stack/refvmm \\
	FAKE_LINK=/stack/link-ioctl.so sh /stack/criterion.sh
echo \"criterion: end rc=\$?\""
fi
cat >"$work/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "ktest: begin on \$(uname -r)"
/tests/$(basename "$bin") $*
echo "ktest: end rc=\$?"
$run_selftest
$run_stack
reboot -f
EOF
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) \
	>"$work/initramfs.gz"

mem=2G
limit=900
[ -n "$stack" ] && limit=1800
[ -n "$debug" ] && { mem=3G; limit=2400; }
[ -n "$crit" ] && limit=$((limit + 900))
start=$(date +%s)
# Two sockets of one CPU each: the tiny kernel has no ACPI, and QEMU's
# MP table lists sockets, so "-smp 2" alone boots one CPU. TCG's TSCs
# agree (one virtual clock): tsc=reliable skips the sync check that would
# otherwise mark the TSC unstable.
timeout "$limit" qemu-system-x86_64 -accel tcg -cpu EPYC \
	-smp 2,sockets=2,cores=1,threads=1 -m "$mem" \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "$image" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 oops=panic tsc_early_khz=$khz tsc=reliable" \
	>"$work/console.log" 2>&1 || true
echo "kernel: booted and tested in $(($(date +%s) - start)) s" >&2

log=$work/console.log
# Kept beside the kernel it came from, for a look after a failure.
cp "$log" "${image%/arch/x86/boot/bzImage}/console.log" 2>/dev/null || true
tr -d '\r' <"$log" | grep -E '^(ok|not ok|#|FAIL:|bench:?) ' || true
if [ "$suite" = bench/kernel.sh ]; then
	# The figures: the medians' table and the ratios.
	tr -d '\r' <"$log" | sed -n '/^kernel .*upgrades each$/,/^stack: end/p' |
		grep -v '^stack: end'
	tr -d '\r' <"$log" | grep -q '^stack: end rc=0$'
	exit $?
fi
fail=0
# KASAN and lockdep report as "BUG: KASAN: ..." and "WARNING: possible
# circular locking ...", so these catch them with every WARN and oops.
problems='WARNING:|BUG:|Oops|Kernel panic|UBSAN:|list_(add|del) corruption|INFO: (task .* blocked|rcu.* stall)'
if grep -qE "$problems" "$log"; then
	echo "kernel: the kernel reported a problem:" >&2
	grep -E -A30 "$problems" "$log" | head -n 80 >&2
	fail=1
fi
# One closing line per suite: the kernel tests', and the stack's; the
# selftest's kselftest totals are turned into one (a selftest that ended
# without its totals, e.g. on a failed assertion, counts as one failure).
tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' \
	>"$work/closing" || true
if [ -n "$selftest" ]; then
	totals=$(tr -d '\r' <"$log" | sed -n 's/^# Totals: pass:\([0-9]*\) fail:\([0-9]*\) .* error:\([0-9]*\)$/\1 passed, \2 \3/p')
	if [ -n "$totals" ]; then
		echo "$totals" | awk '{ print $1 " passed, " $3 + $4 " failed" }' >>"$work/closing"
	else
		echo "0 passed, 1 failed" >>"$work/closing"
	fi
	if ! tr -d '\r' <"$log" | grep -q '^selftest: end rc=0$'; then
		echo "kernel: the KVM selftest failed:" >&2
		tr -d '\r' <"$log" | sed -n '/^selftest: begin$/,/^selftest: end/p' |
			tail -n 40 >&2
		fail=1
	fi
fi
suites=$(wc -l <"$work/closing")
closing=$(awk '{ p += $1; f += $3 } END { if (NR) print p " passed, " f " failed" }' "$work/closing")
want=1
[ -n "$selftest" ] && want=$((want + 1))
[ -n "$stack" ] && want=$((want + 1))
[ -n "$crit" ] && want=$((want + 1))
if [ -z "$closing" ] || [ "$suites" -lt $want ]; then
	echo "kernel: no closing line; the console said:" >&2
	tail -n 40 "$log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
tr -d '\r' <"$log" | grep -q '^ktest: end rc=0$' || fail=1
[ -z "$stack" ] || tr -d '\r' <"$log" | grep -q '^stack: end rc=0$' || fail=1
[ -z "$crit" ] || tr -d '\r' <"$log" | grep -q '^criterion: end rc=0$' || fail=1
[ $fail = 0 ] || case "$closing" in *" 0 failed") closing="${closing% 0 failed} 1 failed" ;; esac
# Beside the console log, for ./dev kernel-newest to quote.
echo "$closing" >"${image%/arch/x86/boot/bzImage}/result" 2>/dev/null || true
echo "$closing"
exit $fail
