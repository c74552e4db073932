#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# migctl's command line is checked whole before migrd is asked anything:
# bad usage is exit 2 whether migrd runs or not (migctl(8), EXIT STATUS),
# and a good command line with no migrd is exit 3. No migrd, no root, no
# KVM needed: nothing listens on the socket used here. And the installed
# migctl carries no test hook (tests/migctl-test does).
set -u
: "${MIGCTL:?run through make check}"
export MIGRD_SOCKET=/nonexistent/migrd-usage.sock
passes=0 fails=0

exits() { # exits CODE ARG...: migctl ARG... exits CODE
	want=$1
	shift
	"$MIGCTL" "$@" >/dev/null 2>&1
	got=$?
	if [ "$got" = "$want" ]; then
		passes=$((passes + 1))
	else
		fails=$((fails + 1))
		echo "FAIL: migctl $*: exit $got, not $want"
	fi
}

# Bad usage: 2, though migrd is not running.
exits 2
exits 2 nosuchcommand
exits 2 --nosuchoption status
exits 2 status extra
exits 2 list extra
exits 2 show
exits 2 show a b
exits 2 watch extra
exits 2 watch --count 0
exits 2 watch --count 5x
exits 2 abort
exits 2 abort notanumber
exits 2 abort 0
exits 2 abort 12x
exits 2 register vm
exits 2 register vm --pid
exits 2 register vm --pid 12x
exits 2 register vm --pid 0
exits 2 register vm --uuid u
exits 2 register vm --pid 1 --bogus x
exits 2 unregister
exits 2 unregister a b
exits 2 grant
exits 2 grant vm --uid 5
exits 2 grant vm --rebind
exits 2 grant vm --rebind new --uid 5x
exits 2 upgrade
exits 2 upgrade dom
exits 2 upgrade --timeout 5x dom -- true
exits 2 upgrade --signal HUP dom -- true

# A good command line, and nobody listening: 3.
exits 3 status
exits 3 list
exits 3 show vm
exits 3 watch --count 1
exits 3 abort 12 why
exits 3 register vm --pid 1 --uuid 6695eb01-f6a4-8304-79aa-97f2502e193f
exits 3 unregister vm
exits 3 grant vm
exits 3 grant vm --rebind new --uid 5

# The test-only hook that destroys a domain is not in the shipped binary.
if grep -qa MIGCTL_TEST_STOP_DOMAIN_AFTER_CLAIM "$MIGCTL"; then
	fails=$((fails + 1))
	echo "FAIL: the installed migctl has the test hook MIGCTL_TEST_STOP_DOMAIN_AFTER_CLAIM"
else
	passes=$((passes + 1))
fi

echo "$passes passed, $fails failed"
[ $fails = 0 ]
