/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The rebind rule as one pure function. Every claim on a VM's memory is
 * decided here and nowhere else: memory keeps its contents only when it
 * goes to the same VM identity (the successor of an upgrade, the
 * "same-ASID" case); any other claim that management authorised is a
 * rebind and is zeroed first or refused, per rebind_policy; everything
 * else is refused.
 */
#ifndef MIGRD_POLICY_H
#define MIGRD_POLICY_H

#include <stdbool.h>

#include "conf.h"

/* What a token presented with a claim turned out to be. */
enum token_check {
	TOKEN_NONE,		/* no token presented */
	TOKEN_UNKNOWN,		/* matches no grant: forged or stale */
	TOKEN_OTHER_VM,		/* a live grant of another VM */
	TOKEN_USED,		/* this VM's grant, already used once */
	TOKEN_EXPIRED,		/* this VM's grant, past its expiry */
	TOKEN_VALID,		/* this VM's grant, unused, in time */
	TOKEN_CHECK_COUNT,
};

/* What a grant lets its bearer do; mirrors the protocol's GrantKind. */
enum grant_kind {
	GRANT_NONE,
	GRANT_SUCCESSOR,	/* the same VM identity: an upgrade */
	GRANT_REBIND,		/* another identity */
	GRANT_KIND_COUNT,
};

struct claim_facts {
	bool uid_ok;		/* claimant is root or the uid the grant names */
	enum token_check token;
	enum grant_kind kind;	/* of the grant the token matched */
	enum rebind_policy policy;
};

enum verdict {
	VERDICT_REFUSE,		/* nothing leaves migrd */
	VERDICT_AS_IS,		/* fds and VM fd, contents kept */
	VERDICT_ZERO,		/* fds only, after a verified zeroing */
};

struct decision {
	enum verdict verdict;
	int err;		/* negative errno when refused */
	const char *why;	/* one sentence, for the log and the reply */
};

void policy_decide(const struct claim_facts *f, struct decision *d);

const char *verdict_name(enum verdict v);
const char *token_check_name(enum token_check t);
const char *grant_kind_name(enum grant_kind k);

#endif /* MIGRD_POLICY_H */
