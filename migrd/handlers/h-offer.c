// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * OFFER: each region, device and the VM fd checked with the kernel before
 * migrd keeps them; the checks an adoption uses too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

#define PAGE 4096ULL

/* A label for people: set, short, printable. */
int check_label(const char *name, const char *what, unsigned int i,
		       struct reply *rep)
{
	if (name && strlen(name) >= MIG_NAME_MAX)
		return reply_err(rep, -ENAMETOOLONG,
				 "%s %u has a name longer than 63 bytes.",
				 what, i);
	if (name && !mig_str_printable(name))
		return reply_err(rep, -EINVAL,
				 "%s %u's name is not printable UTF-8 (control characters or malformed bytes).",
				 what, i);
	return 0;
}

static int check_region(const Mig__Region *r, const int *fds,
			struct reply *rep, unsigned int i)
{
	struct mig_fd_info fi;
	enum mig_fd_kind want;
	struct why why;
	int err;

	if (!r->has_kind || (r->kind != MIG__REGION_KIND__GMEM &&
			     r->kind != MIG__REGION_KIND__MEMFD))
		return reply_err(rep, -EINVAL,
				 "Region %u has no valid kind (gmem or memfd).",
				 i);
	if (!r->has_size || !r->size || r->size % PAGE || r->gpa % PAGE ||
	    r->offset % PAGE || r->gpa + r->size < r->gpa ||
	    r->offset + r->size < r->offset)
		return reply_err(rep, -EINVAL,
				 "Region %u is empty, not page-aligned or wraps around.",
				 i);
	err = check_label(r->name, "Region", i, rep);
	if (err)
		return err;
	if (mig_fd_classify(fds[r->fd], &fi) < 0)
		return reply_err(rep, -EBADF, "Region %u: its fd is unusable.",
				 i);
	want = r->kind == MIG__REGION_KIND__GMEM ? MIG_FD_GMEM : MIG_FD_MEMFD;
	if (fi.kind != want)
		return reply_err(rep, -EBADF,
				 "Region %u claims to be %s but its fd is %s.",
				 i, want == MIG_FD_GMEM ? "gmem" : "memfd",
				 mig_fd_kind_name(fi.kind));
	if (!fi.writable)
		return reply_err(rep, -EBADF,
				 "Region %u: its fd is not open read-write.", i);
	if (r->offset + r->size > fi.size)
		return reply_err(rep, -EINVAL,
				 "Region %u reaches past the end of its fd.", i);
	if (region_check_seals(fds[r->fd], (enum mig_region_kind)r->kind,
			       &why, i))
		return reply_why(rep, -EBADF, &why);
	return 0;
}

static int check_regions(const Mig__Offer *o, const int *fds,
			 struct reply *rep)
{
	if (o->n_regions == 0 || o->n_regions > MIG_REGIONS_MAX)
		return reply_err(rep, -EINVAL,
				 "An offer needs 1 to %d regions.",
				 MIG_REGIONS_MAX);
	for (size_t i = 0; i < o->n_regions; i++) {
		const Mig__Region *a = o->regions[i];
		int r = check_region(a, fds, rep, (unsigned int)i);

		if (r)
			return r;
		for (size_t j = 0; j < i; j++) {
			const Mig__Region *b = o->regions[j];

			if (a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size)
				return reply_err(rep, -EINVAL,
						 "Regions %zu and %zu overlap in guest-physical memory.",
						 j, i);
		}
	}
	return 0;
}

static int check_vm_fd(const Mig__Offer *o, const int *fds, struct reply *rep)
{
	struct mig_fd_info fi;

	if (!o->has_vm_fd || o->vm_fd < 0)
		return 0;
	if (mig_fd_classify(fds[o->vm_fd], &fi) < 0 ||
	    fi.kind != MIG_FD_KVM_VM)
		return reply_err(rep, -EBADF,
				 "The VM fd offered is not a KVM VM fd.");
	return 0;
}

/* A device is what it says it is, and never memory or a KVM fd. */
static int check_device(const Mig__Device *d, const int *fds,
			struct reply *rep, unsigned int i)
{
	enum mig_device_kind want = (enum mig_device_kind)d->kind, is;
	int r;

