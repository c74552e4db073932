// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl upgrade, the libvirt side: the connection, the domain (found,
 * running), and its lifecycle events watched on a thread of their own
 * for as long as the upgrade runs: a domain that stops or crashes calls
 * the upgrade off.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "mig-util.h"
#include "upgrade-run.h"

static void lifecycle(virConnectPtr conn, virDomainPtr dom, int event,
		      int detail, void *opaque)
{
	struct run *r = opaque;

	if (event == VIR_DOMAIN_EVENT_STOPPED ||
	    event == VIR_DOMAIN_EVENT_CRASHED ||
	    event == VIR_DOMAIN_EVENT_SHUTDOWN)
		atomic_store(&r->stopped, true);
}

/* Wakes the event loop now and then, so that it notices quit. */
static void tick(int timer, void *opaque)
{
}

/* libvirt prints every error by default; we say what went wrong. */
static void quiet(void *opaque, virErrorPtr err)
{
}

static void *event_loop(void *arg)
{
	struct run *r = arg;

	while (!atomic_load(&r->quit))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

const char *virt_error(void)
{
	const virError *e = virGetLastError();

	return e && e->message ? e->message : "unknown libvirt error";
}

/* Connect, find the domain, check it runs, watch its lifecycle. */
int open_domain(const struct opts *o, struct run *r)
{
	int state, reason;

	virSetErrorFunc(NULL, quiet);
	if (virEventRegisterDefaultImpl() < 0 ||
	    virEventAddTimeout(100, tick, NULL, NULL) < 0 ||
	    !(r->conn = virConnectOpen(o->uri))) {
		fprintf(stderr, "migctl: cannot connect to libvirt%s%s: %s\n",
			o->uri ? " at " : "", o->uri ? o->uri : "", virt_error());
		return EXIT_NO_LIBVIRT;
	}
	if (strlen(o->domain) == VIR_UUID_STRING_BUFLEN - 1)
		r->dom = virDomainLookupByUUIDString(r->conn, o->domain);
	if (!r->dom)
		r->dom = virDomainLookupByName(r->conn, o->domain);
	if (!r->dom) {
		fprintf(stderr, "migctl: libvirt has no domain %s.\n", o->domain);
		return 4;
	}
	if (virDomainGetUUIDString(r->dom, r->uuid) < 0 ||
	    virDomainGetState(r->dom, &state, &reason, 0) < 0) {
		fprintf(stderr, "migctl: %s\n", virt_error());
		return 1;
	}
	if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED) {
		fprintf(stderr, "migctl: domain %s is not running.\n", o->domain);
		return 1;
	}
	if (virConnectDomainEventRegisterAny(r->conn, r->dom,
			VIR_DOMAIN_EVENT_ID_LIFECYCLE,
			VIR_DOMAIN_EVENT_CALLBACK(lifecycle), r, NULL) < 0 ||
	    pthread_create(&r->loop, NULL, event_loop, r)) {
		fprintf(stderr, "migctl: cannot watch domain %s: %s\n",
			o->domain, virt_error());
		return 1;
	}
	return 0;
}

/* The watch ended, the domain and the connection let go. */
void close_domain(struct run *r)
{
	atomic_store(&r->quit, true);
	if (r->loop)
		pthread_join(r->loop, NULL);	/* within a tick */
	if (r->dom)
		virDomainFree(r->dom);
	if (r->conn)
		virConnectClose(r->conn);
}
