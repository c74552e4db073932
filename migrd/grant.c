// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Grants: management's word that a VM's memory may go somewhere. An
 * upgrade grant names the successor (the same identity); a rebind grant
 * names a new identity. Either is a one-time token of 256 random bits,
 * bound to one VM identity, expiring after grant_timeout, never logged.
 * What a claim with it gets is decided by policy_decide() alone.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "migrd.h"

/* Compare without leaking, through timing, how much of a token matched. */
static bool token_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;

	for (int i = 0; i < MIG_TOKEN_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static bool grant_matches(const struct grant *g, const uint8_t *token)
{
	return g->kind != GRANT_NONE && token_equal(g->token, token);
}

enum token_check grant_check(struct vm *vm, const Mig__Claim *cl,
			     const struct grant **out)
{
	const uint8_t *token;
	struct vm *other;

	*out = NULL;
	if (!cl || !cl->has_token || cl->token.len == 0)
		return TOKEN_NONE;
	if (cl->token.len != MIG_TOKEN_LEN)
		return TOKEN_UNKNOWN;
	token = cl->token.data;
	if (grant_matches(&vm->grant, token)) {
		*out = &vm->grant;
		if (vm->grant.used)
			return TOKEN_USED;
		if (mig_mono_ms() >= vm->grant.expires)
			return TOKEN_EXPIRED;
		return TOKEN_VALID;
	}
	list_for_each_entry(other, &migrd.vms, link)
		if (other != vm && grant_matches(&other->grant, token))
			return TOKEN_OTHER_VM;
	return TOKEN_UNKNOWN;
}

/* A rebind must be possible at all, and its new identity free. */
static int check_rebind(const Mig__Grant *g, struct reply *rep)
{
	struct claim_facts f = {
		.uid_ok = true, .token = TOKEN_VALID, .kind = GRANT_REBIND,
		.policy = migrd.cfg.rebind,
	};
	struct decision d;

	policy_decide(&f, &d);
	if (d.verdict == VERDICT_REFUSE)
		return reply_err(rep, d.err, "No rebind grant: %s.", d.why);
	if (!g->new_name)
		return reply_err(rep, -EINVAL,
				 "A rebind grant needs the new VM's name.");
	return check_new_names(g->new_name, g->new_uuid, rep);
}

static void reply_grant(struct reply *rep, const struct vm *vm)
{
	Mig__GrantReply *gr = &rep->grant;

	mig__grant_reply__init(gr);
	gr->has_token = gr->has_kind = gr->has_expires_ms = true;
	gr->token.data = (uint8_t *)vm->grant.token;
	gr->token.len = MIG_TOKEN_LEN;
	gr->kind = (Mig__GrantKind)vm->grant.kind;
	gr->vm_id = (char *)vm->id;
	gr->expires_ms = vm->grant.expires_ms;
	rep->resp.grant = gr;
}

int handle_grant(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep)
{
	const Mig__Grant *g = req->grant;
	struct grant ng = { 0 };
	struct vm *vm;
	int r;

	if (!g || !g->has_kind || (g->kind != MIG__GRANT_KIND__SUCCESSOR &&
				   g->kind != MIG__GRANT_KIND__REBIND))
		return reply_err(rep, -EINVAL,
				 "GRANT needs a kind: successor or rebind.");
	vm = vm_find(g->vm);
	if (!vm)
		return reply_err(rep, -ENOENT, "No VM named %s is registered.",
				 g->vm ? g->vm : "(none)");
	if (vm->owner_gone)
		return reply_err(rep, -ESRCH,
				 "The owner process of VM %s is gone.", vm->name);
	ng.kind = (enum grant_kind)g->kind;
	ng.uid = vm->owner_uid;
	if (ng.kind == GRANT_REBIND) {
		r = check_rebind(g, rep);
		if (r)
			return r;
		mig_strlcpy(ng.new_name, g->new_name, sizeof(ng.new_name));
		mig_strlcpy(ng.new_uuid, g->new_uuid, sizeof(ng.new_uuid));
		if (g->has_uid)
			ng.uid = g->uid;
	}
	if (getrandom(ng.token, sizeof(ng.token), 0) != sizeof(ng.token))
		return -EIO;
	ng.expires = mig_mono_ms() + migrd.cfg.grant_timeout_ms;
	ng.expires_ms = mig_now_ms() + migrd.cfg.grant_timeout_ms;
	/* One live grant per VM: a new one revokes the previous. */
	vm->grant = ng;
	explicit_bzero(&ng, sizeof(ng));
	log_info("VM %s (%s): %s grant issued by pid %d uid %u; claimable by uid %u%s%s for %us",
		 vm->name, vm->id, grant_kind_name(vm->grant.kind),
		 c->cred.pid, c->cred.uid, vm->grant.uid,
		 vm->grant.kind == GRANT_REBIND ? " as new VM " : "",
		 vm->grant.new_name, migrd.cfg.grant_timeout_ms / 1000);
	reply_grant(rep, vm);
	return 0;
}
