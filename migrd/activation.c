// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * systemd's side of a daemon, without libsystemd: the listening socket
 * systemd made and passed (socket activation, LISTEN_FDS, sd_listen_fds(3)
 * semantics), and readiness told to NOTIFY_SOCKET (sd_notify(3)). Both
 * are plain environment protocols; when neither variable is there, migrd
 * makes its own socket and tells nobody.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"

#define LISTEN_FDS_START 3

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
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_un sa = { 0 };
	socklen_t salen = sizeof(sa);
	int fd = LISTEN_FDS_START, r;

	/* Meant for this process, or for nobody here. */
	if (!pid || !fds || strtol(pid, NULL, 10) != getpid())
		return -ENOENT;
	forget_listen_env();
	if (strtol(fds, NULL, 10) != 1) {
		log_err("systemd passed %s sockets; migrd takes exactly one", fds);
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
