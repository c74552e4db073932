// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sessions: one handoff of one VM from a source to a destination. migrd
 * holds the source's fds only from OFFER to CLAIM (then they move to the
 * destination) and the state blob only from STATE to TAKE_STATE. The
 * source keeps its own fds throughout, so no failure here loses memory.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"

struct session *session_find(uint64_t id, bool ended_too)
{
	struct session *s;

	list_for_each_entry(s, &migrd.sessions, link)
		if (s->id == id)
			return s;
	if (ended_too)
		list_for_each_entry(s, &migrd.history, link)
			if (s->id == id)
				return s;
	return NULL;
}

static void drop_fds(struct session *s)
{
	for (unsigned int i = 0; i < s->nregions; i++) {
		if (s->regions[i].fd >= 0)
			migrd.held_fds--;
		mig_close_fds(&s->regions[i].fd, 1);
	}
	for (unsigned int i = 0; i < s->ndevices; i++) {
		if (s->devices[i].fd >= 0)
			migrd.held_fds--;
		mig_close_fds(&s->devices[i].fd, 1);
	}
	if (s->vm_fd >= 0)
		migrd.held_fds--;
	mig_close_fds(&s->vm_fd, 1);
	if (s->peer_fd >= 0)
		migrd.held_fds--;
	/* Unhanded, the source's end closes: the destination sees EOF. */
	mig_close_fds(&s->peer_fd, 1);
	if (s->dest_proc.fd >= 0 && s->dest_watched)
		watch_del(&s->dest_proc);
	s->dest_watched = false;
	mig_close_fds(&s->dest_proc.fd, 1);
	if (s->source_watched)
		watch_del(&s->source_proc);
	s->source_watched = false;
	mig_close_fds(&s->source_proc.fd, 1);
	free(s->blob);
	s->blob = NULL;
	s->bloblen = 0;
}

void session_set_deadline(struct session *s)
{
	unsigned int ms;

	/* The two sides decide from here; migrd has nothing to time out.
	 * Nor while its worker zeroes: that takes what it takes. */
	if (s->direct || s->zero == ZERO_RUNNING) {
		s->deadline = UINT64_MAX;
		return;
	}
	switch (s->state) {
	case MIG_STATE_OFFERED:
		ms = migrd.cfg.offer_timeout_ms;
		break;
	case MIG_STATE_SWITCHING:
		ms = migrd.cfg.switch_timeout_ms;
		break;
	default:
		ms = migrd.cfg.prepare_timeout_ms;
		break;
	}
	s->deadline = mig_mono_ms() + ms;
}

static void history_add(struct session *s)
{
	list_del(&s->link);
	list_add_tail(&s->link, &migrd.history);
	migrd.nsessions--;
	if (++migrd.nhistory > HISTORY_MAX) {
		struct session *old = list_entry(migrd.history.next,
						 struct session, link);

		list_del(&old->link);
		free(old);
		migrd.nhistory--;
	}
}

/* The destination's process, taken out of the session. */
static int dest_pidfd(struct session *s)
{
	int fd = s->dest_proc.fd;

	if (fd >= 0 && s->dest_watched)
		watch_del(&s->dest_proc);
	s->dest_watched = false;
	s->dest_proc.fd = -1;
	return fd;
}

/*
 * The destination becomes the owner: the identity moves with the guest.
 * The old VMM must now exit; the reaper sees to it.
 */
static void commit_owner(struct session *s)
{
	struct vm *vm = s->vm;
	int pidfd = dest_pidfd(s), old;

	if (pidfd < 0) {
		log_err("VM %s: cannot hold the new owner: %m", s->vm_name);
		return;
	}
	if (!vm->owner_gone && vm->owner.fd >= 0) {
		old = dup(vm->owner.fd);
		if (old < 0 || reaper_add(vm, old, vm->owner_pid) < 0)
			log_err("VM %s: cannot watch old VMM pid %d exit",
				vm->name, vm->owner_pid);
	}
	vm_set_owner(vm, pidfd, s->dest_pid, s->dest_uid, s->dest_ino);
	vm->owner_start = s->dest_start;
	vm->upgrades++;
}

