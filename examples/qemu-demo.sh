#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The QEMU demo: a libvirt domain running an unmodified QEMU, upgraded
# three times by `migctl upgrade --emulator` while its guest runs: twice
# onto the same QEMU 7.2, then onto bookworm-backports' QEMU 10.0 when it
# can be had (tests/qemu/qemu10.sh unpacks it beside 7.2). migrd hands
# the guest's memfd RAM over; QEMU's migration moves only the device
# state. The guest (tests/qemu/memguest.S) filled its RAM from a seed and
# re-checks it, printing a counter: what it prints is the proof.
# Runs its own migrd, virtlogd and libvirtd (see tests/qemu/host.sh);
# KVM when /dev/kvm is usable, else TCG. DEMO_MIB sets the RAM (1024).
set -u
: "${BUILD:?run through ./dev demo}"
export MIGRD=$BUILD/migrd/migrd MIGCTL=$BUILD/migctl/migctl \
	HOOK=$BUILD/plugins/libvirt/migrd-libvirt-hook \
	MEMGUEST=$BUILD/tests/qemu/memguest
here=$(cd "$(dirname "$0")/../tests" && pwd)
. "$here/qemu/host.sh"
dom=demo-$$
mib=${DEMO_MIB:-1024}
say() { printf '\ndemo: %s\n' "$*"; }
guest() { tail -n "${1:-1}" "$dir/$dom.log" | sed 's/^/  guest| /'; }

say "a $mib MiB $([ "$type" = kvm ] && echo KVM || echo TCG) domain under libvirtd, RAM shared memfd; the guest fills it"
start_domain "$dom" "$mib" || { echo "demo: the domain did not start"; exit 1; }
guest 4
say "libvirt's QEMU: pid $(qpid "$dom"); migrd knows it: $("$MIGCTL" show "$dom" | sed -n 's/^ *owner: */owner /p')"
emus="$qemu $qemu"
q10=$(sh "$here/qemu/qemu10.sh" 2>/dev/null | tail -n 1) && [ -x "$q10" ] &&
	emus="$emus $q10"
i=0
for emu in $emus; do
	i=$((i + 1))
	say "upgrade $i: migctl upgrade $dom --emulator $emu"
	"$MIGCTL" upgrade "$dom" --emulator "$emu" || { echo "demo: upgrade $i failed"; exit 1; }
	c=$(mg_reports "$dir/$dom.log")
	mg_wait_reports 60 "$dir/$dom.log" $((c + 2))
	guest 2
	echo "  libvirt: $(virsh domstate "$dom"), QEMU $(virsh qemu-monitor-command "$dom" '{"execute":"query-version"}' |
		sed -n 's/.*"qemu":{\([^}]*\)}.*/\1/p' | tr -d '"')"
done
say "the guest's own verdict over $(mg_reports "$dir/$dom.log") reports"
if mg_verdict "$dir/$dom.log"; then
	echo "  memory intact (checked against its seed), counter continuous across $i QEMUs"
else
	exit 1
fi
virsh destroy "$dom" >/dev/null
