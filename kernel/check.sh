#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Boot the patched kernel under QEMU (TCG) and run the kernel tests in it:
#   kernel/check.sh [--debug] TEST-BINARY [TEST-NAME...]
#
# The initramfs holds busybox, an /init and the static test binary. The
# run fails on a failed test, a missing closing line, or anything the
# kernel itself reports: a WARNING, a BUG or oops, KASAN, lockdep.
# Its last line is the tests' own "N passed, N failed".
set -eu
here=$(cd "$(dirname "$0")" && pwd)
debug=
[ "${1:-}" = --debug ] && { debug=--debug; shift; }
[ $# -ge 1 ] || { echo "usage: kernel/check.sh [--debug] TEST-BINARY [TEST...]" >&2; exit 2; }
bin=$(readlink -f "$1")
shift

image=$("$here/build.sh" $debug | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Under TCG the kernel's own TSC calibration fails now and then, which
# leaves KVM's clock at 0 and hangs KVM_RUN: give it the host's frequency.
khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)

mkdir -p "$work/root/bin" "$work/root/proc" "$work/root/sys" \
	"$work/root/dev" "$work/root/tests"
cp /bin/busybox "$work/root/bin/busybox"
cp "$bin" "$work/root/tests/"
cat >"$work/root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "ktest: begin on \$(uname -r)"
/tests/$(basename "$bin") $*
echo "ktest: end rc=\$?"
reboot -f
EOF
chmod +x "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1) \
	>"$work/initramfs.gz"

mem=2G
limit=900
[ -n "$debug" ] && { mem=3G; limit=2400; }
start=$(date +%s)
timeout "$limit" qemu-system-x86_64 -accel tcg -cpu EPYC -smp 2 -m "$mem" \
	-nographic -no-reboot -nodefaults -serial stdio \
	-kernel "$image" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 oops=panic tsc_early_khz=$khz" \
	>"$work/console.log" 2>&1 || true
echo "kernel: booted and tested in $(($(date +%s) - start)) s" >&2

log=$work/console.log
# Kept beside the kernel it came from, for a look after a failure.
cp "$log" "${image%/arch/x86/boot/bzImage}/console.log" 2>/dev/null || true
tr -d '\r' <"$log" | grep -E '^(ok|not ok|#) ' || true
fail=0
# KASAN and lockdep report as "BUG: KASAN: ..." and "WARNING: possible
# circular locking ...", so these catch them with every WARN and oops.
problems='WARNING:|BUG:|Oops|Kernel panic|UBSAN:|list_(add|del) corruption|INFO: (task .* blocked|rcu.* stall)'
if grep -qE "$problems" "$log"; then
	echo "kernel: the kernel reported a problem:" >&2
	grep -E -A30 "$problems" "$log" | head -n 80 >&2
	fail=1
fi
closing=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ -z "$closing" ]; then
	echo "kernel: no closing line; the console said:" >&2
	tail -n 40 "$log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
tr -d '\r' <"$log" | grep -q '^ktest: end rc=0$' || fail=1
echo "$closing"
exit $fail
