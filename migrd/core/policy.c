// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * How the identity maps onto hardware: on SEV/SEV-SNP the memory of a
 * guest is bound to its ASID, on TDX to its HKID. A destination can only
 * run that memory under the same ASID/HKID by adopting the source's
 * encryption context (KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM, which takes the
 * source VM fd). migrd hands the source VM fd to a same-identity
 * successor only (VERDICT_AS_IS), so the identity here and the ASID there
 * move together; a rebind never gets the VM fd and its memory is zeroed,
 * which is what the kernel would have to do for a new ASID as well.
 */
#include <errno.h>

#include "policy.h"

static void refuse(struct decision *d, int err, const char *why)
{
	d->verdict = VERDICT_REFUSE;
	d->err = err;
	d->why = why;
}

void policy_decide(const struct claim_facts *f, struct decision *d)
{
	/* uid first: a stranger learns nothing about tokens. */
	if (!f->uid_ok)
		return refuse(d, -EPERM, "the claimant's user may not take this VM's memory");
	switch (f->token) {
	case TOKEN_NONE:
		return refuse(d, -EPERM, "a claim needs a token from management (migctl grant)");
	case TOKEN_UNKNOWN:
		return refuse(d, -EPERM, "the token is not one migrd issued");
	case TOKEN_OTHER_VM:
		return refuse(d, -EPERM, "the token was issued for another VM");
	case TOKEN_USED:
		return refuse(d, -EPERM, "the token was already used");
	case TOKEN_EXPIRED:
		return refuse(d, -EPERM, "the token has expired");
	case TOKEN_VALID:
		break;
	default:
		return refuse(d, -EINVAL, "the token check failed");
	}
	switch (f->kind) {
	case GRANT_SUCCESSOR:
		d->verdict = VERDICT_AS_IS;
		d->err = 0;
		d->why = "same identity (upgrade): memory handed over as is";
		return;
	case GRANT_REBIND:
		if (f->policy == REBIND_REFUSE)
			return refuse(d, -EACCES, "rebind to another identity refused by rebind_policy = refuse");
		d->verdict = VERDICT_ZERO;
		d->err = 0;
		d->why = "rebind to another identity: memory zeroed before it leaves migrd";
		return;
	default:
		return refuse(d, -EINVAL, "the grant has no kind");
	}
}

const char *verdict_name(enum verdict v)
{
	static const char *const names[] = {
		[VERDICT_REFUSE] = "refuse", [VERDICT_AS_IS] = "as-is",
		[VERDICT_ZERO] = "zero",
	};

	return (unsigned int)v <= VERDICT_ZERO ? names[v] : "?";
}

const char *token_check_name(enum token_check t)
{
	static const char *const names[TOKEN_CHECK_COUNT] = {
		[TOKEN_NONE] = "none", [TOKEN_UNKNOWN] = "unknown",
		[TOKEN_OTHER_VM] = "other-vm", [TOKEN_USED] = "used",
		[TOKEN_EXPIRED] = "expired", [TOKEN_VALID] = "valid",
	};

	return (unsigned int)t < TOKEN_CHECK_COUNT ? names[t] : "?";
}

const char *grant_kind_name(enum grant_kind k)
{
	static const char *const names[GRANT_KIND_COUNT] = {
		[GRANT_NONE] = "none", [GRANT_SUCCESSOR] = "successor",
		[GRANT_REBIND] = "rebind",
	};

	return (unsigned int)k < GRANT_KIND_COUNT ? names[k] : "?";
}
