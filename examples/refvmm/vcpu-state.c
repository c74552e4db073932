// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The vCPU state blob: what the guest needs to continue on a new VM.
 * General and system registers, FPU/XSAVE and XCRs, pending events, and
 * the MSRs a 64-bit guest can depend on. Memory is not in it: memory is
 * handed over, not copied.
 */
#include <errno.h>
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

struct state {
	uint64_t magic;
	uint32_t version;
	uint32_t size;
	uint64_t mem_size;
	uint64_t seed;
	struct upgrade_times times;
	struct report before;		/* the guest's last report */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_msrs msrs;
	struct kvm_msr_entry msr[NMSRS];
};

static int msrs_io(int vcpu, unsigned long req, struct state *s)
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

int state_save(struct vmm *v, const struct upgrade_times *t, void **blob,
	       size_t *len)
{
	struct state *s = calloc(1, sizeof(*s));
	int r = -errno;

	if (!s)
		return -ENOMEM;
	s->magic = STATE_MAGIC;
	s->version = STATE_VERSION;
	s->size = sizeof(*s);
	s->mem_size = v->mem_size;
	s->seed = v->seed;
	s->times = *t;
	pthread_mutex_lock(&v->lock);
	s->before = v->last;
	pthread_mutex_unlock(&v->lock);
	if (ioctl(v->vcpu, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(v->vcpu, KVM_GET_SREGS, &s->sregs) < 0 ||
	    ioctl(v->vcpu, KVM_GET_XSAVE, &s->xsave) < 0 ||
	    ioctl(v->vcpu, KVM_GET_XCRS, &s->xcrs) < 0 ||
	    ioctl(v->vcpu, KVM_GET_VCPU_EVENTS, &s->events) < 0)
		goto fail;
	r = msrs_io(v->vcpu, KVM_GET_MSRS, s);
	if (r)
		goto fail_r;
	s->times.saved_ns = now_ns();
	*blob = s;
	*len = sizeof(*s);
	return 0;
fail:
	r = -errno;
fail_r:
	free(s);
	return r;
}

int state_load(struct vmm *v, const void *blob, size_t len,
	       struct upgrade_times *t, struct report *before)
{
	struct state *s;
	int r;

	if (len != sizeof(*s))
		return -EINVAL;
	s = malloc(sizeof(*s));	/* aligned copy of what came off the wire */
	if (!s)
		return -ENOMEM;
	memcpy(s, blob, sizeof(*s));
	r = -EINVAL;
	if (s->magic != STATE_MAGIC || s->version != STATE_VERSION ||
	    s->size != sizeof(*s) || s->mem_size != v->mem_size)
		goto out;
	v->seed = s->seed;
	*t = s->times;
	*before = s->before;
	/* Order matters: XCRs before XSAVE, sregs (EFER, CRs) before regs. */
	if (ioctl(v->vcpu, KVM_SET_XCRS, &s->xcrs) < 0 ||
	    ioctl(v->vcpu, KVM_SET_XSAVE, &s->xsave) < 0 ||
	    ioctl(v->vcpu, KVM_SET_SREGS, &s->sregs) < 0 ||
	    ioctl(v->vcpu, KVM_SET_REGS, &s->regs) < 0 ||
	    ioctl(v->vcpu, KVM_SET_VCPU_EVENTS, &s->events) < 0) {
		r = -errno;
		goto out;
	}
	r = msrs_io(v->vcpu, KVM_SET_MSRS, s);
out:
	free(s);
	return r;
}
