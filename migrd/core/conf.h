/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migrd.conf(5): a pure parser, unit-tested without a daemon. */
#ifndef MIGRD_CONF_H
#define MIGRD_CONF_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

enum rebind_policy {
	REBIND_ZERO,		/* zero the memory before it moves */
	REBIND_REFUSE,		/* refuse any rebind */
};

struct config {
	char socket[108];	/* sun_path */
	mode_t socket_mode;
	char socket_group[64];	/* "" keeps the daemon's group */
	char admin_group[64];	/* "" means root only */
	unsigned int socket_group_line;	/* where they were set, for errors */
	unsigned int admin_group_line;
	unsigned int line;	/* the line being parsed */
	unsigned int offer_timeout_ms;	/* offered, unclaimed */
	unsigned int prepare_timeout_ms;	/* claimed, until switchover */
	unsigned int switch_timeout_ms;	/* guest paused, until commit */
	unsigned int grant_timeout_ms;	/* a claim token's lifetime */
	unsigned int exit_grace_ms;	/* old VMM after a commit, then killed */
	unsigned int max_sessions_per_client;
	unsigned int max_vms;
	unsigned int max_clients;	/* connections; root/admin exempt */
	unsigned int max_clients_per_uid;	/* the same, per other uid */
	char state_file[108];	/* the journal; "" = beside the socket */
	enum rebind_policy rebind;
	bool syslog;
	int log_level;
};

void config_defaults(struct config *cfg);

/*
 * Parse "key = value" lines into cfg. On error returns a negative errno
 * and writes one sentence, naming the line, into err.
 */
int config_parse(struct config *cfg, FILE *f, const char *name, char *err,
		 size_t errlen);

const char *rebind_policy_name(enum rebind_policy p);

#endif /* MIGRD_CONF_H */
