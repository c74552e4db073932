// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Who may do what to a session, and what each step changes: the
 * decisions the handlers ask for instead of making them. A handler
 * turns a request into these calls and their answers (a struct why)
 * into its reply; everything here is said in domain terms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"

static int too_many_sessions(const struct peer *p, struct why *w)
{
	if (sessions_of(p->id) >= migrd.cfg.max_sessions_per_client)
		return why_fail(w, -EMFILE,
				"This connection has max_sessions_per_client sessions open.");
	return 0;
}

/* One session per VM at a time. */
static int vm_busy(const struct vm *vm, struct why *w)
{
	if (vm->session)
		return why_fail(w, -EBUSY, "VM %s already has session %llu open.",
				vm->name,
				(unsigned long long)vm->session->id);
	return 0;
}

int session_may_offer(const struct vm *vm, const struct peer *p,
		      struct why *w)
{
	if (p->ino != vm->owner_ino || vm->owner_gone)
		return why_fail(w, -EPERM,
				"Only the registered owner process of VM %s may offer it.",
				vm->name);
	return vm_busy(vm, w) ?: too_many_sessions(p, w);
}

int session_may_adopt(const struct vm *vm, struct why *w)
{
	if (vm->owner_gone || vm->owner.fd < 0)
		return why_fail(w, -ESRCH,
				"VM %s has no live owner process to adopt from.",
				vm->name);
	return vm_busy(vm, w);
}

/* The owner is the source of an adoption; it has no connection to migrd. */
struct session *session_adopt(struct vm *vm)
{
	struct peer owner = {
		.id = 0, .pid = vm->owner_pid, .uid = vm->owner_uid,
		.ino = vm->owner_ino, .pidfd = vm->owner.fd,
	};
	struct session *s = session_new(vm, &owner);

	if (s) {
		s->source_on = false;
		s->adopted = true;
	}
	return s;
}

/* A refusal counts; one that spends the token makes it useless. */
static int refuse(struct session *s, bool spend, struct why *w, int err,
		  const char *why)
{
	if (spend)
		s->vm->grant.used = true;
	migrd.refused++;
	return why_fail(w, err, "Claim of VM %s refused: %s", s->vm_name, why);
}

/*
 * Whether p may claim s with this token, and as what (d): the rebind
 * rule's facts gathered here, decided by policy_decide(), said in the
 * log with who was involved.
 */
int session_may_claim(struct session *s, const struct peer *p,
		      const uint8_t *token, size_t len,
		      const struct grant **g, struct decision *d,
		      struct why *w)
{
	struct claim_facts f = { .policy = migrd.cfg.rebind };
	uid_t allowed;
	int r;

	if (p->id == s->source_id)
		return why_fail(w, -EINVAL,
				"A source cannot claim its own session.");
	r = too_many_sessions(p, w);
	if (r)
		return r;
	f.token = grant_check(s->vm, token, len, g);
	f.kind = *g ? (*g)->kind : GRANT_NONE;
	allowed = *g ? (*g)->uid : s->vm->owner_uid;
	f.uid_ok = p->uid == 0 || p->uid == allowed;
	policy_decide(&f, d);
	log_info("claim of session %llu (VM %s, identity %s) by pid %d uid %u: token %s, grant %s%s%s -> %s: %s",
		 (unsigned long long)s->id, s->vm_name, s->vm_id, p->pid,
		 p->uid, token_check_name(f.token), grant_kind_name(f.kind),
		 f.kind == GRANT_REBIND ? " to new VM " : "",
		 f.kind == GRANT_REBIND ? (*g)->new_name : "",
		 verdict_name(d->verdict), d->why);
	if (d->verdict == VERDICT_REFUSE) {
		char why[256];

		snprintf(why, sizeof(why), "%s.", d->why);
		return refuse(s, false, w, d->err, why);
	}
	if (s->state != MIG_STATE_OFFERED)
		return why_fail(w, -EBUSY,
				"Session %llu was already claimed by pid %d.",
				(unsigned long long)s->id, s->dest_pid);
	if (s->adopted && d->verdict != VERDICT_AS_IS)
		return refuse(s, false, w, -EACCES,
			      "it was adopted from a VMM that does not speak libmig, so only its successor may claim it; a rebind needs the old VMM to pause and exit on its own.");
	return 0;
}

/*
 * A destination that could not load the state would fail after the
 * source paused: refuse now, while the guest still runs in the source,
 * and end the session so that the source stops waiting for it.
 */
int session_cannot_load(struct session *s, const char *loads,
			struct why *w)
{
	char why[MIG_REASON_MAX], says[sizeof(why) + 64];

	snprintf(why, sizeof(why), "the destination cannot load state %s v%u (it loads %s)",
		 s->format.name, s->format.version, loads);
	snprintf(says, sizeof(says), "%s; the guest runs on in the source.",
		 why);
	refuse(s, true, w, -EPROTONOSUPPORT, says);
	session_event(s, EV_ABORT, EPROTONOSUPPORT, why);
	return -EPROTONOSUPPORT;
}

/* One use: whatever happens to this session, the token is spent. */
void session_spend_grant(struct session *s, const struct grant *g)
{
	s->vm->grant.used = true;
	s->grant = *g;
	explicit_bzero(s->grant.token, sizeof(s->grant.token));
}

/*
 * A rebind: the source VM fd carries its identity (ASID/HKID on
 * SEV/TDX), the devices reach its hardware; neither ever goes to another
 * identity, so both are closed now. Gone for good: the zeroed memory's
 * hand-out must not put their closed slots into SCM_RIGHTS.
 */
