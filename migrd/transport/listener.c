// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where clients come in: the socket systemd passed, or ours, bound into
 * its checked directory; and the signals that stop migrd.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "transport.h"

static void on_signal(struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	/* Not a stop: "reload" is what SIGHUP asks of a daemon (systemctl
	 * reload, logrotate), and none of migrd's settings can change under
	 * its sessions. */
	if (si.ssi_signo == SIGHUP) {
		log_notice("SIGHUP: nothing to reload (restart migrd to change its configuration)");
		return;
	}
	log_notice("signal %u: shutting down", si.ssi_signo);
	migrd.stopping = true;
}

int lookup_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);

	if (!g) {
		log_err("group %s does not exist", name);
		return -ENOENT;
	}
	*gid = g->gr_gid;
	return 0;
}

/* The socket systemd made for us (migrd.socket), if it passed one. */
static int take_activated(void)
{
	int fd = activation_listener(migrd.cfg.socket,
				     sizeof(migrd.cfg.socket));

	if (fd < 0)
		return fd;
	log_notice("serving the socket systemd passed: %s", migrd.cfg.socket);
	server.listener.fd = fd;
	server.listener.fn = client_accept;
	return watch_add(&server.listener, EPOLLIN);
}

int listener_setup(void)
{
	gid_t gid = (gid_t)-1;
	int fd, r;

	r = take_activated();
	if (r != -ENOENT)
		return r;
	if (migrd.cfg.socket_group[0]) {
		r = lookup_group(migrd.cfg.socket_group, &gid);
		if (r)
			return r;
	}
	r = sockpath_claim(migrd.cfg.socket);
	if (r)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = sockpath_bind(fd, migrd.cfg.socket_mode, gid);
	if (!r && listen(fd, 64) < 0)
		r = -errno;
	if (r) {
		log_err("cannot listen on %s: %s", migrd.cfg.socket,
			strerror(-r));
		close(fd);
		return r;
	}
	server.listener.fd = fd;
	server.listener.fn = client_accept;
	return watch_add(&server.listener, EPOLLIN);
}

int signals_setup(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	server.signals.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (server.signals.fd < 0)
		return -errno;
	server.signals.fn = on_signal;
	return watch_add(&server.signals, EPOLLIN);
}
