// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A minimal QMP client. QEMU writes one JSON object per line: the
 * greeting, replies ({"return" or {"error"), and events ({"timestamp"),
 * which can come between a command and its reply and are skipped.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mig-util.h"
#include "qmp.h"

/* One line into out; -ETIMEDOUT, -ECONNRESET. */
static int read_line(struct qmp *q, char *out, size_t outlen, int timeout_ms)
{
	uint64_t end = mig_mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd p = { .fd = q->fd, .events = POLLIN };
		uint64_t now;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - q->buf);

			mig_strlcpy(out, q->buf, l + 1 < outlen ? l + 1 : outlen);
			memmove(q->buf, nl + 1, q->len - l - 1);
			q->len -= l + 1;
			return 0;
		}
		if (q->len == sizeof(q->buf))
			return -EMSGSIZE;
		now = mig_mono_ms();
		if (now >= end)
			return -ETIMEDOUT;
		if (poll(&p, 1, end - now > INT_MAX ? INT_MAX :
			 (int)(end - now)) < 0 && errno != EINTR)
			return -errno;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		q->len += (size_t)n;
	}
}

static bool starts(const char *line, const char *key)
{
	while (*line == ' ')
		line++;
	return strncmp(line, key, strlen(key)) == 0;
}

static int send_all(struct qmp *q, const char *cmd, int send_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)cmd, .iov_len = strlen(cmd) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (send_fd >= 0) {
		struct cmsghdr *c;

		m.msg_control = cbuf;
		m.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &send_fd, sizeof(int));
	}
	do
		n = sendmsg(q->fd, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == iov.iov_len ? 0 : -EIO;
}

int qmp_call(struct qmp *q, const char *cmd, int send_fd, char *out,
	     size_t outlen, int timeout_ms)
{
	char line[8192];
	int r = send_all(q, cmd, send_fd);

	if (r)
		return r;
	for (;;) {
		r = read_line(q, line, sizeof(line), timeout_ms);
		if (r)
			return r;
		if (starts(line, "{\"return\"") || starts(line, "{\"error\"")) {
			if (out)
				mig_strlcpy(out, line, outlen);
			return starts(line, "{\"error\"") ? -EIO : 0;
		}
	}
}

static int handshake(struct qmp *q, int timeout_ms)
{
	char line[4096];
	int r = read_line(q, line, sizeof(line), timeout_ms);

	if (!r && !starts(line, "{\"QMP\""))
		r = -EPROTO;
	if (!r)
		r = qmp_call(q, "{\"execute\":\"qmp_capabilities\"}\n", -1,
			     NULL, 0, timeout_ms);
	return r;
}

int qmp_open_fd(struct qmp *q, int fd, int timeout_ms)
{
	int r;

	q->fd = fd;
	q->len = 0;
	r = handshake(q, timeout_ms);
	if (r)
		qmp_close(q);
	return r;
}

int qmp_open_path(struct qmp *q, const char *path, int timeout_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return qmp_open_fd(q, fd, timeout_ms);
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->len = 0;
}

/* Where the value of "key" starts, after the colon and blanks. */
static const char *value_of(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\"", key);
	p = strstr(json, k);
	if (!p)
		return NULL;
	p += strlen(k);
	while (*p == ' ' || *p == ':')
		p++;
	return p;
}

void qmp_str(const char *json, const char *key, char *out, size_t len)
{
	const char *p = value_of(json, key);
	size_t n = 0;

	if (p && *p == '"') {
		p++;
		while (p[n] && p[n] != '"')
			n++;
	}
	mig_strlcpy(out, p ? p : "", n + 1 < len ? n + 1 : len);
}

unsigned long long qmp_num(const char *json, const char *key)
{
	const char *p = value_of(json, key);

	return p ? strtoull(p, NULL, 10) : 0;
}
