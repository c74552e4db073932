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
