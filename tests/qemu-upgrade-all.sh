#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A whole host upgraded: `migctl upgrade --all` on 16 memguest domains
# under the real libvirtd (plugins/libvirt/upgrade-all.c). Each new QEMU
# is a copy of the installed one (another file: what a package update
# leaves behind), so "already runs it" is the file's identity. Every
# verdict is the guest's own: its memory intact, its counter continuous.
#   1. --dry-run: the plan names all 16, changes nothing;
#   2. --parallel 4 onto copy A: all 16 upgraded once, running;
#   3. onto copy B, migctl SIGKILLed midway, then run again: the second
#      run skips what the first one did and finishes the rest: every
#      domain on B, upgraded exactly once (migrd's count), none paused;
#   4. onto a wrapper that fails for the 8th domain, --parallel 1: the
#      first 7 upgraded, the 8th still on its old QEMU and running, the
#      8 after it not started (--max-failures 1), exit 1; then the same
#      run onto copy C finishes exactly the rest.
# DOMAINS (default 16) and MIB (default 64) size it.
set -u
: "${MIGRD:?run through ./dev libvirtd}" "${MIGCTL:?}" "${HOOK:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/qemu/host.sh"
N=${DOMAINS:-16}
MIB=${MIB:-64}
pat="mqall-$$-*"
names=$(seq -f "mqall-$$-%02g" 1 "$N")
field() { "$MIGCTL" --json show "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",]*\).*/\1/p"; }
jget() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2" | head -n 1; }
runs() { [ "/proc/$(qpid "$1")/exe" -ef "$2" ]; }
# every NAME... COMMAND: COMMAND NAME for each, quietly; 1 if any failed
every() {
	rc=0
	for n in $names; do "$@" "$n" || { echo "  ... not for $n"; rc=1; }; done
	return $rc
}
running() { virsh domstate "$1" | grep -q running; }
on() { runs "$2" "$1"; }		# on EMULATOR NAME
reports_on() { c=$(mg_reports "$dir/$1.log"); wait_for 60 sh -c "[ \$(grep -c '^memguest: counter=' '$dir/$1.log') -gt $((c + 1)) ]"; }
verdict() { mg_verdict "$dir/$1.log" >/dev/null; }
counted() { [ "$(field "$1" upgrades)" = "$(cat "$dir/$1.count")" ]; }
remember() { field "$1" upgrades >"$dir/$1.count"; qpid "$1" >"$dir/$1.pid"; }
bumped() { [ "$(field "$1" upgrades)" = $(($(cat "$dir/$1.count") + 1)) ]; }
same_pid() { [ "$(qpid "$1")" = "$(cat "$dir/$1.pid")" ]; }
healthy() { running "$1" && reports_on "$1" && verdict "$1"; }
settled() { ! pgrep -f "upgrade mqall-$$-" >/dev/null; }

# ---- 16 domains, started together ----
created=
for n in $names; do
	define_domain "$n" "$MIB"
	virsh create "$dir/$n.xml" >/dev/null && doms="$doms $n" created="$created $n"
done
started=0
for n in $created; do
	mg_wait 600 "$dir/$n.log" '^memguest: filled ' &&
		mg_wait_reports 300 "$dir/$n.log" 2 && started=$((started + 1))
done
expect "$N domains start and their guests report ($started did)" test "$started" = "$N"
[ "$started" = "$N" ] || { echo "$passes passed, $fails failed"; exit 1; }
for c in a b c; do
	ln -s "$(qemu_copy "$dir/q$c")" "$dir/qemu-$c"
done

# ---- 1. the plan, and nothing else ----
every remember
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-a" \
	--parallel 4 --dry-run >"$dir/plan.json" 2>"$dir/plan.err"
expect "--dry-run exits 0 ($(cat "$dir/plan.err"))" test $? = 0
expect "the plan names all $N, each to be upgraded" test \
	"$(grep -o '"plan":"upgrade"' "$dir/plan.json" | wc -l)" = "$N"
expect "the plan says what each runs now" grep -q "\"emulator_now\":\"$qemu\"" "$dir/plan.json"
expect "--dry-run changed nothing" every same_pid

