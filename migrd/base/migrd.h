/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's one instance of state, which every layer above may read:
 * the configuration, what the domain knows (VMs, sessions), the
 * counters. The domain writes it; the transport's own state (the
 * socket, the clients) is the transport's (transport.h). What each
 * layer may do is in ../README.md.
 */
#ifndef MIGRD_H
#define MIGRD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf.h"
#include "libmig.h"
#include "list.h"
#include "loop.h"
#include "mig-util.h"

struct migrd {
	struct config cfg;
	struct list_head vms;
	struct list_head sessions;	/* open */
	struct list_head history;	/* ended, newest last */
	unsigned int nclients;		/* counted by the transport */
	unsigned int nvms, nsessions, nhistory;
	uint64_t next_session;
	uint64_t next_vm;		/* registration order, for LIST pages */
	uint64_t committed, aborted, refused, rebinds;
	uint64_t started_ms;		/* CLOCK_MONOTONIC */
	unsigned int held_fds;
	bool stopping;
	bool dirty;			/* the journal is behind */
	struct list_head reapers;	/* old owners that must exit */
	char state_file[108 + 8];
};

extern struct migrd migrd;

/* Empty lists, the clock started: before anything else runs. */
void migrd_state_init(void);

#define HISTORY_MAX 64

#endif /* MIGRD_H */
