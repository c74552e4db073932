// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Work that may take long or block (zeroing a guest's memory, anything on
 * an fd a peer handed us) runs off the event loop, on a thread of its own
 * per job, so that every other client is served meanwhile. A finished job
 * is queued and an eventfd wakes the loop, which runs its done() there:
 * only the loop's thread ever touches migrd's state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "domain.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head finished = LIST_HEAD_INIT(finished);
static struct watch wake = { .fd = -1 };

static void *run(void *arg)
{
	struct job *j = arg;
	uint64_t one = 1;

	j->work(j);
	pthread_mutex_lock(&lock);
	list_add_tail(&j->link, &finished);
	pthread_mutex_unlock(&lock);
	if (write(wake.fd, &one, sizeof(one)) != sizeof(one))
		log_err("worker: cannot wake the event loop: %m");
	return NULL;
}

static void on_wake(struct watch *w, uint32_t events)
{
	struct list_head done = LIST_HEAD_INIT(done);
	struct job *j, *tmp;
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&lock);
	list_for_each_entry_safe(j, tmp, &finished, link) {
		list_del(&j->link);
		list_add_tail(&j->link, &done);
	}
	pthread_mutex_unlock(&lock);
	list_for_each_entry_safe(j, tmp, &done, link) {
		list_del(&j->link);
		j->done(j);
	}
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
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (wake.fd < 0)
		return -ENOSYS;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, run, j);
	pthread_attr_destroy(&attr);
	return -r;
}

void worker_fini(void)
{
	if (wake.fd < 0)
		return;
	watch_del(&wake);
	close(wake.fd);
	wake.fd = -1;
}
