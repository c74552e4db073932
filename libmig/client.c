// SPDX-License-Identifier: LGPL-2.1-or-later
/* The connection to migrd: connect, handshake, one round trip. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mig-private.h"

static const char *socket_path(const char *path)
{
	const char *env;

	if (path)
		return path;
	env = secure_getenv("MIGRD_SOCKET");
	return env && *env ? env : MIG_DEFAULT_SOCKET;
}

static void set_error(struct mig_ctx *ctx, const char *msg)
{
	mig_strlcpy(ctx->last_error, msg ? msg : "", sizeof(ctx->last_error));
}

int mig_recv_response(struct mig_ctx *ctx, Mig__Response **resp, int *fds,
		      unsigned int *nfds)
{
	ssize_t len;

	*nfds = 0;
	if (!ctx->rxbuf) {
		ctx->rxbuf = malloc(MIG_MSG_MAX);
		if (!ctx->rxbuf)
			return -ENOMEM;
	}
	len = mig_wire_recv(ctx->sock, ctx->rxbuf, fds, nfds, 0);
	/* A reset is reported before what was queued: migrd may have said
	 * why it hung up (a limit); read on once. */
	if (len == -ECONNRESET)
		len = mig_wire_recv(ctx->sock, ctx->rxbuf, fds, nfds,
				    MSG_DONTWAIT);
	if (len == 0 || len == -EAGAIN)
		return -ECONNRESET;
	if (len < 0)
		return (int)len;
	return mig_decode_response(ctx->rxbuf, (size_t)len, fds, *nfds, resp);
}

static void drop_unread(struct mig_ctx *ctx);

int mig_call(struct mig_ctx *ctx, Mig__Request *req, const int *fds,
	     unsigned int nfds, Mig__Response **resp, int *rfds,
	     unsigned int *nrfds)
{
	int tmp[MIG_FDS_MAX];
	unsigned int n = 0;
	int r;

	*resp = NULL;
	set_error(ctx, NULL);
	if (ctx->sock < 0)
		return -ENOTCONN;
	if (ctx->subscribed)
		return -EINVAL;
	drop_unread(ctx);
	req->has_kind = true;
	r = mig_send_request(ctx->sock, req, fds, nfds);
	if (r == -EPIPE || r == -ECONNRESET) {
		/* migrd may have said why before it hung up (a limit). */
		if (mig_recv_response(ctx, resp, tmp, &n) == 0) {
			mig_close_fds(tmp, n);
			r = (*resp)->error ? -(int)(*resp)->error : -ECONNRESET;
			set_error(ctx, (*resp)->message);
			mig__response__free_unpacked(*resp, NULL);
			*resp = NULL;
			return r;
		}
		return -ECONNRESET;
	}
	if (r < 0) {
		mig_dbg(ctx, "send: %s\n", strerror(-r));
		return r;
	}
	/* A migrd that stopped answering is an error, not a hang. */
	r = mig_wait_readable(ctx->sock, req->kind == MIG__KIND__WAIT ||
			      req->kind == MIG__KIND__TAKE_STATE ?
			      ctx->wait_timeout_ms : ctx->timeout_ms);
	if (r == -ETIMEDOUT) {
		set_error(ctx, "migrd did not answer in time");
		/* A late answer would pair with the next request: drop it. */
		close(ctx->sock);
		ctx->sock = -1;
		return r;
	}
	if (!r)
		r = mig_recv_response(ctx, resp, tmp, &n);
	if (r)
		return r;

	/* An error may answer a request the daemon could not even parse. */
	if ((*resp)->error) {
		set_error(ctx, (*resp)->message);
		mig_dbg(ctx, "migrd: %s\n", ctx->last_error);
		mig_close_fds(tmp, n);
		r = -(int)(*resp)->error;
	} else if (!(*resp)->has_kind || (*resp)->kind != req->kind ||
		   (n && !rfds)) {
		mig_close_fds(tmp, n);
		r = -EPROTO;
	}
	if (r) {
		mig__response__free_unpacked(*resp, NULL);
		*resp = NULL;
		return r;
	}
	if (rfds) {
		memcpy(rfds, tmp, n * sizeof(int));
		*nrfds = n;
	}
	return 0;
}

