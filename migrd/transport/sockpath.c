// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The listening socket's place in the file system, made safe to use as
 * root. Whoever can write the socket's directory can swap the socket and
 * receive root's requests, or swap a symlink in and make migrd change the
 * mode of another file; so:
 *
 *  - every directory from / down to the socket's is owned by root (or
 *    migrd's user) and writable by nobody else, except sticky ancestors
 *    such as /tmp; the socket's own directory may not even be that;
 *  - that directory is opened once and everything after goes through its
 *    fd (bind through /proc/self/fd/N/), so no path is resolved twice;
 *  - nothing is followed: a symlink or a file that is not a socket where
 *    the socket goes is refused, never removed;
 *  - one migrd per socket, by a lock (flock) beside it: the holder may
 *    replace a stale socket and removes only the socket it created;
 *  - the socket is created with its final mode (umask around bind), so
 *    there is no chmod between bind and listen to race with.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "safedir.h"
#include "transport.h"

static struct {
	int dirfd;
	int lockfd;
	char name[NAME_MAX + 1];
	char path[PATH_MAX];
	dev_t dev;			/* the socket we bound, once bound */
	ino_t ino;
} sp = { .dirfd = -1, .lockfd = -1 };

/* One migrd per socket: the lock file beside it, holding our pid. */
static int take_lock(void)
{
	char lock[NAME_MAX + 1], pid[16] = "";
	int n = snprintf(lock, sizeof(lock), "%s.lock", sp.name);

	if (n < 0 || (size_t)n >= sizeof(lock))
		return -ENAMETOOLONG;
	sp.lockfd = openat(sp.dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW |
			   O_CLOEXEC, 0600);
	if (sp.lockfd < 0) {
		log_err("cannot open the lock %s.lock: %m", sp.path);
		return -errno;
	}
	if (flock(sp.lockfd, LOCK_EX | LOCK_NB) < 0) {
		n = errno;
		if (pread(sp.lockfd, pid, sizeof(pid) - 1, 0) < 0)
			pid[0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_err("another migrd%s%s is already serving %s",
			pid[0] ? " pid " : "", pid, sp.path);
		return n == EWOULDBLOCK ? -EADDRINUSE : -n;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(sp.lockfd, 0) < 0 || pwrite(sp.lockfd, pid, n, 0) != n)
		log_warn("cannot write our pid into %s.lock: %m", sp.path);
	return 0;
}

/* Does anybody answer on the socket there? */
static bool answers(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
			 sp.dirfd, sp.name);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool yes;

	yes = fd >= 0 && n > 0 && (size_t)n < sizeof(sa.sun_path) &&
	      connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return yes;
}

/*
 * What sits where the socket goes. We hold the lock, so a socket there
 * is left over from a migrd that crashed: replace it. Anything else is
 * somebody's file: refuse, and leave it alone.
 */
static int clear_stale(void)
{
	struct stat st;

	if (fstatat(sp.dirfd, sp.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; not touching it",
			sp.path);
		return -EEXIST;
	}
	/* A migrd from before the lock would answer: leave it its socket. */
	if (answers()) {
		log_err("a migrd without the lock is serving %s", sp.path);
		return -EADDRINUSE;
	}
	if (unlinkat(sp.dirfd, sp.name, 0) < 0)
		return -errno;
	log_notice("replaced the stale socket %s", sp.path);
	return 0;
}

int sockpath_claim(const char *path)
{
	char dir[PATH_MAX], *slash;
	int r;

	if (strlen(path) >= sizeof(sp.path) || path[0] != '/') {
		log_err("socket %s: must be an absolute path", path);
		return -EINVAL;
	}
	mig_strlcpy(sp.path, path, sizeof(sp.path));
	mig_strlcpy(dir, path, sizeof(dir));
	slash = strrchr(dir, '/');
	if (!slash[1] || strlen(slash + 1) >= sizeof(sp.name)) {
		log_err("socket %s: no file name", path);
		return -EINVAL;
	}
	mig_strlcpy(sp.name, slash + 1, sizeof(sp.name));
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* The usual /run/migrd: created for us, as root, private enough. */
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		log_warn("cannot create %s: %m", dir);
	/* The same walk as the journal's directory (journal.c). */
	sp.dirfd = safe_dir_open(dir, "the socket");
	if (sp.dirfd < 0)
		return sp.dirfd;
	r = take_lock();
	if (!r)
		r = clear_stale();
	return r;
}

/* Bind fd where the socket goes, with mode and group from the start. */
int sockpath_bind(int fd, mode_t mode, gid_t gid)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int n, r = 0;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s",
		     sp.dirfd, sp.name);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	old = umask(~mode & 0777);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	umask(old);
	if (r)
		return r;
	if (fstatat(sp.dirfd, sp.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	sp.dev = st.st_dev;
	sp.ino = st.st_ino;
	if (gid != (gid_t)-1 &&
	    fchownat(sp.dirfd, sp.name, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Remove the socket if it is still the one we bound; drop the lock. */
void sockpath_release(void)
{
	struct stat st;

	if (sp.dirfd >= 0 && sp.ino &&
	    fstatat(sp.dirfd, sp.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == sp.dev && st.st_ino == sp.ino)
		unlinkat(sp.dirfd, sp.name, 0);
	sp.ino = 0;
	mig_close_fds(&sp.dirfd, 1);
	mig_close_fds(&sp.lockfd, 1);
}
