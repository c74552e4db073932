// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CLAIM: the rebind rule asked (domain), then the memory, the devices
 * and the direct channel handed over, or only the layout for a rebind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

/* Move the session's fds into the reply: from here migrd holds none. */
void handoff_fds(struct session *s, struct reply *rep)
{
	mig__handoff__init(&rep->handoff);
	rep->handoff.has_vm_fd = true;
	rep->handoff.vm_fd = -1;
	if (s->vm_fd >= 0) {
		rep->handoff.vm_fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = session_hand_fd(&s->vm_fd);
	}
	session_info(&rep->session, s, &rep->sw);
	for (unsigned int i = 0; i < s->nregions; i++) {
		rep->sw.regions[i].has_fd = true;
		rep->sw.regions[i].fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = session_hand_fd(&s->regions[i].fd);
	}
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->sw.rp;
	/* Devices reach the old VM's hardware: a successor's only. */
	for (unsigned int i = 0; i < s->ndevices; i++) {
		rep->sw.devices[i].has_fd = true;
		rep->sw.devices[i].fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = session_hand_fd(&s->devices[i].fd);
	}
	rep->handoff.n_devices = s->ndevices;
	rep->handoff.devices = rep->sw.dp;
	rep->handoff.format = rep->session.format;
	rep->resp.handoff = &rep->handoff;
}

/* Hand the layout only: a rebind's fds follow, zeroed, with TAKE_STATE. */
static void handoff_layout(struct session *s, struct reply *rep)
{
	mig__handoff__init(&rep->handoff);
	rep->handoff.has_vm_fd = true;
	rep->handoff.vm_fd = -1;
	rep->handoff.has_deferred = rep->handoff.deferred = true;
	session_info(&rep->session, s, &rep->sw);
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->sw.rp;
	rep->resp.handoff = &rep->handoff;
	session_drop_identity(s);
}

/*
 * An upgrade's direct channel: the destination's end and the source's
 * pidfd go with the claim; migrd keeps the source's end until the source
 * hears that the destination is ready.
 */
static void give_channel(struct session *s, const int channel[2],
			 struct reply *rep)
{
	int pidfd = s->source_proc.fd >= 0 ? dup(s->source_proc.fd) : -1;

	rep->handoff.has_peer_fd = true;
	rep->handoff.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = channel[1];
	if (pidfd >= 0) {
		rep->handoff.has_source_pidfd = true;
		rep->handoff.source_pidfd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = pidfd;
	}
	session_keep_fd(&s->peer_fd, channel[0]);
}

/*
 * An adopted VMM has no libmig to talk on a channel: both ends go to the
 * claimant, which hands one to each VMM for their own migration, so the
 * device state never crosses a path somebody else could connect to.
 */
static void adopted_channel(struct session *s, const int channel[2])
{
	static const char *const names[2] = {
		"migration.source", "migration.destination",
	};

	for (int i = 0; i < 2; i++) {
		struct mig_device *d = &s->devices[s->ndevices++];

		mig_strlcpy(d->name, names[i], sizeof(d->name));
		d->kind = MIG_DEVICE_SOCKET;
		session_keep_fd(&d->fd, channel[i]);
	}
}

/* The source changed its memory after the offer: nobody can use it. */
static int source_broke_it(struct session *s, const struct why *w,
			   struct reply *rep)
{
	char why[sizeof(w->msg) + 64];

	snprintf(why, sizeof(why), "the source changed its memory after the offer: %s",
		 w->msg);
	reply_err(rep, -EBADF, "Session %llu cannot be handed over: %s",
		  (unsigned long long)s->id, why);
	session_event(s, EV_ABORT, EBADF, why);
	return -EBADF;
}

/* The claimant's loadable formats, as one line for people. */
static void say_loads(const Mig__Claim *cl, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cl->n_loads && n < len; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		n += (size_t)snprintf(buf + n, len - n, "%s%s v%u-%u",
				      i ? ", " : "", f->name ? f->name : "?",
				      f->min_version, f->version);
	}
}

/*
 * Whether the claimant can load the source's state. Either side may
 * say nothing (an older libmig): then nobody can check, and the claim
 * goes on as before.
 */
static int check_loads(const struct session *s, const Mig__Claim *cl,
		       struct reply *rep, bool *loadable)
{
	*loadable = true;
	if (cl->n_loads > MIG_FORMATS_MAX)
		return reply_err(rep, -EINVAL,
				 "A claim names at most %d state formats.",
				 MIG_FORMATS_MAX);
	for (size_t i = 0; i < cl->n_loads; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		int r;

		if (!f->name || !*f->name)
			return reply_err(rep, -EINVAL,
					 "State format %zu has no name.", i);
		r = check_label(f->name, "State format", (unsigned int)i, rep);
		if (r)
			return r;
	}
	if (!s->format.name[0] || !cl->n_loads)
		return 0;
	*loadable = false;
	for (size_t i = 0; i < cl->n_loads; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		if (strcmp(f->name, s->format.name) == 0 &&
		    f->min_version <= s->format.version &&
		    s->format.version <= f->version)
			*loadable = true;
	}
	return 0;
}

/* It cannot: the domain refuses and aborts (session_cannot_load()). */
static int cannot_load(struct session *s, const Mig__Claim *cl,
		       struct reply *rep)
{
	char loads[256];
	struct why why;
	int r;

	say_loads(cl, loads, sizeof(loads));
	r = session_cannot_load(s, loads, &why);
	return reply_why(rep, r, &why);
}

HANDLER(handle_claim)
{
	const Mig__Claim *cl = req->claim;
	const struct grant *g = NULL;
	struct why why;
	struct decision d;
	struct session *s;
	int channel[2];
	bool loadable = true;
	int r;

	s = target_session(cl ? cl->session : 0, cl && cl->has_session, rep);
	if (!s)
		return -(int)rep->resp.error;
	r = session_may_claim(s, &c->peer, cl && cl->has_token ?
			      cl->token.data : NULL,
			      cl && cl->has_token ? cl->token.len : 0,
			      &g, &d, &why);
	if (r)
		return reply_why(rep, r, &why);
	if (d.verdict == VERDICT_AS_IS && session_regions_intact(s, &why))
		return source_broke_it(s, &why, rep);
	/* Only an upgrade carries the state; a rebind starts afresh. */
	r = d.verdict == VERDICT_AS_IS ? check_loads(s, cl, rep, &loadable) : 0;
	if (r)
		return r;
	if (d.verdict == VERDICT_AS_IS && !loadable)
		return cannot_load(s, cl, rep);
	/* A VMM's own migration is a byte stream; ours are messages. */
	if (d.verdict == VERDICT_AS_IS && socketpair(AF_UNIX, (s->adopted ?
			SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0,
			channel) < 0)
		return reply_err(rep, -errno,
				 "Cannot make the direct channel for session %llu: %s.",
				 (unsigned long long)s->id, strerror(errno));
	session_spend_grant(s, g);
	if (d.verdict == VERDICT_AS_IS && s->adopted) {
		adopted_channel(s, channel);
		handoff_fds(s, rep);
	} else if (d.verdict == VERDICT_AS_IS) {
		handoff_fds(s, rep);
		give_channel(s, channel, rep);
	} else {
		handoff_layout(s, rep);
	}
	rep->handoff.has_grant = true;
	rep->handoff.grant = (Mig__GrantKind)s->grant.kind;
	session_claimed_by(s, &c->peer);
	return session_event(s, EV_CLAIM, 0, NULL);
}
