// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Rebind exposure: memory reaches a new VM identity only when nobody else
 * can reach it. The victim runs in a process of its own, as a VMM does:
 * it offers memory holding a secret, pauses, sends its state and is told
 * to exit. Each attack leaves the memory reachable some other way (the
 * source stays, a child keeps an fd, a child keeps a mapping) and gets
 * nothing; the same steps by a source that exits cleanly give the new
 * identity zeroed memory. What a guest sees is checked in tests/rebind.sh
 * with the reference VMM; here the claimant's host mapping is read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include "harness.h"
#include "mig-private.h"

#define SZ (4ULL << 20)
#define SECRET 0x5ec12e7ULL

static struct daemon d;

static void start(void)
{
	REQUIRE_ROOT_KVM();
	cr_assert_eq(daemon_start(&d, "switch_timeout = 2s\n"), 0);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(rebind, .init = start, .fini = stop, .timeout = 60);

/* memfd RAM needs no KVM: a legacy VMM offers no VM fd. */
static void start_memfd(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, "switch_timeout = 2s\n"), 0);
}

TestSuite(rebind_memfd, .init = start_memfd, .fini = stop, .timeout = 60);

/* What the source leaves behind when it is told to exit. */
enum leave {
	LEAVE_NOTHING,		/* it exits: the legitimate case */
	LEAVE_AN_FD,		/* a child keeps the memory's fd */
	LEAVE_A_MAPPING,	/* a child keeps only a mapping of it */
	LEAVE_ITSELF,		/* it does not exit at all */
};

struct source {
	pid_t pid;
	pid_t helper;		/* the child it left, if any */
	uint64_t sid;
	ino_t ino;
	int wait_err;		/* its WAIT after STATE */
	int report;		/* pipe from the source */
};

struct report {
	uint64_t sid;
	ino_t ino;
	pid_t helper;
	int err;
};

/* A child that keeps the memory: its fd, or only its mapping. */
static pid_t leave_child(int fd, uint8_t *mem, enum leave how)
{
	pid_t pid;

	if (how != LEAVE_AN_FD && how != LEAVE_A_MAPPING)
		return 0;
	pid = fork();
	if (pid)
		return pid;
	if (how == LEAVE_A_MAPPING)
		close(fd);
	/* Keeps writing the secret: would it reach the new identity? */
	for (;;) {
		fill_pattern(mem, 4096, SECRET);
		usleep(1000);
	}
}

/* Devices the source offers with its memory, if any. */
#define NDEV 2
static bool offer_devices;

/* An eventfd and a console pipe (its read end is the source's). */
static int source_devices(struct mig_device *dev)
{
	int p[2];

	if (!offer_devices)
		return 0;
	if (pipe2(p, O_CLOEXEC))
		return -1;
	dev[0] = (struct mig_device){ .kind = MIG_DEVICE_EVENTFD,
				      .fd = eventfd(0, EFD_CLOEXEC) };
	strcpy(dev[0].name, "irq0");
	dev[1] = (struct mig_device){ .kind = MIG_DEVICE_PIPE, .fd = p[1] };
	strcpy(dev[1].name, "console");
	return dev[0].fd < 0 ? -1 : NDEV;
}

/* What the source's RAM is. */
enum ram {
	RAM_GMEM,		/* guest_memfd: needs KVM */
	RAM_MEMFD,		/* a legacy VMM's memfd */
	RAM_HUGETLB,		/* memfd of 2 MiB huge pages (MFD_HUGETLB) */
};

