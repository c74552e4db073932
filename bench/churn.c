// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Thousands of complete handoffs (offer, grant, claim, ready, state,
 * take, commit) of one real gmem through a running migrd, as fast as one
 * client can drive them, printing migrd's RSS and fd count as it goes:
 * neither may grow. Also the rate migrd sustains, which bounds its share
 * of a pause from above.
 *
 *   churn SOCKET MIGRD_PID [N]      (default 5000)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <libmig.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage_of(pid_t pid, long *rss_kib, int *fds)
{
	char path[64], line[256];
	struct dirent *e;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	*rss_kib = -1;
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %ld", rss_kib);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	*fds = 0;
	d = opendir(path);
	while (d && (e = readdir(d)))
		*fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
}

static int one(struct mig_ctx *src, struct mig_ctx *dst, struct mig_ctx *m,
	       const struct mig_region *r, int vm)
{
	struct mig_handoff *h = NULL;
	struct mig_token t;
	uint64_t sid;
	size_t len;
	void *blob;
	int e;

	e = mig_offer(src, "churn", r, 1, vm, &sid);
	if (!e)
		e = mig_grant_successor(m, "churn", &t);
	if (!e)
		e = mig_claim(dst, sid, t.bytes, sizeof(t.bytes), &h);
	if (!e)
		e = mig_ready(dst, sid);
	if (!e)
		e = mig_send_state(src, sid, "regs", 4);
	if (!e)
		e = mig_take_state(dst, sid, &blob, &len);
	if (!e) {
		free(blob);
		e = mig_commit(dst, sid);
	}
	mig_handoff_free(h);
	return e;
}

int main(int argc, char **argv)
{
	struct mig_ctx *src = mig_new(), *dst = mig_new(), *m = mig_new();
	long n = argc > 3 ? atol(argv[3]) : 5000, rss;
	struct mig_region r = { .name = "ram", .size = 2 << 20,
				.kind = MIG_REGION_GMEM };
	int kvm, vm, fds, e;
	pid_t pid;
	double t0;

	if (argc < 3 || !(pid = atoi(argv[2])) || n <= 0) {
		fprintf(stderr, "usage: churn SOCKET MIGRD_PID [N]\n");
		return 2;
	}
	kvm = open("/dev/kvm", O_RDWR);
	vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	r.fd = vm < 0 ? -1 : mig_gmem_create(vm, r.size, 3);
	if (r.fd < 0 || mig_connect(src, argv[1]) || mig_connect(dst, argv[1]) ||
	    mig_connect(m, argv[1]) ||
	    mig_register(m, "churn", NULL, getpid(), -1, NULL)) {
		fprintf(stderr, "churn: cannot set up (root, /dev/kvm, migrd?)\n");
		return 1;
	}
	usage_of(pid, &rss, &fds);
	printf("handoffs,migrd_rss_kib,migrd_fds,rate_per_s\n0,%ld,%d,\n", rss,
	       fds);
	t0 = now();
	for (long i = 1; i <= n; i++) {
		e = one(src, dst, m, &r, vm);
		if (e) {
			fprintf(stderr, "churn: handoff %ld: %s\n", i,
				*mig_last_error(src) ? mig_last_error(src) :
				strerror(-e));
			return 1;
		}
		if (i % (n / 5 ? n / 5 : 1) == 0) {
			usage_of(pid, &rss, &fds);
			printf("%ld,%ld,%d,%.0f\n", i, rss, fds,
			       (double)i / (now() - t0));
			fflush(stdout);
		}
	}
	return 0;
}
