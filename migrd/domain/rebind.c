// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A rebind moves a VM's memory to a new VM identity. Memory reaches the
 * new identity only when nobody else can reach it: the source paused,
 * sent its state and was told to exit; once its process has exited, a
 * worker checks that no process but migrd holds or maps the memory, and
 * only then zeroes it and verifies the zeroing (guest_memfd) or puts
 * fresh memory in its place (memfd: nothing of the old pages is left to
 * reach at all). The source's VM fd and state never leave migrd. On
 * commit the old identity ends and the claimant is registered under a
 * new one, never the old one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/memfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"

struct zero_job {
	struct job job;
	uint64_t session;
	unsigned int n;
	int fds[MIG_REGIONS_MAX];
	bool memfd[MIG_REGIONS_MAX];
	int fresh[MIG_REGIONS_MAX];	/* memfd: the replacement */
	uint64_t need[MIG_REGIONS_MAX];	/* its size: the region's end */
	int err;
	unsigned int failed;		/* the region that could not be */
	struct holder holder;		/* -EBUSY: who still has it */
	uint64_t ms;
};

/*
 * An empty memfd like fd: the size the region needs (whatever the source
 * did to its own since), the same page size, sealed against shrinking.
 */
static int fresh_memfd(int fd, uint64_t need)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	struct statfs sfs;
	struct stat st;
	int nfd;

	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
		return -errno;
	if (sfs.f_type == HUGETLBFS_MAGIC)
		flags |= MFD_HUGETLB |
			((unsigned int)__builtin_ctzl((unsigned long)st.st_blksize)
			 << MFD_HUGE_SHIFT);
	nfd = memfd_create("migrd-rebind", flags);
	if (nfd < 0)
		return -errno;
	if (ftruncate(nfd, (off_t)need) < 0 ||
	    fcntl(nfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		int r = -errno;

		close(nfd);
		return r;
	}
	return nfd;
}

/*
 * Nobody but migrd may hold or map any gmem region, from here on. A memfd
 * region is not handed out at all (fresh memory takes its place), so who
 * still holds the old one reaches nothing of the new identity's.
 */
static int nobody_else(struct zero_job *z)
{
	struct stat st[MIG_REGIONS_MAX];
	unsigned int map[MIG_REGIONS_MAX], n = 0;
	int r;

	for (unsigned int i = 0; i < z->n; i++) {
		if (z->memfd[i])
			continue;
		if (fstat(z->fds[i], &st[n]) < 0)
			return -errno;
		map[n++] = i;
	}
	if (!n)
		return 0;
	r = holders_find(st, n, getpid(), &z->holder);
	if (r > 0) {
		z->failed = map[z->holder.file];
		return -EBUSY;
	}
	return r;
}

/*
 * Regions on one memfd (RAM split around a hole, at two offsets) get one
 * fresh memfd between them too, so the new VM sees the layout it was
 * given: the first such region's, grown to the furthest region's end.
 * Returns that region's index, i itself for the first.
 */
static unsigned int first_on_file(struct zero_job *z, unsigned int i,
				  const struct stat *st)
{
	for (unsigned int k = 0; k < i; k++) {
		if (!z->memfd[k] || st[k].st_ino != st[i].st_ino ||
		    st[k].st_dev != st[i].st_dev)
			continue;
		if (z->need[i] > z->need[k])
			z->need[k] = z->need[i];
		return k;
	}
	return i;
}

/* Fresh memfds for the memfd regions, one per file. */
static int fresh_memfds(struct zero_job *z)
{
	struct stat st[MIG_REGIONS_MAX];
	unsigned int first[MIG_REGIONS_MAX];

	for (unsigned int i = 0; i < z->n; i++) {
		if (!z->memfd[i])
			continue;
		if (fstat(z->fds[i], &st[i]) < 0)
			return -errno;
		first[i] = first_on_file(z, i, st);
	}
	for (unsigned int i = 0; i < z->n; i++) {
		if (!z->memfd[i])
			continue;
		z->failed = i;
		z->fresh[i] = first[i] == i ?
			fresh_memfd(z->fds[i], z->need[i]) :
			fcntl(z->fresh[first[i]], F_DUPFD_CLOEXEC, 0);
		if (z->fresh[i] < 0)
			return first[i] == i ? z->fresh[i] : -errno;
	}
	return 0;
}

