// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which handler answers which request kind, and what every request must
 * satisfy first: HELLO before anything, no requests on an event stream,
 * one waiting request per connection, management for admins only.
 */
#include <errno.h>

#include "h-private.h"

static const struct handler {
	handler_fn fn;
	bool admin;			/* management operation */
} handlers[] = {
	[MIG__KIND__HELLO]	= { handle_hello },
	[MIG__KIND__REGISTER]	= { handle_register, true },
	[MIG__KIND__UNREGISTER]	= { handle_unregister, true },
	[MIG__KIND__OFFER]	= { handle_offer },
	[MIG__KIND__CLAIM]	= { handle_claim },
	[MIG__KIND__READY]	= { handle_step },
	[MIG__KIND__STATE]	= { handle_step },
	[MIG__KIND__TAKE_STATE]	= { handle_wait },
	[MIG__KIND__COMMIT]	= { handle_step },
	[MIG__KIND__ABORT]	= { handle_step },
	[MIG__KIND__WAIT]	= { handle_wait },
	[MIG__KIND__STATUS]	= { handle_status },
	[MIG__KIND__LIST]	= { handle_list },
	[MIG__KIND__SHOW]	= { handle_show },
	[MIG__KIND__SUBSCRIBE]	= { handle_subscribe },
	[MIG__KIND__GRANT]	= { handle_grant, true },
	[MIG__KIND__ADOPT]	= { handle_adopt, true },
};

int handlers_dispatch(struct conn *c, Mig__Request *req, int *fds,
		      unsigned int nfds, struct reply *rep)
{
	const struct handler *h = NULL;

	if (req->has_kind && (unsigned int)req->kind < ARRAY_SIZE(handlers))
		h = &handlers[req->kind];
	if (!h || !h->fn)
		return reply_err(rep, -EOPNOTSUPP,
				 "Request kind %d is not supported.",
				 req->has_kind ? (int)req->kind : -1);
	if (!c->hello && req->kind != MIG__KIND__HELLO)
		return reply_err(rep, -EPROTO,
				 "The first request must be HELLO.");
	if (c->subscriber)
		return reply_err(rep, -EINVAL,
				 "This connection is an event stream; open another one for requests.");
	if (c->pending != MIG__KIND__EMPTY)
		return reply_err(rep, -EINPROGRESS,
				 "A request is already waiting on this connection.");
	if (h->admin && !c->peer.admin)
		return reply_err(rep, -EPERM,
				 "Only root or the admin group may register, unregister, grant or adopt.");
	return h->fn(c, req, fds, nfds, rep);
}
