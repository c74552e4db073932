// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The journal: what migrd knows that must survive migrd being killed and
 * started again. A text file under /run (state_file): a snapshot,
 * written whole and renamed into place, so a crash leaves the old or the
 * new one, never half of one; then what changes in a VM's line is
 * appended to it (vm-update, vm-gone, a VM registered since), so that a
 * registration costs one short write however many VMs there are. The
 * snapshot is written again when the switchovers or old VMMs it names
 * change, or when the appends outgrow it. A torn last append (no
 * newline) is ignored when read.
 *
 * Why a file and not systemd's fd store: what must survive is who owns
 * which VM and which switchovers are between their two sides; none of it
 * is an fd migrd has to keep (the sources keep their memory, and the
 * direct channel is the VMMs'). A file works with or without systemd, and
 * the owners are re-pinned by pid plus pidfs inode plus start time, which
 * names one process for the life of the system.
 *
 *   migrd-journal 1
 *   next-session N
 *   vm ID NAME UUID|- PID INO START UID UPGRADES REGISTERED_MS
 *   vm-update ID NAME UUID|- PID INO START UID UPGRADES REGISTERED_MS
 *   vm-gone ID
 *   switch SESSION VM-ID STATE DEST-PID DEST-INO DEST-START DEST-UID
 *   reap PID INO START VM-NAME	(an old VMM that must still exit)
 *
 * Only switchovers past the point where the source got its end of the
 * direct channel are recorded: before it, a restart aborts the session
 * and the source, which never paused, keeps its guest.
 *
 * The owners it names become VM owners, so it is believed only as
 * systemd believes a state file: its directory checked like the socket's
 * (root's, writable by nobody else) and opened once; the file opened
 * through that directory without following a symlink or blocking on a
 * FIFO, and read only if it is a regular file of migrd's user that
 * nobody else may write. Writes go through the same directory: an
 * anonymous file (O_TMPFILE) linked under a random name, or a random
 * name made with O_EXCL, then renamed over the journal; no name an
 * attacker could have prepared is ever opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "domain.h"
#include "log.h"
#include "safedir.h"

#define JOURNAL_MAGIC "migrd-journal 1"
/* A failed write is tried again this much later (and at the next event). */
#define RETRY_MS 1000

static struct {
	int dirfd;			/* the checked directory; -1: none */
	bool dir_done;			/* opened or refused, once */
	char name[NAME_MAX + 1];	/* the journal's name in it */
	struct watch retry;		/* timerfd while a write waits */
	bool retry_armed;
	bool failing;			/* a failed write was logged */
	int fd;				/* last written: to append to */
	char *rest;			/* its switch and reap lines */
	size_t rest_len;
	size_t snapshot_len, appended;	/* bytes */
	uint64_t next_session;		/* as the file says */
	struct list_head changed;	/* VMs whose line changed */
	char (*gone)[MIG_ID_LEN];	/* VMs ended since, if in the file */
	size_t ngone, gone_cap;
} jr = { .dirfd = -1, .retry.fd = -1, .fd = -1,
	 .changed = { &jr.changed, &jr.changed } };

/* Appends beyond max(this, the snapshot) make the next save a snapshot. */
#define APPEND_MIN (64 * 1024)

/* The journal's place: state_file, or beside the socket (X.sock: X.state). */
void journal_set_path(void)
{
	const char *sock = migrd.cfg.socket;
	size_t n = strlen(sock);

	if (migrd.cfg.state_file[0]) {
		mig_strlcpy(migrd.state_file, migrd.cfg.state_file,
			    sizeof(migrd.state_file));
		return;
	}
	if (n > 5 && strcmp(sock + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(migrd.state_file, sizeof(migrd.state_file), "%.*s.state",
		 (int)n, sock);
}

/*
 * The journal's directory, checked and opened once: every read and write
 * after goes through this fd, so no path is resolved twice. A directory
 * that is refused leaves migrd without a journal for this run (said once).
 */
static int journal_dir(void)
{
	const char *path = migrd.state_file;
	char dir[sizeof(migrd.state_file)];
	char *slash = strrchr(path, '/');
	int fd;

	if (jr.dir_done)
		return jr.dirfd;
	jr.dir_done = true;
	if (path[0] != '/' || !slash[1] ||
	    strlen(slash + 1) >= sizeof(jr.name)) {
		log_err("not using the journal %s: it must be an absolute file name",
			path);
		return -EINVAL;
	}
	mig_strlcpy(jr.name, slash + 1, sizeof(jr.name));
	mig_strlcpy(dir, path, sizeof(dir));
	dir[slash == path ? 1 : slash - path] = '\0';
	fd = safe_dir_open(dir, "the journal");
	if (fd >= 0) {
		/* fsync() wants a real fd, not O_PATH: the same directory. */
		jr.dirfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
	}
	if (jr.dirfd < 0)
		log_err("not using the journal %s: its directory is not safe; VMs registered now will not survive a restart",
			path);
	return jr.dirfd;
}

static void write_vm(FILE *f, const char *kw, const struct vm *vm)
{
	fprintf(f, "%s %s %s %s %d %" PRIu64 " %" PRIu64 " %u %u %" PRIu64 "\n",
		kw, vm->id, vm->name, vm->uuid[0] ? vm->uuid : "-", vm->owner_pid,
		vm->owner_ino, vm->owner_start, vm->owner_uid, vm->upgrades,
		vm->registered_ms);
}

/*
 * READY and SWITCHING are one for a recovery (whichever side exits first
 * decides), so the line does not change when the source pauses: no
 * journal write falls into the guest's pause.
 */
static void write_switch(FILE *f, const struct session *s)
{
	fprintf(f, "switch %" PRIu64 " %s %d %d %" PRIu64 " %" PRIu64 " %u\n",
		s->id, s->vm_id, (int)MIG_STATE_READY, s->dest_pid, s->dest_ino,
		s->dest_start, s->dest_uid);
}

/* Whether the journal names vm: its owner lives, or a switchover may
 * still hand it on. */
static bool vm_journaled(const struct vm *vm)
{
	return !vm->owner_gone || vm->session;
}

/* Text made by fill() in memory; NULL when out of memory. */
static char *text_of(void (*fill)(FILE *f, const void *arg), const void *arg,
		     size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	fill(f, arg);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The switchovers and old VMMs it names: rarely changed, small. */
static void fill_rest(FILE *f, const void *arg)
{
	struct session *s;

	(void)arg;
	list_for_each_entry(s, &migrd.sessions, link)
		if (s->direct)
			write_switch(f, s);
	reaper_journal(f);
}

struct rest {
	const char *text;
	size_t len;
};

/* The whole journal, the rest (fill_rest()'s) at its end. */
static void fill_snapshot(FILE *f, const void *arg)
{
	const struct rest *rest = arg;
	struct vm *vm;

	fprintf(f, "%s\nnext-session %" PRIu64 "\n", JOURNAL_MAGIC,
		migrd.next_session);
	list_for_each_entry(vm, &migrd.vms, link)
		if (vm_journaled(vm))
			write_vm(f, "vm", vm);
	fwrite(rest->text, 1, rest->len, f);
}

/* What changed since the file was written, as lines to append. */
static void fill_append(FILE *f, const void *arg)
{
	struct vm *vm;

	(void)arg;
	if (migrd.next_session != jr.next_session)
		fprintf(f, "next-session %" PRIu64 "\n", migrd.next_session);
	for (size_t i = 0; i < jr.ngone; i++)
		fprintf(f, "vm-gone %s\n", jr.gone[i]);
	list_for_each_entry(vm, &jr.changed, jlink) {
		if (vm_journaled(vm))
			write_vm(f, vm->jin_file ? "vm-update" : "vm", vm);
		else if (vm->jin_file)
			fprintf(f, "vm-gone %s\n", vm->id);
	}
}

void journal_vm_changed(struct vm *vm)
{
	migrd.dirty = true;
	if (vm->jchanged)
		return;
	vm->jchanged = true;
	list_add_tail(&vm->jlink, &jr.changed);
}

/* Before vm is freed: a VM that ended (not one migrd forgets as it stops)
 * and that the file names gets its vm-gone line. */
void journal_vm_gone(struct vm *vm)
{
	if (vm->jchanged)
		list_del(&vm->jlink);
	vm->jchanged = false;
	if (!vm->dying || !vm->jin_file)
		return;
	migrd.dirty = true;
	if (jr.ngone == jr.gone_cap) {
		size_t cap = jr.gone_cap ? 2 * jr.gone_cap : 64;
		void *p = realloc(jr.gone, cap * sizeof(*jr.gone));

		if (!p) {
			/* The next save cannot say it: make it a snapshot. */
			mig_close_fds(&jr.fd, 1);
			return;
		}
		jr.gone = p;
		jr.gone_cap = cap;
	}
	mig_strlcpy(jr.gone[jr.ngone++], vm->id, MIG_ID_LEN);
}

/* The file says what migrd knows: nothing changed is pending. */
static void settle(bool snapshot)
{
	struct vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &jr.changed, jlink) {
		list_del(&vm->jlink);
		vm->jchanged = false;
		vm->jin_file = vm_journaled(vm);
	}
	if (snapshot)
		list_for_each_entry(vm, &migrd.vms, link)
			vm->jin_file = vm_journaled(vm);
	jr.ngone = 0;
	jr.next_session = migrd.next_session;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The whole text, on the disk: a crash after the rename finds all of it. */
static int fill(int fd, const char *text, size_t len)
{
	int r = write_all(fd, text, len);

	if (!r && fsync(fd) < 0)
		r = -errno;
	return r;
}

/* ".NAME.<16 random hex digits>": nobody can have prepared it. */
static int temp_name(char *tmp, size_t size)
{
	unsigned char raw[8];
	char hex[2 * sizeof(raw) + 1];
	int n;

	if (getrandom(raw, sizeof(raw), 0) != sizeof(raw))
		return -EAGAIN;
	mig_hex(hex, raw, sizeof(raw));
	n = snprintf(tmp, size, ".%s.%s", jr.name, hex);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * An anonymous file in the directory, written, then given the name tmp.
 * Returns -EOPNOTSUPP when the file system or /proc cannot do it, so the
 * caller makes tmp itself.
 */
static int write_tmpfile(const char *tmp, const char *text, size_t len)
{
	char proc[32];
	int fd = openat(jr.dirfd, ".", O_TMPFILE | O_WRONLY | O_APPEND |
			O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return errno == EISDIR || errno == EINVAL ||
		       errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
	r = fill(fd, text, len);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* Through /proc: AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH. */
	if (!r && linkat(AT_FDCWD, proc, jr.dirfd, tmp, AT_SYMLINK_FOLLOW) < 0)
		r = errno == ENOENT ? -EOPNOTSUPP : -errno;
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}

/* The fallback: tmp made by us (O_EXCL), never a file found there. */
static int write_named(const char *tmp, const char *text, size_t len)
{
	int fd = openat(jr.dirfd, tmp, O_WRONLY | O_APPEND | O_CREAT |
			O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int r;

	if (fd < 0)
		return -errno;
	r = fill(fd, text, len);
	if (r) {
		close(fd);
		unlinkat(jr.dirfd, tmp, 0);
		return r;
	}
	return fd;
}

/*
 * The new text under the journal's name, on the disk: an fd on it to
 * append to (O_APPEND), or an error.
 */
static int journal_write(const char *text, size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd = temp_name(tmp, sizeof(tmp));

	if (fd)
		return fd;
	fd = write_tmpfile(tmp, text, len);
	if (fd == -EOPNOTSUPP)
		fd = write_named(tmp, text, len);
	if (fd < 0)
		return fd;
	/* The rename itself must survive a power cut too. */
	if (renameat(jr.dirfd, tmp, jr.dirfd, jr.name) < 0 ||
	    fsync(jr.dirfd) < 0) {
		int r = -errno;

		unlinkat(jr.dirfd, tmp, 0);
		close(fd);
		return r;
	}
	return fd;
}

static void retry_due(struct watch *w, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(w->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug("journal retry timer: %m");
	/* Still dirty: the save after this event writes it. */
	jr.retry_armed = false;
}

/* Try again in RETRY_MS; without a timer, at the next event. */
static void retry_later(void)
{
	struct itimerspec its = {
		.it_value.tv_sec = RETRY_MS / 1000,
		.it_value.tv_nsec = (RETRY_MS % 1000) * 1000000L,
	};

	if (jr.retry.fd < 0) {
		jr.retry.fd = timerfd_create(CLOCK_MONOTONIC,
					     TFD_NONBLOCK | TFD_CLOEXEC);
		jr.retry.fn = retry_due;
		if (jr.retry.fd < 0 || watch_add(&jr.retry, EPOLLIN) < 0) {
			mig_close_fds(&jr.retry.fd, 1);
			return;
		}
	}
	jr.retry_armed = timerfd_settime(jr.retry.fd, 0, &its, NULL) == 0;
}

/* A failure is said once, and again only after a write worked. */
static void save_failed(int err)
{
	if (!jr.failing)
		log_err("cannot write the journal %s: %s; trying again every second",
			migrd.state_file, strerror(-err));
	jr.failing = true;
	retry_later();
}

static void save_done(void)
{
	if (jr.failing)
		log_notice("the journal %s is written again", migrd.state_file);
	jr.failing = false;
	migrd.dirty = false;
}

/* A whole new journal; its fd kept for the appends that follow. */
static int save_snapshot(char *rest, size_t rest_len)
{
	struct rest r = { rest, rest_len };
	size_t len;
	char *text = text_of(fill_snapshot, &r, &len);
	int fd;

	if (!text)
		return -ENOMEM;
	fd = journal_write(text, len);
	free(text);
	if (fd < 0)
		return fd;
	mig_close_fds(&jr.fd, 1);
	jr.fd = fd;
	free(jr.rest);
	jr.rest = rest;
	jr.rest_len = rest_len;
	jr.snapshot_len = len;
	jr.appended = 0;
	settle(true);
	return 0;
}

/*
 * What changed, at the end of the file we wrote last. A write that fails
 * midway leaves a torn last line, which a reader ignores; the file is
 * written whole next time, so nothing after it is lost.
 */
static int save_append(void)
{
	size_t len;
	char *text = text_of(fill_append, NULL, &len);
	int r;

	if (!text)
		return -ENOMEM;
	r = len ? fill(jr.fd, text, len) : 0;
	free(text);
	if (r) {
		mig_close_fds(&jr.fd, 1);
		return r;
	}
	jr.appended += len;
	settle(false);
	return 0;
}

/* Can the file we have be brought up to date by appending? */
static bool may_append(const char *rest, size_t rest_len)
{
	size_t limit = jr.snapshot_len > APPEND_MIN ? jr.snapshot_len :
		APPEND_MIN;

	struct stat st;

	/* Removed or replaced under us: what we append would be lost. */
	if (jr.fd < 0 || fstat(jr.fd, &st) < 0 || st.st_nlink == 0)
		return false;
	return jr.appended < limit && rest_len == jr.rest_len &&
	       memcmp(rest, jr.rest, rest_len) == 0;
}

/*
 * Bring the journal up to what migrd knows: most events (a session
 * step, a query) change nothing in it and cost no I/O; a VM's change is
 * one appended line. migrd stays dirty until a write succeeded, so a
 * failed one is tried again (as a whole new journal).
 */
void journal_save(void)
{
	size_t rest_len;
	char *rest;
	int r;

	/* Waiting for the retry timer, unless this is the last chance. */
	if (!migrd.dirty || !migrd.state_file[0] ||
	    (jr.retry_armed && !migrd.stopping))
		return;
	if (journal_dir() < 0) {
		migrd.dirty = false;	/* no journal this run; said once */
		return;
	}
	rest = text_of(fill_rest, NULL, &rest_len);
	if (!rest) {
		save_failed(-ENOMEM);
		return;
	}
	if (may_append(rest, rest_len)) {
		free(rest);
		r = save_append();
	} else {
		r = save_snapshot(rest, rest_len);
		if (r)
			free(rest);
	}
	if (r) {
		save_failed(r);
		return;
	}
	save_done();
}

/*
 * Open a pidfd on the process the journal names, if it is still that
 * process: same pid, same start time, and (with pidfs) the same inode.
 */
static int repin(pid_t pid, uint64_t ino, uint64_t start)
{
	uint64_t now_start, now_ino;
	int pidfd = mig_pidfd_open(pid);

	if (pidfd < 0)
		return pidfd;
	if (mig_pid_start(pid, &now_start) < 0 || now_start != start ||
	    mig_pidfd_ino(pidfd, &now_ino) < 0 || now_ino != ino) {
		close(pidfd);
		return -ESRCH;
	}
	return pidfd;
}

struct jvm {
	char id[MIG_ID_LEN], name[MIG_NAME_MAX], uuid[MIG_UUID_LEN];
	uint64_t ino, start, reg_ms;
	unsigned int uid, upgrades;
	int pid;
};

/* VMs whose owner is gone: a recorded switchover may still hand them on. */
#define ORPHANS_MAX 64
static struct jvm orphans[ORPHANS_MAX];
static unsigned int norphans;

static struct jvm *orphan_find(const char *key)
{
	for (unsigned int i = 0; i < norphans; i++)
		if (!strcmp(orphans[i].id, key) ||
		    !strcmp(orphans[i].name, key) ||
		    !strcasecmp(orphans[i].uuid, key))
			return &orphans[i];
	return NULL;
}

static struct vm *register_again(const struct jvm *j, int pidfd, pid_t pid,
				 uid_t uid, uint64_t ino, uint64_t start)
{
	struct vm *vm = vm_create(j->name, strcmp(j->uuid, "-") ? j->uuid : "",
				  pidfd, pid, uid, ino);

	if (!vm)
		return NULL;
	/* The identity is the VM's, not this run's: keep it. */
	mig_strlcpy(vm->id, j->id, sizeof(vm->id));
	vm->owner_start = start;
	vm->upgrades = j->upgrades;
	vm->registered_ms = j->reg_ms;
	log_info("VM %s (%s) registered again from the journal: owner pid %d",
		 vm->name, vm->id, pid);
	return vm;
}

/* An identity as vm_create() makes them: 32 lowercase hex digits. */
static bool valid_id(const char *id)
{
	return strlen(id) == MIG_ID_LEN - 1 &&
	       strspn(id, "0123456789abcdef") == MIG_ID_LEN - 1;
}

/*
 * One VM per identity, name and UUID, as a registration is held to: an
 * earlier line (registered or orphaned) keeps it, a later one is refused.
 */
static bool vm_line_ok(const struct jvm *j)
{
	const char *uuid = strcmp(j->uuid, "-") ? j->uuid : "";
	struct why w;

	if (vm_find(j->id) || orphan_find(j->id)) {
		log_warn("journal %s: a second VM with identity %s (%s) is refused; the first stays",
			 migrd.state_file, j->id, j->name);
		return false;
	}
	if (check_new_names(j->name, uuid, &w) < 0 ||
	    orphan_find(j->name) || (*uuid && orphan_find(uuid))) {
		log_warn("journal %s: VM %s (%s) is refused: its name or UUID is invalid or already taken by an earlier line",
			 migrd.state_file, j->id, j->name);
		return false;
	}
	return true;
}

/* A VM's line as it stands after every update: registered after. */
static void load_vm(const struct jvm *j)
{
	int pidfd;

	if (!vm_line_ok(j))
		return;
	pidfd = repin(j->pid, j->ino, j->start);
	if (pidfd >= 0) {
		register_again(j, pidfd, j->pid, (uid_t)j->uid, j->ino,
			       j->start);
		return;
	}
	if (norphans < ORPHANS_MAX)
		orphans[norphans++] = *j;
	log_info("VM %s (%s): its owner pid %d is gone since migrd stopped",
		 j->name, j->id, j->pid);
}

/*
 * The source exited while migrd was down, past the point where it could
 * only exit after GO or die: the destination that still runs has the
 * guest. It becomes the owner, as a commit would have made it.
 */
static void hand_orphan(const char *vm_id, uint64_t id, int pidfd, pid_t pid,
			uid_t uid, uint64_t ino, uint64_t start)
{
	struct jvm *j = orphan_find(vm_id);
	struct vm *vm;

	if (!j || strcmp(j->id, vm_id) != 0) {
		close(pidfd);
		return;
	}
	vm = register_again(j, pidfd, pid, uid, ino, start);
	if (vm) {
		vm->upgrades++;
		log_notice("session %" PRIu64 " (VM %s): committed while migrd was down; the destination pid %d owns the guest",
			   id, vm->name, pid);
	}
}

/*
 * One switchover per VM and per session number: a second line for
 * either is refused (a VM handed from an orphan was already decided).
 */
static bool switch_line_ok(uint64_t id, const char *vm_id)
{
	struct vm *vm = vm_find(vm_id);

	if (session_find(id, false) || (vm && vm->session) ||
	    (vm && orphan_find(vm_id))) {
		log_warn("journal %s: a second switchover line for session %" PRIu64 " or VM %s is refused; the first stays",
			 migrd.state_file, id, vm_id);
		return false;
	}
	return true;
}

static void load_switch(const char *line)
{
	char vm_id[MIG_ID_LEN];
	uint64_t id, ino, start;
	unsigned int uid;
	int state, pid, pidfd;
	struct vm *vm;

	if (sscanf(line, "switch %" SCNu64 " %32s %d %d %" SCNu64 " %" SCNu64 " %u",
		   &id, vm_id, &state, &pid, &ino, &start, &uid) != 7) {
		log_warn("journal: ignoring a malformed line");
		return;
	}
	if (!switch_line_ok(id, vm_id))
		return;
	vm = vm_find(vm_id);
	pidfd = repin(pid, ino, start);
	if (!vm && pidfd >= 0)
		hand_orphan(vm_id, id, pidfd, pid, (uid_t)uid, ino, start);
	else if (!vm)
		log_notice("session %" PRIu64 ": source and destination both gone while migrd was down; the guest did not survive",
			   id);
	else if (pidfd < 0)
		log_notice("session %" PRIu64 " (VM %s): the destination is gone since migrd stopped; the source keeps the guest",
			   id, vm->name);
	else
		session_recover(vm, id, (enum mig_state)state, pidfd, pid,
				(uid_t)uid, ino, start);
}

/*
 * Is what we opened a journal only migrd could have written? A regular
 * file (not a FIFO that blocks or a device), migrd's user's, writable by
 * nobody else. Says why not, once, in one line.
 */
static bool file_trusted(int fd)
{
	const char *path = migrd.state_file;
	struct stat st;

	if (fstat(fd, &st) < 0) {
		log_err("refusing the journal %s: cannot stat it: %m; starting with no VMs",
			path);
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("refusing the journal %s: it is not a regular file; starting with no VMs",
			path);
		return false;
	}
	if (st.st_uid != geteuid()) {
		log_err("refusing the journal %s: it is owned by uid %u, not migrd's uid %u; starting with no VMs",
			path, st.st_uid, geteuid());
		return false;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_err("refusing the journal %s: it is writable by %s; starting with no VMs",
			path, st.st_mode & S_IWOTH ? "everybody" : "its group");
		return false;
	}
	return true;
}

/*
 * The journal, opened through its directory: never a symlink followed,
 * never an open that waits (O_NONBLOCK: a FIFO there opens at once and
 * is refused as one). NULL: nothing to read (said why, if not absent).
 */
static FILE *journal_open(void)
{
	FILE *f;
	int fd;

	if (journal_dir() < 0)
		return NULL;
	fd = openat(jr.dirfd, jr.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		log_err("refusing the journal %s: it is a symbolic link; starting with no VMs",
			migrd.state_file);
	else if (fd < 0 && errno != ENOENT)
		log_err("refusing the journal %s: cannot open it: %m; starting with no VMs",
			migrd.state_file);
	if (fd < 0)
		return NULL;
	if (!file_trusted(fd)) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		log_err("cannot read the journal %s: %m; starting with no VMs",
			migrd.state_file);
		close(fd);
	}
	return f;
}

/*
 * A line the buffer cut is not a line: skip the rest of it. The last
 * line without its newline is an append a crash cut short: not a line
 * either (a number cut short would still parse).
 */
static bool whole_line(FILE *f, const char *line)
{
	int c;

	if (strchr(line, '\n'))
		return true;
	if (feof(f)) {
		log_warn("journal: ignoring its last line, cut short (migrd stopped while appending it)");
		return false;
	}
	while ((c = getc(f)) != EOF && c != '\n')
		;
	log_warn("journal: ignoring a line too long to be one of migrd's");
	return false;
}

/* The VM lines, as updated by the appends after them: ID -> its line. */
struct jvms {
	struct jvm *v;
	bool *live;
	size_t n, cap;
	char **later;			/* switch and reap lines: after */
	size_t nlater, later_cap;
};

static struct jvm *jvms_find(struct jvms *t, const char *id)
{
	for (size_t i = t->n; i-- > 0;)
		if (t->live[i] && !strcmp(t->v[i].id, id))
			return &t->v[i];
	return NULL;
}

static int jvms_add(struct jvms *t, const struct jvm *j)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct jvm *v = realloc(t->v, cap * sizeof(*v));
		bool *live = v ? realloc(t->live, cap * sizeof(*live)) : NULL;

		if (v)
			t->v = v;
		if (!live)
			return -ENOMEM;
		t->live = live;
		t->cap = cap;
	}
	t->v[t->n] = *j;
	t->live[t->n++] = true;
	return 0;
}

static int keep_later(struct jvms *t, const char *line)
{
	if (t->nlater == t->later_cap) {
		size_t cap = t->later_cap ? 2 * t->later_cap : 16;
		char **p = realloc(t->later, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->later = p;
		t->later_cap = cap;
	}
	t->later[t->nlater] = strdup(line);
	return t->later[t->nlater++] ? 0 : -ENOMEM;
}

/* The fields after the keyword (line points past it). */
static bool parse_vm(const char *line, struct jvm *j)
{
	if (sscanf(line, " %32s %63s %36s %d %" SCNu64 " %" SCNu64 " %u %u %" SCNu64, j->id, j->name, j->uuid, &j->pid, &j->ino,
		   &j->start, &j->uid, &j->upgrades, &j->reg_ms) == 9 &&
	    valid_id(j->id))
		return true;
	log_warn("journal: ignoring a malformed line");
	return false;
}

/*
 * vm: a VM (a second one with an identity already there is refused);
 * vm-update: that VM's line, changed; vm-gone: it ended.
 */
static int load_vm_line(struct jvms *t, const char *line)
{
	char id[MIG_ID_LEN];
	struct jvm j, *old;

	if (strncmp(line, "vm-gone ", 8) == 0) {
		if (sscanf(line, "vm-gone %32s", id) == 1 &&
		    (old = jvms_find(t, id)))
			t->live[old - t->v] = false;
		return 0;
	}
	if (strncmp(line, "vm-update ", 10) == 0) {
		if (!parse_vm(line + 10, &j))
			return 0;
		old = jvms_find(t, j.id);
		if (old && !strcmp(old->name, j.name))
			*old = j;
		else
			log_warn("journal %s: an update of VM %s (%s), which it does not name, is ignored",
				 migrd.state_file, j.id, j.name);
		return 0;
	}
	if (strncmp(line, "vm ", 3) != 0 || !parse_vm(line + 3, &j))
		return 0;
	if (jvms_find(t, j.id)) {
		log_warn("journal %s: a second VM with identity %s (%s) is refused; the first stays",
			 migrd.state_file, j.id, j.name);
		return 0;
	}
	return jvms_add(t, &j);
}

static int read_lines(FILE *f, struct jvms *t)
{
	char line[512];
	int r = 0;

	while (!r && fgets(line, sizeof(line), f)) {
		uint64_t n;

		if (!whole_line(f, line))
			continue;
		if (sscanf(line, "next-session %" SCNu64, &n) == 1)
			migrd.next_session = n;
		else if (strncmp(line, "vm", 2) == 0)
			r = load_vm_line(t, line);
		else if (strncmp(line, "switch ", 7) == 0 ||
			 strncmp(line, "reap ", 5) == 0)
			r = keep_later(t, line);
	}
	return r;
}

/*
 * The VMs first, as the last of their lines says, in the order they
 * were registered; then the switchovers and old VMMs, which name them.
 */
static int load_lines(FILE *f)
{
	struct jvms t = { 0 };
	int r = read_lines(f, &t);

	for (size_t i = 0; !r && i < t.n; i++)
		if (t.live[i])
			load_vm(&t.v[i]);
	for (size_t i = 0; i < t.nlater; i++) {
		if (!r && strncmp(t.later[i], "switch ", 7) == 0)
			load_switch(t.later[i]);
		else if (!r)
			reaper_load(t.later[i], repin);
		free(t.later[i]);
	}
	free(t.later);
	free(t.v);
	free(t.live);
	return r;
}

/*
 * Read the journal a previous migrd left; nothing there is not an error,
 * and neither is a journal refused (said why): migrd starts with no VMs.
 * Either way the next save writes what this migrd knows.
 */
int journal_load(void)
{
	char line[512];
	FILE *f;

	if (!migrd.state_file[0])
		return 0;
	migrd.dirty = true;
	f = journal_open();
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0)
		log_warn("%s is not a migrd journal; starting empty",
			 migrd.state_file);
	else if (load_lines(f) < 0)
		log_err("out of memory reading the journal %s; some VMs were not registered again",
			migrd.state_file);
	fclose(f);
	norphans = 0;
	return 0;
}
