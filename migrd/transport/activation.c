// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * systemd's side of a daemon, without libsystemd: the listening socket
 * systemd made and passed (socket activation, LISTEN_FDS, sd_listen_fds(3)
 * semantics), readiness told to NOTIFY_SOCKET (sd_notify(3)), and the
 * watchdog (WATCHDOG_USEC, sd_watchdog_enabled(3)). All are plain
 * environment protocols; when no variable is there, migrd makes its own
 * socket and tells nobody.
 *
 * The variables are parsed strictly: a whole decimal number, no sign, in
 * range. "12abc" is not pid 12: a variable that is not what systemd
 * writes was not written by systemd, and is ignored, loudly.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"

#define LISTEN_FDS_START 3

/* s as a whole unsigned decimal number of at most max; else -EINVAL. */
static int parse_uint(const char *s, unsigned long long max,
		      unsigned long long *v)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;		/* empty, a sign or a space */
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end || *v > max ? -EINVAL : 0;
}

/* The pid in variable name, if it is a pid at all: else 0, said. */
static pid_t env_pid(const char *name)
{
	unsigned long long v;

	if (parse_uint(getenv(name), INT_MAX, &v) || !v) {
		log_warn("%s is not a process id: ignored", name);
		return 0;
	}
	return (pid_t)v;
}

static void forget_listen_env(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* An AF_UNIX SOCK_SEQPACKET socket that listens: what migrd serves on. */
static int check_listener(int fd)
{
	int domain = 0, type = 0, listening = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
		log_err("the socket systemd passed (fd %d) is unusable: %m", fd);
		return -EBADF;
	}
	if (domain != AF_UNIX || type != SOCK_SEQPACKET || !listening) {
		log_err("the socket systemd passed is not a listening AF_UNIX SOCK_SEQPACKET socket (ListenSequentialPacket= in migrd.socket)");
		return -EINVAL;
	}
	return 0;
}

int activation_listener(char *path, size_t len)
{
	const char *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sa = { 0 };
	socklen_t salen = sizeof(sa);
	int fd = LISTEN_FDS_START, r;
	unsigned long long n;

	/* Meant for this process, or for nobody here. */
	if (!getenv("LISTEN_PID") || !fds)
		return -ENOENT;
	if (env_pid("LISTEN_PID") != getpid())
		return -ENOENT;
	forget_listen_env();
	if (parse_uint(fds, INT_MAX - LISTEN_FDS_START, &n)) {
		log_warn("LISTEN_FDS is not a number: socket activation ignored");
		return -ENOENT;
	}
	if (n != 1) {
		log_err("systemd passed %llu sockets; migrd takes exactly one", n);
		return -EINVAL;
	}
	r = check_listener(fd);
	if (r)
		return r;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
	    sa.sun_path[0])
		mig_strlcpy(path, sa.sun_path, len);
	return fd;
}

void activation_notify(const char *state)
{
	const char *where = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = where ? strlen(where) : 0;
	int fd;

	if (!n || n >= sizeof(sa.sun_path) || (where[0] != '/' && where[0] != '@'))
		return;
	memcpy(sa.sun_path, where, n);
	if (where[0] == '@')
		sa.sun_path[0] = '\0';		/* an abstract address */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		log_warn("cannot tell systemd \"%s\": %m", state);
	if (fd >= 0)
		close(fd);
}

/*
 * The watchdog: WATCHDOG_USEC set (WatchdogSec= in migrd.service) and,
 * if WATCHDOG_PID is, ours. migrd tells systemd WATCHDOG=1 at half the
 * interval, from its event loop: a loop that hangs is restarted.
 */
static uint64_t watchdog_every_ms, watchdog_next;

static void watchdog_setup(uint64_t now)
{
	unsigned long long usec;
	const char *v = getenv("WATCHDOG_USEC");

	watchdog_next = UINT64_MAX;	/* looked; none unless said below */
	if (!v)
		return;
	if (getenv("WATCHDOG_PID") && env_pid("WATCHDOG_PID") != getpid())
		return;
	if (parse_uint(v, UINT64_MAX, &usec) || !usec) {
		log_warn("WATCHDOG_USEC is not a positive number: no watchdog");
		return;
	}
	watchdog_every_ms = usec / 2000 ? usec / 2000 : 1;
	watchdog_next = now;
	log_info("systemd's watchdog: every %llu ms",
		 (unsigned long long)watchdog_every_ms);
}

int activation_watchdog(uint64_t now)
{
	uint64_t left;

	if (!watchdog_next)
		watchdog_setup(now);
	if (watchdog_next == UINT64_MAX)
		return -1;
	if (now >= watchdog_next) {
		activation_notify("WATCHDOG=1");
		watchdog_next = now + watchdog_every_ms;
	}
	left = watchdog_next - now;
	return left > INT_MAX ? INT_MAX : (int)left;
}
