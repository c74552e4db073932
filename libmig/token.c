// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Claim tokens on their way from management to the new VMM. A token in
 * the environment stays readable in /proc/PID/environ for the life of
 * the process (unsetenv() only drops the pointer; the initial block is
 * untouched), so the launcher passes it in a pipe instead
 * (mig_token_pipe(), MIG_TOKEN_FD), and mig_token_take() reads it once,
 * leaving nothing behind; a token in MIG_TOKEN is wiped in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig-private.h"

MIG_EXPORT void mig_token_format(const uint8_t bytes[MIG_TOKEN_LEN],
				 char hex[MIG_TOKEN_HEX])
{
	mig_hex(hex, bytes, MIG_TOKEN_LEN);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

MIG_EXPORT int mig_token_parse(const char *hex, uint8_t bytes[MIG_TOKEN_LEN])
{
	if (!hex || strlen(hex) != 2 * MIG_TOKEN_LEN)
		return -EINVAL;
	for (int i = 0; i < MIG_TOKEN_LEN; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

MIG_EXPORT int mig_token_pipe(const uint8_t bytes[MIG_TOKEN_LEN])
{
	char hex[MIG_TOKEN_HEX + 1];
	int p[2], r = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	mig_token_format(bytes, hex);
	strcat(hex, "\n");
	/* 66 bytes: far below a pipe's capacity, so this never blocks. */
	if (write(p[1], hex, strlen(hex)) != (ssize_t)strlen(hex))
		r = -EIO;
	explicit_bzero(hex, sizeof(hex));
	close(p[1]);
	if (r) {
		close(p[0]);
		return r;
	}
	return p[0];
}

/* The token from the fd MIG_TOKEN_FD names; the fd is closed. */
static int take_from_fd(const char *num, uint8_t bytes[MIG_TOKEN_LEN])
{
	char hex[2 * MIG_TOKEN_LEN + 2];
	size_t got = 0;
	uint64_t fd;
	ssize_t n;
	int r;

	if (mig_parse_u64(num, &fd) || fd > INT32_MAX)
		return -EINVAL;
	while (got < sizeof(hex) - 1 &&
	       (n = read((int)fd, hex + got, sizeof(hex) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			close((int)fd);
			return r;
		}
		got += (size_t)n;
	}
	close((int)fd);
	hex[got] = '\0';
	hex[strcspn(hex, "\n")] = '\0';
	r = mig_token_parse(hex, bytes);
	explicit_bzero(hex, sizeof(hex));
	return r;
}

/* Overwrite a variable's value where it lives, then drop it. */
static void wipe_env(const char *name)
{
	char *v = getenv(name);

	if (v)
		explicit_bzero(v, strlen(v));
	unsetenv(name);
}

MIG_EXPORT int mig_token_take(uint8_t bytes[MIG_TOKEN_LEN])
{
	const char *fd = getenv("MIG_TOKEN_FD");
	int r;

	if (fd)
		r = take_from_fd(fd, bytes);
	else if (getenv("MIG_TOKEN"))
		r = mig_token_parse(getenv("MIG_TOKEN"), bytes);
	else
		return -ENOENT;
	unsetenv("MIG_TOKEN_FD");
	wipe_env("MIG_TOKEN");
	return r;
}
