// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd's log. Messages carry what peers said (names, reasons), so a
 * message is formatted first and then escaped as a whole: a newline or a
 * terminal escape a VMM slipped into a string can neither forge a log
 * line nor reach an operator's terminal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "mig-util.h"

#define LOG_LINE_MAX 1024

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
	/* An escaped byte takes four: room for a line that is all of them. */
	char raw[LOG_LINE_MAX], line[4 * LOG_LINE_MAX];
	int saved = errno;
	va_list ap;

	if (prio > threshold)
		return;
	va_start(ap, fmt);
	errno = saved;		/* for %m */
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	mig_escape(line, sizeof(line), raw);
	if (to_syslog)
		syslog(prio, "%s", line);
	else
		fprintf(stderr, "migrd: %s: %s\n", tags[prio & 7], line);
	errno = saved;
}
