// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The handoff's requests: OFFER, CLAIM, READY, STATE, COMMIT, ABORT, WAIT
 * and TAKE_STATE, from protobuf to the domain (session.c) and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handlers.h"
#include "log.h"

#define PAGE 4096ULL

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

/* A label for people: set, short, printable. */
static int check_label(const char *name, const char *what, unsigned int i,
		       struct reply *rep)
{
	if (name && strlen(name) >= MIG_NAME_MAX)
		return reply_err(rep, -ENAMETOOLONG,
				 "%s %u has a name longer than 63 bytes.",
				 what, i);
	if (name && !mig_str_printable(name))
		return reply_err(rep, -EINVAL,
				 "%s %u's name is not printable UTF-8 (control characters or malformed bytes).",
				 what, i);
	return 0;
}

static int check_region(const Mig__Region *r, const int *fds,
			struct reply *rep, unsigned int i)
{
	struct mig_fd_info fi;
	enum mig_fd_kind want;
	struct why why;
	int err;

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
	err = check_label(r->name, "Region", i, rep);
	if (err)
		return err;
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
	if (region_check_seals(fds[r->fd], (enum mig_region_kind)r->kind,
			       &why, i))
		return reply_why(rep, -EBADF, &why);
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

/* A device is what it says it is, and never memory or a KVM fd. */
static int check_device(const Mig__Device *d, const int *fds,
			struct reply *rep, unsigned int i)
{
	enum mig_device_kind want = (enum mig_device_kind)d->kind, is;
	int r;

	if (!d->name || !*d->name)
		return reply_err(rep, -EINVAL, "Device %u has no name.", i);
	r = check_label(d->name, "Device", i, rep);
	if (r)
		return r;
	if (!d->has_kind || want < MIG_DEVICE_EVENTFD ||
	    want > MIG_DEVICE_OTHER)
		return reply_err(rep, -EINVAL,
				 "Device %s has no valid kind.", d->name);
	r = mig_device_kind_of(fds[d->fd], &is);
	if (r == -EINVAL)
		return reply_err(rep, -EBADF,
				 "Device %s's fd is guest memory or a KVM fd: those travel as regions and the VM fd only.",
				 d->name);
	if (r)
		return reply_err(rep, -EBADF, "Device %s: its fd is unusable.",
				 d->name);
	if (want != MIG_DEVICE_OTHER && is != want)
		return reply_err(rep, -EBADF,
				 "Device %s claims to be %s but its fd is %s.",
				 d->name, mig_device_kind_name(want),
				 mig_device_kind_name(is));
	return 0;
}

static int check_devices(const Mig__Offer *o, const int *fds,
			 struct reply *rep)
{
	if (o->n_devices > MIG_DEVICES_MAX)
		return reply_err(rep, -EINVAL,
				 "An offer carries at most %d devices.",
				 MIG_DEVICES_MAX);
	for (size_t i = 0; i < o->n_devices; i++) {
		int r = check_device(o->devices[i], fds, rep, (unsigned int)i);

		if (r)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->devices[i]->name, o->devices[j]->name) == 0)
				return reply_err(rep, -EINVAL,
						 "Two devices are named %s.",
						 o->devices[i]->name);
	}
	return 0;
}

static int check_format(const Mig__StateFormat *f, struct reply *rep)
{
	if (!f)
		return 0;
	if (!f->name || !*f->name)
		return reply_err(rep, -EINVAL,
				 "The state format has no name.");
	return check_label(f->name, "State format", 0, rep);
}

static int check_offer(struct client *c, const Mig__Offer *o, struct vm *vm,
		       const int *fds, struct reply *rep)
{
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
	if (sessions_of(c->id) >= migrd.cfg.max_sessions_per_client)
		return reply_err(rep, -EMFILE,
				 "This connection has max_sessions_per_client sessions open.");
	return offer_check(o, fds, rep);
}

/* What an offer (or an adoption) carries, each fd checked with the kernel. */
int offer_check(const Mig__Offer *o, const int *fds, struct reply *rep)
{
	int r = check_regions(o, fds, rep);

	if (!r)
		r = check_vm_fd(o, fds, rep);
	if (!r)
		r = check_devices(o, fds, rep);
	return r ? r : check_format(o->format, rep);
}

