// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The FAKE inode-link ioctl (tests/fake/link-ioctl.c), loaded by LD_PRELOAD:
 * this kernel has no KVM_LINK_GUEST_MEMFD, so these tests check that the
 * fake keeps the RFC's ABI and error codes, and that libmig finds and uses
 * it as it would the real one. Everything underneath is the real kernel.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "kvm-uapi.h"

/* Preloading takes effect at exec only: re-execute with the fake. */
__attribute__((constructor)) static void preload(int argc, char **argv)
{
	const char *fake = getenv("FAKE_LINK");
	const char *cur = getenv("LD_PRELOAD");

	(void)argc;
	if (!fake || (cur && strstr(cur, fake)))
		return;
	setenv("LD_PRELOAD", fake, 1);
	/* An ASan build wants its runtime first; the fake is not built
	 * with it, so the order does not matter here. */
	setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 0);
	execv("/proc/self/exe", argv);
}

static int vm_a, vm_b, gmem_a;

static void setup(void)
{
	REQUIRE_KVM();
	if (!getenv("FAKE_LINK"))
		cr_skip_test("FAKE_LINK names no fake to preload (run through make check)");
	vm_a = make_vm();
	vm_b = make_vm();
	gmem_a = make_gmem(vm_a, 1 << 21);
	cr_assert_geq(gmem_a, 0);
}

TestSuite(link_FAKE_ioctl, .init = setup);

static int link_raw(int vm, __u64 fd, __u64 flags, __u64 reserved0)
{
	struct kvm_link_guest_memfd a = { .fd = fd, .flags = flags };

	a.reserved[0] = reserved0;
	return ioctl(vm, KVM_LINK_GUEST_MEMFD_V2, &a);
}

Test(link_FAKE_ioctl, libmig_probes_it)
{
	struct mig_kvm_caps caps;

	cr_assert_eq(mig_kvm_probe(vm_b, &caps), 0);
	cr_assert_eq(caps.link_ioctl, KVM_LINK_GUEST_MEMFD_V2);
}

Test(link_FAKE_ioctl, rfc_error_codes)
{
	int memfd = memfd_create("m", MFD_CLOEXEC);

	cr_assert_eq(link_raw(vm_b, (__u64)memfd, 0, 0), -1);
	cr_assert_eq(errno, EINVAL, "a memfd is not a gmem");
	cr_assert_eq(link_raw(vm_b, (__u64)-1, 0, 0), -1);
	cr_assert_eq(errno, EINVAL, "no fd at all");
	cr_assert_eq(link_raw(vm_b, (__u64)gmem_a, 2, 0), -1);
	cr_assert_eq(errno, EINVAL, "an unknown flag");
	cr_assert_eq(link_raw(vm_b, (__u64)gmem_a, 0, 1), -1);
	cr_assert_eq(errno, EINVAL, "reserved must be zero");
	cr_assert_eq(mig_gmem_link(vm_a, gmem_a), -EINVAL,
		     "linking a gmem back into its own VM");
	cr_assert_eq(mig_gmem_link_vm(vm_b, gmem_a, memfd), -EPERM,
		     "a proof that is not a VM fd");
	close(memfd);
	cr_assert_eq(mig_gmem_link_vm(vm_b, gmem_a, memfd), -EBADF,
		     "a proof that is no fd at all");
}

Test(link_FAKE_ioctl, the_kernel_rule_is_announced)
{
	cr_assert_eq(mig_gmem_link_flags(vm_b), KVM_LINK_GUEST_MEMFD_PRESERVE);
}

Test(link_FAKE_ioctl, same_inode_bound_to_the_new_vm)
{
	struct stat a, b;
	uint8_t *src, *dst;
	int fd;

	src = map_fd(gmem_a, 1 << 21);
	cr_assert_not_null(src);
	memcpy(src, "guest data", 11);
	cr_assert_eq(mig_memslot_set(vm_b, 0, 0, 1 << 21, src, gmem_a, 0),
		     -EINVAL, "the real kernel refuses A's gmem in B");
	/* A's VM fd proves it is the same VM: the contents stay. */
	fd = mig_gmem_link_vm(vm_b, gmem_a, vm_a);
	cr_assert_geq(fd, 0, "link: %s", strerror(-fd));
	cr_assert_neq(fd, gmem_a, "a new fd");
	fstat(gmem_a, &a);
	fstat(fd, &b);
	cr_assert_eq(a.st_ino, b.st_ino, "on the same inode");
	dst = map_fd(fd, 1 << 21);
	cr_assert_str_eq((char *)dst, "guest data");
	cr_assert_eq(mig_memslot_set(vm_b, 0, 0, 1 << 21, dst, fd, 0), 0,
		     "the linked fd binds into B");
}

/* Without the proof (a rebind, or anybody else): the memory is zeroed. */
Test(link_FAKE_ioctl, without_proof_only_zeros)
{
	uint8_t *src, *dst;
	int fd;

	src = map_fd(gmem_a, 1 << 21);
	cr_assert_not_null(src);
	memcpy(src, "guest data", 11);
	fd = mig_gmem_link(vm_b, gmem_a);
	cr_assert_geq(fd, 0, "link: %s", strerror(-fd));
	dst = map_fd(fd, 1 << 21);
	cr_assert_not_null(dst);
	for (int i = 0; i < 1 << 21; i++)
		if (dst[i])
			cr_assert_fail("byte %d is %#x, not zero", i, dst[i]);
}
