// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Exactly one side: once a handoff committed, the old VMM must exit. It
 * gets exit_grace to do so (its pidfd turns readable); after that migrd
 * kills it through the pidfd, so that no VMM goes on running a guest that
 * was handed over, whatever it intends.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "domain.h"

struct reaper {
	struct list_head link;
	struct watch w;			/* the old owner's pidfd */
	pid_t pid;
	uint64_t ino, start;		/* who it is, for the journal */
	uint64_t deadline;		/* CLOCK_MONOTONIC ms */
	bool ran_on;			/* said it resumes: no grace */
	char vm_name[MIG_NAME_MAX];
};

static void reaper_free(struct reaper *rp)
{
	watch_del(&rp->w);
	close(rp->w.fd);
	list_del(&rp->link);
	free(rp);
}

static void reaper_exited(struct watch *w, uint32_t events)
{
	struct reaper *rp = container_of(w, struct reaper, w);

	log_debug("VM %s: old VMM pid %d exited after the commit",
		  rp->vm_name, rp->pid);
	reaper_free(rp);
}

/* Watch @pidfd (taken) of the VMM that just handed @vm over. */
int reaper_add(const struct vm *vm, int pidfd, pid_t pid)
{
	struct reaper *rp = calloc(1, sizeof(*rp));
	int r;

	if (!rp) {
		close(pidfd);
		return -ENOMEM;
	}
	rp->w.fd = pidfd;
	rp->w.fn = reaper_exited;
	rp->pid = pid;
	if (mig_pidfd_ino(pidfd, &rp->ino) < 0 || mig_pid_start(pid, &rp->start) < 0)
		rp->ino = rp->start = 0;
	rp->deadline = mig_mono_ms() + migrd.cfg.exit_grace_ms;
	mig_strlcpy(rp->vm_name, vm->name, sizeof(rp->vm_name));
	r = watch_add(&rp->w, EPOLLIN);
	if (r) {
		close(pidfd);
		free(rp);
		return r;
	}
	list_add_tail(&rp->link, &migrd.reapers);
	migrd.dirty = true;
	return 0;
}

static void reap(struct reaper *rp)
{
	int err = syscall(SYS_pidfd_send_signal, rp->w.fd, SIGKILL, NULL, 0) <
		0 ? errno : 0;

	/* ESRCH: it exited just now, before its pidfd was seen readable. */
	if (err == ESRCH)
		log_debug("VM %s: old VMM pid %d exited after the commit",
			  rp->vm_name, rp->pid);
	else if (err)
		log_err("VM %s: cannot kill old VMM pid %d: %s", rp->vm_name,
			rp->pid, strerror(err));
	else if (rp->ran_on)
		log_warn("VM %s: old VMM pid %d resumed the guest after it said GO, beside its successor: killed at once",
			 rp->vm_name, rp->pid);
	else
		log_warn("VM %s: old VMM pid %d still ran %u ms after its guest was handed over: killed",
			 rp->vm_name, rp->pid, migrd.cfg.exit_grace_ms);
	reaper_free(rp);
}

/*
 * The old VMM of a committed handoff says it runs the guest again: two
 * VMMs on one guest's memory. Its grace is over now (the next turn of
 * the loop kills it). 0, or -ESRCH if it is no longer waited for.
 */
int reaper_now(pid_t pid)
{
	struct reaper *rp;

	list_for_each_entry(rp, &migrd.reapers, link)
		if (rp->pid == pid) {
			rp->deadline = 0;
			rp->ran_on = true;
			return 0;
		}
	return -ESRCH;
}

int reaper_timeouts(uint64_t now)
{
	struct reaper *rp, *tmp;
	uint64_t next = UINT64_MAX;

	list_for_each_entry_safe(rp, tmp, &migrd.reapers, link) {
		if (rp->deadline <= now)
			reap(rp);
		else if (rp->deadline < next)
			next = rp->deadline;
	}
	if (next == UINT64_MAX)
		return -1;
	return ms_until(next, now);
}

/* Stopping: the journal has them; the next migrd gives a new grace. */
void reaper_fini(void)
{
	struct reaper *rp, *tmp;

	list_for_each_entry_safe(rp, tmp, &migrd.reapers, link)
		reaper_free(rp);
}

void reaper_journal(FILE *f)
{
	struct reaper *rp;

	list_for_each_entry(rp, &migrd.reapers, link)
		fprintf(f, "reap %d %" PRIu64 " %" PRIu64 " %s\n", rp->pid,
			rp->ino, rp->start, rp->vm_name);
}

/* A "reap" line: watch that process again if it is still the same. */
void reaper_load(const char *line, int (*repin)(pid_t, uint64_t, uint64_t))
{
	struct vm dummy = { 0 };
	uint64_t ino, start;
	int pid, pidfd;

	if (sscanf(line, "reap %d %" SCNu64 " %" SCNu64 " %63s", &pid, &ino,
		   &start, dummy.name) != 4)
		return;
	pidfd = repin(pid, ino, start);
	if (pidfd >= 0 && reaper_add(&dummy, pidfd, pid) == 0)
		log_notice("VM %s: old VMM pid %d must still exit after its handover",
			   dummy.name, pid);
}
