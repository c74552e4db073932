// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A client connection's life: accepted (who it is: SO_PEERCRED, pinned
 * by a pidfd; within the limits), one request per datagram read,
 * decoded and handed to the handlers, the reply sent, and freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "transport.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static uint8_t rxbuf[MIG_MSG_MAX];

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
			 (unsigned long long)c->conn.peer.id, c->cred.pid,
			 strerror(-r));
		shutdown(c->w.fd, SHUT_RDWR);
	}
	return r;
}

void client_send(struct client *c, struct reply *rep)
{
	/* A reply that does not fit: the peer stopped reading it. */
	if (client_try_send(c, rep) == -EAGAIN) {
		log_info("client %llu (pid %d): its socket is full; dropping it",
			 (unsigned long long)c->conn.peer.id, c->cred.pid);
		shutdown(c->w.fd, SHUT_RDWR);
	}
}

void client_free(struct client *c)
{
	session_peer_lost(c->conn.peer.id);
	watch_del(&c->w);
	close(c->w.fd);
	if (c->conn.peer.pidfd >= 0)
		close(c->conn.peer.pidfd);
	list_del(&c->link);
	migrd.nclients--;
	log_debug("client %llu (pid %d) gone",
		  (unsigned long long)c->conn.peer.id, c->cred.pid);
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
	r = handlers_dispatch(&c->conn, req, fds, nfds, &rep);
	mig_close_fds(fds, nfds);
	mig__request__free_unpacked(req, NULL);
	if (r < 0 && !rep.resp.has_error)
		reply_err(&rep, r, "%s.", strerror(-r));
	if (r < 0)
		log_debug("client %llu: kind %d refused: %s",
			  (unsigned long long)c->conn.peer.id, rep.resp.kind,
			  rep.msg);
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
	if (!server.have_admin_gid)
		return false;
	if (cred->gid == server.admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == server.admin_gid)
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

/* Who the handlers will know it as: its process, pinned, and its user. */
static int pin_peer(struct client *c, int fd)
{
	struct peer *p = &c->conn.peer;

	p->pid = c->cred.pid;
	p->uid = c->cred.uid;
	p->pidfd = peer_pidfd(fd, c->cred.pid);
	if (p->pidfd < 0)
		return p->pidfd;
	return mig_pidfd_ino(p->pidfd, &p->ino);
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

	watch_del(&server.listener);
	server.accept_paused_until = now + ACCEPT_PAUSE_MS;
	if (now - last_said >= 10000) {
		log_warn("cannot accept connections: %s (%u open); pausing %d ms",
			 strerror(err), migrd.nclients, ACCEPT_PAUSE_MS);
		last_said = now;
	}
}

/* Listen again once a pause is over; ms until then, or -1. */
int accept_timeout(uint64_t now)
{
	if (!server.accept_paused_until)
		return -1;
	if (now < server.accept_paused_until)
		return (int)(server.accept_paused_until - now);
	server.accept_paused_until = 0;
	if (watch_add(&server.listener, EPOLLIN) < 0)
		log_err("cannot listen again: %m");
	return -1;
}

static unsigned int clients_of(uid_t uid)
{
	unsigned int n = 0;
	struct client *c;

	list_for_each_entry(c, &server.clients, link)
		n += c->cred.uid == uid;
	return n;
}

/*
 * Connection limits, so that no user can lock root or the admins out:
 * they are exempt, everybody else is capped per uid and in total.
 */
static int over_limit(const struct client *c, struct reply *rep)
{
	if (c->conn.peer.admin)
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

void client_accept(struct watch *w, uint32_t events)
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
	c->conn.peer.pidfd = -1;
	len = sizeof(c->cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
		goto fail;
	c->conn.peer.admin = peer_is_admin(fd, &c->cred);
	reply_init(&rep, MIG__KIND__HELLO);
	if (over_limit(c, &rep)) {
		log_debug("refusing a connection of pid %d: %s", c->cred.pid,
			  rep.msg);
		refuse(fd, &rep);
		goto fail;
	}
	if (pin_peer(c, fd) < 0) {
		log_warn("cannot pin the process of pid %d; refusing it",
			 c->cred.pid);
		goto fail;
	}
	c->w.fd = fd;
	c->w.fn = client_event;
	c->conn.peer.id = ++server.next_client;
	if (watch_add(&c->w, EPOLLIN) < 0)
		goto fail;
	list_add_tail(&c->link, &server.clients);
	migrd.nclients++;
	log_debug("client %llu: pid %d uid %u%s",
		  (unsigned long long)c->conn.peer.id, c->cred.pid,
		  c->cred.uid, c->conn.peer.admin ? " (admin)" : "");
	return;
fail:
	if (c && c->conn.peer.pidfd >= 0)
		close(c->conn.peer.pidfd);
	free(c);
	close(fd);
}
