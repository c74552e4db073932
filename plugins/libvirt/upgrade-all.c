// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl upgrade --all --emulator PATH: every running libvirt QEMU
 * domain of the host (or those named, or matching --match) moved onto a
 * new QEMU binary, one migctl upgrade per domain.
 *
 * First a plan, which changes nothing: per domain, the QEMU it runs now
 * and whether it will be upgraded, already runs PATH (the same file, by
 * device and inode: a binary replaced in place is a new file), or is
 * refused and why. --dry-run stops there. Then the upgrades, at most
 * --parallel at a time, each in a child migctl of its own process group
 * (a Ctrl-C reaches only us: we stop launching and let those in flight
 * finish, which their guards would do anyway) writing to files of its
 * own, not pipes (killed, we must not take a child down with SIGPIPE in
 * the middle of its swap), until --max-failures upgrades failed. Last, a
 * report.
 *
 * Run again after an interruption, it picks up exactly what is left:
 * the plan skips domains already on PATH, and each child checks that
 * again under the host's upgrade lock (--if-needed), so a domain whose
 * upgrade was still finishing when the plan was made is not upgraded
 * twice. Under one libvirt daemon the swaps themselves are serialized by
 * that lock (each stops the daemon for its swap); --parallel overlaps
 * the rest: the checks, the daemon's restart, libvirt taking the domain
 * back.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "json.h"
#include "mig-util.h"
#include "qemu.h"

#define MAX_PARALLEL	64
#define MAX_PATTERNS	32
#define REDRAW_MS	250
#define TMPDIR		"/tmp"

enum plan { PLAN_UPGRADE, PLAN_ALREADY, PLAN_REFUSED };
enum result {
	RES_PENDING, RES_RUNNING, RES_UPGRADED, RES_ALREADY, RES_FAILED,
	RES_REFUSED, RES_NOT_STARTED,
};

static const char *const plan_name[] = {
	[PLAN_UPGRADE] = "upgrade", [PLAN_ALREADY] = "already",
	[PLAN_REFUSED] = "refused",
};
static const char *const result_name[] = {
	[RES_PENDING] = "pending", [RES_RUNNING] = "running",
	[RES_UPGRADED] = "upgraded", [RES_ALREADY] = "already",
	[RES_FAILED] = "failed", [RES_REFUSED] = "refused",
	[RES_NOT_STARTED] = "not started",
};

struct vm {
	struct qemu_check c;		/* name, pid before, why refused */
	char exe[PATH_MAX];		/* what it ran before */
	enum plan plan;
	enum result res;
	pid_t child;
	int out, err;			/* the child's stdout and stderr */
	char obuf[2048], ebuf[2048];
	uint64_t t_start, t_end;
	long long pid_after, downtime_ms, resume_ms;
};

struct opts {
	const char *uri, *emulator, *timeout;
	const char *match[MAX_PATTERNS];
	unsigned int nmatch;
	char **names;			/* domains named on the command line */
	unsigned int nnames;
	unsigned int parallel, max_failures;
	bool dry_run;
};

struct run {
	struct vm *vms;
	unsigned int n, next, in_flight, failures;
	uint64_t t0;
	bool tty, stopping;
	unsigned int drawn;		/* lines of the last progress block */
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int parse_count(const char *v, unsigned int max, unsigned int *out)
{
	uint64_t n;

	if (!v || mig_parse_u64(v, &n) || n > max)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	o->parallel = 1;
	o->max_failures = 1;
	o->names = calloc((size_t)argc, sizeof(*o->names));
	if (!o->names)
		return -ENOMEM;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--all") == 0)
			continue;
		if (strcmp(a, "--dry-run") == 0) {
			o->dry_run = true;
			continue;
		}
		if (a[0] != '-') {
			o->names[o->nnames++] = argv[i];
			continue;
		}
		if (!v)
			return -EINVAL;
		i++;
		if (strcmp(a, "--emulator") == 0)
			o->emulator = v;
		else if (strcmp(a, "--connect") == 0)
			o->uri = v;
		else if (strcmp(a, "--timeout") == 0)
			o->timeout = v;
		else if (strcmp(a, "--match") == 0 && o->nmatch < MAX_PATTERNS)
			o->match[o->nmatch++] = v;
		else if (strcmp(a, "--parallel") == 0) {
			if (parse_count(v, MAX_PARALLEL, &o->parallel) ||
			    !o->parallel)
				return -EINVAL;
		} else if (strcmp(a, "--max-failures") == 0) {
			if (parse_count(v, UINT_MAX, &o->max_failures))
				return -EINVAL;
		} else
			return -EINVAL;
	}
	return o->emulator ? 0 : -EINVAL;
}