static void session_end(struct session *s)
{
	struct vm *vm = s->vm;
	bool committed = s->state == MIG_STATE_COMMITTED;
	bool rebind = s->grant.kind == GRANT_REBIND;
	int new_owner = -1;

	/* Before drop_fds(): the destination's pidfd is in there. */
	if (committed && !rebind)
		commit_owner(s);
	else if (committed)
		new_owner = dest_pidfd(s);
	drop_fds(s);
	if (committed)
		migrd.committed++;
	else
		migrd.aborted++;
	vm->session = NULL;
	journal_vm_changed(vm);
	s->vm = NULL;
	history_add(s);
	if (committed && rebind)
		rebind_commit(s, vm, new_owner);
	/* An owner that died mid-switchover and whose successor did not
	 * commit leaves a VM nobody runs. Not while the registry is already
	 * destroying it (that is how we got here). */
	else if (vm->owner_gone && !vm->dying)
		vm_destroy(vm, "owner process gone and no successor committed");
	/* Ended: no connection takes part any more. */
	s->source_on = s->dest_on = false;
}

int session_event(struct session *s, enum fsm_event ev, int err,
		  const char *why)
{
	enum mig_state next;
	int r = fsm_next(s->state, ev, &next);

	if (r)
		return r;
	if (next == s->state)
		return 0;
	log_info("session %llu (VM %s): %s -> %s on %s%s%s",
		 (unsigned long long)s->id, s->vm_name,
		 mig_state_name((enum mig_state)s->state),
		 mig_state_name((enum mig_state)next), fsm_event_name(ev),
		 why ? ": " : "", why ? why : "");
	s->state = next;
	s->updated_ms = mig_now_ms();
	migrd.dirty = true;
	if (next == MIG_STATE_ABORTED) {
		s->error = err;
		/* Escaped, and never cut inside a UTF-8 sequence. */
		mig_escape(s->reason, sizeof(s->reason), why ? why : "");
	}
	if (fsm_final(next))
		session_end(s);
	else
		session_set_deadline(s);
	outbox_session(s);
	return 0;
}

/* The worker is done with the rebind's memory; why it failed if err. */
void session_zeroed(struct session *s, int err, const char *why)
{
	if (err) {
		s->zero = ZERO_FAILED;
		session_event(s, EV_ABORT, -err, why);
		return;
	}
	s->zero = ZERO_DONE;
	session_set_deadline(s);
	outbox_session(s);
}

/*
 * In a direct switchover a lost destination may have run the guest or
 * not; only the source knows, and it tells (ABORT when it resumes) or
 * exits (after GO). With the source silent too, nobody will tell: end it.
 */
void session_dest_lost(struct session *s, const char *why)
{
	s->dest_gone = true;
	if (!s->source_on || s->vm->owner_gone)
		session_event(s, EV_DEST_LOST, ECONNRESET, why);
}

/* The source process has exited: its pidfd turns readable then. */
static bool source_dead(const struct session *s)
{
	if (s->source_proc.fd >= 0)
		return mig_wait_readable(s->source_proc.fd, 0) == 0;
	return s->vm && s->vm->owner_gone;
}

static const char *const commit_by[] = {
	[WORD_SOURCE] = "the source says it sent GO",
	[WORD_DEST] = "the destination says it runs the guest",
	[WORD_SOURCE_EXIT] = "the source exited",
};

/*
 * A word (or the source's exit) that could commit s: 0 committed,
 * -EINPROGRESS when only the source can still make it (a destination's
 * word is noted for then), another errno with why refused. fsm_commit()
 * says who decides; the source does, wherever it can still resume.
 */
int session_commit(struct session *s, enum commit_word word, struct why *w)
{
	struct commit_facts f = {
		.state = s->state, .word = word, .direct = s->direct,
		.adopted = s->adopted,
		.rebind = s->grant.kind == GRANT_REBIND,
		.recovered = s->dest_watched && !s->dest_on,
		.dest_said = s->dest_said_commit,
		.source_dead = source_dead(s),
		.state_taken = s->state == MIG_STATE_SWITCHING && !s->blob,
		.memory_handed = s->zero == ZERO_DONE && s->nregions &&
			s->regions[0].fd < 0,
	};
	int r = fsm_commit(&f);

	if (r == -EINPROGRESS && word == WORD_DEST && !s->dest_said_commit) {
		s->dest_said_commit = true;
		log_notice("session %llu (VM %s): the destination pid %d says it committed; noted, but only the source's GO or its exit commits",
			   (unsigned long long)s->id, s->vm_name, s->dest_pid);
	}
	if (r == -EINPROGRESS)
		return why_fail(w, r, "Session %llu is not committed: the source decides (its GO, or its exit after handing over); %s.",
				(unsigned long long)s->id,
				word == WORD_DEST ? "your COMMIT is noted for then" :
				"waiting for the destination");
	if (r == -EPERM)
		return why_fail(w, r, "The source of session %llu handed its state to migrd: the destination commits it.",
				(unsigned long long)s->id);
	if (r)
		return why_fail(w, r, "Session %llu is %s: %s cannot commit it yet.",
				(unsigned long long)s->id,
				mig_state_name((enum mig_state)s->state),
				word == WORD_SOURCE ? "the source" :
				s->grant.kind == GRANT_REBIND ?
				"a destination that has not taken the zeroed memory" :
				"a destination that has not taken the state");
	/* The state went over the direct channel: migrd never heard it. */
	if (s->state == MIG_STATE_READY)
		session_event(s, EV_STATE, 0, NULL);
	return session_event(s, EV_COMMIT, 0, commit_by[word]);
}

