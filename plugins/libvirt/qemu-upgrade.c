// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl upgrade DOMAIN --emulator PATH: an unmodified QEMU under
 * libvirt, replaced by a new QEMU binary with the guest's memory handed
 * over by migrd, never copied.
 *
 * migrd adopts the old QEMU's memfds and the fds libvirt gave it; we
 * claim them with the successor token, stop libvirt's daemon (it would
 * tear the domain down when the old QEMU exits, and it reconnects to the
 * pid its status file names when it starts), start the new QEMU as
 * libvirt started the old one but on the handed-over fds, let QEMU's own
 * migration move the device state with x-ignore-shared over the channel
 * migrd made, and commit. Exactly one QEMU runs the guest: the new one
 * is started paused (-S) and runs only after migrd recorded the commit;
 * until then any failure resumes the old one (paused in postmigrate,
 * never gone), after it the old one is SIGKILLed (a clean quit would
 * unlink the monitor socket's path under libvirt).
 *
 * A guard process, forked before the daemon is stopped and in a session
 * of its own, finishes the swap one way or the other if migctl dies
 * mid-way: it is told each step over a pipe, and EOF without "done"
 * means migctl is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "json.h"
#include "mig-util.h"
#include "qemu.h"
#include "qmp.h"
#include "upgrade.h"

#define STATUS_DIR	"/run/libvirt/qemu"
#define QMP_MS		30000

struct swap {
	const char *uri, *domain, *emulator;
	unsigned int timeout_s;
	unsigned int lock_wait_s;	/* for the host lock; 0: as long as it takes */
	bool copy;			/* QEMU copies the RAM: for comparison */
	bool if_needed;			/* nothing to do if it runs emulator */
	int lock_fd;			/* the host's QEMU-upgrade lock */
	bool paused;			/* the guest was paused: it stays so */
	char name[256];
	char uuid[VIR_UUID_STRING_BUFLEN];
	unsigned long libvirt;
	struct status_file st;
	struct qemu_proc old;
	int old_pidfd;
	struct mgmt_daemon dmn;
	uint64_t session;
	struct mig_handoff *h;
	pid_t new_pid;
	int new_pidfd;
	struct qmp qo, qn;
	int guard_fd;
	pid_t guard;
	int mig_at;			/* the channel's number in the new QEMU */
	char err[512];
	/* What it cost. */
	uint64_t t0, t_moved, t_running, downtime_qemu, bytes;
};

static void step(struct swap *s, const char *what)
{
	const char *stop = getenv("MIGCTL_QEMU_STOP_AT");

	if (s->guard_fd >= 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "%s\n", what);

		if (write(s->guard_fd, line, (size_t)n) < 0)
			fprintf(stderr, "migctl: the guard is gone: %s\n",
				strerror(errno));
	}
	/* Fault injection for the kill matrix: stop here, be killed. */
	if (stop && strcmp(stop, what) == 0) {
		fprintf(stderr, "migctl: stopped at %s\n", what);
		raise(SIGSTOP);
	}
}

/* ---- before anything changes: what we refuse --------------------------- */

static bool known_libvirt(unsigned long v)
{
	/* Status files read and written by this migctl: libvirt 9.0, 11.3. */
	return (v >= 9000000 && v < 9001000) || (v >= 11003000 && v < 11004000);
}

static int look_up(struct swap *s)
{
	virConnectPtr c = virConnectOpen(s->uri ? s->uri : "qemu:///system");
	virDomainPtr d = NULL;
	char *xml = NULL;
	int r = -1;

	if (!c) {
		snprintf(s->err, sizeof(s->err), "cannot reach libvirt at %s",
			 s->uri ? s->uri : "qemu:///system");
		return -1;
	}
	d = virDomainLookupByName(c, s->domain);
	if (!d)
		d = virDomainLookupByUUIDString(c, s->domain);
	if (!d)
		snprintf(s->err, sizeof(s->err), "libvirt has no domain %s",
			 s->domain);
	else if (virDomainIsActive(d) != 1)
		snprintf(s->err, sizeof(s->err), "domain %s is not running",
			 s->domain);
	else if (virConnectGetLibVersion(c, &s->libvirt) < 0 ||
		 !known_libvirt(s->libvirt))
		snprintf(s->err, sizeof(s->err), "libvirt %lu.%lu.%lu keeps a status file this migctl does not know (it knows 9.0 and 11.3); nothing was changed",
			 s->libvirt / 1000000, s->libvirt / 1000 % 1000,
			 s->libvirt % 1000);
	else if (!(xml = virDomainGetXMLDesc(d, 0)))
		snprintf(s->err, sizeof(s->err), "cannot read domain %s's XML",
			 s->domain);
	else if (!strstr(xml, "<source type='memfd'/>") ||
		 !strstr(xml, "<access mode='shared'/>"))
		snprintf(s->err, sizeof(s->err), "domain %s's RAM is not shared memfd memory, which a new QEMU could take over; give it <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>",
			 s->domain);
	else if (strncmp(s->uri ? s->uri : "qemu:///system", "qemu:///system", 14))
		snprintf(s->err, sizeof(s->err), "only qemu:///system domains can be upgraded this way");
	else {
		mig_strlcpy(s->name, virDomainGetName(d), sizeof(s->name));
		virDomainGetUUIDString(d, s->uuid);
		r = 0;
	}
	free(xml);
	if (d)
		virDomainFree(d);
	virConnectClose(c);
	return r;
}

