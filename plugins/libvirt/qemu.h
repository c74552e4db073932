/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migctl upgrade --emulator: a libvirt QEMU domain moved onto a new QEMU
 * binary with its memory handed over by migrd (qemu-upgrade.c), QEMU's
 * command line as libvirt gave it (qemu-argv.c), and the host around it:
 * libvirt's daemon, its status file, the new process's place (qemu-host.c).
 */
#ifndef MIGRD_LIBVIRT_QEMU_H
#define MIGRD_LIBVIRT_QEMU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "libmig.h"

#define QEMU_FDS_MAX	(MIG_DEVICES_MAX - 2)

/* A memory-backend-memfd object of the old command line. */
struct qemu_backend {
	char id[64];
	uint64_t size;
	int arg;			/* its index in argv */
	int fd;				/* its memfd's number in the old QEMU */
};

/*
 * -add-fd set=S,fd=N,opaque=O: QEMU moved fd N into fdset S and closed
 * N; the new QEMU needs a copy of the fdset's fd at N.
 */
struct qemu_addfd {
	int set, fd;
	char opaque[64];
	int src;			/* the fdset's fd in the old QEMU */
};

/* The running QEMU as libvirt started it. */
struct qemu_proc {
	pid_t pid;
	int argc;
	char **argv;
	char *env;			/* NUL-separated, envlen bytes */
	size_t envlen;
	unsigned int nbe;
	struct qemu_backend be[MIG_REGIONS_MAX];
	unsigned int nfds;
	int fds[QEMU_FDS_MAX];		/* fds the command line names */
	unsigned int naddfd;
	struct qemu_addfd addfd[8];
};

/* qemu-argv.c */
int qemu_proc_read(pid_t pid, struct qemu_proc *p, char *err, size_t len);
void qemu_proc_free(struct qemu_proc *p);
/* Each -add-fd's fd in the old QEMU, from its query-fdsets reply. */
int qemu_addfd_resolve(struct qemu_proc *p, const char *fdsets, char *err,
		       size_t len);
/*
 * The successor's command line: emulator, the memfd backends as files
 * on the inherited fds, no -pidfile (the old QEMU holds its lock), and
 * -incoming defer plus a private monitor on the inherited fd qmp_fd.
 * copy: fresh memfd backends instead, for QEMU to copy the RAM into
 * (what an upgrade without migrd costs, for comparison).
 */
char **qemu_new_argv(const struct qemu_proc *p, const char *emulator,
		     int qmp_fd, bool copy);

/* qemu-host.c: libvirt's management daemon (libvirtd or virtqemud). */
struct mgmt_daemon {
	pid_t pid;
	char name[32];
	char unit[128];			/* systemd unit, "" if not under it */
	char exe[512];			/* its binary, argv[0] may be bare */
	char **argv;			/* to start it again without systemd */
	char *env;
	size_t envlen;
};

int daemon_find(struct mgmt_daemon *d, char *err, size_t len);
int daemon_stop(struct mgmt_daemon *d, char *err, size_t len);
int daemon_start(const struct mgmt_daemon *d, char *err, size_t len);
bool daemon_running(const struct mgmt_daemon *d);
void daemon_free(struct mgmt_daemon *d);

/* libvirt's status file of a running domain: the facts we use. */
struct status_file {
	char path[512];
	char pidfile[512];
	char monitor[512];
	pid_t pid;
};
int status_read(const char *dir, const char *name, struct status_file *s,
		char *err, size_t len);
/* The file names pid from now on (and the pid file says so too). */
int status_set_pid(const struct status_file *s, pid_t pid, char *err,
		   size_t len);

/*
 * The new QEMU, started in the old one's place: its cgroups, mount
 * namespace, credentials, capabilities and environment; fds[i] placed at
 * number at[i] (not close-on-exec), every other fd closed at exec.
 */
struct spawn {
	pid_t old;
	char **argv;
	char *env;
	size_t envlen;
	unsigned int n;
	int fds[MIG_REGIONS_MAX + MIG_DEVICES_MAX + 4];
	int at[MIG_REGIONS_MAX + MIG_DEVICES_MAX + 4];
};
int qemu_spawn(const struct spawn *sp, pid_t *pid, char *err, size_t len);

/* qemu-upgrade.c */
struct qemu_check {
	char name[256];
	pid_t pid;			/* its QEMU now, 0 if unknown */
	char why[512];			/* why it would be refused */
};
/*
 * Would migctl upgrade DOMAIN --emulator EMULATOR go ahead? 0 yes, 1 the
 * domain already runs that binary (the same file, not just the same
 * path), -1 refused (out->why says why). Changes nothing.
 */
int qemu_upgrade_check(struct mig_ctx *ctx, const char *uri,
		       const char *domain, const char *emulator,
		       struct qemu_check *out);
/* pid runs the file at emulator (by device and inode). */
bool qemu_runs(pid_t pid, const char *emulator);

/* upgrade-all.c: migctl upgrade --all, a host's domains in one go. */
int migctl_upgrade_all(struct mig_ctx *ctx, int argc, char **argv,
		       bool json);

/* pidfd helpers */
int pidfd_wait_exit(int pidfd, int timeout_ms);
int pidfd_kill(int pidfd, int sig);

#endif
