// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The claim token on its way into the new VMM leaves no trace: a process
 * that reads the VMM's /proc/PID/environ afterwards (as the same user or
 * root may) finds nothing. The new VMM is this program executed again,
 * as a VMM is; a constructor plays its part before Criterion starts.
 * The counterpart shows what the attacker would read if the VMM only
 * called unsetenv().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libmig.h"

#define HEX "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"

/* The new VMM: take the token (or only unsetenv it), report, wait. */
__attribute__((constructor)) static void new_vmm(void)
{
	const char *mode = getenv("TOKEN_TEST_CHILD");
	uint8_t bytes[MIG_TOKEN_LEN] = { 0 };
	char hex[MIG_TOKEN_HEX] = "";
	int r;

	if (!mode)
		return;
	unsetenv("TOKEN_TEST_CHILD");
	if (!strcmp(mode, "unsetenv")) {
		r = mig_token_parse(getenv("MIG_TOKEN"), bytes);
		unsetenv("MIG_TOKEN");
	} else {
		r = mig_token_take(bytes);
	}
	if (!r)
		mig_token_format(bytes, hex);
	if (write(1, hex, sizeof(hex)) != sizeof(hex))
		_exit(1);
	close(1);
	pause();
	_exit(0);
}

struct vmm {
	pid_t pid;
	char token[MIG_TOKEN_HEX];	/* what it got */
	char environ[8192];		/* what anybody reads of it */
};

/* Start the new VMM with env, and read its token and its environment. */
static void start_vmm(struct vmm *v, char **env, int keep_fd)
{
	char path[64];
	int p[2], fd;
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	v->pid = fork();
	cr_assert_geq(v->pid, 0);
	if (v->pid == 0) {
		char *argv[] = { "test-token", NULL };

		dup2(p[1], 1);
		if (keep_fd >= 0)
			fcntl(keep_fd, F_SETFD, 0);
		execve("/proc/self/exe", argv, env);
		_exit(127);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], v->token, sizeof(v->token)), sizeof(v->token));
	close(p[0]);
	snprintf(path, sizeof(path), "/proc/%d/environ", v->pid);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	n = read(fd, v->environ, sizeof(v->environ) - 1);
	cr_assert_geq(n, 0);
	close(fd);
	/* NULs separate the variables: make it one searchable string. */
	for (ssize_t i = 0; i < n; i++)
		if (!v->environ[i])
			v->environ[i] = ' ';
	v->environ[n] = '\0';
}

static void stop_vmm(struct vmm *v)
{
	kill(v->pid, SIGKILL);
	waitpid(v->pid, NULL, 0);
}

Test(token, in_the_environment_it_is_wiped)
{
	char *env[] = { "TOKEN_TEST_CHILD=take", "MIG_TOKEN=" HEX, NULL };
	struct vmm v;

	start_vmm(&v, env, -1);
	cr_expect_str_eq(v.token, HEX, "the VMM has its token");
	cr_expect_null(strstr(v.environ, HEX), "nobody else reads it: %s",
		       v.environ);
	stop_vmm(&v);
}

Test(token, unsetenv_alone_would_leave_it)
{
	char *env[] = { "TOKEN_TEST_CHILD=unsetenv", "MIG_TOKEN=" HEX, NULL };
	struct vmm v;

	start_vmm(&v, env, -1);
	cr_expect_str_eq(v.token, HEX);
	cr_expect_not_null(strstr(v.environ, HEX),
			   "what the attack reads without mig_token_take()");
	stop_vmm(&v);
}

Test(token, through_a_pipe_it_never_is_there)
{
	uint8_t bytes[MIG_TOKEN_LEN];
	char var[32], path[64];
	char *env[] = { "TOKEN_TEST_CHILD=take", var, NULL };
	struct vmm v;
	int fd;

	cr_assert_eq(mig_token_parse(HEX, bytes), 0);
	fd = mig_token_pipe(bytes);
	cr_assert_geq(fd, 0);
	cr_expect_neq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0,
		      "close-on-exec until the launcher says otherwise");
	snprintf(var, sizeof(var), "MIG_TOKEN_FD=%d", fd);
	start_vmm(&v, env, fd);
	close(fd);
	cr_expect_str_eq(v.token, HEX, "the VMM has its token");
	cr_expect_null(strstr(v.environ, HEX), "%s", v.environ);
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", v.pid, fd);
	cr_expect_neq(access(path, F_OK), 0, "and closed the pipe");
	stop_vmm(&v);
}

Test(token, none_or_malformed)
{
	char *none[] = { "TOKEN_TEST_CHILD=take", NULL };
	char *bad[] = { "TOKEN_TEST_CHILD=take", "MIG_TOKEN=12zz", NULL };
	struct vmm v;

	start_vmm(&v, none, -1);
	cr_expect_str_eq(v.token, "", "no token, none taken");
	stop_vmm(&v);
	start_vmm(&v, bad, -1);
	cr_expect_str_eq(v.token, "");
	cr_expect_null(strstr(v.environ, "12zz"), "wiped all the same");
	stop_vmm(&v);
}
