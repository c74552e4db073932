// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>

#include "fsm.h"
#include "mig-util.h"

#define O MIG_STATE_OFFERED
#define C MIG_STATE_CLAIMED
#define R MIG_STATE_READY
#define S MIG_STATE_SWITCHING
#define K MIG_STATE_COMMITTED
#define A MIG_STATE_ABORTED
#define BAD 0

/*
 * Rows: events; columns: OFFERED CLAIMED READY SWITCHING. BAD refuses.
 *
 * Losing the source once it sent its state does not abort: the guest's
 * state and memory are with the destination, which can still commit, and
 * aborting would kill the only copy of the guest still able to run.
 */
static const enum mig_state table[EV_COUNT][4] = {
	/*			  O    C    R    S */
	[EV_CLAIM]	= {	  C,   BAD, BAD, BAD },
	[EV_READY]	= {	  BAD, R,   BAD, BAD },
	[EV_STATE]	= {	  BAD, BAD, S,   BAD },
	[EV_COMMIT]	= {	  BAD, BAD, BAD, K   },
	[EV_ABORT]	= {	  A,   A,   A,   A   },
	[EV_TIMEOUT]	= {	  A,   A,   A,   A   },
	[EV_SOURCE_LOST] = {	  A,   A,   A,   S   },
	[EV_DEST_LOST]	= {	  BAD, A,   A,   A   },
};

int fsm_final(enum mig_state s)
{
	return s == K || s == A;
}

int fsm_next(enum mig_state cur, enum fsm_event ev, enum mig_state *next)
{
	enum mig_state n;

	if ((unsigned int)ev >= EV_COUNT)
		return -EINVAL;
	if (fsm_final(cur))
		return -ESTALE;
	if (cur < O || cur > S)
		return -EINVAL;
	n = table[ev][cur - O];
	if (n == BAD)
		return ev == EV_CLAIM ? -EBUSY : -EPROTO;
	*next = n;
	return 0;
}

/*
 * A direct switchover: only the source knows whether it resumed or sent
 * GO. Its word commits; so does its death, once the destination says it
 * has the guest (a dead source can never resume). The destination's word
 * alone is a claim nobody can check: it is noted, and waits.
 */
static int direct_commit(const struct commit_facts *f)
{
	if (f->word == WORD_SOURCE)
		return 0;
	if (f->source_dead && (f->word == WORD_DEST || f->dest_said ||
			       f->recovered))
		return 0;
	return -EINPROGRESS;
}

/*
 * Without a channel of its own the source gave its say to migrd with its
 * state (STATE): the destination commits what it took from migrd. A
 * rebind's source gave up the guest (it was told to exit); an adopted
 * VMM's claimant said when the state moved.
 */
int fsm_commit(const struct commit_facts *f)
{
	if (fsm_final(f->state))
		return -ESTALE;
	if (f->state != R && f->state != S)
		return -EPROTO;
	if (f->direct && !f->adopted && !f->rebind)
		return direct_commit(f);
	if (f->word == WORD_SOURCE)
		return -EPERM;
	if (f->word == WORD_SOURCE_EXIT)
		return -EINPROGRESS;
	if (f->state != S)
		return -EPROTO;
	if (f->rebind)
		return f->memory_handed ? 0 : -EPROTO;
	return f->adopted || f->state_taken ? 0 : -EPROTO;
}

const char *fsm_event_name(enum fsm_event ev)
{
	static const char *const names[EV_COUNT] = {
		[EV_CLAIM] = "claim", [EV_READY] = "ready",
		[EV_STATE] = "state", [EV_COMMIT] = "commit",
		[EV_ABORT] = "abort", [EV_TIMEOUT] = "timeout",
		[EV_SOURCE_LOST] = "source lost",
		[EV_DEST_LOST] = "destination lost",
	};

	return (unsigned int)ev < EV_COUNT ? names[ev] : "unknown";
}
