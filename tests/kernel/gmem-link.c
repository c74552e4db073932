// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * KVM_LINK_GUEST_MEMFD on the patched kernel (kernel/patches), run inside
 * it by `./dev check-kernel`. What the guests see is what is checked: a
 * guest in VM A writes into private guest_memfd memory that the host
 * cannot read, and a guest in VM B reads it back through the link, or
 * sees zeros, or cannot run at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "ktest.h"
#include "kvm-util.h"

#define SEED_A		0x12345678u
#define SEED_B		0xcafe0001u
#define RACE_ROUNDS	12
#define PRESERVE	KVM_LINK_GUEST_MEMFD_PRESERVE

/* VM @v with its own gmem, into which its guest wrote the @seed pattern. */
static void vm_with_data(struct kt_vm *v, uint32_t seed)
{
	KT_OK(kt_vm_create(v));
	KT_OK(kt_bind(v, KT_OK(kt_gmem_create(v))));
	KT_OK(kt_run(v, KT_WRITE, seed, NULL));
}

/* A fresh VM whose memory is a link of @src; -errno if the link fails. */
static int vm_linked(struct kt_vm *v, int src, uint64_t flags, int vm_fd)
{
	int fd;

	KT_OK(kt_vm_create(v));
	fd = kt_link(v->vm, src, flags, (uint64_t)vm_fd);
	if (fd < 0)
		return fd;
	KT_OK(kt_bind(v, fd));
	return fd;
}

static struct kt_sum guest_sum(struct kt_vm *v)
{
	struct kt_sum s;

	KT_OK(kt_run(v, KT_SUM, 0, &s));
	return s;
}

static void expect_pattern(struct kt_vm *v, uint32_t seed)
{
	struct kt_sum s = guest_sum(v);

	KT_ASSERT(s.sum == kt_pattern_sum(seed),
		  "guest sums %#x, the pattern of %#x sums %#x", s.sum, seed,
		  kt_pattern_sum(seed));
}

static void expect_zeros(struct kt_vm *v)
{
	struct kt_sum s = guest_sum(v);

	KT_ASSERT(s.nonzero == 0, "guest sees %u non-zero words", s.nonzero);
}

/* The guest of a revoked VM cannot touch its memory any more. */
static void expect_revoked(struct kt_vm *v)
{
	KT_ERR(kt_run(v, KT_SUM, 0, NULL), EIO);
	KT_ASSERT(v->run->exit_reason == KVM_EXIT_MEMORY_FAULT,
		  "exit reason %u", v->run->exit_reason);
}

/* An fd number that nothing in the test will open. */
static int closed_fd(void)
{
	int fd = 999;

	KT_ASSERT(fcntl(fd, F_GETFD) < 0 && errno == EBADF, "fd %d is open", fd);
	return fd;
}

static int punch(int gmem)
{
	return fallocate(gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			 KT_DATA_GPA, KT_MEM_SIZE - KT_DATA_GPA) ? -errno : 0;
}

static void cap_reports_preserve(void)
{
	int kvm = KT_OK(kt_kvm_fd()), plain;
	struct kt_vm v;

	KT_ASSERT(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_LINK_GUEST_MEMFD) ==
		  PRESERVE, "on /dev/kvm");
	KT_OK(kt_vm_create(&v));
	KT_ASSERT(ioctl(v.vm, KVM_CHECK_EXTENSION, KVM_CAP_LINK_GUEST_MEMFD) ==
		  PRESERVE, "on a VM with private memory");
	plain = ioctl(kvm, KVM_CREATE_VM, 0);
	KT_ASSERT(plain >= 0, "default VM: %m");
	KT_ASSERT(ioctl(plain, KVM_CHECK_EXTENSION, KVM_CAP_LINK_GUEST_MEMFD) ==
		  0, "a VM that cannot have guest_memfd cannot link one");
}

static void refuses_what_is_not_gmem(void)
{
	struct kt_vm a, b;
	int efd = eventfd(0, EFD_CLOEXEC), closed = closed_fd();

	vm_with_data(&a, SEED_A);
	KT_OK(kt_vm_create(&b));
	KT_ERR(kt_link(b.vm, closed, 0, 0), EBADF);
	KT_ERR(kt_link_raw(b.vm, &(struct kvm_link_guest_memfd){
		.fd = 1ULL << 32 }), EBADF);
	KT_ERR(kt_link(b.vm, efd, 0, 0), EINVAL);
	KT_ERR(kt_link(b.vm, a.vm, 0, 0), EINVAL);
	KT_ERR(kt_link(b.vm, a.vcpu, 0, 0), EINVAL);
	KT_ERR(kt_link(b.vm, kt_kvm_fd(), 0, 0), EINVAL);
	/* The legitimate counterpart: A's gmem links, with its contents. */
	KT_OK(kt_bind(&b, KT_OK(kt_link(b.vm, a.gmem, PRESERVE, a.vm))));
	expect_pattern(&b, SEED_A);
}

