// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Integration: a real migrd on a private socket, real guest_memfds from
 * /dev/kvm and real memfds, a source (this process, the registered owner)
 * and a destination (a forked process with its own connection).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

#define SZ (2ULL << 20)
#define SEED 0x5eed
#define BLOB "vcpu-state-blob"
/* After a commit migrd holds a pidfd on the old VMM until it exits. */
#define PER_OLD_VMM 1

static struct daemon d;
static int baseline;

static void start(void)
{
	REQUIRE_ROOT_KVM();
	cr_assert_eq(daemon_start(&d, "offer_timeout = 20s\n"), 0);
	baseline = daemon_baseline(&d);
	cr_assert_geq(baseline, 0);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(handoff, .init = start, .fini = stop, .timeout = 30);

/* Where the destination stops: it dies by SIGKILL there. */
enum step { NONE, AFTER_CLAIM, AFTER_READY, AFTER_TAKE, ABORT_IT };

/* Exit codes of the destination name the step that failed. */
static void dest_main(uint64_t sid, ino_t ino, enum step die, int go)
{
	struct mig_ctx *ctx = connect_as_owner(&d, NULL);
	struct mig_handoff *h;
	struct stat st;
	size_t len;
	void *blob;
	char c;
	uint8_t *p;

	if (!ctx || claim_successor(&d, ctx, "vm1", sid, &h))
		_exit(10);
	if (die == AFTER_CLAIM)
		raise(SIGKILL);
	if (h->nregions != 1 || fstat(h->regions[0].fd, &st) || st.st_ino != ino)
		_exit(11);
	p = map_fd(h->regions[0].fd, h->regions[0].size);
	if (!p || !check_pattern(p, SZ - 4096, SEED))
		_exit(12);
	/* Written here, read by the source: one inode, no copy. */
	memcpy(p + SZ - 4096, "from-dest", 10);
	if (die == ABORT_IT) {
		mig_abort(ctx, sid, "test abort");
		_exit(0);
	}
	if (mig_ready(ctx, sid))
		_exit(13);
	/* Die with the guest paused and its state waiting on the direct
	 * channel: wait for the source's STATE first (without taking it),
	 * or the death could overtake it. */
	if (die == AFTER_READY && mig_wait_readable(ctx->peer, 10000) == 0)
		raise(SIGKILL);
	if (mig_take_state(ctx, sid, &blob, &len) || len != sizeof(BLOB) ||
	    memcmp(blob, BLOB, len))
		_exit(14);
	free(blob);
	if (die == AFTER_TAKE)
		raise(SIGKILL);
	if (mig_commit(ctx, sid))
		_exit(15);
	/* Stay alive as the new owner until the test has looked. */
	if (read(go, &c, 1) < 0)
		_exit(16);
	_exit(0);
}

struct source {
	struct mig_ctx *ctx;
	int vm, fd;
	uint8_t *map;
	ino_t ino;
	uint64_t sid;
};

static void source_offer(struct source *s, enum mig_region_kind kind)
{
	struct mig_region r;
	struct stat st;

	s->ctx = connect_as_owner(&d, "vm1");
	cr_assert_not_null(s->ctx);
	s->vm = make_vm();
	cr_assert_geq(s->vm, 0);
	if (kind == MIG_REGION_GMEM) {
		s->fd = make_gmem(s->vm, SZ);
	} else {
		s->fd = memfd_create("guest-ram", MFD_CLOEXEC);
		cr_assert_eq(ftruncate(s->fd, SZ), 0);
	}
	cr_assert_geq(s->fd, 0);
	s->map = map_fd(s->fd, SZ);
	cr_assert_not_null(s->map);
	fill_pattern(s->map, SZ - 4096, SEED);
	fstat(s->fd, &st);
	s->ino = st.st_ino;
	r = gmem_region(s->fd, SZ);
	r.kind = kind;
	cr_assert_eq(mig_offer(s->ctx, "vm1", &r, 1, s->vm, &s->sid), 0,
		     "offer: %s", mig_last_error(s->ctx));
}

static pid_t fork_dest(struct source *s, enum step die, int *go)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(p[1]);
		dest_main(s->sid, s->ino, die, p[0]);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static int wait_exit(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* migrd answers requests in order, so a status call is a barrier. */
static unsigned int held_fds(struct mig_ctx *ctx)
{
	struct mig_status st;

	cr_assert_eq(mig_status(ctx, &st), 0);
	return st.open_fds;
}

static void full_handoff(enum mig_region_kind kind)
{
	struct source s;
	enum mig_state reached;
	struct mig_list *l;
	int go;
	pid_t dest;

	source_offer(&s, kind);
	dest = fork_dest(&s, NONE, &go);
	cr_assert_eq(mig_wait(s.ctx, s.sid, MIG_STATE_READY, &reached), 0);
	cr_assert_eq(reached, MIG_STATE_READY);
	cr_assert_str_eq((char *)s.map + SZ - 4096, "from-dest",
			 "the destination wrote into the source's memory");
	cr_assert_eq(mig_send_state(s.ctx, s.sid, BLOB, sizeof(BLOB)), 0);
	cr_assert_eq(mig_wait(s.ctx, s.sid, MIG_STATE_COMMITTED, &reached), 0);
	cr_assert_eq(reached, MIG_STATE_COMMITTED);

	cr_assert_eq(mig_show(s.ctx, "vm1", &l), 0);
	cr_assert_eq(l->vms[0].owner_pid, dest, "the destination owns it now");
	cr_assert_eq(l->vms[0].upgrades, 1);
	cr_assert_eq(l->vms[0].session, 0);
	mig_list_free(l);
	cr_assert_eq(held_fds(s.ctx), 0);
	cr_assert_eq(settled_fds(d.pid, baseline + 2 * PER_CLIENT + PER_VM +
				 PER_OLD_VMM),
		     baseline + 2 * PER_CLIENT + PER_VM + PER_OLD_VMM,
		     "only the two connections, the VM's owner and the old VMM (this test, which must exit) remain");
	close(go);
	cr_assert_eq(wait_exit(dest), 0);
	mig_unref(s.ctx);
}

Test(handoff, gmem_offer_claim_commit)
{
	full_handoff(MIG_REGION_GMEM);
}

Test(handoff, memfd_offer_claim_commit)
{
	full_handoff(MIG_REGION_MEMFD);
}

Test(handoff, source_abort_before_claim_releases_everything)
{
	struct source s;
	struct mig_list *l;

	source_offer(&s, MIG_REGION_GMEM);
	cr_assert_eq(held_fds(s.ctx), 2, "gmem and VM fd held while offered");
	cr_assert_eq(mig_abort(s.ctx, s.sid, "changed my mind"), 0);
	cr_assert_eq(held_fds(s.ctx), 0);
	cr_assert_eq(settled_fds(d.pid, baseline + PER_CLIENT + PER_VM),
		     baseline + PER_CLIENT + PER_VM,
		     "only our connection and the VM's owner");
	cr_assert_eq(mig_show(s.ctx, "1", &l), 0);
	cr_assert_eq(l->sessions[0].state, MIG_STATE_ABORTED);
	cr_assert(strstr(l->sessions[0].reason, "changed my mind"));
	mig_list_free(l);
	cr_assert(check_pattern(s.map, SZ - 4096, SEED),
		  "the source's memory is untouched");
	mig_unref(s.ctx);
}

static void dest_fails_at(enum step die, enum mig_state wait_for,
			  int dest_exit)
{
	struct source s;
	enum mig_state reached;
	int go;
	pid_t dest;

	source_offer(&s, MIG_REGION_GMEM);
	dest = fork_dest(&s, die, &go);
	if (wait_for == MIG_STATE_COMMITTED) {
		cr_assert_eq(mig_wait(s.ctx, s.sid, MIG_STATE_READY, NULL), 0);
		cr_assert_eq(mig_send_state(s.ctx, s.sid, BLOB, sizeof(BLOB)),
			     0);
	}
	cr_assert_eq(mig_wait(s.ctx, s.sid, wait_for, &reached), -ECANCELED,
		     "the source learns the handoff is off");
	cr_assert_eq(reached, MIG_STATE_ABORTED);
	close(go);
	cr_assert_eq(wait_exit(dest), dest_exit);
	cr_assert(check_pattern(s.map, SZ - 4096, SEED),
		  "the source still has its memory");
	cr_assert_eq(held_fds(s.ctx), 0);
	cr_assert_eq(settled_fds(d.pid, baseline + PER_CLIENT + PER_VM),
		     baseline + PER_CLIENT + PER_VM,
		     "nothing of the session is left open in migrd");
	mig_unref(s.ctx);
}

Test(handoff, dest_abort_returns_guest_to_source)
{
	dest_fails_at(ABORT_IT, MIG_STATE_READY, 0);
}

Test(handoff, dest_killed_after_claim)
{
	dest_fails_at(AFTER_CLAIM, MIG_STATE_READY, 128 + SIGKILL);
}

Test(handoff, dest_killed_after_ready)
{
	dest_fails_at(AFTER_READY, MIG_STATE_COMMITTED, 128 + SIGKILL);
}

Test(handoff, dest_killed_after_taking_state)
{
	dest_fails_at(AFTER_TAKE, MIG_STATE_COMMITTED, 128 + SIGKILL);
}

Test(handoff, source_dies_during_prepare)
{
	int p[2], q[2];
	uint64_t sid;
	pid_t src;
	struct mig_ctx *ctx;
	struct mig_handoff *h;
	void *blob;
	size_t len;
	char c;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(q), 0);
	src = fork();
	if (src == 0) {
		struct source s;

		source_offer(&s, MIG_REGION_GMEM);
		if (write(p[1], &s.sid, sizeof(s.sid)) != sizeof(s.sid))
			_exit(1);
		if (read(q[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	cr_assert_eq(read(p[0], &sid, sizeof(sid)), sizeof(sid));
	ctx = connect_as_owner(&d, NULL);
	cr_assert_eq(claim_successor(&d, ctx, "vm1", sid, &h), 0);
	kill(src, SIGKILL);
	waitpid(src, NULL, 0);
	cr_assert_eq(mig_take_state(ctx, sid, &blob, &len), -ECANCELED);
	cr_assert(strstr(mig_last_error(ctx), "aborted"),
		  "a clear error: %s", mig_last_error(ctx));
	mig_handoff_free(h);
	cr_assert_eq(held_fds(ctx), 0);
	cr_assert_eq(settled_fds(d.pid, baseline + PER_CLIENT),
		     baseline + PER_CLIENT,
		     "the VM went with its owner; only our connection is left");
	mig_unref(ctx);
}

Test(handoff, offered_session_times_out)
{
	struct daemon quick;
	struct daemon keep = d;
	struct source s;
	struct mig_list *l;

	cr_assert_eq(daemon_start(&quick, "offer_timeout = 200ms\n"), 0);
	d = quick;
	source_offer(&s, MIG_REGION_GMEM);
	cr_assert_eq(mig_wait(s.ctx, s.sid, MIG_STATE_CLAIMED, NULL),
		     -ECANCELED);
	cr_assert_eq(mig_show(s.ctx, "1", &l), 0);
	cr_assert_eq(l->sessions[0].error, ETIMEDOUT);
	mig_list_free(l);
	mig_unref(s.ctx);
	daemon_stop(&d);
	d = keep;
}

struct waiter {
	struct source *s;
	int ret;
	enum mig_state reached;
};

static void *wait_ready(void *arg)
{
	struct waiter *w = arg;

	w->ret = mig_wait(w->s->ctx, w->s->sid, MIG_STATE_READY, &w->reached);
	return NULL;
}

Test(handoff, shutdown_aborts_open_sessions)
{
	struct source s;
	struct waiter w = { .s = &s };
	pthread_t t;
	int st;

	source_offer(&s, MIG_REGION_GMEM);
	cr_assert_eq(pthread_create(&t, NULL, wait_ready, &w), 0);
	/* Ordering only: let the WAIT reach migrd before the signal does. */
	usleep(200000);
	kill(d.pid, SIGTERM);
	pthread_join(t, NULL);
	cr_assert_eq(w.ret, -ECANCELED, "the source hears the abort, not silence");
	cr_assert_eq(w.reached, MIG_STATE_ABORTED);
	cr_assert_eq(waitpid(d.pid, &st, 0), d.pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a clean exit");
	d.pid = 0;
	cr_assert(check_pattern(s.map, SZ - 4096, SEED));
	mig_unref(s.ctx);
}

Test(handoff, events_follow_the_session)
{
	struct mig_ctx *w = connect_as_owner(&d, NULL);
	struct mig_event ev;
	struct source s;

	cr_assert_eq(mig_subscribe(w), 0);
	source_offer(&s, MIG_REGION_GMEM);
	cr_assert_eq(mig_next_event(w, &ev, 2000), 0);
	cr_assert_str_eq(ev.what, "registered");
	cr_assert_str_eq(ev.vm.name, "vm1");
	cr_assert_eq(mig_next_event(w, &ev, 2000), 0);
	cr_assert(ev.has_session);
	cr_assert_eq(ev.session.state, MIG_STATE_OFFERED);
	cr_assert_eq(mig_abort(s.ctx, s.sid, NULL), 0);
	cr_assert_eq(mig_next_event(w, &ev, 2000), 0);
	cr_assert_eq(ev.session.state, MIG_STATE_ABORTED);
	cr_assert_eq(mig_status(w, &(struct mig_status){ 0 }), -EINVAL,
		     "an event stream takes no requests");
	mig_unref(w);
	mig_unref(s.ctx);
}

Test(handoff, register_by_pidfd_dies_with_its_owner)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	struct mig_ctx *w = connect_as_owner(&d, NULL);
	struct mig_vm_info vm;
	struct mig_event ev;
	int pidfd, memfd = memfd_create("x", MFD_CLOEXEC);
	pid_t child = fork();

	if (child == 0) {
		pause();
		_exit(0);
	}
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	cr_assert_geq(pidfd, 0);
	cr_assert_eq(mig_register(m, "pinned", NULL, 0, memfd, NULL), -EBADF,
		     "a memfd is not a pidfd: %s", mig_last_error(m));
	cr_assert_eq(mig_register(m, "pinned", NULL, 0, pidfd, &vm), 0,
		     "register: %s", mig_last_error(m));
	cr_assert_eq(vm.owner_pid, child, "the pid read from the pidfd");
	cr_assert_eq(mig_subscribe(w), 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	cr_assert_eq(mig_next_event(w, &ev, 5000), 0);
	cr_assert_str_eq(ev.what, "unregistered");
	cr_assert_str_eq(ev.vm.name, "pinned");
	cr_assert_eq(mig_show(m, "pinned", &(struct mig_list *){ NULL }),
		     -ENOENT, "the registration died with its owner");
	close(pidfd);
	mig_unref(w);
	mig_unref(m);
}
