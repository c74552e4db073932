// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The direct channel between a source and its successor: a socketpair
 * migrd makes at claim, one end to the destination with its claim, the
 * other to the source when the destination is ready. The state and the
 * last handshake go over it, so which side runs the guest is decided by
 * the two VMMs alone and never waits for migrd, which may die meanwhile:
 *
 *   source: pause, STATE ->          destination: load
 *                                <-  COMMIT
 *   source: GO -> and never resume   destination: run after GO only
 *
 * The source is the one that decides: it either sends GO or it resumes,
 * never both. It resumes when it sent ABORT, when the destination hung
 * up before COMMIT, or when GO cannot be delivered because the
 * destination is gone. The destination runs after GO, or when the source
 * died after handing over its state (it can never resume then). The
 * decision table is in migrd(8), FAILURES. migrd only hears the outcome,
 * and takes it from the source: its COMMIT after GO, or its exit.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig-private.h"

/* The direct channel's version (proto/migrd.proto, message Peer). */
#define PEER_VERSION 1

void mig_peer_close(struct mig_ctx *ctx)
{
	mig_close_fds(&ctx->peer, 1);
	mig_close_fds(&ctx->peer_pidfd, 1);
	ctx->peer_session = 0;
	ctx->peer_have_state = false;
}

void mig_peer_adopt(struct mig_ctx *ctx, uint64_t session, int fd,
		    int pidfd, bool source)
{
	mig_peer_close(ctx);
	ctx->peer = fd;
	ctx->peer_pidfd = pidfd;
	ctx->peer_session = session;
	ctx->peer_is_source = source;
}

bool mig_peer_for(const struct mig_ctx *ctx, uint64_t session)
{
	return ctx->peer >= 0 && session && ctx->peer_session == session;
}

static int peer_send(struct mig_ctx *ctx, Mig__PeerKind kind,
		     const void *data, size_t len, const char *reason)
{
	Mig__Peer p = MIG__PEER__INIT;
	int r;

	p.has_kind = p.has_session = p.has_version = true;
	p.kind = kind;
	p.version = PEER_VERSION;
	p.session = ctx->peer_session;
	if (kind == MIG__PEER_KIND__PEER_STATE) {
		p.has_state = true;
		p.state.data = (uint8_t *)data;
		p.state.len = len;
	}
	p.reason = (char *)reason;
	r = mig_send_peer(ctx->peer, &p);
	return r == -EPIPE ? -ECONNRESET : r;
}

/* One message of the other side: 0, -ECONNRESET at hang-up, -ETIMEDOUT. */
static int peer_recv(struct mig_ctx *ctx, int timeout_ms, Mig__Peer **out)
{
	int fds[MIG_FDS_MAX];
	unsigned int nfds;
	ssize_t len;
	int r;

	*out = NULL;
	if (!ctx->rxbuf) {
		ctx->rxbuf = malloc(MIG_MSG_MAX);
		if (!ctx->rxbuf)
			return -ENOMEM;
	}
	r = mig_wait_readable(ctx->peer, timeout_ms);
	if (r)
		return r;
	len = mig_wire_recv(ctx->peer, ctx->rxbuf, fds, &nfds, MSG_DONTWAIT);
	if (len == 0 || len == -ECONNRESET)
		return -ECONNRESET;
	if (len < 0)
		return (int)len;
	r = mig_decode_peer(ctx->rxbuf, (size_t)len, fds, nfds, out);
	if (!r && (*out)->has_version && (*out)->version != PEER_VERSION) {
		/* Another libmig on the other side, one this cannot read. */
		mig_err(ctx, "direct channel: the other side speaks version %u, this libmig %d\n",
			(*out)->version, PEER_VERSION);
		mig_close_fds(fds, nfds);
		mig__peer__free_unpacked(*out, NULL);
		*out = NULL;
		return -EPROTO;
	}
	if (!r && (nfds || !(*out)->has_kind ||
		   (*out)->session != ctx->peer_session)) {
		mig_close_fds(fds, nfds);
		mig__peer__free_unpacked(*out, NULL);
		*out = NULL;
		r = -EBADMSG;
	}
	return r;
}

static Mig__PeerKind peer_kind(const Mig__Peer *p)
{
	return p ? p->kind : MIG__PEER_KIND__PEER_NONE;
}

/* Source: the guest is paused; its state goes straight to the successor. */
int mig_peer_send_state(struct mig_ctx *ctx, const void *data, size_t len)
{
	int r = peer_send(ctx, MIG__PEER_KIND__PEER_STATE, data, len, NULL);

	if (r)
		mig_err(ctx, "direct channel: cannot send the state: %s\n",
			strerror(-r));
	return r;
}

/* Destination: the state, or why there is none. */
int mig_peer_take_state(struct mig_ctx *ctx, void **data, size_t *len)
{
	Mig__Peer *p;
	/* The source pauses and sends at once: its word, not a session's
	 * wait (mig_set_timeout()). */
	int r = peer_recv(ctx, ctx->timeout_ms, &p);

	if (!r && peer_kind(p) == MIG__PEER_KIND__PEER_ABORT)
		r = -ECANCELED;
	else if (!r && (peer_kind(p) != MIG__PEER_KIND__PEER_STATE ||
			!p->has_state))
		r = -EPROTO;
	if (!r) {
		*data = malloc(p->state.len ? p->state.len : 1);
		if (!*data)
			r = -ENOMEM;
		else
			memcpy(*data, p->state.data, p->state.len);
		*len = p->state.len;
		ctx->peer_have_state = !r;
	}
	if (p)
		mig__peer__free_unpacked(p, NULL);
	return r;
}

