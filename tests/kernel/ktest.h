/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel tests' harness: a table of tests, each run in a child of its
 * own with a time limit, so that one that fails, crashes or hangs reports
 * and the others still run. Output is TAP-like ("ok 3 - name") and ends
 * with "N passed, N failed". Runs as the static /init's child inside the
 * booted kernel: no libraries, no files, nothing but the kernel.
 */
#ifndef KT_KTEST_H
#define KT_KTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ktest {
	const char *name;
	void (*fn)(void);
};

/* Fail the running test with where and why. */
#define KT_ASSERT(cond, ...) do {					\
	if (!(cond)) {							\
		printf("#   %s:%d: %s: ", __FILE__, __LINE__, #cond);	\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
		exit(1);						\
	}								\
} while (0)

/* A call that returns 0 / an fd or -errno must not fail. */
static inline int kt_ok(int r, const char *expr, const char *file, int line)
{
	if (r < 0) {
		printf("#   %s:%d: %s: %s\n", file, line, expr, strerror(-r));
		fflush(stdout);
		exit(1);
	}
	return r;
}
#define KT_OK(expr) kt_ok((expr), #expr, __FILE__, __LINE__)

/* ... or must fail with exactly -err. */
#define KT_ERR(expr, err) do {						\
	int kt_r_ = (expr);						\
	KT_ASSERT(kt_r_ == -(err), "got %d (%s), want -%s", kt_r_,	\
		  kt_r_ < 0 ? strerror(-kt_r_) : "success", #err);	\
} while (0)

int kt_main(const struct ktest *tests, int n, int argc, char **argv);

#endif /* KT_KTEST_H */
