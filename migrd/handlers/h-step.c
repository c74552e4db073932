// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * READY, STATE, COMMIT and ABORT: one step each on a named session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

static const enum fsm_event step_event[] = {
	[MIG__KIND__READY] = EV_READY,
	[MIG__KIND__STATE] = EV_STATE,
	[MIG__KIND__COMMIT] = EV_COMMIT,
	[MIG__KIND__ABORT] = EV_ABORT,
};

static int keep_state(struct session *s, const Mig__Blob *b,
		      struct reply *rep)
{
	if (!b || !b->has_data)
		return reply_err(rep, -EINVAL, "STATE carries no state.");
	if (b->data.len > MIG_STATE_MAX)
		return reply_err(rep, -EMSGSIZE,
				 "The state blob is larger than %d bytes.",
				 MIG_STATE_MAX);
	return session_keep_state(s, b->data.data, b->data.len);
}

/* The state went over the direct channel; this is only the notice. */
static int direct_state(struct session *s, const Mig__Blob *b,
			struct reply *rep)
{
	if (!b || !b->direct || b->has_data)
		return reply_err(rep, -EINVAL,
				 "Session %llu has a direct channel: its state goes there, not to migrd.",
				 (unsigned long long)s->id);
	return 0;
}

/*
 * The source of a rebind has paused: once its process has exited and
 * nobody else holds the memory, it is zeroed on a worker
 * (session_zeroed() follows). Its state is not kept: it is not the new
 * VM's. If any of that cannot be verified, nothing is handed out.
 */
static int switch_rebind(struct session *s, struct reply *rep)
{
	int r = rebind_await_source(s);

	if (!r)
		return 0;
	reply_err(rep, r, "Cannot watch the source of VM %s exit: %s; the rebind is aborted.",
		  s->vm_name, strerror(-r));
	session_event(s, EV_ABORT, -r, "cannot watch the rebind's source exit");
	return r;
}

/* The COMMIT of an adopted VM names the new VMM: the domain checks it. */
static int adopted_successor(const struct conn *c, struct session *s,
			     const Mig__Request *req, const int *fds,
			     struct reply *rep)
{
	int i = req->has_successor_pidfd ? req->successor_pidfd : -1;
	struct why why;
	int r = session_adopted_successor(s, &c->peer, i < 0 ? -1 : fds[i],
					  &why);

	return r ? reply_why(rep, r, &why) : 0;
}

/*
 * COMMIT: whose word commits is session_commit()'s (the source decides).
 * An adopted VM's claimant names the new VMM first; a rebind's new name
 * must still be free.
 */
static int commit_step(const struct conn *c, struct session *s,
		       const Mig__Request *req, const int *fds,
		       struct reply *rep)
{
	enum commit_word word = c->peer.id == s->source_id ? WORD_SOURCE :
		WORD_DEST;
	struct why why;
	int r;

	if (s->adopted) {
		r = adopted_successor(c, s, req, fds, rep);
		if (r)
			return r;
	}
	r = rebind_may_commit(s, &why);
	if (!r)
		r = session_commit(s, word, &why);
	if (r)
		return reply_why(rep, r, &why);
	reply_session(rep, s);
	return 0;
}

/* READY, STATE, COMMIT and ABORT: one event each on a named session. */
HANDLER(handle_step)
{
	enum fsm_event ev = step_event[req->kind];
	const Mig__Target *t = req->target;
	uint64_t id = req->state ? req->state->session : t ? t->session : 0;
	bool has = req->state ? req->state->has_session : t && t->has_session;
	char reason[MIG_REASON_MAX], why[MIG_REASON_MAX + 32];
	struct session *s;
	int r;

	if (ev == EV_ABORT && has && (s = session_find(id, true)))
		session_late_abort(s, &c->peer);
	s = target_session(id, has, rep);
	if (!s)
		return -(int)rep->resp.error;
	if (!session_may_step(s, &c->peer, ev))
		return reply_err(rep, -EPERM,
				 "This connection plays no part in session %llu that allows that step.",
				 (unsigned long long)id);
	if (req->kind == MIG__KIND__STATE &&
	    s->state == MIG_STATE_READY) {
		r = s->grant.kind == GRANT_REBIND ? switch_rebind(s, rep) :
			s->adopted ? 0 :
			s->direct ? direct_state(s, req->state, rep) :
			keep_state(s, req->state, rep);
		if (r)
			return r;
	}
	if (req->kind == MIG__KIND__COMMIT)
		return commit_step(c, s, req, fds, rep);
	/* A peer's words, kept and shown: escaped once, here. */
	mig_escape(reason, sizeof(reason),
		   req->reason ? req->reason : "requested");
	snprintf(why, sizeof(why), "%s by pid %d", reason, c->peer.pid);
	r = session_event(s, ev, ECANCELED,
			  req->kind == MIG__KIND__ABORT ? why : NULL);
	if (r)
		return reply_err(rep, r,
				 "Session %llu is %s; that step is out of order.",
				 (unsigned long long)id,
				 mig_state_name((enum mig_state)s->state));
	reply_session(rep, s);
	return 0;
}
