// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Live upgrade through libmig. The source offers while its guest runs and
 * pauses only once the destination has built its VM; the destination runs
 * the guest only after migrd accepted its commit. Between those two
 * points exactly one side may run the guest, and migrd decides which.
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "vmm.h"

int upgrade_as_source(struct vmm *v, struct mig_ctx *ctx, const char *name)
{
	static const struct mig_state_format format = {
		.name = STATE_FORMAT, .version = STATE_VERSION,
	};
	struct upgrade_times t = { .requested_ns = now_ns() };
	struct mig_region reg[2];
	struct mig_device dev[1];
	struct mig_offer_args a = {
		.regions = reg, .nregions = own_regions(v, reg), .vm_fd = v->vm,
		.devices = dev, .ndevices = console_devices(v, dev),
		.format = &format,
	};
	uint64_t sid;
	size_t len;
	void *blob;
	int r;

	r = mig_offer_ex(ctx, name, &a, sizeof(a), &sid);
	if (r) {
		say_error(ctx, "offer", r);
		return r;
	}
	printf("offered session=%" PRIu64 "\n", sid);
	fflush(stdout);
	fault_point("src-offered");
	/* Before the pause: any failure leaves the guest running here. */
	r = mig_wait(ctx, sid, MIG_STATE_READY, NULL);
	if (r) {
		say_error(ctx, "upgrade called off before switchover; the guest keeps running here", r);
		return r;
	}
	vcpu_pause(v);
	t.paused_ns = now_ns();
	fault_point("src-paused");
	r = state_save(v, &t, &blob, &len);
	if (!r) {
		r = mig_send_state(ctx, sid, blob, len);
		free(blob);
	}
	if (!r)
		fault_point("src-state-sent");
	if (r) {
		say_error(ctx, "cannot send the guest state; the guest resumes here", r);
		mig_abort(ctx, sid, "source could not send its state");
		vcpu_resume(v);
		return r;
	}
	/*
	 * For an upgrade this is the direct channel's decision: 0, the
	 * destination runs the guest; -ECANCELED, it never will.
	 */
	r = mig_wait(ctx, sid, MIG_STATE_COMMITTED, NULL);
	if (!r)
		fault_point("src-handed-over");
	if (r == -EOWNERDEAD) {
		/* A rebind took the memory and zeroed it: nothing to resume. */
		say_error(ctx, "the guest's memory was zeroed for a rebind; it cannot resume", r);
		return 1;
	}
	if (r == -ECANCELED) {
		say_error(ctx, "upgrade aborted during switchover; the guest resumes here", r);
		vcpu_resume(v);
		return r;
	}
	if (r) {
		/*
		 * Without the direct channel (a rebind) and without migrd,
		 * nobody can say whether the other side took over: resuming
		 * could run the guest twice; stay paused and stop instead.
		 */
		say_error(ctx, "lost migrd during switchover; not resuming the guest to avoid running it twice", r);
		return 1;
	}
	return 0;
}

static uint64_t us(uint64_t from, uint64_t to)
{
	return to > from ? (to - from) / 1000 : 0;
}

/*
 * One line per upgrade, for people and for bench/: the guest's verdict,
 * downtime (paused -> resumed) and where it went: save (source reads the
 * vCPU), transfer (source -> migrd -> destination), copy (copy strategy
 * only), load, commit (round trip through migrd), resume.
 */
/* What every vCPU said before the pause and after the resume. */
struct verdict {
	struct report before, after;
	struct ap_report ap_before[VCPUS_MAX], ap_after[VCPUS_MAX];
};

/*
 * The guest's own verdict: vCPU 0 checked all memory against its
 * reference checksum and counts on; every other vCPU counts on from
 * where it was, its register and memory counters agreeing.
 */
static bool guest_ok(const struct vmm *v, const struct verdict *w)
{
	if (w->after.ok != 1 || w->after.checksum != w->before.checksum ||
	    w->after.counter <= w->before.counter)
		return false;
	for (unsigned int i = 1; i < v->nvcpus; i++)
		if (w->ap_after[i].ok != 1 ||
		    w->ap_after[i].counter <= w->ap_before[i].counter)
			return false;
	return true;
}

/* Wait for a report of every vCPU made after the resume. */
static int await_verdict(struct vmm *v, struct verdict *w)
{
	int r = vcpu_wait_reports(v, w->before.reports, 60000, &w->after);

	return r ? r : vcpu_wait_aps(v, w->ap_before, 60000, w->ap_after);
}

static void print_verdict(const struct vmm *v, enum strategy s,
			  const struct upgrade_times *t,
			  const struct pause_times *p, const struct verdict *w)
{
	const struct report *before = &w->before, *after = &w->after;

	printf("upgrade strategy=%s mem=%" PRIu64 "MiB pages=%s vcpus=%u regions=%u"
	       " downtime_us=%" PRIu64
	       " total_ms=%.3f counter_before=%" PRIu64 " counter_after=%"
	       PRIu64 " checksum=0x%016" PRIx64 " verdict=%s"
	       " save_us=%" PRIu64 " transfer_us=%" PRIu64 " copy_us=%" PRIu64
	       " load_us=%" PRIu64 " commit_us=%" PRIu64 " resume_us=%" PRIu64
	       "\n",
	       strategy_name(s), v->mem_size >> 20, huge_name(v->huge),
	       v->nvcpus,
	       v->low_size ? 2 : 1, us(t->paused_ns, p->resumed_ns),
	       (double)(p->committed_ns - t->requested_ns) / 1e6,
	       before->counter, after->counter, after->checksum,
	       guest_ok(v, w) ? "ok" : "FAILED", us(t->paused_ns, t->saved_ns),
	       us(t->saved_ns, p->got_ns), us(p->got_ns, p->copied_ns),
	       us(p->copied_ns, p->loaded_ns),
	       us(p->loaded_ns, p->committed_ns),
	       us(p->committed_ns, p->resumed_ns));
	fflush(stdout);
}

