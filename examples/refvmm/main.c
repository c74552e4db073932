// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * refvmm: start a guest, or take one over from a running refvmm.
 *
 *   refvmm --name vm1 [--mem 1G] [--ram gmem|memfd]     boot a new guest
 *   MIG_TOKEN=... refvmm --take vm1 [--strategy auto|link|share|copy|memfd]
 *
 * The token comes from management (migctl grant vm1); it travels in the
 * environment, which other users cannot read, not on the command line,
 * which they can. A successor token continues vm1's guest; a rebind
 * token gives this VMM vm1's memory, zeroed, for a new guest.
 *
 * SIGUSR1 hands the guest to whichever refvmm takes it; SIGTERM stops.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest.h"
#include "vmm.h"

struct opts {
	const char *name;
	const char *take;
	const char *socket;
	const char *console;
	uint64_t mem;
	uint64_t low_mem;
	unsigned int vcpus;
	enum ram_kind ram;
	enum huge_kind huge;
	enum strategy strategy;
	int wait_ms;
	uint64_t seed;
	uint64_t stride;
	bool verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: refvmm --name NAME [--mem SIZE] [--ram gmem|memfd|private] [--seed N]\n"
		"       MIG_TOKEN=HEX refvmm --take NAME [--strategy auto|link|share|copy|memfd]\n"
		"Run a KVM guest whose memory can be handed to a new VMM via migrd.\n\n"
		"  -n, --name NAME      the VM's name, as registered with migrd\n"
		"  -t, --take NAME      become the new VMM of a running NAME, with the\n"
		"                       token of 'migctl grant NAME' in a pipe named by\n"
		"                       $MIG_TOKEN_FD, or in $MIG_TOKEN (wiped when read)\n"
		"  -m, --mem SIZE       guest memory, 2M to 16G in steps of 2M (default 1G)\n"
		"  -L, --low-mem SIZE   RAM below 4 GiB; the rest goes above 4 GiB, around\n"
		"                       the hole a PC has there (two regions on one fd)\n"
		"  -p, --vcpus N        1 to 8 vCPUs (default 1); a successor needs the same\n"
		"  -r, --ram KIND       gmem (default; host-mappable, Linux 6.18), memfd,\n"
		"                       or private (a protected VM whose RAM only the\n"
		"                       guest reads; upgrades need the link ioctl)\n"
		"  -H, --hugepages K    memfd RAM on huge pages: hugetlb (2 MiB pages of\n"
		"                       hugetlbfs: reserve them in /proc/sys/vm/nr_hugepages)\n"
		"                       or thp (shmem THP, with shmem_enabled \"advise\");\n"
		"                       a successor finds hugetlb by itself, thp it is told\n"
		"  -S, --strategy S     how to take the memory (default auto)\n"
		"  -w, --wait SECONDS   with --take: how long to wait for the offer\n"
		"                       (default 60); start the new VMM first and it\n"
		"                       sets up its VM before (pre-launch)\n"
		"      --seed N         the guest's pattern seed\n"
		"      --stride BYTES   the guest fills and checks one word per\n"
		"                       BYTES (default 4096; 8 checks every word)\n"
		"  -c, --console PATH   write the guest's console (a line per report)\n"
		"                       to PATH, a FIFO, pty or file; its fd goes to\n"
		"                       each successor, so a reader never reconnects\n"
		"  -s, --socket PATH    migrd's socket\n"
		"  -v, --verbose        print every guest report\n\n"
		"Signals: SIGUSR1 offers the guest for upgrade; SIGTERM stops.\n");
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;

	if (end == s)
		return -EINVAL;
	switch (*end) {
	case 'G': shift = 30; end++; break;
	case 'M': shift = 20; end++; break;
	case 'K': shift = 10; end++; break;
	}
	if (*end || v == 0 || v > (1ULL << (63 - shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* A decimal number from min to max, and nothing after it. */
static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* A split layout that fits: low RAM below all of it, the rest mapped. */
static int check_shape(const struct opts *o)
{
	if (o->huge && !o->take && o->ram != RAM_MEMFD) {
		fprintf(stderr, "refvmm: --hugepages is for --ram memfd: guest_memfd has no huge pages here.\n");
		return -EINVAL;
	}
	if (!o->low_mem)
		return 0;
	if (o->ram == RAM_PRIVATE || o->take) {
		fprintf(stderr, "refvmm: --low-mem is for a new gmem or memfd guest; a successor takes the layout it is handed.\n");
		return -EINVAL;
	}
	if (o->low_mem >= o->mem ||
	    HIGH_START + o->mem - o->low_mem > (uint64_t)MAX_GIB << 30) {
		fprintf(stderr, "refvmm: --low-mem must be below --mem, and what is left must fit under %d GiB above 4 GiB.\n",
			MAX_GIB - 4);
		return -EINVAL;
	}
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "take", required_argument, NULL, 't' },
		{ "mem", required_argument, NULL, 'm' },
		{ "low-mem", required_argument, NULL, 'L' },
		{ "vcpus", required_argument, NULL, 'p' },
		{ "ram", required_argument, NULL, 'r' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "hugepages", required_argument, NULL, 'H' },
		{ "seed", required_argument, NULL, 'x' },
		{ "stride", required_argument, NULL, 'y' },
		{ "socket", required_argument, NULL, 's' },
		{ "console", required_argument, NULL, 'c' },
		{ "wait", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ }
	};
	unsigned int n;
	int c;

	while ((c = getopt_long(argc, argv, "n:t:m:L:p:r:S:H:s:c:w:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o->name = optarg; break;
		case 't': o->take = optarg; break;
		case 's': o->socket = optarg; break;
		case 'c': o->console = optarg; break;
		case 'w':
			if (parse_uint(optarg, 1, 86400, &n)) {
				fprintf(stderr, "refvmm: --wait takes 1 to 86400 seconds.\n");
				return -EINVAL;
			}
			o->wait_ms = (int)n * 1000;
			break;
		case 'v': o->verbose = true; break;
		case 'x': o->seed = strtoull(optarg, NULL, 0); break;
		case 'y': o->stride = strtoull(optarg, NULL, 0); break;
		case 'h': usage(stdout); exit(0);
		case 'm':
			if (parse_size(optarg, &o->mem) || o->mem % (2 << 20) ||
			    o->mem > (uint64_t)MAX_GIB << 30) {
				fprintf(stderr, "refvmm: --mem must be 2M to 16G in steps of 2M.\n");
				return -EINVAL;
			}
			break;
		case 'L':
			if (parse_size(optarg, &o->low_mem) ||
			    o->low_mem % (2 << 20) || o->low_mem < 2 * FILL_START ||
			    o->low_mem > HOLE_START) {
				fprintf(stderr, "refvmm: --low-mem must be 2M to 4074M in steps of 2M.\n");
				return -EINVAL;
			}
			break;
		case 'p':
			if (parse_uint(optarg, 1, VCPUS_MAX, &o->vcpus)) {
				fprintf(stderr, "refvmm: --vcpus takes 1 to %d.\n",
					VCPUS_MAX);
				return -EINVAL;
			}
			break;
		case 'r':
			if (!strcmp(optarg, "gmem"))
				o->ram = RAM_GMEM;
			else if (!strcmp(optarg, "memfd"))
				o->ram = RAM_MEMFD;
			else if (!strcmp(optarg, "private"))
				o->ram = RAM_PRIVATE;
			else
				goto bad;
			break;
		case 'S':
			if (strategy_parse(optarg, &o->strategy))
				goto bad;
			break;
		case 'H':
			if (huge_parse(optarg, &o->huge))
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if ((!o->name && !o->take) || optind != argc)
		goto bad;
	return check_shape(o);
bad:
	usage(stderr);
	return -EINVAL;
}

static int boot(struct vmm *v, const struct opts *o)
{
	int r;

	v->mem_size = o->mem;
	v->low_size = o->low_mem;
	v->ram = o->ram;
	v->huge = o->huge;
	v->seed = o->seed;
	v->stride = o->stride;
	r = machine_memory_new(v);
	if (!r && v->ram != RAM_PRIVATE)
		r = machine_memory_bind(v, v->ram == RAM_GMEM ? v->mem_fd : -1);
	if (!r)
		r = machine_vcpu(v);
	if (!r)
		r = machine_boot(v);
	if (!r)
		r = vcpu_start(v);
	return r;
}

static int take(struct vmm *v, const struct opts *o, struct mig_ctx *ctx)
{
	uint8_t token[MIG_TOKEN_LEN];
	int r;

	/* Read once and wiped: nothing we start inherits it, and
	 * /proc/PID/environ does not show it. */
	if (mig_token_take(token)) {
		fprintf(stderr, "refvmm: --take needs the token of 'migctl grant %s' (64 hex digits) in a pipe named by MIG_TOKEN_FD, or in MIG_TOKEN.\n",
			o->take);
		return -EINVAL;
	}
	r = mig_connect(ctx, o->socket);
	if (r) {
		fprintf(stderr, "refvmm: cannot reach migrd: %s\n", strerror(-r));
		return r;
	}
	v->huge = o->huge;
	r = upgrade_as_dest(v, ctx, o->take, o->strategy, token, o->wait_ms);
	explicit_bzero(token, sizeof(token));
	return r;
}

/* SIGUSR1: try to hand over; true once the guest belongs to someone else. */
static bool handed_over(struct vmm *v, const struct opts *o, const char *name)
{
	struct mig_ctx *ctx = mig_new();
	int r = ctx ? mig_connect(ctx, o->socket) : -ENOMEM;

	if (r)
		fprintf(stderr, "refvmm: cannot reach migrd: %s\n", strerror(-r));
	else
		r = upgrade_as_source(v, ctx, name);
	mig_unref(ctx);
	return r == 0 || r == 1;
}

static int serve(struct vmm *v, const struct opts *o, const char *name)
{
	struct timespec tick = { .tv_sec = 1 };
	struct report rep;
	sigset_t set;
	int sig;

	if (vcpu_wait_reports(v, 0, 300000, &rep) || !rep.ok) {
		struct kvm_regs regs = { 0 };

		vcpu_pause(v);
		ioctl(v->vcpus[0].fd, KVM_GET_REGS, &regs);
		fprintf(stderr, "refvmm: the guest did not come up healthy: rip=0x%llx rcx=0x%llx rbx=0x%llx ok=%" PRIu64 "\n",
			regs.rip, regs.rcx, regs.rbx, rep.ok);
		return 1;
	}
	printf("running pid=%d name=%s mem=%" PRIu64 "MiB pages=%s counter=%"
	       PRIu64 "\n", getpid(), name, v->mem_size >> 20,
	       huge_name(v->huge), rep.counter);
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	for (;;) {
		sig = sigtimedwait(&set, NULL, &tick);
		if (v->fault)
			return 1;
		if (sig == SIGTERM || sig == SIGINT)
			return 0;
		if (sig == SIGUSR1 && handed_over(v, o, name)) {
			printf("handed over; exiting pid=%d\n", getpid());
			return 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .mem = 1ULL << 30, .seed = 0x5eed, .stride = 4096,
			  .wait_ms = 60000, .vcpus = 1 };
	struct vmm v = { .kvm = -1, .vm = -1, .mem_fd = -1, .low_fd = -1,
			 .console_fd = -1 };
	struct mig_ctx *ctx = NULL;
	sigset_t set;
	int r;

	if (parse(argc, argv, &o))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A console whose reader left must not kill the guest's VMM. */
	signal(SIGPIPE, SIG_IGN);
	if (o.console && o.take) {
		fprintf(stderr, "refvmm: --console is for a new guest; a successor takes its predecessor's.\n");
		return 2;
	}
	if (o.console && (r = console_open(&v, o.console))) {
		fprintf(stderr, "refvmm: cannot open the console %s: %s\n",
			o.console, strerror(-r));
		return 1;
	}
	/* Only the vCPU thread takes its kick; the main thread waits for
	 * the rest with sigtimedwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_mutex_init(&v.lock, NULL);
	pthread_cond_init(&v.cond, NULL);
	v.verbose = o.verbose;
	v.nvcpus = o.vcpus;
	for (unsigned int i = 0; i < VCPUS_MAX; i++)
		v.vcpus[i].fd = -1;
	/* A rebind destination boots its own guest with these. */
	v.seed = o.seed;
	v.stride = o.stride;

	r = machine_create(&v);
	if (r) {
		fprintf(stderr, "refvmm: cannot create a VM: %s\n", strerror(-r));
		return 1;
	}
	if (o.take) {
		ctx = mig_new();
		r = take(&v, &o, ctx);
		/* Ownership is held by our pidfd in migrd, not by this
		 * connection: done with it, like the source after a handoff. */
		ctx = mig_unref(ctx);
	} else {
		r = boot(&v, &o);
		if (r == -EINVAL && o.ram == RAM_PRIVATE)
			fprintf(stderr, "refvmm: --ram private needs KVM_X86_SW_PROTECTED_VM (CONFIG_KVM_SW_PROTECTED_VM) and at most %u MiB: %s\n",
				HOLE_START >> 20, strerror(-r));
		else if (r)
			fprintf(stderr, "refvmm: cannot boot: %s\n", strerror(-r));
	}
	if (!r)
		r = serve(&v, &o, o.name ? o.name : o.take);
	mig_unref(ctx);
	_exit(r ? 1 : 0);
}