	if (!d->name || !*d->name)
		return reply_err(rep, -EINVAL, "Device %u has no name.", i);
	r = check_label(d->name, "Device", i, rep);
	if (r)
		return r;
	if (!d->has_kind || want < MIG_DEVICE_EVENTFD ||
	    want > MIG_DEVICE_OTHER)
		return reply_err(rep, -EINVAL,
				 "Device %s has no valid kind.", d->name);
	r = mig_device_kind_of(fds[d->fd], &is);
	if (r == -EINVAL)
		return reply_err(rep, -EBADF,
				 "Device %s's fd is guest memory or a KVM fd: those travel as regions and the VM fd only.",
				 d->name);
	if (r)
		return reply_err(rep, -EBADF, "Device %s: its fd is unusable.",
				 d->name);
	if (want != MIG_DEVICE_OTHER && is != want)
		return reply_err(rep, -EBADF,
				 "Device %s claims to be %s but its fd is %s.",
				 d->name, mig_device_kind_name(want),
				 mig_device_kind_name(is));
	return 0;
}

static int check_devices(const Mig__Offer *o, const int *fds,
			 struct reply *rep)
{
	if (o->n_devices > MIG_DEVICES_MAX)
		return reply_err(rep, -EINVAL,
				 "An offer carries at most %d devices.",
				 MIG_DEVICES_MAX);
	for (size_t i = 0; i < o->n_devices; i++) {
		int r = check_device(o->devices[i], fds, rep, (unsigned int)i);

		if (r)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->devices[i]->name, o->devices[j]->name) == 0)
				return reply_err(rep, -EINVAL,
						 "Two devices are named %s.",
						 o->devices[i]->name);
	}
	return 0;
}

static int check_format(const Mig__StateFormat *f, struct reply *rep)
{
	if (!f)
		return 0;
	if (!f->name || !*f->name)
		return reply_err(rep, -EINVAL,
				 "The state format has no name.");
	return check_label(f->name, "State format", 0, rep);
}

static int check_offer(struct conn *c, const Mig__Offer *o, struct vm *vm,
		       const int *fds, struct reply *rep)
{
	struct why why;
	int r;

	if (!vm)
		return reply_err(rep, -ENOENT, "No VM named %s is registered.",
				 o->vm ? o->vm : "(none)");
	r = session_may_offer(vm, &c->peer, &why);
	if (r)
		return reply_why(rep, r, &why);
	return offer_check(o, fds, rep);
}

/* What an offer (or an adoption) carries, each fd checked with the kernel. */
int offer_check(const Mig__Offer *o, const int *fds, struct reply *rep)
{
	int r = check_regions(o, fds, rep);

	if (!r)
		r = check_vm_fd(o, fds, rep);
	if (!r)
		r = check_devices(o, fds, rep);
	return r ? r : check_format(o->format, rep);
}

/* The offer's regions, devices, VM fd and format into the session. */
void offer_take(struct session *s, const Mig__Offer *o, int *fds)
{
	for (size_t i = 0; i < o->n_regions; i++) {
		const Mig__Region *w = o->regions[i];
		struct mig_region *r = &s->regions[i];

		mig_region_from_wire(r, w);
		session_keep_fd(&r->fd, fds[w->fd]);
		fds[w->fd] = -1;
		s->mem_bytes += r->size;
	}
	s->nregions = (unsigned int)o->n_regions;
	for (size_t i = 0; i < o->n_devices; i++) {
		const Mig__Device *w = o->devices[i];
		struct mig_device *d = &s->devices[i];

		mig_device_from_wire(d, w);
		session_keep_fd(&d->fd, fds[w->fd]);
		fds[w->fd] = -1;
	}
	s->ndevices = (unsigned int)o->n_devices;
	mig_format_from_wire(&s->format, o->format);
	if (o->has_vm_fd && o->vm_fd >= 0) {
		session_keep_fd(&s->vm_fd, fds[o->vm_fd]);
		fds[o->vm_fd] = -1;
	}
}

HANDLER(handle_offer)
{
	const Mig__Offer *o = req->offer;
	struct session *s;
	struct vm *vm;
	int r;

	if (!o)
		return reply_err(rep, -EINVAL, "OFFER needs an offer.");
	vm = vm_find(o->vm);
	r = check_offer(c, o, vm, fds, rep);
	if (r)
		return r;
	s = session_new(vm, &c->peer);
	if (!s)
		return -ENOMEM;
	offer_take(s, o, fds);
	session_seal_regions(s);
	log_info("session %llu: VM %s offered by pid %d, %u regions, %llu bytes, %u devices, state format %s%s%.0u",
		 (unsigned long long)s->id, vm->name, c->peer.pid, s->nregions,
		 (unsigned long long)s->mem_bytes, s->ndevices,
		 s->format.name[0] ? s->format.name : "unsaid",
		 s->format.name[0] ? " v" : "", s->format.version);
	reply_session(rep, s);
	outbox_session(s);
	return 0;
}
