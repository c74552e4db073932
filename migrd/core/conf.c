// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd.conf: "key = value" lines, '#' starts a comment. Unknown keys and
 * bad values are errors, not warnings: a daemon that silently ignores a
 * security setting is worse than one that does not start.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <strings.h>

#include "conf.h"
#include "libmig.h"
#include "mig-util.h"

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	mig_strlcpy(cfg->socket, MIG_DEFAULT_SOCKET, sizeof(cfg->socket));
	cfg->socket_mode = 0660;
	cfg->offer_timeout_ms = 60000;
	cfg->prepare_timeout_ms = 60000;
	cfg->switch_timeout_ms = 10000;
	cfg->grant_timeout_ms = 300000;
	cfg->exit_grace_ms = 5000;
	cfg->max_sessions_per_client = 16;
	cfg->max_vms = 4096;
	cfg->max_clients = 4096;
	cfg->max_clients_per_uid = 64;
	cfg->rebind = REBIND_ZERO;
	cfg->log_level = LOG_INFO;
}

const char *rebind_policy_name(enum rebind_policy p)
{
	return p == REBIND_REFUSE ? "refuse" : "zero";
}

typedef int (*setter)(struct config *cfg, const char *v, void *field,
		      size_t size);

static int set_string(struct config *cfg, const char *v, void *field,
		      size_t size)
{
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	mig_strlcpy(field, v, size);
	return 0;
}

/* A group name, and the line it was set on: resolved at start. */
static int set_group(struct config *cfg, const char *v, void *field,
		     size_t size)
{
	int r = set_string(cfg, v, field, size);

	if (!r && field == cfg->socket_group)
		cfg->socket_group_line = cfg->line;
	else if (!r)
		cfg->admin_group_line = cfg->line;
	return r;
}

static int set_mode(struct config *cfg, const char *v, void *field,
		    size_t size)
{
	char *end;
	long m;

	errno = 0;
	m = strtol(v, &end, 8);
	if (errno || *end || m < 0 || m > 0777)
		return -EINVAL;
	*(mode_t *)field = (mode_t)m;
	return 0;
}

/* "250ms", "30s", "2m"; a bare number is seconds. */
static int set_duration(struct config *cfg, const char *v, void *field,
			size_t size)
{
	unsigned long long n, scale = 1000;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	if (strcmp(end, "ms") == 0)
		scale = 1;
	else if (strcmp(end, "m") == 0)
		scale = 60000;
	else if (*end && strcmp(end, "s") != 0)
		return -EINVAL;
	if (n == 0 || n > UINT_MAX / scale)
		return -ERANGE;
	*(unsigned int *)field = (unsigned int)(n * scale);
	return 0;
}

static int set_count(struct config *cfg, const char *v, void *field,
		     size_t size)
{
	uint64_t n;

	if (mig_parse_u64(v, &n) || n == 0 || n > 1000000)
		return -ERANGE;
	*(unsigned int *)field = (unsigned int)n;
	return 0;
}

static int set_policy(struct config *cfg, const char *v, void *field,
		      size_t size)
{
	if (strcmp(v, "zero") == 0)
		cfg->rebind = REBIND_ZERO;
	else if (strcmp(v, "refuse") == 0)
		cfg->rebind = REBIND_REFUSE;
	else
		return -EINVAL;
	return 0;
}

static int set_log(struct config *cfg, const char *v, void *field,
		   size_t size)
{
	if (strcmp(v, "syslog") == 0)
		cfg->syslog = true;
	else if (strcmp(v, "stderr") == 0)
		cfg->syslog = false;
	else
		return -EINVAL;
	return 0;
}

static int set_level(struct config *cfg, const char *v, void *field,
		     size_t size)
{
	int p = mig_priority_from_string(v);

	if (p < 0)
		return p;
	cfg->log_level = p;
	return 0;
}

#define F(name) offsetof(struct config, name), \
		sizeof(((struct config *)0)->name)

static const struct key {
	const char *name;
	setter set;
	size_t offset;
	size_t size;
} keys[] = {
	{ "socket",			set_string,	F(socket) },
	{ "socket_mode",		set_mode,	F(socket_mode) },
	{ "socket_group",		set_group,	F(socket_group) },
	{ "admin_group",		set_group,	F(admin_group) },
	{ "offer_timeout",		set_duration,	F(offer_timeout_ms) },
	{ "prepare_timeout",		set_duration,	F(prepare_timeout_ms) },
	{ "switch_timeout",		set_duration,	F(switch_timeout_ms) },
	{ "grant_timeout",		set_duration,	F(grant_timeout_ms) },
	{ "exit_grace",			set_duration,	F(exit_grace_ms) },
	{ "max_sessions_per_client",	set_count,	F(max_sessions_per_client) },
	{ "max_vms",			set_count,	F(max_vms) },
	{ "max_clients",		set_count,	F(max_clients) },
	{ "max_clients_per_uid",	set_count,	F(max_clients_per_uid) },
	{ "state_file",			set_string,	F(state_file) },
	{ "rebind_policy",		set_policy,	0, 0 },
	{ "log",			set_log,	0, 0 },
	{ "log_level",			set_level,	0, 0 },
};

static int parse_line(struct config *cfg, char *line, const char **bad_key)
{
	char *eq, *key, *val, *hash = strchr(line, '#');

	*bad_key = NULL;
	if (hash)
		*hash = '\0';
	key = mig_trim(line);
	if (!*key)
		return 0;
	eq = strchr(key, '=');
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	key = mig_trim(key);
	val = mig_trim(eq + 1);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(key, keys[i].name) != 0)
			continue;
		*bad_key = keys[i].name;
		if (!*val)
			return -EINVAL;
		return keys[i].set(cfg, val, (char *)cfg + keys[i].offset,
				   keys[i].size);
	}
	return -ENOENT;
}

int config_parse(struct config *cfg, FILE *f, const char *name, char *err,
		 size_t errlen)
{
	char line[512];
	unsigned int n = 0;

	while (fgets(line, sizeof(line), f)) {
		const char *key;
		int r;

		cfg->line = ++n;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line too long.", name, n);
			return -E2BIG;
		}
		r = parse_line(cfg, line, &key);
		if (r == -ENOENT)
			snprintf(err, errlen, "%s:%u: unknown setting.", name, n);
		else if (r && key)
			snprintf(err, errlen, "%s:%u: invalid value for %s.",
				 name, n, key);
		else if (r)
			snprintf(err, errlen, "%s:%u: expected key = value.",
				 name, n);
		if (r)
			return r;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read it.", name);
		return -EIO;
	}
	return 0;
}
