# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the tests that change the host for libvirtd: a hook wrapper
# (zz-migrd-*test-PID) in libvirt's hook directory, QEMU as root in
# qemu.conf. A run that was SIGKILLed (a CI timeout, say) ran no trap and
# left its change behind; the next run must neither trip over it nor
# take it for the host's own setting.

# rm_stale_wrappers DIR: remove the wrappers whose test is gone
rm_stale_wrappers() {
	for w in "$1"/zz-migrd-*test-*; do
		[ -e "$w" ] || continue
		kill -0 "${w##*-}" 2>/dev/null || rm -f "$w"
	done
}

# qemu_as_root CONF SAVE: SAVE gets CONF as the host has it, then CONF
# runs QEMU as root (/dev/kvm is 0600 in these containers). Each change
# is marked, so an earlier run's leftovers are taken out first.
qemu_as_root() {
	sed -i -e '/^# migrd-test: the next line$/,+1d' -e 's/^#migrd-test#//' "$1"
	cp -p "$1" "$2"
	sed -i -e 's/^[[:space:]]*\(user\|group\)[[:space:]]*=/#migrd-test#&/' "$1"
	printf '# migrd-test: the next line\nuser = "root"\n# migrd-test: the next line\ngroup = "root"\n' >>"$1"
}
