// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Work that may take long or block (zeroing a guest's memory, anything on
 * an fd a peer handed us) runs off the event loop, on a thread of its own
 * per job, so that every other client is served meanwhile. A finished job
 * is queued and an eventfd wakes the loop, which runs its done() there:
 * only the loop's thread ever touches migrd's state.
 *
 * The threads are joinable, and joined: on the loop once each reports,
 * and all of them when migrd stops, before the eventfd is closed, so no
 * thread writes into a closed fd (or one that took its number) and every
 * job's done() runs, which releases what the job holds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "domain.h"

/* A job and its thread. */
struct runner {
	struct list_head link;		/* in runners: the loop's only */
	struct list_head done_link;	/* in finished, under lock */
	pthread_t thread;
	struct job *job;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head finished = LIST_HEAD_INIT(finished);
static struct list_head runners = LIST_HEAD_INIT(runners);
static struct watch wake = { .fd = -1 };

static void *run(void *arg)
{
	struct runner *r = arg;
	uint64_t one = 1;

	r->job->work(r->job);
	pthread_mutex_lock(&lock);
	list_add_tail(&r->done_link, &finished);
	pthread_mutex_unlock(&lock);
	/* The fd stays open until this thread is joined. */
	if (write(wake.fd, &one, sizeof(one)) != sizeof(one))
		log_err("worker: cannot wake the event loop: %m");
	return NULL;
}

/* On the loop: the thread has returned or is about to. */
static void reap(struct runner *r)
{
	int err = pthread_join(r->thread, NULL);

	if (err)
		log_err("worker: cannot join a thread: %s", strerror(err));
	list_del(&r->link);
	r->job->done(r->job);
	free(r);
}

static void on_wake(struct watch *w, uint32_t events)
{
	struct list_head done = LIST_HEAD_INIT(done);
	struct runner *r, *tmp;
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&lock);
	list_for_each_entry_safe(r, tmp, &finished, done_link) {
		list_del(&r->done_link);
		list_add_tail(&r->done_link, &done);
	}
	pthread_mutex_unlock(&lock);
	list_for_each_entry_safe(r, tmp, &done, done_link)
		reap(r);
}

int worker_init(void)
{
	wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake.fd < 0)
		return -errno;
	wake.fn = on_wake;
	return watch_add(&wake, EPOLLIN);
}

/* Run j->work() on a thread; j->done() follows on the loop. */
int worker_run(struct job *j)
{
	struct runner *r;
	int err;

	if (wake.fd < 0)
		return -ENOSYS;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->job = j;
	err = pthread_create(&r->thread, NULL, run, r);
	if (err) {
		free(r);
		return -err;
	}
	list_add_tail(&r->link, &runners);
	return 0;
}

/*
 * Stopping: wait for every job still at work (zeroing is bounded by the
 * memory's size), then finish each one here, as the loop would have.
 */
void worker_fini(void)
{
	struct runner *r, *tmp;

	if (wake.fd < 0)
		return;
	list_for_each_entry(r, &runners, link)
		pthread_join(r->thread, NULL);
	list_init(&finished);		/* each one is in runners too */
	list_for_each_entry_safe(r, tmp, &runners, link) {
		list_del(&r->link);
		r->job->done(r->job);
		free(r);
	}
	watch_del(&wake);
	close(wake.fd);
	wake.fd = -1;
}