/* The offer's regions, devices, VM fd and format into the session. */
void offer_take(struct session *s, const Mig__Offer *o, int *fds)
{
	for (size_t i = 0; i < o->n_regions; i++) {
		const Mig__Region *w = o->regions[i];
		struct mig_region *r = &s->regions[i];

		mig_region_from_wire(r, w);
		session_keep_fd(&r->fd, fds[w->fd]);
		fds[w->fd] = -1;
		s->mem_bytes += r->size;
	}
	s->nregions = (unsigned int)o->n_regions;
	for (size_t i = 0; i < o->n_devices; i++) {
		const Mig__Device *w = o->devices[i];
		struct mig_device *d = &s->devices[i];

		mig_device_from_wire(d, w);
		session_keep_fd(&d->fd, fds[w->fd]);
		fds[w->fd] = -1;
	}
	s->ndevices = (unsigned int)o->n_devices;
	mig_format_from_wire(&s->format, o->format);
	if (o->has_vm_fd && o->vm_fd >= 0) {
		session_keep_fd(&s->vm_fd, fds[o->vm_fd]);
		fds[o->vm_fd] = -1;
	}
}

static void reply_session(struct reply *rep, const struct session *s)
{
	session_info(&rep->session, s, &rep->sw);
	rep->resp.session = &rep->session;
}

int handle_offer(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep)
{
	const Mig__Offer *o = req->offer;
	struct session *s;
	struct peer me;
	struct vm *vm;
	int r;

	if (!o)
		return reply_err(rep, -EINVAL, "OFFER needs an offer.");
	vm = vm_find(o->vm);
	r = check_offer(c, o, vm, fds, rep);
	if (r)
		return r;
	client_peer(c, &me);
	s = session_new(vm, &me);
	if (!s)
		return -ENOMEM;
	offer_take(s, o, fds);
	session_seal_regions(s);
	log_info("session %llu: VM %s offered by pid %d, %u regions, %llu bytes, %u devices, state format %s%s%.0u",
		 (unsigned long long)s->id, vm->name, c->cred.pid, s->nregions,
		 (unsigned long long)s->mem_bytes, s->ndevices,
		 s->format.name[0] ? s->format.name : "unsaid",
		 s->format.name[0] ? " v" : "", s->format.version);
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
		rep->fds[rep->nfds++] = session_hand_fd(&s->vm_fd);
	}
	session_info(&rep->session, s, &rep->sw);
	for (unsigned int i = 0; i < s->nregions; i++) {
		rep->sw.regions[i].has_fd = true;
		rep->sw.regions[i].fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = session_hand_fd(&s->regions[i].fd);
	}
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->sw.rp;
	/* Devices reach the old VM's hardware: a successor's only. */
	for (unsigned int i = 0; i < s->ndevices; i++) {
		rep->sw.devices[i].has_fd = true;
		rep->sw.devices[i].fd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = session_hand_fd(&s->devices[i].fd);
	}
	rep->handoff.n_devices = s->ndevices;
	rep->handoff.devices = rep->sw.dp;
	rep->handoff.format = rep->session.format;
	rep->resp.handoff = &rep->handoff;
}

/* Hand the layout only: a rebind's fds follow, zeroed, with TAKE_STATE. */
static void handoff_layout(struct session *s, struct reply *rep)
{
	mig__handoff__init(&rep->handoff);
	rep->handoff.has_vm_fd = true;
	rep->handoff.vm_fd = -1;
	rep->handoff.has_deferred = rep->handoff.deferred = true;
	session_info(&rep->session, s, &rep->sw);
	rep->handoff.n_regions = s->nregions;
	rep->handoff.regions = rep->sw.rp;
	rep->resp.handoff = &rep->handoff;
	/* The source VM fd carries its identity (ASID/HKID on SEV/TDX),
	 * the devices reach its hardware: never to another identity. */
	int vm_fd = session_hand_fd(&s->vm_fd);

	mig_close_fds(&vm_fd, 1);
	for (unsigned int i = 0; i < s->ndevices; i++) {
		int fd = session_hand_fd(&s->devices[i].fd);

		mig_close_fds(&fd, 1);
	}
	/* Gone for good: the zeroed memory's hand-out (take_rebind())
	 * must not put their closed slots into SCM_RIGHTS. */
	s->ndevices = 0;
}

