// SPDX-License-Identifier: LGPL-2.1-or-later
/* HELLO: the first request on every connection, naming the protocol. */
#include <errno.h>

#include "h-private.h"
#include "log.h"

HANDLER(handle_hello)
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
		  (unsigned long long)c->peer.id,
		  req->hello->client ? req->hello->client : "?",
		  c->peer.pid, c->peer.uid);
	return 0;
}
