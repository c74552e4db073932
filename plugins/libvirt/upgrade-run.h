/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migctl upgrade's pieces among themselves (upgrade*.c). */
#ifndef MIGRD_LIBVIRT_UPGRADE_RUN_H
#define MIGRD_LIBVIRT_UPGRADE_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <libvirt/libvirt.h>

#include "upgrade.h"

struct opts {
	const char *uri, *domain, *log;
	char **cmd;
	int sig;			/* 0: the VMM offers by itself */
	unsigned int timeout_s;
};

struct run {
	virConnectPtr conn;
	virDomainPtr dom;
	char uuid[VIR_UUID_STRING_BUFLEN];
	atomic_bool stopped;		/* lifecycle: stopped or crashed */
	atomic_bool quit;
	pthread_t loop;
	pid_t child;			/* COMMAND, until it exits */
	pid_t leader;			/* its session and process group */
	pid_t vmm;			/* the VM's owner after the commit */
	char strategy[16];
	uint64_t downtime_us;
	double total_ms;
};

/* upgrade-watch.c */
const char *virt_error(void);
/* Connect, find the domain, check it runs, watch its lifecycle. */
int open_domain(const struct opts *o, struct run *r);
void close_domain(struct run *r);

/* upgrade-launch.c */
int open_log(const struct opts *o, char *log, size_t len);
int start_vmm(const struct opts *o, const struct mig_token *t, int log_fd,
	      struct run *r);
void read_report(const char *log, struct run *r);

#endif
