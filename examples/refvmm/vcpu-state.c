// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vCPU state blob: what the guest needs to continue on a new VM.
 * For every vCPU: general and system registers, FPU/XSAVE and XCRs,
 * pending events, and the MSRs a 64-bit guest can depend on; and the
 * memory layout it must find. Memory is not in it: memory is handed
 * over, not copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "guest.h"
#include "vmm.h"

#define STATE_MAGIC	0x52564d4d53544154ULL	/* "RVMMSTAT" */

static const uint32_t msr_list[] = {
	0x00000010,	/* IA32_TSC */
	0x00000174,	/* SYSENTER_CS */
	0x00000175,	/* SYSENTER_ESP */
	0x00000176,	/* SYSENTER_EIP */
	0x00000277,	/* PAT */
	0xc0000081,	/* STAR */
	0xc0000082,	/* LSTAR */
	0xc0000083,	/* CSTAR */
	0xc0000084,	/* SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
};
#define NMSRS (sizeof(msr_list) / sizeof(msr_list[0]))

/* One vCPU's registers: what KVM needs to continue it elsewhere. */
struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_msrs msrs;
	struct kvm_msr_entry msr[NMSRS];
};

/* v2: the layout and every vCPU; nvcpus vcpu_state follow. */
struct state {
	uint64_t magic;
	uint32_t version;
	uint32_t size;			/* of all of it */
	uint64_t mem_size;
	uint64_t low_size;
	uint64_t seed;
	uint32_t nvcpus;
	uint32_t pad;
	struct upgrade_times times;
	struct report before;		/* vCPU 0's last report */
	struct ap_report ap_before[VCPUS_MAX];
	struct vcpu_state vcpu[];
};

static int msrs_io(int vcpu, unsigned long req, struct vcpu_state *s)
{
	int n;

	s->msrs.nmsrs = NMSRS;
	for (size_t i = 0; i < NMSRS; i++)
		s->msr[i].index = msr_list[i];
	n = ioctl(vcpu, req, &s->msrs);
	if (n < 0)
		return -errno;
	return n == (int)NMSRS ? 0 : -EIO;
}

static int vcpu_save(int fd, struct vcpu_state *s)
{
	if (ioctl(fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(fd, KVM_GET_XSAVE, &s->xsave) < 0 ||
	    ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0 ||
	    ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		return -errno;
	return msrs_io(fd, KVM_GET_MSRS, s);
}

/* Order matters: XCRs before XSAVE, sregs (EFER, CRs) before regs. */
static int vcpu_load(int fd, struct vcpu_state *s)
{
	if (ioctl(fd, KVM_SET_XCRS, &s->xcrs) < 0 ||
	    ioctl(fd, KVM_SET_XSAVE, &s->xsave) < 0 ||
	    ioctl(fd, KVM_SET_SREGS, &s->sregs) < 0 ||
	    ioctl(fd, KVM_SET_REGS, &s->regs) < 0 ||
	    ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
		return -errno;
	return msrs_io(fd, KVM_SET_MSRS, s);
}

static size_t state_size(unsigned int nvcpus)
{
	return sizeof(struct state) + nvcpus * sizeof(struct vcpu_state);
}

int state_save(struct vmm *v, const struct upgrade_times *t, void **blob,
	       size_t *len)
{
	size_t size = state_size(v->nvcpus);
	struct state *s = calloc(1, size);
	int r = 0;

	if (!s)
		return -ENOMEM;
	s->magic = STATE_MAGIC;
	s->version = STATE_VERSION;
	s->size = (uint32_t)size;
	s->mem_size = v->mem_size;
	s->low_size = v->low_size;
	s->seed = v->seed;
	s->nvcpus = v->nvcpus;
	s->times = *t;
	pthread_mutex_lock(&v->lock);
	s->before = v->last;
	memcpy(s->ap_before, v->ap, sizeof(s->ap_before));
	pthread_mutex_unlock(&v->lock);
	for (unsigned int i = 0; i < v->nvcpus && !r; i++)
		r = vcpu_save(v->vcpus[i].fd, &s->vcpu[i]);
	if (r) {
		free(s);
		return r;
	}
	s->times.saved_ns = now_ns();
	*blob = s;
	*len = size;
	return 0;
}

/* A blob this VMM can load: its shape is the shape of this VM. */
static int state_check(const struct vmm *v, const struct state *s,
		       size_t len)
{
	/* The size says how many vCPUs follow: never read past it. */
	if (s->magic != STATE_MAGIC || s->version != STATE_VERSION ||
	    s->size != len || len != state_size(s->nvcpus))
		return -EINVAL;
	if (s->nvcpus != v->nvcpus) {
		fprintf(stderr, "refvmm: the guest has %u vCPUs; this VMM was started with --vcpus %u\n",
			s->nvcpus, v->nvcpus);
		return -EINVAL;
	}
	if (s->mem_size != v->mem_size || s->low_size != v->low_size)
		return -EINVAL;
	return 0;
}

int state_load(struct vmm *v, const void *blob, size_t len,
	       struct upgrade_times *t, struct report *before,
	       struct ap_report *ap_before)
{
	struct state *s;
	int r;

	if (len < sizeof(*s) || len > state_size(VCPUS_MAX))
		return -EINVAL;
	s = malloc(len);	/* aligned copy of what came off the wire */
	if (!s)
		return -ENOMEM;
	memcpy(s, blob, len);
	r = state_check(v, s, len);
	if (r)
		goto out;
	v->seed = s->seed;
	*t = s->times;
	*before = s->before;
	memcpy(ap_before, s->ap_before, sizeof(s->ap_before));
	for (unsigned int i = 0; i < v->nvcpus && !r; i++)
		r = vcpu_load(v->vcpus[i].fd, &s->vcpu[i]);
out:
	free(s);
	return r;
}
