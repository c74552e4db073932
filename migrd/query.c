// SPDX-License-Identifier: LGPL-2.1-or-later
/* What migrd tells about itself: status, list, show, and the event stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "log.h"
#include "handlers.h"

void vm_info(Mig__VmInfo *out, const struct vm *vm)
{
	mig__vm_info__init(out);
	out->id = (char *)vm->id;
	out->name = (char *)vm->name;
	out->uuid = (char *)vm->uuid;
	out->has_owner_pid = out->has_owner_uid = true;
	out->owner_pid = vm->owner_pid;
	out->owner_uid = vm->owner_uid;
	out->has_session = out->has_upgrades = out->has_registered_ms = true;
	out->session = vm->session ? vm->session->id : 0;
	out->upgrades = vm->upgrades;
	out->registered_ms = vm->registered_ms;
}

/* rs/rp may be NULL to leave the regions out. */
static void regions_info(Mig__SessionInfo *out, const struct session *s,
			 struct session_wire *sw)
{
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct mig_region *r = &s->regions[i];
		Mig__Region *w = &sw->regions[i];

		mig__region__init(w);
		w->name = (char *)r->name;
		w->has_gpa = w->has_size = w->has_offset = true;
		w->has_flags = w->has_kind = true;
		w->gpa = r->gpa;
		w->size = r->size;
		w->offset = r->offset;
		w->flags = r->flags;
		w->kind = (Mig__RegionKind)r->kind;
		sw->rp[i] = w;
	}
	out->n_regions = s->nregions;
	out->regions = sw->rp;
}

static void devices_info(Mig__SessionInfo *out, const struct session *s,
			 struct session_wire *sw)
{
	for (unsigned int i = 0; i < s->ndevices; i++) {
		Mig__Device *w = &sw->devices[i];

		mig__device__init(w);
		w->name = (char *)s->devices[i].name;
		w->has_kind = true;
		w->kind = (Mig__DeviceKind)s->devices[i].kind;
		sw->dp[i] = w;
	}
	out->n_devices = s->ndevices;
	out->devices = sw->dp;
	if (s->format.name[0]) {
		mig_format_to_wire(&sw->format, &s->format);
		out->format = &sw->format;
	}
}

void session_info(Mig__SessionInfo *out, const struct session *s,
		  struct session_wire *w)
{
	mig__session_info__init(out);
	out->has_id = out->has_state = true;
	out->id = s->id;
	out->vm_id = (char *)s->vm_id;
	out->vm_name = (char *)s->vm_name;
	out->state = (Mig__State)s->state;
	out->has_source_pid = out->has_dest_pid = out->has_mem_bytes = true;
	out->source_pid = s->source_pid;
	out->dest_pid = s->dest_pid;
	out->mem_bytes = s->mem_bytes;
	out->has_created_ms = out->has_updated_ms = out->has_error = true;
	out->created_ms = s->created_ms;
	out->updated_ms = s->updated_ms;
	out->error = (uint32_t)s->error;
	out->reason = (char *)s->reason;
	out->has_grant = out->has_zeroed = true;
	out->grant = (Mig__GrantKind)s->grant.kind;
	out->zeroed = s->zero == ZERO_DONE;
	out->has_adopted = s->adopted;
	out->adopted = s->adopted;
	if (!w)
		return;
	regions_info(out, s, w);
	devices_info(out, s, w);
}

int handle_status(struct client *c, Mig__Request *req, int *fds,
		  unsigned int nfds, struct reply *rep)
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
int handle_list(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
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

int handle_show(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
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

int handle_subscribe(struct client *c, Mig__Request *req, int *fds,
		     unsigned int nfds, struct reply *rep)
{
	c->subscriber = true;
	return 0;
}

static int send_event(struct client *c, Mig__Event *ev)
{
	struct reply rep;

	reply_init(&rep, MIG__KIND__EVENT);
	rep.resp.event = ev;
	return client_try_send(c, &rep);
}

/* Has c read at least half of what waits for it? */
static bool caught_up(const struct client *c)
{
	socklen_t len = sizeof(int);
	int queued, size;

	if (ioctl(c->w.fd, SIOCOUTQ, &queued) < 0 ||
	    getsockopt(c->w.fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0)
		return true;
	return queued <= size / 2;
}

/*
 * A watcher that does not keep up (stopped, slow) is not dropped: what
 * does not fit is counted, and once it has read at least half of what
 * was queued it first hears how many events it missed ("overrun"), once,
 * then the stream goes on.
 */
static void event_to(struct client *c, Mig__Event *ev)
{
	if (c->lost && !caught_up(c)) {
		c->lost++;
		return;
	}
	if (c->lost) {
		Mig__Event over = MIG__EVENT__INIT;

		over.has_time_ms = over.has_lost = true;
		over.time_ms = ev->time_ms;
		over.what = (char *)"overrun";
		over.lost = c->lost;
		if (send_event(c, &over)) {
			c->lost++;
			return;
		}
		log_info("client %llu (pid %d): told it missed %llu events",
			 (unsigned long long)c->id, c->cred.pid,
			 (unsigned long long)c->lost);
		c->lost = 0;
	}
	if (send_event(c, ev) == -EAGAIN)
		c->lost++;
}

static void broadcast(Mig__Event *ev)
{
	struct client *c;

	ev->has_time_ms = true;
	ev->time_ms = mig_now_ms();
	list_for_each_entry(c, &migrd.clients, link)
		if (c->subscriber)
			event_to(c, ev);
}

void event_vm(const char *what, const struct vm *vm)
{
	Mig__Event ev = MIG__EVENT__INIT;
	Mig__VmInfo info;

	vm_info(&info, vm);
	ev.what = (char *)what;
	ev.vm = &info;
	broadcast(&ev);
}

void event_session(const struct session *s)
{
	Mig__Event ev = MIG__EVENT__INIT;
	Mig__SessionInfo info;

	session_info(&info, s, NULL);
	ev.what = (char *)"state";
	ev.session = &info;
	broadcast(&ev);
}