static int source_ram(enum ram ram, int vm, uint64_t size)
{
	int fd;

	if (ram == RAM_GMEM)
		return make_gmem(vm, size);
	fd = memfd_create("ram", MFD_CLOEXEC |
			  (ram == RAM_HUGETLB ? MFD_HUGETLB : 0));
	if (fd >= 0 && ftruncate(fd, (off_t)size)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The source VMM, in its own process; never returns. */
static void source_main(int out, const char *name, enum ram ram,
			uint64_t size, enum leave how)
{
	struct mig_ctx *c = connect_as_owner(&d, name);
	/* No KVM needed for memfd RAM: then no VM fd is offered. */
	int vm = make_vm(), fd;
	struct report rep = { 0 };
	struct mig_device dev[NDEV];
	struct mig_offer_args a = { .vm_fd = vm, .devices = dev };
	struct mig_region r;
	struct stat st;
	uint8_t *mem;
	int ndev = source_devices(dev);

	fd = source_ram(ram, vm, size);
	if (!c || fd < 0 || ndev < 0)
		_exit(2);
	mem = map_fd(fd, SZ);
	if (!mem || fstat(fd, &st))
		_exit(3);
	fill_pattern(mem, SZ, SECRET);
	r = gmem_region(fd, size);
	if (ram != RAM_GMEM)
		r.kind = MIG_REGION_MEMFD;
	a.regions = &r;
	a.nregions = 1;
	a.ndevices = (unsigned int)ndev;
	if (mig_offer_ex(c, name, &a, sizeof(a), &rep.sid))
		_exit(4);
	rep.ino = st.st_ino;
	if (write(out, &rep, sizeof(rep)) != sizeof(rep))
		_exit(5);
	/* A source pauses and sends its state once the claimant is ready. */
	if (mig_wait(c, rep.sid, MIG_STATE_READY, NULL) ||
	    mig_send_state(c, rep.sid, "regs", 4))
		_exit(6);
	rep.helper = leave_child(fd, mem, how);
	rep.err = mig_wait(c, rep.sid, MIG_STATE_COMMITTED, NULL);
	if (write(out, &rep, sizeof(rep)) != sizeof(rep))
		_exit(7);
	while (how == LEAVE_ITSELF)
		pause();
	_exit(0);
}

static void source_start(struct source *src, const char *name, enum ram ram,
			 uint64_t size, enum leave how)
{
	struct report rep;
	int p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	src->pid = fork();
	cr_assert_geq(src->pid, 0);
	if (src->pid == 0) {
		close(p[0]);
		source_main(p[1], name, ram, size, how);
	}
	close(p[1]);
	src->report = p[0];
	cr_assert_eq(read(p[0], &rep, sizeof(rep)), sizeof(rep),
		     "the source could not offer");
	src->sid = rep.sid;
	src->ino = rep.ino;
}

/* After its STATE: what the source was told, and what it left behind. */
static void source_told(struct source *src)
{
	struct report rep;

	cr_assert_eq(read(src->report, &rep, sizeof(rep)), sizeof(rep));
	src->helper = rep.helper;
	src->wait_err = rep.err;
	cr_expect_eq(rep.err, -EOWNERDEAD,
		     "the source is told to exit, not to resume: %d", rep.err);
}

/* The source's exit, waited for: pid 0 from then on. */
static void source_exit(struct source *src, int sig)
{
	if (src->pid <= 0)
		return;
	if (sig)
		kill(src->pid, sig);
	waitpid(src->pid, NULL, 0);
	src->pid = 0;
}

static void source_reap(struct source *src)
{
	if (src->helper > 0) {
		kill(src->helper, SIGKILL);
		waitpid(src->helper, NULL, 0);
	}
	source_exit(src, SIGKILL);
	close(src->report);
}

/* The claimant: a rebind grant, claimed by this process, then READY. */
static struct mig_ctx *claim_rebind(const struct source *src, const char *vm)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct mig_token t;

	cr_assert_eq(mig_grant_rebind(m, vm, "newvm", NULL, (uid_t)-1, &t), 0,
		     "%s", mig_last_error(m));
	mig_unref(m);
	cr_assert_eq(mig_claim(dest, src->sid, t.bytes, MIG_TOKEN_LEN, &h), 0,
		     "%s", mig_last_error(dest));
	cr_expect(h->deferred && h->grant == MIG_GRANT_REBIND);
	cr_expect_eq(h->regions[0].fd, -1, "no memory before the pause");
	cr_expect_eq(h->vm_fd, -1, "the victim's VM fd is never handed");
	mig_handoff_free(h);
	cr_assert_eq(mig_ready(dest, src->sid), 0);
	return dest;
}

static void expect_only_zeros(const uint8_t *p, uint64_t len)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t nonzero = 0;

	for (uint64_t i = 0; i < len / 8; i++)
		nonzero += w[i] != 0;
	cr_expect_eq(nonzero, 0, "%llu words are not zero",
		     (unsigned long long)nonzero);
}