/*
 * The source process of a direct switchover exited: normal after GO.
 * It can never resume now, so the guest is the destination's if the
 * destination says so (or said so already, or, recovered from the
 * journal, can no longer say anything and still runs).
 */
void session_source_gone(struct session *s)
{
	struct why w;

	if (s->dest_gone) {
		session_event(s, EV_DEST_LOST, ECONNRESET,
			      "source and destination both gone");
		return;
	}
	session_commit(s, WORD_SOURCE_EXIT, &w);
}

void session_peer_lost(uint64_t id)
{
	struct session *s, *tmp;

	list_for_each_entry_safe(s, tmp, &migrd.sessions, link) {
		if (s->source_on && s->source_id == id) {
			s->source_on = false;
			/* A rebind's source was told to exit: it did. */
			if (!s->direct && s->zero == ZERO_NONE)
				session_event(s, EV_SOURCE_LOST, ECONNRESET,
					      "source connection lost");
			else if (s->dest_gone)
				session_event(s, EV_DEST_LOST, ECONNRESET,
					      "source and destination both gone");
		}
		/* The event above may have ended s: it left the list then. */
		if (s->dest_on && s->dest_id == id) {
			s->dest_on = false;
			if (s->direct)
				session_dest_lost(s, "destination connection lost");
			else
				session_event(s, EV_DEST_LOST, ECONNRESET,
					      "destination connection lost");
		}
	}
}

static void recovered_dest_exited(struct watch *w, uint32_t events)
{
	struct session *s = container_of(w, struct session, dest_proc);

	watch_del(&s->dest_proc);
	mig_close_fds(&s->dest_proc.fd, 1);
	s->dest_watched = false;
	s->dest_gone = true;
	session_event(s, EV_DEST_LOST, ECONNRESET,
		      "destination exited; the source keeps the guest");
}

/*
 * A direct switchover the journal recorded: its two sides may still be
 * at it. The destination is watched by pidfd; the source is the VM's
 * owner. Whichever exits first decides (migrd(8), FAILURES).
 */
struct session *session_recover(struct vm *vm, uint64_t id, enum mig_state state,
				int dest_pidfd, pid_t pid, uid_t uid,
				uint64_t ino, uint64_t start)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s || (state != MIG_STATE_READY &&
		   state != MIG_STATE_SWITCHING)) {
		free(s);
		close(dest_pidfd);
		return NULL;
	}
	s->id = id;
	s->vm = vm;
	mig_strlcpy(s->vm_id, vm->id, sizeof(s->vm_id));
	mig_strlcpy(s->vm_name, vm->name, sizeof(s->vm_name));
	s->state = state;
	s->direct = true;
	s->grant.kind = GRANT_SUCCESSOR;
	s->source_pid = vm->owner_pid;
	s->dest_pid = pid;
	s->dest_uid = uid;
	s->dest_ino = ino;
	s->dest_start = start;
	s->peer_fd = s->vm_fd = s->source_proc.fd = -1;
	s->dest_proc.fd = dest_pidfd;
	s->dest_proc.fn = recovered_dest_exited;
	s->dest_watched = true;
	s->created_ms = s->updated_ms = mig_now_ms();
	session_set_deadline(s);
	if (watch_add(&s->dest_proc, EPOLLIN) < 0) {
		close(dest_pidfd);
		free(s);
		return NULL;
	}
	vm->session = s;
	journal_vm_changed(vm);
	list_add_tail(&s->link, &migrd.sessions);
	migrd.nsessions++;
	log_notice("session %llu (VM %s): switchover recovered from the journal; source pid %d and destination pid %d decide it",
		   (unsigned long long)id, vm->name, s->source_pid, pid);
	return s;
}

