// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Limits instead of spins and hangs: a user who opens connection after
 * connection is capped and root still gets in; a migrd out of fds pauses
 * accepting instead of spinning and serves again once fds are free; a
 * migrd that stops answering is a clear error in libmig, not a hang.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

#define NOBODY 65534
#define UID_CAP 8

static struct daemon d;

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(limits, .fini = stop);

struct tally {
	int connected;
	int err;
	char msg[128];
};

/* As nobody: connect until refused, keep every connection open. */
static void connect_as_nobody(int report)
{
	struct tally t = { 0 };

	if (setgid(NOBODY) || setuid(NOBODY))
		_exit(1);
	for (int i = 0; i < 4 * UID_CAP; i++) {
		struct mig_ctx *ctx = mig_new();
		int r = mig_connect(ctx, d.sock);

		if (r) {
			t.err = -r;
			snprintf(t.msg, sizeof(t.msg), "%s", mig_last_error(ctx));
			break;
		}
		t.connected++;
	}
	if (write(report, &t, sizeof(t)) != sizeof(t))
		_exit(1);
	pause();
	_exit(0);
}

Test(limits, a_user_is_capped_root_gets_in)
{
	struct mig_status st;
	struct mig_ctx *ctx;
	struct tally t;
	int p[2];
	pid_t pid;

	cr_assert_eq(daemon_start(&d, "socket_mode = 0666\nmax_clients_per_uid = 8\n"), 0);
	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		connect_as_nobody(p[1]);
	cr_assert_eq(read(p[0], &t, sizeof(t)), sizeof(t));
	cr_expect_eq(t.connected, UID_CAP, "nobody got %d connections",
		     t.connected);
	cr_expect_eq(t.err, EUSERS, "refused with %s", strerror(t.err));
	cr_expect(strstr(t.msg, "max_clients_per_uid"), "a clear error: %s",
		  t.msg);
	/* The counterpart: with nobody at its cap, root is served. */
	ctx = mig_new();
	cr_assert_eq(mig_connect(ctx, d.sock), 0);
	cr_expect_eq(mig_status(ctx, &st), 0);
	cr_expect_geq(st.clients, UID_CAP + 1);
	mig_unref(ctx);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* utime + stime of a process, in clock ticks. */
static unsigned long long cpu_ticks(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			       &ut, &st);
	}
	fclose(f);
	return ut + st;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

