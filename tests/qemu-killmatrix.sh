# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by qemu-upgrade.sh: the QEMU swap's kill matrix. migctl stops
# itself at a step (MIGCTL_QEMU_STOP_AT, fault injection), one party is
# SIGKILLed there (the old QEMU, the new QEMU, migrd - then started again
# as systemd would - or migctl, whose guard must finish or undo the swap),
# and migctl, if alive, goes on. Then, judged by the guest's own reports:
# exactly one QEMU runs it (none only when the old QEMU was killed before
# its state reached the new one: the kill itself took the only copy),
# libvirtd runs and manages the domain, and migrd's registration names the
# live QEMU. QEMU_KM_TRIALS (default 1) runs the whole matrix that often;
# QEMU_KM_CELLS="new:moved old:commit ..." runs only those cells.

km_lost=0 km_twice=0 km_down=0 km_cells=0 km_n=0 kmdom=

km_fresh() {
	kmdom=mqkm-$$-$km_n
	km_n=$((km_n + 1))
	start_domain "$kmdom" 64
}
km_qemus() { pgrep -f "guest=$1," | wc -l; }
# migctl says "stopped at" just before it raises SIGSTOP: a SIGCONT sent
# in between is lost, and the wait for migctl then never ends.
km_stopped() { grep -q '^State:.*stopped' "/proc/$1/status"; }
km_settled() { ! pgrep -f "upgrade $kmdom --emulator" >/dev/null; }

# km_judge VICTIM STEP C0: what the host looks like after the cell
km_judge() {
	v=$1 at=$2 c0=$3 cell="kill matrix: $1 killed at $2"
	n=$(km_qemus "$kmdom")
	if ! libvirtd_runs; then
		km_down=$((km_down + 1))
		bad "$cell: libvirtd is down"
		start_libvirtd
	fi
	case $v:$at in
	old:adopted|old:launched|old:migrating|new:commit|new:running)
		# The only QEMU able to run the guest was killed: the old one
		# before its state left, the new one after the commit.
		expect "$cell: no QEMU is left (the kill took the one that ran it)" test "$n" = 0
		expect "$cell: libvirt calls the domain gone" sh -c \
			"! virsh -c qemu:///system domstate $kmdom 2>/dev/null | grep -q running"
		expect "$cell: migrd forgot it" sh -c "! '$MIGCTL' show $kmdom >/dev/null 2>&1"
		kmdom=
		return ;;
	esac
	if [ "$n" = 0 ]; then
		km_lost=$((km_lost + 1))
		bad "$cell: the guest is lost"
		kmdom=
		return
	fi
	if [ "$n" -gt 1 ]; then
		km_twice=$((km_twice + 1))
		bad "$cell: $n QEMUs run the guest"
		return
	fi
	live=$(pgrep -f "guest=$kmdom,")
	expect "$cell: libvirt's pid file names the live QEMU" test "$(qpid "$kmdom")" = "$live"
	expect "$cell: libvirt manages it (running)" wait_for 30 sh -c \
		"virsh -c qemu:///system domstate $kmdom | grep -q running"
	c=$(mg_reports "$dir/$kmdom.log")
	if ! wait_for 60 more_reports "$kmdom" $((c + 1)); then
		km_lost=$((km_lost + 1))
		bad "$cell: the guest no longer reports"
		kmdom=
		return
	fi
	if ! mg_verdict "$dir/$kmdom.log" >"$dir/km.verdict"; then
		km_twice=$((km_twice + 1))
		bad "$cell: the guest's verdict: $(cat "$dir/km.verdict")"
		kmdom=
		return
	fi
	ok
	expect "$cell: migrd's registration names the live QEMU" wait_for 30 sh -c \
		"'$MIGCTL' --json show $kmdom | grep -q '\"owner_pid\":$live,'"
}

km_cell() {
	v=$1 at=$2
	km_cells=$((km_cells + 1))
	if [ -z "$kmdom" ] && ! km_fresh; then
		bad "kill matrix: a fresh domain starts"
		return
	fi
	old=$(qpid "$kmdom") c0=$(mg_reports "$dir/$kmdom.log")
	MIGCTL_QEMU_STOP_AT=$at "$MIGCTL" upgrade "$kmdom" --emulator "$qemu" \
		>"$dir/km.out" 2>"$dir/km.err" &
	mc=$!
	if ! wait_for 120 grep -q "stopped at $at" "$dir/km.err" ||
			! wait_for 30 km_stopped "$mc"; then
		bad "kill matrix: migctl reaches $at ($(tail -n 1 "$dir/km.err"))"
		kill -9 "$mc" 2>/dev/null
		wait "$mc" 2>/dev/null
		wait_for 120 km_settled
		return
	fi
	new=$(pgrep -f "guest=$kmdom," | grep -vx "$old" | head -n 1)
	case $v in
	old)	kill -9 "$old" ;;
	new)	[ -n "$new" ] && kill -9 "$new" ;;
	migrd)	kill -9 "$migrd_pid"
		wait "$migrd_pid" 2>/dev/null
		start_migrd ;;
	migctl)	kill -9 "$mc" ;;
	esac
	[ "$v" = migctl ] || kill -CONT "$mc"
	wait "$mc" 2>/dev/null
	wait_for 120 km_settled || bad "kill matrix: $v at $at: the guard does not end"
	[ -n "${QEMU_TEST_ONLY:-}" ] && sed 's/^/  migctl: /' "$dir/km.err"
	wait_for 60 libvirtd_runs
	km_judge "$v" "$at" "$c0"
}

for km_t in $(seq "${QEMU_KM_TRIALS:-1}"); do
	for at in adopted launched migrating moved commit running; do
		for v in old new migrd migctl; do
			case " ${QEMU_KM_CELLS:-$v:$at} " in
			*" $v:$at "*) km_cell "$v" "$at" ;;
			esac
		done
	done
done
[ -n "$kmdom" ] && virsh destroy "$kmdom" >/dev/null 2>&1
echo "qemu kill matrix: $km_cells cells, $km_lost lost, $km_twice run twice, $km_down left with the management daemon down"
