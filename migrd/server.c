// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The listening socket, the epoll loop, and the life of a client
 * connection: who it is (SO_PEERCRED, pinned by a pidfd), reading one
 * request per datagram, dispatching it, and sending the reply.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "handlers.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

struct migrd migrd;

static uint8_t rxbuf[MIG_MSG_MAX];

static void deliver(void);

int watch_add(struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (epoll_ctl(migrd.epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -errno;
	return 0;
}

void watch_del(struct watch *w)
{
	if (w->fd >= 0)
		epoll_ctl(migrd.epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

void reply_init(struct reply *rep, Mig__Kind kind)
{
	memset(rep, 0, sizeof(*rep));
	mig__response__init(&rep->resp);
	rep->resp.has_kind = true;
	rep->resp.kind = kind;
}

/* Errors echo what a peer sent (a name it asked for): escaped, always. */
int reply_err(struct reply *rep, int err, const char *fmt, ...)
{
	char raw[sizeof(rep->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	mig_escape(rep->msg, sizeof(rep->msg), raw);
	rep->resp.has_error = true;
	rep->resp.error = (uint32_t)-err;
	rep->resp.message = rep->msg;
	return err;
}

int reply_why(struct reply *rep, int err, const struct why *w)
{
	return reply_err(rep, err, "%s", w->msg);
}

void client_peer(const struct client *c, struct peer *p)
{
	p->id = c->id;
	p->pid = c->cred.pid;
	p->uid = c->cred.uid;
	p->ino = c->pid_ino;
	p->pidfd = c->pidfd;
	p->admin = c->admin;
}

/*
 * A reply that cannot be queued means the peer stopped reading; it cannot
 * be served any more. Shut the socket so the loop sees the hangup and
 * cleans up through the one path every dead client takes.
 */
int client_try_send(struct client *c, struct reply *rep)
{
	int r = mig_send_response(c->w.fd, &rep->resp, rep->fds, rep->nfds);

	mig_close_fds(rep->fds, rep->nfds);
	rep->nfds = 0;
	free(rep->heap);
	rep->heap = NULL;
	if (r && r != -EAGAIN) {
		log_info("client %llu (pid %d): cannot send: %s; dropping it",
			 (unsigned long long)c->id, c->cred.pid, strerror(-r));
		shutdown(c->w.fd, SHUT_RDWR);
	}
	return r;
}

void client_send(struct client *c, struct reply *rep)
{
	/* A reply that does not fit: the peer stopped reading it. */
	if (client_try_send(c, rep) == -EAGAIN) {
		log_info("client %llu (pid %d): its socket is full; dropping it",
			 (unsigned long long)c->id, c->cred.pid);
		shutdown(c->w.fd, SHUT_RDWR);
	}
}

static int handle_hello(struct client *c, Mig__Request *req, int *fds,
			unsigned int nfds, struct reply *rep)
{
	static char server[] = "migrd " PACKAGE_VERSION;

	if (!req->hello || !req->hello->has_version)
		return reply_err(rep, -EINVAL, "HELLO needs a version.");
	if (req->hello->version < 1)
		return reply_err(rep, -EPROTO,
				 "Protocol version %u is not supported.",
				 req->hello->version);
	c->hello = true;
	mig__hello_reply__init(&rep->hello);
	rep->hello.has_version = rep->hello.has_features = true;
	rep->hello.version = MIG_PROTOCOL_VERSION;
	rep->hello.features = 0;
	rep->hello.server = server;
	rep->resp.hello = &rep->hello;
	log_debug("client %llu: hello from %s (pid %d uid %u)",
		  (unsigned long long)c->id,
		  req->hello->client ? req->hello->client : "?",
		  c->cred.pid, c->cred.uid);
	return 0;
}

static const struct handler {
	handler_fn fn;
	bool admin;			/* management operation */
} handlers[] = {
	[MIG__KIND__HELLO]	= { handle_hello },
	[MIG__KIND__REGISTER]	= { handle_register, true },
	[MIG__KIND__UNREGISTER]	= { handle_unregister, true },
	[MIG__KIND__OFFER]	= { handle_offer },
	[MIG__KIND__CLAIM]	= { handle_claim },
	[MIG__KIND__READY]	= { handle_step },
	[MIG__KIND__STATE]	= { handle_step },
	[MIG__KIND__TAKE_STATE]	= { handle_wait },
	[MIG__KIND__COMMIT]	= { handle_step },
	[MIG__KIND__ABORT]	= { handle_step },
	[MIG__KIND__WAIT]	= { handle_wait },
	[MIG__KIND__STATUS]	= { handle_status },
	[MIG__KIND__LIST]	= { handle_list },
	[MIG__KIND__SHOW]	= { handle_show },
	[MIG__KIND__SUBSCRIBE]	= { handle_subscribe },
	[MIG__KIND__GRANT]	= { handle_grant, true },
	[MIG__KIND__ADOPT]	= { handle_adopt, true },
};

static int dispatch(struct client *c, Mig__Request *req, int *fds,
		    unsigned int nfds, struct reply *rep)
{
	const struct handler *h = NULL;

	if (req->has_kind && (unsigned int)req->kind < ARRAY_SIZE(handlers))
		h = &handlers[req->kind];
	if (!h || !h->fn)
		return reply_err(rep, -EOPNOTSUPP,
				 "Request kind %d is not supported.",
				 req->has_kind ? (int)req->kind : -1);
	if (!c->hello && req->kind != MIG__KIND__HELLO)
		return reply_err(rep, -EPROTO,
				 "The first request must be HELLO.");
	if (c->subscriber)
		return reply_err(rep, -EINVAL,
				 "This connection is an event stream; open another one for requests.");
	if (c->pending != MIG__KIND__EMPTY)
		return reply_err(rep, -EINPROGRESS,
				 "A request is already waiting on this connection.");
	if (h->admin && !c->admin)
		return reply_err(rep, -EPERM,
				 "Only root or the admin group may register, unregister, grant or adopt.");
	return h->fn(c, req, fds, nfds, rep);
}

static void client_free(struct client *c)
{
	session_peer_lost(c->id);
	watch_del(&c->w);
	close(c->w.fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	list_del(&c->link);
	migrd.nclients--;
	log_debug("client %llu (pid %d) gone", (unsigned long long)c->id,
		  c->cred.pid);
	free(c);
}

static void client_read(struct client *c)
{
	int fds[MIG_FDS_MAX];
	Mig__Request *req;
	struct reply rep;
	unsigned int nfds;
	ssize_t len;
	int r;

	len = mig_wire_recv(c->w.fd, rxbuf, fds, &nfds, MSG_DONTWAIT);
	if (len == -EAGAIN)
		return;
	if (len == 0 || len == -ECONNRESET) {
		client_free(c);
		return;
	}
	reply_init(&rep, MIG__KIND__EMPTY);
	if (len < 0) {
		reply_err(&rep, (int)len, "Malformed datagram: %s.",
			  strerror((int)-len));
		goto send;
	}
	r = mig_decode_request(rxbuf, (size_t)len, fds, nfds, &req);
	if (r) {
		reply_err(&rep, r,
			  "Malformed request: not a valid message, or its fds do not match its fd indexes.");
		goto send;
	}
	rep.resp.kind = req->has_kind ? req->kind : MIG__KIND__EMPTY;
	fault_at("before", rep.resp.kind);
	r = dispatch(c, req, fds, nfds, &rep);
	mig_close_fds(fds, nfds);
	mig__request__free_unpacked(req, NULL);
	if (r < 0 && !rep.resp.has_error)
		reply_err(&rep, r, "%s.", strerror(-r));
	if (r < 0)
		log_debug("client %llu: kind %d refused: %s",
			  (unsigned long long)c->id, rep.resp.kind, rep.msg);
	if (!rep.deferred)
		client_send(c, &rep);
	/* Now the waiters and subscribers (client_send() never frees c). */
	deliver();
	fault_at("after", rep.resp.kind);
	return;
send:
	client_send(c, &rep);
}

static void client_event(struct watch *w, uint32_t events)
{
	struct client *c = container_of(w, struct client, w);

	if (events & EPOLLIN)
		client_read(c);
	else if (events & (EPOLLHUP | EPOLLERR))
		client_free(c);
}

/* root, or a member of admin_group by primary or supplementary group. */
static bool peer_is_admin(int fd, const struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (!migrd.have_admin_gid)
		return false;
	if (cred->gid == migrd.admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == migrd.admin_gid)
			return true;
	return false;
}

/*
 * The peer's pidfd, taken at connect time by the kernel (SO_PEERPIDFD),
 * names the very process that connected, even if it has since exited
 * and its pid been reused. pidfd_open() is the fallback for old kernels.
 */
static int peer_pidfd(int fd, pid_t pid)
{
	socklen_t len = sizeof(int);
	int pidfd;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0)
		return pidfd;
	return mig_pidfd_open(pid);
}

/*
 * Out of fds: the listener stays readable, so stop watching it for a
 * moment instead of spinning on accept4(); clients wait in the backlog.
 */
#define ACCEPT_PAUSE_MS 100

static void pause_accepting(int err)
{
	static uint64_t last_said;
	uint64_t now = mig_mono_ms();

	watch_del(&migrd.listener);
	migrd.accept_paused_until = now + ACCEPT_PAUSE_MS;
	if (now - last_said >= 10000) {
		log_warn("cannot accept connections: %s (%u open); pausing %d ms",
			 strerror(err), migrd.nclients, ACCEPT_PAUSE_MS);
		last_said = now;
	}
}

/* Listen again once a pause is over; ms until then, or -1. */
static int accept_timeout(uint64_t now)
{
	if (!migrd.accept_paused_until)
		return -1;
	if (now < migrd.accept_paused_until)
		return (int)(migrd.accept_paused_until - now);
	migrd.accept_paused_until = 0;
	if (watch_add(&migrd.listener, EPOLLIN) < 0)
		log_err("cannot listen again: %m");
	return -1;
}

static unsigned int clients_of(uid_t uid)
{
	unsigned int n = 0;
	struct client *c;

	list_for_each_entry(c, &migrd.clients, link)
		n += c->cred.uid == uid;
	return n;
}

/*
 * Connection limits, so that no user can lock root or the admins out:
 * they are exempt, everybody else is capped per uid and in total.
 */
static int over_limit(const struct client *c, struct reply *rep)
{
	if (c->admin)
		return 0;
	if (migrd.nclients >= migrd.cfg.max_clients)
		return reply_err(rep, -EUSERS,
				 "migrd has max_clients connections; only root and the admin group get more.");
	if (clients_of(c->cred.uid) >= migrd.cfg.max_clients_per_uid)
		return reply_err(rep, -EUSERS,
				 "uid %u has max_clients_per_uid connections open.",
				 c->cred.uid);
	return 0;
}

/* Say why, then hang up: the peer's first call fails with that sentence. */
static void refuse(int fd, struct reply *rep)
{
	rep->resp.has_kind = true;
	rep->resp.kind = MIG__KIND__HELLO;
	mig_send_response(fd, &rep->resp, NULL, 0);
}

static void client_accept(struct watch *w, uint32_t events)
{
	struct reply rep;
	struct client *c;
	socklen_t len;
	int fd;

	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			pause_accepting(errno);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->pidfd = -1;
	len = sizeof(c->cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
		goto fail;
	c->admin = peer_is_admin(fd, &c->cred);
	reply_init(&rep, MIG__KIND__HELLO);
	if (over_limit(c, &rep)) {
		log_debug("refusing a connection of pid %d: %s", c->cred.pid,
			  rep.msg);
		refuse(fd, &rep);
		goto fail;
	}
	c->pidfd = peer_pidfd(fd, c->cred.pid);
	if (c->pidfd < 0 || mig_pidfd_ino(c->pidfd, &c->pid_ino) < 0) {
		log_warn("cannot pin the process of pid %d; refusing it",
			 c->cred.pid);
		goto fail;
	}
	c->w.fd = fd;
	c->w.fn = client_event;
	c->id = ++migrd.next_client;
	if (watch_add(&c->w, EPOLLIN) < 0)
		goto fail;
	list_add_tail(&c->link, &migrd.clients);
	migrd.nclients++;
	log_debug("client %llu: pid %d uid %u%s", (unsigned long long)c->id,
		  c->cred.pid, c->cred.uid, c->admin ? " (admin)" : "");
	return;
fail:
	if (c && c->pidfd >= 0)
		close(c->pidfd);
	free(c);
	close(fd);
}

static void on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	/* Not a stop: "reload" is what SIGHUP asks of a daemon (systemctl
	 * reload, logrotate), and none of migrd's settings can change under
	 * its sessions. */
	if (si.ssi_signo == SIGHUP) {
		log_notice("SIGHUP: nothing to reload (restart migrd to change its configuration)");
		return;
	}
	log_notice("signal %u: shutting down", si.ssi_signo);
	migrd.stopping = true;
}

static int lookup_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);

	if (!g) {
		log_err("group %s does not exist", name);
		return -ENOENT;
	}
	*gid = g->gr_gid;
	return 0;
}

/* The socket systemd made for us (migrd.socket), if it passed one. */
static int take_activated(void)
{
	int fd = activation_listener(migrd.cfg.socket,
				     sizeof(migrd.cfg.socket));

	if (fd < 0)
		return fd;
	log_notice("serving the socket systemd passed: %s", migrd.cfg.socket);
	migrd.listener.fd = fd;
	migrd.listener.fn = client_accept;
	return watch_add(&migrd.listener, EPOLLIN);
}

static int setup_listener(void)
{
	gid_t gid = (gid_t)-1;
	int fd, r;

	r = take_activated();
	if (r != -ENOENT)
		return r;
	if (migrd.cfg.socket_group[0]) {
		r = lookup_group(migrd.cfg.socket_group, &gid);
		if (r)
			return r;
	}
	r = sockpath_claim(migrd.cfg.socket);
	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sockpath_bind(fd, migrd.cfg.socket_mode, gid);
	if (!r && listen(fd, 64) < 0)
		r = -errno;
	if (r) {
		log_err("cannot listen on %s: %s", migrd.cfg.socket,
			strerror(-r));
		close(fd);
		return r;
	}
	migrd.listener.fd = fd;
	migrd.listener.fn = client_accept;
	return watch_add(&migrd.listener, EPOLLIN);
}

static int setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	migrd.signals.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (migrd.signals.fd < 0)
		return -errno;
	migrd.signals.fn = on_signal;
	return watch_add(&migrd.signals, EPOLLIN);
}

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

/* The journal's place: state_file, or beside the socket (X.sock: X.state). */
static void journal_path(void)
{
	const char *sock = migrd.cfg.socket;
	size_t n = strlen(sock);

	if (migrd.cfg.state_file[0]) {
		mig_strlcpy(migrd.state_file, migrd.cfg.state_file,
			    sizeof(migrd.state_file));
		return;
	}
	if (n > 5 && strcmp(sock + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(migrd.state_file, sizeof(migrd.state_file), "%.*s.state",
		 (int)n, sock);
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

	list_init(&migrd.clients);
	list_init(&migrd.vms);
	list_init(&migrd.sessions);
	list_init(&migrd.history);
	list_init(&migrd.reapers);
	raise_fd_limit();
	migrd.listener.fd = migrd.signals.fd = migrd.procmon.fd = -1;
	migrd.started_ms = mig_mono_ms();
	if (migrd.cfg.admin_group[0]) {
		r = lookup_group(migrd.cfg.admin_group, &migrd.admin_gid);
		if (r)
			return r;
		migrd.have_admin_gid = true;
	}
	say_identity();
	migrd.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (migrd.epfd < 0)
		return -errno;
	r = setup_signals();
	if (!r)
		r = worker_init();
	if (!r)
		r = setup_listener();
	if (!r && procmon_init() < 0)
		log_warn("process events unavailable (needs CAP_NET_ADMIN): an owner that execs keeps its registration until it exits");
	if (r)
		return r;
	/* Ours only now that we listen: never touch another migrd's. */
	journal_path();
	/* journal_load() returns the error: errno is long overwritten. */
	r = journal_load();
	if (r < 0)
		log_warn("cannot read the journal %s: %s; starting empty",
			 migrd.state_file, strerror(-r));
	journal_save();
	return 0;
}

/*
 * One event per epoll_wait: a callback may free objects (a client, a VM
 * and its pidfd watch) whose events would still sit later in a batch.
 * Waits at most max_ms (-1: until the next session deadline).
 * Returns the number of events handled (0 or 1) or a negative errno.
 */
/* Answer the clients waiting on the session a copy was taken of. */
static void answer_waiters(const struct session *copy)
{
	struct session *s = session_find(copy->id, true);
	struct client *c;

	event_session(copy);
	if (!s)
		return;
	list_for_each_entry(c, &migrd.clients, link) {
		struct reply rep;

		if (c->pending == MIG__KIND__EMPTY ||
		    c->pending_session != s->id)
			continue;
		reply_init(&rep, c->pending);
		if (session_wait_answer(c, s, &rep) == 1)
			continue;
		c->pending = MIG__KIND__EMPTY;
		client_send(c, &rep);
	}
}

/* After each event: tell what the domain recorded, write the journal. */
static void deliver(void)
{
	outbox_drain(event_vm, answer_waiters);
	journal_save();
}

static int earliest(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int server_step(int max_ms)
{
	uint64_t now = mig_mono_ms();
	int timeout = earliest(session_timeouts(now), reaper_timeouts(now));
	struct epoll_event ev;
	int n;

	timeout = earliest(timeout, accept_timeout(now));
	deliver();
	if (max_ms >= 0 && (timeout < 0 || timeout > max_ms))
		timeout = max_ms;
	n = epoll_wait(migrd.epfd, &ev, 1, timeout);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n > 0) {
		struct watch *w = ev.data.ptr;

		w->fn(w, ev.events);
	}
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
	list_for_each_entry_safe(c, tmp, &migrd.clients, link)
		client_free(c);
	reaper_fini();
	registry_fini();
	procmon_fini();
	worker_fini();
	if (migrd.listener.fd >= 0)
		close(migrd.listener.fd);
	sockpath_release();
	if (migrd.signals.fd >= 0)
		close(migrd.signals.fd);
	if (migrd.epfd >= 0)
		close(migrd.epfd);
}
