// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host around a QEMU swap: libvirt's daemon, stopped for the swap
 * and started again (libvirtd tears a domain down when its QEMU exits,
 * but reconnects to whatever pid its status file names when it starts);
 * that status file; and the new QEMU put where the old one was.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mig-util.h"
#include "qemu.h"

#define say(err, len, ...) (snprintf(err, len, __VA_ARGS__), -1)

int pidfd_wait_exit(int pidfd, int timeout_ms)
{
	return mig_wait_readable(pidfd, timeout_ms);
}

int pidfd_kill(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return errno == ESRCH ? 0 : -errno;
	return 0;
}

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

/* NUL-separated file into an argv (one allocation, argv[0] owns it). */
static char **nul_argv(const char *path)
{
	char buf[8192], **v;
	int n = read_small(path, buf, sizeof(buf)), c = 0;
	char *copy;

	if (n <= 0)
		return NULL;
	for (int i = 0; i < n; i++)
		c += buf[i] == '\0';
	v = calloc((size_t)c + 1, sizeof(char *));
	copy = malloc((size_t)n);
	if (!v || !copy) {
		free(v);
		free(copy);
		return NULL;
	}
	memcpy(copy, buf, (size_t)n);
	for (int i = 0, a = 0; i < n && a < c; i += (int)strlen(copy + i) + 1)
		v[a++] = copy + i;
	return v;
}

/* The unit a process runs in, when systemd is the init that runs it. */
static void systemd_unit(pid_t pid, char *unit, size_t len)
{
	char path[64], buf[4096], *p, *e;

	unit[0] = '\0';
	if (access("/run/systemd/system", F_OK))
		return;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	p = strstr(buf, ".service");
	if (!p)
		return;
	e = p + 8;
	while (p > buf && p[-1] != '/')
		p--;
	mig_strlcpy(unit, p, (size_t)(e - p) + 1 < len ? (size_t)(e - p) + 1 : len);
}

/* A daemon that exited but was not reaped yet runs nothing. */
static bool zombie(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return true;
	p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

int daemon_find(struct mgmt_daemon *d, char *err, size_t len)
{
	static const char *const names[] = { "virtqemud", "libvirtd" };
	DIR *dir = opendir("/proc");
	struct dirent *de;

	memset(d, 0, sizeof(*d));
	if (!dir)
		return say(err, len, "cannot read /proc: %s", strerror(errno));
	while ((de = readdir(dir))) {
		char path[300], comm[64];
		pid_t pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (read_small(path, comm, sizeof(comm)) <= 0 || zombie(pid))
			continue;
		comm[strcspn(comm, "\n")] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			if (strcmp(comm, names[i]) || d->pid)
				continue;
			d->pid = pid;
			mig_strlcpy(d->name, comm, sizeof(d->name));
		}
	}
	closedir(dir);
	if (!d->pid)
		return say(err, len, "neither libvirtd nor virtqemud runs here");
	systemd_unit(d->pid, d->unit, sizeof(d->unit));
	if (!d->unit[0]) {
		char path[64];
		char buf[16384];
		int n;

		snprintf(path, sizeof(path), "/proc/%d/exe", d->pid);
		n = (int)readlink(path, d->exe, sizeof(d->exe) - 1);
		if (n <= 0)
			return say(err, len, "cannot read %s: %s", path,
				   strerror(errno));
		d->exe[n] = '\0';
		snprintf(path, sizeof(path), "/proc/%d/cmdline", d->pid);
		d->argv = nul_argv(path);
		snprintf(path, sizeof(path), "/proc/%d/environ", d->pid);
		n = read_small(path, buf, sizeof(buf));
		if (n > 0 && (d->env = malloc((size_t)n))) {
			memcpy(d->env, buf, (size_t)n);
			d->envlen = (size_t)n;
		}
		if (!d->argv)
			return say(err, len, "cannot read %s's command line",
				   d->name);
	}
	return 0;
}

