// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The machine: a KVM VM with its RAM in one memory slot, or in two split
 * around the hole below 4 GiB as on a PC, and its vCPUs started directly
 * in 64-bit mode (flat segments, identity-mapped 2 MiB pages), so the
 * guest can address all of its memory with no firmware.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest.h"
#include "vmm.h"

extern const uint8_t guest_code_start[], guest_code_end[];

/* vCPUs made ahead (pre-launch) belong to the VM replaced here. */
static void vcpus_drop(struct vmm *v)
{
	for (unsigned int i = 0; i < v->nvcpus; i++) {
		struct vcpu *c = &v->vcpus[i];

		if (c->fd < 0)
			continue;
		munmap(c->run, v->run_size);
		close(c->fd);
		c->fd = -1;
	}
}

int machine_protect(struct vmm *v)
{
	int vm = ioctl(v->kvm, KVM_CREATE_VM, MIG_VM_TYPE_SW_PROTECTED);

	if (vm < 0)
		return -errno;
	vcpus_drop(v);
	close(v->vm);
	v->vm = vm;
	return 0;
}

int machine_create(struct vmm *v)
{
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		return -errno;
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		return -errno;
	v->run_size = (size_t)ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	return 0;
}

/* THP on shmem is asked for by mapping (shmem_enabled "advise"). */
int machine_memory_advise(struct vmm *v)
{
	if (v->huge != HUGE_THP ||
	    madvise(v->mem, v->mem_size, MADV_HUGEPAGE) == 0)
		return 0;
	return -errno;
}

static int map_memory(struct vmm *v)
{
	v->mem = mmap(NULL, v->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->mem_fd, 0);
	if (v->mem == MAP_FAILED) {
		v->mem = NULL;
		return -errno;
	}
	return machine_memory_advise(v);
}

/*
 * PRIVATE: slot 0 the shared low memfd, slot 1 the private gmem above it
 * (its shared view, never used, an anonymous reservation), every byte of
 * it marked private: the guest's accesses there go to the gmem.
 */
int machine_private_bind(struct vmm *v, int low_fd, int gmem_fd)
{
	uint64_t size = v->mem_size - FILL_START;
	void *shared;
	int r;

	v->mem = mmap(NULL, FILL_START, PROT_READ | PROT_WRITE, MAP_SHARED,
		      low_fd, 0);
	shared = mmap(NULL, size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v->mem == MAP_FAILED || shared == MAP_FAILED) {
		v->mem = NULL;
		return -errno;
	}
	v->low_fd = low_fd;
	v->mem_fd = gmem_fd;
	r = mig_memslot_set(v->vm, 0, 0, FILL_START, v->mem, -1, 0);
	if (!r)
		r = mig_memslot_set(v->vm, 1, FILL_START, size, shared,
				    gmem_fd, 0);
	if (!r)
		r = mig_memory_private(v->vm, FILL_START, size);
	return r;
}

static int private_memory_new(struct vmm *v)
{
	int low, gmem, r;

	if (v->mem_size > HOLE_START)
		return -EINVAL;		/* below the APIC, not around it */
	r = machine_protect(v);
	if (r)
		return r;
	low = memfd_create("refvmm-low", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (low < 0 || ftruncate(low, FILL_START))
		return -errno;
	gmem = mig_gmem_create(v->vm, v->mem_size - FILL_START, 0);
	if (gmem < 0)
		return gmem;
	return machine_private_bind(v, low, gmem);
}

/* Fresh guest RAM of the configured kind, mapped (and bound, if PRIVATE). */
int machine_memory_new(struct vmm *v)
{
	if (v->ram == RAM_PRIVATE)
		return private_memory_new(v);
	if (v->ram == RAM_GMEM) {
		v->mem_fd = mig_gmem_create(v->vm, v->mem_size,
					    MIG_GMEM_MMAP |
					    MIG_GMEM_INIT_SHARED);
		if (v->mem_fd < 0)
			return v->mem_fd;
	} else {
		v->mem_fd = memfd_create("refvmm-ram", MFD_CLOEXEC |
					 (v->huge == HUGE_TLB ? MFD_HUGETLB : 0));
		if (v->mem_fd < 0 || ftruncate(v->mem_fd, (off_t)v->mem_size))
			return -errno;
	}
	return map_memory(v);
}

uint64_t machine_gpa_end(const struct vmm *v)
{
	return v->low_size ? HIGH_START + v->mem_size - v->low_size :
		v->mem_size;
}

void machine_hole(const struct vmm *v, uint64_t *start, uint64_t *end)
{
	*start = v->low_size ? v->low_size : HOLE_START;
	*end = v->low_size ? HIGH_START : HOLE_START + HOLE_SIZE;
}

/*
 * Slot 0 over all memory, or (split) slot 0 below the hole and slot 1
 * above it, both on the one fd: gmem-backed if gmem_fd >= 0, else by
 * mapping.
 */
int machine_memory_bind(struct vmm *v, int gmem_fd)
{
	uint64_t low = v->low_size ? v->low_size : v->mem_size;
	int r = mig_memslot_set(v->vm, 0, 0, low, v->mem, gmem_fd, 0);

	if (r || !v->low_size)
		return r;
	return mig_memslot_set(v->vm, 1, HIGH_START, v->mem_size - low,
			       v->mem + low, gmem_fd, low);
}

static int set_cpuid(struct vmm *v, int fd)
{
	struct kvm_cpuid2 *c;
	int n = 128, r;

	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = n;
	r = ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (!r)
		r = ioctl(fd, KVM_SET_CPUID2, c);
	free(c);
	return r < 0 ? -errno : 0;
}

static int vcpu_new(struct vmm *v, struct vcpu *c, unsigned int id)
{
	c->v = v;
	c->id = id;
	c->fd = ioctl(v->vm, KVM_CREATE_VCPU, id);
	if (c->fd < 0)
		return -errno;
	c->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED)
		return -errno;
	return set_cpuid(v, c->fd);
}