/* ---- the plan ----------------------------------------------------------- */

static bool selected(const struct opts *o, const char *name)
{
	if (!o->nmatch && !o->nnames)
		return true;
	for (unsigned int i = 0; i < o->nnames; i++)
		if (strcmp(o->names[i], name) == 0)
			return true;
	for (unsigned int i = 0; i < o->nmatch; i++)
		if (fnmatch(o->match[i], name, 0) == 0)
			return true;
	return false;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct vm *)a)->c.name,
		      ((const struct vm *)b)->c.name);
}

/* The running domains we were asked for, by name. */
static int select_domains(const struct opts *o, struct run *r)
{
	virConnectPtr c = virConnectOpen(o->uri ? o->uri : "qemu:///system");
	virDomainPtr *doms = NULL;
	int n;

	if (!c) {
		fprintf(stderr, "migctl: cannot reach libvirt at %s\n",
			o->uri ? o->uri : "qemu:///system");
		return -1;
	}
	n = virConnectListAllDomains(c, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		fprintf(stderr, "migctl: libvirt does not list its domains\n");
		virConnectClose(c);
		return -1;
	}
	r->vms = calloc((size_t)n + 1, sizeof(*r->vms));
	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);

		if (r->vms && name && selected(o, name))
			mig_strlcpy(r->vms[r->n++].c.name, name,
				    sizeof(r->vms[0].c.name));
		virDomainFree(doms[i]);
	}
	free(doms);
	virConnectClose(c);
	if (!r->vms)
		return -1;
	qsort(r->vms, r->n, sizeof(*r->vms), by_name);
	for (unsigned int i = 0; i < o->nnames; i++) {
		bool found = false;

		for (unsigned int k = 0; k < r->n; k++)
			found |= strcmp(r->vms[k].c.name, o->names[i]) == 0;
		if (!found) {
			fprintf(stderr, "migctl: no running domain %s; nothing was changed\n",
				o->names[i]);
			return -1;
		}
	}
	return 0;
}

static void plan_one(struct mig_ctx *ctx, const struct opts *o, struct vm *v)
{
	char name[sizeof(v->c.name)], path[64];
	ssize_t n;
	int r;

	mig_strlcpy(name, v->c.name, sizeof(name));
	r = qemu_upgrade_check(ctx, o->uri, name, o->emulator, &v->c);
	v->plan = r == 0 ? PLAN_UPGRADE : r > 0 ? PLAN_ALREADY : PLAN_REFUSED;
	v->res = v->plan == PLAN_REFUSED ? RES_REFUSED :
		 v->plan == PLAN_ALREADY ? RES_ALREADY : RES_PENDING;
	v->out = v->err = -1;
	v->pid_after = v->downtime_ms = v->resume_ms = -1;
	snprintf(path, sizeof(path), "/proc/%d/exe", v->c.pid);
	n = v->c.pid > 0 ? readlink(path, v->exe, sizeof(v->exe) - 1) : -1;
	v->exe[n > 0 ? n : 0] = '\0';
}

