// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's life: set up (limits, state, loop, signals, the worker,
 * the socket, process events, the journal), run the loop one event at a
 * time, and shut down leaving every source with its guest.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "transport.h"

struct server server;

/* As many fds as we may: each client, session and owner holds some. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the fd limit: %m");
	}
}

/* How processes are told apart here: pidfs, or pid and start time. */
static void say_identity(void)
{
	int self = mig_pidfd_open(getpid());

	if (self >= 0 && !mig_have_pidfs(self))
		log_notice("no pidfs (Linux before 6.9): processes are told apart by pid and start time, checked against their pidfds");
	if (self >= 0)
		close(self);
}

int server_init(void)
{
	int r;

	migrd_state_init();
	list_init(&server.clients);
	raise_fd_limit();
	server.listener.fd = server.signals.fd = -1;
	if (migrd.cfg.admin_group[0]) {
		r = lookup_group(migrd.cfg.admin_group, &server.admin_gid);
		if (r)
			return r;
		server.have_admin_gid = true;
	}
	say_identity();
	r = loop_init();
	if (!r)
		r = signals_setup();
	if (!r)
		r = worker_init();
	if (!r)
		r = listener_setup();
	if (!r && procmon_init() < 0)
		log_warn("process events unavailable (needs CAP_NET_ADMIN): an owner that execs keeps its registration until it exits");
	if (r)
		return r;
	/* Ours only now that we listen: never touch another migrd's. */
	journal_set_path();
	/* journal_load() returns the error: errno is long overwritten. */
	r = journal_load();
	if (r < 0)
		log_warn("cannot read the journal %s: %s; starting empty",
			 migrd.state_file, strerror(-r));
	journal_save();
	return 0;
}

static int earliest(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/*
 * One event, at most max_ms away (-1: until the next deadline), and
 * what it changed told. The number of events handled (0 or 1), or a
 * negative errno.
 */
int server_step(int max_ms)
{
	uint64_t now = mig_mono_ms();
	int timeout = earliest(session_timeouts(now), reaper_timeouts(now));
	int n;

	timeout = earliest(timeout, accept_timeout(now));
	deliver();
	if (max_ms >= 0 && (timeout < 0 || timeout > max_ms))
		timeout = max_ms;
	n = loop_run_one(timeout);
	deliver();
	return n;
}

int server_run(void)
{
	int r = 0;

	log_notice("migrd %s listening on %s", PACKAGE_VERSION,
		   migrd.cfg.socket);
	while (!migrd.stopping && r >= 0)
		r = server_step(activation_watchdog(mig_mono_ms()));
	return r < 0 ? r : 0;
}

/*
 * Shutting down aborts every open session before the clients go, so each
 * source hears "aborted" and keeps running its guest.
 */
void server_fini(void)
{
	struct client *c, *tmp;

	sessions_stop();
	migrd.dirty = true;
	deliver();
	sessions_fini();
	list_for_each_entry_safe(c, tmp, &server.clients, link)
		client_free(c);
	reaper_fini();
	registry_fini();
	procmon_fini();
	worker_fini();
	if (server.listener.fd >= 0)
		close(server.listener.fd);
	sockpath_release();
	if (server.signals.fd >= 0)
		close(server.signals.fd);
	loop_fini();
}