/* A new session: the source offers vm. */
struct session *session_new(struct vm *vm, const struct peer *source)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->id = ++migrd.next_session;
	s->vm = vm;
	mig_strlcpy(s->vm_id, vm->id, sizeof(s->vm_id));
	mig_strlcpy(s->vm_name, vm->name, sizeof(s->vm_name));
	s->state = MIG_STATE_OFFERED;
	s->source_id = source->id;
	s->source_on = true;
	s->source_pid = source->pid;
	s->source_proc.fd = dup(source->pidfd);
	s->peer_fd = s->vm_fd = s->dest_proc.fd = -1;
	s->created_ms = s->updated_ms = mig_now_ms();
	session_set_deadline(s);
	vm->session = s;
	journal_vm_changed(vm);
	list_add_tail(&s->link, &migrd.sessions);
	migrd.nsessions++;
	migrd.dirty = true;
	return s;
}

/* The destination that claimed s: pinned by a pidfd of its own. */
void session_claimed_by(struct session *s, const struct peer *dest)
{
	s->dest_id = dest->id;
	s->dest_on = true;
	s->dest_pid = dest->pid;
	s->dest_uid = dest->uid;
	s->dest_ino = dest->ino;
	if (mig_pid_start(dest->pid, &s->dest_start) < 0)
		s->dest_start = 0;
	s->dest_proc.fd = dup(dest->pidfd);
}

/* Open sessions a connection takes part in. */
unsigned int sessions_of(uint64_t id)
{
	unsigned int n = 0;
	struct session *s;

	list_for_each_entry(s, &migrd.sessions, link)
		n += (s->source_on && s->source_id == id) ||
		     (s->dest_on && s->dest_id == id);
	return n;
}

/* A memfd sealed against writing cannot be a guest's RAM elsewhere. */
#define SEALS_UNWRITABLE (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)

int region_check_seals(int fd, enum mig_region_kind kind, struct why *w,
		       unsigned int i)
{
	int seals;

	if (kind != MIG_REGION_MEMFD)
		return 0;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && (seals & SEALS_UNWRITABLE))
		return why_fail(w, -EBADF,
				"Region %u: its memfd is sealed against writing; a successor could not map it writable.",
				i);
	return 0;
}

/*
 * Offered memfds are sealed against shrinking, so a source cannot pull
 * the pages from under its successor (SIGBUS). Where the memfd does not
 * allow it, session_regions_intact() at hand-out is what stands.
 */
void session_seal_regions(struct session *s)
{
	for (unsigned int i = 0; i < s->nregions; i++)
		if (s->regions[i].kind == MIG_REGION_MEMFD &&
		    fcntl(s->regions[i].fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
			log_debug("session %llu: region %u cannot be sealed: %m",
				  (unsigned long long)s->id, i);
}

/* At hand-out: every region still as large and as writable as offered. */
int session_regions_intact(const struct session *s, struct why *w)
{
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct mig_region *r = &s->regions[i];
		struct stat st;
		int e;

		if (fstat(r->fd, &st) < 0)
			return why_fail(w, -errno, "Region %u: %m.", i);
		if ((uint64_t)st.st_size < r->offset + r->size)
			return why_fail(w, -EBADF,
					"Region %u shrank to %llu bytes after the offer.",
					i, (unsigned long long)st.st_size);
		e = region_check_seals(r->fd, r->kind, w, i);
		if (e)
			return e;
	}
	return 0;
}

void session_keep_fd(int *slot, int fd)
{
	*slot = fd;
	migrd.held_fds++;
}

int session_hand_fd(int *slot)
{
	int fd = *slot;

	if (fd >= 0)
		migrd.held_fds--;
	*slot = -1;
	return fd;
}

int session_timeouts(uint64_t now)
{
	struct session *s, *tmp;
	uint64_t next = UINT64_MAX;

	list_for_each_entry_safe(s, tmp, &migrd.sessions, link) {
		if (s->deadline <= now)
			session_event(s, EV_TIMEOUT, ETIMEDOUT, "timed out");
		else if (s->deadline < next)
			next = s->deadline;
	}
	if (next == UINT64_MAX)
		return -1;
	return ms_until(next, now);
}

/*
 * Stopping aborts what migrd still decides; a direct switchover is the
 * two sides' and stays in the journal for the next migrd.
 */
void sessions_stop(void)
{
	struct session *s, *tmp;

	list_for_each_entry_safe(s, tmp, &migrd.sessions, link)
		if (!s->direct)
			session_event(s, EV_ABORT, ECANCELED,
				      "migrd is shutting down");
}

void sessions_fini(void)
{
	struct session *s, *tmp;

	list_for_each_entry_safe(s, tmp, &migrd.sessions, link) {
		drop_fds(s);
		s->vm->session = NULL;
		journal_vm_changed(s->vm);
		list_del(&s->link);
		free(s);
	}
	list_for_each_entry_safe(s, tmp, &migrd.history, link) {
		list_del(&s->link);
		free(s);
	}
}
