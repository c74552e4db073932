// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd under a service manager, beyond readiness (tests/test-systemd.c):
 * SIGHUP (what "reload" sends) leaves it serving; the watchdog is petted
 * at half of WATCHDOG_USEC, and only by the process it is meant for;
 * LISTEN_PID and LISTEN_FDS that are not whole numbers ("12abc") are no
 * socket activation: migrd says so and makes its own socket.
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

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: migrd's socket directory must be root's");
}

static bool serves(const char *sock)
{
	struct mig_status st;
	struct mig_ctx *c = mig_new();
	bool ok = c && mig_connect(c, sock) == 0 && mig_status(c, &st) == 0;

	mig_unref(c);
	return ok;
}

static bool log_has(const char *path, const char *what)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, what) != NULL;
}

Test(activation, sighup_does_not_stop_migrd)
{
	need_root();
	cr_assert_eq(daemon_start_logged(&d, NULL), 0);
	cr_assert_eq(kill(d.pid, SIGHUP), 0);
	usleep(300000);
	cr_expect_eq(waitpid(d.pid, NULL, WNOHANG), 0, "migrd stopped on SIGHUP");
	cr_expect(serves(d.sock), "and serves on");
	cr_expect(log_has(d.log, "SIGHUP: nothing to reload"),
		  "and says what SIGHUP did");
	daemon_stop(&d);
}

/* A datagram socket for NOTIFY_SOCKET, in the environment. */
static int notify_socket(struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/tmp/migrd-wd.%d",
		 getpid());
	unlink(sa->sun_path);
	cr_assert_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	setenv("NOTIFY_SOCKET", sa->sun_path, 1);
	return fd;
}

/* How many WATCHDOG=1 migrd sent within ms. */
static int pets(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	int n = 0;

	for (int t = 0; t < ms; t += 10) {
		ssize_t len;

		if (poll(&p, 1, 10) != 1)
			continue;
		len = recv(fd, buf, sizeof(buf) - 1, 0);
		buf[len > 0 ? len : 0] = '\0';
		n += strstr(buf, "WATCHDOG=1") != NULL;
	}
	return n;
}

Test(activation, the_watchdog_is_petted_at_half_its_interval)
{
	struct sockaddr_un sa;
	int fd, n;

	need_root();
	fd = notify_socket(&sa);
	setenv("WATCHDOG_USEC", "200000", 1);
	cr_assert_eq(daemon_start(&d, NULL), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("NOTIFY_SOCKET");
	n = pets(fd, 1000);
	/* Every 100 ms: about 10 in a second; a loop asleep would send 1. */
	cr_expect(n >= 5, "%d WATCHDOG=1 in a second, at 200 ms", n);
	daemon_stop(&d);
	close(fd);
	unlink(sa.sun_path);
}

Test(activation, another_process_s_watchdog_is_not_ours)
{
	struct sockaddr_un sa;
	int fd;

	need_root();
	fd = notify_socket(&sa);
	setenv("WATCHDOG_USEC", "200000", 1);
	setenv("WATCHDOG_PID", "1", 1);
	cr_assert_eq(daemon_start(&d, NULL), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
	cr_expect_eq(pets(fd, 500), 0);
	daemon_stop(&d);
	close(fd);
	unlink(sa.sun_path);
}

/*
 * migrd with LISTEN_PID = its pid followed by pid_tail and LISTEN_FDS =
 * fds, fd 3 a socket it must not take (not listening): it must ignore
 * the activation, serve on its own socket, and say why in its log.
 */
static void junk_activation(const char *pid_tail, const char *fds,
			    const char *said)
{
	char base[64], sock[80], conf[80], log[80];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), served = 0, status;
	FILE *f;
	pid_t pid;

	need_root();
	/* The socket's directory must be root's and nobody else's. */
	snprintf(base, sizeof(base), "/tmp/migrd-junk.XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	strcat(base, "/m");
	snprintf(sock, sizeof(sock), "%s.sock", base);
	snprintf(conf, sizeof(conf), "%s.conf", base);
	snprintf(log, sizeof(log), "%s.log", base);
	unlink(sock);
	f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f, "socket = %s\n", sock);
	fchmod(fileno(f), 0644);
	fclose(f);
	pid = fork();
	if (pid == 0) {
		char me[32];

		snprintf(me, sizeof(me), "%d%s", getpid(), pid_tail);
		setenv("LISTEN_PID", me, 1);
		setenv("LISTEN_FDS", fds, 1);
		if (dup2(fd, 3) < 0 || !freopen(log, "w", stderr))
			_exit(126);
		execl(MIGRD_BIN, "migrd", "--foreground", "--config", conf,
		      NULL);
		_exit(127);
	}
	for (int i = 0; i < 300 && !served; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		served = serves(sock);
		usleep(10000);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	cr_expect(served, "migrd took the junk for an activation: %s",
		  log_has(log, "not a listening") ? "refused the socket" :
		  "did not serve");
	cr_expect(log_has(log, said), "its log says: %s", said);
	unlink(conf);
	unlink(log);
	unlink(sock);
	close(fd);
	base[strlen(base) - 2] = '\0';
	rmdir(base);
}

Test(activation, a_listen_pid_with_junk_is_no_activation)
{
	junk_activation("abc", "1", "LISTEN_PID is not a process id");
}

Test(activation, listen_fds_with_junk_is_no_activation)
{
	junk_activation("", "1 trailing", "LISTEN_FDS is not a number");
}
