/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handlers: a protobuf request in, domain calls, a protobuf reply
 * out. What the transport calls: dispatch one request, answer a waiter,
 * encode an event. Handlers never send and never see a socket: they fill
 * a struct reply, and the transport sends it.
 */
#ifndef MIGRD_HANDLERS_H
#define MIGRD_HANDLERS_H

#include "domain.h"
#include "mig-private.h"

/* What a handler knows of, and may note on, the connection it answers. */
struct conn {
	struct peer peer;		/* who: its id, process, user */
	bool hello;
	bool subscriber;		/* an event stream from now on */
	/* A reply held back until a session moves (WAIT, TAKE_STATE). */
	Mig__Kind pending;
	uint64_t pending_session;
	enum mig_state pending_state;
};

/* Wire storage for one session's details: regions, devices, format. */
struct session_wire {
	Mig__Region regions[MIG_REGIONS_MAX];
	Mig__Region *rp[MIG_REGIONS_MAX];
	Mig__Device devices[MIG_DEVICES_MAX];
	Mig__Device *dp[MIG_DEVICES_MAX];
	Mig__StateFormat format;
};

/* What a handler answers; storage for the reply lives here. */
struct reply {
	Mig__Response resp;
	char msg[256];
	int fds[MIG_FDS_MAX];
	unsigned int nfds;
	bool deferred;			/* answered later */
	Mig__HelloReply hello;
	Mig__VmInfo vm;
	Mig__SessionInfo session;
	struct session_wire sw;		/* the session's details */
	Mig__Handoff handoff;
	Mig__Blob blob;
	Mig__StatusInfo status;
	Mig__GrantReply grant;
	Mig__ListPage page;		/* LIST: the next page's cursor */
	void *heap;			/* freed after sending */
};

/* dispatch.c: one request, checked against the connection, answered. */
int handlers_dispatch(struct conn *c, Mig__Request *req, int *fds,
		      unsigned int nfds, struct reply *rep);

/* reply.c */
void reply_init(struct reply *rep, Mig__Kind kind);
int reply_err(struct reply *rep, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The domain's sentence as the reply's error. */
int reply_why(struct reply *rep, int err, const struct why *w);

/* h-wait.c: answer c's waiting WAIT/TAKE_STATE on s: 0 answered, 1 not yet. */
int session_wait_answer(struct conn *c, struct session *s,
			struct reply *rep);

/* encode.c: events, filled into storage the caller holds. */
struct event_buf {
	Mig__Event ev;
	Mig__VmInfo vm;
	Mig__SessionInfo session;
};
void event_vm(struct event_buf *e, const char *what, const struct vm *vm);
void event_session(struct event_buf *e, const struct session *s);
/* "overrun": lost events were not sent. */
void event_overrun(Mig__Event *ev, uint64_t time_ms, uint64_t lost);

#endif /* MIGRD_HANDLERS_H */