void daemon_free(struct mgmt_daemon *d)
{
	if (d->argv)
		free(d->argv[0]);
	free(d->argv);
	free(d->env);
	d->argv = NULL;
	d->env = NULL;
}

static int run_wait(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/*
 * Its sockets too: a connection would start it again mid-swap. A host
 * may lack some of them, so only the service's own answer counts.
 */
static int systemctl(const char *verb, const char *unit)
{
	static const char *const sockets[] = { ".socket", "-ro.socket",
					       "-admin.socket" };
	char base[128], s[160];
	char *v[] = { "systemctl", (char *)verb, s, NULL };
	size_t n = strcspn(unit, ".");

	mig_strlcpy(base, unit, n + 1 < sizeof(base) ? n + 1 : sizeof(base));
	for (size_t i = 0; i < ARRAY_SIZE(sockets); i++) {
		snprintf(s, sizeof(s), "%s%s", base, sockets[i]);
		run_wait(v);
	}
	mig_strlcpy(s, unit, sizeof(s));
	return run_wait(v);
}

bool daemon_running(const struct mgmt_daemon *d)
{
	struct mgmt_daemon now;
	char err[128];
	bool r = daemon_find(&now, err, sizeof(err)) == 0;

	daemon_free(&now);
	return r && d;
}

int daemon_stop(struct mgmt_daemon *d, char *err, size_t len)
{
	int pidfd = mig_pidfd_open(d->pid), r;

	if (pidfd < 0)
		return 0;	/* gone already */
	if (d->unit[0])
		r = systemctl("stop", d->unit);
	else
		r = pidfd_kill(pidfd, SIGTERM);
	if (!r && pidfd_wait_exit(pidfd, 30000))
		r = -ETIMEDOUT;
	close(pidfd);
	if (r)
		return say(err, len, "cannot stop %s (pid %d): %s", d->name,
			   d->pid, strerror(-r));
	return 0;
}

int daemon_start(const struct mgmt_daemon *d, char *err, size_t len)
{
	pid_t pid;
	int st;

	if (d->unit[0]) {
		if (systemctl("start", d->unit))
			return say(err, len, "systemctl start %s failed",
				   d->unit);
		return 0;
	}
	/* As it was started, detached from us: it outlives migctl. */
	pid = fork();
	if (pid < 0)
		return say(err, len, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *envv[256];
		size_t n = 0;
		int null = open("/dev/null", O_RDWR);

		for (size_t i = 0; i < d->envlen && n < 255;
		     i += strlen(d->env + i) + 1)
			envv[n++] = d->env + i;
		envv[n] = NULL;
		setsid();
		if (fork() != 0)
			_exit(0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0U, 0);
		execve(d->exe, d->argv, envv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* The value of attribute attr in the first tag named tag. */
static bool attr_of(const char *xml, const char *tag, const char *attr,
		    char *out, size_t len)
{
	char t[64], a[64];
	const char *p = NULL, *end;
	size_t n;

	snprintf(t, sizeof(t), "<%s ", tag);
	p = strstr(xml, t);
	if (!p)
		return false;
	end = strchr(p, '>');
	snprintf(a, sizeof(a), " %s=", attr);
	p = strstr(p, a);
	if (!p || !end || p > end)
		return false;
	p += strlen(a);
	if (*p != '\'' && *p != '"')
		return false;
	n = strcspn(p + 1, "'\"");
	mig_strlcpy(out, p + 1, n + 1 < len ? n + 1 : len);
	return true;
}

static char *read_text(const char *path)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > (16 << 20)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[st.st_size] = '\0';
	close(fd);
	return buf;
}

/*
 * libvirt's status file is private to libvirt: we read three facts and
 * change one. A file without them is a libvirt we do not know.
 */
int status_read(const char *dir, const char *name, struct status_file *s,
		char *err, size_t len)
{
	char pid[32], *xml;

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s/%s.xml", dir, name);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/%s.pid", dir, name);
	xml = read_text(s->path);
	if (!xml)
		return say(err, len, "cannot read libvirt's status file %s: %s",
			   s->path, strerror(errno));
	if (!attr_of(xml, "domstatus", "pid", pid, sizeof(pid)) ||
	    !attr_of(xml, "monitor", "path", s->monitor, sizeof(s->monitor)) ||
	    (s->pid = atoi(pid)) <= 0) {
		free(xml);
		return say(err, len, "libvirt's status file %s is not in a form this migctl knows (<domstatus pid=...> and <monitor path=...>): refusing to change it",
			   s->path);
	}
	free(xml);
	return 0;
}

static int write_atomic(const char *path, const char *text)
{
	char tmp[600];
	int fd, r = 0;
	size_t n = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.migctl-new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) < 0)
		r = -EIO;
	close(fd);
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int status_set_pid(const struct status_file *s, pid_t pid, char *err,
		   size_t len)
{
	char *xml = read_text(s->path), *p, *q, *out, num[32];
	size_t n;
	int r;

	if (!xml)
		return say(err, len, "cannot read %s", s->path);
	p = strstr(xml, "<domstatus ");
	q = p ? strstr(p, " pid=") : NULL;
	if (!q || q > strchr(p, '>')) {
		free(xml);
		return say(err, len, "%s has no <domstatus pid=...>", s->path);
	}
	q += 6;
	n = strlen(xml) + 32;
	out = malloc(n);
	if (!out) {
		free(xml);
		return -ENOMEM;
	}
	snprintf(out, n, "%.*s%d%s", (int)(q - xml), xml, pid,
		 q + strcspn(q, "'\""));
	r = write_atomic(s->path, out);
	free(out);
	free(xml);
	snprintf(num, sizeof(num), "%d\n", pid);
	if (!r && access(s->pidfile, F_OK) == 0)
		r = write_atomic(s->pidfile, num);
	if (r)
		return say(err, len, "cannot write %s: %s", s->path,
			   strerror(-r));
	return 0;
}

/* In the child: the old QEMU's cgroups, every hierarchy. */
static int join_cgroups(pid_t old)
{
	char path[64], buf[4096], *line, *save = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", old);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -errno;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *ctl = strchr(line, ':'), *cg, dir[600];
		int fd;

		if (!ctl || !(cg = strchr(ctl + 1, ':')))
			continue;
		*cg++ = '\0';
		ctl++;
		if (strcmp(cg, "/") == 0)
			continue;
		if (!*ctl)	/* v2: alone, or beside v1 (hybrid) */
			snprintf(dir, sizeof(dir), access("/sys/fs/cgroup/unified",
				 F_OK) ? "/sys/fs/cgroup%s/cgroup.procs" :
				 "/sys/fs/cgroup/unified%s/cgroup.procs", cg);
		else
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s/cgroup.procs",
				 strncmp(ctl, "name=", 5) ? ctl : ctl + 5, cg);
		fd = open(dir, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			int e = -errno;

			if (fd >= 0)
				close(fd);
			return e;
		}
		close(fd);
	}
	return 0;
}

