/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Just enough of QEMU's monitor protocol (QMP) to drive a migration: one
 * command at a time, events skipped, fds passed with SCM_RIGHTS.
 */
#ifndef MIGRD_LIBVIRT_QMP_H
#define MIGRD_LIBVIRT_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct qmp {
	int fd;
	size_t len;
	char buf[65536];
};

/*
 * Connect to the monitor socket at path. Whoever holds the listener
 * answers: a caller makes sure only the QEMU it means holds it.
 */
int qmp_open_path(struct qmp *q, const char *path, int timeout_ms);
/* Speak QMP on fd, which q owns from now on (closed on failure too). */
int qmp_open_fd(struct qmp *q, int fd, int timeout_ms);
void qmp_close(struct qmp *q);
/*
 * Run cmd (a JSON object); its reply line in out. send_fd >= 0 goes
 * with it (getfd). 0 for a "return", -EIO for an "error" (out holds it).
 */
int qmp_call(struct qmp *q, const char *cmd, int send_fd, char *out,
	     size_t outlen, int timeout_ms);
/* The string value of "key" in a JSON text, or "" when it has none. */
void qmp_str(const char *json, const char *key, char *out, size_t len);
/* The number value of "key" (the first one), or 0. */
unsigned long long qmp_num(const char *json, const char *key);

#endif
