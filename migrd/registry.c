// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The VM registry: which process owns which VM, as management says.
 * A registration lives exactly as long as its owner process runs the
 * program it was registered with: exit (pidfd) or exec (procmon.c) ends
 * it, and pid reuse cannot inherit it because the owner is held by pidfd.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "migrd.h"

struct vm *vm_find(const char *key)
{
	struct vm *vm;

	if (!key || !*key)
		return NULL;
	list_for_each_entry(vm, &migrd.vms, link)
		if (strcmp(vm->id, key) == 0 || strcmp(vm->name, key) == 0 ||
		    (vm->uuid[0] && strcasecmp(vm->uuid, key) == 0))
			return vm;
	return NULL;
}

static bool valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= MIG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-:@+", s[i]))
			return false;
	return true;
}

static bool valid_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static void owner_event(struct watch *w, uint32_t events);

void vm_set_owner(struct vm *vm, int pidfd, pid_t pid, uid_t uid,
		  uint64_t ino)
{
	if (vm->owner.fd >= 0) {
		if (!vm->owner_gone)
			watch_del(&vm->owner);
		close(vm->owner.fd);
	}
	vm->owner.fd = pidfd;
	vm->owner.fn = owner_event;
	vm->owner_pid = pid;
	vm->owner_uid = uid;
	vm->owner_ino = ino;
	vm->owner_gone = watch_add(&vm->owner, EPOLLIN) < 0;
	migrd.dirty = true;
}

/* The one place a VM ends. Its open session is aborted first. */
void vm_destroy(struct vm *vm, const char *why)
{
	vm->dying = true;
	if (vm->session && vm->session->direct)
		log_warn("VM %s unregistered during its switchover: %s; its two VMMs still decide who runs the guest",
			 vm->name, why);
	if (vm->session)
		session_event(vm->session, EV_ABORT, ECANCELED, why);
	log_info("VM %s (%s) unregistered: %s", vm->name, vm->id, why);
	outbox_vm("unregistered", vm);
	if (vm->owner.fd >= 0) {
		if (!vm->owner_gone)
			watch_del(&vm->owner);
		close(vm->owner.fd);
	}
	list_del(&vm->link);
	migrd.nvms--;
	migrd.dirty = true;
	explicit_bzero(&vm->grant, sizeof(vm->grant));
	free(vm);
}

/*
 * The owner is gone. Mid-switchover the guest's state is already with the
 * destination, which may still commit and become the owner, so only then
 * the registration outlives its owner; the session's end settles it.
 */
void vm_owner_lost(struct vm *vm, const char *why)
{
	struct session *s = vm->session;

	if (s && (s->direct || s->state == MIG__STATE__SWITCHING)) {
		log_info("VM %s: owner pid %d %s during switchover; the destination may still commit",
			 vm->name, vm->owner_pid, why);
		watch_del(&vm->owner);
		vm->owner_gone = true;
		migrd.dirty = true;
		if (s->direct)
			session_source_gone(s);
		return;
	}
	vm_destroy(vm, why);
}

static void owner_event(struct watch *w, uint32_t events)
{
	vm_owner_lost(container_of(w, struct vm, owner),
		      "owner process exited");
}

/* Every VM of a process that execs ends, not only the first. */
void vm_owner_exec(pid_t pid)
{
	struct vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &migrd.vms, link)
		if (vm->owner_pid == pid && !vm->owner_gone)
			vm_owner_lost(vm, "owner process executed a new program");
}

/* The pid a pidfd names, from its fdinfo; -ESRCH once it has exited. */
static int pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64], line[128];
	int r = -EBADF;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int v;

		if (sscanf(line, "Pid: %d", &v) == 1) {
			r = v > 0 ? 0 : -ESRCH;
			*pid = v;
			break;
		}
	}
	fclose(f);
	return r;
}

/*
 * Pin the owner: a pidfd (passed, or opened from the pid), its uid from
 * /proc, and a liveness check after reading the uid, so the uid is known
 * to belong to the process the pidfd holds.
 */