/*
 * An upgrade's direct channel: the destination's end and the source's
 * pidfd go with the claim; migrd keeps the source's end until the source
 * hears that the destination is ready.
 */
static void give_channel(struct session *s, const int channel[2],
			 struct reply *rep)
{
	int pidfd = s->source_proc.fd >= 0 ? dup(s->source_proc.fd) : -1;

	rep->handoff.has_peer_fd = true;
	rep->handoff.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = channel[1];
	if (pidfd >= 0) {
		rep->handoff.has_source_pidfd = true;
		rep->handoff.source_pidfd = (int32_t)rep->nfds;
		rep->fds[rep->nfds++] = pidfd;
	}
	session_keep_fd(&s->peer_fd, channel[0]);
}

/*
 * An adopted VMM has no libmig to talk on a channel: both ends go to the
 * claimant, which hands one to each VMM for their own migration, so the
 * device state never crosses a path somebody else could connect to.
 */
static void adopted_channel(struct session *s, const int channel[2])
{
	static const char *const names[2] = {
		"migration.source", "migration.destination",
	};

	for (int i = 0; i < 2; i++) {
		struct mig_device *d = &s->devices[s->ndevices++];

		mig_strlcpy(d->name, names[i], sizeof(d->name));
		d->kind = MIG_DEVICE_SOCKET;
		session_keep_fd(&d->fd, channel[i]);
	}
}

/* Ask policy_decide() and say what it decided, with who was involved. */
static void decide_claim(struct client *c, struct session *s,
			 const Mig__Claim *cl, const struct grant **g,
			 struct decision *d)
{
	struct claim_facts f = {
		.token = grant_check(s->vm, cl && cl->has_token ?
				     cl->token.data : NULL,
				     cl && cl->has_token ? cl->token.len : 0, g),
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

/* The source changed its memory after the offer: nobody can use it. */
static int source_broke_it(struct session *s, const struct why *w,
			   struct reply *rep)
{
	char why[sizeof(w->msg) + 64];

	snprintf(why, sizeof(why), "the source changed its memory after the offer: %s",
		 w->msg);
	reply_err(rep, -EBADF, "Session %llu cannot be handed over: %s",
		  (unsigned long long)s->id, why);
	session_event(s, EV_ABORT, EBADF, why);
	return -EBADF;
}

/* The claimant's loadable formats, as one line for people. */
static void say_loads(const Mig__Claim *cl, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cl->n_loads && n < len; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		n += (size_t)snprintf(buf + n, len - n, "%s%s v%u-%u",
				      i ? ", " : "", f->name ? f->name : "?",
				      f->min_version, f->version);
	}
}

/*
 * Whether the claimant can load the source's state. Either side may
 * say nothing (an older libmig): then nobody can check, and the claim
 * goes on as before.
 */
static int check_loads(const struct session *s, const Mig__Claim *cl,
		       struct reply *rep, bool *loadable)
{
	*loadable = true;
	if (cl->n_loads > MIG_FORMATS_MAX)
		return reply_err(rep, -EINVAL,
				 "A claim names at most %d state formats.",
				 MIG_FORMATS_MAX);
	for (size_t i = 0; i < cl->n_loads; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		int r;

		if (!f->name || !*f->name)
			return reply_err(rep, -EINVAL,
					 "State format %zu has no name.", i);
		r = check_label(f->name, "State format", (unsigned int)i, rep);
		if (r)
			return r;
	}
	if (!s->format.name[0] || !cl->n_loads)
		return 0;
	*loadable = false;
	for (size_t i = 0; i < cl->n_loads; i++) {
		const Mig__StateFormat *f = cl->loads[i];

		if (strcmp(f->name, s->format.name) == 0 &&
		    f->min_version <= s->format.version &&
		    s->format.version <= f->version)
			*loadable = true;
	}
	return 0;
}

/*
 * A destination that could not load the state would fail after the
 * source paused: say so now, while the guest still runs in the source,
 * and end the session so that the source stops waiting for it.
 */
static int cannot_load(struct session *s, const Mig__Claim *cl,
		       struct reply *rep)
{
	char loads[256], why[MIG_REASON_MAX];

