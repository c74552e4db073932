// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd/domain/worker.c alone, without an event loop (watch_add and watch_del
 * stubbed): a job still at work when migrd stops is waited for and
 * finished (its done() runs, releasing what it holds), and its thread
 * never writes into the closed eventfd, nor into whatever fd took its
 * number afterwards.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "domain.h"

static struct watch *added;

int watch_add(struct watch *w, uint32_t events)
{
	added = w;
	return 0;
}

void watch_del(struct watch *w)
{
	added = NULL;
}

struct slow_job {
	struct job job;
	int worked, done;
};

static void slow_work(struct job *j)
{
	struct slow_job *s = container_of(j, struct slow_job, job);
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	s->worked = 1;
}

static void slow_done(struct job *j)
{
	container_of(j, struct slow_job, job)->done = 1;
}

Test(worker, stopping_waits_for_the_jobs_at_work)
{
	struct slow_job s = { .job = { .work = slow_work, .done = slow_done } };
	struct timespec ts = { 0, 400 * 1000 * 1000 };
	uint64_t n = 0;
	int reused, wake_fd;

	cr_assert_eq(worker_init(), 0);
	cr_assert_not_null(added);
	wake_fd = added->fd;
	cr_assert_eq(worker_run(&s.job), 0);
	worker_fini();
	cr_assert(s.worked, "the job was not waited for");
	cr_assert(s.done, "the job's done() did not run: what it held leaks");
	/* Whatever takes the eventfd's number next must hear nothing. */
	reused = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cr_assert_eq(reused, wake_fd);
	nanosleep(&ts, NULL);
	cr_assert(read(reused, &n, sizeof(n)) < 0 && errno == EAGAIN,
		  "a worker wrote %llu into an fd migrd had closed",
		  (unsigned long long)n);
	close(reused);
}

Test(worker, a_job_after_stopping_is_refused)
{
	struct slow_job s = { .job = { .work = slow_work, .done = slow_done } };

	cr_assert_eq(worker_init(), 0);
	worker_fini();
	cr_assert_eq(worker_run(&s.job), -ENOSYS);
	cr_assert(!s.worked && !s.done);
}
