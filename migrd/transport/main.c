// SPDX-License-Identifier: LGPL-2.1-or-later
/* migrd(8): options, configuration, daemonizing, and the main loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"

#define DEFAULT_CONFIG SYSCONFDIR "/migrd.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migrd [OPTION]...\n"
		"Broker guest memory handoffs between VMM processes.\n\n"
		"  -c, --config FILE   read FILE (default " DEFAULT_CONFIG ", if present)\n"
		"  -s, --socket PATH   listen on PATH (default " MIG_DEFAULT_SOCKET ")\n"
		"  -f, --foreground    stay in the foreground (default: detach once listening)\n"
		"      --syslog        log to syslog\n"
		"  -d, --debug         log debug messages\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n\n"
		"See migrd(8) and migrd.conf(5).\n");
}

struct opts {
	const char *config;
	const char *socket;
	bool foreground;
	bool syslog;
	bool debug;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ }
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:s:fdhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 's': o->socket = optarg; break;
		case 'f': o->foreground = true; break;
		case 'S': o->syslog = true; break;
		case 'd': o->debug = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("migrd %s\n", PACKAGE_VERSION); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "migrd: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* A group that does not exist is the configuration's error: say where. */
static int check_group(const char *path, const char *key, const char *name,
		       unsigned int line)
{
	if (!name[0] || getgrnam(name))
		return 0;
	fprintf(stderr, "migrd: %s:%u: %s: there is no group named %s.\n",
		path, line, key, name);
	return -ENOENT;
}

static int check_groups(const char *path)
{
	int r = check_group(path, "socket_group", migrd.cfg.socket_group,
			    migrd.cfg.socket_group_line);

	return r ? r : check_group(path, "admin_group", migrd.cfg.admin_group,
				   migrd.cfg.admin_group_line);
}

static int load_config(const struct opts *o)
{
	const char *path = o->config ? o->config : DEFAULT_CONFIG;
	char err[256];
	int r;

	config_defaults(&migrd.cfg);
	if (o->config || access(path, F_OK) == 0) {
		r = config_load(&migrd.cfg, path, err, sizeof(err));
		if (r) {
			fprintf(stderr, "migrd: %s\n", err);
			return r;
		}
	}
	if (o->socket) {
		if (strlen(o->socket) >= sizeof(migrd.cfg.socket)) {
			fprintf(stderr, "migrd: socket path too long\n");
			return -ENAMETOOLONG;
		}
		mig_strlcpy(migrd.cfg.socket, o->socket,
			    sizeof(migrd.cfg.socket));
	}
	r = check_groups(path);
	if (r)
		return r;
	if (o->syslog)
		migrd.cfg.syslog = true;
	if (o->debug)
		migrd.cfg.log_level = LOG_DEBUG;
	return 0;
}

/*
 * Detach, but let the parent return only once the socket is listening:
 * "migrd && migctl status" then works without a sleep in between.
 */
static int detach(int *ready_fd)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

static void say_ready(int fd)
{
	if (fd < 0)
		return;
	if (write(fd, "1", 1) != 1)
		log_warn("cannot tell the parent we are ready: %m");
	close(fd);
	if (!freopen("/dev/null", "r", stdin) ||
	    !freopen("/dev/null", "w", stdout))
		log_warn("cannot detach stdio: %m");
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	int ready = -1, r;

	if (parse_args(argc, argv, &o) || load_config(&o))
		return 2;
	if (!o.foreground && detach(&ready) < 0) {
		perror("migrd: fork");
		return 1;
	}
	log_setup(migrd.cfg.syslog, migrd.cfg.log_level);
	r = server_init();
	if (r) {
		log_err("cannot start: %s", strerror(-r));
		server_fini();
		return 1;
	}
	say_ready(ready);
	activation_notify("READY=1\nSTATUS=serving");
	r = server_run();
	activation_notify("STOPPING=1");
	log_notice("stopping: aborting %u open sessions; sources keep their guests",
		   migrd.nsessions);
	server_fini();
	return r ? 1 : 0;
}
