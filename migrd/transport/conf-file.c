// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd.conf from its file: opened, held to sshd's rules, then parsed by
 * the core (conf.c), which does no I/O of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport.h"

/*
 * Who may have written the file decides what migrd does as root: like
 * sshd, only a regular file owned by root (or migrd's user) and writable
 * by nobody else is taken.
 */
static int config_trusted(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s.", path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file.", path);
		return -EINVAL;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: owned by uid %u, not root; refusing it.",
			 path, st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: writable by %s; refusing it (chmod go-w).",
			 path, st.st_mode & S_IWOTH ? "everybody" : "its group");
		return -EPERM;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, char *err,
		size_t errlen)
{
	FILE *f = fopen(path, "re");
	int r;

	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot open %s: %s.", path,
			 strerror(errno));
		return r;
	}
	r = config_trusted(fileno(f), path, err, errlen);
	if (r) {
		fclose(f);
		return r;
	}
	r = config_parse(cfg, f, path, err, errlen);
	fclose(f);
	return r;
}