static int check_emulator(struct swap *s)
{
	struct stat st;

	if (stat(s->emulator, &st) < 0 || !S_ISREG(st.st_mode) ||
	    access(s->emulator, X_OK) < 0) {
		snprintf(s->err, sizeof(s->err), "%s is not an executable file; nothing was changed",
			 s->emulator);
		return -1;
	}
	return 0;
}

static enum mig_device_kind fd_kind(pid_t pid, int fd)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return MIG_DEVICE_OTHER;
	link[n] = '\0';
	if (strncmp(link, "socket:", 7) == 0)
		return MIG_DEVICE_SOCKET;
	if (strncmp(link, "pipe:", 5) == 0)
		return MIG_DEVICE_PIPE;
	if (strcmp(link, "/dev/net/tun") == 0)
		return MIG_DEVICE_TAP;
	if (strncmp(link, "/dev/vhost-", 11) == 0)
		return MIG_DEVICE_VHOST;
	return MIG_DEVICE_OTHER;
}

/* migrd takes the memfds and libvirt's fds from the old QEMU. */
static int adopt(struct mig_ctx *ctx, struct swap *s)
{
	struct mig_region reg[MIG_REGIONS_MAX] = { 0 };
	struct mig_device dev[MIG_DEVICES_MAX] = { 0 };
	struct mig_offer_args a = { .regions = reg, .devices = dev,
				    .vm_fd = -1 };
	struct mig_token t;
	uint64_t gpa = 0;
	int r;

	for (unsigned int i = 0; i < s->old.nbe; i++) {
		mig_strlcpy(reg[i].name, s->old.be[i].id, sizeof(reg[i].name));
		/* QEMU lays its RAM out itself: the gpa is only a label. */
		reg[i].gpa = gpa;
		reg[i].size = s->old.be[i].size;
		reg[i].kind = MIG_REGION_MEMFD;
		reg[i].fd = s->old.be[i].fd;
		gpa += reg[i].size;
	}
	a.nregions = s->old.nbe;
	for (int fd = 1; fd <= 2; fd++) {
		snprintf(dev[a.ndevices].name, MIG_NAME_MAX, "%s",
			 fd == 1 ? "stdout" : "stderr");
		dev[a.ndevices].kind = fd_kind(s->old.pid, fd);
		dev[a.ndevices++].fd = fd;
	}
	for (unsigned int i = 0; i < s->old.naddfd; i++) {
		if (a.ndevices == MIG_DEVICES_MAX - 2)
			break;
		snprintf(dev[a.ndevices].name, MIG_NAME_MAX, "fd%d",
			 s->old.addfd[i].fd);
		dev[a.ndevices].kind = fd_kind(s->old.pid, s->old.addfd[i].src);
		dev[a.ndevices++].fd = s->old.addfd[i].src;
	}
	for (unsigned int i = 0; i < s->old.nfds; i++) {
		if (a.ndevices == MIG_DEVICES_MAX - 2) {
			snprintf(s->err, sizeof(s->err), "QEMU holds too many fds from libvirt");
			return -1;
		}
		snprintf(dev[a.ndevices].name, MIG_NAME_MAX, "fd%d",
			 s->old.fds[i]);
		dev[a.ndevices].kind = fd_kind(s->old.pid, s->old.fds[i]);
		dev[a.ndevices++].fd = s->old.fds[i];
	}
	r = mig_grant_successor(ctx, s->uuid, &t);
	if (!r)
		r = mig_adopt(ctx, s->uuid, &a, sizeof(a), &s->session);
	if (!r)
		r = mig_claim(ctx, s->session, t.bytes, sizeof(t.bytes), &s->h);
	explicit_bzero(&t, sizeof(t));
	if (r) {
		snprintf(s->err, sizeof(s->err), "migrd: %s",
			 *mig_last_error(ctx) ? mig_last_error(ctx) : strerror(-r));
		if (s->session)
			mig_abort(ctx, s->session, "adoption failed");
		return -1;
	}
	return 0;
}