/* The vCPUs and their CPUID; those made already (pre-launch) are kept. */
int machine_vcpu(struct vmm *v)
{
	for (unsigned int i = 0; i < v->nvcpus; i++) {
		int r = v->vcpus[i].fd >= 0 ? 0 : vcpu_new(v, &v->vcpus[i], i);

		if (r)
			return r;
	}
	return 0;
}

static void write_page_tables(struct vmm *v)
{
	uint64_t *pml4 = (uint64_t *)(v->mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(v->mem + PDPT_GPA);
	uint64_t gib = (machine_gpa_end(v) + (1ULL << 30) - 1) >> 30;

	pml4[0] = PDPT_GPA | 3;			/* present, writable */
	for (uint64_t i = 0; i < gib; i++) {
		uint64_t *pd = (uint64_t *)(v->mem + PD_GPA + i * 4096);

		pdpt[i] = (PD_GPA + i * 4096) | 3;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = (i << 30 | j << 21) | 0x83; /* 2 MiB page */
	}
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type,
			 bool code)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* Every vCPU enters the same code; its number in r9 tells them apart. */
static int enter_long_mode(struct vmm *v, unsigned int id)
{
	int fd = v->vcpus[id].fd;
	uint64_t hole_start, hole_end;
	struct kvm_sregs sr;
	struct kvm_regs regs = {
		.rip = CODE_GPA,
		.rsp = STACK_TOP - id * 0x1000,
		.rflags = 2,
		.rdi = machine_gpa_end(v),
		.rsi = v->seed,
		.rdx = v->stride,
		.r8 = v->scan,
		.r9 = id,
	};

	machine_hole(v, &hole_start, &hole_end);
	regs.r10 = hole_start;
	regs.r11 = hole_end;
	if (ioctl(fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	flat_segment(&sr.cs, 8, 11, true);
	flat_segment(&sr.ds, 16, 3, false);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.cr3 = PML4_GPA;
	sr.cr4 = (1 << 5) | (1 << 9) | (1 << 10);	/* PAE OSFXSR OSXMMEXCPT */
	sr.cr0 = 0x80050033;			/* PG WP NE ET MP PE */
	sr.efer = 0x500;			/* LMA LME */
	if (ioctl(fd, KVM_SET_SREGS, &sr) < 0 ||
	    ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/*
 * What firmware would do: enable MTRRs with write-back as the default
 * type. A fresh vCPU has them off, which makes all memory uncacheable;
 * under shadow paging that costs microseconds per access.
 */
static int enable_mtrrs(int fd)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = {
		.hdr.nmsrs = 1,
		.e = { .index = 0x2ff, .data = (1 << 11) | 6 },
	};

	return ioctl(fd, KVM_SET_MSRS, &m) == 1 ? 0 : -EIO;
}

/* First boot: page tables and code into memory, registers at the entry. */
int machine_boot(struct vmm *v)
{
	size_t code = (size_t)(guest_code_end - guest_code_start);

	int r = 0;

	if (v->stride < 8 || v->stride % 8 || v->stride > FILL_START ||
	    machine_gpa_end(v) > (uint64_t)MAX_GIB << 30 ||
	    v->mem_size < 2 * FILL_START || v->mem_size % (2 << 20))
		return -EINVAL;
	memset(v->mem, 0, FILL_START);
	write_page_tables(v);
	memcpy(v->mem + CODE_GPA, guest_code_start, code);
	for (unsigned int i = 0; i < v->nvcpus && !r; i++)
		r = enable_mtrrs(v->vcpus[i].fd) ?: enter_long_mode(v, i);
	return r;
}
