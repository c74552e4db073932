// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * holders_find() (migrd/domain/holders.c), the check a rebind relies on: nobody
 * but migrd may still reach the memory. A process whose fds or mappings
 * cannot be looked at must count as a holder (the check fails closed),
 * never be skipped as if it held nothing.
 *
 * The case that cannot be inspected: an unprivileged scanner may list a
 * process's map_files/ (same user, dumpable) but not follow its links
 * (that needs CAP_SYS_ADMIN): EPERM on each. To see no other process (as
 * nobody, any root process would fail the scan first, for another
 * reason), scanner and mapper live in a PID namespace of their own with
 * its own /proc. Needs root for that; skipped without.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain.h"

#define NOBODY 65534

/* A child that maps fd shared, closes it, says so on ready, and waits. */
static pid_t mapper(int fd, int ready, bool drop)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
	    MAP_FAILED)
		_exit(1);
	close(fd);
	/* After setuid the process is not dumpable: nobody could look. */
	if (drop && (setresgid(NOBODY, NOBODY, NOBODY) ||
		     setresuid(NOBODY, NOBODY, NOBODY) ||
		     prctl(PR_SET_DUMPABLE, 1)))
		_exit(1);
	if (write(ready, "1", 1) != 1)
		_exit(1);
	pause();
	_exit(0);
}

static int shared_file(struct stat *st)
{
	int fd = memfd_create("test-holders", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	cr_assert_eq(fstat(fd, st), 0);
	return fd;
}

/*
 * Runs scan(drop) as pid 1 of a PID namespace of its own, with its own
 * /proc: only the mapper is there to be found (a host may have processes
 * that even root cannot inspect, a container's init). Its exit status.
 */
static int in_own_pidns(int (*scan)(bool), bool drop)
{
	int status;
	pid_t pid;

	if (geteuid())
		cr_skip_test("needs root: a PID namespace and its /proc");
	if (unshare(CLONE_NEWPID | CLONE_NEWNS))
		cr_skip_test("cannot make a PID namespace here: %s",
			     strerror(errno));
	pid = fork();
	if (pid == 0) {
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("proc", "/proc", "proc",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
			_exit(10);
		_exit(scan(drop));
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_neq(WEXITSTATUS(status), 10, "cannot mount /proc here");
	return WEXITSTATUS(status);
}

/*
 * A mapper holding only a shared mapping of a memfd; the scan, as nobody
 * if drop (the mapper too). 0 if it found the mapper (a holder, or
 * someone who could not be inspected if drop), else why not.
 */
static int scan(bool drop)
{
	struct holder h = { 0 };
	struct stat st;
	int p[2], fd, r;
	char c;
	pid_t pid;

	if (pipe(p))
		return 11;
	fd = shared_file(&st);
	pid = mapper(fd, p[1], drop);
	close(fd);
	if (pid < 0 || read(p[0], &c, 1) != 1)
		return 12;
	if (drop && (setresgid(NOBODY, NOBODY, NOBODY) ||
		     setresuid(NOBODY, NOBODY, NOBODY)))
		return 13;
	r = holders_find(&st, 1, getpid(), &h);
	kill(pid, SIGKILL);
	if (r == 0)
		return 1;	/* failed open: the mapper was overlooked */
	if (drop ? r != -EPERM && r != -EACCES : r != 1 || !h.mapped)
		return 2;
	return h.pid == pid ? 0 : 3;
}

/* A mapping, with the fd closed, is found. */
Test(holders, a_mapping_is_found)
{
	cr_assert_eq(in_own_pidns(scan, false), 0);
}

/* Mappings that cannot be read: refused, with who could not be seen. */
Test(holders, who_cannot_be_inspected_is_a_holder)
{
	cr_assert_eq(in_own_pidns(scan, true), 0,
		     "exit 1: a process whose mappings cannot be read was taken for nobody");
}
