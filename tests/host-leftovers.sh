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

# start_virtlogd: one that stays (not an earlier test's on its way out),
# its socket there before a domain needs it; started_logd=1 if we did.
start_virtlogd() {
	if [ -S /run/libvirt/virtlogd-sock ] &&
	   pgrep -r R,S,D -x virtlogd >/dev/null; then
		return 0
	fi
	virtlogd --daemon || return 1
	started_logd=1
	n=0
	while [ ! -S /run/libvirt/virtlogd-sock ] && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ -S /run/libvirt/virtlogd-sock ]
}

# stop_virtlogd: the one we started, gone before the next test looks
stop_virtlogd() {
	[ -n "${started_logd:-}" ] || return 0
	pkill -x virtlogd
	n=0
	while pgrep -r R,S,D -x virtlogd >/dev/null && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
}
