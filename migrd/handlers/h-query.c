// SPDX-License-Identifier: LGPL-2.1-or-later
/* What migrd tells about itself: STATUS, LIST, SHOW, and SUBSCRIBE. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h-private.h"

HANDLER(handle_status)
{
	static char version[] = PACKAGE_VERSION;
	Mig__StatusInfo *st = &rep->status;

	mig__status_info__init(st);
	st->version = version;
	st->has_pid = st->has_uptime_ms = st->has_clients = true;
	st->pid = getpid();
	st->uptime_ms = mig_mono_ms() - migrd.started_ms;
	st->clients = migrd.nclients;
	st->has_vms = st->has_sessions = true;
	st->vms = migrd.nvms;
	st->sessions = migrd.nsessions;
	st->has_committed = st->has_aborted = st->has_open_fds = true;
	st->committed = migrd.committed;
	st->aborted = migrd.aborted;
	st->open_fds = migrd.held_fds;
	st->has_refused = st->has_rebinds = true;
	st->refused = migrd.refused;
	st->rebinds = migrd.rebinds;
	st->rebind_policy = (char *)rebind_policy_name(migrd.cfg.rebind);
	rep->resp.status = st;
	return 0;
}

/* One repeated entry's cost in a message: the entry, its tag, its length. */
#define ENTRY_OVERHEAD 6
/* What a page may fill, leaving room for the rest of the response. */
#define PAGE_BUDGET (MIG_MSG_MAX - 1024)

static int by_id(const void *a, const void *b)
{
	const struct session *x = *(const struct session *const *)a;
	const struct session *y = *(const struct session *const *)b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Open and ended sessions numbered above after, by number. */
static size_t sessions_after(uint64_t after, const struct session **out)
{
	struct list_head *lists[] = { &migrd.sessions, &migrd.history };
	struct session *s;
	size_t n = 0;

	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		list_for_each_entry(s, lists[l], link)
			if (s->id > after)
				out[n++] = s;
	qsort(out, n, sizeof(*out), by_id);
	return n;
}

struct page {
	Mig__VmInfo *vinfo;
	Mig__VmInfo **vptr;
	Mig__SessionInfo *sinfo;
	Mig__SessionInfo **sptr;
	const struct session **sorted;
	size_t nv, ns, used;
	bool full;
};

/* Room for one more entry of len bytes? Full from the first that is not. */
static bool page_fits(struct page *p, size_t len)
{
	if (p->full || p->used + len + ENTRY_OVERHEAD > PAGE_BUDGET)
		return !(p->full = true);
	p->used += len + ENTRY_OVERHEAD;
	return true;
}

static void page_fill(struct page *p, const Mig__ListPage *from,
		      Mig__ListPage *next)
{
	uint64_t after_vm = from ? from->after_vm : 0;
	uint64_t after_s = from ? from->after_session : 0;
	size_t n;
	struct vm *vm;

	list_for_each_entry(vm, &migrd.vms, link) {
		if (vm->serial <= after_vm)
			continue;
		vm_info(&p->vinfo[p->nv], vm);
		if (!page_fits(p, mig__vm_info__get_packed_size(&p->vinfo[p->nv])))
			break;
		p->vptr[p->nv] = &p->vinfo[p->nv];
		p->nv++;
		after_vm = vm->serial;
	}
	n = p->full ? 0 : sessions_after(after_s, p->sorted);
	for (size_t i = 0; i < n; i++) {
		session_info(&p->sinfo[p->ns], p->sorted[i], NULL);
		if (!page_fits(p, mig__session_info__get_packed_size(&p->sinfo[p->ns])))
			break;
		p->sptr[p->ns] = &p->sinfo[p->ns];
		p->ns++;
		after_s = p->sorted[i]->id;
	}
	mig__list_page__init(next);
	next->has_after_vm = next->has_after_session = true;
	next->after_vm = after_vm;
	next->after_session = after_s;
}

/*
 * LIST, a page at a time: as much as fits in one message, and the cursor
 * for the next page if there is more (libmig asks until there is not).
 */
HANDLER(handle_list)
{
	size_t nv = migrd.nvms, ns = migrd.nsessions + migrd.nhistory;
	struct page p = { 0 };
	char *heap;

	heap = calloc(1, nv * (sizeof(*p.vinfo) + sizeof(*p.vptr)) +
			 ns * (sizeof(*p.sinfo) + sizeof(*p.sptr) +
			       sizeof(*p.sorted)) + 1);
	if (!heap)
		return -ENOMEM;
	p.vinfo = (Mig__VmInfo *)heap;
	p.sinfo = (Mig__SessionInfo *)(p.vinfo + nv);
	p.vptr = (Mig__VmInfo **)(p.sinfo + ns);
	p.sptr = (Mig__SessionInfo **)(p.vptr + nv);
	p.sorted = (const struct session **)(p.sptr + ns);
	page_fill(&p, req->page, &rep->page);
	rep->heap = heap;
	rep->resp.n_vms = p.nv;
	rep->resp.vms = p.vptr;
	rep->resp.n_sessions = p.ns;
	rep->resp.sessions = p.sptr;
	if (p.full)
		rep->resp.next = &rep->page;
	return 0;
}

HANDLER(handle_show)
{
	const Mig__Target *t = req->target;
	struct session *s;
	struct vm *vm;

	if (t && t->has_session) {
		s = session_find(t->session, true);
		if (!s)
			return reply_err(rep, -ENOENT,
					 "There is no session %llu.",
					 (unsigned long long)t->session);
		session_info(&rep->session, s, &rep->sw);
		rep->resp.session = &rep->session;
		return 0;
	}
	vm = vm_find(t ? t->vm : NULL);
	if (!vm)
		return reply_err(rep, -ENOENT, "No such VM is registered.");
	vm_info(&rep->vm, vm);
	rep->resp.vm = &rep->vm;
	if (vm->session) {
		session_info(&rep->session, vm->session, &rep->sw);
		rep->resp.session = &rep->session;
	}
	return 0;
}

/* From here the transport streams events to c, and takes no requests. */
HANDLER(handle_subscribe)
{
	c->subscriber = true;
	return 0;
}