Test(limits, out_of_fds_pauses_instead_of_spinning)
{
	struct rlimit low = { 48, 48 };
	unsigned long long t0, t1;
	struct mig_status st;
	struct mig_ctx *ctx;
	int fds[96], n = 0;

	/* A running migrd down to 48 fds; root is exempt from the caps. */
	cr_assert_eq(daemon_start(&d, NULL), 0);
	cr_assert_eq(prlimit(d.pid, RLIMIT_NOFILE, &low, NULL), 0);
	for (int i = 0; i < 96; i++) {
		int fd = raw_connect(d.sock);

		if (fd >= 0)
			fds[n++] = fd;
	}
	cr_assert_gt(n, 48, "only %d connections made it to the backlog", n);
	usleep(200000);
	t0 = cpu_ticks(d.pid);
	sleep(1);
	t1 = cpu_ticks(d.pid);
	cr_expect_lt(t1 - t0, 20, "migrd used %llu ticks in 1 s with no fds left",
		     t1 - t0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* The counterpart: with fds free again, migrd serves. */
	ctx = mig_new();
	cr_assert_eq(mig_connect(ctx, d.sock), 0);
	cr_expect_eq(mig_status(ctx, &st), 0);
	mig_unref(ctx);
}

Test(limits, a_hung_migrd_is_a_clear_error)
{
	struct mig_status st;
	struct mig_ctx *ctx;
	uint64_t t0, ms;
	int r;

	cr_assert_eq(daemon_start(&d, NULL), 0);
	ctx = mig_new();
	cr_assert_eq(mig_connect(ctx, d.sock), 0);
	cr_assert_eq(mig_set_timeout(ctx, 300), 0);
	cr_expect_eq(mig_set_timeout(ctx, 0), -EINVAL);
	cr_expect_eq(mig_status(ctx, &st), 0, "answers while it runs");
	kill(d.pid, SIGSTOP);
	t0 = mig_mono_ms();
	r = mig_status(ctx, &st);
	ms = mig_mono_ms() - t0;
	kill(d.pid, SIGCONT);
	cr_expect_eq(r, -ETIMEDOUT, "a stopped migrd: %s", strerror(-r));
	cr_expect(ms >= 250 && ms < 3000, "gave up after %llu ms",
		  (unsigned long long)ms);
	cr_expect(strstr(mig_last_error(ctx), "did not answer"), "%s",
		  mig_last_error(ctx));
	cr_expect_eq(mig_status(ctx, &st), -ENOTCONN,
		     "the connection is closed, no late answer can mix in");
	mig_unref(ctx);
	ctx = mig_new();
	cr_assert_eq(mig_connect(ctx, d.sock), 0);
	cr_expect_eq(mig_status(ctx, &st), 0, "a new connection is served");
	mig_unref(ctx);
}

/*
 * More VMs than one message holds: LIST comes in pages, and mig_list()
 * (what migctl list uses) puts them together, every VM once, in order.
 */
#define MANY_VMS 3000

Test(limits, list_pages_past_one_message)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;
	struct mig_ctx *ctx;
	struct mig_list *l;
	char name[32];
	unsigned int in_order = 0;

	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, NULL), 0);
	ctx = mig_new();
	cr_assert_eq(mig_connect(ctx, d.sock), 0);
	for (int i = 0; i < MANY_VMS; i++) {
		snprintf(name, sizeof(name), "vm-%d", i);
		cr_assert_eq(mig_register(ctx, name, NULL, getpid(), -1, NULL),
			     0, "%s: %s", name, mig_last_error(ctx));
	}
	/* One raw LIST: a first page only, with where to go on from. */
	req.kind = MIG__KIND__LIST;
	cr_assert_eq(mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL), 0);
	cr_expect_lt(resp->n_vms, MANY_VMS, "all %zu VMs in one message?",
		     resp->n_vms);
	cr_expect_not_null(resp->next, "a cursor for the next page");
	mig__response__free_unpacked(resp, NULL);
	cr_assert_eq(mig_list(ctx, &l), 0, "%s", mig_last_error(ctx));
	cr_expect_eq(l->nvms, MANY_VMS);
	for (unsigned int i = 0; i < l->nvms; i++) {
		snprintf(name, sizeof(name), "vm-%u", i);
		in_order += !strcmp(l->vms[i].name, name);
	}
	cr_expect_eq(in_order, MANY_VMS, "%u of %u VMs where they belong",
		     in_order, MANY_VMS);
	mig_list_free(l);
	mig_unref(ctx);
}

/*
 * A watcher that stops reading (migctl watch stopped with ^Z) is not
 * dropped: when it reads again it drains what was queued, hears how many
 * events it missed (-EOVERFLOW, once) and the stream goes on.
 */
static unsigned int drain(struct mig_ctx *w)
{
	struct mig_event ev;
	unsigned int n = 0;

	while (mig_next_event(w, &ev, 0) == 0)
		n++;
	return n;
}

Test(limits, a_slow_watcher_is_told_not_dropped)
{
	struct mig_ctx *m, *w;
	struct mig_event ev;
	unsigned int queued;
	int r;

	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, NULL), 0);
	m = mig_new();
	w = mig_new();
	cr_assert_eq(mig_connect(m, d.sock), 0);
	cr_assert_eq(mig_connect(w, d.sock), 0);
	cr_assert_eq(mig_subscribe(w), 0);
	/* It keeps up: every event, no overrun. */
	cr_assert_eq(mig_register(m, "one", NULL, getpid(), -1, NULL), 0);
	cr_expect_eq(mig_next_event(w, &ev, 5000), 0);
	cr_expect_str_eq(ev.what, "registered");
	/* It stops reading while thousands of events happen. */
	for (int i = 0; i < 3000; i++) {
		cr_assert_eq(mig_unregister(m, "one"), 0);
		cr_assert_eq(mig_register(m, "one", NULL, getpid(), -1, NULL), 0);
	}
	/* A round trip: migrd has sent (or counted) every event by now. */
	cr_assert_eq(mig_status(m, &(struct mig_status){ 0 }), 0);
	queued = drain(w);
	cr_expect_lt(queued, 6000, "all %u events fit: nothing was lost", queued);
	/* The next event: first the overrun, then the event itself. */
	cr_assert_eq(mig_unregister(m, "one"), 0);
	r = mig_next_event(w, &ev, 5000);
	cr_expect_eq(r, -EOVERFLOW, "told it fell behind: %d", r);
	cr_expect(strstr(mig_last_error(w), "were lost"), "%s",
		  mig_last_error(w));
	cr_expect_eq(mig_next_event(w, &ev, 5000), 0, "and not dropped");
	cr_expect_str_eq(ev.what, "unregistered");
	mig_unref(w);
	mig_unref(m);
}
