// SPDX-License-Identifier: LGPL-2.1-or-later
/* The library context: reference counting and logging. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mig-private.h"

static void log_stderr(void *data, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	(void)data;
	(void)priority;
	(void)file;
	(void)line;
	fprintf(stderr, "libmig: %s: ", fn);
	vfprintf(stderr, format, args);
}

void mig_log(const struct mig_ctx *ctx, int priority, const char *file,
	     int line, const char *fn, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}

MIG_EXPORT struct mig_ctx *mig_new(void)
{
	struct mig_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *env;

	if (!ctx)
		return NULL;
	ctx->refcount = 1;
	ctx->log_fn = log_stderr;
	ctx->log_priority = LOG_ERR;
	ctx->sock = -1;
	ctx->peer = ctx->peer_pidfd = -1;
	ctx->timeout_ms = MIG_DEFAULT_TIMEOUT_MS;
	ctx->wait_timeout_ms = MIG_WAIT_TIMEOUT_MS;
	env = secure_getenv("MIG_TIMEOUT_MS");
	if (env && atoi(env) > 0)
		ctx->timeout_ms = atoi(env);
	env = secure_getenv("MIG_LOG");
	if (env && mig_priority_from_string(env) >= 0)
		ctx->log_priority = mig_priority_from_string(env);
	return ctx;
}

MIG_EXPORT struct mig_ctx *mig_ref(struct mig_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

MIG_EXPORT struct mig_ctx *mig_unref(struct mig_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (--ctx->refcount > 0)
		return ctx;
	if (ctx->sock >= 0)
		close(ctx->sock);
	mig_peer_close(ctx);
	free(ctx->rxbuf);
	free(ctx);
	return NULL;
}

MIG_EXPORT void mig_set_log_fn(struct mig_ctx *ctx, mig_log_fn fn, void *data)
{
	ctx->log_fn = fn ? fn : log_stderr;
	ctx->log_data = data;
}

MIG_EXPORT int mig_get_log_priority(const struct mig_ctx *ctx)
{
	return ctx->log_priority;
}

MIG_EXPORT void mig_set_log_priority(struct mig_ctx *ctx, int priority)
{
	ctx->log_priority = priority;
}

MIG_EXPORT const char *mig_last_error(const struct mig_ctx *ctx)
{
	return ctx->last_error;
}

MIG_EXPORT int mig_get_fd(const struct mig_ctx *ctx)
{
	return ctx->sock;
}

MIG_EXPORT int mig_set_timeout(struct mig_ctx *ctx, int timeout_ms)
{
	if (timeout_ms <= 0)
		return -EINVAL;
	ctx->timeout_ms = timeout_ms;
	return 0;
}
