# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the QEMU tests: reading memguest's serial log (memguest.S).

# The guest image: $MEMGUEST, else the build tree's (make check runs the
# tests from the top of the build tree), else beside this script.
mg_image() {
	for f in "${MEMGUEST:-}" tests/qemu/memguest "$(dirname "$0")/memguest"; do
		[ -n "$f" ] && [ -f "$f" ] && { readlink -f "$f"; return 0; }
	done
	return 1
}

now_ms() { date +%s%3N; }

# mg_reports LOG: how many report lines so far
mg_reports() { grep -c '^memguest: counter=' "$1" 2>/dev/null || true; }

# mg_wait SECONDS LOG PATTERN: poll (every 10 ms) until a line matches
mg_wait() {
	mg_t=$(($(now_ms) + $1 * 1000))
	while ! grep -q "$3" "$2" 2>/dev/null; do
		[ "$(now_ms)" -lt $mg_t ] || return 1
		sleep 0.01
	done
}

# mg_wait_reports SECONDS LOG N: until N report lines are there
mg_wait_reports() {
	mg_t=$(($(now_ms) + $1 * 1000))
	while [ "$(mg_reports "$2")" -lt "$3" ]; do
		[ "$(now_ms)" -lt $mg_t ] || return 1
		sleep 0.01
	done
}

# mg_verdict LOG: the guest filled its RAM once, its counter went 1, 2, 3...
# with no gap and no repeat, and every line says ok=1. Says what is wrong.
mg_verdict() {
	awk '
	/^memguest: filled / { filled++ }
	/^memguest: BAD / { print "the guest says: " $0; bad = 1 }
	/^memguest: counter=/ {
		split($2, c, "=")
		if (c[2] != n + 1) {
			printf "counter %d after %d\n", c[2], n
			bad = 1
		}
		n = c[2]
		if ($3 != "ok=1") {
			print "not ok: " $0
			bad = 1
		}
	}
	END {
		if (filled != 1) {
			printf "the guest filled its RAM %d times\n", filled
			bad = 1
		}
		if (n == 0) {
			print "no report line"
			bad = 1
		}
		exit bad
	}' "$1"
}