/*
 * Source, GO sent: tell migrd, whose record commits on the source's word
 * (or its exit), never on the destination's alone. Briefly: the caller
 * must exit within exit_grace, and whether migrd hears it changes
 * nothing (our exit commits too).
 */
#define GO_NOTICE_MS 2000

static void source_said_go(struct mig_ctx *ctx)
{
	int keep = ctx->timeout_ms;

	if (ctx->timeout_ms > GO_NOTICE_MS)
		ctx->timeout_ms = GO_NOTICE_MS;
	mig_notify(ctx, MIG__KIND__COMMIT, ctx->peer_session,
		   "the source sent GO", true);
	ctx->timeout_ms = keep;
}

/*
 * Source, state sent: wait for the successor's COMMIT and answer GO.
 * Returns 0 when GO went out (the guest is the destination's: never
 * resume), -ECANCELED when the guest must resume here.
 */
int mig_peer_source_decide(struct mig_ctx *ctx)
{
	Mig__Peer *p;
	int r = peer_recv(ctx, ctx->timeout_ms, &p);
	Mig__PeerKind kind = peer_kind(p);

	if (p)
		mig__peer__free_unpacked(p, NULL);
	if (!r && kind == MIG__PEER_KIND__PEER_COMMIT) {
		r = peer_send(ctx, MIG__PEER_KIND__PEER_GO, NULL, 0, NULL);
		if (!r) {
			mig_info(ctx, "direct channel: GO sent; the guest runs in the destination\n");
			source_said_go(ctx);
			mig_peer_close(ctx);
			return 0;
		}
		mig_err(ctx, "direct channel: the destination went away before GO\n");
	} else if (!r) {
		mig_err(ctx, "direct channel: the destination called it off\n");
	} else {
		mig_err(ctx, "direct channel: no COMMIT from the destination: %s\n",
			strerror(-r));
		/* It may still be loading: tell it not to run. */
		peer_send(ctx, MIG__PEER_KIND__PEER_ABORT, NULL, 0,
			  "source resumed the guest");
	}
	mig_notify(ctx, MIG__KIND__ABORT, ctx->peer_session,
		   "source resumed the guest: no commit from the destination",
		   true);
	mig_peer_close(ctx);
	return -ECANCELED;
}

/*
 * The source process has exited (its pidfd turns readable). A dying
 * process closes its files before it is reported dead: give it a moment.
 */
#define EXIT_SETTLE_MS 1000

static bool source_dead(const struct mig_ctx *ctx)
{
	return ctx->peer_pidfd >= 0 &&
	       mig_wait_readable(ctx->peer_pidfd, EXIT_SETTLE_MS) == 0;
}

/*
 * After our own deadline: stop the source from sending GO any more (a
 * send after SHUT_RD fails with EPIPE there, which makes it resume), then
 * see whether GO made it in before that.
 */
static int last_look(struct mig_ctx *ctx)
{
	Mig__Peer *p;
	int r;

	shutdown(ctx->peer, SHUT_RD);
	r = peer_recv(ctx, 0, &p);
	r = !r && peer_kind(p) == MIG__PEER_KIND__PEER_GO ? 0 : -ETIMEDOUT;
	if (p)
		mig__peer__free_unpacked(p, NULL);
	return r;
}

/*
 * Destination, state loaded: ask to run. Returns 0 when the guest is
 * ours to run, < 0 when it must not run here.
 */
int mig_peer_dest_commit(struct mig_ctx *ctx)
{
	Mig__PeerKind kind = MIG__PEER_KIND__PEER_NONE;
	Mig__Peer *p = NULL;
	int r = peer_send(ctx, MIG__PEER_KIND__PEER_COMMIT, NULL, 0, NULL);

	if (!r)
		r = peer_recv(ctx, ctx->timeout_ms, &p);
	kind = peer_kind(p);
	if (p)
		mig__peer__free_unpacked(p, NULL);
	if (!r && kind == MIG__PEER_KIND__PEER_ABORT)
		r = -ECANCELED;
	else if (!r && kind != MIG__PEER_KIND__PEER_GO)
		r = -EPROTO;
	if (r == -ETIMEDOUT)
		r = last_look(ctx);
	/*
	 * Hung up without an answer: a source that died after handing
	 * over its state can never resume, so the guest is ours.
	 */
	if (r == -ECONNRESET && ctx->peer_have_state && source_dead(ctx)) {
		mig_info(ctx, "direct channel: the source died after handing over; running the guest here\n");
		r = 0;
	}
	return r;
}

/* Either side, before GO: the guest stays with (or returns to) the source. */
void mig_peer_abort(struct mig_ctx *ctx, const char *reason)
{
	peer_send(ctx, MIG__PEER_KIND__PEER_ABORT, NULL, 0, reason);
	mig_peer_close(ctx);
}
