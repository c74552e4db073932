// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl upgrade: a live upgrade of a libvirt domain's VMM, its course.
 * libvirt says which domain this is and whether it still runs
 * (upgrade-watch.c); migrd says who owns its memory and issues the
 * successor token; the new VMM is started with the token in a pipe,
 * never in its environment (upgrade-launch.c). If the domain stops or
 * crashes before the commit, the session is aborted and the new VMM
 * killed, so the guest stays where it was. The result goes into the
 * domain's metadata, in a namespace of our own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "mig-util.h"
#include "upgrade-run.h"

static int parse(int argc, char **argv, struct opts *o)
{
	uint64_t t;
	int i;

	o->sig = SIGUSR1;
	o->timeout_s = 600;
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--connect") == 0 && v)
			o->uri = argv[++i];
		else if (strcmp(argv[i], "--log") == 0 && v)
			o->log = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && v &&
			 !mig_parse_u64(v, &t) && t > 0 && t < 86400) {
			o->timeout_s = (unsigned int)t;
			i++;
		}
		else if (strcmp(argv[i], "--signal") == 0 && v) {
			o->sig = strcmp(v, "none") == 0 ? 0 :
				strcmp(v, "USR2") == 0 ? SIGUSR2 :
				strcmp(v, "USR1") == 0 ? SIGUSR1 : -1;
			i++;
			if (o->sig < 0)
				return -EINVAL;
		} else if (argv[i][0] != '-' && !o->domain)
			o->domain = argv[i];
		else
			return -EINVAL;
	}
	if (!o->domain || i + 1 >= argc)
		return -EINVAL;
	o->cmd = argv + i + 1;
	return 0;
}

enum outcome { WAITING, COMMITTED, FAILED, STOPPED };

