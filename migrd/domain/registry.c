// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The VM registry: which process owns which VM, as management says.
 * A registration lives exactly as long as its owner process runs the
 * program it was registered with: exit (pidfd) or exec (procmon.c) ends
 * it, and pid reuse cannot inherit it because the owner is held by pidfd.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"

int registry_has_room(struct why *w)
{
	if (migrd.nvms >= migrd.cfg.max_vms)
		return why_fail(w, -ENOSPC,
				"migrd already holds max_vms registrations.");
	return 0;
}

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
	journal_vm_changed(vm);
}

/* Forget vm: its owner's pidfd, its grant, its memory. */
static void vm_free(struct vm *vm)
{
	if (vm->owner.fd >= 0) {
		if (!vm->owner_gone)
			watch_del(&vm->owner);
		close(vm->owner.fd);
	}
	journal_vm_gone(vm);
	list_del(&vm->link);
	migrd.nvms--;
	explicit_bzero(&vm->grant, sizeof(vm->grant));
	free(vm);
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
	vm_free(vm);
	migrd.dirty = true;
}

/*
 * The owner is gone. Mid-switchover the guest's state is already with the
 * destination, which may still commit and become the owner, so only then
 * the registration outlives its owner; the session's end settles it.
 */
void vm_owner_lost(struct vm *vm, const char *why)
{
	struct session *s = vm->session;

	if (s && (s->direct || s->state == MIG_STATE_SWITCHING)) {
		log_info("VM %s: owner pid %d %s during switchover; the destination may still commit",
			 vm->name, vm->owner_pid, why);
		watch_del(&vm->owner);
		vm->owner_gone = true;
		journal_vm_changed(vm);
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

/* A name and an optional UUID for a new registration: valid and free. */
int check_new_names(const char *name, const char *uuid, struct why *w)
{
	if (!valid_name(name))
		return why_fail(w, -EINVAL,
				 "A VM name must be 1 to 63 letters, digits or ._-:@+ characters.");
	if (uuid && *uuid && !valid_uuid(uuid))
		return why_fail(w, -EINVAL,
				 "The UUID must look like 8-4-4-4-12 hex digits.");
	if (vm_find(name) || (uuid && *uuid && vm_find(uuid)))
		return why_fail(w, -EEXIST,
				 "A VM with this name or UUID is already registered.");
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
	/* Who the owner is for a restarted migrd: pid and start time. */
	if (mig_pid_start(pid, &vm->owner_start) < 0)
		vm->owner_start = 0;
	vm->serial = ++migrd.next_vm;
	list_add_tail(&vm->link, &migrd.vms);
	migrd.nvms++;
	return vm;
}

/* Stopping forgets nothing: the journal has the VMs for the next migrd. */
void registry_fini(void)
{
	struct vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &migrd.vms, link)
		vm_free(vm);
}

int why_fail(struct why *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return err;
}