/* The claimant's memory, zeroed; its inode in *ino. */
static void expect_zeroed_memory(struct mig_ctx *dest, uint64_t sid,
				 ino_t *ino)
{
	struct mig_handoff *mem = NULL;
	struct stat st;
	uint8_t *p;

	cr_assert_eq(mig_take_memory(dest, sid, &mem), 0, "%s",
		     mig_last_error(dest));
	cr_expect(mem->zeroed);
	cr_expect_eq(mem->vm_fd, -1);
	cr_expect_eq(mem->ndevices, 0, "no device for another identity");
	cr_assert_eq(fstat(mem->regions[0].fd, &st), 0);
	*ino = st.st_ino;
	p = map_fd(mem->regions[0].fd, SZ);
	cr_assert_not_null(p);
	expect_only_zeros(p, SZ);
	munmap(p, SZ);
	mig_handoff_free(mem);
}

/* Nothing handed out, and why, in words. */
static void expect_refused(struct mig_ctx *dest, uint64_t sid,
			   const char *why)
{
	struct mig_handoff *mem = NULL;

	cr_expect_eq(mig_take_memory(dest, sid, &mem), -ECANCELED);
	cr_expect_null(mem, "no memory");
	cr_expect(strstr(mig_last_error(dest), why), "%s",
		  mig_last_error(dest));
	mig_handoff_free(mem);
}

/*
 * The legitimate rebind: the source exits, the memory (the same gmem
 * inode) arrives zeroed, the state never does, and the claimant becomes
 * a new identity.
 */
Test(rebind, gets_only_zeros_once_the_source_exited)
{
	struct mig_ctx *dest;
	struct source src;
	struct mig_list *l;
	char old_id[MIG_ID_LEN];
	ino_t ino;

	source_start(&src, "victim", RAM_GMEM, SZ, LEAVE_NOTHING);
	dest = claim_rebind(&src, "victim");
	cr_assert_eq(mig_show(dest, "victim", &l), 0);
	strcpy(old_id, l->vms[0].id);
	mig_list_free(l);
	source_told(&src);
	expect_zeroed_memory(dest, src.sid, &ino);
	cr_expect_eq(ino, src.ino, "the same memory, not a copy");
	cr_expect_eq(mig_take_state(dest, src.sid, &(void *){ NULL },
				    &(size_t){ 0 }), -ENODATA,
		     "the victim's state never leaves migrd");
	cr_assert_eq(mig_commit(dest, src.sid), 0);
	cr_expect_eq(mig_show(dest, "victim", &l), -ENOENT,
		     "the victim's identity ended");
	cr_assert_eq(mig_show(dest, "newvm", &l), 0);
	cr_expect_str_neq(l->vms[0].id, old_id, "a new identity");
	cr_expect_eq(l->vms[0].owner_pid, getpid());
	mig_list_free(l);
	source_reap(&src);
	mig_unref(dest);
}

/*
 * memfd RAM is replaced, not handed on: the claimant gets fresh memory,
 * also when a child of the source keeps the old memfd (its own old pages
 * are all it keeps).
 */
static void memfd_fresh(enum leave how)
{
	struct mig_ctx *dest;
	struct source src;
	ino_t ino;

	source_start(&src, "legacy", RAM_MEMFD, SZ, how);
	dest = claim_rebind(&src, "legacy");
	source_told(&src);
	expect_zeroed_memory(dest, src.sid, &ino);
	cr_expect_neq(ino, src.ino, "fresh memory, not the source's memfd");
	cr_assert_eq(mig_commit(dest, src.sid), 0);
	source_reap(&src);
	mig_unref(dest);
}

Test(rebind_memfd, memfd_gets_fresh_memory)
{
	memfd_fresh(LEAVE_NOTHING);
}

/*
 * Issue #20: a VM that offered devices. The rebind closes them when it
 * starts (another identity never gets them), and the hand-out of the
 * zeroed memory, after the source exited, must not name them: it
 * succeeds, with memory and no device. The same source without devices
 * is memfd_gets_fresh_memory above.
 */
Test(rebind_memfd, a_vm_that_offered_devices_gets_only_its_memory)
{
	offer_devices = true;
	memfd_fresh(LEAVE_NOTHING);
}