	say_loads(cl, loads, sizeof(loads));
	snprintf(why, sizeof(why), "the destination cannot load state %s v%u (it loads %s)",
		 s->format.name, s->format.version, loads);
	s->vm->grant.used = true;
	migrd.refused++;
	reply_err(rep, -EPROTONOSUPPORT,
		  "Claim of VM %s refused: %s; the guest runs on in the source.",
		  s->vm_name, why);
	session_event(s, EV_ABORT, EPROTONOSUPPORT, why);
	return -EPROTONOSUPPORT;
}

int handle_claim(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep)
{
	const Mig__Claim *cl = req->claim;
	const struct grant *g;
	struct why why;
	struct decision d;
	struct session *s;
	struct peer me;
	int channel[2];
	bool loadable = true;
	int r;

	s = target_session(cl ? cl->session : 0, cl && cl->has_session, rep);
	if (!s)
		return -(int)rep->resp.error;
	if (c->id == s->source_id)
		return reply_err(rep, -EINVAL,
				 "A source cannot claim its own session.");
	if (sessions_of(c->id) >= migrd.cfg.max_sessions_per_client)
		return reply_err(rep, -EMFILE,
				 "This connection has max_sessions_per_client sessions open.");
	decide_claim(c, s, cl, &g, &d);
	if (d.verdict == VERDICT_REFUSE) {
		migrd.refused++;
		return reply_err(rep, d.err, "Claim of VM %s refused: %s.",
				 s->vm_name, d.why);
	}
	if (s->state != MIG_STATE_OFFERED)
		return reply_err(rep, -EBUSY,
				 "Session %llu was already claimed by pid %d.",
				 (unsigned long long)s->id, s->dest_pid);
	if (d.verdict == VERDICT_AS_IS && session_regions_intact(s, &why))
		return source_broke_it(s, &why, rep);
	/* Only an upgrade carries the state; a rebind starts afresh. */
	r = d.verdict == VERDICT_AS_IS ? check_loads(s, cl, rep, &loadable) : 0;
	if (r)
		return r;
	if (d.verdict == VERDICT_AS_IS && !loadable)
		return cannot_load(s, cl, rep);
	if (s->adopted && d.verdict != VERDICT_AS_IS) {
		migrd.refused++;
		return reply_err(rep, -EACCES,
				 "Claim of VM %s refused: it was adopted from a VMM that does not speak libmig, so only its successor may claim it; a rebind needs the old VMM to pause and exit on its own.",
				 s->vm_name);
	}
	/* A VMM's own migration is a byte stream; ours are messages. */
	if (d.verdict == VERDICT_AS_IS && socketpair(AF_UNIX, (s->adopted ?
			SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0,
			channel) < 0)
		return reply_err(rep, -errno,
				 "Cannot make the direct channel for session %llu: %s.",
				 (unsigned long long)s->id, strerror(errno));
	/* One use: whatever happens to this session, the token is spent. */
	s->vm->grant.used = true;
	s->grant = *g;
	explicit_bzero(s->grant.token, sizeof(s->grant.token));
	if (d.verdict == VERDICT_AS_IS && s->adopted) {
		adopted_channel(s, channel);
		handoff_fds(s, rep);
	} else if (d.verdict == VERDICT_AS_IS) {
		handoff_fds(s, rep);
		give_channel(s, channel, rep);
	} else {
		handoff_layout(s, rep);
	}
	rep->handoff.has_grant = true;
	rep->handoff.grant = (Mig__GrantKind)s->grant.kind;
	client_peer(c, &me);
	session_claimed_by(s, &me);
	return session_event(s, EV_CLAIM, 0, NULL);
}

static bool may_act(const struct client *c, const struct session *s,
		    Mig__Kind kind)
{
	bool source = c->id == s->source_id, dest = c->id == s->dest_id;

	switch (kind) {
	case MIG__KIND__READY:
		return dest;
	case MIG__KIND__COMMIT:
		/* The source's COMMIT: GO went out on the direct channel. */
		return dest || (source && s->direct && !s->adopted);
	case MIG__KIND__STATE:
		/* Adopted: the claimant saw the old VMM's migration end. */
		return source || (dest && s->adopted);
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
 * The source of a rebind has paused: once its process has exited and
 * nobody else holds the memory, it is zeroed on a worker
 * (session_zeroed() follows). Its state is not kept: it is not the new
 * VM's. If any of that cannot be verified, nothing is handed out.
 */
static int switch_rebind(struct session *s, struct reply *rep)
{
	int r = rebind_await_source(s);

	if (!r)
		return 0;
	reply_err(rep, r, "Cannot watch the source of VM %s exit: %s; the rebind is aborted.",
		  s->vm_name, strerror(-r));
	session_event(s, EV_ABORT, -r, "cannot watch the rebind's source exit");
	return r;
}

/*
 * The COMMIT of an adopted VM names the new VMM by a pidfd: a child of
 * the claimant, so a claimant cannot hand the VM's identity, and with
 * it the old owner's death, to a process it did not start. Only after
 * the old VMM handed over its state (SWITCHING): before, the old VMM
 * still runs the guest, and a COMMIT would have migrd kill it.
 */
static int adopted_successor(const struct client *c, struct session *s,
			     const Mig__Request *req, const int *fds,
			     struct reply *rep)
{
	int i = req->has_successor_pidfd ? req->successor_pidfd : -1;
	char path[64], line[128], state = 'X';
	pid_t pid, ppid = 0;
	uint64_t ino;
	FILE *f;

	if (s->state != MIG_STATE_SWITCHING)
		return reply_err(rep, -EPROTO,
				 "Session %llu: the old VMM has not handed over its state (STATE) yet; it still runs the guest.",
				 (unsigned long long)s->id);
	if (i < 0 || mig_pidfd_pid(fds[i], &pid) < 0)
		return reply_err(rep, -EINVAL,
				 "The COMMIT of adopted VM %s must carry the new VMM's pidfd.",
				 s->vm_name);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "State: %c", &state) != 1 &&
		    sscanf(line, "PPid: %d", &ppid) == 1)
			break;
	if (f)
		fclose(f);
	/* A dead child not yet reaped still has its pid: it runs nothing. */
	if (state == 'Z' || state == 'X')
		return reply_err(rep, -ESRCH,
				 "Pid %d has exited: it cannot run VM %s.",
				 pid, s->vm_name);
	if (ppid != c->cred.pid)
		return reply_err(rep, -EPERM,
				 "Pid %d is not a child of the claimant (pid %d): it cannot become VM %s's owner.",
				 pid, c->cred.pid, s->vm_name);
	/*
	 * The old VMM may well be the claimant's child too (a launcher that
	 * started both): named as its own successor, it would be killed
	 * after exit_grace as the old one, and the guest with it.
	 */
	if (pid == s->source_pid)
		return reply_err(rep, -EPERM,
				 "Pid %d is VM %s's old VMM: it cannot be its own successor.",
				 pid, s->vm_name);
	if (mig_pidfd_ino(fds[i], &ino) < 0)
		return reply_err(rep, -EBADF, "Cannot pin pid %d.", pid);
	/* The destination is the new VMM, not the launcher. */
	mig_close_fds(&s->dest_proc.fd, 1);
	s->dest_proc.fd = dup(fds[i]);
	if (s->dest_proc.fd < 0)
		return reply_err(rep, -errno, "Cannot keep pid %d's pidfd: %s.",
				 pid, strerror(errno));
	s->dest_pid = pid;
	s->dest_ino = ino;
	if (mig_pid_start(pid, &s->dest_start) < 0)
		s->dest_start = 0;
	mig_pid_uid(pid, &s->dest_uid);
	return 0;
}

/*
 * COMMIT: whose word commits is session_commit()'s (the source decides).
 * An adopted VM's claimant names the new VMM first; a rebind's new name
 * must still be free.
 */
static int commit_step(const struct client *c, struct session *s,
		       const Mig__Request *req, const int *fds,
		       struct reply *rep)
{
	enum commit_word word = c->id == s->source_id ? WORD_SOURCE :
		WORD_DEST;
	struct why why;
	int r;

	if (s->adopted) {
		r = adopted_successor(c, s, req, fds, rep);
		if (r)
			return r;
	}
	r = rebind_may_commit(s, &why);
	if (!r)
		r = session_commit(s, word, &why);
	if (r)
		return reply_why(rep, r, &why);
	reply_session(rep, s);
	return 0;
}

/* READY, STATE, COMMIT and ABORT: one event each on a named session. */
int handle_step(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep)
{
	enum fsm_event ev = step_event[req->kind];
	const Mig__Target *t = req->target;
	uint64_t id = req->state ? req->state->session : t ? t->session : 0;
	bool has = req->state ? req->state->has_session : t && t->has_session;
	char reason[MIG_REASON_MAX], why[MIG_REASON_MAX + 32];
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
	    s->state == MIG_STATE_READY) {
		r = s->grant.kind == GRANT_REBIND ? switch_rebind(s, rep) :
			s->adopted ? 0 :
			s->direct ? direct_state(s, req->state, rep) :
			keep_state(s, req->state, rep);
		if (r)
			return r;
	}
	if (req->kind == MIG__KIND__COMMIT)
		return commit_step(c, s, req, fds, rep);
	/* A peer's words, kept and shown: escaped once, here. */
	mig_escape(reason, sizeof(reason),
		   req->reason ? req->reason : "requested");
	snprintf(why, sizeof(why), "%s by pid %d", reason, c->cred.pid);
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
	    s->state != MIG_STATE_READY)
		return;
	rep->resp.has_peer_fd = true;
	rep->resp.peer_fd = (int32_t)rep->nfds;
	rep->fds[rep->nfds++] = session_hand_fd(&s->peer_fd);
	s->direct = true;
	session_set_deadline(s);
	migrd.dirty = true;
	log_info("session %llu (VM %s): the source has its end of the direct channel; source and destination decide from here",
		 (unsigned long long)s->id, s->vm_name);
}

