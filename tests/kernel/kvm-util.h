/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the kernel tests need of KVM, after the style of the kernel's KVM
 * selftests: one VM with one vCPU running tests/kernel/guest16.S, on a
 * memslot whose first half is shared (the guest's code, written by the
 * host) and whose second half is private guest_memfd (the guest's data,
 * which only the guest can see: KVM_X86_SW_PROTECTED_VM on 6.12).
 */
#ifndef KT_KVM_UTIL_H
#define KT_KVM_UTIL_H

#include <stdint.h>
#include <linux/kvm.h>

#include "kvm-uapi.h"

#define KT_MEM_SIZE	0x20000UL	/* the memslot and the gmem */
#define KT_CODE_GPA	0x1000UL
#define KT_DATA_GPA	0x10000UL	/* private from here to the end */
#define KT_WORDS	((KT_MEM_SIZE - KT_DATA_GPA) / 4)

enum kt_op { KT_WRITE = 1, KT_SUM = 2, KT_WRITE_FOREVER = 3 };

struct kt_vm {
	int vm;
	int vcpu;
	int gmem;		/* the gmem bound at slot 0, -1 before */
	void *shared;		/* slot 0's shared view */
	struct kvm_run *run;
	size_t run_size;
};

/* What the guest reported for KT_SUM. */
struct kt_sum {
	uint32_t sum;
	uint32_t nonzero;
};

int kt_kvm_fd(void);
int kt_vm_create(struct kt_vm *v);
void kt_vm_destroy(struct kt_vm *v);
int kt_gmem_create(struct kt_vm *v);
int kt_bind(struct kt_vm *v, int gmem);
int kt_bind_at(struct kt_vm *v, int gmem, uint32_t slot, uint64_t gpa);
int kt_unbind(struct kt_vm *v);
int kt_run(struct kt_vm *v, enum kt_op op, uint32_t seed, struct kt_sum *out);
int kt_link(int vm, int gmem, uint64_t flags, uint64_t vm_fd);
int kt_link_raw(int vm, const struct kvm_link_guest_memfd *a);
uint32_t kt_pattern_sum(uint32_t seed);

#endif /* KT_KVM_UTIL_H */
