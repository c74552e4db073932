// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Management's requests: REGISTER, UNREGISTER and GRANT, from protobuf
 * to the registry and the grants (registry.c, grant.c) and back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "h-private.h"
#include "log.h"

/*
 * Pin the owner: a pidfd (passed, or opened from the pid), its real uid
 * from /proc/PID/status, and a liveness check after reading the uid, so the uid is known
 * to belong to the process the pidfd holds.
 */
static int pin_owner(Mig__Register *reg, int *fds, pid_t *pid, uid_t *uid,
		     int *pidfd)
{
	int r;

	if (reg->has_owner_pidfd) {
		*pidfd = fds[reg->owner_pidfd];
		r = mig_pidfd_pid(*pidfd, pid);
		if (r)
			return r;
		fds[reg->owner_pidfd] = -1;
	} else {
		if (!reg->has_owner_pid || reg->owner_pid <= 0)
			return -EINVAL;
		*pid = reg->owner_pid;
		*pidfd = mig_pidfd_open(*pid);
		if (*pidfd < 0)
			return *pidfd;
	}
	/* Read, then checked to be still the pinned process's. */
	r = mig_pid_uid(*pid, uid);
	if (!r && syscall(SYS_pidfd_send_signal, *pidfd, 0, NULL, 0) < 0)
		r = -errno;
	if (r) {
		close(*pidfd);
		return r;
	}
	return 0;
}

static int check_register(Mig__Register *reg, struct reply *rep)
{
	struct why w;
	int r = check_new_names(reg ? reg->name : NULL,
				reg ? reg->uuid : NULL, &w);

	if (r)
		return reply_why(rep, r, &w);
	r = registry_has_room(&w);
	return r ? reply_why(rep, r, &w) : 0;
}

HANDLER(handle_register)
{
	Mig__Register *reg = req->register_;
	struct vm *vm;
	int r, pidfd;
	uint64_t ino;
	pid_t pid = 0;
	uid_t uid = 0;

	r = check_register(reg, rep);
	if (r)
		return r;
	r = pin_owner(reg, fds, &pid, &uid, &pidfd);
	if (r)
		return reply_err(rep, r,
				 "The owner process cannot be pinned: %s.",
				 strerror(-r));
	if (mig_pidfd_ino(pidfd, &ino) < 0) {
		close(pidfd);
		return -ENOMEM;
	}
	vm = vm_create(reg->name, reg->uuid, pidfd, pid, uid, ino);
	if (!vm)
		return -ENOMEM;
	log_info("VM %s (%s) registered by pid %d: owner pid %d uid %u",
		 vm->name, vm->id, c->peer.pid, pid, uid);
	vm_info(&rep->vm, vm);
	rep->resp.vm = &rep->vm;
	outbox_vm("registered", vm);
	return 0;
}

HANDLER(handle_unregister)
{
	struct vm *vm = vm_find(req->target ? req->target->vm : NULL);
	char why[64];

	if (!vm)
		return reply_err(rep, -ENOENT, "No such VM is registered.");
	snprintf(why, sizeof(why), "unregistered by pid %d", c->peer.pid);
	vm_destroy(vm, why);
	return 0;
}

static void reply_grant(struct reply *rep, const struct vm *vm)
{
	Mig__GrantReply *gr = &rep->grant;

	mig__grant_reply__init(gr);
	gr->has_token = gr->has_kind = gr->has_expires_ms = true;
	gr->token.data = (uint8_t *)vm->grant.token;
	gr->token.len = MIG_TOKEN_LEN;
	gr->kind = (Mig__GrantKind)vm->grant.kind;
	gr->vm_id = (char *)vm->id;
	gr->expires_ms = vm->grant.expires_ms;
	rep->resp.grant = gr;
}

HANDLER(handle_grant)
{
	const Mig__Grant *g = req->grant;
	struct why w;
	struct vm *vm;
	int r;

	if (!g || !g->has_kind || (g->kind != MIG__GRANT_KIND__SUCCESSOR &&
				   g->kind != MIG__GRANT_KIND__REBIND))
		return reply_err(rep, -EINVAL,
				 "GRANT needs a kind: successor or rebind.");
	vm = vm_find(g->vm);
	if (!vm)
		return reply_err(rep, -ENOENT, "No VM named %s is registered.",
				 g->vm ? g->vm : "(none)");
	r = grant_issue(vm, (enum grant_kind)g->kind, g->new_name, g->new_uuid,
			g->has_uid, g->uid, &w);
	if (r)
		return reply_why(rep, r, &w);
	log_info("VM %s (%s): %s grant issued by pid %d uid %u; claimable by uid %u%s%s for %us",
		 vm->name, vm->id, grant_kind_name(vm->grant.kind),
		 c->peer.pid, c->peer.uid, vm->grant.uid,
		 vm->grant.kind == GRANT_REBIND ? " as new VM " : "",
		 vm->grant.new_name, migrd.cfg.grant_timeout_ms / 1000);
	reply_grant(rep, vm);
	return 0;
}
