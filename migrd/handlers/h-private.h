/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the handlers share among themselves; the transport uses handlers.h. */
#ifndef MIGRD_H_PRIVATE_H
#define MIGRD_H_PRIVATE_H

#include "handlers.h"

typedef int (*handler_fn)(struct conn *c, Mig__Request *req, int *fds,
			  unsigned int nfds, struct reply *rep);

#define HANDLER(name) int name(struct conn *c, Mig__Request *req, int *fds, \
			       unsigned int nfds, struct reply *rep)

HANDLER(handle_hello);
HANDLER(handle_register);
HANDLER(handle_unregister);
HANDLER(handle_grant);
HANDLER(handle_offer);
HANDLER(handle_claim);
HANDLER(handle_step);
HANDLER(handle_wait);
HANDLER(handle_adopt);
HANDLER(handle_status);
HANDLER(handle_list);
HANDLER(handle_show);
HANDLER(handle_subscribe);

/* reply.c: the named open session, or why there is none (in rep). */
struct session *target_session(uint64_t id, bool has, struct reply *rep);
void reply_session(struct reply *rep, const struct session *s);

/* encode.c */
void vm_info(Mig__VmInfo *out, const struct vm *vm);
/* w NULL: the summary only, as LIST sends it. */
void session_info(Mig__SessionInfo *out, const struct session *s,
		  struct session_wire *w);

/* h-offer.c: an offer's checks and its fds into s; the adoption's too. */
int check_label(const char *name, const char *what, unsigned int i,
		struct reply *rep);
int offer_check(const Mig__Offer *o, const int *fds, struct reply *rep);
void offer_take(struct session *s, const Mig__Offer *o, int *fds);

/* h-claim.c: the session's fds into the reply; migrd holds none after. */
void handoff_fds(struct session *s, struct reply *rep);

#endif /* MIGRD_H_PRIVATE_H */