/* In the child: the old QEMU's uid, gids and capabilities. */
static int take_creds(pid_t old)
{
	char path[64], buf[4096], *p;
	unsigned long long capb = ~0ULL, cape = 0, capp = 0, capi = 0;
	unsigned int uid = 0, gid = 0;
	gid_t groups[64];
	int ng = 0;
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	snprintf(path, sizeof(path), "/proc/%d/status", old);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -errno;
	if ((p = strstr(buf, "\nUid:")))
		sscanf(p, "\nUid: %*u %u", &uid);
	if ((p = strstr(buf, "\nGid:")))
		sscanf(p, "\nGid: %*u %u", &gid);
	if ((p = strstr(buf, "\nGroups:"))) {
		p += 8;
		while (ng < 64 && sscanf(p, " %u", &groups[ng]) == 1) {
			ng++;
			p += strspn(p, " \t");
			p += strspn(p, "0123456789");
		}
	}
	if ((p = strstr(buf, "\nCapInh:")))
		sscanf(p, "\nCapInh: %llx", &capi);
	if ((p = strstr(buf, "\nCapPrm:")))
		sscanf(p, "\nCapPrm: %llx", &capp);
	if ((p = strstr(buf, "\nCapEff:")))
		sscanf(p, "\nCapEff: %llx", &cape);
	if ((p = strstr(buf, "\nCapBnd:")))
		sscanf(p, "\nCapBnd: %llx", &capb);
	for (int c = 0; c < 64; c++)
		if (!(capb & (1ULL << c)))
			prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
	/* Keep capabilities across the uid change, then set them. */
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	if (setgroups((size_t)ng, groups) < 0 || setgid(gid) < 0 ||
	    setuid(uid) < 0)
		return -errno;
	d[0].effective = (uint32_t)cape;
	d[1].effective = (uint32_t)(cape >> 32);
	d[0].permitted = (uint32_t)capp;
	d[1].permitted = (uint32_t)(capp >> 32);
	d[0].inheritable = (uint32_t)capi;
	d[1].inheritable = (uint32_t)(capi >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* fds to their numbers, through high numbers so none overwrites another. */
static int place_fds(const struct spawn *sp)
{
	int tmp[ARRAY_SIZE(sp->fds)];

	for (unsigned int i = 0; i < sp->n; i++) {
		tmp[i] = fcntl(sp->fds[i], F_DUPFD_CLOEXEC, 4096);
		if (tmp[i] < 0)
			return -errno;
	}
	for (unsigned int i = 0; i < sp->n; i++)
		if (dup2(tmp[i], sp->at[i]) < 0)
			return -errno;
	return 0;
}

static void child(const struct spawn *sp, int mntns, int report)
{
	char *envv[512];
	size_t n = 0;
	int r, null;

	setsid();
	r = join_cgroups(sp->old);
	if (!r && setns(mntns, CLONE_NEWNS) < 0)
		r = -errno;
	/* Nothing of ours reaches QEMU but what is placed below. */
	if (!r && syscall(SYS_close_range, 3, ~0U, 4 /* CLOEXEC */) < 0)
		r = -errno;
	if (!r)
		r = place_fds(sp);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!r && dup2(null, 0) < 0)
		r = -errno;
	if (!r)
		r = take_creds(sp->old);
	if (!r) {
		for (size_t i = 0; i < sp->envlen && n < 511;
		     i += strlen(sp->env + i) + 1)
			envv[n++] = sp->env + i;
		envv[n] = NULL;
		execve(sp->argv[0], sp->argv, envv);
		r = -errno;
	}
	if (write(report, &r, sizeof(r)) < 0)
		_exit(126);
	_exit(127);
}

int qemu_spawn(const struct spawn *sp, pid_t *pid, char *err, size_t len)
{
	char path[64];
	int mntns, pipefd[2], e = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", sp->old);
	mntns = open(path, O_RDONLY | O_CLOEXEC);
	if (mntns < 0)
		return say(err, len, "cannot open %s: %s", path,
			   strerror(errno));
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		close(mntns);
		return say(err, len, "pipe: %s", strerror(errno));
	}
	*pid = fork();
	if (*pid == 0)
		child(sp, mntns, pipefd[1]);
	close(mntns);
	close(pipefd[1]);
	if (*pid < 0) {
		close(pipefd[0]);
		return say(err, len, "fork: %s", strerror(errno));
	}
	/* EOF: exec'd. A number: how it failed before that. */
	do
		n = read(pipefd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof(e)) {
		waitpid(*pid, NULL, 0);
		return say(err, len, "cannot start %s in the old QEMU's place: %s",
			   sp->argv[0], strerror(-e));
	}
	return 0;
}