static void refuses_flags_and_reserved(void)
{
	struct kvm_link_guest_memfd l;
	struct kt_vm a, b;

	vm_with_data(&a, SEED_A);
	KT_OK(kt_vm_create(&b));
	KT_ERR(kt_link(b.vm, a.gmem, 2, 0), EINVAL);
	KT_ERR(kt_link(b.vm, a.gmem, 1ULL << 63, 0), EINVAL);
	KT_ERR(kt_link(b.vm, a.gmem, 0, (uint64_t)a.vm), EINVAL);
	for (int i = 0; i < 5; i++) {
		l = (struct kvm_link_guest_memfd){ .fd = (uint64_t)a.gmem };
		l.reserved[i] = 1;
		KT_ERR(kt_link_raw(b.vm, &l), EINVAL);
	}
	/* Nothing was revoked or zeroed by the refusals. */
	expect_pattern(&a, SEED_A);
	KT_OK(kt_bind(&b, KT_OK(kt_link(b.vm, a.gmem, PRESERVE, a.vm))));
	expect_pattern(&b, SEED_A);
}

static void refuses_the_own_vm(void)
{
	struct kt_vm a;

	vm_with_data(&a, SEED_A);
	KT_ERR(kt_link(a.vm, a.gmem, 0, 0), EINVAL);
	KT_ERR(kt_link(a.vm, a.gmem, PRESERVE, a.vm), EINVAL);
	expect_pattern(&a, SEED_A);
}

/* PRESERVE needs the VM that owns the gmem, nothing else will do. */
static void preserve_needs_the_source_vm(void)
{
	struct kt_vm a, b, c;
	int efd = eventfd(0, EFD_CLOEXEC), closed = closed_fd();

	vm_with_data(&a, SEED_A);
	KT_OK(kt_vm_create(&b));
	KT_OK(kt_vm_create(&c));
	KT_ERR(kt_link(b.vm, a.gmem, PRESERVE, c.vm), EPERM);
	KT_ERR(kt_link(b.vm, a.gmem, PRESERVE, b.vm), EPERM);
	KT_ERR(kt_link(b.vm, a.gmem, PRESERVE, efd), EINVAL);
	KT_ERR(kt_link(b.vm, a.gmem, PRESERVE, a.gmem), EINVAL);
	KT_ERR(kt_link(b.vm, a.gmem, PRESERVE, closed), EBADF);
	expect_pattern(&a, SEED_A);
	KT_OK(kt_bind(&b, KT_OK(kt_link(b.vm, a.gmem, PRESERVE, a.vm))));
	expect_pattern(&b, SEED_A);
}

static void same_inode_close_on_exec(void)
{
	struct stat sa, sb;
	struct kt_vm a, b;
	char path[64], link[64];
	ssize_t n;
	int fd;

	vm_with_data(&a, SEED_A);
	KT_OK(kt_vm_create(&b));
	fd = KT_OK(kt_link(b.vm, a.gmem, PRESERVE, a.vm));
	KT_ASSERT(fstat(a.gmem, &sa) == 0 && fstat(fd, &sb) == 0, "%m");
	KT_ASSERT(sa.st_ino == sb.st_ino, "inode %lu vs %lu",
		  (unsigned long)sa.st_ino, (unsigned long)sb.st_ino);
	KT_ASSERT(sa.st_dev == sb.st_dev && sb.st_size == (off_t)KT_MEM_SIZE,
		  "dev or size differ");
	KT_ASSERT(fcntl(fd, F_GETFD) == FD_CLOEXEC, "not close-on-exec");
	KT_ASSERT(fcntl(fd, F_GETFL) & O_RDWR, "not read-write");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	KT_ASSERT(n > 0, "readlink: %m");
	link[n] = '\0';
	KT_ASSERT(strcmp(link, KVM_GMEM_LINK_NAME) == 0, "reads as %s", link);
}

/* The upgrade: B is the same virtual machine and gets A's memory. */
static void preserving_link_keeps_private_memory(void)
{
	struct kt_vm a, b;

	vm_with_data(&a, SEED_A);
	KT_OK(vm_linked(&b, a.gmem, PRESERVE, a.vm));
	expect_pattern(&b, SEED_A);
	/* One memory: what B writes, A (not revoked, same VM) sees. */
	KT_OK(kt_run(&b, KT_WRITE, SEED_B, NULL));
	expect_pattern(&a, SEED_B);
}

/* Any other link: the new VM sees zeros, never A's data. */
static void zeroing_link_shows_only_zeros(void)
{
	struct kt_vm a, b;

	vm_with_data(&a, SEED_A);
	KT_OK(vm_linked(&b, a.gmem, 0, 0));
	expect_zeros(&b);
	KT_OK(kt_run(&b, KT_WRITE, SEED_B, NULL));
	expect_pattern(&b, SEED_B);
}

