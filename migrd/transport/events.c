// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * After each event, what the domain recorded (its outbox) is told: the
 * clients waiting on a session get their answer, subscribers get the
 * event (encoded by the handlers, sent here); then the journal is
 * written.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include "transport.h"

static int send_event(struct client *c, Mig__Event *ev)
{
	struct reply rep;

	reply_init(&rep, MIG__KIND__EVENT);
	rep.resp.event = ev;
	return client_try_send(c, &rep);
}

/* Has c read at least half of what waits for it? */
static bool caught_up(const struct client *c)
{
	socklen_t len = sizeof(int);
	int queued, size;

	if (ioctl(c->w.fd, SIOCOUTQ, &queued) < 0 ||
	    getsockopt(c->w.fd, SOL_SOCKET, SO_SNDBUF, &size, &len) < 0)
		return true;
	return queued <= size / 2;
}

/*
 * A watcher that does not keep up (stopped, slow) is not dropped: what
 * does not fit is counted, and once it has read at least half of what
 * was queued it first hears how many events it missed ("overrun"), once,
 * then the stream goes on.
 */
static void event_to(struct client *c, Mig__Event *ev)
{
	if (c->lost && !caught_up(c)) {
		c->lost++;
		return;
	}
	if (c->lost) {
		Mig__Event over;

		event_overrun(&over, ev->time_ms, c->lost);
		if (send_event(c, &over)) {
			c->lost++;
			return;
		}
		log_info("client %llu (pid %d): told it missed %llu events",
			 (unsigned long long)c->conn.peer.id, c->cred.pid,
			 (unsigned long long)c->lost);
		c->lost = 0;
	}
	if (send_event(c, ev) == -EAGAIN)
		c->lost++;
}

static void broadcast(Mig__Event *ev)
{
	struct client *c;

	ev->has_time_ms = true;
	ev->time_ms = mig_now_ms();
	list_for_each_entry(c, &server.clients, link)
		if (c->conn.subscriber)
			event_to(c, ev);
}

static void tell_vm(const char *what, const struct vm *vm)
{
	struct event_buf e;

	event_vm(&e, what, vm);
	broadcast(&e.ev);
}

/* Answer the clients waiting on the session a copy was taken of. */
static void tell_session(const struct session *copy)
{
	struct session *s = session_find(copy->id, true);
	struct event_buf e;
	struct client *c;

	event_session(&e, copy);
	broadcast(&e.ev);
	if (!s)
		return;
	list_for_each_entry(c, &server.clients, link) {
		struct reply rep;

		if (c->conn.pending == MIG__KIND__EMPTY ||
		    c->conn.pending_session != s->id)
			continue;
		reply_init(&rep, c->conn.pending);
		if (session_wait_answer(&c->conn, s, &rep) == 1)
			continue;
		c->conn.pending = MIG__KIND__EMPTY;
		client_send(c, &rep);
	}
}

void deliver(void)
{
	outbox_drain(tell_vm, tell_session);
	journal_save();
}
