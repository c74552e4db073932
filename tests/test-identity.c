// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Who a process is, for migrd: on pidfs (Linux 6.9+) its pidfd's inode,
 * before it (where every pidfd is one anon inode, which would make every
 * client the owner of everything) its pid and start time, read while its
 * pidfd shows it alive. Both are checked here, on whatever kernel runs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mig-private.h"

static pid_t sleeper(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	cr_assert_gt(pid, 0);
	return pid;
}

/* id(pidfd) through both ways: what pidfs says, and the fallback. */
Test(identity, two_processes_are_two)
{
	pid_t a = sleeper(), b = sleeper();
	int fa = mig_pidfd_open(a), fb = mig_pidfd_open(b);
	int fa2 = mig_pidfd_open(a);
	uint64_t ia, ib, ia2;

	cr_assert(fa >= 0 && fb >= 0 && fa2 >= 0);
	cr_assert_eq(mig_pid_identity(fa, &ia), 0);
	cr_assert_eq(mig_pid_identity(fb, &ib), 0);
	cr_assert_eq(mig_pid_identity(fa2, &ia2), 0);
	cr_expect_neq(ia, ib, "without pidfs: two processes, two names");
	cr_expect_eq(ia, ia2, "and one process, one name, whatever the pidfd");
	cr_assert_eq(mig_pidfd_ino(fa, &ia), 0);
	cr_assert_eq(mig_pidfd_ino(fb, &ib), 0);
	cr_assert_eq(mig_pidfd_ino(fa2, &ia2), 0);
	cr_expect_neq(ia, ib, "what migrd uses: two processes, two names");
	cr_expect_eq(ia, ia2);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	close(fa);
	close(fb);
	close(fa2);
}

/* A process that has exited has no name any more: its pid may be reused. */
Test(identity, the_dead_have_none)
{
	pid_t a = sleeper();
	int fa = mig_pidfd_open(a);
	uint64_t id;

	cr_assert_geq(fa, 0);
	cr_assert_eq(mig_pid_identity(fa, &id), 0, "alive, it has one");
	kill(a, SIGKILL);
	waitpid(a, NULL, 0);
	cr_expect_eq(mig_pid_identity(fa, &id), -ESRCH);
	close(fa);
}

/* On pidfs the inode is used as is; elsewhere the fallback is. */
Test(identity, pidfs_where_there_is_one)
{
	int self = mig_pidfd_open(getpid());
	struct stat st;
	uint64_t id;

	cr_assert_geq(self, 0);
	cr_assert_eq(mig_pidfd_ino(self, &id), 0);
	cr_assert_eq(fstat(self, &st), 0);
	if (mig_have_pidfs(self))
		cr_expect_eq(id, (uint64_t)st.st_ino);
	else
		cr_expect(id >> 63, "the fallback's name");
	close(self);
}
