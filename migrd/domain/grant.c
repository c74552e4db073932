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

#include "domain.h"
#include "log.h"

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

enum token_check grant_check(struct vm *vm, const uint8_t *token, size_t len,
			     const struct grant **out)
{
	struct vm *other;

	*out = NULL;
	if (!token || len == 0)
		return TOKEN_NONE;
	if (len != MIG_TOKEN_LEN)
		return TOKEN_UNKNOWN;
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
static int check_rebind(const char *new_name, const char *new_uuid,
			struct why *w)
{
	struct claim_facts f = {
		.uid_ok = true, .token = TOKEN_VALID, .kind = GRANT_REBIND,
		.policy = migrd.cfg.rebind,
	};
	struct decision d;

	policy_decide(&f, &d);
	if (d.verdict == VERDICT_REFUSE)
		return why_fail(w, d.err, "No rebind grant: %s.", d.why);
	if (!new_name)
		return why_fail(w, -EINVAL,
				"A rebind grant needs the new VM's name.");
	return check_new_names(new_name, new_uuid, w);
}

/*
 * A new one-time token for vm (in vm->grant), replacing any earlier one.
 * A rebind names the new identity and who may claim it (the owner's
 * user unless has_uid).
 */
int grant_issue(struct vm *vm, enum grant_kind kind, const char *new_name,
		const char *new_uuid, bool has_uid, uid_t uid, struct why *w)
{
	struct grant ng = { 0 };
	int r;

	if (vm->owner_gone)
		return why_fail(w, -ESRCH,
				"The owner process of VM %s is gone.", vm->name);
	ng.kind = kind;
	ng.uid = vm->owner_uid;
	if (kind == GRANT_REBIND) {
		r = check_rebind(new_name, new_uuid, w);
		if (r)
			return r;
		mig_strlcpy(ng.new_name, new_name, sizeof(ng.new_name));
		mig_strlcpy(ng.new_uuid, new_uuid, sizeof(ng.new_uuid));
		if (has_uid)
			ng.uid = uid;
	}
	if (getrandom(ng.token, sizeof(ng.token), 0) != sizeof(ng.token))
		return why_fail(w, -EIO, "No randomness for a token.");
	ng.expires = mig_mono_ms() + migrd.cfg.grant_timeout_ms;
	ng.expires_ms = mig_now_ms() + migrd.cfg.grant_timeout_ms;
	/* One live grant per VM: a new one revokes the previous. */
	vm->grant = ng;
	explicit_bzero(&ng, sizeof(ng));
	return 0;
}
