// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * KVM helpers of the kernel tests. Every call returns 0 (or an fd) or a
 * negative errno, so that a test can assert the exact error the kernel
 * gave.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm-util.h"

#define KT_PORT_DONE	0x10
#define KT_PORT_PASS	0x11
#define KT_SECOND_GPA	0x100000UL	/* where kt_bind_at() tries more */

extern const unsigned char kt_guest_code[], kt_guest_code_end[];

static int err(void)
{
	return -errno;
}

int kt_kvm_fd(void)
{
	static int kvm = -1;

	if (kvm < 0)
		kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	return kvm < 0 ? err() : kvm;
}

/* Real mode at KT_CODE_GPA, flat segments. */
static int vcpu_reset(int vcpu)
{
	struct kvm_sregs s;

	if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0)
		return err();
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0)
		return err();
	return 0;
}

int kt_vm_create(struct kt_vm *v)
{
	int kvm = kt_kvm_fd(), size, r;

	memset(v, 0, sizeof(*v));
	v->vm = v->vcpu = v->gmem = -1;
	if (kvm < 0)
		return kvm;
	v->vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (v->vm < 0)
		return err();
	v->shared = mmap(NULL, KT_MEM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (v->shared == MAP_FAILED)
		return err();
	memcpy((char *)v->shared + KT_CODE_GPA, kt_guest_code,
	       (size_t)(kt_guest_code_end - kt_guest_code));
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		return err();
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		return err();
	v->run_size = (size_t)size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->vcpu, 0);
	if (v->run == MAP_FAILED)
		return err();
	r = vcpu_reset(v->vcpu);
	return r;
}

void kt_vm_destroy(struct kt_vm *v)
{
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, v->run_size);
	if (v->shared && v->shared != MAP_FAILED)
		munmap(v->shared, KT_MEM_SIZE);
	if (v->gmem >= 0)
		close(v->gmem);
	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	memset(v, 0, sizeof(*v));
	v->vm = v->vcpu = v->gmem = -1;
}

int kt_gmem_create(struct kt_vm *v)
{
	struct kvm_create_guest_memfd g = { .size = KT_MEM_SIZE };
	int fd = ioctl(v->vm, KVM_CREATE_GUEST_MEMFD, &g);

	return fd < 0 ? err() : fd;
}

static int set_slot(struct kt_vm *v, uint32_t slot, uint64_t gpa,
		    uint64_t size, int gmem, uint64_t offset)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = slot,
		.flags = size ? KVM_MEM_GUEST_MEMFD : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)v->shared,
		.guest_memfd_offset = offset,
		.guest_memfd = (uint32_t)gmem,
	};

	return ioctl(v->vm, KVM_SET_USER_MEMORY_REGION2, &r) < 0 ? err() : 0;
}

static int set_private(struct kt_vm *v, uint64_t gpa, uint64_t size)
{
	struct kvm_memory_attributes a = {
		.address = gpa,
		.size = size,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};

	return ioctl(v->vm, KVM_SET_MEMORY_ATTRIBUTES, &a) < 0 ? err() : 0;
}

/* @gmem at slot 0, GPA 0; its second half private. Takes the fd. */
int kt_bind(struct kt_vm *v, int gmem)
{
	int r = set_slot(v, 0, 0, KT_MEM_SIZE, gmem, 0);

	if (r)
		return r;
	v->gmem = gmem;
	return set_private(v, KT_DATA_GPA, KT_MEM_SIZE - KT_DATA_GPA);
}

/* The data half of @gmem once more, elsewhere: does the kernel let it? */
int kt_bind_at(struct kt_vm *v, int gmem, uint32_t slot, uint64_t gpa)
{
	return set_slot(v, slot, gpa ? gpa : KT_SECOND_GPA,
			KT_MEM_SIZE - KT_DATA_GPA, gmem, KT_DATA_GPA);
}

int kt_unbind(struct kt_vm *v)
{
	return set_slot(v, 0, 0, 0, 0, 0);
}

static int set_regs(struct kt_vm *v, enum kt_op op, uint32_t seed)
{
	struct kvm_regs regs = {
		.rip = KT_CODE_GPA,
		.rflags = 2,
		.rax = op,
		.rbx = seed,
		.rcx = KT_WORDS,
	};

	return ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0 ? err() : 0;
}

/*
 * Run the guest: 0 when it reported on KT_PORT_DONE (with the sum for
 * KT_SUM), 1 after a pass of KT_WRITE_FOREVER (call again with the same
 * op to go on), -errno when KVM_RUN failed (v->run->exit_reason says
 * more), -EPROTO on an exit the guest does not make.
 */
int kt_run(struct kt_vm *v, enum kt_op op, uint32_t seed, struct kt_sum *out)
{
	struct kvm_regs regs;
	int r;

	if (!(op == KT_WRITE_FOREVER && v->run->exit_reason == KVM_EXIT_IO &&
	      v->run->io.port == KT_PORT_PASS)) {
		r = set_regs(v, op, seed);
		if (r)
			return r;
	}
	if (ioctl(v->vcpu, KVM_RUN, 0) < 0)
		return err();
	if (v->run->exit_reason != KVM_EXIT_IO)
		return -EPROTO;
	if (v->run->io.port == KT_PORT_PASS)
		return 1;
	if (v->run->io.port != KT_PORT_DONE)
		return -EPROTO;
	if (out) {
		if (ioctl(v->vcpu, KVM_GET_REGS, &regs) < 0)
			return err();
		out->sum = (uint32_t)regs.rax;
		out->nonzero = (uint32_t)regs.rdx;
	}
	/* The next run starts anew. */
	v->run->exit_reason = KVM_EXIT_UNKNOWN;
	return 0;
}

int kt_link_raw(int vm, const struct kvm_link_guest_memfd *a)
{
	int fd = ioctl(vm, KVM_LINK_GUEST_MEMFD_V2, a);

	return fd < 0 ? err() : fd;
}

int kt_link(int vm, int gmem, uint64_t flags, uint64_t vm_fd)
{
	struct kvm_link_guest_memfd a = {
		.fd = (uint64_t)gmem, .flags = flags, .vm_fd = vm_fd,
	};

	return kt_link_raw(vm, &a);
}

uint32_t kt_pattern_sum(uint32_t seed)
{
	uint32_t sum = 0;

	for (unsigned long i = 0; i < KT_WORDS; i++, seed += 0x9e3779b9u)
		sum += seed;
	return sum;
}
