/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's one instance of state, which every layer reads: the
 * configuration, the lists, the counters. What each layer may do with it
 * is in README.md; the layers' own headers are core (fsm.h, policy.h,
 * conf.h), domain.h, handlers.h and transport.h.
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
	int epfd;
	struct watch listener;
	struct watch signals;
	struct watch procmon;
	struct list_head clients;
	struct list_head vms;
	struct list_head sessions;	/* open */
	struct list_head history;	/* ended, newest last */
	unsigned int nclients, nvms, nsessions, nhistory;
	uint64_t next_client, next_session;
	uint64_t next_vm;		/* registration order, for LIST pages */
	uint64_t committed, aborted, refused, rebinds;
	uint64_t started_ms;		/* CLOCK_MONOTONIC */
	unsigned int held_fds;
	gid_t admin_gid;
	bool have_admin_gid;
	bool stopping;
	bool dirty;			/* the journal is behind */
	uint64_t accept_paused_until;	/* EMFILE: CLOCK_MONOTONIC ms */
	struct list_head reapers;	/* old owners that must exit */
	char state_file[108 + 8];
};

extern struct migrd migrd;

#define HISTORY_MAX 64

#endif /* MIGRD_H */