/* TAKE_STATE of a rebind: the zeroed memory instead of the state. */
static int take_rebind(struct session *s, struct reply *rep)
{
	if (s->state < MIG_STATE_SWITCHING || s->zero == ZERO_AWAIT_EXIT ||
	    s->zero == ZERO_RUNNING)
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
		     enum mig_state want, struct reply *rep)
{
	if (s->state == MIG_STATE_ABORTED && s->zero != ZERO_NONE &&
	    c->id == s->source_id)
		return reply_err(rep, -EOWNERDEAD,
				 "Session %llu was aborted after its memory was given up for a rebind: %s; the old guest cannot resume.",
				 (unsigned long long)s->id, s->reason);
	if (s->zero != ZERO_NONE && c->id == s->source_id)
		return reply_err(rep, -EOWNERDEAD,
				 "The memory of VM %s goes to a new VM once this process has exited and nobody else holds it: exit now; the old guest cannot resume.",
				 s->vm_name);
	if (s->state == MIG_STATE_ABORTED)
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
		return s->state < MIG_STATE_SWITCHING ? 1 :
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
	enum mig_state want = w && w->has_state ? (enum mig_state)w->state :
		MIG_STATE_NONE;
	int r;

	if (!s)
		return reply_err(rep, -ENOENT, "There is no session %llu.",
				 (unsigned long long)id);
	if (take ? c->id != s->dest_id :
	    (c->id != s->source_id && c->id != s->dest_id && !c->admin))
		return reply_err(rep, -EPERM,
				 "This connection plays no part in session %llu.",
				 (unsigned long long)id);
	if (!take && (want < MIG_STATE_OFFERED ||
		      want > MIG_STATE_COMMITTED))
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
