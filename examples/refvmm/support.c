// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the VMM's files share: the clock, strategy names, fault points,
 * saying libmig's errors. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "vmm.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const char *const strategy_names[] = {
	[STRATEGY_AUTO] = "auto", [STRATEGY_LINK] = "link",
	[STRATEGY_SHARE] = "share", [STRATEGY_COPY] = "copy",
	[STRATEGY_MEMFD] = "memfd",
};

const char *strategy_name(enum strategy s)
{
	return strategy_names[s];
}

int strategy_parse(const char *s, enum strategy *out)
{
	for (size_t i = 0; i < sizeof(strategy_names) / sizeof(*strategy_names);
	     i++)
		if (strcmp(s, strategy_names[i]) == 0) {
			*out = (enum strategy)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * Fault injection for the end-to-end tests, after CRIU's: REFVMM_FAULT
 * names a point of the handoff where this process dies by SIGKILL, as a
 * crash would, with no chance to clean up; REFVMM_STOP_AT one where it
 * stops (SIGSTOP) until a test has done its part and sends SIGCONT.
 */
void fault_point(const char *point)
{
	const char *f = getenv("REFVMM_FAULT");
	const char *s = getenv("REFVMM_STOP_AT");

	if (s && strcmp(s, point) == 0)
		raise(SIGSTOP);
	if (f && strcmp(f, point) == 0) {
		fprintf(stderr, "refvmm: fault injected: %s\n", point);
		raise(SIGKILL);
	}
}

void say_error(struct mig_ctx *ctx, const char *what, int r)
{
	const char *why = *mig_last_error(ctx) ? mig_last_error(ctx) :
		strerror(-r);

	fprintf(stderr, "refvmm: %s: %s\n", what, why);
}

const char *huge_name(enum huge_kind h)
{
	return h == HUGE_TLB ? "2M" : h == HUGE_THP ? "thp" : "4K";
}

int huge_parse(const char *s, enum huge_kind *out)
{
	if (!strcmp(s, "hugetlb"))
		*out = HUGE_TLB;
	else if (!strcmp(s, "thp"))
		*out = HUGE_THP;
	else
		return -EINVAL;
	return 0;
}
