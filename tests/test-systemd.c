// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd tells systemd when it serves (Type=notify): READY=1 on the socket
 * NOTIFY_SOCKET names, once it listens, and STOPPING=1 when it stops;
 * with no NOTIFY_SOCKET it tells nobody and starts all the same. A passed
 * socket (LISTEN_FDS) of the wrong kind is refused with a clear error;
 * socket activation that works is tests/systemd.sh.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

/* What migrd said on the notify socket within timeout_ms, or "". */
static const char *heard(int fd, int timeout_ms)
{
	static char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = 0;

	if (poll(&p, 1, timeout_ms) == 1)
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

Test(systemd, ready_when_serving_stopping_when_not)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct mig_status st;
	struct mig_ctx *c;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (geteuid() != 0)
		cr_skip_test("needs root: migrd's socket directory must be root's");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/migrd-notify.%d",
		 getpid());
	unlink(sa.sun_path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	cr_assert_eq(daemon_start(&d, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	cr_expect(strstr(heard(fd, 5000), "READY=1"), "READY=1 once it serves");
	c = mig_new();
	cr_expect_eq(mig_connect(c, d.sock), 0);
	cr_expect_eq(mig_status(c, &st), 0, "and it does serve");
	mig_unref(c);
	daemon_stop(&d);
	cr_expect(strstr(heard(fd, 5000), "STOPPING=1"), "STOPPING=1 at the end");
	close(fd);
	unlink(sa.sun_path);
}

/* The counterpart: nobody listening, nothing named: it just runs. */
Test(systemd, without_systemd_it_just_runs)
{
	struct mig_status st;
	struct mig_ctx *c;

	if (geteuid() != 0)
		cr_skip_test("needs root: migrd's socket directory must be root's");
	setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
	cr_assert_eq(daemon_start(&d, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	c = mig_new();
	cr_expect_eq(mig_connect(c, d.sock), 0);
	cr_expect_eq(mig_status(c, &st), 0);
	mig_unref(c);
	daemon_stop(&d);
}

/* A stream socket passed as migrd's: it says what it needs and exits. */
Test(systemd, a_passed_socket_of_the_wrong_kind_is_refused)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char log[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	char conf[sizeof(log)], msg[4096] = "";
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), status = -1;
	FILE *f;
	pid_t pid;

	if (geteuid() != 0)
		cr_skip_test("needs root: migrd's socket directory must be root's");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/migrd-stream.%d",
		 getpid());
	snprintf(log, sizeof(log), "%s.log", sa.sun_path);
	snprintf(conf, sizeof(conf), "%s.conf", sa.sun_path);
	unlink(sa.sun_path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "socket = %s\n", sa.sun_path);
	fchmod(fileno(f), 0644);	/* only a config nobody else can write */
	fclose(f);
	pid = fork();
	if (pid == 0) {
		char me[16];

		snprintf(me, sizeof(me), "%d", getpid());
		setenv("LISTEN_PID", me, 1);
		setenv("LISTEN_FDS", "1", 1);
		if (dup2(fd, 3) < 0 || !freopen(log, "w", stderr))
			_exit(126);
		execl(MIGRD_BIN, "migrd", "--foreground", "--config", conf,
		      NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (!WIFEXITED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		  "migrd refuses to start");
	f = fopen(log, "r");
	cr_assert_not_null(f);
	msg[fread(msg, 1, sizeof(msg) - 1, f)] = '\0';
	fclose(f);
	cr_expect(strstr(msg, "not a listening AF_UNIX SOCK_SEQPACKET socket"),
		  "%s", msg);
	unlink(sa.sun_path);
	unlink(log);
	unlink(conf);
	close(fd);
}
