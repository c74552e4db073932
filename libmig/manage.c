// SPDX-License-Identifier: LGPL-2.1-or-later
/* Management and queries: register, unregister, status, list, show, events. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig-private.h"
#include "abi-compat.h"

MIG_EXPORT int mig_register(struct mig_ctx *ctx, const char *name,
			    const char *uuid, pid_t owner, int owner_pidfd,
			    struct mig_vm_info *out)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Register reg = MIG__REGISTER__INIT;
	Mig__Response *resp;
	int r;

	if (!name || (owner <= 0 && owner_pidfd < 0))
		return -EINVAL;
	req.kind = MIG__KIND__REGISTER;
	req.register_ = &reg;
	reg.name = (char *)name;
	reg.uuid = (char *)uuid;
	reg.has_owner_pid = true;
	reg.owner_pid = owner;
	if (owner_pidfd >= 0) {
		reg.has_owner_pidfd = true;
		reg.owner_pidfd = 0;
	}
	r = mig_call(ctx, &req, &owner_pidfd, owner_pidfd >= 0, &resp, NULL,
		     NULL);
	if (r)
		return r;
	if (!resp->vm)
		r = -EPROTO;
	else if (out)
		mig_vm_from_wire(out, resp->vm);
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_unregister(struct mig_ctx *ctx, const char *vm)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;
	Mig__Response *resp;
	int r;

	if (!vm)
		return -EINVAL;
	req.kind = MIG__KIND__UNREGISTER;
	req.target = &t;
	t.vm = (char *)vm;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_status(struct mig_ctx *ctx, struct mig_status *st)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;
	Mig__StatusInfo *s;
	int r;

	req.kind = MIG__KIND__STATUS;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	s = resp->status;
	if (!s) {
		mig__response__free_unpacked(resp, NULL);
		return -EPROTO;
	}
	memset(st, 0, sizeof(*st));
	mig_strlcpy(st->version, s->version, sizeof(st->version));
	st->pid = s->pid;
	st->uptime_ms = s->uptime_ms;
	st->clients = s->clients;
	st->vms = s->vms;
	st->sessions = s->sessions;
	st->committed = s->committed;
	st->aborted = s->aborted;
	mig_strlcpy(st->rebind_policy, s->rebind_policy,
		    sizeof(st->rebind_policy));
	st->open_fds = s->open_fds;
	st->refused = s->refused;
	st->rebinds = s->rebinds;
	mig__response__free_unpacked(resp, NULL);
	return 0;
}

/*
 * mig_list(), mig_show(), mig_list_free() and mig_next_event() fill or
 * hand out struct mig_session_info, which grew in 0.4: these are their
 * LIBMIG_0.6 versions, the defaults; abi-compat.c has the 0.1 ones for
 * programs built against the 0.1-0.3 header (abi-compat.h says why).
 */
MIG_SYMVER(mig_list_free_0_6, "mig_list_free@@LIBMIG_0.6");
MIG_SYMVER(mig_list_0_6, "mig_list@@LIBMIG_0.6");
MIG_SYMVER(mig_show_0_6, "mig_show@@LIBMIG_0.6");
MIG_SYMVER(mig_next_event_0_6, "mig_next_event@@LIBMIG_0.6");

MIG_EXPORT void mig_list_free_0_6(struct mig_list *list)
{
	if (!list)
		return;
	for (unsigned int i = 0; i < list->nsessions; i++) {
		free(list->sessions[i].regions);
		free(list->sessions[i].devices);
	}
	free(list->sessions);
	free(list->vms);
	free(list);
}

static int list_from_wire(const Mig__Response *resp, struct mig_list **out)
{
	struct mig_list *l = calloc(1, sizeof(*l));
	size_t nv = resp->n_vms + !!resp->vm;
	size_t ns = resp->n_sessions + !!resp->session;

	if (!l)
		return -ENOMEM;
	l->vms = calloc(nv ? nv : 1, sizeof(*l->vms));
	l->sessions = calloc(ns ? ns : 1, sizeof(*l->sessions));
	if (!l->vms || !l->sessions)
		goto nomem;
	for (size_t i = 0; i < resp->n_vms; i++)
		mig_vm_from_wire(&l->vms[l->nvms++], resp->vms[i]);
	if (resp->vm)
		mig_vm_from_wire(&l->vms[l->nvms++], resp->vm);
	for (size_t i = 0; i < resp->n_sessions; i++)
		if (mig_session_from_wire(&l->sessions[l->nsessions++],
					  resp->sessions[i], true))
			goto nomem;
	if (resp->session &&
	    mig_session_from_wire(&l->sessions[l->nsessions++],
				  resp->session, true))
		goto nomem;
	*out = l;
	return 0;
nomem:
	mig_list_free_0_6(l);
	return -ENOMEM;
}

static int query(struct mig_ctx *ctx, Mig__Request *req,
		 struct mig_list **list)
{
	Mig__Response *resp;
	int r;

