// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vCPU threads, one per vCPU. Pausing must be prompt and race-free:
 * immediate_exit makes a KVM_RUN that is about to start return at once,
 * and the signal kicks one already inside the guest out of it. The guest
 * is paused once every thread is parked, and runs again once every
 * thread has left its park.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "guest.h"
#include "vmm.h"

#define KICK_SIGNAL SIGUSR2

static void kick_handler(int sig)
{
	(void)sig;
}

static void read_report(struct vmm *v)
{
	const volatile uint64_t *mb = (const volatile uint64_t *)v->mem;
	struct report r = {
		.counter = mb[MB_REP_COUNTER / 8],
		.checksum = mb[MB_REP_SUM / 8],
		.ok = mb[MB_OK / 8],
		.reports = mb[MB_REPORTS / 8],
	};

	pthread_mutex_lock(&v->lock);
	v->last = r;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (v->verbose)
		printf("report counter=%" PRIu64 " checksum=0x%016" PRIx64
		       " ok=%" PRIu64 "\n", r.counter, r.checksum, r.ok);
	console_report(v, &r);
}

static void read_ap(struct vmm *v, unsigned int id)
{
	const volatile uint64_t *mb = (const volatile uint64_t *)
		(v->mem + AP_MB + id * AP_MB_SIZE);

	pthread_mutex_lock(&v->lock);
	v->ap[id] = (struct ap_report){
		.counter = mb[AP_REP_COUNTER / 8],
		.ok = mb[AP_OK / 8],
		.reports = mb[AP_REPORTS / 8],
	};
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/* Park here while a pause is requested; false once told to quit. */
static bool park(struct vcpu *c)
{
	struct vmm *v = c->v;

	pthread_mutex_lock(&v->lock);
	v->parked++;
	pthread_cond_broadcast(&v->cond);
	while (atomic_load(&v->pause_req) && !v->quit)
		pthread_cond_wait(&v->cond, &v->lock);
	v->parked--;
	/* When the guest runs again, seen from the threads that run it:
	 * the last one out writes the latest time. */
	v->resumed_ns = now_ns();
	c->run->immediate_exit = 0;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return !v->quit;
}

static void read_scan(struct vmm *v)
{
	const volatile uint64_t *mb = (const volatile uint64_t *)v->mem;

	pthread_mutex_lock(&v->lock);
	v->scan_nonzero = mb[MB_SCAN_NONZERO / 8];
	v->scan_words = mb[MB_SCAN_WORDS / 8];
	v->scanned = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static bool handle_exit(struct vcpu *c)
{
	struct kvm_run *run = c->run;
	struct vmm *v = c->v;

	if (run->exit_reason == KVM_EXIT_IO &&
	    run->io.direction == KVM_EXIT_IO_OUT &&
	    run->io.port == REPORT_PORT) {
		uint8_t what = *((uint8_t *)run + run->io.data_offset);

		if (what == REPORT_SCAN && c->id == 0)
			read_scan(v);
		else if (what == REPORT_COUNT && c->id == 0)
			read_report(v);
		else if (what == REPORT_AP && c->id > 0)
			read_ap(v, c->id);
		return true;
	}
	fprintf(stderr, "refvmm: guest stopped: vCPU %u exit reason %u\n",
		c->id, run->exit_reason);
	pthread_mutex_lock(&v->lock);
	v->fault = (int)run->exit_reason;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		if (atomic_load(&c->v->pause_req) && !park(c))
			break;
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("refvmm: KVM_RUN");
			break;
		}
		if (!handle_exit(c))
			break;
	}
	return NULL;
}

int vcpu_start(struct vmm *v)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigaction(KICK_SIGNAL, &sa, NULL);
	for (unsigned int i = 0; i < v->nvcpus; i++) {
		struct vcpu *c = &v->vcpus[i];
		int r = pthread_create(&c->thread, NULL, vcpu_thread, c);

		if (r)
			return -r;
		c->started = true;
	}
	return 0;
}

/*
 * The threads made ahead and parked: a destination does this before the
 * pause, so that resuming the guest is a wake-up, not thread creation
 * (which took up to 4 ms here while the source tore its VM down).
 */
int vcpu_start_parked(struct vmm *v)
{
	int r;

	atomic_store(&v->pause_req, true);
	r = vcpu_start(v);
	pthread_mutex_lock(&v->lock);
	while (!r && v->parked < v->nvcpus && !v->fault)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
	return r;
}

void vcpu_pause(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	atomic_store(&v->pause_req, true);
	for (unsigned int i = 0; i < v->nvcpus; i++)
		v->vcpus[i].run->immediate_exit = 1;
	while (v->parked < v->nvcpus && !v->fault) {
		for (unsigned int i = 0; i < v->nvcpus; i++)
			pthread_kill(v->vcpus[i].thread, KICK_SIGNAL);
		pthread_mutex_unlock(&v->lock);
		/* A kick can land just before KVM_RUN; immediate_exit
		 * covers that, this loop covers a lost signal. */
		nanosleep(&(struct timespec){ .tv_nsec = 20000 }, NULL);
		pthread_mutex_lock(&v->lock);
	}
	pthread_mutex_unlock(&v->lock);
}

void vcpu_resume(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	atomic_store(&v->pause_req, false);
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

uint64_t vcpu_resume_wait(struct vmm *v)
{
	uint64_t t;

	pthread_mutex_lock(&v->lock);
	v->resumed_ns = 0;
	atomic_store(&v->pause_req, false);
	pthread_cond_broadcast(&v->cond);
	while ((v->parked || !v->resumed_ns) && !v->fault && !v->quit)
		pthread_cond_wait(&v->cond, &v->lock);
	t = v->resumed_ns;
	pthread_mutex_unlock(&v->lock);
	return t ? t : now_ns();
}

void vcpu_stop(struct vmm *v)
{
	vcpu_pause(v);
	pthread_mutex_lock(&v->lock);
	v->quit = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	for (unsigned int i = 0; i < v->nvcpus; i++)
		if (v->vcpus[i].started)
			pthread_join(v->vcpus[i].thread, NULL);
}

static void deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

int vcpu_wait_reports(struct vmm *v, uint64_t n, int timeout_ms,
		      struct report *out)
{
	struct timespec ts;
	int r = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&v->lock);
	while (v->last.reports <= n && !v->fault && r == 0)
		r = pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	*out = v->last;
	if (v->fault)
		r = EIO;
	pthread_mutex_unlock(&v->lock);
	return -r;
}

static bool aps_reported(const struct vmm *v, const struct ap_report *before)
{
	for (unsigned int i = 1; i < v->nvcpus; i++)
		if (v->ap[i].reports <= before[i].reports)
			return false;
	return true;
}

int vcpu_wait_aps(struct vmm *v, const struct ap_report *before,
		  int timeout_ms, struct ap_report *out)
{
	struct timespec ts;
	int r = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&v->lock);
	while (!aps_reported(v, before) && !v->fault && r == 0)
		r = pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	memcpy(out, v->ap, sizeof(v->ap));
	if (v->fault)
		r = EIO;
	pthread_mutex_unlock(&v->lock);
	return -r;
}

int vcpu_wait_scan(struct vmm *v, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&v->lock);
	while (!v->scanned && !v->fault && r == 0)
		r = pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	if (v->fault)
		r = EIO;
	pthread_mutex_unlock(&v->lock);
	return -r;
}