static int device_fd(const struct mig_handoff *h, const char *name)
{
	for (unsigned int i = 0; i < h->ndevices; i++)
		if (strcmp(h->devices[i].name, name) == 0)
			return h->devices[i].fd;
	return -1;
}

static int call(struct swap *s, struct qmp *q, const char *who,
		const char *cmd, int fd, char *out, size_t len);

/*
 * QEMU's run state ("running", "paused", "inmigrate", ...). Not a search
 * of the reply for a word: query-status also has a "running" key, true
 * or false.
 */
static int vm_status(struct swap *s, struct qmp *q, const char *who,
		     char *st, size_t len)
{
	char out[512];

	if (call(s, q, who, "{\"execute\":\"query-status\"}\n", -1, out,
		 sizeof(out)))
		return -1;
	qmp_str(out, "status", st, len);
	return 0;
}

/* ---- the new QEMU -------------------------------------------------------- */

static int start_new(struct swap *s)
{
	struct spawn sp = { .old = s->old.pid, .env = s->old.env,
			    .envlen = s->old.envlen };
	int qmp[2], top = 2, r;

	for (unsigned int i = 0; i < s->h->nregions && !s->copy; i++) {
		sp.fds[sp.n] = s->h->regions[i].fd;
		sp.at[sp.n++] = s->old.be[i].fd;
		top = top > s->old.be[i].fd ? top : s->old.be[i].fd;
	}
	for (unsigned int i = 0; i < s->h->ndevices; i++) {
		const struct mig_device *d = &s->h->devices[i];
		int at = -1;

		if (strcmp(d->name, "stdout") == 0)
			at = 1;
		else if (strcmp(d->name, "stderr") == 0)
			at = 2;
		else if (strncmp(d->name, "fd", 2) == 0)
			at = atoi(d->name + 2);
		if (at < 0)
			continue;
		sp.fds[sp.n] = d->fd;
		sp.at[sp.n++] = at;
		top = top > at ? top : at;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
		snprintf(s->err, sizeof(s->err), "socketpair: %s", strerror(errno));
		return -1;
	}
	/* The migration's end and the private monitor, above the rest. */
	sp.fds[sp.n] = device_fd(s->h, "migration.destination");
	sp.at[sp.n++] = s->mig_at = top + 1;
	sp.fds[sp.n] = qmp[1];
	sp.at[sp.n++] = top + 2;
	sp.argv = qemu_new_argv(&s->old, s->emulator, top + 2, s->copy);
	if (!sp.argv) {
		close(qmp[0]);
		close(qmp[1]);
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	r = qemu_spawn(&sp, &s->new_pid, s->err, sizeof(s->err));
	close(qmp[1]);
	for (int i = 0; sp.argv[i]; i++)
		free(sp.argv[i]);
	free(sp.argv);
	if (r) {
		close(qmp[0]);
		return -1;
	}
	s->new_pidfd = mig_pidfd_open(s->new_pid);
	{
		char line[32];

		snprintf(line, sizeof(line), "new %d", s->new_pid);
		step(s, line);
	}
	if (qmp_open_fd(&s->qn, qmp[0], QMP_MS)) {
		snprintf(s->err, sizeof(s->err), "the new QEMU (pid %d) did not start; see the domain's log under /var/log/libvirt/qemu",
			 s->new_pid);
		return -1;
	}
	return 0;
}

/* ---- QEMU's own migration, with x-ignore-shared -------------------------- */

static int call(struct swap *s, struct qmp *q, const char *who,
		const char *cmd, int fd, char *out, size_t len)
{
	char reply[4096];
	int r = qmp_call(q, cmd, fd, out ? out : reply, out ? len : sizeof(reply),
			 QMP_MS);

	if (r)
		snprintf(s->err, sizeof(s->err), "%s QEMU refused %.*s: %.200s",
			 who, (int)strcspn(cmd, "\n"), cmd,
			 r == -EIO ? (out ? out : reply) : strerror(-r));
	return r;
}

static const char caps[] = "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"x-ignore-shared\",\"state\":true}]}}\n";

/* Poll until QEMU's status leaves the ones in busy; it in st. */
static int settle(struct swap *s, struct qmp *q, const char *who,
		  const char *cmd, const char *const *busy, char *st,
		  size_t len, char *out, size_t outlen)
{
	uint64_t end = mig_mono_ms() + (uint64_t)s->timeout_s * 1000;

	for (;;) {
		bool wait = false;

		if (call(s, q, who, cmd, -1, out, outlen))
			return -1;
		qmp_str(out, "status", st, len);
		for (int i = 0; busy[i]; i++)
			wait |= strcmp(st, busy[i]) == 0;
		if (!wait)
			return 0;
		if (mig_mono_ms() > end) {
			snprintf(s->err, sizeof(s->err), "%s QEMU still %s after %u s",
				 who, st, s->timeout_s);
			return -1;
		}
		usleep(1000);
	}
}

static int migrate(struct swap *s)
{
	static const char *const active[] = { "setup", "active", "device",
		"pre-switchover", "wait-unplug", "cancelling", NULL };
	static const char *const incoming[] = { "inmigrate", NULL };
	char cmd[256], out[4096], st[32];

	if ((!s->copy && (call(s, &s->qo, "the old", caps, -1, NULL, 0) ||
			  call(s, &s->qn, "the new", caps, -1, NULL, 0))) ||
	    call(s, &s->qo, "the old", "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":107374182400,\"downtime-limit\":300}}\n",
		 -1, NULL, 0))
		return -1;
	snprintf(cmd, sizeof(cmd), "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"fd:%d\"}}\n",
		 s->mig_at);
	if (call(s, &s->qn, "the new", cmd, -1, NULL, 0) ||
	    call(s, &s->qo, "the old", "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"migrd-migration\"}}\n",
		 device_fd(s->h, "migration.source"), NULL, 0) ||
	    call(s, &s->qo, "the old", "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:migrd-migration\"}}\n",
		 -1, NULL, 0))
		return -1;
	step(s, "migrating");
	if (settle(s, &s->qo, "the old", "{\"execute\":\"query-migrate\"}\n",
		   active, st, sizeof(st), out, sizeof(out)))
		return -1;
	if (strcmp(st, "completed")) {
		snprintf(s->err, sizeof(s->err), "QEMU's migration ended %s", st);
		return -1;
	}
	s->downtime_qemu = qmp_num(out, "downtime");
	s->bytes = qmp_num(out, "transferred");
	/* The new QEMU has loaded it all once it is out of "inmigrate". */
	if (settle(s, &s->qn, "the new", "{\"execute\":\"query-status\"}\n",
		   incoming, st, sizeof(st), out, sizeof(out)))
		return -1;
	if (strcmp(st, "paused")) {
		snprintf(s->err, sizeof(s->err), "the new QEMU is %s, not paused, after the migration", st);
		return -1;
	}
	s->t_moved = mig_mono_ms();
	return 0;
}

/* ---- both ways out ------------------------------------------------------- */

/* Kill one QEMU and see it gone: then only the other holds the listener. */
static void kill_wait(int pidfd)
{
	if (pidfd < 0)
		return;
	pidfd_kill(pidfd, SIGKILL);
	pidfd_wait_exit(pidfd, 30000);
}

/* The QEMU left on the monitor's path runs the guest (cont). */
static int resume_survivor(const struct swap *s, bool cancel, bool paused)
{
	struct qmp q = { .fd = -1 };
	char out[4096], st[32];
	int r = qmp_open_path(&q, s->st.monitor, QMP_MS);

	if (r)
		return r;
	if (cancel)
		qmp_call(&q, "{\"execute\":\"migrate_cancel\"}\n", -1, out,
			 sizeof(out), QMP_MS);
	for (int i = 0; i < 3000; i++) {
		qmp_call(&q, "{\"execute\":\"query-migrate\"}\n", -1, out,
			 sizeof(out), QMP_MS);
		qmp_str(out, "status", st, sizeof(st));
		if (strcmp(st, "active") && strcmp(st, "cancelling") &&
		    strcmp(st, "setup") && strcmp(st, "device"))
			break;
		usleep(10000);
	}
	r = qmp_call(&q, "{\"execute\":\"query-status\"}\n", -1, out,
		     sizeof(out), QMP_MS);
	qmp_str(out, "status", st, sizeof(st));
	/* From postmigrate a paused guest goes back to plain paused. */
	if (!r && strcmp(st, "running") && (!paused || strcmp(st, "paused")))
		r = qmp_call(&q, "{\"execute\":\"cont\"}\n", -1, out,
			     sizeof(out), QMP_MS);
	if (!r && paused)
		r = qmp_call(&q, "{\"execute\":\"stop\"}\n", -1, out,
			     sizeof(out), QMP_MS);
	qmp_close(&q);
	return r;
}

struct guard_seen {
	bool stopped, commit, done, paused;
	pid_t new_pid;
	int new_pidfd;
};

/* migctl is gone, or failed: bring the host back to one running QEMU. */
static int recover(struct swap *s, const struct guard_seen *g)
{
	bool commit = g->commit;
	int r;

	if (!commit && s->session) {
		struct mig_ctx *ctx = mig_new();
		struct mig_list *l = NULL;
		char id[32];

		snprintf(id, sizeof(id), "%" PRIu64, s->session);
		if (ctx && !mig_connect(ctx, NULL) && !mig_show(ctx, id, &l) &&
		    l->nsessions && l->sessions[0].state == MIG_STATE_COMMITTED)
			commit = true;
		else if (ctx)
			mig_abort(ctx, s->session, "migctl failed or died before the commit");
		mig_list_free(l);
		mig_unref(ctx);
	}
	if (commit) {
		kill_wait(s->old_pidfd);
		r = resume_survivor(s, false, g->paused);
		if (!r)
			r = status_set_pid(&s->st, g->new_pid, s->err,
					   sizeof(s->err));
	} else {
		kill_wait(g->new_pidfd);
		r = resume_survivor(s, true, g->paused);
	}
	if (g->stopped && !daemon_running(&s->dmn) &&
	    daemon_start(&s->dmn, s->err, sizeof(s->err)))
		r = -1;
	fprintf(stderr, "migctl guard: domain %s %s (%s)\n", s->name,
		commit ? "finished on the new QEMU" : "resumed on the old QEMU",
		r ? "with errors" : "ok");
	return r ? 1 : commit ? 0 : 3;
}

static void guard_main(struct swap *s, int rfd)
{
	struct guard_seen g = { .new_pidfd = -1 };
	char buf[256];
	size_t len = 0;
	ssize_t n;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/*
	 * Nothing of migctl's but the pipe and the old QEMU's pidfd: the
	 * handed-over fds and migctl's connection to migrd must close when
	 * migctl dies, or neither QEMU nor migrd would see it. The host's
	 * upgrade lock stays held until the guard is done.
	 */
	for (int fd = 3; fd < 4096; fd++)
		if (fd != rfd && fd != s->old_pidfd && fd != s->lock_fd)
			close(fd);
	while ((n = read(rfd, buf + len, sizeof(buf) - 1 - len)) != 0) {
		char *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (strcmp(buf, "stopped") == 0)
				g.stopped = true;
			else if (strcmp(buf, "commit") == 0)
				g.commit = true;
			else if (strcmp(buf, "done") == 0)
				g.done = true;
			else if (strcmp(buf, "paused") == 0)
				g.paused = true;
			else if (sscanf(buf, "new %d", &g.new_pid) == 1)
				g.new_pidfd = mig_pidfd_open(g.new_pid);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
	}
	_exit(g.done ? 0 : recover(s, &g));
}

static int start_guard(struct swap *s)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	s->guard = fork();
	if (s->guard < 0)
		return -errno;
	if (s->guard == 0) {
		close(p[1]);
		guard_main(s, p[0]);
	}
	close(p[0]);
	s->guard_fd = p[1];
	return 0;
}

