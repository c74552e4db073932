/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The handlers: a protobuf request in, domain calls, a protobuf reply
 * out. One per request kind; server.c dispatches to them.
 */
#ifndef MIGRD_HANDLERS_H
#define MIGRD_HANDLERS_H

#include "transport.h"

typedef int (*handler_fn)(struct client *c, Mig__Request *req, int *fds,
			  unsigned int nfds, struct reply *rep);

/* h-registry.c */
int handle_register(struct client *c, Mig__Request *req, int *fds,
		    unsigned int nfds, struct reply *rep);
int handle_unregister(struct client *c, Mig__Request *req, int *fds,
		      unsigned int nfds, struct reply *rep);
int handle_grant(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);

/* h-session.c */
int handle_offer(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);
int handle_claim(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);
int handle_step(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_wait(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
/* An offer's checks and its fds into s; the adoption's too. */
int offer_check(const Mig__Offer *o, const int *fds, struct reply *rep);
void offer_take(struct session *s, const Mig__Offer *o, int *fds);
/* Answer c's waiting WAIT/TAKE_STATE on s: 0 answered, 1 not yet. */
int session_wait_answer(struct client *c, struct session *s,
			struct reply *rep);

/* h-adopt.c */
int handle_adopt(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);

/* query.c */
int handle_status(struct client *c, Mig__Request *req, int *fds,
		  unsigned int nfds, struct reply *rep);
int handle_list(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_show(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_subscribe(struct client *c, Mig__Request *req, int *fds,
		     unsigned int nfds, struct reply *rep);
void vm_info(Mig__VmInfo *out, const struct vm *vm);
/* w NULL: the summary only, as LIST sends it. */
void session_info(Mig__SessionInfo *out, const struct session *s,
		  struct session_wire *w);
void event_vm(const char *what, const struct vm *vm);
void event_session(const struct session *s);

#endif /* MIGRD_HANDLERS_H */
