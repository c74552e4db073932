// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Integration: ADOPT, for a VMM that does not speak libmig. A real migrd
 * on a private socket; the "VMM" is a forked child of the test that
 * keeps its guest RAM on a memfd and a console on a pipe and otherwise
 * only sleeps, as an unmodified QEMU would look to migrd. No KVM is
 * needed: migrd takes the child's fds by their numbers in the child
 * (pidfd_getfd), which is the whole point of ADOPT.
 *
 * This process plays management (root, so admin) and the launcher of the
 * new VMM (the claimant). Each refusal is shown leaving nothing behind
 * and, on the same setup, the legitimate party shown succeeding, so a
 * test cannot pass by refusing everything.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "harness.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define SZ (2ULL << 20)
#define SEED 0xad0b7ULL
#define NOBODY 65534
/* exit_grace of the test's migrd: how long an old VMM may outlive a commit. */
#define GRACE_MS 1000
/* What a slow (sanitizer) build may add to a deadline of migrd's. */
#define SLACK_MS 3000

static struct daemon d;
static int baseline;

static void start(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: registering and adopting VMs is management's");
	/* World-connectable, so that an unprivileged user can try. */
	cr_assert_eq(daemon_start(&d, "socket_mode = 0666\n"
				  "offer_timeout = 20s\n"
				  "exit_grace = 1s\n"), 0);
	baseline = daemon_baseline(&d);
	cr_assert_geq(baseline, 0);
}

static void stop(void)
{
	/* A test that failed while migrd was stopped must not hang here. */
	if (d.pid > 0)
		kill(d.pid, SIGCONT);
	daemon_stop(&d);
}

TestSuite(adopt, .init = start, .fini = stop, .timeout = 30);

/* The fd numbers in the VMM, which management would read off its argv. */
struct vmm_fds {
	int memfd;		/* guest RAM, SZ bytes, filled with SEED */
	int console;		/* a pipe's write end: the console */
	int console_rd;		/* its read end, which the VMM echoes */
};

struct vmm {
	pid_t pid;
	int ctl;		/* ours: what reaches the console comes out */
	struct vmm_fds fd;
};

/*
 * The VMM, in the child: drops to @uid (0: stays root), makes its RAM and
 * console, says their numbers and echoes its console to @ctl forever.
 */
static void vmm_main(int ctl, uid_t uid)
{
	struct vmm_fds f;
	void *mem;
	int p[2];
	char c;

	if (uid && (setgid(uid) || setuid(uid)))
		_exit(2);
	/* After setuid(), which clears both. Dumpable: its own uid could
	 * take its fds itself, and still may not have migrd do it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 1);
	/* As QEMU's memory-backend-memfd makes guest RAM. */
	f.memfd = memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f.memfd < 0 || ftruncate(f.memfd, SZ) < 0)
		_exit(3);
	mem = map_fd(f.memfd, SZ);
	if (!mem)
		_exit(4);
	fill_pattern(mem, SZ, SEED);
	munmap(mem, SZ);
	if (pipe2(p, O_CLOEXEC) < 0)
		_exit(5);
	f.console_rd = p[0];
	f.console = p[1];
	if (write(ctl, &f, sizeof(f)) != sizeof(f))
		_exit(6);
	while (read(p[0], &c, 1) == 1)
		if (write(ctl, &c, 1) != 1)
			break;
	for (;;)
		pause();
}

static void vmm_start_as(struct vmm *v, uid_t uid)
{
	int sp[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sp), 0);
	v->pid = fork();
	cr_assert_geq(v->pid, 0);
	if (v->pid == 0) {
		close(sp[0]);
		vmm_main(sp[1], uid);
	}
	close(sp[1]);
	v->ctl = sp[0];
	cr_assert_eq(read(v->ctl, &v->fd, sizeof(v->fd)), sizeof(v->fd),
		     "the VMM child started");
}

static void vmm_start(struct vmm *v)
{
	vmm_start_as(v, 0);
}

/* SIGKILL and reap: the pid is gone for good afterwards. */
static void vmm_kill(struct vmm *v)
{
	if (v->pid > 0) {
		kill(v->pid, SIGKILL);
		waitpid(v->pid, NULL, 0);
		v->pid = 0;
	}
	if (v->ctl >= 0)
		close(v->ctl);
	v->ctl = -1;
}