/* The answers to notices sent without waiting, unread and moot. */
static void drop_unread(struct mig_ctx *ctx)
{
	int fds[MIG_FDS_MAX];
	Mig__Response *resp;
	unsigned int n;

	for (; ctx->unread && ctx->sock >= 0; ctx->unread--) {
		if (mig_wait_readable(ctx->sock, ctx->timeout_ms) < 0 ||
		    mig_recv_response(ctx, &resp, fds, &n) < 0) {
			ctx->unread = 0;
			return;
		}
		mig_close_fds(fds, n);
		mig__response__free_unpacked(resp, NULL);
	}
}

static void notify_async(struct mig_ctx *ctx, Mig__Request *req)
{
	if (ctx->sock < 0 || ctx->subscribed)
		return;
	drop_unread(ctx);
	req->has_kind = true;
	if (mig_send_request(ctx->sock, req, NULL, 0) == 0)
		ctx->unread++;
}

void mig_notify(struct mig_ctx *ctx, Mig__Kind kind, uint64_t session,
		const char *reason, bool wait)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;
	Mig__Response *resp;
	char keep[sizeof(ctx->last_error)];
	int r;

	req.kind = kind;
	req.target = &t;
	req.reason = (char *)reason;
	t.has_session = true;
	t.session = session;
	if (!wait) {
		notify_async(ctx, &req);
		return;
	}
	mig_strlcpy(keep, ctx->last_error, sizeof(keep));
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	else
		mig_dbg(ctx, "notice to migrd: %s\n", strerror(-r));
	mig_strlcpy(ctx->last_error, keep, sizeof(ctx->last_error));
}

void mig_notify_wait(struct mig_ctx *ctx, uint64_t session,
		     enum mig_state state)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Wait w = MIG__WAIT__INIT;
	Mig__Response *resp;
	char keep[sizeof(ctx->last_error)];
	int fds[MIG_FDS_MAX];
	unsigned int nfds = 0;

	req.kind = MIG__KIND__WAIT;
	req.wait = &w;
	w.has_session = w.has_state = true;
	w.session = session;
	w.state = (Mig__State)state;
	mig_strlcpy(keep, ctx->last_error, sizeof(keep));
	/* Briefly: the caller is done and must exit soon (exit_grace). */
	ctx->wait_timeout_ms = 2000;
	if (mig_call(ctx, &req, NULL, 0, &resp, fds, &nfds) == 0) {
		mig_close_fds(fds, nfds);
		mig__response__free_unpacked(resp, NULL);
	}
	ctx->wait_timeout_ms = MIG_WAIT_TIMEOUT_MS;
	mig_strlcpy(ctx->last_error, keep, sizeof(ctx->last_error));
}

static int hello(struct mig_ctx *ctx)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Hello h = MIG__HELLO__INIT;
	Mig__Response *resp;
	int r;

	req.kind = MIG__KIND__HELLO;
	req.hello = &h;
	h.has_version = true;
	h.version = MIG_PROTOCOL_VERSION;
	h.client = (char *)program_invocation_short_name;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	if (!resp->hello || !resp->hello->has_version ||
	    resp->hello->version != MIG_PROTOCOL_VERSION) {
		r = -EPROTO;
	} else {
		ctx->version = resp->hello->version;
		ctx->features = resp->hello->features;
		mig_dbg(ctx, "connected to %s\n", resp->hello->server);
	}
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_connect(struct mig_ctx *ctx, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *p = socket_path(path);
	int r;

	if (ctx->sock >= 0)
		return -EISCONN;
	if (strlen(p) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, p);
	ctx->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ctx->sock < 0)
		return -errno;
	if (connect(ctx->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		mig_dbg(ctx, "connect %s: %s\n", p, strerror(-r));
		goto fail;
	}
	r = hello(ctx);
	if (r)
		goto fail;
	mig_strlcpy(ctx->path, p, sizeof(ctx->path));
	return 0;
fail:
	close(ctx->sock);
	ctx->sock = -1;
	return r;
}
