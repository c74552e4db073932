// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd holding thousands of registrations: what one registration, one
 * LIST, one SHOW and one unregistration cost as the number of VMs grows,
 * and migrd's memory and CPU time for them. Every VM is owned by this
 * process (a registration needs a live owner; nothing else is needed).
 *
 *   many-vms SOCKET MIGRD_PID [N [STEP]]     (default 4096 512)
 *
 * Prints one row per STEP registrations: the latency of those
 * registrations (p50, p99, max, microseconds), of a whole LIST and of a
 * SHOW at that size, migrd's RSS and CPU time so far.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmig.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* migrd's resident memory (KiB) and CPU time (ms). */
static void usage_of(pid_t pid, long *rss_kib, long *cpu_ms)
{
	char path[64], line[512];
	unsigned long ut = 0, st = 0;
	FILE *f;

	*rss_kib = *cpu_ms = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %ld", rss_kib);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	/* Fields 14 and 15 (utime, stime), after the ")" of the name. */
	if (f && fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ')');

		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&ut, &st) == 2)
			*cpu_ms = (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
	}
	if (f)
		fclose(f);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)n + 0.999);

	return v[i ? i - 1 : 0];
}

/* A whole LIST (every page), timed; the number of VMs it saw. */
static double time_list(struct mig_ctx *m, size_t *nvms)
{
	struct mig_list *l = NULL;
	double t = now_us();
	int r = mig_list(m, &l);

	t = now_us() - t;
	if (r) {
		fprintf(stderr, "many-vms: list: %s\n", strerror(-r));
		exit(1);
	}
	*nvms = l->nvms;
	mig_list_free(l);
	return t;
}

static double time_show(struct mig_ctx *m, const char *name)
{
	struct mig_list *l = NULL;
	double t = now_us();
	int r = mig_show(m, name, &l);

	t = now_us() - t;
	if (r) {
		fprintf(stderr, "many-vms: show %s: %s\n", name, strerror(-r));
		exit(1);
	}
	mig_list_free(l);
	return t;
}

int main(int argc, char **argv)
{
	size_t n = argc > 3 ? strtoul(argv[3], NULL, 0) : 4096;
	size_t step = argc > 4 ? strtoul(argv[4], NULL, 0) : 512;
	double *lat, t;
	struct mig_ctx *m;
	pid_t migrd;
	long rss, cpu;
	size_t seen;
	char name[64];
	int r;

	if (argc < 3 || !n || !step) {
		fprintf(stderr, "usage: many-vms SOCKET MIGRD_PID [N [STEP]]\n");
		return 2;
	}
	migrd = (pid_t)atoi(argv[2]);
	lat = calloc(n, sizeof(*lat));
	m = mig_new();
	if (!lat || !m || (r = mig_connect(m, argv[1])) < 0) {
		fprintf(stderr, "many-vms: cannot connect to %s\n", argv[1]);
		return 1;
	}
	usage_of(migrd, &rss, &cpu);
	printf("# vms  register_p50_us register_p99_us register_max_us  list_us  show_us  migrd_rss_kib migrd_cpu_ms\n");
	printf("%6d %15s %15s %15s %8s %8s %14ld %12ld\n", 0, "-", "-", "-",
	       "-", "-", rss, cpu);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm-%05zu", i);
		t = now_us();
		r = mig_register(m, name, NULL, getpid(), -1, NULL);
		lat[i] = now_us() - t;
		if (r) {
			fprintf(stderr, "many-vms: register %s: %s\n", name,
				strerror(-r));
			return 1;
		}
		if ((i + 1) % step && i + 1 != n)
			continue;
		size_t from = i + 1 - ((i + 1) % step ? (i + 1) % step : step);
		size_t k = i + 1 - from;

		qsort(lat + from, k, sizeof(*lat), cmp);
		t = time_list(m, &seen);
		if (seen != i + 1) {
			fprintf(stderr, "many-vms: LIST saw %zu VMs, not %zu\n",
				seen, i + 1);
			return 1;
		}
		usage_of(migrd, &rss, &cpu);
		printf("%6zu %15.0f %15.0f %15.0f %8.0f %8.0f %14ld %12ld\n",
		       i + 1, pct(lat + from, k, 0.5), pct(lat + from, k, 0.99),
		       lat[i], t, time_show(m, name), rss, cpu);
		fflush(stdout);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "vm-%05zu", i);
		t = now_us();
		r = mig_unregister(m, name);
		lat[i] = now_us() - t;
		if (r) {
			fprintf(stderr, "many-vms: unregister %s: %s\n", name,
				strerror(-r));
			return 1;
		}
	}
	qsort(lat, n, sizeof(*lat), cmp);
	usage_of(migrd, &rss, &cpu);
	printf("# unregister all %zu: p50 %.0f us, p99 %.0f us; migrd after: RSS %ld KiB, CPU %ld ms\n",
	       n, pct(lat, n, 0.5), pct(lat, n, 0.99), rss, cpu);
	mig_unref(m);
	free(lat);
	return 0;
}
