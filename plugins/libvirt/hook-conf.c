// SPDX-License-Identifier: LGPL-2.1-or-later
/* libvirt-hook.conf: socket, pid_dir, strict, timeout; '#' comments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"
#include "mig-private.h"

static int set(struct hook_conf *c, const char *k, const char *v)
{
	char *end;
	long n;

	if (strcmp(k, "socket") == 0 && strlen(v) < sizeof(c->socket))
		snprintf(c->socket, sizeof(c->socket), "%s", v);
	else if (strcmp(k, "pid_dir") == 0 && strlen(v) < sizeof(c->pid_dir))
		snprintf(c->pid_dir, sizeof(c->pid_dir), "%s", v);
	else if (strcmp(k, "strict") == 0 &&
		 (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0))
		c->strict = strcmp(v, "yes") == 0;
	else if (strcmp(k, "timeout") == 0 &&
		 (n = strtol(v, &end, 10)) > 0 && n <= 60 && !*end)
		c->timeout_s = (unsigned int)n;
	else
		return -EINVAL;
	return 0;
}

int hook_conf_load(struct hook_conf *c, const char *path, char *err,
		   size_t errlen)
{
	const char *p = path ? path : SYSCONFDIR "/migrd/libvirt-hook.conf";
	char line[512];
	int lineno = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	snprintf(c->pid_dir, sizeof(c->pid_dir), "%s", "/run/libvirt/qemu");
	c->timeout_s = 5;
	f = fopen(p, "re");
	if (!f) {
		if (!path && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot read %s: %s", p, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *hash = strchr(line, '#'), *eq, *k;

		lineno++;
		if (hash)
			*hash = '\0';
		k = mig_trim(line);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (eq)
			*eq = '\0';
		if (!eq || set(c, mig_trim(k), mig_trim(eq + 1))) {
			snprintf(err, errlen, "%s:%d: expected socket, pid_dir, strict = yes|no or timeout = 1..60",
				 p, lineno);
			fclose(f);
			return -EINVAL;
		}
	}
	fclose(f);
	return 0;
}