static struct mig_ctx *manager(void)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);

	cr_assert_not_null(m, "a root connection to migrd");
	return m;
}

static void register_vmm(struct mig_ctx *m, const char *name,
			 const struct vmm *v, struct mig_vm_info *out)
{
	cr_assert_eq(mig_register(m, name, NULL, v->pid, -1, out), 0, "%s",
		     mig_last_error(m));
}

/* One MEMFD region of @size on fd number @ram, a PIPE device on @console
 * (none if < 0): numbers in the owner, as ADOPT takes them. */
static int adopt(struct mig_ctx *m, const char *vm, int ram, uint64_t size,
		 int console, uint64_t *sid)
{
	struct mig_region r = {
		.name = "pc.ram", .size = size, .kind = MIG_REGION_MEMFD,
		.fd = ram,
	};
	struct mig_device dev = {
		.name = "console", .kind = MIG_DEVICE_PIPE, .fd = console,
	};
	struct mig_offer_args a = {
		.regions = &r, .nregions = 1, .vm_fd = -1,
		.devices = &dev, .ndevices = console >= 0 ? 1 : 0,
	};

	return mig_adopt(m, vm, &a, sizeof(a), sid);
}

static int adopt_vmm(struct mig_ctx *m, const char *vm, const struct vmm *v,
		     uint64_t *sid)
{
	return adopt(m, vm, v->fd.memfd, SZ, v->fd.console, sid);
}

static const struct mig_device *find(const struct mig_handoff *h,
				     const char *name)
{
	for (unsigned int i = 0; i < h->ndevices; i++)
		if (strcmp(h->devices[i].name, name) == 0)
			return &h->devices[i];
	return NULL;
}

/* The session numbered @sid as migrd shows it; free with mig_list_free(). */
static struct mig_list *show_session(struct mig_ctx *m, uint64_t sid)
{
	struct mig_list *l = NULL;
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)sid);
	cr_assert_eq(mig_show(m, num, &l), 0, "session %s shown", num);
	cr_assert_eq(l->nsessions, 1);
	return l;
}

/* Who claimed session @sid, as migrd has it: its destination's pid. */
static pid_t session_dest(struct mig_ctx *m, uint64_t sid)
{
	struct mig_list *l = show_session(m, sid);
	pid_t pid = l->sessions[0].dest_pid;

	mig_list_free(l);
	return pid;
}

static enum mig_state session_state(struct mig_ctx *m, uint64_t sid)
{
	struct mig_list *l = show_session(m, sid);
	enum mig_state s = l->sessions[0].state;

	mig_list_free(l);
	return s;
}

static struct mig_vm_info show_vm(struct mig_ctx *m, const char *name)
{
	struct mig_vm_info vm;
	struct mig_list *l = NULL;

	cr_assert_eq(mig_show(m, name, &l), 0, "VM %s shown: %s", name,
		     mig_last_error(m));
	cr_assert_geq(l->nvms, 1);
	vm = l->vms[0];
	mig_list_free(l);
	return vm;
}

static bool registered(struct mig_ctx *m, const char *name)
{
	struct mig_list *l = NULL;
	int r = mig_show(m, name, &l);

	mig_list_free(l);
	return r == 0;
}

static bool wait_unregistered(struct mig_ctx *m, const char *name)
{
	for (int i = 0; i < 300 && registered(m, name); i++)
		usleep(10000);
	return !registered(m, name);
}

static unsigned int held_fds(struct mig_ctx *m)
{
	struct mig_status st;

	cr_assert_eq(mig_status(m, &st), 0);
	return st.open_fds;
}

/*
 * A refused adoption left nothing: no session on @vm (NULL: the VM is
 * gone altogether), no fd kept for one, and migrd's own fd table no
 * larger than @clients connections and @vms registrations explain
 * (an fd taken from the owner and not closed again would show there).
 */