void session_drop_identity(struct session *s)
{
	int fd = session_hand_fd(&s->vm_fd);

	mig_close_fds(&fd, 1);
	for (unsigned int i = 0; i < s->ndevices; i++) {
		fd = session_hand_fd(&s->devices[i].fd);
		mig_close_fds(&fd, 1);
	}
	s->ndevices = 0;
}

bool session_may_step(const struct session *s, const struct peer *p,
		      enum fsm_event ev)
{
	bool source = p->id == s->source_id, dest = p->id == s->dest_id;

	switch (ev) {
	case EV_READY:
		return dest;
	case EV_COMMIT:
		/* The source's COMMIT: GO went out on the direct channel. */
		return dest || (source && s->direct && !s->adopted);
	case EV_STATE:
		/* Adopted: the claimant saw the old VMM's migration end. */
		return source || (dest && s->adopted);
	case EV_ABORT:
		/* Once the two sides decide between them, only they may. */
		return source || dest || (p->admin && !s->direct);
	default:
		return false;
	}
}

/*
 * A source says ABORT after its session committed: it said GO (a commit
 * needs its word), so it now runs the guest beside the destination. It
 * is killed at once rather than after exit_grace: the guest must not run
 * twice, not even for a grace.
 */
void session_late_abort(struct session *s, const struct peer *p)
{
	if (s->state != MIG_STATE_COMMITTED || p->id != s->source_id ||
	    s->adopted || reaper_now(s->source_pid))
		return;
	log_warn("session %llu (VM %s): its old VMM pid %d says ABORT after GO: it resumed the guest beside its successor",
		 (unsigned long long)s->id, s->vm_name, s->source_pid);
}

int session_keep_state(struct session *s, const void *data, size_t len)
{
	s->blob = malloc(len ? len : 1);
	if (!s->blob)
		return -ENOMEM;
	memcpy(s->blob, data, len);
	s->bloblen = len;
	return 0;
}

/* The state, taken exactly once: the caller frees it. */
uint8_t *session_take_state(struct session *s, size_t *len)
{
	uint8_t *blob = s->blob;

	*len = s->bloblen;
	s->blob = NULL;
	return blob;
}

/*
 * The destination is ready and the source asks: it gets its end of the
 * direct channel (returned, the caller sends it), and from then on the
 * two sides decide between them. -1 when this is not that moment.
 */
int session_go_direct(struct session *s, const struct peer *p)
{
	int fd;

	if (p->id != s->source_id || s->peer_fd < 0 ||
	    s->state != MIG_STATE_READY)
		return -1;
	fd = session_hand_fd(&s->peer_fd);
	s->direct = true;
	session_set_deadline(s);
	migrd.dirty = true;
	log_info("session %llu (VM %s): the source has its end of the direct channel; source and destination decide from here",
		 (unsigned long long)s->id, s->vm_name);
	return fd;
}

/* The parent and run state of pid, from /proc; 'X' if it is gone. */
static char proc_state(pid_t pid, pid_t *ppid)
{
	char path[64], line[128], state = 'X';
	FILE *f;

	*ppid = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "State: %c", &state) != 1 &&
		    sscanf(line, "PPid: %d", ppid) == 1)
			break;
	if (f)
		fclose(f);
	return state;
}

/*
 * The COMMIT of an adopted VM names the new VMM by a pidfd: a child of
 * the claimant, so a claimant cannot hand the VM's identity, and with
 * it the old owner's death, to a process it did not start. Only after
 * the old VMM handed over its state (SWITCHING): before, the old VMM
 * still runs the guest, and a COMMIT would have migrd kill it.
 */
int session_adopted_successor(struct session *s, const struct peer *p,
			      int pidfd, struct why *w)
{
	pid_t pid, ppid;
	uint64_t ino;
	char state;

	if (s->state != MIG_STATE_SWITCHING)
		return why_fail(w, -EPROTO,
				"Session %llu: the old VMM has not handed over its state (STATE) yet; it still runs the guest.",
				(unsigned long long)s->id);
	if (pidfd < 0 || mig_pidfd_pid(pidfd, &pid) < 0)
		return why_fail(w, -EINVAL,
				"The COMMIT of adopted VM %s must carry the new VMM's pidfd.",
				s->vm_name);
	state = proc_state(pid, &ppid);
	/* A dead child not yet reaped still has its pid: it runs nothing. */
	if (state == 'Z' || state == 'X')
		return why_fail(w, -ESRCH, "Pid %d has exited: it cannot run VM %s.",
				pid, s->vm_name);
	if (ppid != p->pid)
		return why_fail(w, -EPERM,
				"Pid %d is not a child of the claimant (pid %d): it cannot become VM %s's owner.",
				pid, p->pid, s->vm_name);
	/*
	 * The old VMM may well be the claimant's child too (a launcher that
	 * started both): named as its own successor, it would be killed
	 * after exit_grace as the old one, and the guest with it.
	 */
	if (pid == s->source_pid)
		return why_fail(w, -EPERM,
				"Pid %d is VM %s's old VMM: it cannot be its own successor.",
				pid, s->vm_name);
	if (mig_pidfd_ino(pidfd, &ino) < 0)
		return why_fail(w, -EBADF, "Cannot pin pid %d.", pid);
	/* The destination is the new VMM, not the launcher. */
	mig_close_fds(&s->dest_proc.fd, 1);
	s->dest_proc.fd = dup(pidfd);
	if (s->dest_proc.fd < 0)
		return why_fail(w, -errno, "Cannot keep pid %d's pidfd: %s.",
				pid, strerror(errno));
	s->dest_pid = pid;
	s->dest_ino = ino;
	if (mig_pid_start(pid, &s->dest_start) < 0)
		s->dest_start = 0;
	mig_pid_uid(pid, &s->dest_uid);
	return 0;
}