/* The source that never exits: nothing is handed out, ever. */
Test(rebind, a_source_that_stays_gets_it_refused)
{
	struct mig_ctx *dest;
	struct source src;

	source_start(&src, "victim", RAM_GMEM, SZ, LEAVE_ITSELF);
	dest = claim_rebind(&src, "victim");
	source_told(&src);
	expect_refused(dest, src.sid, "timed out");
	source_reap(&src);
	mig_unref(dest);
}

/* A child of the source keeps the gmem: refused, and it is named. */
static void left_behind(enum leave how, const char *verb)
{
	struct mig_ctx *dest;
	struct source src;
	char why[64];

	source_start(&src, "victim", RAM_GMEM, SZ, how);
	dest = claim_rebind(&src, "victim");
	source_told(&src);
	snprintf(why, sizeof(why), "pid %d still %s region 0", src.helper,
		 verb);
	expect_refused(dest, src.sid, why);
	source_reap(&src);
	mig_unref(dest);
}

Test(rebind, an_fd_left_behind_gets_it_refused)
{
	left_behind(LEAVE_AN_FD, "holds");
}

/* Only a mapping left behind, no fd: refused as well. */
Test(rebind, a_mapping_left_behind_gets_it_refused)
{
	left_behind(LEAVE_A_MAPPING, "maps");
}

Test(rebind_memfd, an_old_memfd_left_behind_reaches_nothing)
{
	memfd_fresh(LEAVE_AN_FD);
}

/*
 * A huge gmem (256 GiB, sparse) takes seconds to zero and verify. That
 * runs on a worker: migrd answers everybody else meanwhile, and the
 * rebind still gets only zeros once it is done.
 */
Test(rebind, a_huge_rebind_stalls_nobody)
{
	struct mig_ctx *dest, *other;
	struct mig_status st;
	struct source src;
	uint64_t t0, worst = 0;
	ino_t ino;

	source_start(&src, "victim", RAM_GMEM, 256ULL << 30, LEAVE_NOTHING);
	dest = claim_rebind(&src, "victim");
	other = connect_as_owner(&d, NULL);
	cr_assert_not_null(other);
	source_told(&src);
	source_exit(&src, 0);
	for (int i = 0; i < 10; i++) {
		t0 = mig_mono_ms();
		cr_assert_eq(mig_status(other, &st), 0);
		if (mig_mono_ms() - t0 > worst)
			worst = mig_mono_ms() - t0;
		usleep(50000);
	}
	cr_expect_lt(worst, 500, "a status took %llu ms while migrd zeroed",
		     (unsigned long long)worst);
	expect_zeroed_memory(dest, src.sid, &ino);
	source_reap(&src);
	mig_unref(dest);
	mig_unref(other);
}

/*
 * Huge pages (#21): guests backed by 2 MiB pages of hugetlbfs, as large
 * guests are. No KVM needed: a legacy VMM's memfd, MFD_HUGETLB. The
 * suite lets the kernel hand out what it needs beyond its pool
 * (nr_overcommit_hugepages: surplus pages, freed when let go) and puts
 * the setting back after.
 */
#define HUGE_NEEDED 4		/* the source's 2, the fresh memory's 2 */
#define HUGE_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"
static long overcommit_before = -1;
/* Criterion runs tests side by side: one at a time touches the setting. */
static int huge_lock = -1;

static long huge_read(const char *file)
{
	char path[96];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), HUGE_DIR "%s", file);
	f = fopen(path, "r");
	if (f && fscanf(f, "%ld", &n) != 1)
		n = -1;
	if (f)
		fclose(f);
	return n;
}

static int set_overcommit(long n)
{
	FILE *f = fopen(HUGE_DIR "nr_overcommit_hugepages", "w");
	int r;

	if (!f)
		return -1;
	r = fprintf(f, "%ld\n", n) < 0;
	return fclose(f) || r ? -1 : 0;
}

