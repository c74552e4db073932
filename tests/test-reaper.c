// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd/domain/reaper.c alone (the event loop stubbed): the time until an old
 * VMM is killed is an int of ms for epoll_wait; an exit_grace past
 * INT_MAX ms (24.8 days) must come out as a long wait, never wrap into a
 * negative number, which the loop takes for "no deadline" (never kill).
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"

struct migrd migrd;

int watch_add(struct watch *w, uint32_t events)
{
	return 0;
}

void watch_del(struct watch *w)
{
}

Test(reaper, a_long_grace_does_not_wrap)
{
	struct vm vm = { .name = "longgrace" };
	uint64_t now = mig_mono_ms();
	pid_t pid = fork();
	int pidfd, ms;

	if (pid == 0) {
		pause();
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	list_init(&migrd.reapers);
	migrd.cfg.exit_grace_ms = 3000000000u;	/* 34.7 days */
	pidfd = mig_pidfd_open(pid);
	cr_assert_geq(pidfd, 0);
	cr_assert_eq(reaper_add(&vm, pidfd, pid), 0);
	ms = reaper_timeouts(now);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_expect_eq(ms, INT_MAX, "%d ms until the old VMM is killed", ms);
	reaper_fini();
}
