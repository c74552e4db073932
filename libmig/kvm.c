// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * KVM and guest_memfd helpers. They only wrap ioctls on fds the caller
 * owns: KVM accepts VM ioctls from the VM's creator process alone, so
 * these run in the VMMs, never in migrd.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm-uapi.h"
#include "mig-private.h"

static int check_ext(int vm_fd, long cap)
{
	int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/*
 * Probe for the link ioctl with an fd that can never be a gmem: a kernel
 * that has the ioctl rejects the argument (EINVAL or EBADF), one that does
 * not rejects the command (ENOTTY). Nothing is created either way.
 */
static unsigned long probe_link(int vm_fd)
{
	static const unsigned long nrs[] = {
		KVM_LINK_GUEST_MEMFD_V2, KVM_LINK_GUEST_MEMFD_V1,
	};
	struct kvm_link_guest_memfd arg = { .fd = (__u64)-1 };

	for (size_t i = 0; i < ARRAY_SIZE(nrs); i++) {
		int r = ioctl(vm_fd, nrs[i], &arg);

		if (r >= 0)
			close(r);
		else if (errno == EINVAL || errno == EBADF)
			return nrs[i];
	}
	return 0;
}

MIG_EXPORT int mig_kvm_probe(int vm_fd, struct mig_kvm_caps *caps)
{
	int flags;

	memset(caps, 0, sizeof(*caps));
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) < 0)
		return -errno;
	caps->guest_memfd = check_ext(vm_fd, KVM_CAP_GUEST_MEMFD);
	caps->user_memory2 = check_ext(vm_fd, KVM_CAP_USER_MEMORY2);
	flags = check_ext(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS);
	caps->gmem_flags = flags > 0 ? (uint64_t)flags : 0;
	if (caps->guest_memfd)
		caps->link_ioctl = probe_link(vm_fd);
	return 0;
}

MIG_EXPORT int mig_gmem_create(int vm_fd, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd arg = { .size = size, .flags = flags };
	int fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &arg);

	return fd < 0 ? -errno : fd;
}

MIG_EXPORT int mig_gmem_link(int vm_fd, int gmem_fd)
{
	return mig_gmem_link_vm(vm_fd, gmem_fd, -1);
}

MIG_EXPORT uint64_t mig_gmem_link_flags(int vm_fd)
{
	int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_LINK_GUEST_MEMFD);

	return r > 0 ? (uint64_t)r : 0;
}

/*
 * Where the kernel has the rebind rule (our patch: the capability lists
 * PRESERVE), contents survive a link only for the same VM, proven with
 * that VM's fd; without the proof the kernel zeroes them. A kernel with
 * the plain RFC link keeps them either way.
 */
MIG_EXPORT int mig_gmem_link_vm(int vm_fd, int gmem_fd, int source_vm_fd)
{
	struct kvm_link_guest_memfd arg = { .fd = (__u64)gmem_fd };
	int fd;

	if (gmem_fd < 0)
		return -EBADF;
	if (source_vm_fd >= 0 &&
	    (mig_gmem_link_flags(vm_fd) & KVM_LINK_GUEST_MEMFD_PRESERVE)) {
		arg.flags = KVM_LINK_GUEST_MEMFD_PRESERVE;
		arg.vm_fd = (__u64)source_vm_fd;
	}
	fd = ioctl(vm_fd, KVM_LINK_GUEST_MEMFD_V2, &arg);
	if (fd < 0 && errno == ENOTTY && !arg.flags)
		fd = ioctl(vm_fd, KVM_LINK_GUEST_MEMFD_V1, &arg);
	return fd < 0 ? -errno : fd;
}

MIG_EXPORT int mig_memory_private(int vm_fd, uint64_t gpa, uint64_t size)
{
	struct kvm_memory_attributes a = {
		.address = gpa,
		.size = size,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};

	return ioctl(vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &a) < 0 ? -errno : 0;
}

MIG_EXPORT int mig_memslot_set(int vm_fd, uint32_t slot, uint64_t gpa,
			       uint64_t size, void *hva, int gmem_fd,
			       uint64_t gmem_offset)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (__u64)(uintptr_t)hva,
	};

	if (gmem_fd >= 0) {
		r.flags = KVM_MEM_GUEST_MEMFD;
		r.guest_memfd = (__u32)gmem_fd;
		r.guest_memfd_offset = gmem_offset;
	}
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &r) < 0)
		return -errno;
	return 0;
}
