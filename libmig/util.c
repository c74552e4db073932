// SPDX-License-Identifier: LGPL-2.1-or-later
/* Small helpers with no better home; each is used in more than one file. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mig-private.h"

int mig_priority_from_string(const char *s)
{
	static const struct { const char *name; int prio; } names[] = {
		{ "err", LOG_ERR }, { "error", LOG_ERR },
		{ "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	char *end;
	long v;

	if (!s || !*s)
		return -EINVAL;
	v = strtol(s, &end, 10);
	if (*end == '\0')
		return v >= LOG_EMERG && v <= LOG_DEBUG ? (int)v : -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].prio;
	return -EINVAL;
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mig_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t mig_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* Copy with truncation and termination (glibc 2.36 has no strlcpy). */
void mig_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (!size)
		return;
	n = src ? strnlen(src, size - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

char *mig_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

void mig_hex(char *out, const void *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

/* A whole decimal number, nothing before or after it. */
int mig_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int mig_pidfd_open(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : fd;
}

/*
 * On pidfs (Linux 6.9+) a pidfd's inode number names one process for the
 * life of the system: comparing it, not the pid, is what makes pid reuse
 * harmless.
 */
int mig_pidfd_ino(int pidfd, uint64_t *ino)
{
	struct stat st;

	if (fstat(pidfd, &st) < 0)
		return -errno;
	*ino = st.st_ino;
	return 0;
}

int mig_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t end = mig_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int r;

	for (;;) {
		int left = timeout_ms < 0 ? -1 : (int)(end - mig_mono_ms());

		if (timeout_ms >= 0 && (int64_t)(end - mig_mono_ms()) < 0)
			left = 0;
		r = poll(&p, 1, left);
		if (r >= 0 || errno != EINTR)
			break;
	}
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/*
 * A process's start time (clock ticks after boot, /proc/PID/stat field
 * 22): with the pid, it names one process across a migrd restart, where
 * no pidfd survives.
 */
int mig_pid_start(pid_t pid, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long v;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The command name may hold anything, spaces and parentheses too. */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &v) != 1)
		return -EINVAL;
	*start = v;
	return 0;
}

/*
 * The real uid a process runs as, from /proc/PID/status: the owner of
 * /proc/PID itself is root for a non-dumpable process, whoever runs it.
 */
int mig_pid_uid(pid_t pid, uid_t *uid)
{
	char path[64], line[256];
	unsigned long v;
	int r = -EINVAL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid: %lu", &v) == 1) {
			*uid = (uid_t)v;
			r = 0;
			break;
		}
	fclose(f);
	return r;
}
