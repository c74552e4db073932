// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Integration: the journal (state_file) held to the rules systemd holds
 * its state files to. The journal names owners, and a restarted migrd
 * makes them VM owners again, so a journal somebody else could have put
 * there must not be believed, and nothing found at its path may hang
 * migrd. A real migrd on a private socket; its journal in a directory
 * of this test's; no KVM is needed: a journal re-registers its VMs by
 * owner process (pid, pidfs inode, start time), and the owner here is a
 * forked child that only sleeps.
 *
 * Each attack is shown refused (migrd answers promptly, registers
 * nothing from the file, says why) and, on the same steps with a good
 * journal (root's regular file, 0600), the VMs shown registered, so no
 * test can pass by refusing everything.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "mig-util.h"

#define NOBODY 65534
/* How long migrd may take to answer; generous for sanitizer builds. */
#define START_MS 5000
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static struct daemon d;
static char jdir[64];		/* root's, 0755: where the journal goes */
static char jpath[128];		/* jdir/migrd.state */
static char pubdir[64];		/* 1777, as /tmp: anybody's files */
static char conf[192];		/* state_file = jpath */
static pid_t owner;		/* a live process: the VMs' owner */

static void spawn_owner(void)
{
	owner = fork();
	cr_assert_geq(owner, 0);
	if (owner == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
}

static void setup(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: a journal's VMs are registered only by a migrd running as root, and the attacks need files owned by others");
	strcpy(jdir, "/tmp/migrd-journal.XXXXXX");
	strcpy(pubdir, "/tmp/migrd-public.XXXXXX");
	cr_assert_not_null(mkdtemp(jdir));
	cr_assert_not_null(mkdtemp(pubdir));
	cr_assert_eq(chmod(jdir, 0755), 0);
	cr_assert_eq(chmod(pubdir, 01777), 0);
	snprintf(jpath, sizeof(jpath), "%s/migrd.state", jdir);
	snprintf(conf, sizeof(conf), "state_file = %s\n", jpath);
	spawn_owner();
}

/* SIGTERM, and SIGKILL if migrd is stuck (it blocks SIGTERM to read it). */
static void stop_daemon(void)
{
	for (int i = 0; d.pid > 0 && i < START_MS / 10; i++) {
		if (i == 0)
			kill(d.pid, SIGTERM);
		if (waitpid(d.pid, NULL, WNOHANG) == d.pid)
			d.pid = 0;
		else
			usleep(10000);
	}
	if (d.pid > 0) {
		kill(d.pid, SIGKILL);
		waitpid(d.pid, NULL, 0);
		d.pid = 0;
	}
	if (d.dir[0])
		daemon_stop(&d);
	memset(&d, 0, sizeof(d));
}

static void rm_rf(const char *dir)
{
	char cmd[160];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void teardown(void)
{
	stop_daemon();
	if (owner > 0) {
		kill(owner, SIGKILL);
		waitpid(owner, NULL, 0);
	}
	rm_rf(jdir);
	rm_rf(pubdir);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 60);

/* A journal line for VM name, identity id, owned by the live pid. */
static void vm_line(char *buf, size_t size, const char *id, const char *name,
		    pid_t pid)
{
	int pidfd = mig_pidfd_open(pid);
	uint64_t ino = 0, start = 0;

	cr_assert_geq(pidfd, 0);
	cr_assert_eq(mig_pidfd_ino(pidfd, &ino), 0);
	cr_assert_eq(mig_pid_start(pid, &start), 0);
	close(pidfd);
	snprintf(buf, size, "vm %s %s - %d %llu %llu 0 0 1700000000000\n",
		 id, name, pid, (unsigned long long)ino,
		 (unsigned long long)start);
}

/* A journal at path saying body, with this owner and mode. */
static void put_journal(const char *path, const char *body, uid_t uid,
		       mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	cr_assert_not_null(f, "cannot write %s", path);
	fprintf(f, "migrd-journal 1\nnext-session 0\n%s", body);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chown(path, uid, 0), 0);
	cr_assert_eq(chmod(path, mode), 0);
}

/* The one-VM journal most tests use: VM "va", ID_A, our live child. */
static const char *one_vm(void)
{
	static char line[256];

	vm_line(line, sizeof(line), ID_A, "va", owner);
	return line;
}

/* Whatever waits on a FIFO at path (a reader or a writer) goes on. */
static void release_fifo(const char *path)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

/* The watchdog of one start: it fires unless told the start is done. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool done, fired;
} dog = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void *watchdog(void *arg)
{
	struct timespec ts;
	char new[160];

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += START_MS / 1000;
	pthread_mutex_lock(&dog.lock);
	while (!dog.done && pthread_cond_timedwait(&dog.done_cv, &dog.lock,
						   &ts) != ETIMEDOUT)
		;
	dog.fired = !dog.done;
	pthread_mutex_unlock(&dog.lock);
	if (dog.fired) {
		snprintf(new, sizeof(new), "%s.new", jpath);
		release_fifo(jpath);
		release_fifo(new);
	}
	return NULL;
}

/*
 * migrd started with config and answering within START_MS. A migrd
 * stuck in an open() of a FIFO at the journal's path (or its .new) is
 * released by the watchdog, so that the test fails with a sentence
 * rather than a hang. migrd is forked from this thread, not from the
 * watchdog: its PR_SET_PDEATHSIG follows the thread that forked it.
 */
static void start_bounded(const char *config)
{
	pthread_t t;
	int r;

	dog.done = dog.fired = false;
	cr_assert_eq(pthread_create(&t, NULL, watchdog, NULL), 0);
	r = daemon_start_logged(&d, config);
	pthread_mutex_lock(&dog.lock);
	dog.done = true;
	pthread_cond_signal(&dog.done_cv);
	pthread_mutex_unlock(&dog.lock);
	pthread_join(t, NULL);
	cr_assert(!dog.fired, "migrd did not answer within %d ms: it hung on what is at its journal's path",
		  START_MS);
	cr_assert_eq(r, 0, "migrd started: %s", strerror(-r));
}

/* How many VMs named name migrd has; the owner pid of the last one. */
static int vms_named(const char *name, pid_t *pid, char *id)
{
	struct mig_ctx *ctx = connect_as_owner(&d, NULL);
	struct mig_list *l = NULL;
	int n = 0;

	cr_assert_not_null(ctx, "a root connection to migrd");
	cr_assert_eq(mig_list(ctx, &l), 0);
	for (unsigned int i = 0; i < l->nvms; i++) {
		if (strcmp(l->vms[i].name, name) != 0)
			continue;
		n++;
		if (pid)
			*pid = l->vms[i].owner_pid;
		if (id)
			strcpy(id, l->vms[i].id);
	}
	mig_list_free(l);
	mig_unref(ctx);
	return n;
}

static unsigned int vms_total(void)
{
	struct mig_ctx *ctx = connect_as_owner(&d, NULL);
	struct mig_status st;

	cr_assert_not_null(ctx, "a root connection to migrd");
	cr_assert_eq(mig_status(ctx, &st), 0);
	mig_unref(ctx);
	return st.vms;
}

/* How many lines of migrd's log contain what. */
static int logged(const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(d.log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			n++;
	fclose(f);
	return n;
}

/* Its log, when an expectation about it failed. */
static void show_log(void)
{
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "sed 's/^/  | /' '%s' >&2", d.log);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot show %s\n", d.log);
}

/*
 * migrd's log says what (within START_MS: a line may follow the act the
 * test saw, such as a rename, by a moment).
 */
static void expect_logged(const char *what)
{
	for (int i = 0; i < START_MS / 20 && !logged(what); i++)
		usleep(20000);
	if (!logged(what)) {
		show_log();
		cr_expect_fail("migrd's log says \"%s\"", what);
	}
}

/* The legitimate case: VM va from the journal, owned by our child. */
static void expect_va_registered(void)
{
	pid_t pid = 0;
	char id[MIG_ID_LEN] = "";

	cr_expect_eq(vms_named("va", &pid, id), 1,
		     "a good journal's VM is registered again");
	cr_expect_eq(pid, owner, "with its owner");
	cr_expect_str_eq(id, ID_A, "and its identity");
}

static void expect_nothing_registered(void)
{
	cr_expect_eq(vms_total(), 0, "nothing registered from a refused journal");
}

/* Stop migrd, and on the same steps with a good journal see it believed. */
static void then_good_journal_works(void)
{
	stop_daemon();
	put_journal(jpath, one_vm(), 0, 0600);
	start_bounded(conf);
	expect_va_registered();
	cr_expect_eq(logged("refusing the journal"), 0,
		     "a good journal is not refused");
}

/* Names in dir beginning with prefix: temporary files left behind. */
static int entries(const char *dir, const char *prefix)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(dh);
	while ((e = readdir(dh)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    !strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	closedir(dh);
	return n;
}

/* The journal file contains what, within START_MS. */
static bool journal_says(const char *what)
{
	char buf[4096];

	for (int i = 0; i < START_MS / 20; i++) {
		int fd = open(jpath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			      O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if (strstr(buf, what))
				return true;
		}
		usleep(20000);
	}
	return false;
}

Test(journal, good_journal_is_believed)
{
	struct stat st;

	put_journal(jpath, one_vm(), 0, 0600);
	start_bounded(conf);
	expect_va_registered();
	/* A journal naming a process that is gone registers nothing. */
	stop_daemon();
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	owner = 0;
	start_bounded(conf);
	cr_expect_eq(vms_named("va", NULL, NULL), 0,
		     "an owner gone while migrd was down owns nothing");
	/* What migrd wrote back is a journal it would believe. */
	cr_assert_eq(lstat(jpath, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_uid, 0);
	cr_expect_eq(st.st_mode & 07777, 0600);
}

Test(journal, fifo_at_the_journal_does_not_hang_migrd)
{
	struct stat st;

	cr_assert_eq(mkfifo(jpath, 0600), 0);
	start_bounded(conf);
	expect_nothing_registered();
	expect_logged("refusing the journal");
	expect_logged("it is not a regular file");
	/* The save at start replaced it: the next migrd reads a file. */
	cr_assert_eq(lstat(jpath, &st), 0);
	cr_expect(S_ISREG(st.st_mode), "the FIFO was replaced by a journal");
	then_good_journal_works();
}

Test(journal, fifo_at_the_new_path_does_not_hang_migrd)
{
	char new[160], second[256];
	struct mig_ctx *ctx;
	struct stat st;

	snprintf(new, sizeof(new), "%s.new", jpath);
	cr_assert_eq(mkfifo(new, 0600), 0);
	put_journal(jpath, one_vm(), 0, 0600);
	start_bounded(conf);
	expect_va_registered();
	/* A change is saved, through the directory, never by that name. */
	ctx = connect_as_owner(&d, NULL);
	cr_assert_not_null(ctx);
	cr_assert_eq(mig_register(ctx, "vb", NULL, owner, -1, NULL), 0, "%s",
		     mig_last_error(ctx));
	mig_unref(ctx);
	snprintf(second, sizeof(second), " vb - %d ", owner);
	cr_expect(journal_says(second), "the registration reached the journal");
	cr_expect_eq(vms_named("vb", NULL, NULL), 1, "migrd still answers");
	cr_assert_eq(lstat(new, &st), 0);
	cr_expect(S_ISFIFO(st.st_mode), "the FIFO at .new is left alone");
	cr_expect_eq(entries(jdir, ".migrd.state."), 0,
		     "no temporary file left behind");
	/* And what was written is believed by the next migrd. */
	stop_daemon();
	start_bounded(conf);
	expect_va_registered();
	cr_expect_eq(vms_named("vb", NULL, NULL), 1);
}

Test(journal, symlink_to_another_users_file_is_not_followed)
{
	char evil[128], before[512], after[512];
	FILE *f;

	/* Somebody's journal in a directory anybody may write. */
	snprintf(evil, sizeof(evil), "%s/evil", pubdir);
	put_journal(evil, one_vm(), NOBODY, 0644);
	cr_assert_eq(symlink(evil, jpath), 0);
	f = fopen(evil, "r");
	cr_assert_not_null(f);
	memset(before, 0, sizeof(before));
	cr_assert_eq(fread(before, 1, sizeof(before) - 1, f) > 0, 1);
	fclose(f);
	start_bounded(conf);
	expect_nothing_registered();
	expect_logged("it is a symbolic link");
	/* The save at start replaced the link, not what it points at. */
	f = fopen(evil, "r");
	cr_assert_not_null(f);
	memset(after, 0, sizeof(after));
	cr_assert_eq(fread(after, 1, sizeof(after) - 1, f) > 0, 1);
	fclose(f);
	cr_expect_str_eq(after, before, "the link's target is untouched");
	cr_expect_eq(unlink(jpath), 0);
	then_good_journal_works();
}

Test(journal, journal_in_a_world_writable_directory_is_not_used)
{
	char path[128], config[192];

	/* A good journal, but where anybody could have put it. */
	snprintf(path, sizeof(path), "%s/migrd.state", pubdir);
	snprintf(config, sizeof(config), "state_file = %s\n", path);
	put_journal(path, one_vm(), 0, 0600);
	start_bounded(config);
	expect_nothing_registered();
	expect_logged("writable by everybody, who could replace the journal");
	expect_logged("not using the journal");
	stop_daemon();
	/* The same directory, root's and private: believed. */
	cr_assert_eq(chmod(pubdir, 0755), 0);
	start_bounded(config);
	expect_va_registered();
}

Test(journal, journal_of_another_user_is_refused)
{
	put_journal(jpath, one_vm(), NOBODY, 0600);
	start_bounded(conf);
	expect_nothing_registered();
	expect_logged("it is owned by uid 65534");
	then_good_journal_works();
}

Test(journal, world_writable_journal_is_refused)
{
	put_journal(jpath, one_vm(), 0, 0602);
	start_bounded(conf);
	expect_nothing_registered();
	expect_logged("it is writable by everybody");
	then_good_journal_works();
}

Test(journal, group_writable_journal_is_refused)
{
	put_journal(jpath, one_vm(), 0, 0620);
	start_bounded(conf);
	expect_nothing_registered();
	expect_logged("it is writable by its group");
	then_good_journal_works();
}

Test(journal, one_vm_per_identity_and_name)
{
	char a[256], b[256], b_as_va[256], body[1024];
	char id[MIG_ID_LEN] = "";

	vm_line(a, sizeof(a), ID_A, "va", owner);
	vm_line(b, sizeof(b), ID_B, "vb", owner);
	vm_line(b_as_va, sizeof(b_as_va), ID_B, "va", owner);
	/* The same line twice, and a second VM named va. */
	snprintf(body, sizeof(body), "%s%s%s", a, a, b_as_va);
	put_journal(jpath, body, 0, 0600);
	start_bounded(conf);
	cr_expect_eq(vms_total(), 1, "one VM per identity and name");
	cr_expect_eq(vms_named("va", NULL, id), 1);
	cr_expect_str_eq(id, ID_A, "the first line stays");
	expect_logged("a second VM with identity " ID_A);
	expect_logged("VM " ID_B " (va) is refused");
	/* Two different VMs in one journal: both registered. */
	stop_daemon();
	snprintf(body, sizeof(body), "%s%s", a, b);
	put_journal(jpath, body, 0, 0600);
	start_bounded(conf);
	cr_expect_eq(vms_total(), 2, "two distinct VMs are both registered");
	cr_expect_eq(vms_named("vb", NULL, id), 1);
	cr_expect_str_eq(id, ID_B);
}

Test(journal, failed_write_is_retried_and_said_once)
{
	struct mig_ctx *ctx;
	int said;

	/* A directory where the journal goes: every rename fails. */
	cr_assert_eq(mkdir(jpath, 0700), 0);
	start_bounded(conf);
	ctx = connect_as_owner(&d, NULL);
	cr_assert_not_null(ctx);
	cr_assert_eq(mig_register(ctx, "va", NULL, owner, -1, NULL), 0, "%s",
		     mig_last_error(ctx));
	cr_assert_eq(mig_register(ctx, "vb", NULL, owner, -1, NULL), 0, "%s",
		     mig_last_error(ctx));
	/* Failures for a while: two registrations, then the retries. */
	usleep(1500 * 1000);
	said = logged("cannot write the journal");
	if (said != 1)
		show_log();
	cr_expect_eq(said, 1, "a failing write is said once, not each time");
	cr_expect_eq(entries(jdir, ".migrd.state."), 0,
		     "no temporary file left behind by a failed write");
	/* The obstacle gone, the journal is written with no new event. */
	cr_assert_eq(rmdir(jpath), 0);
	cr_expect(journal_says(" va - "),
		  "the registration reached the journal on a retry");
	expect_logged("is written again");
	mig_unref(ctx);
	stop_daemon();
	start_bounded(conf);
	cr_expect_eq(vms_named("va", NULL, NULL), 1,
		     "and the next migrd believes it");
	cr_expect_eq(vms_named("vb", NULL, NULL), 1);
}

/* The journal's size in bytes (-1 if it cannot be seen). */
static long journal_size(void)
{
	struct stat st;

	return stat(jpath, &st) == 0 ? (long)st.st_size : -1;
}

/*
 * A change appends to the journal (the snapshot stays, its inode too);
 * what was appended is believed by the next migrd: VMs registered since,
 * VMs unregistered since, in registration order.
 */
Test(journal, appended_changes_are_believed)
{
	struct mig_ctx *ctx;
	struct stat before, after;
	char name[16];

	start_bounded(conf);
	ctx = connect_as_owner(&d, NULL);
	cr_assert_not_null(ctx);
	cr_assert_eq(mig_register(ctx, "va", NULL, owner, -1, NULL), 0);
	cr_assert(journal_says(" va - "), "the first VM reached the journal");
	cr_assert_eq(stat(jpath, &before), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		cr_assert_eq(mig_register(ctx, name, NULL, owner, -1, NULL), 0);
	}
	cr_assert_eq(mig_unregister(ctx, "v1"), 0);
	cr_assert_eq(mig_unregister(ctx, "va"), 0);
	cr_assert(journal_says("vm-gone "), "an unregistration is appended");
	cr_assert_eq(stat(jpath, &after), 0);
	cr_expect_eq(after.st_ino, before.st_ino,
		     "registrations append to the file; they do not rewrite it");
	cr_expect_gt(after.st_size, before.st_size);
	mig_unref(ctx);
	stop_daemon();
	start_bounded(conf);
	cr_expect_eq(vms_total(), 4, "v0, v2, v3, v4 registered again");
	cr_expect_eq(vms_named("va", NULL, NULL), 0, "va was unregistered");
	cr_expect_eq(vms_named("v1", NULL, NULL), 0, "v1 was unregistered");
	cr_expect_eq(vms_named("v4", NULL, NULL), 1);
}

/* A crash mid-append leaves a last line without its newline: ignored. */
Test(journal, torn_last_line_is_ignored)
{
	char a[256], b[256], body[600];

	vm_line(a, sizeof(a), ID_A, "va", owner);
	vm_line(b, sizeof(b), ID_B, "vb", owner);
	b[strlen(b) - 1] = '\0';	/* cut: no newline */
	snprintf(body, sizeof(body), "%s%s", a, b);
	put_journal(jpath, body, 0, 0600);
	start_bounded(conf);
	expect_va_registered();
	cr_expect_eq(vms_named("vb", NULL, NULL), 0,
		     "the torn line is not a registration");
	expect_logged("ignoring its last line, cut short");
}

/* vm-update replaces its VM's line; one for a VM it does not name is ignored. */
Test(journal, updates_apply_to_their_vm_only)
{
	char a[256], upd[300], stray[300], body[1024];
	struct mig_ctx *ctx;
	struct mig_list *l = NULL;

	vm_line(a, sizeof(a), ID_A, "va", owner);
	/* The same VM, upgraded 3 times since the snapshot. */
	snprintf(upd, sizeof(upd), "vm-update%s", a + 2);
	upd[strlen(upd) - 16] = '\0';
	strcat(upd, "3 1700000000000\n");
	snprintf(stray, sizeof(stray), "vm-update " ID_B "%s",
		 a + 3 + strlen(ID_A));
	snprintf(body, sizeof(body), "%s%s%s", a, upd, stray);
	put_journal(jpath, body, 0, 0600);
	start_bounded(conf);
	expect_va_registered();
	cr_expect_eq(vms_total(), 1, "an update creates no VM");
	expect_logged("an update of VM " ID_B);
	ctx = connect_as_owner(&d, NULL);
	cr_assert_not_null(ctx);
	cr_assert_eq(mig_show(ctx, "va", &l), 0);
	cr_expect_eq(l->vms[0].upgrades, 3, "the update's count, not the snapshot's");
	mig_list_free(l);
	mig_unref(ctx);
}

/* Appends do not grow the file for ever: it is compacted again. */
Test(journal, appends_are_compacted, .timeout = 120)
{
	struct mig_ctx *ctx;
	long most = 0, size;

	start_bounded(conf);
	ctx = connect_as_owner(&d, NULL);
	cr_assert_not_null(ctx);
	cr_assert_eq(mig_register(ctx, "va", NULL, owner, -1, NULL), 0);
	/* ~200 bytes appended per round: 2000 rounds, 400 KB unbounded. */
	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(mig_register(ctx, "vb", NULL, owner, -1, NULL), 0);
		cr_assert_eq(mig_unregister(ctx, "vb"), 0);
		size = journal_size();
		if (size > most)
			most = size;
	}
	cr_expect_lt(most, 96 * 1024, "the journal peaked at %ld bytes", most);
	mig_unref(ctx);
	stop_daemon();
	start_bounded(conf);
	cr_expect_eq(vms_named("va", NULL, NULL), 1, "va registered again");
	cr_expect_eq(vms_total(), 1, "only va, after 2000 register/unregister rounds");
}
