// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"

static int start(struct daemon *d, const char *config, bool logged)
{
	char conf[128];
	FILE *f;

	memset(d, 0, sizeof(*d));
	strcpy(d->dir, "/tmp/migrd-test.XXXXXX");
	if (!mkdtemp(d->dir) || chmod(d->dir, 0755) < 0)
		return -errno;
	snprintf(d->sock, sizeof(d->sock), "%s/migrd.sock", d->dir);
	snprintf(conf, sizeof(conf), "%s/migrd.conf", d->dir);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f, "socket = %s\n%s\n", d->sock, config ? config : "");
	/* migrd takes only a config nobody else can write. */
	fchmod(fileno(f), 0644);
	fclose(f);
	if (logged)
		snprintf(d->log, sizeof(d->log), "%s/migrd.log", d->dir);

	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		const char *dbg = getenv("MIGRD_TEST_DEBUG");
		/* MIGRD_BIN in the environment overrides the build's own
		 * path: kernel/check.sh runs these tests inside a booted
		 * kernel, with migrd packed somewhere else. */
		const char *bin = getenv("MIGRD_BIN");

		if (d->log[0] && !freopen(d->log, "w", stderr))
			_exit(126);
		/* Only stdio: the daemon's fd table is what tests count. */
		close_range(3, ~0U, 0);
		/* A test that crashes must not leave its daemon behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl(bin && *bin ? bin : MIGRD_BIN, "migrd", "--foreground",
		      "--config", conf, dbg ? "--debug" : NULL, NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct mig_ctx *ctx = mig_new();
		int r;

		mig_set_log_priority(ctx, 0);
		r = mig_connect(ctx, d->sock);
		mig_unref(ctx);
		if (r == 0)
			return 0;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid)
			return -ECHILD;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

int daemon_start(struct daemon *d, const char *config)
{
	return start(d, config, false);
}

int daemon_start_logged(struct daemon *d, const char *config)
{
	return start(d, config, true);
}

int daemon_baseline(const struct daemon *d)
{
	struct mig_ctx *ctx = mig_new();
	struct mig_status st = { 0 };
	int n = -EIO;

	if (!ctx || mig_connect(ctx, d->sock))
		goto out;
	/* Earlier connections may still be closing: wait them out. */
	for (int i = 0; i < 200; i++) {
		if (mig_status(ctx, &st) || st.clients == 1)
			break;
		usleep(10000);
	}
	if (st.clients == 1)
		n = count_fds(d->pid) - 2;	/* our socket and pidfd */
out:
	mig_unref(ctx);
	return n;
}

void daemon_stop(struct daemon *d)
{
	char conf[128];

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		waitpid(d->pid, NULL, 0);
		d->pid = 0;
	}
	snprintf(conf, sizeof(conf), "%s/migrd.conf", d->dir);
	unlink(conf);
	unlink(d->sock);
	snprintf(conf, sizeof(conf), "%s/migrd.sock.lock", d->dir);
	unlink(conf);
	snprintf(conf, sizeof(conf), "%s/migrd.state", d->dir);
	unlink(conf);
	if (d->log[0])
		unlink(d->log);
	rmdir(d->dir);
}

int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

int settled_fds(pid_t pid, int want)
{
	int n = count_fds(pid);

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = count_fds(pid);
	}
	if (n != want) {
		char cmd[96];

		fprintf(stderr, "migrd holds %d fds, expected %d:\n", n, want);
		snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd >&2", pid);
		if (system(cmd) < 0)
			perror("system");
	}
	return n;
}

const char *kvm_unavailable(void)
{
	static char why[128];
	struct mig_kvm_caps caps;
	int vm;

	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		snprintf(why, sizeof(why), "/dev/kvm is not usable: %s",
			 strerror(errno));
		return why;
	}
	vm = make_vm();
	if (vm < 0)
		return "KVM_CREATE_VM failed";
	mig_kvm_probe(vm, &caps);
	close(vm);
	if (!caps.guest_memfd ||
	    (caps.gmem_flags & (MIG_GMEM_MMAP | MIG_GMEM_INIT_SHARED)) !=
	    (MIG_GMEM_MMAP | MIG_GMEM_INIT_SHARED))
		return "the kernel lacks guest_memfd with MMAP|INIT_SHARED";
	return NULL;
}

int make_vm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm;

	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	close(kvm);
	return vm < 0 ? -errno : vm;
}

int make_gmem(int vm, uint64_t size)
{
	return mig_gmem_create(vm, size, MIG_GMEM_MMAP | MIG_GMEM_INIT_SHARED);
}

void *map_fd(int fd, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ULL);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

void fill_pattern(void *p, uint64_t size, uint64_t seed)
{
	uint64_t *w = p;

	for (uint64_t i = 0; i < size / 8; i++)
		w[i] = word(seed, i);
}

bool check_pattern(const void *p, uint64_t size, uint64_t seed)
{
	const uint64_t *w = p;

	for (uint64_t i = 0; i < size / 8; i++)
		if (w[i] != word(seed, i))
			return false;
	return true;
}

struct mig_ctx *connect_as_owner(const struct daemon *d, const char *name)
{
	struct mig_ctx *ctx = mig_new();

	if (!ctx || mig_connect(ctx, d->sock))
		return mig_unref(ctx);
	if (name && mig_register(ctx, name, NULL, getpid(), -1, NULL))
		return mig_unref(ctx);
	return ctx;
}

int claim_successor_loads(const struct daemon *d, struct mig_ctx *ctx,
			  const char *vm, uint64_t sid,
			  const struct mig_state_format *loads,
			  unsigned int nloads, struct mig_handoff **h)
{
	struct mig_ctx *mgmt = connect_as_owner(d, NULL);
	struct mig_token t;
	int r = mgmt ? mig_grant_successor(mgmt, vm, &t) : -ENOMEM;

	mig_unref(mgmt);
	return r ? r : mig_claim_ex(ctx, sid, t.bytes, sizeof(t.bytes), loads,
				    nloads, h);
}

int claim_successor(const struct daemon *d, struct mig_ctx *ctx,
		    const char *vm, uint64_t sid, struct mig_handoff **h)
{
	return claim_successor_loads(d, ctx, vm, sid, NULL, 0, h);
}

struct mig_region gmem_region(int fd, uint64_t size)
{
	struct mig_region r = {
		.name = "ram",
		.gpa = 0,
		.size = size,
		.kind = MIG_REGION_GMEM,
		.fd = fd,
	};

	return r;
}
