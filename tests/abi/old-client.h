/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The seam between tests/test-abi-compat.c (built against today's
 * libmig.h) and tests/abi/old-client.c (built against the frozen 0.3
 * header): no libmig type crosses it but the opaque context, so neither
 * side needs the other's layouts.
 */
#ifndef MIG_TEST_OLD_CLIENT_H
#define MIG_TEST_OLD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mig_ctx;

#define OLD_SEEN_MAX	4

/* One session as a 0.3 program read it. */
struct old_session_seen {
	uint64_t id;
	char vm_name[64];
	int state;
	uint64_t mem_bytes;
	unsigned int nregions;
	char region0[64];		/* "" without regions */
	uint64_t region0_size;
};

/* One event as a 0.3 program received it. */
struct old_event_seen {
	bool intact;			/* nothing written past it */
	char what[32];
	int has_vm;
	char vm_name[64];
	int has_session;
	bool regions_null;
	struct old_session_seen s;
};

/* A mig_list()/mig_show() result as a 0.3 program read it. */
struct old_list_seen {
	unsigned int nvms;
	char vm_names[OLD_SEEN_MAX][64];
	unsigned int nsessions;
	struct old_session_seen s[OLD_SEEN_MAX];
};

/* sizeof the 0.3 structs, as the old program was compiled with. */
size_t old_event_size(void);
size_t old_session_size(void);

/* mig_next_event@LIBMIG_0.1 into a 0.3 struct with guard bytes after it. */
int old_next_event(struct mig_ctx *ctx, int timeout_ms,
		   struct old_event_seen *seen);
/* mig_list@LIBMIG_0.1, read with 0.3 strides, then mig_list_free@0.1. */
int old_list(struct mig_ctx *ctx, struct old_list_seen *seen);
/* mig_show@LIBMIG_0.1, the same. */
int old_show(struct mig_ctx *ctx, const char *what,
	     struct old_list_seen *seen);

#endif
