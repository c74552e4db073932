// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The journal: what migrd knows that must survive migrd being killed and
 * started again. A small text file under /run (state_file), rewritten
 * whole and renamed into place after every event that changed it, so a
 * crash leaves the old or the new version, never half of one.
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
 *   switch SESSION VM-ID STATE DEST-PID DEST-INO DEST-START DEST-UID
 *   reap PID INO START VM-NAME	(an old VMM that must still exit)
 *
 * Only switchovers past the point where the source got its end of the
 * direct channel are recorded: before it, a restart aborts the session
 * and the source, which never paused, keeps its guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "domain.h"

#define JOURNAL_MAGIC "migrd-journal 1"

static void write_vm(FILE *f, const struct vm *vm)
{
	fprintf(f, "vm %s %s %s %d %" PRIu64 " %" PRIu64 " %u %u %" PRIu64 "\n",
		vm->id, vm->name, vm->uuid[0] ? vm->uuid : "-", vm->owner_pid,
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

/* What the journal says now, in memory; NULL when out of memory. */
static char *journal_text(size_t *len)
{
	struct session *s;
	struct vm *vm;
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	fprintf(f, "%s\nnext-session %" PRIu64 "\n", JOURNAL_MAGIC,
		migrd.next_session);
	list_for_each_entry(vm, &migrd.vms, link)
		if (!vm->owner_gone || vm->session)
			write_vm(f, vm);
	list_for_each_entry(s, &migrd.sessions, link)
		if (s->direct)
			write_switch(f, s);
	reaper_journal(f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write the journal if what it says changed: most events (a session
 * step, a query) leave it as it was and cost no I/O.
 */
void journal_save(void)
{
	static char *last;
	static size_t last_len;
	char tmp[sizeof(migrd.state_file) + 8];
	size_t len;
	char *text;
	int fd, r;

	if (!migrd.dirty || !migrd.state_file[0])
		return;
	migrd.dirty = false;
	text = journal_text(&len);
	if (!text) {
		log_err("cannot write the journal: out of memory");
		return;
	}
	if (last && len == last_len && memcmp(text, last, len) == 0) {
		free(text);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.new", migrd.state_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	r = fd < 0 ? -1 : write_all(fd, text, len);
	if (fd >= 0 && close(fd) < 0)
		r = -1;
	if (r < 0 || rename(tmp, migrd.state_file) < 0) {
		log_err("cannot write the journal %s: %m", migrd.state_file);
		if (fd >= 0)
			unlink(tmp);
		free(text);
		return;
	}
	free(last);
	last = text;
	last_len = len;
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

static void load_vm(const char *line)
{
	struct jvm j;
	int pidfd;

	if (sscanf(line, "vm %32s %63s %36s %d %" SCNu64 " %" SCNu64 " %u %u %" SCNu64,
		   j.id, j.name, j.uuid, &j.pid, &j.ino, &j.start, &j.uid,
		   &j.upgrades, &j.reg_ms) != 9 ||
	    strlen(j.id) != MIG_ID_LEN - 1) {
		log_warn("journal: ignoring a malformed line");
		return;
	}
	pidfd = repin(j.pid, j.ino, j.start);
	if (pidfd >= 0) {
		register_again(&j, pidfd, j.pid, (uid_t)j.uid, j.ino, j.start);
		return;
	}
	if (norphans < ORPHANS_MAX)
		orphans[norphans++] = j;
	log_info("VM %s (%s): its owner pid %d is gone since migrd stopped",
		 j.name, j.id, j.pid);
}

/*
 * The source exited while migrd was down, past the point where it could
 * only exit after GO or die: the destination that still runs has the
 * guest. It becomes the owner, as a commit would have made it.
 */
static void hand_orphan(const char *vm_id, uint64_t id, int pidfd, pid_t pid,
			uid_t uid, uint64_t ino, uint64_t start)
{
	struct vm *vm;

	for (unsigned int i = 0; i < norphans; i++) {
		if (strcmp(orphans[i].id, vm_id) != 0)
			continue;
		vm = register_again(&orphans[i], pidfd, pid, uid, ino, start);
		if (vm) {
			vm->upgrades++;
			log_notice("session %" PRIu64 " (VM %s): committed while migrd was down; the destination pid %d owns the guest",
				   id, vm->name, pid);
		}
		return;
	}
	close(pidfd);
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

/* Read the journal a previous migrd left; nothing there is not an error. */
int journal_load(void)
{
	char line[512];
	FILE *f;

	if (!migrd.state_file[0])
		return 0;
	f = fopen(migrd.state_file, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0) {
		log_warn("%s is not a migrd journal; starting empty",
			 migrd.state_file);
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t n;

		if (sscanf(line, "next-session %" SCNu64, &n) == 1)
			migrd.next_session = n;
		else if (strncmp(line, "vm ", 3) == 0)
			load_vm(line);
		else if (strncmp(line, "switch ", 7) == 0)
			load_switch(line);
		else if (strncmp(line, "reap ", 5) == 0)
			reaper_load(line, repin);
	}
	fclose(f);
	norphans = 0;
	migrd.dirty = true;
	return 0;
}