	r = mig_call(ctx, req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	r = list_from_wire(resp, list);
	mig__response__free_unpacked(resp, NULL);
	return r;
}

/* Move page's entries to the end of acc; page is freed. */
static int list_append(struct mig_list *acc, struct mig_list *page)
{
	struct mig_vm_info *v;
	struct mig_session_info *s;

	v = realloc(acc->vms, (acc->nvms + page->nvms + 1) * sizeof(*v));
	if (v)
		acc->vms = v;
	s = realloc(acc->sessions,
		    (acc->nsessions + page->nsessions + 1) * sizeof(*s));
	if (s)
		acc->sessions = s;
	if (!v || !s) {
		mig_list_free_0_6(page);
		return -ENOMEM;
	}
	memcpy(v + acc->nvms, page->vms, page->nvms * sizeof(*v));
	memcpy(s + acc->nsessions, page->sessions,
	       page->nsessions * sizeof(*s));
	acc->nvms += page->nvms;
	acc->nsessions += page->nsessions;
	/* Regions and devices moved with the sessions: only the arrays go. */
	page->nsessions = 0;
	mig_list_free_0_6(page);
	return 0;
}

/* One LIST page; *more tells whether to ask again from *page. */
static int list_page(struct mig_ctx *ctx, Mig__ListPage *page,
		     struct mig_list **out, bool *more)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;
	int r;

	*out = NULL;
	req.kind = MIG__KIND__LIST;
	req.page = page;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	r = list_from_wire(resp, out);
	*more = !r && resp->next;
	if (*more) {
		/* A cursor that does not move would ask for ever. */
		if (resp->next->after_vm == page->after_vm &&
		    resp->next->after_session == page->after_session)
			r = -EPROTO;
		page->after_vm = resp->next->after_vm;
		page->after_session = resp->next->after_session;
	}
	mig__response__free_unpacked(resp, NULL);
	if (r && *out) {
		mig_list_free_0_6(*out);
		*out = NULL;
	}
	return r;
}

/* Page by page, as migrd sends it: any number of VMs and sessions. */
MIG_EXPORT int mig_list_0_6(struct mig_ctx *ctx, struct mig_list **list)
{
	Mig__ListPage page = MIG__LIST_PAGE__INIT;
	struct mig_list *acc = NULL, *next = NULL;
	bool more = true;
	int r;

	page.has_after_vm = page.has_after_session = true;
	r = list_page(ctx, &page, &acc, &more);
	while (!r && more) {
		r = list_page(ctx, &page, &next, &more);
		if (!r)
			r = list_append(acc, next);
	}
	if (r) {
		mig_list_free_0_6(acc);
		return r;
	}
	*list = acc;
	return 0;
}

MIG_EXPORT int mig_show_0_6(struct mig_ctx *ctx, const char *what,
			    struct mig_list **list)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;

	if (!what || !*what)
		return -EINVAL;
	req.kind = MIG__KIND__SHOW;
	req.target = &t;
	/* A number names a session; anything else a VM. */
	if (mig_parse_u64(what, &t.session) == 0)
		t.has_session = true;
	else
		t.vm = (char *)what;
	return query(ctx, &req, list);
}

MIG_EXPORT int mig_subscribe(struct mig_ctx *ctx)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;
	int r;

	req.kind = MIG__KIND__SUBSCRIBE;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	mig__response__free_unpacked(resp, NULL);
	ctx->subscribed = true;
	return 0;
}

MIG_EXPORT int mig_next_event_0_6(struct mig_ctx *ctx, struct mig_event *ev,
				  int timeout_ms)
{
	Mig__Response *resp = NULL;
	int fds[MIG_FDS_MAX];
	unsigned int nfds;
	int r;

	if (!ctx->subscribed)
		return -EINVAL;
	r = mig_wait_readable(ctx->sock, timeout_ms);
	if (!r)
		r = mig_recv_response(ctx, &resp, fds, &nfds);
	if (r)
		return r;
	mig_close_fds(fds, nfds);
	if (resp->kind != MIG__KIND__EVENT || !resp->event) {
		mig__response__free_unpacked(resp, NULL);
		return -EPROTO;
	}
	if (resp->event->has_lost) {
		snprintf(ctx->last_error, sizeof(ctx->last_error),
			 "fell behind migrd's events: %llu were lost; the stream goes on",
			 (unsigned long long)resp->event->lost);
		mig__response__free_unpacked(resp, NULL);
		return -EOVERFLOW;
	}
	memset(ev, 0, sizeof(*ev));
	ev->time_ms = resp->event->time_ms;
	mig_strlcpy(ev->what, resp->event->what, sizeof(ev->what));
	if (resp->event->vm) {
		ev->has_vm = 1;
		mig_vm_from_wire(&ev->vm, resp->event->vm);
	}
	if (resp->event->session) {
		ev->has_session = 1;
		mig_session_from_wire(&ev->session, resp->event->session,
				      false);
	}
	mig__response__free_unpacked(resp, NULL);
	return 0;
}
