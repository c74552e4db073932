#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The libvirt hook under the real libvirtd (`./dev libvirtd`): a small
# domain that runs under TCG (no disk: SeaBIOS finds nothing to boot and
# idles, so QEMU stays up), started, seen through a libvirtd restart and
# destroyed with virsh, and after each step what migrd knows of it:
#   1. virsh start registers it: its name, its UUID, QEMU's pid as owner;
#   2. a libvirtd restart ("reconnect") keeps the same registration: the
#      same identity, owner and registration time;
#   3. virsh destroy unregisters it.
# It starts its own libvirtd and virtlogd and stops them at the end, so it
# skips where a libvirtd already runs. The hook is the built one, behind a
# wrapper in /etc/libvirt/hooks/qemu.d/ that names this test's config
# (libvirtd gives its hooks no environment of ours); the wrapper goes too.
set -u
: "${HOOK:?run through ./dev libvirtd}"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/host-leftovers.sh"
for p in libvirtd virtlogd virsh qemu-system-x86_64; do
	command -v $p >/dev/null || {
		echo "SKIP: $p is not installed (./dev libvirtd installs it)"
		exit 77
	}
done
pgrep -x libvirtd >/dev/null && {
	echo "SKIP: a libvirtd already runs here; this test starts its own"
	exit 77
}
id libvirt-qemu >/dev/null 2>&1 || {
	echo "SKIP: no libvirt-qemu user (libvirt-daemon-system makes it)"
	exit 77
}

start_migrd
hooks=/etc/libvirt/hooks/qemu.d
wrapper=$hooks/zz-migrd-test-$$
dom=migrd-test-$$
uuid=$(cat /proc/sys/kernel/random/uuid)
virsh() { command virsh -q -c qemu:///system "$@"; }
started_logd=
qemu=
stop_all() {
	virsh destroy "$dom" >/dev/null 2>&1
	# libvirtd gone before it could: QEMU must not outlive the test.
	[ -n "$qemu" ] && kill "$qemu" 2>/dev/null
	pkill -x libvirtd
	stop_virtlogd
	rm -f "$wrapper"
	cleanup
}
trap stop_all EXIT
# A signal runs the cleanup too (dash runs the EXIT trap only on exit).
trap "exit 130" INT HUP TERM

printf 'socket = %s\n' "$sock" >"$dir/hook.conf"
mkdir -p "$hooks"
# It notes each call, so the test knows the hook did run.
# A run killed by SIGKILL leaves its wrapper behind: without its
# directory it does nothing, and the next run removes it.
rm_stale_wrappers "$hooks"
printf '#!/bin/sh\n[ -d %s ] || exit 0\necho "$2" >>%s\nMIGRD_HOOK_CONF=%s exec %s "$@" 2>>%s\n' \
	"$dir" "$dir/hook.ops" "$dir/hook.conf" "$HOOK" "$dir/hook.err" >"$wrapper"
chmod 755 "$wrapper"
cat >"$dir/domain.xml" <<EOF
<domain type='qemu'>
  <name>$dom</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>$(command -v qemu-system-x86_64)</emulator></devices>
</domain>
EOF

start_virtlogd || { echo "FAIL: virtlogd does not start"; exit 1; }
start_libvirtd() {
	libvirtd --daemon || return 1
	wait_for 30 virsh version >/dev/null
}
stop_libvirtd() {
	pkill -x libvirtd
	wait_for 30 sh -c '! pgrep -x libvirtd >/dev/null'
}
registered() { "$MIGCTL" show "$uuid" >/dev/null 2>&1; }
field() { "$MIGCTL" --json show "$uuid" | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",]*\).*/\1/p"; }
running() { [ "$(virsh domstate "$dom")" = running ]; }
hook_ran() { grep -qx "$1" "$dir/hook.ops"; }
qemu_pid() { cat "/run/libvirt/qemu/$dom.pid"; }

expect "libvirtd starts" start_libvirtd
# ---- 1. start ----
expect "virsh create" virsh create "$dir/domain.xml"
expect "the domain runs" running
expect "start: the hook ran" hook_ran started
expect "start: registered under its UUID" wait_for 10 registered
expect "start: under its name" test "$(field name)" = "$dom"
qemu=$(qemu_pid)
expect "start: QEMU is the owner" test "$(field owner_pid)" = "$qemu"
expect "start: the owner is QEMU" grep -q qemu-system "/proc/$qemu/cmdline"
id=$(field id)
since=$(field registered_ms)

# ---- 2. libvirtd restarts; QEMU and the registration stay ----
expect "libvirtd stops" stop_libvirtd
expect "QEMU outlives libvirtd" kill -0 "$qemu"
expect "libvirtd starts again" start_libvirtd
expect "reconnect: the domain still runs" running
expect "reconnect: the hook ran" wait_for 10 hook_ran reconnect
expect "reconnect: still registered" registered
expect "reconnect: the same identity" test "$(field id)" = "$id"
expect "reconnect: the same owner" test "$(field owner_pid)" = "$qemu"
expect "reconnect: registered no later" test "$(field registered_ms)" = "$since"

# ---- 3. destroy ----
expect "virsh destroy" virsh destroy "$dom"
expect "destroy: the hook ran" wait_for 10 hook_ran stopped
expect "destroy: unregistered" wait_for 10 sh -c "! '$MIGCTL' show '$uuid' >/dev/null 2>&1"
expect "the hook said nothing wrong" test ! -s "$dir/hook.err"
[ $fails = 0 ] || { echo "hook:"; cat "$dir/hook.err"; }
finish