/* ... and nobody who held the memory before can see or change B's. */
static void zeroing_link_revokes_the_old_holder(void)
{
	struct kt_vm a, b, c;

	vm_with_data(&a, SEED_A);
	KT_OK(vm_linked(&b, a.gmem, 0, 0));
	KT_OK(kt_run(&b, KT_WRITE, SEED_B, NULL));
	expect_revoked(&a);
	KT_ERR(punch(a.gmem), EIO);
	KT_ERR(fallocate(a.gmem, FALLOC_FL_KEEP_SIZE, 0, 4096) ? -errno : 0,
	       EIO);
	KT_ERR(kt_bind_at(&a, a.gmem, 1, 0), EIO);
	KT_OK(kt_vm_create(&c));
	KT_ERR(kt_link(c.vm, a.gmem, 0, 0), EIO);
	KT_ERR(kt_link(c.vm, a.gmem, PRESERVE, a.vm), EIO);
	expect_pattern(&b, SEED_B);
	/* B's own instance is whole: it can still punch and refill. */
	KT_OK(punch(b.gmem));
	expect_zeros(&b);
}

/* A's VM and fds go away; the memory lives on in B. */
static void memory_outlives_the_source_vm(void)
{
	struct kt_vm a, b;

	vm_with_data(&a, SEED_A);
	KT_OK(vm_linked(&b, a.gmem, PRESERVE, a.vm));
	kt_vm_destroy(&a);
	expect_pattern(&b, SEED_A);
	KT_OK(kt_run(&b, KT_WRITE, SEED_B, NULL));
	expect_pattern(&b, SEED_B);
}

/* Upgrades in a row, then a rebind: all earlier holders are revoked. */
static void chain_of_upgrades_then_rebind(void)
{
	struct kt_vm a, b, c, d;

	vm_with_data(&a, SEED_A);
	KT_OK(vm_linked(&b, a.gmem, PRESERVE, a.vm));
	KT_ERR(vm_linked(&c, b.gmem, PRESERVE, a.vm), EPERM);
	kt_vm_destroy(&c);
	KT_OK(vm_linked(&c, b.gmem, PRESERVE, b.vm));
	expect_pattern(&c, SEED_A);
	KT_OK(vm_linked(&d, c.gmem, 0, 0));
	expect_zeros(&d);
	expect_revoked(&a);
	expect_revoked(&b);
	expect_revoked(&c);
	KT_ERR(punch(b.gmem), EIO);
}

struct racer {
	struct kt_vm *vm;
	int gmem, target_vm;
	atomic_int passes;
	int result;
	pthread_barrier_t *go;
};

static void *fault_forever(void *p)
{
	struct racer *r = p;
	int ret;

	do {
		ret = kt_run(r->vm, KT_WRITE_FOREVER, SEED_A, NULL);
		if (ret == 1)
			atomic_fetch_add(&r->passes, 1);
	} while (ret == 1);
	r->result = ret;
	return NULL;
}

/* A's guest writes (and so faults) all the time while B links. */
static void race_link_against_faults(void)
{
	for (int i = 0; i < RACE_ROUNDS; i++) {
		struct kt_vm a, b;
		struct racer r = { .vm = &a };
		pthread_t t;

		vm_with_data(&a, SEED_A);
		KT_OK(kt_vm_create(&b));
		KT_ASSERT(pthread_create(&t, NULL, fault_forever, &r) == 0, "thread");
		while (atomic_load(&r.passes) < 1 + i % 3)
			usleep(100);
		KT_OK(kt_bind(&b, KT_OK(kt_link(b.vm, a.gmem, 0, 0))));
		pthread_join(t, NULL);
		KT_ASSERT(r.result == -EIO, "round %d: A's guest ended with %d",
			  i, r.result);
		expect_zeros(&b);
		kt_vm_destroy(&a);
		kt_vm_destroy(&b);
	}
}

static void *punch_until_refused(void *p)
{
	struct racer *r = p;
	int ret;

	pthread_barrier_wait(r->go);
	while ((ret = punch(r->gmem)) == 0)
		atomic_fetch_add(&r->passes, 1);
	r->result = ret;
	return NULL;
}

