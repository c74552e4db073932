// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The protobuf form of what the domain holds: VMs, sessions, and the
 * events that tell of them. Encoding lives here and only here; the
 * transport sends what these fill.
 */
#include <string.h>

#include "h-private.h"

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

void event_vm(struct event_buf *e, const char *what, const struct vm *vm)
{
	mig__event__init(&e->ev);
	vm_info(&e->vm, vm);
	e->ev.what = (char *)what;
	e->ev.vm = &e->vm;
}

void event_session(struct event_buf *e, const struct session *s)
{
	mig__event__init(&e->ev);
	session_info(&e->session, s, NULL);
	e->ev.what = (char *)"state";
	e->ev.session = &e->session;
}

void event_overrun(Mig__Event *ev, uint64_t time_ms, uint64_t lost)
{
	mig__event__init(ev);
	ev->has_time_ms = ev->has_lost = true;
	ev->time_ms = time_ms;
	ev->what = (char *)"overrun";
	ev->lost = lost;
}