static void print_plan(const struct opts *o, const struct run *r, bool json)
{
	struct json j;

	if (!json) {
		printf("plan: %u domain%s onto %s, %u at a time%s\n", r->n,
		       r->n == 1 ? "" : "s", o->emulator, o->parallel,
		       o->max_failures ? "" : ", never stopping on failures");
		for (unsigned int i = 0; i < r->n; i++) {
			const struct vm *v = &r->vms[i];

			printf("  %-24s pid %-7d %-40s %s%s%s\n", v->c.name,
			       v->c.pid, v->exe[0] ? v->exe : "?",
			       v->plan == PLAN_ALREADY ? "already runs it" :
			       plan_name[v->plan],
			       v->plan == PLAN_REFUSED ? ": " : "",
			       v->plan == PLAN_REFUSED ? v->c.why : "");
		}
		fflush(stdout);
		return;
	}
	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_str(&j, "emulator", o->emulator);
	json_u64(&j, "parallel", o->parallel);
	json_u64(&j, "max_failures", o->max_failures);
	json_open(&j, "plan", '[');
	for (unsigned int i = 0; i < r->n; i++) {
		const struct vm *v = &r->vms[i];

		json_open(&j, NULL, '{');
		json_str(&j, "domain", v->c.name);
		json_i64(&j, "qemu_pid", v->c.pid);
		json_str(&j, "emulator_now", v->exe);
		json_str(&j, "plan", plan_name[v->plan]);
		if (v->plan == PLAN_REFUSED)
			json_str(&j, "why", v->c.why);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	putchar('\n');
	fflush(stdout);
}

/* ---- the upgrades --------------------------------------------------------- */

/* A file that is nobody's but ours and the child's: gone when closed. */
static int scratch_file(void)
{
	int fd = open(TMPDIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	return fd < 0 ? -errno : fd;
}

/* One child migctl: its own process group, stdout and stderr to files. */
static int launch(const struct opts *o, struct vm *v)
{
	const char *argv[16];
	int n = 0;

	argv[n++] = "migctl";
	argv[n++] = "--json";
	argv[n++] = "upgrade";
	argv[n++] = v->c.name;
	argv[n++] = "--emulator";
	argv[n++] = o->emulator;
	argv[n++] = "--if-needed";
	/* It queues behind the others for the host lock: no limit there. */
	argv[n++] = "--lock-wait";
	argv[n++] = "0";
	if (o->uri) {
		argv[n++] = "--connect";
		argv[n++] = o->uri;
	}
	if (o->timeout) {
		argv[n++] = "--timeout";
		argv[n++] = o->timeout;
	}
	argv[n] = NULL;
	v->out = scratch_file();
	v->err = scratch_file();
	if (v->out < 0 || v->err < 0)
		goto fail;
	v->child = fork();
	if (v->child < 0)
		goto fail;
	if (v->child == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		dup2(v->out, STDOUT_FILENO);
		dup2(v->err, STDERR_FILENO);
		execv("/proc/self/exe", (char **)argv);
		_exit(127);
	}
	v->t_start = mig_mono_ms();
	v->res = RES_RUNNING;
	return 0;
fail:
	mig_close_fds(&v->out, 1);
	mig_close_fds(&v->err, 1);
	return -1;
}

/* What the child wrote into fd, from the start, as a string. */
static void slurp(int *fd, char *buf, size_t len)
{
	ssize_t n = pread(*fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	mig_close_fds(fd, 1);
}

/*
 * Why the child failed: the reason it called the upgrade off with, else
 * its last line, without "migctl: ".
 */
static void child_error(struct vm *v, char *out, size_t len)
{
	static const char off[] = " called off: ";
	size_t n = strlen(v->ebuf);
	char *p = strstr(v->ebuf, off);

	while (n && v->ebuf[n - 1] == '\n')
		v->ebuf[--n] = '\0';
	if (p) {
		p += sizeof(off) - 1;
	} else {
		p = strrchr(v->ebuf, '\n');
		p = p ? p + 1 : v->ebuf;
		if (strncmp(p, "migctl: ", 8) == 0)
			p += 8;
	}
	if (!*p)
		p = "it failed without a word";
	mig_strlcpy(out, p, strcspn(p, "\n") + 1 < len ? strcspn(p, "\n") + 1 : len);
}

static long long num(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

static void ended(struct run *r, struct vm *v, int status)
{
	v->t_end = mig_mono_ms();
	r->in_flight--;
	slurp(&v->out, v->obuf, sizeof(v->obuf));
	slurp(&v->err, v->ebuf, sizeof(v->ebuf));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		v->res = strstr(v->obuf, "\"already\":true") ? RES_ALREADY :
			 RES_UPGRADED;
		v->pid_after = num(v->obuf, "qemu_pid");
		v->downtime_ms = num(v->obuf, "downtime_ms");
		v->resume_ms = num(v->obuf, "resume_ms");
		return;
	}
	v->res = RES_FAILED;
	if (WIFSIGNALED(status))
		snprintf(v->c.why, sizeof(v->c.why), "migctl was killed by signal %d",
			 WTERMSIG(status));
	else
		child_error(v, v->c.why, sizeof(v->c.why));
	r->failures++;
}

/* A child that ended: its outcome. */
static void reap(struct run *r, struct vm *v)
{
	int status;

	if (waitpid(v->child, &status, WNOHANG) == v->child)
		ended(r, v, status);
}

static unsigned int count(const struct run *r, enum result res)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < r->n; i++)
		n += r->vms[i].res == res;
	return n;
}

static void say_done(const struct run *r, const struct vm *v, unsigned int k)
{
	fprintf(stderr, "migctl: [%u/%u] %s: %s", k, r->n, v->c.name,
		result_name[v->res]);
	if (v->res == RES_UPGRADED)
		fprintf(stderr, " (QEMU pid %d -> %lld, %lld ms downtime + %lld ms to resume, %.1f s)",
			v->c.pid, v->pid_after, v->downtime_ms, v->resume_ms,
			(double)(v->t_end - v->t_start) / 1000);
	else if (v->res == RES_FAILED)
		fprintf(stderr, ": %s", v->c.why);
	fputc('\n', stderr);
}

/* Take the progress block off the terminal (a line goes there next). */
static void erase(struct run *r)
{
	for (unsigned int i = 0; i < r->drawn; i++)
		fputs("\033[A\033[2K", stderr);
	r->drawn = 0;
}

/* On a terminal: a line per domain in flight, then counts and an ETA. */
static void draw(struct run *r)
{
	uint64_t now = mig_mono_ms(), spent = 0;
	unsigned int done = 0, left = 0;

	if (!r->tty)
		return;
	erase(r);
	for (unsigned int i = 0; i < r->n; i++) {
		const struct vm *v = &r->vms[i];

		if (v->res == RES_UPGRADED || v->res == RES_FAILED) {
			done++;
			spent += v->t_end - v->t_start;
		}
		left += v->res == RES_PENDING || v->res == RES_RUNNING;
		if (v->res != RES_RUNNING)
			continue;
		fprintf(stderr, "  %-24s upgrading, %.1f s\n", v->c.name,
			(double)(now - v->t_start) / 1000);
		r->drawn++;
	}
	fprintf(stderr, "  %u upgraded, %u failed, %u to go", count(r, RES_UPGRADED),
		count(r, RES_FAILED), left);
	if (done && left)
		fprintf(stderr, ", about %" PRIu64 " s left",
			spent / done * left / (r->in_flight ? r->in_flight : 1) / 1000);
	fputs(r->stopping ? " (stopping: waiting for those in flight)\n" : "\n",
	      stderr);
	r->drawn++;
}

static bool may_launch(const struct opts *o, struct run *r)
{
	if (interrupted && !r->stopping) {
		r->stopping = true;
		erase(r);
		fprintf(stderr, "migctl: interrupted: no more upgrades start; %u in flight finish\n",
			r->in_flight);
	}
	if (o->max_failures && r->failures >= o->max_failures && !r->stopping) {
		r->stopping = true;
		erase(r);
		fprintf(stderr, "migctl: %u failed: no more upgrades start (--max-failures %u)\n",
			r->failures, o->max_failures);
	}
	return !r->stopping && r->in_flight < o->parallel;
}

static void run_all(const struct opts *o, struct run *r)
{
	unsigned int finished = 0;

	for (;;) {
		while (r->next < r->n && may_launch(o, r)) {
			struct vm *v = &r->vms[r->next++];

			if (v->res != RES_PENDING)
				continue;
			if (launch(o, v)) {
				v->res = RES_FAILED;
				snprintf(v->c.why, sizeof(v->c.why), "cannot start migctl: %s",
					 strerror(errno));
				r->failures++;
				erase(r);
				say_done(r, v, ++finished);
				continue;
			}
			r->in_flight++;
			if (!r->tty)
				fprintf(stderr, "migctl: %s: upgrading\n", v->c.name);
		}
		if (!r->in_flight)
			break;
		draw(r);
		usleep(REDRAW_MS * 1000);
		for (unsigned int i = 0; i < r->n; i++)
			if (r->vms[i].res == RES_RUNNING)
				reap(r, &r->vms[i]);
		for (unsigned int i = 0; i < r->n; i++) {
			struct vm *v = &r->vms[i];

			if (v->t_end && v->child) {
				erase(r);
				say_done(r, v, ++finished);
				v->child = 0;
			}
		}
	}
	for (unsigned int i = r->next; i < r->n; i++)
		if (r->vms[i].res == RES_PENDING)
			r->vms[i].res = RES_NOT_STARTED;
	erase(r);
}

/* ---- the report ----------------------------------------------------------- */

static void report(const struct opts *o, const struct run *r, bool json)
{
	uint64_t ms = mig_mono_ms() - r->t0;
	struct json j;

	if (!json) {
		printf("upgrade onto %s: %u upgraded, %u already on it, %u failed, %u refused, %u not started%s, %.1f s\n",
		       o->emulator, count(r, RES_UPGRADED), count(r, RES_ALREADY),
		       count(r, RES_FAILED), count(r, RES_REFUSED),
		       count(r, RES_NOT_STARTED), interrupted ? " (interrupted)" : "",
		       (double)ms / 1000);
		for (unsigned int i = 0; i < r->n; i++) {
			const struct vm *v = &r->vms[i];

			printf("  %-24s %-12s", v->c.name, result_name[v->res]);
			if (v->res == RES_UPGRADED)
				printf(" pid %d -> %lld, %lld ms downtime + %lld ms to resume, was %s",
				       v->c.pid, v->pid_after, v->downtime_ms,
				       v->resume_ms, v->exe);
			else if (v->res == RES_FAILED || v->res == RES_REFUSED)
				printf(" %s", v->c.why);
			putchar('\n');
		}
		return;
	}
	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_str(&j, "emulator", o->emulator);
	json_u64(&j, "upgraded", count(r, RES_UPGRADED));
	json_u64(&j, "already", count(r, RES_ALREADY));
	json_u64(&j, "failed", count(r, RES_FAILED));
	json_u64(&j, "refused", count(r, RES_REFUSED));
	json_u64(&j, "not_started", count(r, RES_NOT_STARTED));
	json_bool(&j, "interrupted", interrupted);
	json_u64(&j, "total_ms", ms);
	json_open(&j, "vms", '[');
	for (unsigned int i = 0; i < r->n; i++) {
		const struct vm *v = &r->vms[i];

		json_open(&j, NULL, '{');
		json_str(&j, "domain", v->c.name);
		json_str(&j, "plan", plan_name[v->plan]);
		json_str(&j, "result", result_name[v->res]);
		json_i64(&j, "pid_before", v->c.pid);
		json_str(&j, "emulator_before", v->exe);
		if (v->res == RES_UPGRADED) {
			json_i64(&j, "pid_after", v->pid_after);
			json_i64(&j, "downtime_ms", v->downtime_ms);
			json_i64(&j, "resume_ms", v->resume_ms);
			json_u64(&j, "upgrade_ms", v->t_end - v->t_start);
		}
		if (v->res == RES_FAILED || v->res == RES_REFUSED)
			json_str(&j, "why", v->c.why);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_close(&j, '}');
	putchar('\n');
}

int migctl_upgrade_all(struct mig_ctx *ctx, int argc, char **argv, bool json)
{
	struct opts o = { 0 };
	struct run r = { .t0 = mig_mono_ms(), .tty = isatty(STDERR_FILENO) };
	struct sigaction sa = { .sa_handler = on_signal };
	int rc;

	if (parse(argc, argv, &o)) {
		free(o.names);
		fprintf(stderr, "migctl: upgrade --all needs --emulator PATH [--match GLOB]... [DOMAIN]... [--dry-run] [--parallel N (1-%d)] [--max-failures N (0: never stop)] [--connect URI] [--timeout S]\n",
			MAX_PARALLEL);
		return 2;
	}
	if (!ctx) {
		free(o.names);
		return 0;	/* only the command line was to be checked */
	}
	if (access(o.emulator, X_OK) < 0) {
		fprintf(stderr, "migctl: %s is not an executable file; nothing was changed\n",
			o.emulator);
		free(o.names);
		return 1;
	}
	if (select_domains(&o, &r)) {
		free(o.names);
		free(r.vms);
		return 1;
	}
	for (unsigned int i = 0; i < r.n; i++)
		plan_one(ctx, &o, &r.vms[i]);
	if (o.dry_run || !json)
		print_plan(&o, &r, json);
	if (!o.dry_run) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		run_all(&o, &r);
		report(&o, &r, json);
	}
	rc = o.dry_run ? 0 : (count(&r, RES_FAILED) || count(&r, RES_REFUSED) ||
			       count(&r, RES_NOT_STARTED) || interrupted);
	free(o.names);
	free(r.vms);
	return rc;
}
