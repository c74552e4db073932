// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Claim tokens: management asks migrd for one, the new VMM presents it.
 * migrd keeps the authority; a token is only a one-time capability that
 * names one VM identity and what may happen to its memory.
 */
#include <errno.h>
#include <string.h>

#include "mig-private.h"

static int grant(struct mig_ctx *ctx, Mig__Grant *g, struct mig_token *out)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;
	int r;

	req.kind = MIG__KIND__GRANT;
	req.grant = g;
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (r)
		return r;
	if (!resp->grant || !resp->grant->has_token ||
	    resp->grant->token.len != MIG_TOKEN_LEN) {
		r = -EPROTO;
	} else {
		memset(out, 0, sizeof(*out));
		memcpy(out->bytes, resp->grant->token.data, MIG_TOKEN_LEN);
		out->kind = (enum mig_grant)resp->grant->kind;
		mig_strlcpy(out->vm_id, resp->grant->vm_id,
			    sizeof(out->vm_id));
		out->expires_ms = resp->grant->expires_ms;
	}
	mig__response__free_unpacked(resp, NULL);
	return r;
}

MIG_EXPORT int mig_grant_successor(struct mig_ctx *ctx, const char *vm,
				   struct mig_token *out)
{
	Mig__Grant g = MIG__GRANT__INIT;

	if (!vm || !out)
		return -EINVAL;
	g.vm = (char *)vm;
	g.has_kind = true;
	g.kind = MIG__GRANT_KIND__SUCCESSOR;
	return grant(ctx, &g, out);
}

MIG_EXPORT int mig_grant_rebind(struct mig_ctx *ctx, const char *vm,
				const char *new_name, const char *new_uuid,
				uid_t uid, struct mig_token *out)
{
	Mig__Grant g = MIG__GRANT__INIT;

	if (!vm || !new_name || !out)
		return -EINVAL;
	g.vm = (char *)vm;
	g.has_kind = true;
	g.kind = MIG__GRANT_KIND__REBIND;
	g.new_name = (char *)new_name;
	g.new_uuid = (char *)new_uuid;
	if (uid != (uid_t)-1) {
		g.has_uid = true;
		g.uid = uid;
	}
	return grant(ctx, &g, out);
}