static void expect_nothing_held(struct mig_ctx *m, const char *vm,
				int clients, int vms, const char *after)
{
	struct mig_status st;

	if (vm)
		cr_expect_eq(show_vm(m, vm).session, 0,
			     "after %s: VM %s has no session", after, vm);
	cr_assert_eq(mig_status(m, &st), 0);
	cr_expect_eq(st.sessions, 0, "after %s: %u sessions open", after,
		     st.sessions);
	cr_expect_eq(st.open_fds, 0, "after %s: migrd holds %u fds", after,
		     st.open_fds);
	cr_expect_eq(settled_fds(d.pid, baseline + clients * PER_CLIENT +
				 vms * PER_VM),
		     baseline + clients * PER_CLIENT + vms * PER_VM,
		     "after %s: migrd's fd table is as before", after);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Until /proc/PID/stat says @state, up to 2 s. */
static bool wait_proc_state(pid_t pid, char state)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (int i = 0; i < 200; i++) {
		f = fopen(path, "re");
		p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		if (f)
			fclose(f);
		if (p && p[1] == ' ' && p[2] == state)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * 1. migrd takes the owner's own memfd (not a copy: the same inode, the
 * guest's bytes in it) and console, and the claimant gets them with the
 * two ends of a stream channel for the VMMs' own migration.
 */
Test(adopt, adopt_takes_the_owners_memfd)
{
	struct mig_ctx *m = manager(), *l = manager();
	const struct mig_device *con, *src, *dst;
	struct mig_handoff *h = NULL;
	struct mig_list *li;
	struct stat want, got;
	socklen_t len;
	char path[64], buf[8] = "", c = 0;
	uint8_t *mem;
	struct vmm v;
	uint64_t sid = 0;
	int type;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	cr_assert_eq(adopt_vmm(m, "vm1", &v, &sid), 0, "%s",
		     mig_last_error(m));
	li = show_session(m, sid);
	cr_expect_eq(li->sessions[0].state, MIG_STATE_OFFERED);
	cr_expect_eq(li->sessions[0].source_pid, v.pid,
		     "the owner is the source");
	cr_expect_eq(li->sessions[0].mem_bytes, SZ);
	cr_expect_eq(li->sessions[0].nregions, 1);
	cr_expect_eq(li->sessions[0].ndevices, 1,
		     "the console; the channel comes with the claim");
	mig_list_free(li);
	cr_expect_eq(held_fds(m), 2, "migrd holds the memfd and the console");

	cr_assert_eq(claim_successor(&d, l, "vm1", sid, &h), 0, "%s",
		     mig_last_error(l));
	cr_expect_eq(held_fds(m), 0, "the claim took every fd migrd held");
	cr_expect_eq(h->grant, MIG_GRANT_SUCCESSOR);
	cr_expect_eq(h->vm_fd, -1, "an adopted VM has no VM fd to hand");
	cr_assert_eq(h->nregions, 1);
	cr_expect_eq(h->regions[0].kind, MIG_REGION_MEMFD);
	cr_expect_eq(h->regions[0].size, SZ);
	cr_assert_geq(h->regions[0].fd, 0);

	/* The owner's memfd itself, as /proc shows it in the owner. */
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", v.pid, v.fd.memfd);
	cr_assert_eq(stat(path, &want), 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(h->regions[0].fd, &got), 0);
	cr_expect(got.st_ino == want.st_ino && got.st_dev == want.st_dev,
		  "the handed fd is the owner's memfd (inode %lu, want %lu)",
		  (unsigned long)got.st_ino, (unsigned long)want.st_ino);
	mem = map_fd(h->regions[0].fd, SZ);
	cr_assert_not_null(mem);
	cr_expect(check_pattern(mem, SZ, SEED),
		  "the guest's bytes, as the owner wrote them");
	munmap(mem, SZ);

	/* Three devices: the owner's console and the channel's two ends. */
	cr_expect_eq(h->ndevices, 3, "%u devices", h->ndevices);
	con = find(h, "console");
	cr_assert_not_null(con, "the console is handed");
	cr_expect_eq(con->kind, MIG_DEVICE_PIPE);
	cr_assert_eq(write(con->fd, "x", 1), 1);
	cr_expect_eq(read(v.ctl, &c, 1), 1);
	cr_expect_eq(c, 'x', "what goes into it reaches the owner's pipe");

	src = find(h, "migration.source");
	dst = find(h, "migration.destination");
	cr_assert_not_null(src, "migration.source is handed");
	cr_assert_not_null(dst, "migration.destination is handed");
	cr_expect_eq(src->kind, MIG_DEVICE_SOCKET);
	cr_expect_eq(dst->kind, MIG_DEVICE_SOCKET);
	for (int i = 0; i < 2; i++) {
		len = sizeof(type);
		cr_assert_eq(getsockopt(i ? dst->fd : src->fd, SOL_SOCKET,
					SO_TYPE, &type, &len), 0);
		cr_expect_eq(type, SOCK_STREAM,
			     "%s: a byte stream, as a VMM's migration is",
			     i ? "destination" : "source");
	}
	/* Each end is the other's peer, both ways. */
	cr_assert_eq(write(src->fd, "state", 5), 5);
	cr_expect_eq(recv(dst->fd, buf, 5, MSG_WAITALL), 5);
	cr_expect_str_eq(buf, "state");
	cr_assert_eq(write(dst->fd, "ok", 2), 2);
	memset(buf, 0, sizeof(buf));
	cr_expect_eq(recv(src->fd, buf, 2, MSG_WAITALL), 2);
	cr_expect_str_eq(buf, "ok");

	mig_handoff_free(h);
	mig_abort(l, sid, "test done");
	vmm_kill(&v);
	mig_unref(l);
	mig_unref(m);
}

/* mig_adopt() in a child running as @uid; its result comes back. */
static int adopt_as(uid_t uid, const struct vmm *v, uint64_t *sid)
{
	int r = -EIO, p[2], status;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct mig_ctx *ctx;
		uint64_t id = 0;

		close(p[0]);
		if (setgid(uid) || setuid(uid))
			_exit(2);
		ctx = mig_new();
		if (!ctx)
			_exit(3);
		r = mig_connect(ctx, d.sock);
		if (!r)
			r = adopt_vmm(ctx, "vm1", v, &id);
		if (write(p[1], &r, sizeof(r)) != sizeof(r) ||
		    write(p[1], &id, sizeof(id)) != sizeof(id))
			_exit(4);
		mig_unref(ctx);
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &r, sizeof(r)), sizeof(r));
	cr_assert_eq(read(p[0], sid, sizeof(*sid)), sizeof(*sid));
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return r;
}

