// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What zero-on-rebind costs: for each size, a gmem whose every page is
 * allocated (as a running guest's would be) is zeroed with
 * mig_gmem_zero(), the punch and the verification migrd does before a
 * rebind hands memory out; then the verification alone, on the now empty
 * file. CSV on stdout.
 *
 *   zero-cost [SIZE_GIB...]     (default 1 2 4 8), 3 runs each
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <libmig.h>

#define RUNS 3

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static int populated_gmem(int vm, uint64_t size)
{
	int fd = mig_gmem_create(vm, size, 3);	/* MMAP | INIT_SHARED */
	void *p;

	if (fd < 0)
		return fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || madvise(p, size, MADV_POPULATE_WRITE) < 0) {
		close(fd);
		return -errno;
	}
	munmap(p, size);
	return fd;
}

int main(int argc, char **argv)
{
	static const char *const dflt[] = { "1", "2", "4", "8" };
	const char *const *sizes = argc > 1 ? (const char *const *)argv + 1 : dflt;
	int nsizes = argc > 1 ? argc - 1 : 4;
	int kvm = open("/dev/kvm", O_RDWR);
	int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);

	if (vm < 0) {
		fprintf(stderr, "zero-cost: needs /dev/kvm\n");
		return 1;
	}
	printf("size_gib,run,zero_ms,verify_only_ms,gib_per_s\n");
	for (int i = 0; i < nsizes; i++) {
		uint64_t size = strtoull(sizes[i], NULL, 10) << 30;

		for (int run = 1; run <= RUNS; run++) {
			struct timespec t;
			double zero, verify;
			int fd = populated_gmem(vm, size), r;

			if (fd < 0) {
				fprintf(stderr, "zero-cost: %s GiB: %d\n", sizes[i], fd);
				return 1;
			}
			clock_gettime(CLOCK_MONOTONIC, &t);
			r = mig_gmem_zero(fd);
			zero = ms_since(&t);
			clock_gettime(CLOCK_MONOTONIC, &t);
			r = r ? r : mig_gmem_zero(fd);
			verify = ms_since(&t);
			close(fd);
			if (r) {
				fprintf(stderr, "zero-cost: zeroing failed: %d\n", r);
				return 1;
			}
			printf("%s,%d,%.1f,%.1f,%.2f\n", sizes[i], run, zero, verify,
			       (double)size / (1 << 30) / (zero / 1e3));
			fflush(stdout);
		}
	}
	return 0;
}
