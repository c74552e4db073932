# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the tests that put a hook wrapper (zz-migrd-*test-PID) into
# libvirt's hook directory. A run that was SIGKILLed (a CI timeout, say)
# ran no trap: its wrapper stays, and libvirtd would run it for every
# domain. rm_stale_wrappers DIR removes those whose test is gone.
rm_stale_wrappers() {
	for w in "$1"/zz-migrd-*test-*; do
		[ -e "$w" ] || continue
		kill -0 "${w##*-}" 2>/dev/null || rm -f "$w"
	done
}
