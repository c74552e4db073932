// SPDX-License-Identifier: LGPL-2.1-or-later
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static bool to_syslog;
static int threshold = LOG_INFO;

void log_setup(bool use_syslog, int level)
{
	to_syslog = use_syslog;
	threshold = level;
	if (use_syslog)
		openlog("migrd", LOG_PID, LOG_DAEMON);
}

void log_msg(int prio, const char *fmt, ...)
{
	static const char *const tags[] = {
		"emerg", "alert", "crit", "error", "warning", "notice",
		"info", "debug",
	};
	va_list ap;

	if (prio > threshold)
		return;
	va_start(ap, fmt);
	if (to_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "migrd: %s: ", tags[prio & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
