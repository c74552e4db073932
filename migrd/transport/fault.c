// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fault injection, after CRIU's: MIGRD_FAULT names a point where migrd
 * dies by SIGKILL, as a crash would, with no chance to clean up. The
 * points are "before-KIND" (a request of that kind arrived, nothing done
 * yet) and "after-KIND" (it was handled and answered), KIND being a
 * request in lower case: before-claim, after-ready, after-state, ... The
 * kill-matrix test (tests/killmatrix.sh) walks them.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "transport.h"

void fault_at(const char *when, Mig__Kind kind)
{
	static const char *want;
	static bool looked;
	const ProtobufCEnumValue *v;
	char point[64];

	if (!looked) {
		want = getenv("MIGRD_FAULT");
		looked = true;
	}
	if (!want || !*want)
		return;
	v = protobuf_c_enum_descriptor_get_value(&mig__kind__descriptor,
						 (int)kind);
	if (!v)
		return;
	snprintf(point, sizeof(point), "%s-%s", when, v->name);
	for (char *p = point; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (strcmp(point, want) != 0)
		return;
	log_warn("fault injected: %s", point);
	raise(SIGKILL);
}
