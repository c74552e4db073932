// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sessions: one handoff of one VM from a source to a destination. migrd
 * holds the source's fds only from OFFER to CLAIM (then they move to the
 * destination) and the state blob only from STATE to TAKE_STATE. The
 * source keeps its own fds throughout, so no failure here loses memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "migrd.h"

#define PAGE 4096ULL

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

/* Find an open session or explain, in the reply, why there is none. */
static struct session *target_session(uint64_t id, bool has, struct reply *rep)
{
	struct session *s;

	if (!has) {
		reply_err(rep, -EINVAL, "The request names no session.");
		return NULL;
	}
	s = session_find(id, true);
	if (!s)
		reply_err(rep, -ENOENT, "There is no session %llu.",
			  (unsigned long long)id);
	else if (fsm_final(s->state))
		reply_err(rep, -ESTALE, "Session %llu has already %s.",
			  (unsigned long long)id,
			  mig_state_name((enum mig_state)s->state));
	return s && !fsm_final(s->state) ? s : NULL;
}

static void drop_fds(struct session *s)
{
	for (unsigned int i = 0; i < s->nregions; i++) {
		if (s->regions[i].fd >= 0)
			migrd.held_fds--;
		mig_close_fds(&s->regions[i].fd, 1);
	}
	if (s->vm_fd >= 0)
		migrd.held_fds--;
	mig_close_fds(&s->vm_fd, 1);
	if (s->peer_fd >= 0)
		migrd.held_fds--;
	/* Unhanded, the source's end closes: the destination sees EOF. */
	mig_close_fds(&s->peer_fd, 1);
	if (s->dest_proc.fd >= 0) {
		watch_del(&s->dest_proc);
		mig_close_fds(&s->dest_proc.fd, 1);
	}
	free(s->blob);
	s->blob = NULL;
	s->bloblen = 0;
}

