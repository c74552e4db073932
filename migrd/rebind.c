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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"

struct zero_job {
	struct job job;
	uint64_t session;
	unsigned int n;
	int fds[MIG_REGIONS_MAX];
	int err;
	unsigned int failed;		/* the region that could not be */
	uint64_t ms;
};

static void zero_work(struct job *j)
{
	struct zero_job *z = container_of(j, struct zero_job, job);
	uint64_t t0 = mig_mono_ms();

	for (unsigned int i = 0; i < z->n && !z->err; i++) {
		z->err = mig_gmem_zero(z->fds[i]);
		z->failed = i;
	}
	z->ms = mig_mono_ms() - t0;
}

static void zero_done(struct job *j)
{
	struct zero_job *z = container_of(j, struct zero_job, job);
	struct session *s = session_find(z->session, false);

	mig_close_fds(z->fds, z->n);
	if (!s || s->zero != ZERO_RUNNING) {
		free(z);
		return;
	}
	if (z->err)
		log_err("session %llu (VM %s): region %u could not be zeroed: %s; nothing is handed out",
			(unsigned long long)s->id, s->vm_name, z->failed,
			strerror(-z->err));
	else
		log_info("session %llu (VM %s): %u regions, %llu bytes zeroed and verified in %llu ms for rebind to %s",
			 (unsigned long long)s->id, s->vm_name, s->nregions,
			 (unsigned long long)s->mem_bytes,
			 (unsigned long long)z->ms, s->grant.new_name);
	session_zeroed(s, z->err);
	free(z);
}

/*
 * Zero the memory on a worker: gigabytes take seconds, and everybody
 * else is served meanwhile. The worker has fds of its own, so whatever
 * happens to the session, it never touches a closed or reused fd.
 */
int rebind_zero_start(struct session *s)
{
	struct zero_job *z = calloc(1, sizeof(*z));
	int r = -ENOMEM;

	if (!z)
		return r;
	z->job.work = zero_work;
	z->job.done = zero_done;
	z->session = s->id;
	for (unsigned int i = 0; i < s->nregions; i++) {
		z->fds[i] = fcntl(s->regions[i].fd, F_DUPFD_CLOEXEC, 0);
		if (z->fds[i] < 0) {
			r = -errno;
			goto fail;
		}
		z->n++;
	}
	r = worker_run(&z->job);
	if (r)
		goto fail;
	s->zero = ZERO_RUNNING;
	return 0;
fail:
	mig_close_fds(z->fds, z->n);
	free(z);
	return r;
}

/* The new identity's name may have been taken since the grant. */
int rebind_may_commit(const struct session *s, struct why *w)
{
	if (s->grant.kind != GRANT_REBIND)
		return 0;
	return check_new_names(s->grant.new_name, s->grant.new_uuid, w);
}

/*
 * Called once the session is history: old identity out, new one in,
 * owned by the destination process (pidfd, taken).
 */
void rebind_commit(struct session *s, struct vm *old, int pidfd)
{
	char why[MIG_NAME_MAX + 64];
	struct vm *vm = NULL;

	snprintf(why, sizeof(why), "memory rebound to new VM %s",
		 s->grant.new_name);
	vm_destroy(old, why);
	if (pidfd >= 0)
		vm = vm_create(s->grant.new_name, s->grant.new_uuid, pidfd,
			       s->dest_pid, s->dest_uid, s->dest_ino);
	if (!vm) {
		log_err("rebind of session %llu: cannot register %s: %s",
			(unsigned long long)s->id, s->grant.new_name,
			pidfd < 0 ? "destination gone" : "out of memory");
		return;
	}
	vm->owner_start = s->dest_start;
	migrd.rebinds++;
	log_info("VM %s (%s) registered by rebind from %s (%s): owner pid %d uid %u",
		 vm->name, vm->id, s->vm_name, s->vm_id, s->dest_pid,
		 s->dest_uid);
	outbox_vm("registered", vm);
}
