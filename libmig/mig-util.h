/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by libmig, migrd and the tests that know nothing of the
 * wire: strings, clocks, process identities, fds. migrd's domain layer
 * may use these and nothing of mig-private.h, which brings the protocol.
 * Not part of the ABI.
 */
#ifndef MIG_UTIL_H
#define MIG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MIG_EXPORT __attribute__((visibility("default")))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* util.c */
int mig_priority_from_string(const char *s);
uint64_t mig_now_ms(void);		/* CLOCK_REALTIME */
uint64_t mig_mono_ms(void);		/* CLOCK_MONOTONIC */
void mig_strlcpy(char *dst, const char *src, size_t size);
void mig_hex(char *out, const void *in, size_t len);
/* s without leading and trailing white space; cuts s in place. */
char *mig_trim(char *s);
int mig_parse_u64(const char *s, uint64_t *out);
int mig_pidfd_open(pid_t pid);
int mig_pidfd_ino(int pidfd, uint64_t *ino);
int mig_pidfd_pid(int pidfd, pid_t *pid);
bool mig_have_pidfs(int pidfd);
/* Who a pidfd names without pidfs: pid and start time, checked alive. */
int mig_pid_identity(int pidfd, uint64_t *id);
int mig_pid_start(pid_t pid, uint64_t *start);
int mig_pid_uid(pid_t pid, uid_t *uid);
/* Bytes of the well-formed UTF-8 sequence at s, 0 if malformed. */
size_t mig_utf8_len(const char *s);
/* Well-formed UTF-8 without control characters (C0, DEL, C1). */
bool mig_str_printable(const char *s);
/*
 * str for a log or a terminal: what mig_str_printable() refuses becomes
 * \xNN, byte by byte; truncated to fit len. Returns the length written.
 */
size_t mig_escape(char *out, size_t len, const char *str);
/* 0 once fd is readable, -ETIMEDOUT after timeout_ms (< 0: never). */
int mig_wait_readable(int fd, int timeout_ms);
/* Close each fd >= 0 of fds and set it to -1. */
void mig_close_fds(int *fds, unsigned int nfds);

#endif /* MIG_UTIL_H */
