/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The KVM ABI this project needs, in one place. Debian 12's <linux/kvm.h>
 * predates guest_memfd, and the inode-link ioctl is not upstream at all,
 * so a new kernel interface is a change to this file only.
 */
#ifndef MIG_KVM_UAPI_H
#define MIG_KVM_UAPI_H

#include <linux/kvm.h>
#include <linux/types.h>

#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2		231
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD		234
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES		235
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS	244
#endif

#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD		(1UL << 2)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD	_IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 \
	_IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

/*
 * Inode link: issued on the destination VM fd with the source gmem fd,
 * returns a new gmem fd of that VM on the same inode. Upstream has only
 * the RFC (v1: 0xd5, v2: 0xd6, no flags); this project's kernel patch
 * (kernel/) implements v2's number and size with one flag: PRESERVE keeps
 * the contents when vm_fd (the RFC's reserved[0]) is the VM owning fd;
 * any other link zeroes the memory and revokes every other holder.
 */
struct kvm_link_guest_memfd {
	__u64 fd;
	__u64 flags;
	__u64 vm_fd;
	__u64 reserved[5];
};
#define KVM_LINK_GUEST_MEMFD_V1	_IOWR(KVMIO, 0xd5, struct kvm_link_guest_memfd)
#define KVM_LINK_GUEST_MEMFD_V2	_IOWR(KVMIO, 0xd6, struct kvm_link_guest_memfd)
#define KVM_LINK_GUEST_MEMFD_PRESERVE	(1ULL << 0)
/* Not assigned upstream; our patch's number. Reports the valid flags. */
#define KVM_CAP_LINK_GUEST_MEMFD	1000

/* Private memory on 6.8+ (what kernels without gmem mmap need). */
#ifndef KVM_X86_SW_PROTECTED_VM
#define KVM_X86_SW_PROTECTED_VM		1
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES	233
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES
struct kvm_memory_attributes {
	__u64 address;
	__u64 size;
	__u64 attributes;
	__u64 flags;
};
#define KVM_SET_MEMORY_ATTRIBUTES \
	_IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
#define KVM_MEMORY_ATTRIBUTE_PRIVATE	(1ULL << 3)
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT		39
#endif

/* What an fd reads back as from /proc/self/fd (measured on 6.18). */
#define KVM_GMEM_LINK_NAME	"anon_inode:[kvm-gmem]"
#define KVM_VM_LINK_NAME	"anon_inode:kvm-vm"
#ifndef ANON_INODE_FS_MAGIC
#define ANON_INODE_FS_MAGIC	0x09041934
#endif

#endif /* MIG_KVM_UAPI_H */