/* Hand the rest to the guard (EOF without done) and hear how it went. */
static int end_guard(struct swap *s, bool done)
{
	int st = 0;

	if (done)
		step(s, "done");
	mig_close_fds(&s->guard_fd, 1);
	while (waitpid(s->guard, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* ---- forward: the new QEMU runs the guest -------------------------------- */

static int finish(struct mig_ctx *ctx, struct swap *s)
{
	char out[512], st[32];

	if (mig_state_moved(ctx, s->session)) {
		snprintf(s->err, sizeof(s->err), "migrd: %s", mig_last_error(ctx));
		return -1;
	}
	step(s, "moved");
	/* The new QEMU still there, loaded and paused: else nothing to commit. */
	if (vm_status(s, &s->qn, "the new", st, sizeof(st)) ||
	    strcmp(st, "paused")) {
		snprintf(s->err, sizeof(s->err), "the new QEMU is gone or not paused before the commit");
		return -1;
	}
	if (mig_commit_successor(ctx, s->session, s->new_pidfd)) {
		snprintf(s->err, sizeof(s->err), "migrd did not record the commit: %s",
			 mig_last_error(ctx));
		return -1;
	}
	step(s, "commit");
	/* From here the guard only ever goes forward. */
	pidfd_kill(s->old_pidfd, SIGKILL);
	if (!s->paused && qmp_call(&s->qn, "{\"execute\":\"cont\"}\n", -1, out,
				   sizeof(out), QMP_MS))
		fprintf(stderr, "migctl: cont on the new QEMU: %s\n", out);
	s->t_running = mig_mono_ms();
	step(s, "running");
	pidfd_wait_exit(s->old_pidfd, 30000);
	qmp_close(&s->qo);
	qmp_close(&s->qn);
	if (status_set_pid(&s->st, s->new_pid, s->err, sizeof(s->err)) ||
	    daemon_start(&s->dmn, s->err, sizeof(s->err)))
		return 1;	/* the guard retries */
	return 0;
}

/* libvirt took the domain back and manages it. */
static int libvirt_has_it(struct swap *s)
{
	uint64_t end = mig_mono_ms() + 60000;

	while (mig_mono_ms() < end) {
		virConnectPtr c = virConnectOpen(s->uri ? s->uri : "qemu:///system");
		virDomainPtr d = c ? virDomainLookupByUUIDString(c, s->uuid) : NULL;
		virDomainInfo info;
		bool ok = d && virDomainGetInfo(d, &info) == 0 &&
			info.state == (s->paused ? VIR_DOMAIN_PAUSED :
				       VIR_DOMAIN_RUNNING);

		if (d)
			virDomainFree(d);
		if (c)
			virConnectClose(c);
		if (ok)
			return 0;
		usleep(100000);
	}
	snprintf(s->err, sizeof(s->err), "libvirt did not report domain %s running after its restart",
		 s->name);
	return -1;
}

/* libvirt prints every error by default; we say what went wrong. */
static void quiet(void *opaque, virErrorPtr err)
{
}

static int parse(int argc, char **argv, struct swap *s)
{
	bool lock_wait_set = false;

	s->timeout_s = 120;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t t;

		if (strcmp(argv[i], "--connect") == 0 && v)
			s->uri = argv[++i];
		else if (strcmp(argv[i], "--emulator") == 0 && v)
			s->emulator = argv[++i];
		else if (strcmp(argv[i], "--copy") == 0)
			s->copy = true;
		else if (strcmp(argv[i], "--if-needed") == 0)
			s->if_needed = true;
		else if (strcmp(argv[i], "--lock-wait") == 0 && v &&
			 !mig_parse_u64(v, &t) && t < 86400) {
			s->lock_wait_s = (unsigned int)t;
			lock_wait_set = true;
			i++;
		}
		else if (strcmp(argv[i], "--timeout") == 0 && v &&
			 !mig_parse_u64(v, &t) && t > 0 && t < 86400) {
			s->timeout_s = (unsigned int)t;
			i++;
		} else if (argv[i][0] != '-' && !s->domain)
			s->domain = argv[i];
		else
			return -EINVAL;
	}
	if (!lock_wait_set)
		s->lock_wait_s = s->timeout_s;
	return s->domain && s->emulator ? 0 : -EINVAL;
}

/*
 * One QEMU upgrade at a time on a host: each stops libvirt's daemon for
 * its swap, and a second one would find it stopped, or start it in the
 * middle of the first one's swap. A guard forked by the holder inherits
 * the lock, so a migctl killed mid-way keeps the host locked until its
 * guard has finished the swap.
 */
static int host_lock(struct swap *s)
{
	const char *path = access("/run/lock", W_OK) == 0 ?
		"/run/lock/migctl-qemu-upgrade.lock" :
		"/run/migctl-qemu-upgrade.lock";
	uint64_t end = mig_mono_ms() + (uint64_t)s->lock_wait_s * 1000;
	bool said = false;

	s->lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			  0600);
	if (s->lock_fd < 0) {
		snprintf(s->err, sizeof(s->err), "cannot open %s: %s", path,
			 strerror(errno));
		return -1;
	}
	while (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK ||
		    (s->lock_wait_s && mig_mono_ms() > end)) {
			snprintf(s->err, sizeof(s->err), "another QEMU upgrade holds %s (%s); nothing was changed",
				 path, strerror(errno == EWOULDBLOCK ? ETIMEDOUT : errno));
			return -1;
		}
		if (!said)
			fprintf(stderr, "migctl: %s waits for another QEMU upgrade on this host\n",
				s->domain);
		said = true;
		usleep(100000);
	}
	return 0;
}

