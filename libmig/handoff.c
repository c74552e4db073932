// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The handoff calls, in the order a source and a destination make them:
 * offer, claim, ready, wait, send_state, take_state, commit (or abort).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig-private.h"

/* A request that names a session; *resp is the daemon's answer. */
static int session_request(struct mig_ctx *ctx, Mig__Kind kind,
			   uint64_t session, const char *reason,
			   Mig__Response **resp)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;

	req.kind = kind;
	req.target = &t;
	req.reason = (char *)reason;
	t.has_session = true;
	t.session = session;
	return mig_call(ctx, &req, NULL, 0, resp, NULL, NULL);
}

/* The same, when nothing but success matters. */
static int session_call(struct mig_ctx *ctx, Mig__Kind kind, uint64_t session,
			const char *reason)
{
	Mig__Response *resp;
	int r = session_request(ctx, kind, session, reason, &resp);

	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

/*
 * The caller's args as this library knows them: a caller built against
 * a newer libmig may pass a larger struct, whose extra fields must then
 * be unused (zero), as with openat2(2).
 */
static int offer_args(const struct mig_offer_args *in, size_t size,
		      struct mig_offer_args *out)
{
	if (!in || size < sizeof(*out))
		return -EINVAL;
	for (size_t i = sizeof(*out); i < size; i++)
		if (((const unsigned char *)in)[i])
			return -E2BIG;
	*out = *in;
	return 0;
}

static void regions_to_wire(const struct mig_offer_args *a, Mig__Region *wr,
			    Mig__Region **wp, int *fds, unsigned int *nfds)
{
	for (unsigned int i = 0; i < a->nregions; i++) {
		const struct mig_region *r = &a->regions[i];

		mig__region__init(&wr[i]);
		wr[i].name = (char *)r->name;
		wr[i].has_gpa = wr[i].has_size = wr[i].has_offset = true;
		wr[i].has_flags = wr[i].has_kind = wr[i].has_fd = true;
		wr[i].gpa = r->gpa;
		wr[i].size = r->size;
		wr[i].offset = r->offset;
		wr[i].flags = r->flags;
		wr[i].kind = (Mig__RegionKind)r->kind;
		wr[i].fd = (int32_t)*nfds;
		fds[(*nfds)++] = r->fd;
		wp[i] = &wr[i];
	}
}

static void devices_to_wire(const struct mig_offer_args *a, Mig__Device *wd,
			    Mig__Device **wp, int *fds, unsigned int *nfds)
{
	for (unsigned int i = 0; i < a->ndevices; i++) {
		mig__device__init(&wd[i]);
		wd[i].name = (char *)a->devices[i].name;
		wd[i].has_kind = wd[i].has_fd = true;
		wd[i].kind = (Mig__DeviceKind)a->devices[i].kind;
		wd[i].fd = (int32_t)*nfds;
		fds[(*nfds)++] = a->devices[i].fd;
		wp[i] = &wd[i];
	}
}

MIG_EXPORT int mig_offer_ex(struct mig_ctx *ctx, const char *vm,
			    const struct mig_offer_args *args, size_t size,
			    uint64_t *session)
{
	Mig__Region wr[MIG_REGIONS_MAX], *wrp[MIG_REGIONS_MAX];
	Mig__Device wd[MIG_DEVICES_MAX], *wdp[MIG_DEVICES_MAX];
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Offer o = MIG__OFFER__INIT;
	Mig__StateFormat f;
	int fds[MIG_REGIONS_MAX + MIG_DEVICES_MAX + 1];
	struct mig_offer_args a;
	unsigned int nfds = 0;
	Mig__Response *resp;
	int r = offer_args(args, size, &a);

	if (r)
		return r;
	if (!vm || (a.nregions && !a.regions) || a.nregions > MIG_REGIONS_MAX ||
	    (a.ndevices && !a.devices) || a.ndevices > MIG_DEVICES_MAX)
		return -EINVAL;
	req.kind = MIG__KIND__OFFER;
	req.offer = &o;
	o.vm = (char *)vm;
	o.has_vm_fd = true;
	o.vm_fd = -1;
	if (a.vm_fd >= 0) {
		o.vm_fd = (int32_t)nfds;
		fds[nfds++] = a.vm_fd;
	}
	regions_to_wire(&a, wr, wrp, fds, &nfds);
	o.n_regions = a.nregions;
	o.regions = wrp;
	devices_to_wire(&a, wd, wdp, fds, &nfds);
	o.n_devices = a.ndevices;
	o.devices = wdp;
	if (a.format) {
		mig_format_to_wire(&f, a.format);
		o.format = &f;
	}
	r = mig_call(ctx, &req, fds, nfds, &resp, NULL, NULL);
	if (r)
		return r;
	if (!resp->session)
		r = -EPROTO;
	else if (session)
		*session = resp->session->id;
	mig__response__free_unpacked(resp, NULL);
	return r;
}

/*
 * The fds of an adoption are numbers in the owner's fd table: they go as
 * numbers, and migrd takes them from the owner itself.
 */
static void adopt_to_wire(const struct mig_offer_args *a, Mig__Region *wr,
			  Mig__Region **wrp, Mig__Device *wd,
			  Mig__Device **wdp)
{
	int fds[MIG_REGIONS_MAX + MIG_DEVICES_MAX];
	unsigned int n = 0;

	regions_to_wire(a, wr, wrp, fds, &n);
	for (unsigned int i = 0; i < a->nregions; i++)
		wr[i].fd = a->regions[i].fd;
	devices_to_wire(a, wd, wdp, fds, &n);
	for (unsigned int i = 0; i < a->ndevices; i++)
		wd[i].fd = a->devices[i].fd;
}

MIG_EXPORT int mig_adopt(struct mig_ctx *ctx, const char *vm,
			 const struct mig_offer_args *args, size_t size,
			 uint64_t *session)
{
	Mig__Region wr[MIG_REGIONS_MAX], *wrp[MIG_REGIONS_MAX];
	Mig__Device wd[MIG_DEVICES_MAX], *wdp[MIG_DEVICES_MAX];
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Adopt m = MIG__ADOPT__INIT;
	struct mig_offer_args a;
	Mig__StateFormat f;
	Mig__Response *resp;
	int r = offer_args(args, size, &a);

	if (r)
		return r;
	if (!vm || !a.nregions || !a.regions || a.nregions > MIG_REGIONS_MAX ||
	    (a.ndevices && !a.devices) || a.ndevices > MIG_DEVICES_MAX ||
	    a.vm_fd >= 0)
		return -EINVAL;
	req.kind = MIG__KIND__ADOPT;
	req.adopt = &m;
	m.vm = (char *)vm;
	adopt_to_wire(&a, wr, wrp, wd, wdp);
	m.n_regions = a.nregions;
	m.regions = wrp;
	m.n_devices = a.ndevices;
	m.devices = wdp;
	if (a.format) {
		mig_format_to_wire(&f, a.format);
		m.format = &f;
	}
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	if (!resp->session)
		r = -EPROTO;
	else if (session)
		*session = resp->session->id;
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_offer(struct mig_ctx *ctx, const char *vm,
			 const struct mig_region *regions,
			 unsigned int nregions, int vm_fd, uint64_t *session)
{
	const struct mig_offer_args a = {
		.regions = regions, .nregions = nregions, .vm_fd = vm_fd,
	};

	return mig_offer_ex(ctx, vm, &a, sizeof(a), session);
}

MIG_EXPORT void mig_handoff_free(struct mig_handoff *h)
{
	if (!h)
		return;
	for (unsigned int i = 0; i < h->nregions; i++)
		mig_close_fds(&h->regions[i].fd, 1);
	for (unsigned int i = 0; i < h->ndevices; i++)
		mig_close_fds(&h->devices[i].fd, 1);
	mig_close_fds(&h->vm_fd, 1);
	free(h->regions);
	free(h->devices);
	free(h);
}

/* Resolve the reply's fd indexes; mig_decode_response() checked them. */
static int handoff_from_wire(const Mig__Handoff *in, int *fds,
			     unsigned int nfds, struct mig_handoff **out)
{
	struct mig_handoff *h = calloc(1, sizeof(*h));

	if (!h)
		goto nomem;
	h->vm_fd = -1;
	h->regions = calloc(in->n_regions ? in->n_regions : 1,
			    sizeof(*h->regions));
	if (!h->regions)
		goto nomem;
	for (size_t i = 0; i < in->n_regions; i++) {
		const Mig__Region *w = in->regions[i];

		mig_region_from_wire(&h->regions[i], w);
		if (w->has_fd && w->fd >= 0)
			h->regions[i].fd = fds[w->fd];
	}
	h->nregions = in->n_regions;
	if (mig_devices_from_wire(&h->devices, &h->ndevices, in->devices,
				  in->n_devices))
		goto nomem;
	for (size_t i = 0; i < in->n_devices; i++)
		h->devices[i].fd = fds[in->devices[i]->fd];
	mig_format_from_wire(&h->format, in->format);
	if (in->has_vm_fd && in->vm_fd >= 0)
		h->vm_fd = fds[in->vm_fd];
	h->grant = (enum mig_grant)in->grant;
	h->deferred = in->deferred;
	h->zeroed = in->zeroed;
	*out = h;
	return 0;
nomem:
	if (h)
		free(h->regions);
	free(h);
	mig_close_fds(fds, nfds);
	return -ENOMEM;
}

/* fds[idx] out of the array, -1 for none. */
static int take_fd(int *fds, bool has, int32_t idx)
{
	int fd = -1;

	if (has && idx >= 0) {
		fd = fds[idx];
		fds[idx] = -1;
	}
	return fd;
}

/* The destination's end of the direct channel, if the claim brought it. */
static void adopt_dest_peer(struct mig_ctx *ctx, uint64_t session,
			    const Mig__Handoff *h, int *fds)
{
	int peer = take_fd(fds, h->has_peer_fd, h->peer_fd);
	int pidfd = take_fd(fds, h->has_source_pidfd, h->source_pidfd);

	if (peer >= 0)
		mig_peer_adopt(ctx, session, peer, pidfd, false);
	else
		mig_close_fds(&pidfd, 1);
}

/* Send req; the answer must carry a handoff (with fds unless deferred). */
static int handoff_call(struct mig_ctx *ctx, Mig__Request *req,
			uint64_t session, bool deferred_ok,
			struct mig_handoff **handoff)
{
	int fds[MIG_FDS_MAX];
	unsigned int nfds = 0;
	Mig__Response *resp;
	int r = mig_call(ctx, req, NULL, 0, &resp, fds, &nfds);

	if (r)
		return r;
	if (!resp->handoff || (resp->handoff->deferred && !deferred_ok)) {
		mig_close_fds(fds, nfds);
		r = -EPROTO;
	} else {
		adopt_dest_peer(ctx, session, resp->handoff, fds);
		r = handoff_from_wire(resp->handoff, fds, nfds, handoff);
	}
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_claim(struct mig_ctx *ctx, uint64_t session,
			 const void *token, size_t token_len,
			 struct mig_handoff **handoff)
{
	return mig_claim_ex(ctx, session, token, token_len, NULL, 0, handoff);
}

MIG_EXPORT int mig_claim_ex(struct mig_ctx *ctx, uint64_t session,
			    const void *token, size_t token_len,
			    const struct mig_state_format *loads,
			    unsigned int nloads, struct mig_handoff **handoff)
{
	Mig__StateFormat wf[MIG_FORMATS_MAX], *wp[MIG_FORMATS_MAX];
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Claim c = MIG__CLAIM__INIT;

	if ((nloads && !loads) || nloads > MIG_FORMATS_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < nloads; i++) {
		mig_format_to_wire(&wf[i], &loads[i]);
		wp[i] = &wf[i];
	}
	c.n_loads = nloads;
	c.loads = wp;

	req.kind = MIG__KIND__CLAIM;
	req.claim = &c;
	c.has_session = true;
	c.session = session;
	if (token) {
		c.has_token = true;
		c.token.data = (uint8_t *)token;
		c.token.len = token_len;
	}
	return handoff_call(ctx, &req, session, true, handoff);
}

MIG_EXPORT int mig_take_memory(struct mig_ctx *ctx, uint64_t session,
			       struct mig_handoff **handoff)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;

	req.kind = MIG__KIND__TAKE_STATE;
	req.target = &t;
	t.has_session = true;
	t.session = session;
	return handoff_call(ctx, &req, session, false, handoff);
}

MIG_EXPORT int mig_ready(struct mig_ctx *ctx, uint64_t session)
{
	return session_call(ctx, MIG__KIND__READY, session, NULL);
}

/*
 * With the direct channel, the source's GO makes the commit; migrd only
 * hears of it (from the source; ours is a notice it keeps until the
 * source's word or exit), and not hearing (migrd died) changes nothing.
 */
MIG_EXPORT int mig_commit(struct mig_ctx *ctx, uint64_t session)
{
	int r;

	if (!mig_peer_for(ctx, session))
		return session_call(ctx, MIG__KIND__COMMIT, session, NULL);
	r = mig_peer_dest_commit(ctx);
	mig_peer_close(ctx);
	if (r) {
		mig_notify(ctx, MIG__KIND__ABORT, session,
			   "destination got no GO from the source", true);
		return r == -ECANCELED ? r : -ECONNRESET;
	}
	/* The guest runs as soon as we return: migrd hears it meanwhile. */
	mig_notify(ctx, MIG__KIND__COMMIT, session, NULL, false);
	return 0;
}

/* An adopted VM: the old VMM's state reached the new one. */
MIG_EXPORT int mig_state_moved(struct mig_ctx *ctx, uint64_t session)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Blob b = MIG__BLOB__INIT;
	Mig__Response *resp;
	int r;

	req.kind = MIG__KIND__STATE;
	req.state = &b;
	b.has_session = true;
	b.session = session;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_commit_successor(struct mig_ctx *ctx, uint64_t session,
				    int pidfd)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;
	Mig__Response *resp;
	int r;

	if (pidfd < 0)
		return -EINVAL;
	req.kind = MIG__KIND__COMMIT;
	req.target = &t;
	t.has_session = true;
	t.session = session;
	req.has_successor_pidfd = true;
	req.successor_pidfd = 0;
	r = mig_call(ctx, &req, &pidfd, 1, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_abort(struct mig_ctx *ctx, uint64_t session,
			 const char *reason)
{
	if (mig_peer_for(ctx, session))
		mig_peer_abort(ctx, reason);
	return session_call(ctx, MIG__KIND__ABORT, session, reason);
}

MIG_EXPORT int mig_wait(struct mig_ctx *ctx, uint64_t session,
			enum mig_state state, enum mig_state *reached)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Wait w = MIG__WAIT__INIT;
	Mig__Response *resp;
	int fds[MIG_FDS_MAX];
	unsigned int nfds = 0;
	int r, peer;

	/* The source's wait for the commit is the direct channel's call. */
	if (state == MIG_STATE_COMMITTED && mig_peer_for(ctx, session) &&
	    ctx->peer_is_source) {
		/* GO went out (0): the guest is the destination's whatever
		 * else happens; migrd heard it from us meanwhile. */
		r = mig_peer_source_decide(ctx);
		if (reached)
			*reached = r ? MIG_STATE_ABORTED : MIG_STATE_COMMITTED;
		return r;
	}
	req.kind = MIG__KIND__WAIT;
	req.wait = &w;
	w.has_session = w.has_state = true;
	w.session = session;
	w.state = (Mig__State)state;
	r = mig_call(ctx, &req, NULL, 0, &resp, fds, &nfds);
	if (r == -ECANCELED && reached)
		*reached = MIG_STATE_ABORTED;
	if (r)
		return r;
	/* Reaching READY: the source's end of the direct channel. */
	peer = take_fd(fds, resp->has_peer_fd, resp->peer_fd);
	mig_close_fds(fds, nfds);
	if (peer >= 0)
		mig_peer_adopt(ctx, session, peer, -1, true);
	if (!resp->session)
		r = -EPROTO;
	else if (reached)
		*reached = (enum mig_state)resp->session->state;
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_send_state(struct mig_ctx *ctx, uint64_t session,
			      const void *data, size_t len)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Blob b = MIG__BLOB__INIT;
	Mig__Response *resp;
	int r;

	if (len > MIG_STATE_MAX || (len && !data))
		return -EMSGSIZE;
	req.kind = MIG__KIND__STATE;
	req.state = &b;
	b.has_session = true;
	b.session = session;
	if (mig_peer_for(ctx, session)) {
		/* Straight to the successor; migrd only hears that it went. */
		r = mig_peer_send_state(ctx, data, len);
		if (r)
			return r;
		b.has_direct = b.direct = true;
	} else {
		b.has_data = true;
		b.data.data = (uint8_t *)data;
		b.data.len = len;
	}
	/*
	 * No notice while the guest is paused: migrd's work on it would take
	 * a CPU from the two VMMs just then. The source's COMMIT notice after
	 * GO moves migrd's record through SWITCHING to COMMITTED afterwards.
	 */
	if (b.direct)
		return 0;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_take_state(struct mig_ctx *ctx, uint64_t session,
			      void **data, size_t *len)
{
	Mig__Response *resp;
	int r;

	if (mig_peer_for(ctx, session)) {
		r = mig_peer_take_state(ctx, data, len);
		if (r != -ECONNRESET)
			return r;
		/*
		 * The source hung up before its state: it died, or migrd
		 * aborted before it heard we were ready. Either way the
		 * guest is not ours; end the session if migrd has not.
		 */
		mig_peer_close(ctx);
		r = session_call(ctx, MIG__KIND__ABORT, session,
				 "the source hung up before sending its state");
		return r == -ESTALE ? -ECANCELED : -ECONNRESET;
	}
	r = session_request(ctx, MIG__KIND__TAKE_STATE, session, NULL, &resp);
	if (r)
		return r;
	if (!resp->state || !resp->state->has_data) {
		r = -EPROTO;
		goto out;
	}
	*data = malloc(resp->state->data.len ? resp->state->data.len : 1);
	if (!*data) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(*data, resp->state->data.data, resp->state->data.len);
	*len = resp->state->data.len;
out:
	mig__response__free_unpacked(resp, NULL);
	return r;
}
