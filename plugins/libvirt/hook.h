/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt hook's configuration and its domain XML reader. */
#ifndef MIGRD_HOOK_H
#define MIGRD_HOOK_H

#include <stdbool.h>
#include <stdio.h>

struct hook_conf {
	char socket[108];	/* "" for libmig's default */
	char pid_dir[256];	/* where libvirt keeps NAME.pid */
	bool strict;		/* fail a domain start if registering fails */
	unsigned int timeout_s;	/* never hold libvirt longer */
};

/*
 * Defaults, then "key = value" lines of path (or of the installed
 * SYSCONFDIR/migrd/libvirt-hook.conf when path is NULL; a missing file
 * there is fine). Errors name the line.
 */
int hook_conf_load(struct hook_conf *c, const char *path, char *err,
		   size_t errlen);

/* name and uuid of the <domain> XML read from in. */
int hook_read_domain(FILE *in, char *name, size_t nlen, char *uuid,
		     size_t ulen);

#endif