bool qemu_runs(pid_t pid, const char *emulator)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	return pid > 0 && stat(path, &a) == 0 && stat(emulator, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Everything we refuse on, without changing anything. */
static int check(struct mig_ctx *ctx, struct swap *s)
{
	struct mig_list *l = NULL;
	pid_t owner = 0;

	if (check_emulator(s) || look_up(s) ||
	    status_read(STATUS_DIR, s->name, &s->st, s->err, sizeof(s->err)) ||
	    qemu_proc_read(s->st.pid, &s->old, s->err, sizeof(s->err)))
		return -1;
	if (!mig_show(ctx, s->uuid, &l) && l->nvms)
		owner = l->vms[0].owner_pid;
	mig_list_free(l);
	if (owner != s->st.pid) {
		snprintf(s->err, sizeof(s->err), "migrd's registration of %s names pid %d, libvirt's QEMU is pid %d (is the libvirt hook installed?)",
			 s->name, owner, s->st.pid);
		return -1;
	}
	return 0;
}

int qemu_upgrade_check(struct mig_ctx *ctx, const char *uri,
		       const char *domain, const char *emulator,
		       struct qemu_check *out)
{
	struct swap s = { .uri = uri, .domain = domain, .emulator = emulator,
			  .old_pidfd = -1, .new_pidfd = -1, .guard_fd = -1,
			  .lock_fd = -1 };
	int r = check(ctx, &s);

	mig_strlcpy(out->name, s.name[0] ? s.name : domain, sizeof(out->name));
	out->pid = s.st.pid;
	mig_strlcpy(out->why, s.err, sizeof(out->why));
	if (!r && qemu_runs(s.st.pid, emulator))
		r = 1;
	qemu_proc_free(&s.old);
	return r;
}

static int prepare(struct mig_ctx *ctx, struct swap *s)
{
	if (check(ctx, s))
		return -1;
	s->old_pidfd = mig_pidfd_open(s->st.pid);
	if (s->old_pidfd < 0 ||
	    daemon_find(&s->dmn, s->err, sizeof(s->err)))
		return -1;
	return 0;
}

/*
 * With the daemon stopped, the old QEMU's monitor is ours: what it keeps
 * in fdsets (-add-fd closed the fd libvirt passed), then the adoption.
 */
static int take_over(struct mig_ctx *ctx, struct swap *s)
{
	char out[8192], st[32];

	if (qmp_open_path(&s->qo, s->st.monitor, QMP_MS)) {
		snprintf(s->err, sizeof(s->err), "cannot talk to the old QEMU on %.300s",
			 s->st.monitor);
		return -1;
	}
	/* A guest paused by its user stays paused on the new QEMU. */
	if (vm_status(s, &s->qo, "the old", st, sizeof(st)))
		return -1;
	s->paused = strcmp(st, "running") != 0;
	if (s->paused)
		step(s, "paused");
	if (s->old.naddfd &&
	    (call(s, &s->qo, "the old", "{\"execute\":\"query-fdsets\"}\n",
		  -1, out, sizeof(out)) ||
	     qemu_addfd_resolve(&s->old, out, s->err, sizeof(s->err))))
		return -1;
	return adopt(ctx, s);
}

/* The swap, once migrd adopted the memory; 0, or the guard's verdict. */
static int swap(struct mig_ctx *ctx, struct swap *s)
{
	int r;

	if (start_guard(s)) {
		snprintf(s->err, sizeof(s->err), "cannot start the guard: %s",
			 strerror(errno));
		mig_abort(ctx, s->session, "no guard");
		return 1;
	}
	step(s, "guarded");
	step(s, "stopped");
	r = daemon_stop(&s->dmn, s->err, sizeof(s->err));
	/* Only the old QEMU holds the monitor's listener yet. */
	if (!r)
		r = take_over(ctx, s);
	if (!r) {
		step(s, "adopted");
		r = start_new(s);
	}
	if (!r)
		r = mig_ready(ctx, s->session) ? -1 : 0;
	if (!r) {
		step(s, "launched");
		r = migrate(s);
	}
	if (!r)
		r = finish(ctx, s);
	if (r < 0) {
		/* The guard resumes the old QEMU once nobody talks to it. */
		qmp_close(&s->qo);
		qmp_close(&s->qn);
		mig_abort(ctx, s->session, s->err);
		fprintf(stderr, "migctl: upgrade of %s called off: %s\n",
			s->name, s->err);
		return end_guard(s, false);
	}
	if (r > 0) {
		fprintf(stderr, "migctl: %s; the guard finishes it\n", s->err);
		return end_guard(s, false);
	}
	return end_guard(s, true);
}

/* The outcome for scripts (and for migctl upgrade --all). */
static void print_json(const struct swap *s, pid_t pid, bool already)
{
	struct json j;

	json_init(&j, stdout);
	json_open(&j, NULL, '{');
	json_str(&j, "domain", s->name);
	json_str(&j, "uuid", s->uuid);
	json_i64(&j, "qemu_pid", pid);
	json_str(&j, "emulator", s->emulator);
	if (already) {
		json_bool(&j, "already", true);
	} else {
		json_u64(&j, "downtime_ms", s->downtime_qemu);
		json_u64(&j, "resume_ms", s->t_running - s->t_moved);
		json_u64(&j, "total_ms", mig_mono_ms() - s->t0);
		json_u64(&j, "bytes", s->bytes);
	}
	json_close(&j, '}');
}

int migctl_upgrade_qemu(struct mig_ctx *ctx, int argc, char **argv,
			bool json)
{
	struct swap s = { .old_pidfd = -1, .new_pidfd = -1, .guard_fd = -1,
			  .lock_fd = -1, .qo = { .fd = -1 }, .qn = { .fd = -1 } };
	int r;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--all") == 0)
			return migctl_upgrade_all(ctx, argc, argv, json);
	if (parse(argc, argv, &s)) {
		fprintf(stderr, "migctl: upgrade needs [--connect URI] [--timeout S] [--lock-wait S] [--copy] [--if-needed] DOMAIN --emulator PATH\n");
		return 2;
	}
	if (!ctx)
		return 0;	/* only the command line was to be checked */
	virSetErrorFunc(NULL, quiet);
	s.t0 = mig_mono_ms();
	if (host_lock(&s) || prepare(ctx, &s)) {
		fprintf(stderr, "migctl: cannot upgrade %s: %s\n", s.domain, s.err);
		r = 1;
		goto out;
	}
	/* Checked under the lock: an upgrade that just ended counts. */
	if (s.if_needed && qemu_runs(s.st.pid, s.emulator)) {
		if (json)
			print_json(&s, s.st.pid, true);
		else
			printf("domain %s already runs %s (QEMU pid %d): nothing to do\n",
			       s.name, s.emulator, s.st.pid);
		r = 0;
		goto out;
	}
	r = swap(ctx, &s);
	/* Either way the daemon must have the domain back before we go. */
	if ((r == 0 || r == 3) && libvirt_has_it(&s))
		r = 1;
	if (r == 0 && json)
		print_json(&s, s.new_pid, false);
	else if (r == 0)
		printf("domain %s upgraded: QEMU pid %d -> %d (%s), downtime %" PRIu64 " ms in QEMU + %" PRIu64 " ms to resume, %" PRIu64 " bytes sent, %" PRIu64 " ms in all\n",
		       s.name, s.old.pid, s.new_pid, s.emulator, s.downtime_qemu,
		       s.t_running - s.t_moved, s.bytes, mig_mono_ms() - s.t0);
	else if (r == 3)
		fprintf(stderr, "migctl: the guest runs on in the old QEMU (pid %d)\n",
			s.old.pid);
	else
		fprintf(stderr, "migctl: %s\n", s.err);
out:
	mig_handoff_free(s.h);
	qemu_proc_free(&s.old);
	daemon_free(&s.dmn);
	mig_close_fds(&s.old_pidfd, 1);
	mig_close_fds(&s.new_pidfd, 1);
	mig_close_fds(&s.lock_fd, 1);
	return r == 3 ? 1 : r;
}
