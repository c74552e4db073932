// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The rebind rule, every combination of its inputs against a table of
 * rules written from the design (architecture.md, "Identities and
 * policy"), not from the code: the first matching row wins, and every
 * combination must be matched and decided exactly as the row says.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "policy.h"

#define ANY -1

struct rule {
	int uid_ok, token, kind, policy;	/* ANY or the value */
	enum verdict verdict;
	int err;
};

static const struct rule rules[] = {
	/* Strangers are refused whatever they hold. */
	{ 0, ANY, ANY, ANY, VERDICT_REFUSE, -EPERM },
	/* No token, a forged, foreign, replayed or late one: refused. */
	{ 1, TOKEN_NONE, ANY, ANY, VERDICT_REFUSE, -EPERM },
	{ 1, TOKEN_UNKNOWN, ANY, ANY, VERDICT_REFUSE, -EPERM },
	{ 1, TOKEN_OTHER_VM, ANY, ANY, VERDICT_REFUSE, -EPERM },
	{ 1, TOKEN_USED, ANY, ANY, VERDICT_REFUSE, -EPERM },
	{ 1, TOKEN_EXPIRED, ANY, ANY, VERDICT_REFUSE, -EPERM },
	/* The successor of an upgrade: the same identity, memory as is,
	 * whatever the rebind policy. */
	{ 1, TOKEN_VALID, GRANT_SUCCESSOR, ANY, VERDICT_AS_IS, 0 },
	/* A rebind: zeroed, or refused by policy. */
	{ 1, TOKEN_VALID, GRANT_REBIND, REBIND_ZERO, VERDICT_ZERO, 0 },
	{ 1, TOKEN_VALID, GRANT_REBIND, REBIND_REFUSE, VERDICT_REFUSE, -EACCES },
	/* A grant without a kind is malformed. */
	{ 1, TOKEN_VALID, GRANT_NONE, ANY, VERDICT_REFUSE, -EINVAL },
};

static bool match(int want, int have)
{
	return want == ANY || want == have;
}

static const struct rule *find(const struct claim_facts *f)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(*rules); i++) {
		const struct rule *r = &rules[i];

		if (match(r->uid_ok, f->uid_ok) && match(r->token, f->token) &&
		    match(r->kind, f->kind) && match(r->policy, f->policy))
			return r;
	}
	return NULL;
}

Test(policy, every_combination)
{
	unsigned int n = 0, as_is = 0, zero = 0;

	for (int u = 0; u <= 1; u++)
	for (int t = 0; t < TOKEN_CHECK_COUNT; t++)
	for (int k = 0; k < GRANT_KIND_COUNT; k++)
	for (int p = REBIND_ZERO; p <= REBIND_REFUSE; p++) {
		struct claim_facts f = {
			.uid_ok = u, .token = (enum token_check)t,
			.kind = (enum grant_kind)k,
			.policy = (enum rebind_policy)p,
		};
		const struct rule *r = find(&f);
		struct decision d;

		policy_decide(&f, &d);
		cr_assert_not_null(r, "no rule for uid_ok=%d token=%s kind=%s",
				   u, token_check_name(f.token),
				   grant_kind_name(f.kind));
		cr_assert_eq(d.verdict, r->verdict,
			     "uid_ok=%d token=%s kind=%s policy=%s: %s, want %s",
			     u, token_check_name(f.token),
			     grant_kind_name(f.kind), rebind_policy_name(f.policy),
			     verdict_name(d.verdict), verdict_name(r->verdict));
		cr_assert_eq(d.err, r->err, "uid_ok=%d token=%s kind=%s: err %d",
			     u, token_check_name(f.token),
			     grant_kind_name(f.kind), d.err);
		cr_assert(d.why && *d.why, "every decision explains itself");
		n++;
		as_is += d.verdict == VERDICT_AS_IS;
		zero += d.verdict == VERDICT_ZERO;
	}
	cr_assert_eq(n, 2 * TOKEN_CHECK_COUNT * GRANT_KIND_COUNT * 2);
	/* Only two cells keep contents; only one zeroes. */
	cr_assert_eq(as_is, 2);
	cr_assert_eq(zero, 1);
}

Test(policy, contents_kept_only_for_the_same_identity)
{
	struct claim_facts f = { .uid_ok = true, .token = TOKEN_VALID };
	struct decision d;

	for (int k = 0; k < GRANT_KIND_COUNT; k++) {
		f.kind = (enum grant_kind)k;
		policy_decide(&f, &d);
		cr_assert_eq(d.verdict == VERDICT_AS_IS, k == GRANT_SUCCESSOR);
	}
}
