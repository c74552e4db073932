// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Who else can reach a file: every process's open fds (per thread, since
 * a thread may have an fd table of its own) and its shared mappings
 * (/proc/PID/map_files), compared by device and inode. A rebind hands
 * memory to a new identity only when this finds nobody but migrd.
 *
 * What it cannot see is stated in migrd(8), SECURITY: an fd in flight in
 * a socket, a file registered with io_uring. For guest_memfd the kernel
 * patch's link closes both (a link without the VM proof revokes every
 * other holder); on a stock kernel they are the residual risk.
 *
 * A process that cannot be inspected counts as a holder: the check
 * fails closed, which is why rebinds need migrd to run as root. Every
 * error refuses (a directory that cannot be read to its end, a link that
 * cannot be followed) except those of a process, thread, fd or mapping
 * that went away meanwhile (ENOENT, ESRCH): what is gone holds nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain.h"

struct hold_query {
	const struct stat *files;
	unsigned int n;
	struct holder *found;
};

/* What went away meanwhile holds nothing; any other error is unknown. */
static bool gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

/*
 * The next entry of d, NULL at its end or on an error (*err): readdir(3)
 * tells the two apart only by errno, so an error must not pass for the
 * end of the list.
 */
static struct dirent *next_entry(DIR *d, int *err)
{
	struct dirent *e;

	errno = 0;
	e = readdir(d);
	if (!e && errno && !gone(errno))
		*err = -errno;
	return e;
}

static pid_t numeric(const struct dirent *e)
{
	char *end;
	long v;

	if (e->d_name[0] < '0' || e->d_name[0] > '9')
		return 0;
	v = strtol(e->d_name, &end, 10);
	return *end || v <= 0 ? 0 : (pid_t)v;
}

/*
 * dir below at, to read; NULL with *err 0 if it is gone (the process
 * exited meanwhile), else with *err the reason.
 */
static DIR *open_below(int at, const char *dir, int *err)
{
	int fd = openat(at, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	/* ENOENT or ESRCH: the process or thread is exiting or gone. */
	*err = fd < 0 && !gone(errno) ? -errno : 0;
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		*err = -errno;
		close(fd);
	}
	return d;
}

/* 1 and *found filled if an entry of dir (fd/ or map_files/) is ours. */
static int scan_links(int at, const char *dir, pid_t pid,
		      struct hold_query *q)
{
	struct dirent *e;
	struct stat st;
	int r = 0;
	DIR *d = open_below(at, dir, &r);

	if (!d)
		return r;
	while (!r && (e = next_entry(d, &r))) {
		if (e->d_name[0] == '.')
			continue;
		/* Follows the magic link to the file itself. Closed or
		 * unmapped meanwhile is nothing; EACCES or EPERM (map_files
		 * needs CAP_SYS_ADMIN) is a holder we cannot rule out. */
		if (fstatat(dirfd(d), e->d_name, &st, 0) < 0) {
			if (!gone(errno))
				r = -errno;
			continue;
		}
		for (unsigned int i = 0; i < q->n; i++) {
			if (st.st_dev != q->files[i].st_dev ||
			    st.st_ino != q->files[i].st_ino)
				continue;
			q->found->pid = pid;
			q->found->file = i;
			q->found->mapped = !strcmp(dir, "map_files");
			r = 1;
			break;
		}
	}
	closedir(d);
	return r;
}

static int scan_tasks(int procfd, pid_t pid, struct hold_query *q)
{
	char path[32];
	struct dirent *e;
	int r = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%d/task", pid);
	d = open_below(procfd, path, &r);
	if (!d)
		return r;
	while (!r && (e = next_entry(d, &r))) {
		pid_t tid = numeric(e);

		if (!tid)
			continue;
		snprintf(path, sizeof(path), "%d/fd", tid);
		r = scan_links(dirfd(d), path, pid, q);
	}
	closedir(d);
	return r;
}

static int scan_process(int procfd, pid_t pid, struct hold_query *q)
{
	char path[32];
	int pfd, r = scan_tasks(procfd, pid, q);

	if (r)
		return r;
	/* The mappings are per process: threads share them. */
	snprintf(path, sizeof(path), "%d", pid);
	pfd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return gone(errno) ? 0 : -errno;
	r = scan_links(pfd, "map_files", pid, q);
	close(pfd);
	return r;
}

int holders_find(const struct stat *files, unsigned int n, pid_t self,
		 struct holder *found)
{
	struct hold_query q = { files, n, found };
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *e;
	int r = 0;
	DIR *d;

	found->pid = 0;		/* /proc itself: nobody in particular */
	if (procfd < 0)
		return -errno;
	d = fdopendir(procfd);
	if (!d) {
		close(procfd);
		return -errno;
	}
	while (!r && (e = next_entry(d, &r))) {
		pid_t pid = numeric(e);

		if (!pid || pid == self)
			continue;
		r = scan_process(procfd, pid, &q);
		if (r < 0) {
			/* Could not look: as good as a holder. */
			found->pid = pid;
			found->file = 0;
			found->mapped = false;
		}
	}
	closedir(d);
	return r;
}
