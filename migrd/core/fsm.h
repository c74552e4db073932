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

/*
 * Who may move a session to COMMITTED. The source decides (migrd(8),
 * FAILURES): while it could still resume the guest, nobody else's word
 * commits. What migrd knows when a word or an exit could commit:
 */
enum commit_word {
	WORD_SOURCE,		/* the source: GO went out on the channel */
	WORD_DEST,		/* the destination: it runs the guest */
	WORD_SOURCE_EXIT,	/* no word: the source process exited */
};

struct commit_facts {
	enum mig_state state;
	enum commit_word word;
	bool direct;		/* the two sides decide on their channel */
	bool adopted;		/* a claimant speaks for a mute VMM */
	bool rebind;		/* another identity: the source gave up */
	bool recovered;		/* from the journal: the destination is mute */
	bool dest_said;		/* the destination said COMMIT earlier */
	bool source_dead;	/* the source process exited (its pidfd) */
	bool state_taken;	/* migrd's copy of the state went out */
	bool memory_handed;	/* rebind: the zeroed memory went out */
};

/*
 * 0: commit now; -EINPROGRESS: not yet, only the source can make it
 * (note a destination's word and wait); -EPROTO: out of order; -EPERM:
 * that party has no say in it.
 */
int fsm_commit(const struct commit_facts *f);

/* True for COMMITTED and ABORTED. */
int fsm_final(enum mig_state s);

const char *fsm_event_name(enum fsm_event ev);

#endif /* MIGRD_FSM_H */
