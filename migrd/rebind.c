// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A rebind moves a VM's memory to a new VM identity. Its memory is
 * zeroed, and the zeroing verified, once the source has paused (so no
 * vCPU of the old guest writes into it afterwards) and before any of its
 * fds leaves migrd; the source's VM fd and state never leave at all. On
 * commit the old identity ends and the claimant is registered under a
 * new one, never the old one.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "migrd.h"

int rebind_zero(struct session *s)
{
	uint64_t t0 = mig_mono_ms();

	for (unsigned int i = 0; i < s->nregions; i++) {
		int r = mig_gmem_zero(s->regions[i].fd);

		if (r) {
			log_err("session %llu (VM %s): region %u could not be zeroed: %s; nothing is handed out",
				(unsigned long long)s->id, s->vm_name, i,
				strerror(-r));
			return r;
		}
	}
	s->zeroed = true;
	log_info("session %llu (VM %s): %u regions, %llu bytes zeroed and verified in %llu ms for rebind to %s",
		 (unsigned long long)s->id, s->vm_name, s->nregions,
		 (unsigned long long)s->mem_bytes,
		 (unsigned long long)(mig_mono_ms() - t0), s->grant.new_name);
	return 0;
}

/* The new identity's name may have been taken since the grant. */
int rebind_may_commit(const struct session *s, struct reply *rep)
{
	if (s->grant.kind != GRANT_REBIND)
		return 0;
	return check_new_names(s->grant.new_name, s->grant.new_uuid, rep);
}

/* Called once the session is history: old identity out, new one in. */
void rebind_commit(struct session *s, struct vm *old)
{
	struct client *d = s->dest;
	char why[MIG_NAME_MAX + 64];
	struct vm *vm = NULL;
	int pidfd = d ? dup(d->pidfd) : -1;

	snprintf(why, sizeof(why), "memory rebound to new VM %s",
		 s->grant.new_name);
	vm_destroy(old, why);
	if (pidfd >= 0)
		vm = vm_create(s->grant.new_name, s->grant.new_uuid, pidfd,
			       d->cred.pid, d->cred.uid, d->pid_ino);
	if (!vm) {
		log_err("rebind of session %llu: cannot register %s: %s",
			(unsigned long long)s->id, s->grant.new_name,
			pidfd < 0 ? "destination gone" : "out of memory");
		return;
	}
	migrd.rebinds++;
	log_info("VM %s (%s) registered by rebind from %s (%s): owner pid %d uid %u",
		 vm->name, vm->id, s->vm_name, s->vm_id, d->cred.pid,
		 d->cred.uid);
	event_vm("registered", vm);
}