/*
 * 2. ADOPT reaches into another process: only root or admin_group. Not
 * even the uid the VMM runs as, which could take its fds itself.
 */
Test(adopt, only_admin_may_adopt)
{
	struct mig_ctx *m = manager();
	struct vmm v;
	uint64_t sid = 0;

	vmm_start_as(&v, NOBODY);
	register_vmm(m, "vm1", &v, NULL);
	cr_expect_eq(show_vm(m, "vm1").owner_uid, NOBODY);
	cr_expect_eq(adopt_as(NOBODY, &v, &sid), -EPERM,
		     "uid nobody, the VMM's own uid, adopts");
	cr_expect_eq(sid, 0, "no session number for nobody");
	expect_nothing_held(m, "vm1", 1, 1, "nobody's adoption");

	/* The same request from root. */
	cr_expect_eq(adopt_as(0, &v, &sid), 0, "root adopts");
	cr_expect_neq(sid, 0);
	cr_expect_eq(show_vm(m, "vm1").session, sid);
	cr_expect_eq(session_state(m, sid), MIG_STATE_OFFERED);
	cr_expect_eq(held_fds(m), 2);
	vmm_kill(&v);
	mig_unref(m);
}

/*
 * 3. Every fd is checked as an offered one, each by its number in the
 * owner; a refusal closes what was already taken and opens nothing.
 */
Test(adopt, bad_fds_refused_nothing_changes)
{
	struct mig_ctx *m = manager();
	struct vmm v;
	uint64_t sid = 0;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	expect_nothing_held(m, "vm1", 1, 1, "registering");

	/* A number not open in the owner. */
	cr_expect_eq(adopt(m, "vm1", 1000, SZ, -1, &sid), -EBADF, "%s",
		     mig_last_error(m));
	expect_nothing_held(m, "vm1", 1, 1, "an unopened region fd");
	/* The region taken first, then a device number not open: the
	 * region's fd must be closed again. */
	cr_expect_eq(adopt(m, "vm1", v.fd.memfd, SZ, 1000, &sid), -EBADF,
		     "%s", mig_last_error(m));
	expect_nothing_held(m, "vm1", 1, 1, "an unopened device fd");
	/* A pipe is not guest RAM. */
	cr_expect_eq(adopt(m, "vm1", v.fd.console, SZ, -1, &sid), -EBADF,
		     "%s", mig_last_error(m));
	expect_nothing_held(m, "vm1", 1, 1, "a pipe as MEMFD region");
	/* Guest RAM is not a device. */
	cr_expect_eq(adopt(m, "vm1", v.fd.memfd, SZ, v.fd.memfd, &sid),
		     -EBADF, "%s", mig_last_error(m));
	expect_nothing_held(m, "vm1", 1, 1, "the memfd as PIPE device");
	/* Larger than the memfd: a successor would fault past its end. */
	cr_expect_eq(adopt(m, "vm1", v.fd.memfd, 2 * SZ, v.fd.console, &sid),
		     -EINVAL, "%s", mig_last_error(m));
	expect_nothing_held(m, "vm1", 1, 1, "a region past the memfd's end");
	cr_expect_eq(sid, 0, "no refusal gave a session number");

	/* The same owner, its fds named right. */
	cr_expect_eq(adopt_vmm(m, "vm1", &v, &sid), 0, "%s",
		     mig_last_error(m));
	cr_expect_eq(show_vm(m, "vm1").session, sid);
	cr_expect_eq(held_fds(m), 2);
	vmm_kill(&v);
	mig_unref(m);
}

