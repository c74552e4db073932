// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guest's memory across an upgrade: the regions a source offers,
 * the layout a destination reads from its handoff, and the memory it
 * builds from it by the chosen strategy (link, share, copy, memfd).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "guest.h"
#include "vmm.h"

/*
 * What we offer: all RAM in one region; or split around the hole below
 * 4 GiB, the one fd in two regions as QEMU's pc machine has it; or
 * PRIVATE's two.
 */
unsigned int own_regions(const struct vmm *v, struct mig_region *reg)
{
	enum mig_region_kind kind = v->ram == RAM_GMEM ? MIG_REGION_GMEM :
		MIG_REGION_MEMFD;

	if (v->ram != RAM_PRIVATE && !v->low_size) {
		reg[0] = (struct mig_region){
			.name = "ram", .size = v->mem_size, .fd = v->mem_fd,
			.kind = kind,
		};
		return 1;
	}
	if (v->ram != RAM_PRIVATE) {
		reg[0] = (struct mig_region){
			.name = "ram-below-4g", .size = v->low_size,
			.fd = v->mem_fd, .kind = kind,
		};
		reg[1] = (struct mig_region){
			.name = "ram-above-4g", .gpa = HIGH_START,
			.size = v->mem_size - v->low_size,
			.offset = v->low_size, .fd = v->mem_fd, .kind = kind,
		};
		return 2;
	}
	reg[0] = (struct mig_region){
		.name = "low", .size = FILL_START, .kind = MIG_REGION_MEMFD,
		.fd = v->low_fd,
	};
	reg[1] = (struct mig_region){
		.name = "ram", .gpa = FILL_START,
		.size = v->mem_size - FILL_START, .kind = MIG_REGION_GMEM,
		.fd = v->mem_fd,
	};
	return 2;
}

/* PRIVATE's layout: the shared low memfd at 0, private gmem above. */
bool private_layout(const struct mig_handoff *h)
{
	return h->nregions == 2 &&
	       h->regions[0].kind == MIG_REGION_MEMFD &&
	       h->regions[0].gpa == 0 && h->regions[0].size == FILL_START &&
	       h->regions[1].kind == MIG_REGION_GMEM &&
	       h->regions[1].gpa == FILL_START &&
	       h->regions[1].size + FILL_START <= HOLE_START;
}

/* Split: the first part of one fd at 0, the rest at HIGH_START. */
static bool split_layout(const struct mig_handoff *h)
{
	const struct mig_region *r = h->regions;
	struct stat a, b;

	if (h->nregions != 2 || r[0].gpa || r[0].offset ||
	    r[1].gpa != HIGH_START || r[1].offset != r[0].size ||
	    r[0].kind != r[1].kind || r[0].size > HOLE_START)
		return false;
	/* A rebind's layout comes before its fds. */
	if (r[0].fd < 0)
		return true;
	return !fstat(r[0].fd, &a) && !fstat(r[1].fd, &b) &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* The guest's shape from the regions handed over: v->mem_size and co. */
int layout_from_handoff(struct vmm *v, const struct mig_handoff *h)
{
	const struct mig_region *r = h->regions;

	v->low_size = 0;
	if (private_layout(h)) {
		v->ram = RAM_PRIVATE;
		v->mem_size = FILL_START + r[1].size;
	} else if (split_layout(h)) {
		v->mem_size = r[0].size + r[1].size;
		v->low_size = r[0].size;
	} else if (h->nregions == 1 && !r[0].gpa && !r[0].offset) {
		v->mem_size = r[0].size;
	} else {
		fprintf(stderr, "refvmm: expected one region at gpa 0, RAM split around the hole below 4 GiB, or the private layout\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * PRIVATE: a protected VM of our own, the same low memfd mapped, and the
 * gmem linked, which is the only way: the host can neither map nor copy
 * private memory. With the source's VM fd as proof the kernel keeps it;
 * without (a rebind), it zeroes it.
 */
int build_private(struct vmm *v, struct mig_handoff *h, int proof_vm_fd)
{
	int gmem, low, r;

	v->ram = RAM_PRIVATE;
	v->mem_size = FILL_START + h->regions[1].size;
	r = machine_protect(v);
	if (r)
		return r;
	gmem = mig_gmem_link_vm(v->vm, h->regions[1].fd, proof_vm_fd);
	if (gmem < 0)
		return gmem;
	low = h->regions[0].fd;
	h->regions[0].fd = -1;
	return machine_private_bind(v, low, gmem);
}

enum strategy strategy_choose(struct vmm *v, const struct mig_region *reg,
			      enum strategy want)
{
	struct mig_kvm_caps caps;

	if (want != STRATEGY_AUTO)
		return want;
	if (reg->kind == MIG_REGION_MEMFD)
		return STRATEGY_MEMFD;
	mig_kvm_probe(v->vm, &caps);
	/* Private memory can only be linked: nothing else would see it. */
	return caps.link_ioctl || v->ram == RAM_PRIVATE ? STRATEGY_LINK :
		STRATEGY_SHARE;
}

static bool fd_on_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
}

static int map_fd(int fd, uint64_t size, uint8_t **out)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/*
 * Build our memory on the handed-over region, before the pause. For copy,
 * src receives the source mapping to copy from during the pause.
 */
int build_memory(struct vmm *v, struct mig_region *reg, enum strategy s,
		 uint8_t **src, int proof_vm_fd)
{
	int r;

	/* memfd RAM is mapped or copied; gmem is shared, linked or copied. */
	if (s != STRATEGY_COPY &&
	    (s == STRATEGY_MEMFD) != (reg->kind == MIG_REGION_MEMFD))
		return -EINVAL;
	v->ram = reg->kind == MIG_REGION_MEMFD ? RAM_MEMFD : RAM_GMEM;
	/* The handed memory says whether it is hugetlbfs; THP is asked for
	 * (--hugepages thp), the file does not say. */
	if (v->ram == RAM_MEMFD && fd_on_hugetlbfs(reg->fd))
		v->huge = HUGE_TLB;
	switch (s) {
	case STRATEGY_SHARE:
	case STRATEGY_MEMFD:
		v->mem_fd = reg->fd;
		reg->fd = -1;
		r = map_fd(v->mem_fd, v->mem_size, &v->mem);
		if (!r)
			r = machine_memory_advise(v);
		return r ? r : machine_memory_bind(v, -1);
	case STRATEGY_LINK:
		/* The source VM fd is the proof that this is the same VM:
		 * the kernel keeps the contents (and zeroes them without). */
		v->mem_fd = mig_gmem_link_vm(v->vm, reg->fd, proof_vm_fd);
		if (v->mem_fd < 0)
			return v->mem_fd;
		r = map_fd(v->mem_fd, v->mem_size, &v->mem);
		return r ? r : machine_memory_bind(v, v->mem_fd);
	case STRATEGY_COPY:
		r = map_fd(reg->fd, v->mem_size, src);
		if (!r)
			r = machine_memory_new(v);
		/* Fault every page of both sides in now, not while the guest
		 * is paused: the new pages, and the source's as read-only
		 * mappings (pages its guest never touched get allocated here,
		 * which costs ~3 s/GiB on this machine). */
		if (!r && (madvise(v->mem, v->mem_size, MADV_POPULATE_WRITE) < 0 ||
			   madvise(*src, v->mem_size, MADV_POPULATE_READ) < 0))
			r = -errno;
		return r ? r : machine_memory_bind(v, v->ram == RAM_GMEM ?
						   v->mem_fd : -1);
	case STRATEGY_AUTO:
		break;
	}
	return -EINVAL;
}