static void set_deadline(struct session *s)
{
	unsigned int ms;

	/* The two sides decide from here; migrd has nothing to time out.
	 * Nor while its worker zeroes: that takes what it takes. */
	if (s->direct || s->zero == ZERO_RUNNING) {
		s->deadline = UINT64_MAX;
		return;
	}
	switch (s->state) {
	case MIG__STATE__OFFERED:
		ms = migrd.cfg.offer_timeout_ms;
		break;
	case MIG__STATE__SWITCHING:
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

/* The destination's process: its connection's pidfd, or a recovered one. */
static int dest_pidfd(struct session *s)
{
	int fd;

	if (s->dest)
		return dup(s->dest->pidfd);
	fd = s->dest_proc.fd;
	if (fd >= 0) {
		watch_del(&s->dest_proc);
		s->dest_proc.fd = -1;
	}
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
	bool committed = s->state == MIG__STATE__COMMITTED;
	bool rebind = s->grant.kind == GRANT_REBIND;

	/* Before drop_fds(): a recovered destination's pidfd is in there. */
	if (committed && !rebind)
		commit_owner(s);
	drop_fds(s);
	if (s->source)
		s->source->sessions--;
	if (s->dest)
		s->dest->sessions--;
	if (committed)
		migrd.committed++;
	else
		migrd.aborted++;
	vm->session = NULL;
	s->vm = NULL;
	history_add(s);
	if (committed && rebind)
		rebind_commit(s, vm);
	/* An owner that died mid-switchover and whose successor did not
	 * commit leaves a VM nobody runs. Not while the registry is already
	 * destroying it (that is how we got here). */
	else if (vm->owner_gone && !vm->dying)
		vm_destroy(vm, "owner process gone and no successor committed");
	/* Ended: no client is a participant any more, whatever its address. */
	s->source = s->dest = NULL;
}

int session_event(struct session *s, enum fsm_event ev, int err,
		  const char *why)
{
	Mig__State next;
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
	if (next == MIG__STATE__ABORTED) {
		s->error = err;
		mig_strlcpy(s->reason, why, sizeof(s->reason));
	}
	if (fsm_final(next))
		session_end(s);
	else
		set_deadline(s);
	outbox_session(s);
	return 0;
}

static int check_region(const Mig__Region *r, const int *fds,
			struct reply *rep, unsigned int i)
{
	struct mig_fd_info fi;
	enum mig_fd_kind want;

	if (!r->has_kind || (r->kind != MIG__REGION_KIND__GMEM &&
			     r->kind != MIG__REGION_KIND__MEMFD))
		return reply_err(rep, -EINVAL,
				 "Region %u has no valid kind (gmem or memfd).",
				 i);
	if (!r->has_size || !r->size || r->size % PAGE || r->gpa % PAGE ||
	    r->offset % PAGE || r->gpa + r->size < r->gpa ||
	    r->offset + r->size < r->offset)
		return reply_err(rep, -EINVAL,
				 "Region %u is empty, not page-aligned or wraps around.",
				 i);
	if (r->name && strlen(r->name) >= MIG_NAME_MAX)
		return reply_err(rep, -ENAMETOOLONG,
				 "Region %u has a name longer than 63 bytes.",
				 i);
	if (mig_fd_classify(fds[r->fd], &fi) < 0)
		return reply_err(rep, -EBADF, "Region %u: its fd is unusable.",
				 i);
	want = r->kind == MIG__REGION_KIND__GMEM ? MIG_FD_GMEM : MIG_FD_MEMFD;
	if (fi.kind != want)
		return reply_err(rep, -EBADF,
				 "Region %u claims to be %s but its fd is %s.",
				 i, want == MIG_FD_GMEM ? "gmem" : "memfd",
				 mig_fd_kind_name(fi.kind));
	if (!fi.writable)
		return reply_err(rep, -EBADF,
				 "Region %u: its fd is not open read-write.", i);
	if (r->offset + r->size > fi.size)
		return reply_err(rep, -EINVAL,
				 "Region %u reaches past the end of its fd.", i);
	return 0;
}

static int check_regions(const Mig__Offer *o, const int *fds,
			 struct reply *rep)
{
	if (o->n_regions == 0 || o->n_regions > MIG_REGIONS_MAX)
		return reply_err(rep, -EINVAL,
				 "An offer needs 1 to %d regions.",
				 MIG_REGIONS_MAX);
	for (size_t i = 0; i < o->n_regions; i++) {
		const Mig__Region *a = o->regions[i];
		int r = check_region(a, fds, rep, (unsigned int)i);

		if (r)
			return r;
		for (size_t j = 0; j < i; j++) {
			const Mig__Region *b = o->regions[j];

			if (a->gpa < b->gpa + b->size &&
			    b->gpa < a->gpa + a->size)
				return reply_err(rep, -EINVAL,
						 "Regions %zu and %zu overlap in guest-physical memory.",
						 j, i);
		}
	}
	return 0;
}

static int check_vm_fd(const Mig__Offer *o, const int *fds, struct reply *rep)
{
	struct mig_fd_info fi;

	if (!o->has_vm_fd || o->vm_fd < 0)
		return 0;
	if (mig_fd_classify(fds[o->vm_fd], &fi) < 0 ||
	    fi.kind != MIG_FD_KVM_VM)
		return reply_err(rep, -EBADF,
				 "The VM fd offered is not a KVM VM fd.");
	return 0;
}

static int check_offer(struct client *c, const Mig__Offer *o, struct vm *vm,
		       const int *fds, struct reply *rep)
{
	int r;

	if (!vm)
		return reply_err(rep, -ENOENT, "No VM named %s is registered.",
				 o->vm ? o->vm : "(none)");
	if (c->pid_ino != vm->owner_ino || vm->owner_gone)
		return reply_err(rep, -EPERM,
				 "Only the registered owner process of VM %s may offer it.",
				 vm->name);
	if (vm->session)
		return reply_err(rep, -EBUSY,
				 "VM %s already has session %llu open.",
				 vm->name, (unsigned long long)vm->session->id);
	if (c->sessions >= migrd.cfg.max_sessions_per_client)
		return reply_err(rep, -EMFILE,
				 "This connection has max_sessions_per_client sessions open.");
	r = check_regions(o, fds, rep);
	return r ? r : check_vm_fd(o, fds, rep);
}

static void take_regions(struct session *s, const Mig__Offer *o, int *fds)
{
	for (size_t i = 0; i < o->n_regions; i++) {
		const Mig__Region *w = o->regions[i];
		struct mig_region *r = &s->regions[i];

		mig_region_from_wire(r, w);
		r->fd = fds[w->fd];
		fds[w->fd] = -1;
		s->mem_bytes += r->size;
		migrd.held_fds++;
	}
	s->nregions = (unsigned int)o->n_regions;
	s->vm_fd = -1;
	if (o->has_vm_fd && o->vm_fd >= 0) {
		s->vm_fd = fds[o->vm_fd];
		fds[o->vm_fd] = -1;
		migrd.held_fds++;
	}
}

static void reply_session(struct reply *rep, const struct session *s)
{
	session_info(&rep->session, s, rep->regions, rep->rp);
	rep->resp.session = &rep->session;
}

int handle_offer(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep)
{
	const Mig__Offer *o = req->offer;
	struct session *s;
	struct vm *vm;
	int r;

	if (!o)
		return reply_err(rep, -EINVAL, "OFFER needs an offer.");
	vm = vm_find(o->vm);
	r = check_offer(c, o, vm, fds, rep);
	if (r)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->id = ++migrd.next_session;
	s->vm = vm;
	mig_strlcpy(s->vm_id, vm->id, sizeof(s->vm_id));
	mig_strlcpy(s->vm_name, vm->name, sizeof(s->vm_name));
	take_regions(s, o, fds);
	s->state = MIG__STATE__OFFERED;
	s->source = c;
	s->source_id = c->id;
	s->source_pid = c->cred.pid;
	s->peer_fd = s->dest_proc.fd = -1;
	s->created_ms = s->updated_ms = mig_now_ms();
	set_deadline(s);
	c->sessions++;
	vm->session = s;
	list_add_tail(&s->link, &migrd.sessions);
	migrd.nsessions++;
	log_info("session %llu: VM %s offered by pid %d, %u regions, %llu bytes",
		 (unsigned long long)s->id, vm->name, c->cred.pid, s->nregions,
		 (unsigned long long)s->mem_bytes);
	reply_session(rep, s);
	outbox_session(s);
	return 0;
}

/* Move the session's fds into the reply: from here migrd holds none. */
static void handoff_fds(struct session *s, struct reply *rep)
{
	mig__handoff__init(&rep->handoff);
	rep->handoff.has_vm_fd = true;
	rep->handoff.vm_fd = -1;
	if (s->vm_fd >= 0) {
		rep->handoff.vm_fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = s->vm_fd;
		s->vm_fd = -1;
		migrd.held_fds--;
	}
	session_info(&rep->session, s, rep->regions, rep->rp);
	for (unsigned int i = 0; i < s->nregions; i++) {
		rep->regions[i].has_fd = true;
		rep->regions[i].fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = s->regions[i].fd;
		s->regions[i].fd = -1;
		migrd.held_fds--;
	}
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->rp;
	rep->resp.handoff = &rep->handoff;
}

/* Hand the layout only: a rebind's fds follow, zeroed, with TAKE_STATE. */
static void handoff_layout(struct session *s, struct reply *rep)
{
	mig__handoff__init(&rep->handoff);
	rep->handoff.has_vm_fd = true;
	rep->handoff.vm_fd = -1;
	rep->handoff.has_deferred = rep->handoff.deferred = true;
	session_info(&rep->session, s, rep->regions, rep->rp);
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->rp;
	rep->resp.handoff = &rep->handoff;
	/* The source VM fd carries its identity (ASID/HKID on SEV/TDX):
	 * never to another identity. */
	if (s->vm_fd >= 0)
		migrd.held_fds--;
	mig_close_fds(&s->vm_fd, 1);
}

/*
 * An upgrade's direct channel: the destination's end and the source's
 * pidfd go with the claim; migrd keeps the source's end until the source
 * hears that the destination is ready.
 */
static void give_channel(struct session *s, const int channel[2],
			 struct reply *rep)
{
	int pidfd = s->source ? dup(s->source->pidfd) : -1;

	rep->handoff.has_peer_fd = true;
	rep->handoff.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = channel[1];
	if (pidfd >= 0) {
		rep->handoff.has_source_pidfd = true;
		rep->handoff.source_pidfd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = pidfd;
	}
	s->peer_fd = channel[0];
	migrd.held_fds++;
}

/* Ask policy_decide() and say what it decided, with who was involved. */
static void decide_claim(struct client *c, struct session *s,
			 const Mig__Claim *cl, const struct grant **g,
			 struct decision *d)
{
	struct claim_facts f = {
		.token = grant_check(s->vm, cl, g),
		.policy = migrd.cfg.rebind,
	};
	uid_t allowed = *g ? (*g)->uid : s->vm->owner_uid;

	f.kind = *g ? (*g)->kind : GRANT_NONE;
	f.uid_ok = c->cred.uid == 0 || c->cred.uid == allowed;
	policy_decide(&f, d);
	log_info("claim of session %llu (VM %s, identity %s) by pid %d uid %u: token %s, grant %s%s%s -> %s: %s",
		 (unsigned long long)s->id, s->vm_name, s->vm_id, c->cred.pid,
		 c->cred.uid, token_check_name(f.token),
		 grant_kind_name(f.kind),
		 f.kind == GRANT_REBIND ? " to new VM " : "",
		 f.kind == GRANT_REBIND ? (*g)->new_name : "",
		 verdict_name(d->verdict), d->why);
}

int handle_claim(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep)
{
	const Mig__Claim *cl = req->claim;
	const struct grant *g;
	struct decision d;
	struct session *s;
	int channel[2];

	s = target_session(cl ? cl->session : 0, cl && cl->has_session, rep);
	if (!s)
		return -(int)rep->resp.error;
	if (c->id == s->source_id)
		return reply_err(rep, -EINVAL,
				 "A source cannot claim its own session.");
	if (c->sessions >= migrd.cfg.max_sessions_per_client)
		return reply_err(rep, -EMFILE,
				 "This connection has max_sessions_per_client sessions open.");
	decide_claim(c, s, cl, &g, &d);
	if (d.verdict == VERDICT_REFUSE) {
		migrd.refused++;
		return reply_err(rep, d.err, "Claim of VM %s refused: %s.",
				 s->vm_name, d.why);
	}
	if (s->state != MIG__STATE__OFFERED)
		return reply_err(rep, -EBUSY,
				 "Session %llu was already claimed by pid %d.",
				 (unsigned long long)s->id, s->dest_pid);
	if (d.verdict == VERDICT_AS_IS && socketpair(AF_UNIX, SOCK_SEQPACKET |
			SOCK_CLOEXEC, 0, channel) < 0)
		return reply_err(rep, -errno,
				 "Cannot make the direct channel for session %llu: %s.",
				 (unsigned long long)s->id, strerror(errno));
	/* One use: whatever happens to this session, the token is spent. */
	s->vm->grant.used = true;
	s->grant = *g;
	explicit_bzero(s->grant.token, sizeof(s->grant.token));
	if (d.verdict == VERDICT_AS_IS) {
		handoff_fds(s, rep);
		give_channel(s, channel, rep);
	} else {
		handoff_layout(s, rep);
	}
	rep->handoff.has_grant = true;
	rep->handoff.grant = (Mig__GrantKind)s->grant.kind;
	s->dest = c;
	s->dest_id = c->id;
	s->dest_pid = c->cred.pid;
	s->dest_uid = c->cred.uid;
	s->dest_ino = c->pid_ino;
	if (mig_pid_start(c->cred.pid, &s->dest_start) < 0)
		s->dest_start = 0;
	c->sessions++;
	return session_event(s, EV_CLAIM, 0, NULL);
}

static bool may_act(const struct client *c, const struct session *s,
		    Mig__Kind kind)
{
	bool source = c->id == s->source_id, dest = c->id == s->dest_id;

	switch (kind) {
	case MIG__KIND__READY:
	case MIG__KIND__COMMIT:
		return dest;
	case MIG__KIND__STATE:
		return source;
	case MIG__KIND__ABORT:
		/* Once the two sides decide between them, only they may. */
		return source || dest || (c->admin && !s->direct);
	default:
		return false;
	}
}

static const enum fsm_event step_event[] = {
	[MIG__KIND__READY] = EV_READY,
	[MIG__KIND__STATE] = EV_STATE,
	[MIG__KIND__COMMIT] = EV_COMMIT,
	[MIG__KIND__ABORT] = EV_ABORT,
};

static int keep_state(struct session *s, const Mig__Blob *b,
		      struct reply *rep)
{
	if (!b || !b->has_data)
		return reply_err(rep, -EINVAL, "STATE carries no state.");
	if (b->data.len > MIG_STATE_MAX)
		return reply_err(rep, -EMSGSIZE,
				 "The state blob is larger than %d bytes.",
				 MIG_STATE_MAX);
	s->blob = malloc(b->data.len ? b->data.len : 1);
	if (!s->blob)
		return -ENOMEM;
	memcpy(s->blob, b->data.data, b->data.len);
	s->bloblen = b->data.len;
	return 0;
}

/* The state went over the direct channel; this is only the notice. */
static int direct_state(struct session *s, const Mig__Blob *b,
			struct reply *rep)
{
	if (!b || !b->direct || b->has_data)
		return reply_err(rep, -EINVAL,
				 "Session %llu has a direct channel: its state goes there, not to migrd.",
				 (unsigned long long)s->id);
	return 0;
}

/*
 * The source of a rebind has paused: zero its memory now, before the
 * destination can have it, on a worker (session_zeroed() follows). Its
 * state is not kept: it is not the new VM's. If the zeroing cannot be
 * verified, nothing is handed out.
 */
static int switch_rebind(struct session *s, struct reply *rep)
{
	int r = rebind_zero_start(s);

	if (!r)
		return 0;
	reply_err(rep, r, "The memory of VM %s cannot be zeroed: %s; the rebind is aborted.",
		  s->vm_name, strerror(-r));
	session_event(s, EV_ABORT, -r, "memory could not be zeroed for a rebind");
	return r;
}

/* The worker is done with the rebind's memory. */
void session_zeroed(struct session *s, int err)
{
	if (err) {
		s->zero = ZERO_FAILED;
		session_event(s, EV_ABORT, -err,
			      "memory could not be zeroed for a rebind");
		return;
	}
	s->zero = ZERO_DONE;
	set_deadline(s);
	outbox_session(s);
}

/* READY, STATE, COMMIT and ABORT: one event each on a named session. */
int handle_step(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
{
	enum fsm_event ev = step_event[req->kind];
	const Mig__Target *t = req->target;
	uint64_t id = req->state ? req->state->session : t ? t->session : 0;
	bool has = req->state ? req->state->has_session : t && t->has_session;
	char why[MIG_REASON_MAX];
	struct session *s;
	int r;

	s = target_session(id, has, rep);
	if (!s)
		return -(int)rep->resp.error;
	if (!may_act(c, s, req->kind))
		return reply_err(rep, -EPERM,
				 "This connection plays no part in session %llu that allows that step.",
				 (unsigned long long)id);
	if (req->kind == MIG__KIND__STATE &&
	    s->state == MIG__STATE__READY_TO_SWITCH) {
		r = s->grant.kind == GRANT_REBIND ? switch_rebind(s, rep) :
			s->direct ? direct_state(s, req->state, rep) :
			keep_state(s, req->state, rep);
		if (r)
			return r;
	}
	if (req->kind == MIG__KIND__COMMIT) {
		r = rebind_may_commit(s, rep);
		if (r)
			return r;
		/* The destination's word may overtake the source's notice. */
		if (s->direct && s->state == MIG__STATE__READY_TO_SWITCH)
			session_event(s, EV_STATE, 0, NULL);
	}
	snprintf(why, sizeof(why), "%s by pid %d",
		 req->reason ? req->reason : "requested", c->cred.pid);
	r = session_event(s, ev, ECANCELED,
			  req->kind == MIG__KIND__ABORT ? why : NULL);
	if (r)
		return reply_err(rep, r,
				 "Session %llu is %s; that step is out of order.",
				 (unsigned long long)id,
				 mig_state_name((enum mig_state)s->state));
	reply_session(rep, s);
	return 0;
}

/*
 * The destination is ready: the source learns it with its end of the
 * direct channel, and from then on the two sides decide between them.
 */
static void hand_source_end(struct client *c, struct session *s,
			    struct reply *rep)
{
	if (c->id != s->source_id || s->peer_fd < 0 ||
	    s->state != MIG__STATE__READY_TO_SWITCH)
		return;
	rep->resp.has_peer_fd = true;
	rep->resp.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = s->peer_fd;
	s->peer_fd = -1;
	migrd.held_fds--;
	s->direct = true;
	set_deadline(s);
	migrd.dirty = true;
	log_info("session %llu (VM %s): the source has its end of the direct channel; source and destination decide from here",
		 (unsigned long long)s->id, s->vm_name);
}

/* TAKE_STATE of a rebind: the zeroed memory instead of the state. */
static int take_rebind(struct session *s, struct reply *rep)
{
	if (s->state < MIG__STATE__SWITCHING || s->zero == ZERO_RUNNING)
		return 1;
	if (s->zero != ZERO_DONE || s->regions[0].fd < 0)
		return reply_err(rep, -ENODATA,
				 "The memory of session %llu was already taken.",
				 (unsigned long long)s->id);
	handoff_fds(s, rep);
	rep->handoff.has_grant = rep->handoff.has_zeroed = true;
	rep->handoff.grant = MIG__GRANT_KIND__REBIND;
	rep->handoff.zeroed = true;
	return 0;
}

/*
 * Answer a WAIT or TAKE_STATE now if the session allows: 0 answered, < 0
 * refused (both with rep filled), 1 to keep waiting.
 */
static int wait_eval(struct client *c, struct session *s, Mig__Kind kind,
		     Mig__State want, struct reply *rep)
{
	if (s->state == MIG__STATE__ABORTED && s->zero != ZERO_NONE)
		return reply_err(rep, -EOWNERDEAD,
				 "Session %llu was aborted after its memory was zeroed for a rebind: %s; the old guest cannot resume.",
				 (unsigned long long)s->id, s->reason);
	if (s->state == MIG__STATE__ABORTED)
		return reply_err(rep, -ECANCELED,
				 "Session %llu was aborted: %s.",
				 (unsigned long long)s->id, s->reason);
	if (kind == MIG__KIND__WAIT) {
		if (s->state < want)
			return 1;
		reply_session(rep, s);
		hand_source_end(c, s, rep);
		return 0;
	}
	if (s->direct)
		return reply_err(rep, -ENODATA,
				 "The state of session %llu goes over its direct channel.",
				 (unsigned long long)s->id);
	if (s->grant.kind == GRANT_REBIND)
		return take_rebind(s, rep);
	if (!s->blob)
		return s->state < MIG__STATE__SWITCHING ? 1 :
			reply_err(rep, -ENODATA,
				  "The state of session %llu was already taken.",
				  (unsigned long long)s->id);
	mig__blob__init(&rep->blob);
	rep->blob.has_session = rep->blob.has_data = true;
	rep->blob.session = s->id;
	rep->blob.data.data = s->blob;
	rep->blob.data.len = s->bloblen;
	rep->resp.state = &rep->blob;
	rep->heap = s->blob;	/* freed once sent: taken exactly once */
	s->blob = NULL;
	return 0;
}

int session_wait_answer(struct client *c, struct session *s,
			struct reply *rep)
{
	return wait_eval(c, s, c->pending, c->pending_state, rep);
}

int handle_wait(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
{
	bool take = req->kind == MIG__KIND__TAKE_STATE;
	const Mig__Wait *w = req->wait;
	const Mig__Target *t = req->target;
	uint64_t id = take ? (t ? t->session : 0) : (w ? w->session : 0);
	struct session *s = session_find(id, true);
	Mig__State want = w && w->has_state ? w->state : MIG__STATE__NONE;
	int r;

	if (!s)
		return reply_err(rep, -ENOENT, "There is no session %llu.",
				 (unsigned long long)id);
	if (take ? c->id != s->dest_id :
	    (c->id != s->source_id && c->id != s->dest_id && !c->admin))
		return reply_err(rep, -EPERM,
				 "This connection plays no part in session %llu.",
				 (unsigned long long)id);
	if (!take && (want < MIG__STATE__OFFERED ||
		      want > MIG__STATE__COMMITTED))
		return reply_err(rep, -EINVAL, "WAIT names no state to wait for.");
	r = wait_eval(c, s, req->kind, want, rep);
	if (r != 1)
		return r;
	c->pending = req->kind;
	c->pending_session = id;
	c->pending_state = want;
	rep->deferred = true;
	return 0;
}

/*
 * In a direct switchover a lost destination may have run the guest or
 * not; only the source knows, and it tells (ABORT when it resumes) or
 * exits (after GO). With the source silent too, nobody will tell: end it.
 */
void session_dest_lost(struct session *s, const char *why)
{
	s->dest_gone = true;
	if (!s->source || s->vm->owner_gone)
		session_event(s, EV_DEST_LOST, ECONNRESET, why);
}

/*
 * The source process of a direct switchover exited: normal after GO. A
 * recovered session (migrd restarted) hears no COMMIT any more: the
 * destination that still runs has the guest.
 */
void session_source_gone(struct session *s)
{
	if (s->dest_gone) {
		session_event(s, EV_DEST_LOST, ECONNRESET,
			      "source and destination both gone");
		return;
	}
	if (s->dest || s->dest_proc.fd < 0)
		return;
	if (s->state == MIG__STATE__READY_TO_SWITCH)
		session_event(s, EV_STATE, 0, NULL);
	session_event(s, EV_COMMIT, 0,
		      "source exited after the switchover; the destination has the guest");
}

void session_client_lost(struct client *c)
{
	struct session *s, *tmp;

	list_for_each_entry_safe(s, tmp, &migrd.sessions, link) {
		if (s->source == c) {
			s->source = NULL;
			if (!s->direct)
				session_event(s, EV_SOURCE_LOST, ECONNRESET,
					      "source connection lost");
			else if (s->dest_gone)
				session_event(s, EV_DEST_LOST, ECONNRESET,
					      "source and destination both gone");
		}
		/* The event above may have ended s: it left the list then. */
		if (s->dest == c) {
			s->dest = NULL;
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
	s->dest_gone = true;
	session_event(s, EV_DEST_LOST, ECONNRESET,
		      "destination exited; the source keeps the guest");
}

/*
 * A direct switchover the journal recorded: its two sides may still be
 * at it. The destination is watched by pidfd; the source is the VM's
 * owner. Whichever exits first decides (migrd(8), FAILURES).
 */
struct session *session_recover(struct vm *vm, uint64_t id, Mig__State state,
				int dest_pidfd, pid_t pid, uid_t uid,
				uint64_t ino, uint64_t start)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s || (state != MIG__STATE__READY_TO_SWITCH &&
		   state != MIG__STATE__SWITCHING)) {
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
	s->peer_fd = s->vm_fd = -1;
	s->dest_proc.fd = dest_pidfd;
	s->dest_proc.fn = recovered_dest_exited;
	s->created_ms = s->updated_ms = mig_now_ms();
	set_deadline(s);
	if (watch_add(&s->dest_proc, EPOLLIN) < 0) {
		close(dest_pidfd);
		free(s);
		return NULL;
	}
	vm->session = s;
	list_add_tail(&s->link, &migrd.sessions);
	migrd.nsessions++;
	log_notice("session %llu (VM %s): switchover recovered from the journal; source pid %d and destination pid %d decide it",
		   (unsigned long long)id, vm->name, s->source_pid, pid);
	return s;
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
	return (int)(next - now);
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
		list_del(&s->link);
		free(s);
	}
	list_for_each_entry_safe(s, tmp, &migrd.history, link) {
		list_del(&s->link);
		free(s);
	}
}
