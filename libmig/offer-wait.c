// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Pre-launch: a destination that started before the source offered
 * waits for the offer on migrd's event stream, which tells it the moment
 * the session opens, rather than polling for it.
 */
#include <errno.h>
#include <string.h>

#include "mig-private.h"

/* @vm's identity and its open session (0 if none). */
static int vm_now(struct mig_ctx *ctx, const char *vm, char id[MIG_ID_LEN],
		  uint64_t *session)
{
	struct mig_list *l;
	int r = mig_show(ctx, vm, &l);

	if (r)
		return r;
	if (l->nvms != 1) {
		mig_list_free(l);
		return -ENOENT;
	}
	memcpy(id, l->vms[0].id, MIG_ID_LEN);
	*session = l->vms[0].session;
	mig_list_free(l);
	return 0;
}

static bool offered(const struct mig_event *ev, const char *id)
{
	return ev->has_session && ev->session.state == MIG_STATE_OFFERED &&
	       strcmp(ev->session.vm_id, id) == 0;
}

/* Events until one says @id was offered; -ETIMEDOUT after @timeout_ms. */
static int watch(struct mig_ctx *events, const char *id, int timeout_ms,
		 uint64_t *session)
{
	uint64_t deadline = mig_mono_ms() + (uint64_t)timeout_ms;
	struct mig_event ev;

	for (;;) {
		int left = -1, r;

		if (timeout_ms >= 0) {
			uint64_t now = mig_mono_ms();

			if (now >= deadline)
				return -ETIMEDOUT;
			left = (int)(deadline - now);
		}
		r = mig_next_event(events, &ev, left);
		if (r == -EOVERFLOW)
			return -EAGAIN;
		if (r)
			return r;
		if (offered(&ev, id)) {
			*session = ev.session.id;
			return 0;
		}
	}
}

MIG_EXPORT int mig_wait_offer(struct mig_ctx *ctx, const char *vm,
			      int timeout_ms, uint64_t *session)
{
	char id[MIG_ID_LEN];
	struct mig_ctx *events;
	int r;

	if (!vm || !session || ctx->sock < 0)
		return -EINVAL;
	events = mig_new();
	if (!events)
		return -ENOMEM;
	/* Subscribed first: an offer made from here on is not missed. */
	r = mig_connect(events, ctx->path);
	if (!r)
		r = mig_subscribe(events);
	while (!r) {
		r = vm_now(ctx, vm, id, session);
		if (r || *session)
			break;
		r = watch(events, id, timeout_ms, session);
		/* Events were lost, the offer may be among them: look. */
		if (r == -EAGAIN)
			r = 0;
		else
			break;
	}
	mig_unref(events);
	return r;
}
