// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FAKE KVM_LINK_GUEST_MEMFD, loaded with LD_PRELOAD (after kmod's test
 * suite). This kernel has no inode-link ioctl (RFC, not merged), so this
 * shim gives it the RFC v2 ABI and error codes, and does the real work on
 * the real kernel underneath:
 *
 *   ioctl(vm, KVM_LINK_GUEST_MEMFD, {fd, flags, vm_fd, reserved}) returns
 *   a new fd on the same inode as fd, or -1 with EINVAL when fd is not a
 *   gmem, a flag is unknown, reserved is not zero, or the gmem already
 *   belongs to vm. As our kernel patch does, it keeps the contents only
 *   with KVM_LINK_GUEST_MEMFD_PRESERVE and a VM fd as proof (EBADF for no
 *   fd, EPERM for one that is not a VM), and zeroes them otherwise. What
 *   it cannot do from user space: check that the proof is the gmem's own
 *   VM (VM ioctls work only in the VM's process), and revoke the other
 *   holders. The REAL twins, on the patched kernel, check both.
 *   Ownership is asked of the real kernel: binding a gmem into a VM other
 *   than its own fails with EINVAL there, so a scratch bind that succeeds
 *   means "own VM" (and is undone at once).
 *
 *   A later KVM_SET_USER_MEMORY_REGION2 of a linked fd with
 *   KVM_MEM_GUEST_MEMFD on that VM becomes an ordinary memslot on the
 *   caller's mapping of it: the real kernel cannot bind another VM's gmem,
 *   and the caller maps the linked fd as the RFC flow does. That is the
 *   "share" path underneath; the tests that use this shim say FAKE.
 *
 * Everything else goes to the real ioctl() untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-uapi.h"

#define MAX_LINKS 64
#define SCRATCH_SLOT 32000		/* below KVM_USER_MEM_SLOTS (32764) */
#define SCRATCH_GPA ((1ULL << 40) - 4096)	/* far above any guest RAM */

static struct link {
	int fd;			/* the fd we returned */
	int vm;			/* the VM it was linked into */
	ino_t ino;		/* its inode, to spot a reused fd number */
} links[MAX_LINKS];

typedef int (*ioctl_fn)(int, unsigned long, ...);

static int real_ioctl(int fd, unsigned long req, void *arg)
{
	static ioctl_fn next;

	if (!next)
		next = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
	return next(fd, req, arg);
}

static int is_gmem(int fd, ino_t *ino)
{
	char path[64], link[64];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || fstat(fd, &st) < 0)
		return 0;
	link[n] = '\0';
	*ino = st.st_ino;
	return strcmp(link, KVM_GMEM_LINK_NAME) == 0;
}

/* The real kernel's answer to "does this gmem belong to vm?" */
static int owned_by(int vm, int gmem)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = SCRATCH_SLOT,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = SCRATCH_GPA,
		.memory_size = 4096,
		.guest_memfd = (__u32)gmem,
	};
	int own = real_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r) == 0;

	if (own) {
		r.memory_size = 0;
		r.flags = 0;
		real_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r);
	}
	return own;
}

static int is_vm(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return strcmp(link, KVM_VM_LINK_NAME) == 0;
}

/* The rule: contents only for the same VM, proven; zeroes otherwise. */
static int check_proof(const struct kvm_link_guest_memfd *a)
{
	if (!(a->flags & KVM_LINK_GUEST_MEMFD_PRESERVE))
		return a->vm_fd ? -EINVAL : 0;
	if (a->vm_fd > (__u64)0x7fffffff || fcntl((int)a->vm_fd, F_GETFD) < 0)
		return -EBADF;
	return is_vm((int)a->vm_fd) ? 0 : -EPERM;
}

static int fake_link(int vm, struct kvm_link_guest_memfd *a)
{
	ino_t ino;
	int fd, r;

	for (int i = 0; i < 5; i++)
		if (a->reserved[i])
			goto einval;
	if ((a->flags & ~KVM_LINK_GUEST_MEMFD_PRESERVE) ||
	    a->fd > (__u64)0x7fffffff ||
	    !is_gmem((int)a->fd, &ino) || owned_by(vm, (int)a->fd))
		goto einval;
	r = check_proof(a);
	if (r) {
		errno = -r;
		return -1;
	}
	/* No proof: the memory goes on empty, as in the kernel. */
	if (!(a->flags & KVM_LINK_GUEST_MEMFD_PRESERVE)) {
		struct stat st;

		if (fstat((int)a->fd, &st) < 0 ||
		    fallocate((int)a->fd, FALLOC_FL_PUNCH_HOLE |
			      FALLOC_FL_KEEP_SIZE, 0, st.st_size) < 0)
			return -1;
	}
	fd = fcntl((int)a->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	for (int i = 0; i < MAX_LINKS; i++) {
		if (links[i].ino && fcntl(links[i].fd, F_GETFD) >= 0)
			continue;
		links[i] = (struct link){ .fd = fd, .vm = vm, .ino = ino };
		return fd;
	}
	close(fd);
	errno = ENOSPC;
	return -1;
einval:
	errno = EINVAL;
	return -1;
}

static struct link *linked(int vm, int fd)
{
	ino_t ino;

	for (int i = 0; i < MAX_LINKS; i++)
		if (links[i].ino && links[i].fd == fd && links[i].vm == vm &&
		    is_gmem(fd, &ino) && ino == links[i].ino)
			return &links[i];
	return NULL;
}

static int fake_memslot(int vm, struct kvm_userspace_memory_region2 *r)
{
	struct kvm_userspace_memory_region2 hva = *r;

	hva.flags &= ~KVM_MEM_GUEST_MEMFD;
	hva.guest_memfd = 0;
	hva.guest_memfd_offset = 0;
	return real_ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &hva);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_LINK_GUEST_MEMFD_V2)
		return fake_link(fd, arg);
	/* What our kernel answers: the flags it knows. */
	if (req == KVM_CHECK_EXTENSION &&
	    (long)(intptr_t)arg == KVM_CAP_LINK_GUEST_MEMFD)
		return (int)KVM_LINK_GUEST_MEMFD_PRESERVE;
	if (req == KVM_SET_USER_MEMORY_REGION2) {
		struct kvm_userspace_memory_region2 *r = arg;

		if ((r->flags & KVM_MEM_GUEST_MEMFD) &&
		    linked(fd, (int)r->guest_memfd))
			return fake_memslot(fd, r);
	}
	return real_ioctl(fd, req, arg);
}