# ---- 2. all of them, 4 at a time ----
t=$(date +%s)
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-a" \
	--parallel 4 >"$dir/a.json" 2>"$dir/a.err"
expect "--all onto copy A exits 0 ($(tail -n 1 "$dir/a.err"))" test $? = 0
echo "$N domains upgraded 4 at a time in $(($(date +%s) - t)) s"
expect "the report: $N upgraded" test "$(jget upgraded "$dir/a.json")" = "$N"
expect "each runs copy A" every on "$dir/qemu-a"
expect "each was upgraded once" every bumped
expect "each runs on, its verdict ok" every healthy

# ---- 3. interrupted (migctl SIGKILLed), then run again ----
every remember
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-b" \
	--parallel 4 >"$dir/b1.json" 2>"$dir/b1.err" &
mc=$!
on_b() { k=0; for n in $names; do runs "$n" "$dir/qemu-b" && k=$((k + 1)); done; [ $k -ge "$1" ]; }
expect "the first run gets going" wait_for 300 on_b 4
kill -9 "$mc"
wait "$mc" 2>/dev/null
wait_for 300 settled || bad "the upgrades in flight end"
done_before=0
for n in $names; do runs "$n" "$dir/qemu-b" && done_before=$((done_before + 1)); done
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-b" \
	--parallel 4 >"$dir/b2.json" 2>"$dir/b2.err"
expect "the second run exits 0 ($(tail -n 1 "$dir/b2.err"))" test $? = 0
expect "it skips the $done_before the first run did" test \
	"$(jget already "$dir/b2.json")" -ge "$done_before"
expect "... and upgrades the rest ($(jget upgraded "$dir/b2.json") + $(jget already "$dir/b2.json"))" \
	test $(($(jget upgraded "$dir/b2.json") + $(jget already "$dir/b2.json"))) = "$N"
expect "each runs copy B" every on "$dir/qemu-b"
expect "each was upgraded exactly once over both runs" every bumped
expect "none is left paused; each verdict ok" every healthy
echo "interrupted after $done_before of $N; the second run did the other $((N - done_before))"

# ---- 4. one failure stops the rest; the next run finishes them ----
every remember
victim=$(echo "$names" | sed -n 8p)
printf '#!/bin/sh\ncase " $* " in *"guest=%s,"*) echo "injected failure" >&2; exit 1 ;; esac\nexec %s "$@"\n' \
	"$victim" "$dir/qemu-c" >"$dir/qemu-fails"
chmod 755 "$dir/qemu-fails"
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-fails" \
	>"$dir/f.json" 2>"$dir/f.err"
expect "a run with a failure exits 1" test $? = 1
expect "the report: 7 upgraded, 1 failed, $((N - 8)) not started" test \
	"$(jget upgraded "$dir/f.json"):$(jget failed "$dir/f.json"):$(jget not_started "$dir/f.json")" = "7:1:$((N - 8))"
for n in $(echo "$names" | sed -n 1,7p); do
	expect "$n, before the failure: upgraded" sh -c "[ /proc/\$(cat /run/libvirt/qemu/$n.pid)/exe -ef '$dir/qemu-c' ]"
done
expect "$victim, the failure: its old QEMU runs it" same_pid "$victim"
expect "$victim: running, its verdict ok" healthy "$victim"
for n in $(echo "$names" | sed -n "9,${N}p"); do
	expect "$n, after the failure: not started, the same QEMU" same_pid "$n"
done
"$MIGCTL" --json upgrade --all --match "$pat" --emulator "$dir/qemu-c" \
	>"$dir/c.json" 2>"$dir/c.err"
expect "the next run exits 0 ($(tail -n 1 "$dir/c.err"))" test $? = 0
expect "it finds 7 already done and does the other $((N - 7))" test \
	"$(jget already "$dir/c.json"):$(jget upgraded "$dir/c.json")" = "7:$((N - 7))"
expect "each runs copy C" every on "$dir/qemu-c"
expect "each was upgraded exactly once over both runs" every bumped
expect "each runs on, its verdict ok" every healthy

echo "$passes passed, $fails failed"
[ $fails = 0 ]
