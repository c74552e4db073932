// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ADOPT: a VMM that does not speak libmig (an unmodified QEMU) cannot
 * offer its memory. Management names the fds in its owner's fd table;
 * migrd takes them through the owner's pidfd (pidfd_getfd(2), which the
 * kernel allows only with ptrace rights over the owner) and then treats
 * them exactly as an offer: the same checks, the same session, the same
 * grants and rebind rule. Only root or admin_group may ask, since it
 * reaches into another process.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

struct adopted {
	Mig__Offer offer;		/* the adoption, as an offer */
	Mig__Region regions[MIG_REGIONS_MAX];
	Mig__Region *rp[MIG_REGIONS_MAX];
	Mig__Device devices[MIG_DEVICES_MAX];
	Mig__Device *dp[MIG_DEVICES_MAX];
	int fds[MIG_REGIONS_MAX + MIG_DEVICES_MAX];
	unsigned int nfds;
};

/* The owner's fd number n, taken into ours; its index in a->fds. */
static int take_fd(const struct vm *vm, int32_t n, struct adopted *a,
		   const char *what, const char *name, struct reply *rep)
{
	int fd;

	if (n < 0)
		return reply_err(rep, -EBADF, "%s %s names no fd.", what,
				 name ? name : "?");
	fd = (int)syscall(SYS_pidfd_getfd, vm->owner.fd, n, 0);
	if (fd < 0)
		return reply_err(rep, -errno,
				 "Cannot take fd %d of VM %s's owner pid %d for %s %s: %s.",
				 n, vm->name, vm->owner_pid, what,
				 name ? name : "?", strerror(errno));
	a->fds[a->nfds] = fd;
	return (int)a->nfds++;
}

static int take_all(const struct vm *vm, const Mig__Adopt *m,
		    struct adopted *a, struct reply *rep)
{
	int i;

	/* Two device slots stay free for the migration channel's ends. */
	if (m->n_regions > MIG_REGIONS_MAX ||
	    m->n_devices > MIG_DEVICES_MAX - 2)
		return reply_err(rep, -EINVAL,
				 "An adoption names at most %d regions and %d devices.",
				 MIG_REGIONS_MAX, MIG_DEVICES_MAX - 2);
	mig__offer__init(&a->offer);
	for (size_t k = 0; k < m->n_regions; k++) {
		a->regions[k] = *m->regions[k];
		i = take_fd(vm, m->regions[k]->has_fd ? m->regions[k]->fd : -1,
			    a, "region", m->regions[k]->name, rep);
		if (i < 0)
			return i;
		a->regions[k].fd = i;
		a->rp[k] = &a->regions[k];
	}
	for (size_t k = 0; k < m->n_devices; k++) {
		a->devices[k] = *m->devices[k];
		i = take_fd(vm, m->devices[k]->has_fd ? m->devices[k]->fd : -1,
			    a, "device", m->devices[k]->name, rep);
		if (i < 0)
			return i;
		a->devices[k].fd = i;
		a->dp[k] = &a->devices[k];
	}
	a->offer.vm = m->vm;
	a->offer.n_regions = m->n_regions;
	a->offer.regions = a->rp;
	a->offer.n_devices = m->n_devices;
	a->offer.devices = a->dp;
	a->offer.format = m->format;
	return 0;
}

HANDLER(handle_adopt)
{
	const Mig__Adopt *m = req->adopt;
	struct adopted a = { .nfds = 0 };
	struct session *s;
	struct why why;
	struct vm *vm;
	int r;

	if (!m)
		return reply_err(rep, -EINVAL, "ADOPT needs an adoption.");
	vm = vm_find(m->vm);
	if (!vm)
		return reply_err(rep, -ENOENT, "No VM named %s is registered.",
				 m->vm ? m->vm : "(none)");
	r = session_may_adopt(vm, &why);
	if (r)
		return reply_why(rep, r, &why);
	r = take_all(vm, m, &a, rep);
	if (!r)
		r = offer_check(&a.offer, a.fds, rep);
	if (r) {
		mig_close_fds(a.fds, a.nfds);
		return r;
	}
	s = session_adopt(vm);
	if (!s) {
		mig_close_fds(a.fds, a.nfds);
		return -ENOMEM;
	}
	offer_take(s, &a.offer, a.fds);
	mig_close_fds(a.fds, a.nfds);	/* what offer_take() left */
	session_seal_regions(s);
	log_notice("session %llu: VM %s adopted from owner pid %d by pid %d uid %u: %u regions, %llu bytes, %u devices",
		   (unsigned long long)s->id, vm->name, vm->owner_pid,
		   c->peer.pid, c->peer.uid, s->nregions,
		   (unsigned long long)s->mem_bytes, s->ndevices);
	reply_session(rep, s);
	outbox_session(s);
	return 0;
}
