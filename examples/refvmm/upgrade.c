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

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static const char *const strategy_names[] = {
	[STRATEGY_AUTO] = "auto", [STRATEGY_LINK] = "link",
	[STRATEGY_SHARE] = "share", [STRATEGY_COPY] = "copy",
	[STRATEGY_MEMFD] = "memfd",
};

const char *strategy_name(enum strategy s)
{
	return strategy_names[s];
}

int strategy_parse(const char *s, enum strategy *out)
{
	for (size_t i = 0; i < sizeof(strategy_names) / sizeof(*strategy_names);
	     i++)
		if (strcmp(s, strategy_names[i]) == 0) {
			*out = (enum strategy)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * Fault injection for the end-to-end tests, after CRIU's: REFVMM_FAULT
 * names a point of the handoff where this process dies by SIGKILL, as a
 * crash would, with no chance to clean up; REFVMM_STOP_AT one where it
 * stops (SIGSTOP) until a test has done its part and sends SIGCONT.
 */
void fault_point(const char *point)
{
	const char *f = getenv("REFVMM_FAULT");
	const char *s = getenv("REFVMM_STOP_AT");

	if (s && strcmp(s, point) == 0)
		raise(SIGSTOP);
	if (f && strcmp(f, point) == 0) {
		fprintf(stderr, "refvmm: fault injected: %s\n", point);
		raise(SIGKILL);
	}
}

void say_error(struct mig_ctx *ctx, const char *what, int r)
{
	const char *why = *mig_last_error(ctx) ? mig_last_error(ctx) :
		strerror(-r);

	fprintf(stderr, "refvmm: %s: %s\n", what, why);
}

/*
 * What we offer: all RAM in one region; or split around the hole below
 * 4 GiB, the one fd in two regions as QEMU's pc machine has it; or
 * PRIVATE's two.
 */
static unsigned int own_regions(const struct vmm *v, struct mig_region *reg)
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
	switch (s) {
	case STRATEGY_SHARE:
	case STRATEGY_MEMFD:
		v->mem_fd = reg->fd;
		reg->fd = -1;
		r = map_fd(v->mem_fd, v->mem_size, &v->mem);
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

	printf("upgrade strategy=%s mem=%" PRIu64 "MiB vcpus=%u regions=%u"
	       " downtime_us=%" PRIu64
	       " total_ms=%.3f counter_before=%" PRIu64 " counter_after=%"
	       PRIu64 " checksum=0x%016" PRIx64 " verdict=%s"
	       " save_us=%" PRIu64 " transfer_us=%" PRIu64 " copy_us=%" PRIu64
	       " load_us=%" PRIu64 " commit_us=%" PRIu64 " resume_us=%" PRIu64
	       "\n",
	       strategy_name(s), v->mem_size >> 20, v->nvcpus,
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