/* Field (1-based, after the command) of /proc/PID/stat, or -1. */
static long stat_field(pid_t pid, int field)
{
	char path[64], buf[1024], *p;
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	for (int i = 2; p && i < field; i++)
		p = strchr(p + 1, ' ');
	if (p && sscanf(p + 1, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Is the VM's new owner the VMM we started? It is, or descends from it,
 * or at least lives in the session we made for it: COMMAND may be a
 * wrapper that forks the real VMM, or one that exits after starting it.
 */
static bool ours(pid_t owner, pid_t leader)
{
	pid_t p = owner;

	for (int depth = 0; p > 1 && depth < 16; depth++) {
		if (p == leader)
			return true;
		p = (pid_t)stat_field(p, 4);		/* ppid */
	}
	return stat_field(owner, 6) == leader;		/* session */
}

static enum outcome progress(struct mig_ctx *ctx, struct run *r,
			     unsigned int upgrades_before)
{
	struct mig_list *l = NULL;
	enum outcome out = WAITING;
	int status;

	if (atomic_load(&r->stopped))
		return STOPPED;
	if (mig_show(ctx, r->uuid, &l) == 0 && l->nvms &&
	    l->vms[0].upgrades > upgrades_before &&
	    ours(l->vms[0].owner_pid, r->leader)) {
		r->vmm = l->vms[0].owner_pid;
		out = COMMITTED;
	}
	mig_list_free(l);
	/* A COMMAND that fails is the end; one that exits 0 may have left
	 * the VMM running (a wrapper): wait on for the commit then. */
	if (out == WAITING && r->child > 0 &&
	    waitpid(r->child, &status, WNOHANG) == r->child) {
		r->child = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			out = FAILED;
	}
	return out;
}

#ifdef MIGCTL_TEST_HOOKS
/*
 * Test hook, only in the test build (tests/migctl-test; never installed):
 * stop the domain through libvirt once the VMM has claimed. The test
 * driver lives in migctl's process, so only migctl can do it mid-way.
 */
static void test_stop_domain(struct mig_ctx *ctx, struct run *r)
{
	static bool done;
	struct mig_list *l = NULL;

	if (done || !getenv("MIGCTL_TEST_STOP_DOMAIN_AFTER_CLAIM"))
		return;
	if (mig_show(ctx, r->uuid, &l) == 0 && l->nvms && l->vms[0].session) {
		struct mig_list *s = NULL;
		char id[24];

		snprintf(id, sizeof(id), "%" PRIu64, l->vms[0].session);
		if (mig_show(ctx, id, &s) == 0 && s->nsessions &&
		    s->sessions[0].state >= MIG_STATE_CLAIMED) {
			virDomainDestroy(r->dom);
			done = true;
		}
		mig_list_free(s);
	}
	mig_list_free(l);
}
#else
static void test_stop_domain(struct mig_ctx *ctx, struct run *r)
{
}
#endif

static enum outcome wait_commit(struct mig_ctx *ctx, struct run *r,
				unsigned int before, unsigned int timeout_s)
{
	for (unsigned int ms = 0; ms < timeout_s * 1000; ms += 20) {
		enum outcome o = progress(ctx, r, before);

		if (o != WAITING)
			return o;
		test_stop_domain(ctx, r);
		usleep(20000);
	}
	return FAILED;
}

/* Called off: abort the open session (the source resumes), kill the VMM. */
static void call_off(struct mig_ctx *ctx, struct run *r, const char *why)
{
	struct mig_list *l = NULL;

	if (mig_show(ctx, r->uuid, &l) == 0 && l->nvms && l->vms[0].session)
		mig_abort(ctx, l->vms[0].session, why);
	mig_list_free(l);
	/* Its whole process group: a wrapper's VMM too. */
	if (r->leader > 0)
		kill(-r->leader, SIGKILL);
	if (r->child > 0)
		waitpid(r->child, NULL, 0);
}

static int record(struct run *r, unsigned int count, char *out, size_t len)
{
	char xml[512], when[32];
	time_t now = time(NULL);
	struct tm tm;
	char *back;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(xml, sizeof(xml),
		 "<upgrade count='%u' strategy='%s' downtime_us='%" PRIu64
		 "' total_ms='%.3f' time='%s' vmm_pid='%d'/>", count,
		 r->strategy[0] ? r->strategy : "unknown", r->downtime_us,
		 r->total_ms, when, r->vmm);
	if (virDomainSetMetadata(r->dom, VIR_DOMAIN_METADATA_ELEMENT, xml,
				 UPGRADE_NS_KEY, UPGRADE_NS_URI,
				 VIR_DOMAIN_AFFECT_LIVE) < 0)
		return -EIO;
	/* Read back through libvirt: what is recorded, not what we meant. */
	back = virDomainGetMetadata(r->dom, VIR_DOMAIN_METADATA_ELEMENT,
				    UPGRADE_NS_URI, VIR_DOMAIN_AFFECT_LIVE);
	if (!back)
		return -EIO;
	snprintf(out, len, "%s", back);
	free(back);
	return 0;
}

/* Ask migrd for the VM and a successor token; kick the source. */
static int prepare(struct mig_ctx *ctx, const struct opts *o, struct run *r,
		   struct mig_token *t, struct mig_vm_info *vm)
{
	struct mig_list *l = NULL;
	int e = mig_show(ctx, r->uuid, &l);

	if (e || !l->nvms) {
		mig_list_free(l);
		fprintf(stderr, "migctl: migrd has no VM with UUID %s (is the libvirt hook installed?).\n",
			r->uuid);
		return 4;
	}
	*vm = l->vms[0];
	mig_list_free(l);
	e = mig_grant_successor(ctx, r->uuid, t);
	if (e) {
		fprintf(stderr, "migctl: no successor token: %s\n",
			*mig_last_error(ctx) ? mig_last_error(ctx) : strerror(-e));
		return 1;
	}
	if (o->sig && kill(vm->owner_pid, o->sig) < 0) {
		fprintf(stderr, "migctl: cannot signal the VMM (pid %d): %s\n",
			vm->owner_pid, strerror(errno));
		return 1;
	}
	return 0;
}

int migctl_upgrade(struct mig_ctx *ctx, int argc, char **argv, bool json)
{
	struct opts o = { 0 };
	struct run r = { .child = 0 };
	struct mig_vm_info vm;
	struct mig_token t;
	char log[4096], meta[1024];
	enum outcome out;
	int e, log_fd;

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (strcmp(argv[i], "--emulator") == 0)
			/* Without ctx it only checks its command line. */
			return migctl_upgrade_qemu(ctx, argc, argv, json);
	if (parse(argc, argv, &o)) {
		fprintf(stderr, "migctl: upgrade needs [--connect URI] [--signal USR1|USR2|none] [--timeout S] [--log FILE] DOMAIN -- COMMAND [ARG]...\n");
		return 2;
	}
	if (!ctx)
		return 0;	/* only the command line was to be checked */
	e = open_domain(&o, &r);
	/* Before the source is told anything: a bad log path changes nothing. */
	log_fd = e ? -1 : open_log(&o, log, sizeof(log));
	if (!e && log_fd < 0)
		e = 1;
	if (!e)
		e = prepare(ctx, &o, &r, &t, &vm);
	if (e) {
		if (log_fd >= 0)
			close(log_fd);
		close_domain(&r);
		return e;
	}
	if (start_vmm(&o, &t, log_fd, &r)) {
		explicit_bzero(&t, sizeof(t));
		call_off(ctx, &r, "the new VMM could not be started");
		close(log_fd);
		close_domain(&r);
		return 1;
	}
	close(log_fd);
	r.leader = r.child;
	explicit_bzero(&t, sizeof(t));
	out = wait_commit(ctx, &r, vm.upgrades, o.timeout_s);
	if (out != COMMITTED) {
		call_off(ctx, &r, out == STOPPED ? "the domain stopped" :
			 "the new VMM failed or timed out");
		fprintf(stderr, "migctl: upgrade of %s called off: %s; the guest stays with pid %d (log: %s)\n",
			o.domain, out == STOPPED ? "the domain stopped" :
			"the new VMM failed or timed out", vm.owner_pid, log);
		close_domain(&r);
		return out == STOPPED ? EXIT_DOMAIN_STOPPED : 1;
	}
	for (int i = 0; i < 100 && !r.strategy[0]; i++, usleep(20000))
		read_report(log, &r);
	e = record(&r, vm.upgrades + 1, meta, sizeof(meta));
	if (json)
		printf("{\"domain\":\"%s\",\"uuid\":\"%s\",\"vmm_pid\":%d,\"strategy\":\"%s\",\"downtime_us\":%" PRIu64 ",\"total_ms\":%.3f,\"upgrades\":%u}\n",
		       o.domain, r.uuid, r.vmm, r.strategy, r.downtime_us,
		       r.total_ms, vm.upgrades + 1);
	else
		printf("domain %s upgraded: new VMM pid %d, strategy %s, downtime %" PRIu64 " us, handoff %.1f ms\nmetadata: %s\nlog: %s\n",
		       o.domain, r.vmm, r.strategy[0] ? r.strategy : "?",
		       r.downtime_us, r.total_ms, e ? "(not recorded)" : meta,
		       log);
	if (e)
		fprintf(stderr, "migctl: cannot record the upgrade in the domain's metadata: %s\n",
			virt_error());
	close_domain(&r);
	return e ? 1 : 0;
}
