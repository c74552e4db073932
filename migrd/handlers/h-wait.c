// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * WAIT and TAKE_STATE: answered now if the session allows, else held
 * (rep->deferred) until it moves; the transport asks again then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

/*
 * The destination is ready: the source learns it with its end of the
 * direct channel, and from then on the two sides decide between them.
 */
static void hand_source_end(struct conn *c, struct session *s,
			    struct reply *rep)
{
	int fd = session_go_direct(s, &c->peer);

	if (fd < 0)
		return;
	rep->resp.has_peer_fd = true;
	rep->resp.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = fd;
}

/* TAKE_STATE of a rebind: the zeroed memory instead of the state. */
static int take_rebind(struct session *s, struct reply *rep)
{
	if (s->state < MIG_STATE_SWITCHING || s->zero == ZERO_AWAIT_EXIT ||
	    s->zero == ZERO_RUNNING)
		return 1;
	if (s->zero != ZERO_DONE || s->regions[0].fd < 0)
		return reply_err(rep, -ENODATA,
				 "The memory of session %llu was already taken.",
				 (unsigned long long)s->id);
	handoff_fds(s, rep);
	rep->handoff.has_grant = rep->handoff.has_zeroed = true;
	rep->handoff.grant = MIG__GRANT_KIND__REBIND;
	rep->handoff.zeroed = true;
	return 0;
}

/*
 * Answer a WAIT or TAKE_STATE now if the session allows: 0 answered, < 0
 * refused (both with rep filled), 1 to keep waiting.
 */
static int wait_eval(struct conn *c, struct session *s, Mig__Kind kind,
		     enum mig_state want, struct reply *rep)
{
	if (s->state == MIG_STATE_ABORTED && s->zero != ZERO_NONE &&
	    c->peer.id == s->source_id)
		return reply_err(rep, -EOWNERDEAD,
				 "Session %llu was aborted after its memory was given up for a rebind: %s; the old guest cannot resume.",
				 (unsigned long long)s->id, s->reason);
	if (s->zero != ZERO_NONE && c->peer.id == s->source_id)
		return reply_err(rep, -EOWNERDEAD,
				 "The memory of VM %s goes to a new VM once this process has exited and nobody else holds it: exit now; the old guest cannot resume.",
				 s->vm_name);
	if (s->state == MIG_STATE_ABORTED)
		return reply_err(rep, -ECANCELED,
				 "Session %llu was aborted: %s.",
				 (unsigned long long)s->id, s->reason);
	if (kind == MIG__KIND__WAIT) {
		if (s->state < want)
			return 1;
		reply_session(rep, s);
		hand_source_end(c, s, rep);
		return 0;
	}
	if (s->direct)
		return reply_err(rep, -ENODATA,
				 "The state of session %llu goes over its direct channel.",
				 (unsigned long long)s->id);
	if (s->grant.kind == GRANT_REBIND)
		return take_rebind(s, rep);
	if (!s->blob)
		return s->state < MIG_STATE_SWITCHING ? 1 :
			reply_err(rep, -ENODATA,
				  "The state of session %llu was already taken.",
				  (unsigned long long)s->id);
	mig__blob__init(&rep->blob);
	rep->blob.has_session = rep->blob.has_data = true;
	rep->blob.session = s->id;
	rep->blob.data.data = session_take_state(s, &rep->blob.data.len);
	rep->resp.state = &rep->blob;
	rep->heap = rep->blob.data.data;	/* freed once sent */
	return 0;
}

int session_wait_answer(struct conn *c, struct session *s,
			struct reply *rep)
{
	return wait_eval(c, s, c->pending, c->pending_state, rep);
}

HANDLER(handle_wait)
{
	bool take = req->kind == MIG__KIND__TAKE_STATE;
	const Mig__Wait *w = req->wait;
	const Mig__Target *t = req->target;
	uint64_t id = take ? (t ? t->session : 0) : (w ? w->session : 0);
	struct session *s = session_find(id, true);
	enum mig_state want = w && w->has_state ? (enum mig_state)w->state :
		MIG_STATE_NONE;
	int r;

	if (!s)
		return reply_err(rep, -ENOENT, "There is no session %llu.",
				 (unsigned long long)id);
	if (take ? c->peer.id != s->dest_id :
	    (c->peer.id != s->source_id && c->peer.id != s->dest_id &&
	     !c->peer.admin))
		return reply_err(rep, -EPERM,
				 "This connection plays no part in session %llu.",
				 (unsigned long long)id);
	if (!take && (want < MIG_STATE_OFFERED ||
		      want > MIG_STATE_COMMITTED))
		return reply_err(rep, -EINVAL, "WAIT names no state to wait for.");
	r = wait_eval(c, s, req->kind, want, rep);
	if (r != 1)
		return r;
	c->pending = req->kind;
	c->pending_session = id;
	c->pending_state = want;
	rep->deferred = true;
	return 0;
}