static void zero_work(struct job *j)
{
	struct zero_job *z = container_of(j, struct zero_job, job);
	uint64_t t0 = mig_mono_ms();

	z->err = nobody_else(z);
	if (!z->err)
		z->err = fresh_memfds(z);
	for (unsigned int i = 0; i < z->n && !z->err; i++) {
		z->failed = i;
		if (!z->memfd[i])
			z->err = mig_gmem_zero(z->fds[i]);
	}
	z->ms = mig_mono_ms() - t0;
}

/* Why nothing is handed out, in the log and as the session's reason. */
static void zero_failed(const struct session *s, const struct zero_job *z,
			char *why, size_t len)
{
	const struct holder *h = &z->holder;

	if (z->err == -EBUSY)
		snprintf(why, len, "pid %d still %s region %u; the rebind is refused",
			 h->pid, h->mapped ? "maps" : "holds", z->failed);
	else if (h->pid)
		snprintf(why, len, "cannot tell whether pid %d holds the memory: %s; the rebind is refused",
			 h->pid, strerror(-z->err));
	else
		snprintf(why, len, "region %u could not be zeroed: %s; the rebind is refused",
			 z->failed, strerror(-z->err));
	log_warn("session %llu (VM %s): %s", (unsigned long long)s->id,
		 s->vm_name, why);
}

/* The fresh memfds take the old ones' places in the session. */
static void zero_swap(struct session *s, struct zero_job *z)
{
	for (unsigned int i = 0; i < z->n; i++) {
		if (!z->memfd[i] || s->regions[i].fd < 0)
			continue;
		close(s->regions[i].fd);
		s->regions[i].fd = z->fresh[i];
		z->fresh[i] = -1;
	}
}

static void zero_done(struct job *j)
{
	struct zero_job *z = container_of(j, struct zero_job, job);
	struct session *s = session_find(z->session, false);
	char why[MIG_REASON_MAX] = "";

	if (s && s->zero == ZERO_RUNNING) {
		if (z->err) {
			zero_failed(s, z, why, sizeof(why));
		} else {
			zero_swap(s, z);
			log_info("session %llu (VM %s): nobody else holds its memory; %u regions, %llu bytes zeroed and verified in %llu ms for rebind to %s",
				 (unsigned long long)s->id, s->vm_name,
				 s->nregions, (unsigned long long)s->mem_bytes,
				 (unsigned long long)z->ms, s->grant.new_name);
		}
		session_zeroed(s, z->err, why);
	}
	mig_close_fds(z->fds, z->n);
	for (unsigned int i = 0; i < z->n; i++)
		mig_close_fds(&z->fresh[i], 1);
	free(z);
}

/*
 * Check and zero on a worker: gigabytes take seconds, and everybody else
 * is served meanwhile. The worker has fds of its own, so whatever
 * happens to the session, it never touches a closed or reused fd.
 */
static int zero_start(struct session *s)
{
	struct zero_job *z = calloc(1, sizeof(*z));
	int r = -ENOMEM;

	if (!z)
		return r;
	z->job.work = zero_work;
	z->job.done = zero_done;
	z->session = s->id;
	for (unsigned int i = 0; i < s->nregions; i++) {
		z->fresh[i] = -1;
		z->memfd[i] = s->regions[i].kind == MIG_REGION_MEMFD;
		z->need[i] = s->regions[i].offset + s->regions[i].size;
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
	session_set_deadline(s);
	return 0;
fail:
	mig_close_fds(z->fds, z->n);
	free(z);
	return r;
}

static void source_exited(struct watch *w, uint32_t events)
{
	struct session *s = container_of(w, struct session, source_proc);
	int r;

	(void)events;
	watch_del(w);
	s->source_watched = false;
	log_info("session %llu (VM %s): the source pid %d exited; checking that nobody else holds the memory",
		 (unsigned long long)s->id, s->vm_name, s->source_pid);
	r = zero_start(s);
	if (r)
		session_zeroed(s, r, "memory could not be checked for a rebind");
}

/*
 * The source of a rebind paused and sent its state: it is told to exit
 * (its WAIT answers EOWNERDEAD), and the memory moves on once it has.
 * Should it stay, the switch timeout aborts the rebind with nothing
 * handed out.
 */
int rebind_await_source(struct session *s)
{
	int r;

	if (s->source_proc.fd < 0)
		return -ESRCH;
	s->source_proc.fn = source_exited;
	r = watch_add(&s->source_proc, EPOLLIN);
	if (r)
		return r;
	s->source_watched = true;
	s->zero = ZERO_AWAIT_EXIT;
	return 0;
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
