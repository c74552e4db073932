#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migrd with thousands of registered VMs (no KVM needed): the cost of a
# registration, a LIST and a SHOW as the count grows, migrd's memory and
# CPU time; once with the journal and once without it, so that the
# difference is the journal's cost per change.
#
#   bench/many-vms.sh [N [STEP]]        (default 4096 512)
set -eu
. "$(dirname "$0")/common.sh"
n=${1:-4096} step=${2:-512}
MANY=$build/bench/many-vms
[ -x "$MANY" ] || make -C "$build" bench/many-vms >/dev/null
[ "$(id -u)" = 0 ] || { echo "bench: registering VMs needs root (or migrd's admin group)" >&2; exit 1; }

# One run: migrd with this config, the program against it.
run() { # run LABEL CONFIG-LINES
	conf=$tmp/migrd.conf
	printf '%s\n' "$2" >"$conf"
	chmod 600 "$conf"
	rm -f "$tmp/migrd.log"
	"$MIGRD" --foreground --socket "$sock" -c "$conf" 2>"$tmp/migrd.log" &
	migrd_pid=$!
	pids="$pids $migrd_pid"
	wait_line "$tmp/migrd.log" listening 10 || { cat "$tmp/migrd.log" >&2; exit 1; }
	echo "## $1"
	"$MANY" "$sock" "$migrd_pid" "$n" "$step"
	if [ -f "$tmp/migrd.state" ]; then
		echo "# journal: $(wc -c <"$tmp/migrd.state") bytes with every VM unregistered"
	fi
	kill "$migrd_pid"
	wait "$migrd_pid" 2>/dev/null || true
	rm -f "$tmp/migrd.state"
}

header "migrd with $n registered VMs"
echo "# owner of every VM: the bench process; migrd on $(stat -f -c %T "$tmp")"
run "journal on (state_file beside the socket: a change appended, the whole rewritten when appends outgrow it)" \
	"log_level = notice"
# A directory anybody may write: migrd refuses it, and runs without one.
mkdir -m 0777 "$tmp/unsafe"
run "journal off (state_file in a directory migrd refuses)" \
	"log_level = notice
state_file = $tmp/unsafe/migrd.state"
grep -h "not using the journal" "$tmp/migrd.log" | sed 's/^/# migrd: /' | head -1