/*
 * 4. A rebind needs the old VMM to pause and exit on its own, which an
 * unmodified one does not do: an adopted VM goes to its successor only.
 * The refused claim hands nothing out and spends nothing: the session
 * stays OFFERED and a successor's claim then succeeds.
 */
Test(adopt, adopted_vm_cannot_be_rebound)
{
	struct mig_ctx *m = manager(), *l = manager();
	struct mig_handoff *h = NULL;
	struct mig_status st;
	struct mig_token t;
	struct mig_list *li;
	uint64_t sid = 0, refused;
	struct vmm v;
	int fds;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	cr_assert_eq(adopt_vmm(m, "vm1", &v, &sid), 0, "%s",
		     mig_last_error(m));
	cr_assert_eq(mig_status(m, &st), 0);
	refused = st.refused;

	cr_assert_eq(mig_grant_rebind(m, "vm1", "vm2", NULL, (uid_t)-1, &t),
		     0, "%s", mig_last_error(m));
	fds = count_fds(getpid());
	cr_expect_eq(mig_claim(l, sid, t.bytes, MIG_TOKEN_LEN, &h), -EACCES,
		     "%s", mig_last_error(l));
	cr_expect_null(h, "no handoff for a refused claim");
	cr_expect_eq(count_fds(getpid()), fds, "no fd reached the claimant");
	cr_assert_eq(mig_status(m, &st), 0);
	cr_expect_eq(st.refused, refused + 1, "counted as refused");
	cr_expect_eq(st.open_fds, 2, "migrd still holds memfd and console");
	li = show_session(m, sid);
	cr_expect_eq(li->sessions[0].state, MIG_STATE_OFFERED,
		     "the session is still on offer: %s",
		     mig_state_name(li->sessions[0].state));
	cr_expect_eq(li->sessions[0].dest_pid, 0, "nobody claimed it");
	mig_list_free(li);
	cr_expect_not(registered(m, "vm2"), "no new VM was made");

	/* The same claimant, with a successor's token. */
	cr_expect_eq(claim_successor(&d, l, "vm1", sid, &h), 0, "%s",
		     mig_last_error(l));
	cr_assert_not_null(h);
	cr_expect_eq(h->grant, MIG_GRANT_SUCCESSOR);
	cr_expect_eq(h->nregions, 1);
	cr_expect_geq(h->regions[0].fd, 0);
	cr_expect_eq(h->ndevices, 3);
	cr_expect_eq(session_state(m, sid), MIG_STATE_CLAIMED);
	mig_handoff_free(h);
	mig_abort(l, sid, "test done");
	vmm_kill(&v);
	mig_unref(l);
	mig_unref(m);
}