static int pin_owner(Mig__Register *reg, int *fds, pid_t *pid, uid_t *uid,
		     int *pidfd)
{
	char path[32];
	struct stat st;
	int r;

	if (reg->has_owner_pidfd) {
		*pidfd = fds[reg->owner_pidfd];
		r = pidfd_pid(*pidfd, pid);
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
	snprintf(path, sizeof(path), "/proc/%d", *pid);
	r = stat(path, &st) < 0 ? -errno : 0;
	if (!r && syscall(SYS_pidfd_send_signal, *pidfd, 0, NULL, 0) < 0)
		r = -errno;
	if (r) {
		close(*pidfd);
		return r == -ENOENT ? -ESRCH : r;
	}
	*uid = st.st_uid;
	return 0;
}

/* A name and an optional UUID for a new registration: valid and free. */
int check_new_names(const char *name, const char *uuid, struct reply *rep)
{
	if (!valid_name(name))
		return reply_err(rep, -EINVAL,
				 "A VM name must be 1 to 63 letters, digits or ._-:@+ characters.");
	if (uuid && *uuid && !valid_uuid(uuid))
		return reply_err(rep, -EINVAL,
				 "The UUID must look like 8-4-4-4-12 hex digits.");
	if (vm_find(name) || (uuid && *uuid && vm_find(uuid)))
		return reply_err(rep, -EEXIST,
				 "A VM with this name or UUID is already registered.");
	return 0;
}

static int check_register(Mig__Register *reg, struct reply *rep)
{
	int r = check_new_names(reg ? reg->name : NULL,
				reg ? reg->uuid : NULL, rep);

	if (r)
		return r;
	if (migrd.nvms >= migrd.cfg.max_vms)
		return reply_err(rep, -ENOSPC,
				 "migrd already holds max_vms registrations.");
	return 0;
}

/*
 * A new VM with a fresh identity: 128 random bits, so never reused.
 * Takes pidfd, also on failure.
 */
struct vm *vm_create(const char *name, const char *uuid, int pidfd, pid_t pid,
		     uid_t uid, uint64_t ino)
{
	unsigned char raw[16];
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm || getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
		free(vm);
		close(pidfd);
		return NULL;
	}
	mig_hex(vm->id, raw, sizeof(raw));
	mig_strlcpy(vm->name, name, sizeof(vm->name));
	mig_strlcpy(vm->uuid, uuid, sizeof(vm->uuid));
	for (char *p = vm->uuid; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	vm->registered_ms = mig_now_ms();
	vm->owner.fd = -1;
	vm_set_owner(vm, pidfd, pid, uid, ino);
	list_add_tail(&vm->link, &migrd.vms);
	migrd.nvms++;
	return vm;
}

int handle_register(struct client *c, Mig__Request *req, int *fds,
		    unsigned int nfds, struct reply *rep)
{
	Mig__Register *reg = req->register_;
	struct vm *vm;
	int r, pidfd;
	uint64_t ino;
	pid_t pid;
	uid_t uid;

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
	if (mig_pid_start(pid, &vm->owner_start) < 0)
		vm->owner_start = 0;
	log_info("VM %s (%s) registered by pid %d: owner pid %d uid %u",
		 vm->name, vm->id, c->cred.pid, pid, uid);
	vm_info(&rep->vm, vm);
	rep->resp.vm = &rep->vm;
	outbox_vm("registered", vm);
	return 0;
}

int handle_unregister(struct client *c, Mig__Request *req, int *fds,
		      unsigned int nfds, struct reply *rep)
{
	struct vm *vm = vm_find(req->target ? req->target->vm : NULL);
	char why[64];

	if (!vm)
		return reply_err(rep, -ENOENT, "No such VM is registered.");
	snprintf(why, sizeof(why), "unregistered by pid %d", c->cred.pid);
	vm_destroy(vm, why);
	return 0;
}

/* Stopping forgets nothing: the journal has the VMs for the next migrd. */
void registry_fini(void)
{
	struct vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &migrd.vms, link) {
		if (vm->owner.fd >= 0) {
			if (!vm->owner_gone)
				watch_del(&vm->owner);
			close(vm->owner.fd);
		}
		list_del(&vm->link);
		migrd.nvms--;
		explicit_bzero(&vm->grant, sizeof(vm->grant));
		free(vm);
	}
}
