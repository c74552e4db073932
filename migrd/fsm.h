/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session state machine as a pure function: which event moves which
 * state where, and which errno refuses the rest. Who may cause an event
 * is decided by the handlers; what an event does to a state only here.
 */
#ifndef MIGRD_FSM_H
#define MIGRD_FSM_H

#include "libmig.h"

enum fsm_event {
	EV_CLAIM,		/* destination takes the fds */
	EV_READY,		/* destination built its VM */
	EV_STATE,		/* source paused and sent state */
	EV_COMMIT,		/* destination owns the guest */
	EV_ABORT,		/* a participant or the operator cancels */
	EV_TIMEOUT,		/* a deadline passed */
	EV_SOURCE_LOST,		/* the source connection or process died */
	EV_DEST_LOST,		/* the destination died */
	EV_COUNT,
};

/*
 * Returns 0 and the next state, or a negative errno: -EBUSY when the
 * session is already claimed, -ESTALE when it has ended, -EPROTO for a
 * step out of order.
 */
int fsm_next(enum mig_state cur, enum fsm_event ev, enum mig_state *next);

/* True for COMMITTED and ABORTED. */
int fsm_final(enum mig_state s);

const char *fsm_event_name(enum fsm_event ev);

#endif /* MIGRD_FSM_H */
