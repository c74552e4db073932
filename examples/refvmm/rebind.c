// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The destination of a rebind: a new VM, with an identity of its own,
 * built on memory that belonged to another VM. migrd hands the memory
 * over only after the old guest paused and the memory was zeroed; this
 * side checks that twice before it writes anything: the host reads every
 * byte through its mapping, and the new guest scans its memory before it
 * touches it. Either finding a byte of the old guest is a leak.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "guest.h"
#include "vmm.h"

/*
 * Words of the mapping that are not zero, every byte looked at: all of
 * it, or for PRIVATE the shared low part, all the host can read (the
 * guest's scan covers the rest).
 */
static uint64_t host_nonzero(const struct vmm *v)
{
	const uint64_t *w = (const uint64_t *)v->mem;
	uint64_t n = 0, size = v->ram == RAM_PRIVATE ? FILL_START : v->mem_size;

	for (uint64_t i = 0; i < size / 8; i++)
		n += w[i] != 0;
	return n;
}

/* Our memory on the rebound regions; no proof of identity to present. */
static int build_zeroed(struct vmm *v, struct mig_handoff *h,
			enum strategy want, enum strategy *s)
{
	if (v->ram == RAM_PRIVATE) {
		*s = strategy_choose(v, &h->regions[1], want);
		return *s == STRATEGY_LINK ? build_private(v, h, -1) : -EINVAL;
	}
	*s = strategy_choose(v, &h->regions[0], want);
	/* A copy would not use the rebound memory at all. */
	if (*s == STRATEGY_COPY)
		*s = STRATEGY_SHARE;
	/* Where the kernel has the rule, it zeroes it too. */
	return build_memory(v, &h->regions[0], *s, NULL, -1);
}

static int take_zeroed(struct vmm *v, struct mig_ctx *ctx, uint64_t sid,
		       enum strategy want, uint64_t *host)
{
	struct mig_handoff *h = NULL;
	enum strategy s;
	int r;

	fault_point("dest-claimed");
	r = mig_ready(ctx, sid);
	if (!r)
		r = mig_take_memory(ctx, sid, &h);
	if (r) {
		say_error(ctx, "no memory from the rebind", r);
		return r;
	}
	r = build_zeroed(v, h, want, &s);
	if (!r) {
		*host = host_nonzero(v);
		printf("rebind strategy=%s zeroed=%d pages=%s host_nonzero_words=%"
		       PRIu64 "\n", strategy_name(s), h->zeroed,
		       huge_name(v->huge), *host);
	}
	mig_handoff_free(h);
	return r;
}

int rebind_as_dest(struct vmm *v, struct mig_ctx *ctx, uint64_t sid,
		   struct mig_handoff *layout, enum strategy want)
{
	uint64_t host = 0;
	int r;

	if (layout_from_handoff(v, layout)) {
		mig_abort(ctx, sid, "destination cannot use this layout");
		return -EINVAL;
	}
	printf("claimed session=%" PRIu64 " grant=rebind\n", sid);
	r = take_zeroed(v, ctx, sid, want, &host);
	v->scan = true;
	if (!r)
		r = machine_vcpu(v);
	if (!r)
		r = machine_boot(v);
	if (r) {
		fprintf(stderr, "refvmm: cannot build the new VM: %s\n",
			strerror(-r));
		mig_abort(ctx, sid, "destination could not build its VM");
		return r;
	}
	r = mig_commit(ctx, sid);
	if (r) {
		say_error(ctx, "commit refused", r);
		return r;
	}
	r = vcpu_start(v);
	if (!r)
		r = vcpu_wait_scan(v, 300000);
	if (r)
		return r;
	printf("rebind guest_nonzero_words=%" PRIu64 " guest_words=%" PRIu64
	       " host_nonzero_words=%" PRIu64 " verdict=%s\n",
	       v->scan_nonzero, v->scan_words, host,
	       v->scan_nonzero || host ? "LEAKED" : "zeroed");
	return 0;
}
