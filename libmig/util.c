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
#include <sys/vfs.h>
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

/* The pid a pidfd names, from its fdinfo; -ESRCH once it has exited. */
int mig_pidfd_pid(int pidfd, pid_t *pid)
{
	char path[64], line[128];
	int r = -EBADF;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		int v;

		if (sscanf(line, "Pid: %d", &v) == 1) {
			r = v > 0 ? 0 : -ESRCH;
			*pid = v;
			break;
		}
	}
	fclose(f);
	return r;
}

/*
 * Without pidfs every pidfd is the same anon inode, so its number names
 * nobody. A process is then named by its pid and start time, read while
 * its pidfd shows it alive (so the pid was not yet reused): the top bit
 * set, the start time (clock ticks) above the pid's 22 bits.
 */
int mig_pid_identity(int pidfd, uint64_t *id)
{
	uint64_t start;
	pid_t pid;
	int r = mig_pidfd_pid(pidfd, &pid);

	if (!r)
		r = mig_pid_start(pid, &start);
	if (r)
		return r;
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return -errno;
	*id = 1ULL << 63 | (start & ((1ULL << 41) - 1)) << 22 |
	      ((uint64_t)pid & ((1ULL << 22) - 1));
	return 0;
}

#define PIDFS_MAGIC_NUMBER 0x50494446	/* linux/magic.h, 6.9+ */

bool mig_have_pidfs(int pidfd)
{
	struct statfs sfs;

	return fstatfs(pidfd, &sfs) == 0 &&
	       (unsigned long)sfs.f_type == PIDFS_MAGIC_NUMBER;
}

/*
 * On pidfs (Linux 6.9+) a pidfd's inode number names one process for the
 * life of the system: comparing it, not the pid, is what makes pid reuse
 * harmless. Before, mig_pid_identity() stands in.
 */
int mig_pidfd_ino(int pidfd, uint64_t *ino)
{
	struct stat st;

	if (!mig_have_pidfs(pidfd))
		return mig_pid_identity(pidfd, ino);
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

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none.
 */
size_t mig_utf8_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned int c = s[0], n, min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (unsigned int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A control character: C0, DEL, or C1 (U+0080..U+009F, as 0xc2 0x80..). */
static bool is_control(const unsigned char *s, size_t n)
{
	return (n == 1 && (s[0] < 0x20 || s[0] == 0x7f)) ||
	       (n == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

bool mig_str_printable(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	while (*s) {
		size_t n = mig_utf8_len((const char *)s);

		if (!n || is_control(s, n))
			return false;
		s += n;
	}
	return true;
}

size_t mig_escape(char *out, size_t len, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t o = 0;

	if (!len)
		return 0;
	while (*s) {
		size_t n = mig_utf8_len((const char *)s);

		if (!n || is_control(s, n)) {
			/* Byte by byte: \xNN, never the raw byte. */
			if (o + 4 >= len)
				break;
			snprintf(out + o, len - o, "\\x%02x", *s);
			o += 4;
			s++;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
	return o;
}

void mig_close_fds(int *fds, unsigned int nfds)
{
	for (unsigned int i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}
