/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * refvmm: the reference VMM. 1 to VCPUS_MAX vCPUs, RAM in one region or
 * split around the hole below 4 GiB as a PC's, a guest that proves its
 * own memory and registers intact, and live upgrade through libmig. It
 * uses only libmig's public header: it is the integration example.
 */
#ifndef REFVMM_H
#define REFVMM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libmig.h>

/*
 * GMEM: guest_memfd the host maps (6.18: GUEST_MEMFD_FLAG_MMAP). MEMFD: a
 * legacy VMM. PRIVATE: what a kernel without gmem mmap (6.12) and every
 * confidential VM has: a KVM_X86_SW_PROTECTED_VM whose RAM above
 * FILL_START is private gmem only the guest can read; below it a shared
 * memfd holds the page tables, code, stack and mailbox. Two regions.
 */
enum ram_kind { RAM_GMEM, RAM_MEMFD, RAM_PRIVATE };
/* memfd RAM's pages: the base size, hugetlbfs's 2 MiB, or THP on shmem. */
enum huge_kind { HUGE_NONE, HUGE_TLB, HUGE_THP };

enum strategy {
	STRATEGY_AUTO,
	STRATEGY_LINK,		/* KVM_LINK_GUEST_MEMFD: same inode, gmem slot */
	STRATEGY_SHARE,		/* source gmem mmap as an ordinary slot */
	STRATEGY_COPY,		/* own gmem, copied during the pause */
	STRATEGY_MEMFD,		/* memfd RAM: map the same memfd */
};

/*
 * The vCPU state blob's format, as the source names it in its offer and
 * the destination names what it loads (mig_claim_ex()): migrd refuses a
 * destination that could not load it before the source pauses.
 */
#define STATE_FORMAT		"refvmm-x86"
#define STATE_VERSION		2	/* 2: every vCPU, the layout */
#define STATE_VERSION_MIN	2

#define VCPUS_MAX		8

/* What the guest last told us, read from its mailbox. */
struct report {
	uint64_t counter;
	uint64_t checksum;
	uint64_t ok;
	uint64_t reports;
};

/* What a vCPU other than 0 last told us. */
struct ap_report {
	uint64_t counter;
	uint64_t ok;
	uint64_t reports;
};

struct vmm;

