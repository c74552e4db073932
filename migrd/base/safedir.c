// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The walk that checks a directory before migrd trusts what is in it:
 * the socket's (transport) and the journal's (domain), so it lives below
 * both.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "safedir.h"

/*
 * Owned by root or us; writable by nobody else (sticky: if not last).
 * @what names the file whoever could write there could swap.
 */
static int dir_safe(int fd, const char *path, bool last, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		log_err("%s is not a directory", path);
		return -ENOTDIR;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_err("refusing %s: owned by uid %u, who could replace %s",
			path, st.st_uid, what);
		return -EPERM;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
	    (last || !(st.st_mode & S_ISVTX))) {
		log_err("refusing %s: writable by %s, who could replace %s",
			path, st.st_mode & S_IWOTH ? "everybody" : "its group",
			what);
		return -EPERM;
	}
	return 0;
}

/* Walk the canonical path of dir one component at a time, no symlinks. */
int safe_dir_open(const char *dir, const char *what)
{
	char real[PATH_MAX], *comp, *save = NULL;
	int fd, next, r;

	if (!realpath(dir, real)) {
		r = -errno;
		log_err("cannot resolve %s: %s", dir, strerror(-r));
		return r;
	}
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = dir_safe(fd, "/", !strcmp(real, "/"), what);
	for (comp = strtok_r(real, "/", &save); !r && comp;
	     comp = strtok_r(NULL, "/", &save)) {
		next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			      O_CLOEXEC);
		close(fd);
		fd = next;
		if (fd < 0) {
			r = -errno;
			log_err("cannot open %s (at %s): %s", dir, comp,
				strerror(-r));
			return r;
		}
		r = dir_safe(fd, dir, !save || !*save, what);
	}
	if (r) {
		close(fd);
		return r;
	}
	return fd;
}