static void start_huge(void)
{
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	huge_lock = open("/tmp/migrd-test-hugepages.lock",
			 O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(huge_lock, 0);
	cr_assert_eq(flock(huge_lock, LOCK_EX), 0);
	overcommit_before = huge_read("nr_overcommit_hugepages");
	if (overcommit_before < 0)
		cr_skip_test("no 2 MiB huge pages in this kernel");
	cr_assert_eq(set_overcommit(overcommit_before + HUGE_NEEDED), 0);
	/* Can the kernel find them? Try, as the source will. */
	fd = memfd_create("probe", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0 || fallocate(fd, 0, 0, (off_t)HUGE_NEEDED << 21)) {
		if (fd >= 0)
			close(fd);
		cr_skip_test("the kernel cannot find %d huge pages of 2 MiB (memory too fragmented?)",
			     HUGE_NEEDED);
	}
	close(fd);
	cr_assert_eq(daemon_start(&d, "switch_timeout = 2s\n"), 0);
}

static void stop_huge(void)
{
	daemon_stop(&d);
	if (overcommit_before >= 0)
		set_overcommit(overcommit_before);
	if (huge_lock >= 0)
		close(huge_lock);	/* the next one may go */
}

TestSuite(hugepages, .init = start_huge, .fini = stop_huge, .timeout = 60);

static void expect_huge(int fd, const char *what)
{
	struct statfs sfs;
	struct stat st;

	cr_assert_eq(fstatfs(fd, &sfs), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq((unsigned long)sfs.f_type, (unsigned long)HUGETLBFS_MAGIC,
		     "%s is on hugetlbfs", what);
	cr_expect_eq(st.st_blksize, 2 << 20, "%s has 2 MiB pages", what);
}

/* An upgrade: the successor gets the very huge pages, contents and all. */
Test(hugepages, an_upgrade_hands_over_the_same_huge_pages)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct mig_token t;
	struct source src;
	struct stat st;
	uint8_t *p;

	cr_assert_not_null(m);
	cr_assert_not_null(dest);
	source_start(&src, "big", RAM_HUGETLB, SZ, LEAVE_NOTHING);
	cr_assert_eq(mig_grant_successor(m, "big", &t), 0, "%s",
		     mig_last_error(m));
	cr_assert_eq(mig_claim(dest, src.sid, t.bytes, MIG_TOKEN_LEN, &h), 0,
		     "a huge-page memfd is offered and claimed: %s",
		     mig_last_error(dest));
	cr_assert_eq(h->nregions, 1);
	cr_assert_eq(fstat(h->regions[0].fd, &st), 0);
	cr_expect_eq(st.st_ino, src.ino, "the same memory, not a copy");
	expect_huge(h->regions[0].fd, "the memory handed over");
	p = map_fd(h->regions[0].fd, SZ);
	cr_assert_not_null(p);
	cr_expect(check_pattern(p, SZ, SECRET),
		  "the guest's memory arrives as the source left it");
	munmap(p, SZ);
	/* The test is over: the source keeps its guest. */
	cr_expect_eq(mig_abort(dest, src.sid, "test over"), 0);
	mig_handoff_free(h);
	source_reap(&src);
	mig_unref(dest);
	mig_unref(m);
}

/* A rebind: fresh huge pages of the same size, all zero, never the old. */
Test(hugepages, a_rebind_gets_fresh_zeroed_huge_pages)
{
	struct mig_handoff *mem = NULL;
	struct mig_ctx *dest;
	struct source src;
	struct stat st;
	uint8_t *p;

	source_start(&src, "big", RAM_HUGETLB, SZ, LEAVE_NOTHING);
	dest = claim_rebind(&src, "big");
	source_told(&src);
	cr_assert_eq(mig_take_memory(dest, src.sid, &mem), 0, "%s",
		     mig_last_error(dest));
	cr_expect(mem->zeroed);
	cr_assert_eq(fstat(mem->regions[0].fd, &st), 0);
	cr_expect_neq(st.st_ino, src.ino, "fresh memory, not the source's");
	cr_expect_geq((uint64_t)st.st_size, SZ);
	expect_huge(mem->regions[0].fd, "the fresh memory");
	p = map_fd(mem->regions[0].fd, SZ);
	cr_assert_not_null(p);
	expect_only_zeros(p, SZ);
	munmap(p, SZ);
	mig_handoff_free(mem);
	cr_assert_eq(mig_commit(dest, src.sid), 0);
	source_reap(&src);
	mig_unref(dest);
}