struct vcpu {
	struct vmm *v;
	unsigned int id;
	int fd;				/* -1 until made */
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

struct vmm {
	int kvm, vm;
	unsigned int nvcpus;
	struct vcpu vcpus[VCPUS_MAX];
	size_t run_size;
	uint64_t mem_size;		/* bytes of RAM (of its fd) */
	uint64_t low_size;		/* split: RAM at 0; the rest at
					 * HIGH_START. 0: one region */
	uint64_t seed;
	uint64_t stride;			/* guest touches one word per stride */
	uint8_t *mem;			/* host mapping of guest memory
					 * (PRIVATE: of the low memfd only) */
	int mem_fd;			/* gmem or memfd offered on upgrade */
	int low_fd;			/* PRIVATE: the shared low memfd */
	int console_fd;			/* the guest's console output, or -1:
					 * a device fd, handed on upgrade */
	enum ram_kind ram;
	enum huge_kind huge;
	bool verbose;
	bool scan;			/* guest scans its memory first */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool pause_req;
	unsigned int parked;		/* under lock: threads in their park */
	bool quit;
	struct report last;		/* under lock */
	struct ap_report ap[VCPUS_MAX];	/* under lock */
	bool scanned;			/* under lock: scan result below */
	uint64_t scan_nonzero, scan_words;
	int fault;			/* exit reason that stopped the vCPU */
	uint64_t resumed_ns;		/* under lock: left the park then */
};

/* machine.c */
int machine_create(struct vmm *v);
/* PRIVATE: replace the VM by a KVM_X86_SW_PROTECTED_VM (before memory). */
int machine_protect(struct vmm *v);
/* PRIVATE: the shared low memfd mapped, and the two slots bound. */
int machine_private_bind(struct vmm *v, int low_fd, int gmem_fd);
int machine_memory_new(struct vmm *v);
/* Asks for THP on the mapping when --hugepages thp. */
int machine_memory_advise(struct vmm *v);
int machine_memory_bind(struct vmm *v, int gmem_fd);
int machine_vcpu(struct vmm *v);
int machine_boot(struct vmm *v);
/* Where guest-physical memory ends, and the hole below it. */
uint64_t machine_gpa_end(const struct vmm *v);
void machine_hole(const struct vmm *v, uint64_t *start, uint64_t *end);

/* vcpu-state.c: the blob carried through migrd */
struct upgrade_times {
	uint64_t requested_ns;		/* upgrade asked for (CLOCK_MONOTONIC) */
	uint64_t paused_ns;		/* vCPU stopped */
	uint64_t saved_ns;		/* its state read out, blob ready */
};

/* Where the pause goes, measured in the destination (one clock). */
struct pause_times {
	uint64_t got_ns;		/* state received through migrd */
	uint64_t copied_ns;		/* copy strategy: memory copied */
	uint64_t loaded_ns;		/* state loaded into the vCPU */
	uint64_t committed_ns;		/* migrd accepted the commit */
	uint64_t resumed_ns;		/* vCPU running */
};
int state_save(struct vmm *v, const struct upgrade_times *t, void **blob,
	       size_t *len);
int state_load(struct vmm *v, const void *blob, size_t len,
	       struct upgrade_times *t, struct report *before,
	       struct ap_report *ap_before);

/* vcpu-run.c */
int vcpu_start(struct vmm *v);
void vcpu_pause(struct vmm *v);
void vcpu_resume(struct vmm *v);
int vcpu_start_parked(struct vmm *v);
/* Resume, and return when the vCPU thread left its park (the time it did:
 * the main thread may be preempted by it and see the clock late). */
uint64_t vcpu_resume_wait(struct vmm *v);
void vcpu_stop(struct vmm *v);
/* Wait until the guest reported more than n times (or timeout_ms). */
int vcpu_wait_reports(struct vmm *v, uint64_t n, int timeout_ms,
		      struct report *out);
/* Wait until every AP reported more often than in before[]. */
int vcpu_wait_aps(struct vmm *v, const struct ap_report *before,
		  int timeout_ms, struct ap_report *out);
/* Wait for the guest's scan of its memory (v->scan). */
int vcpu_wait_scan(struct vmm *v, int timeout_ms);

/* upgrade.c */
int upgrade_as_source(struct vmm *v, struct mig_ctx *ctx, const char *name);
/* wait_ms: how long to wait for the offer (a pre-launched destination). */
int upgrade_as_dest(struct vmm *v, struct mig_ctx *ctx, const char *name,
		    enum strategy strategy, const uint8_t *token, int wait_ms);
int build_memory(struct vmm *v, struct mig_region *reg, enum strategy s,
		 uint8_t **src, int proof_vm_fd);
enum strategy strategy_choose(struct vmm *v, const struct mig_region *reg,
			      enum strategy want);
bool private_layout(const struct mig_handoff *h);
/* The regions this VMM offers: its RAM, in one or two pieces. */
unsigned int own_regions(const struct vmm *v, struct mig_region *reg);
int layout_from_handoff(struct vmm *v, const struct mig_handoff *h);
int build_private(struct vmm *v, struct mig_handoff *h, int proof_vm_fd);
/* console.c: the console, a device fd that outlives each VMM */
int console_open(struct vmm *v, const char *path);
void console_report(struct vmm *v, const struct report *r);
unsigned int console_devices(const struct vmm *v, struct mig_device *dev);
void console_adopt(struct vmm *v, struct mig_handoff *h);
void say_error(struct mig_ctx *ctx, const char *what, int r);
void fault_point(const char *point);

/* rebind.c: the destination of a rebind, a new VM on zeroed memory */
int rebind_as_dest(struct vmm *v, struct mig_ctx *ctx, uint64_t sid,
		   struct mig_handoff *h, enum strategy strategy);
const char *strategy_name(enum strategy s);
/* "4K", "2M" (hugetlbfs), "thp": how the report lines say it. */
const char *huge_name(enum huge_kind h);
int huge_parse(const char *s, enum huge_kind *out);
int strategy_parse(const char *s, enum strategy *out);

uint64_t now_ns(void);

#endif