static int take_over(struct vmm *v, struct mig_ctx *ctx, uint64_t sid,
		     struct mig_handoff *h, enum strategy s, uint8_t *src)
{
	struct upgrade_times t;
	struct pause_times p;
	struct verdict w;
	size_t len;
	void *blob;
	int r;

	fault_point("dest-claimed");
	r = vcpu_start_parked(v);
	if (!r)
		r = mig_ready(ctx, sid);
	fault_point("dest-ready");
	if (!r)
		r = mig_take_state(ctx, sid, &blob, &len);
	p.got_ns = now_ns();
	fault_point("dest-has-state");
	if (r) {
		say_error(ctx, "no state from the source", r);
		return r;
	}
	if (src)
		memcpy(v->mem, src, v->mem_size);
	p.copied_ns = now_ns();
	r = state_load(v, blob, len, &t, &w.before, w.ap_before);
	free(blob);
	p.loaded_ns = now_ns();
	fault_point("dest-loaded");
	if (r) {
		fprintf(stderr, "refvmm: cannot load the state: %s\n",
			strerror(-r));
		mig_abort(ctx, sid, "destination could not load the state");
		return r;
	}
	r = mig_commit(ctx, sid);
	if (r) {
		say_error(ctx, "commit refused; the source keeps the guest", r);
		return r;
	}
	p.committed_ns = now_ns();
	fault_point("dest-committed");
	console_adopt(v, h);
	p.resumed_ns = vcpu_resume_wait(v);
	r = await_verdict(v, &w);
	if (!r)
		print_verdict(v, s, &t, &p, &w);
	return r;
}

/*
 * The state this VMM loads. REFVMM_LOADS=NAME:MIN-MAX pretends to be
 * another version of refvmm, for the tests of the compatibility check.
 */
static int dest_loads(struct mig_state_format *f)
{
	const char *env = getenv("REFVMM_LOADS");
	unsigned int min, max;
	char name[MIG_NAME_MAX];

	*f = (struct mig_state_format){
		.name = STATE_FORMAT, .version = STATE_VERSION,
		.min_version = STATE_VERSION_MIN,
	};
	if (!env)
		return 0;
	if (sscanf(env, "%63[^:]:%u-%u", name, &min, &max) != 3 || min > max) {
		fprintf(stderr, "refvmm: REFVMM_LOADS must be NAME:MIN-MAX\n");
		return -EINVAL;
	}
	strcpy(f->name, name);
	f->min_version = min;
	f->version = max;
	return 0;
}

int upgrade_as_dest(struct vmm *v, struct mig_ctx *ctx, const char *name,
		    enum strategy want, const uint8_t *token, int wait_ms)
{
	struct mig_state_format loads;
	struct mig_handoff *h = NULL;
	uint8_t *src = NULL;
	enum strategy s;
	uint64_t sid;
	int r;

	/*
	 * Pre-launch: everything that needs no memory is done before the
	 * offer (the VM exists already), so that a destination started
	 * first takes none of it into the handoff.
	 */
	r = machine_vcpu(v);
	if (r) {
		fprintf(stderr, "refvmm: cannot create the vCPU: %s\n",
			strerror(-r));
		return r;
	}
	printf("waiting for an offer of %s\n", name);
	fflush(stdout);
	r = mig_wait_offer(ctx, name, wait_ms, &sid);
	if (r) {
		say_error(ctx, "no upgrade session", r);
		return r;
	}
	r = dest_loads(&loads);
	if (!r)
		r = mig_claim_ex(ctx, sid, token, MIG_TOKEN_LEN, &loads, 1, &h);
	if (r) {
		say_error(ctx, "claim", r);
		return r;
	}
	if (h->deferred) {
		r = rebind_as_dest(v, ctx, sid, h, want);
		mig_handoff_free(h);
		return r;
	}
	s = want;
	r = layout_from_handoff(v, h);
	if (r)
		goto abort;
	if (v->ram == RAM_PRIVATE) {
		s = strategy_choose(v, &h->regions[1], want);
		printf("claimed session=%" PRIu64 " ram=private\n", sid);
		r = s == STRATEGY_LINK ? build_private(v, h, h->vm_fd) : -EINVAL;
	} else {
		printf("claimed session=%" PRIu64 " regions=%u\n", sid,
		       h->nregions);
		s = strategy_choose(v, &h->regions[0], want);
		r = build_memory(v, &h->regions[0], s, &src, h->vm_fd);
	}
	if (!r)
		r = machine_vcpu(v);
	if (r) {
		fprintf(stderr, "refvmm: cannot build the VM with strategy %s: %s\n",
			strategy_name(s), strerror(-r));
		goto abort;
	}
	r = take_over(v, ctx, sid, h, s, src);
	goto out;
abort:
	mig_abort(ctx, sid, "destination could not build its VM");
out:
	if (src)
		munmap(src, v->mem_size);
	mig_handoff_free(h);
	return r;
}
