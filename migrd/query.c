// SPDX-License-Identifier: LGPL-2.1-or-later
/* What migrd tells about itself: status, list, show, and the event stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
void session_info(Mig__SessionInfo *out, const struct session *s,
		  Mig__Region *rs, Mig__Region **rp)
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
	if (!rs)
		return;
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct mig_region *r = &s->regions[i];
		Mig__Region *w = &rs[i];

		mig__region__init(w);
		w->name = (char *)r->name;
		w->has_gpa = w->has_size = w->has_offset = true;
		w->has_flags = w->has_kind = true;
		w->gpa = r->gpa;
		w->size = r->size;
		w->offset = r->offset;
		w->flags = r->flags;
		w->kind = (Mig__RegionKind)r->kind;
		rp[i] = w;
	}
	out->n_regions = s->nregions;
	out->regions = rp;
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

/* Open sessions first, then ended ones, oldest first. */
static void list_sessions(Mig__SessionInfo *infos, Mig__SessionInfo **ptrs,
			  size_t *n)
{
	struct list_head *lists[] = { &migrd.sessions, &migrd.history };
	struct session *s;

	for (size_t l = 0; l < ARRAY_SIZE(lists); l++)
		list_for_each_entry(s, lists[l], link) {
			session_info(&infos[*n], s, NULL, NULL);
			ptrs[*n] = &infos[*n];
			(*n)++;
		}
}

int handle_list(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
{
	size_t nv = migrd.nvms, ns = migrd.nsessions + migrd.nhistory;
	Mig__SessionInfo *sinfo, **sptr;
	Mig__VmInfo *vinfo, **vptr;
	struct vm *vm;
	char *heap;

	heap = calloc(1, nv * (sizeof(*vinfo) + sizeof(*vptr)) +
			 ns * (sizeof(*sinfo) + sizeof(*sptr)) + 1);
	if (!heap)
		return -ENOMEM;
	vinfo = (Mig__VmInfo *)heap;
	sinfo = (Mig__SessionInfo *)(vinfo + nv);
	vptr = (Mig__VmInfo **)(sinfo + ns);
	sptr = (Mig__SessionInfo **)(vptr + nv);
	nv = 0;
	list_for_each_entry(vm, &migrd.vms, link) {
		vm_info(&vinfo[nv], vm);
		vptr[nv] = &vinfo[nv];
		nv++;
	}
	ns = 0;
	list_sessions(sinfo, sptr, &ns);
	rep->heap = heap;
	rep->resp.n_vms = nv;
	rep->resp.vms = vptr;
	rep->resp.n_sessions = ns;
	rep->resp.sessions = sptr;
	if (mig__response__get_packed_size(&rep->resp) > MIG_MSG_MAX) {
		rep->resp.n_vms = rep->resp.n_sessions = 0;
		return reply_err(rep, -E2BIG,
				 "The list is larger than one message; use show on single VMs.");
	}
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
		session_info(&rep->session, s, rep->regions, rep->rp);
		rep->resp.session = &rep->session;
		return 0;
	}
	vm = vm_find(t ? t->vm : NULL);
	if (!vm)
		return reply_err(rep, -ENOENT, "No such VM is registered.");
	vm_info(&rep->vm, vm);
	rep->resp.vm = &rep->vm;
	if (vm->session) {
		session_info(&rep->session, vm->session, rep->regions, rep->rp);
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

static void broadcast(Mig__Event *ev)
{
	struct client *c;

	ev->has_time_ms = true;
	ev->time_ms = mig_now_ms();
	list_for_each_entry(c, &migrd.clients, link) {
		struct reply rep;

		if (!c->subscriber)
			continue;
		reply_init(&rep, MIG__KIND__EVENT);
		rep.resp.event = ev;
		client_send(c, &rep);
	}
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

	session_info(&info, s, NULL, NULL);
	ev.what = (char *)"state";
	ev.session = &info;
	broadcast(&ev);
}