/* A new VMM the test launches: a child that sleeps until killed. */
static pid_t launch(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

/*
 * 5. The claimant says when the old VMM's state moved (STATE), then names
 * the new VMM by a pidfd (COMMIT): it must be the claimant's own child,
 * and only after STATE, since before it the old VMM still runs the guest
 * and the commit would have migrd kill it. The new VMM becomes the
 * owner under the same identity; the old one is killed after exit_grace.
 */
Test(adopt, commit_needs_state_and_a_child)
{
	struct mig_ctx *m = manager(), *l = manager();
	struct mig_handoff *h = NULL;
	struct mig_vm_info before, after;
	struct pollfd pfd;
	uint64_t sid = 0, t0, dt;
	int init, parent, child, zombie, status;
	pid_t succ, dead;
	struct vmm v;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, &before);
	cr_assert_eq(adopt_vmm(m, "vm1", &v, &sid), 0, "%s",
		     mig_last_error(m));
	cr_assert_eq(claim_successor(&d, l, "vm1", sid, &h), 0, "%s",
		     mig_last_error(l));
	succ = launch();
	child = pidfd_open(succ);
	init = pidfd_open(1);
	parent = pidfd_open(getppid());
	cr_assert_geq(child, 0);
	cr_assert_geq(init, 0);
	cr_assert_geq(parent, 0);

	/* Out of order: not ready yet, so no state can have moved. */
	cr_expect_eq(mig_state_moved(l, sid), -EPROTO, "%s",
		     mig_last_error(l));
	cr_expect_eq(mig_commit_successor(l, sid, child), -EPROTO, "%s",
		     mig_last_error(l));
	cr_assert_eq(mig_ready(l, sid), 0, "%s", mig_last_error(l));
	cr_expect_eq(mig_commit_successor(l, sid, child), -EPROTO,
		     "a commit before the state moved: %s",
		     mig_last_error(l));
	cr_expect_eq(session_state(m, sid), MIG_STATE_READY);
	/* A refused commit changes nothing, the destination least of all. */
	cr_expect_eq(session_dest(m, sid), getpid(),
		     "the claimant is still the destination");

	/* Management is not the claimant: neither step is its to take. */
	cr_expect_eq(mig_state_moved(m, sid), -EPERM, "%s",
		     mig_last_error(m));
	cr_expect_eq(session_state(m, sid), MIG_STATE_READY);
	cr_assert_eq(mig_state_moved(l, sid), 0, "%s", mig_last_error(l));
	cr_expect_eq(session_state(m, sid), MIG_STATE_SWITCHING);
	cr_expect_eq(mig_commit_successor(m, sid, child), -EPERM, "%s",
		     mig_last_error(m));

	/* Processes the claimant did not start. */
	cr_expect_eq(mig_commit_successor(l, sid, init), -EPERM,
		     "pid 1 as the new VMM: %s", mig_last_error(l));
	cr_expect_eq(mig_commit_successor(l, sid, parent), -EPERM,
		     "the claimant's parent as the new VMM: %s",
		     mig_last_error(l));
	/* Its own child, but one that already exited (not yet reaped). */
	dead = fork();
	cr_assert_geq(dead, 0);
	if (dead == 0)
		_exit(0);
	zombie = pidfd_open(dead);
	cr_assert_geq(zombie, 0);
	cr_assert(wait_proc_state(dead, 'Z'), "the child exited");
	cr_expect_eq(mig_commit_successor(l, sid, zombie), -ESRCH,
		     "an exited child as the new VMM: %s", mig_last_error(l));
	waitpid(dead, NULL, 0);
	close(zombie);
	/* The old VMM is this test's child too: not its own successor. */
	zombie = pidfd_open(v.pid);
	cr_assert_geq(zombie, 0);
	cr_expect_eq(mig_commit_successor(l, sid, zombie), -EPERM,
		     "the old VMM as its own successor: %s", mig_last_error(l));
	close(zombie);
	cr_expect_eq(session_state(m, sid), MIG_STATE_SWITCHING);
	cr_expect_eq(session_dest(m, sid), getpid());
	cr_expect_eq(show_vm(m, "vm1").owner_pid, v.pid);
	cr_assert_eq(waitpid(v.pid, &status, WNOHANG), 0,
		     "the old VMM runs until the commit");

	/* Its own child. */
	t0 = mono_ms();
	cr_assert_eq(mig_commit_successor(l, sid, child), 0, "%s",
		     mig_last_error(l));
	cr_expect_eq(session_state(m, sid), MIG_STATE_COMMITTED);
	after = show_vm(m, "vm1");
	cr_expect_eq(after.owner_pid, succ, "owner pid %d, want %d",
		     after.owner_pid, succ);
	cr_expect_str_eq(after.id, before.id, "the identity goes on");
	cr_expect_eq(after.upgrades, before.upgrades + 1);
	cr_expect_eq(after.session, 0);

	/* migrd kills the old VMM once exit_grace is over, not before. */
	pfd = (struct pollfd){ .fd = pidfd_open(v.pid), .events = POLLIN };
	cr_assert_geq(pfd.fd, 0);
	cr_expect_eq(poll(&pfd, 1, GRACE_MS + SLACK_MS), 1,
		     "the old VMM died within exit_grace");
	dt = mono_ms() - t0;
	close(pfd.fd);
	cr_assert_eq(waitpid(v.pid, &status, 0), v.pid);
	v.pid = 0;
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the old VMM was killed (status %#x)", status);
	cr_expect_geq(dt, GRACE_MS, "killed after %llu ms, before exit_grace",
		      (unsigned long long)dt);

	/* The registration lives and dies with the new VMM now. */
	cr_expect(registered(m, "vm1"), "the old VMM's death ended nothing");
	kill(succ, SIGKILL);
	waitpid(succ, NULL, 0);
	cr_expect(wait_unregistered(m, "vm1"),
		  "the new VMM's death ends the registration");

	close(child);
	close(init);
	close(parent);
	mig_handoff_free(h);
	vmm_kill(&v);
	mig_unref(l);
	mig_unref(m);
}

/*
 * 6a. An owner that died took its registration along (mig_register(3)):
 * the VM is unknown then, and a live VMM's adoption still works.
 */
Test(adopt, dead_owner)
{
	struct mig_ctx *m = manager();
	struct vmm v;
	uint64_t sid = 0;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	vmm_kill(&v);
	cr_assert(wait_unregistered(m, "vm1"), "the owner's death unregistered it");
	cr_expect_eq(adopt(m, "vm1", 3, SZ, -1, &sid), -ENOENT, "%s",
		     mig_last_error(m));
	expect_nothing_held(m, NULL, 1, 0, "adopting a dead owner's VM");

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	cr_expect_eq(adopt_vmm(m, "vm1", &v, &sid), 0, "%s",
		     mig_last_error(m));
	cr_expect_eq(held_fds(m), 2);
	vmm_kill(&v);
	mig_unref(m);
}

struct adopt_call {
	struct mig_ctx *m;
	const struct vmm *v;
	uint64_t sid;
	int r;
};

static void *adopt_thread(void *p)
{
	struct adopt_call *a = p;

	a->r = adopt_vmm(a->m, "vm1", a->v, &a->sid);
	return NULL;
}

/* Until the request on @fd sits in migrd's queue, unread, up to 2 s. */
static bool wait_queued(int fd)
{
	int n = 0;

	for (int i = 0; i < 200; i++) {
		if (ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0)
			return true;
		usleep(10000);
	}
	return false;
}

/*
 * 6b. The owner dies after management asked and before migrd noticed:
 * migrd is stopped while the ADOPT is queued and the owner killed and
 * reaped, so it reads the request before the owner's pidfd turns
 * readable (epoll hands ready fds out in the order they became ready).
 * The adoption finds no process to take fds from: -ESRCH, as
 * mig_adopt(3) says for an owner that is gone, and nothing is held.
 */
Test(adopt, owner_dying_under_the_adoption)
{
	struct mig_ctx *m = manager();
	struct adopt_call a = { .m = m, .r = 1 };
	pthread_t th;
	struct vmm v;

	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	a.v = &v;
	cr_assert_eq(kill(d.pid, SIGSTOP), 0);
	cr_assert(wait_proc_state(d.pid, 'T'), "migrd stopped");
	cr_assert_eq(pthread_create(&th, NULL, adopt_thread, &a), 0);
	cr_expect(wait_queued(mig_get_fd(m)), "the ADOPT is queued");
	vmm_kill(&v);
	cr_assert_eq(kill(d.pid, SIGCONT), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_expect_eq(a.r, -ESRCH, "%s", mig_last_error(m));
	cr_expect(wait_unregistered(m, "vm1"),
		  "then migrd saw the owner's death");
	expect_nothing_held(m, NULL, 1, 0, "an owner dying under ADOPT");

	/* The same steps with an owner that lives. */
	vmm_start(&v);
	register_vmm(m, "vm1", &v, NULL);
	a.v = &v;
	cr_assert_eq(pthread_create(&th, NULL, adopt_thread, &a), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_expect_eq(a.r, 0, "%s", mig_last_error(m));
	cr_expect_eq(show_vm(m, "vm1").session, a.sid);
	vmm_kill(&v);
	mig_unref(m);
}
