// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Runs each test in a child with a time limit; see ktest.h. A test that
 * needs what the kernel lacks (no /dev/kvm, no link ioctl) fails rather
 * than skips: these tests only run on the kernel built for them.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ktest.h"

#define KT_TIME_LIMIT 120	/* seconds a test may take under TCG */

static int run_one(const struct ktest *t)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		alarm(KT_TIME_LIMIT);
		t->fn();
		fflush(stdout);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 0;
	if (WIFSIGNALED(status))
		printf("#   killed by signal %d%s\n", WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* kt_main [NAME...]: the named tests, or all of them. */
int kt_main(const struct ktest *tests, int n, int argc, char **argv)
{
	int passed = 0, failed = 0;

	for (int i = 0; i < n; i++) {
		int want = argc < 2;

		for (int a = 1; a < argc; a++)
			want |= strcmp(argv[a], tests[i].name) == 0;
		if (!want)
			continue;
		if (run_one(&tests[i])) {
			printf("ok %d - %s\n", i + 1, tests[i].name);
			passed++;
		} else {
			printf("not ok %d - %s\n", i + 1, tests[i].name);
			failed++;
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	fflush(stdout);
	return failed || !passed;
}
