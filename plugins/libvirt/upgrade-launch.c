// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl upgrade, the new VMM: its path and environment prepared before
 * fork (the child only calls execve), its log opened safely, the token
 * in a pipe, a session and process group of its own; and what it
 * reported of its upgrade, read back from its log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "mig-util.h"
#include "upgrade-run.h"

/* COMMAND's path, looked up before fork: the child only calls execve. */
static int resolve(const char *cmd, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *dirs, *dir, *save = NULL;
	int r = -ENOENT;

	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return 0;
	}
	dirs = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!dirs)
		return -ENOMEM;
	for (dir = strtok_r(dirs, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", cmd);
		if (access(out, X_OK) == 0) {
			r = 0;
			break;
		}
	}
	free(dirs);
	return r;
}

/*
 * The new VMM's environment, made before fork (a threaded process may
 * not allocate after it): ours without any token, plus MIG_TOKEN_FD
 * naming the pipe the token waits in.
 */
static char **vmm_env(int token_fd)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MIG_TOKEN=", 10) &&
		    strncmp(environ[i], "MIG_TOKEN_FD=", 13))
			env[k++] = environ[i];
	if (asprintf(&env[k], "MIG_TOKEN_FD=%d", token_fd) < 0) {
		free(env);
		return NULL;
	}
	return env;
}

static void free_env(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n + 1])
		n++;
	free(env[n]);		/* ours: MIG_TOKEN_FD, always last */
	free(env);
}

/*
 * The VMM's log: the file --log names (never through a symlink), or one
 * in a new private directory; opened here, so that a bad path is a clear
 * error rather than a VMM that silently never starts.
 */
int open_log(const struct opts *o, char *log, size_t len)
{
	char dir[] = "/tmp/migctl-upgrade.XXXXXX";
	int fd;

	if (o->log) {
		snprintf(log, len, "%s", o->log);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
	} else if (!mkdtemp(dir)) {
		fd = -1;
		snprintf(log, len, "%s", dir);
	} else {
		snprintf(log, len, "%s/vmm.log", dir);
		fd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
	}
	if (fd < 0)
		fprintf(stderr, "migctl: cannot open the VMM's log %s: %s\n",
			log, strerror(errno));
	return fd;
}

/*
 * The new VMM, in a session (and process group) of its own: the token in
 * a pipe, its output in the log. Everything is prepared before fork.
 */
int start_vmm(const struct opts *o, const struct mig_token *t,
	      int log_fd, struct run *r)
{
	char path[4096];
	char **env = NULL;
	int token_fd, e;

	e = resolve(o->cmd[0], path, sizeof(path));
	if (e) {
		fprintf(stderr, "migctl: cannot find %s: %s\n", o->cmd[0],
			strerror(-e));
		return e;
	}
	token_fd = mig_token_pipe(t->bytes);
	if (token_fd < 0 || !(env = vmm_env(token_fd))) {
		fprintf(stderr, "migctl: cannot pass the token: %s\n",
			strerror(token_fd < 0 ? -token_fd : ENOMEM));
		if (token_fd >= 0)
			close(token_fd);
		return -EIO;
	}
	r->child = fork();
	if (r->child == 0) {
		setsid();
		if (dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 ||
		    fcntl(token_fd, F_SETFD, 0) < 0)
			_exit(127);
		execve(path, o->cmd, env);
		_exit(127);
	}
	e = r->child < 0 ? -errno : 0;
	close(token_fd);
	free_env(env);
	if (e)
		fprintf(stderr, "migctl: cannot start %s: %s\n", o->cmd[0],
			strerror(-e));
	return e;
}

/* " key=VALUE" in line: VALUE's start, or NULL. */
static const char *field(const char *line, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = strchr(line, ' '); p; p = strchr(p + 1, ' '))
		if (strncmp(p + 1, key, n) == 0 && p[1 + n] == '=')
			return p + 2 + n;
	return NULL;
}

/*
 * What the VMM said about its upgrade, if it speaks refvmm's dialect:
 * "upgrade key=value ...", the keys in any order among others.
 */
void read_report(const char *log, struct run *r)
{
	const char *s, *d, *t;
	char line[1024];
	FILE *f = fopen(log, "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "upgrade ", 8) != 0)
			continue;
		s = field(line, "strategy");
		d = field(line, "downtime_us");
		t = field(line, "total_ms");
		if (s && d && t && sscanf(s, "%15[^ \n]", r->strategy) == 1 &&
		    sscanf(d, "%" SCNu64, &r->downtime_us) == 1 &&
		    sscanf(t, "%lf", &r->total_ms) == 1)
			break;
	}
	if (f)
		fclose(f);
}