/* The old holder punches holes while B links: none may land in B's. */
static void race_link_against_punch_hole(void)
{
	for (int i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_t go;
		struct kt_vm a, b;
		struct racer r = { .go = &go };
		pthread_t t;

		vm_with_data(&a, SEED_A);
		KT_OK(kt_vm_create(&b));
		r.gmem = a.gmem;
		pthread_barrier_init(&go, NULL, 2);
		KT_ASSERT(pthread_create(&t, NULL, punch_until_refused, &r) == 0,
			  "thread");
		pthread_barrier_wait(&go);
		KT_OK(kt_bind(&b, KT_OK(kt_link(b.vm, a.gmem, 0, 0))));
		pthread_join(t, NULL);
		KT_ASSERT(r.result == -EIO, "round %d: punch ended with %d", i,
			  r.result);
		KT_OK(kt_run(&b, KT_WRITE, SEED_B, NULL));
		expect_pattern(&b, SEED_B);
		pthread_barrier_destroy(&go);
		kt_vm_destroy(&a);
		kt_vm_destroy(&b);
	}
}

static void *link_once(void *p)
{
	struct racer *r = p;

	pthread_barrier_wait(r->go);
	r->result = kt_link(r->target_vm, r->gmem, 0, 0);
	return NULL;
}

/* Two rebinds of one gmem at once: exactly one wins, the other is EIO. */
static void race_two_links(void)
{
	for (int i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_t go;
		struct kt_vm a, b, c;
		struct racer rb = { .go = &go }, rc = { .go = &go };
		pthread_t tb, tc;
		int wins;

		vm_with_data(&a, SEED_A);
		KT_OK(kt_vm_create(&b));
		KT_OK(kt_vm_create(&c));
		rb.gmem = rc.gmem = a.gmem;
		rb.target_vm = b.vm;
		rc.target_vm = c.vm;
		pthread_barrier_init(&go, NULL, 2);
		pthread_create(&tb, NULL, link_once, &rb);
		pthread_create(&tc, NULL, link_once, &rc);
		pthread_join(tb, NULL);
		pthread_join(tc, NULL);
		wins = (rb.result >= 0) + (rc.result >= 0);
		KT_ASSERT(wins == 1 && (rb.result == -EIO || rc.result == -EIO),
			  "round %d: results %d and %d", i, rb.result, rc.result);
		if (rb.result >= 0) {
			KT_OK(kt_bind(&b, rb.result));
			expect_zeros(&b);
		} else {
			KT_OK(kt_bind(&c, rc.result));
			expect_zeros(&c);
		}
		pthread_barrier_destroy(&go);
		kt_vm_destroy(&a);
		kt_vm_destroy(&b);
		kt_vm_destroy(&c);
	}
}

static void *tear_down(void *p)
{
	struct racer *r = p;

	pthread_barrier_wait(r->go);
	r->result = kt_unbind(r->vm);
	kt_vm_destroy(r->vm);
	return NULL;
}

/*
 * A rebind walks every instance on the inode while another instance's
 * memslot goes and its VM closes: the walk must not touch freed memory
 * (KASAN on the debug kernel says so).
 */
static void race_link_against_teardown(void)
{
	for (int i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_t go;
		struct kt_vm a, b, c;
		struct racer r = { .go = &go, .vm = &b };
		pthread_t t;

		vm_with_data(&a, SEED_A);
		KT_OK(vm_linked(&b, a.gmem, PRESERVE, a.vm));
		KT_OK(kt_vm_create(&c));
		pthread_barrier_init(&go, NULL, 2);
		pthread_create(&t, NULL, tear_down, &r);
		pthread_barrier_wait(&go);
		KT_OK(kt_bind(&c, KT_OK(kt_link(c.vm, a.gmem, 0, 0))));
		pthread_join(t, NULL);
		KT_OK(r.result);
		expect_zeros(&c);
		expect_revoked(&a);
		pthread_barrier_destroy(&go);
		kt_vm_destroy(&a);
		kt_vm_destroy(&c);
	}
}

static const struct ktest tests[] = {
	{ "cap_reports_preserve", cap_reports_preserve },
	{ "refuses_what_is_not_gmem", refuses_what_is_not_gmem },
	{ "refuses_flags_and_reserved", refuses_flags_and_reserved },
	{ "refuses_the_own_vm", refuses_the_own_vm },
	{ "preserve_needs_the_source_vm", preserve_needs_the_source_vm },
	{ "same_inode_close_on_exec", same_inode_close_on_exec },
	{ "preserving_link_keeps_private_memory",
	  preserving_link_keeps_private_memory },
	{ "zeroing_link_shows_only_zeros", zeroing_link_shows_only_zeros },
	{ "zeroing_link_revokes_the_old_holder",
	  zeroing_link_revokes_the_old_holder },
	{ "memory_outlives_the_source_vm", memory_outlives_the_source_vm },
	{ "chain_of_upgrades_then_rebind", chain_of_upgrades_then_rebind },
	{ "race_link_against_faults", race_link_against_faults },
	{ "race_link_against_punch_hole", race_link_against_punch_hole },
	{ "race_two_links", race_two_links },
	{ "race_link_against_teardown", race_link_against_teardown },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	return kt_main(tests, (int)(sizeof(tests) / sizeof(tests[0])), argc,
		       argv);
}
