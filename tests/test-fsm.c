// SPDX-License-Identifier: LGPL-2.1-or-later
/* Every (state, event) pair of the session state machine, from a table. */
#include <criterion/criterion.h>
#include <errno.h>

#include "fsm.h"

#define O MIG_STATE_OFFERED
#define C MIG_STATE_CLAIMED
#define R MIG_STATE_READY
#define S MIG_STATE_SWITCHING
#define K MIG_STATE_COMMITTED
#define A MIG_STATE_ABORTED

/* Expected next state, or a negative errno, per event for O C R S K A. */
static const int expect[EV_COUNT][6] = {
	[EV_CLAIM]	 = { C, -EBUSY, -EBUSY, -EBUSY, -ESTALE, -ESTALE },
	[EV_READY]	 = { -EPROTO, R, -EPROTO, -EPROTO, -ESTALE, -ESTALE },
	[EV_STATE]	 = { -EPROTO, -EPROTO, S, -EPROTO, -ESTALE, -ESTALE },
	[EV_COMMIT]	 = { -EPROTO, -EPROTO, -EPROTO, K, -ESTALE, -ESTALE },
	[EV_ABORT]	 = { A, A, A, A, -ESTALE, -ESTALE },
	[EV_TIMEOUT]	 = { A, A, A, A, -ESTALE, -ESTALE },
	/* Mid-switchover the destination holds everything: keep going. */
	[EV_SOURCE_LOST] = { A, A, A, S, -ESTALE, -ESTALE },
	[EV_DEST_LOST]	 = { -EPROTO, A, A, A, -ESTALE, -ESTALE },
};

Test(fsm, every_state_and_event)
{
	static const enum mig_state states[] = { O, C, R, S, K, A };

	for (int ev = 0; ev < EV_COUNT; ev++) {
		for (int i = 0; i < 6; i++) {
			enum mig_state next = MIG_STATE_NONE;
			int r = fsm_next(states[i], ev, &next);

			if (expect[ev][i] < 0)
				cr_expect_eq(r, expect[ev][i],
					     "%s in state %d: got %d",
					     fsm_event_name(ev), states[i], r);
			else
				cr_expect(r == 0 && (int)next == expect[ev][i],
					  "%s in state %d: got %d -> %d",
					  fsm_event_name(ev), states[i], r,
					  next);
		}
	}
}

Test(fsm, only_commit_and_abort_are_final)
{
	cr_assert(fsm_final(K));
	cr_assert(fsm_final(A));
	cr_assert(!fsm_final(O) && !fsm_final(C) && !fsm_final(R) &&
		  !fsm_final(S));
}

Test(fsm, nonsense_is_refused)
{
	enum mig_state next;

	cr_assert_eq(fsm_next(MIG_STATE_NONE, EV_CLAIM, &next), -EINVAL);
	cr_assert_eq(fsm_next(O, EV_COUNT, &next), -EINVAL);
	cr_assert_eq(fsm_next((enum mig_state)42, EV_ABORT, &next), -EINVAL);
}

/*
 * Who commits (issue #20): the source decides. In a direct switchover a
 * destination's word alone never commits while the source could resume;
 * the source's word (GO sent) does, and so does its exit once the
 * destination says it has the guest.
 */
struct commit_case {
	const char *what;
	struct commit_facts f;
	int want;
};

static const struct commit_case commit_cases[] = {
	/* The lies of a destination (direct). */
	{ "destination's COMMIT, source silent (READY)",
	  { .state = R, .word = WORD_DEST, .direct = true }, -EINPROGRESS },
	{ "destination's COMMIT, source silent (SWITCHING)",
	  { .state = S, .word = WORD_DEST, .direct = true }, -EINPROGRESS },
	{ "destination's COMMIT again, already noted",
	  { .state = R, .word = WORD_DEST, .direct = true, .dest_said = true },
	  -EINPROGRESS },
	{ "destination's COMMIT before READY",
	  { .state = C, .word = WORD_DEST }, -EPROTO },
	{ "destination's COMMIT before the claim",
	  { .state = O, .word = WORD_DEST }, -EPROTO },
	{ "destination's COMMIT after the end",
	  { .state = A, .word = WORD_DEST, .direct = true,
	    .source_dead = true }, -ESTALE },
	/* The source decides. */
	{ "source says GO (READY: its STATE went on the channel)",
	  { .state = R, .word = WORD_SOURCE, .direct = true }, 0 },
	{ "source says GO (SWITCHING)",
	  { .state = S, .word = WORD_SOURCE, .direct = true }, 0 },
	{ "source says GO before READY",
	  { .state = C, .word = WORD_SOURCE, .direct = true }, -EPROTO },
	{ "source exits, destination silent",
	  { .state = R, .word = WORD_SOURCE_EXIT, .direct = true,
	    .source_dead = true }, -EINPROGRESS },
	{ "source exits after the destination's COMMIT",
	  { .state = R, .word = WORD_SOURCE_EXIT, .direct = true,
	    .source_dead = true, .dest_said = true }, 0 },
	{ "destination's COMMIT after the source exited",
	  { .state = R, .word = WORD_DEST, .direct = true,
	    .source_dead = true }, 0 },
	{ "recovered from the journal: the source exits first",
	  { .state = S, .word = WORD_SOURCE_EXIT, .direct = true,
	    .recovered = true, .source_dead = true }, 0 },
	{ "the owner execs (not dead): nothing",
	  { .state = S, .word = WORD_SOURCE_EXIT, .direct = true,
	    .dest_said = true }, -EINPROGRESS },
	/* Without the channel the source gave its say to migrd. */
	{ "state through migrd, taken, destination's COMMIT",
	  { .state = S, .word = WORD_DEST, .state_taken = true }, 0 },
	{ "state through migrd, never taken",
	  { .state = S, .word = WORD_DEST }, -EPROTO },
	{ "state through migrd, not even sent",
	  { .state = R, .word = WORD_DEST }, -EPROTO },
	{ "state through migrd: a source cannot commit it",
	  { .state = S, .word = WORD_SOURCE, .state_taken = true }, -EPERM },
	/* A rebind: only once the zeroed memory went out. */
	{ "rebind, memory handed",
	  { .state = S, .word = WORD_DEST, .rebind = true,
	    .memory_handed = true }, 0 },
	{ "rebind, memory still zeroing",
	  { .state = S, .word = WORD_DEST, .rebind = true }, -EPROTO },
	/* Adopted: the claimant names the new VMM after STATE. */
	{ "adopted, after STATE",
	  { .state = S, .word = WORD_DEST, .adopted = true }, 0 },
	{ "adopted, before STATE",
	  { .state = R, .word = WORD_DEST, .adopted = true }, -EPROTO },
};

Test(fsm, the_source_decides_the_commit)
{
	for (size_t i = 0; i < sizeof(commit_cases) / sizeof(*commit_cases);
	     i++) {
		const struct commit_case *c = &commit_cases[i];
		int r = fsm_commit(&c->f);

		cr_expect_eq(r, c->want, "%s: got %d, want %d", c->what, r,
			     c->want);
	}
}
