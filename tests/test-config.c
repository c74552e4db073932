// SPDX-License-Identifier: LGPL-2.1-or-later
/* migrd.conf parsing: defaults, every key, and clear errors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "transport.h"

static int parse(struct config *cfg, const char *text, char *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	config_defaults(cfg);
	err[0] = '\0';
	r = config_parse(cfg, f, "test.conf", err, 256);
	fclose(f);
	return r;
}

Test(config, defaults_are_safe)
{
	struct config c;

	config_defaults(&c);
	cr_assert_str_eq(c.socket, "/run/migrd/migrd.sock");
	cr_assert_eq(c.socket_mode, 0660);
	cr_assert_eq(c.rebind, REBIND_ZERO, "zero-on-rebind by default");
	cr_assert_str_eq(c.admin_group, "", "root-only management");
	cr_assert(c.switch_timeout_ms > 0 && c.offer_timeout_ms > 0);
}

Test(config, every_key)
{
	struct config c;
	char err[256];

	cr_assert_eq(parse(&c,
		"# comment\n"
		"\n"
		"socket = /tmp/x.sock   # trailing comment\n"
		"socket_mode = 0600\n"
		"socket_group = kvm\n"
		"admin_group = libvirt\n"
		"offer_timeout = 250ms\n"
		"prepare_timeout = 2m\n"
		"switch_timeout = 3s\n"
		"grant_timeout = 90s\n"
		"max_sessions_per_client = 4\n"
		"max_vms = 10\n"
		"rebind_policy = refuse\n"
		"log = syslog\n"
		"log_level = debug\n", err), 0, "%s", err);
	cr_assert_str_eq(c.socket, "/tmp/x.sock");
	cr_assert_eq(c.socket_mode, 0600);
	cr_assert_str_eq(c.socket_group, "kvm");
	cr_assert_str_eq(c.admin_group, "libvirt");
	cr_assert_eq(c.offer_timeout_ms, 250);
	cr_assert_eq(c.prepare_timeout_ms, 120000);
	cr_assert_eq(c.switch_timeout_ms, 3000);
	cr_assert_eq(c.grant_timeout_ms, 90000);
	cr_assert_eq(c.max_sessions_per_client, 4);
	cr_assert_eq(c.max_vms, 10);
	cr_assert_eq(c.rebind, REBIND_REFUSE);
	cr_assert(c.syslog);
	cr_assert_eq(c.log_level, LOG_DEBUG);
}

Test(config, bare_number_is_seconds)
{
	struct config c;
	char err[256];

	cr_assert_eq(parse(&c, "switch_timeout = 7\n", err), 0);
	cr_assert_eq(c.switch_timeout_ms, 7000);
}

static void expect_error(const char *text, int want, const char *msg)
{
	struct config c;
	char err[256];

	cr_expect_eq(parse(&c, text, err), want, "%s", text);
	cr_expect(strstr(err, msg) != NULL, "'%s' should say '%s'", err, msg);
}

Test(config, errors_name_the_line_and_the_key)
{
	expect_error("sokcet = /x\n", -ENOENT, "test.conf:1: unknown setting");
	expect_error("\n\nsocket_mode = 0999\n", -EINVAL,
		     "test.conf:3: invalid value for socket_mode");
	expect_error("rebind_policy = maybe\n", -EINVAL,
		     "invalid value for rebind_policy");
	expect_error("switch_timeout = 0\n", -ERANGE,
		     "invalid value for switch_timeout");
	expect_error("switch_timeout = 5h\n", -EINVAL,
		     "invalid value for switch_timeout");
	expect_error("offer_timeout = -1\n", -EINVAL,
		     "invalid value for offer_timeout");
	expect_error("max_vms = 0\n", -ERANGE, "invalid value for max_vms");
	expect_error("just words\n", -EINVAL, "expected key = value");
	expect_error("socket =\n", -EINVAL, "invalid value for socket");
	expect_error("log_level = loud\n", -EINVAL,
		     "invalid value for log_level");
}

Test(config, overlong_values_and_lines_are_refused)
{
	char text[700];

	snprintf(text, sizeof(text), "socket = /%0200d\n", 0);
	expect_error(text, -ENAMETOOLONG, "invalid value for socket");
	memset(text, 'a', sizeof(text) - 2);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_error(text, -E2BIG, "line too long");
}

Test(config, missing_file_is_a_clear_error)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	cr_assert_eq(config_load(&c, "/nonexistent/migrd.conf", err,
				 sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "/nonexistent/migrd.conf") != NULL);
}

/* A config file as root reads it: only one nobody else could write. */
static int load_as(const char *text, mode_t mode, uid_t owner, char *err)
{
	char path[] = "/tmp/migrd-conf.XXXXXX";
	struct config c;
	int fd = mkstemp(path), r;

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	cr_assert_eq(fchmod(fd, mode), 0);
	if (owner != (uid_t)-1)
		cr_assert_eq(fchown(fd, owner, (gid_t)-1), 0);
	close(fd);
	config_defaults(&c);
	memset(err, 0, 256);
	r = config_load(&c, path, err, 256);
	unlink(path);
	return r;
}

Test(config, only_a_file_nobody_else_can_write_is_taken)
{
	char err[256];

	cr_expect_eq(load_as("max_vms = 3\n", 0644, (uid_t)-1, err), 0,
		     "ours, 0644: %s", err);
	cr_expect_eq(load_as("max_vms = 3\n", 0666, (uid_t)-1, err), -EPERM);
	cr_expect(strstr(err, "writable by everybody"), "%s", err);
	cr_expect_eq(load_as("max_vms = 3\n", 0664, (uid_t)-1, err), -EPERM);
	cr_expect(strstr(err, "writable by its group"), "%s", err);
	if (geteuid() != 0)
		return;
	cr_expect_eq(load_as("max_vms = 3\n", 0644, 65534, err), -EPERM);
	cr_expect(strstr(err, "owned by uid 65534"), "%s", err);
}

Test(config, a_directory_is_a_clear_error)
{
	struct config c;
	char err[256];

	config_defaults(&c);
	memset(err, 0x55, sizeof(err));
	cr_expect_neq(config_load(&c, "/tmp", err, sizeof(err)), 0);
	cr_expect_str_eq(err, "/tmp: not a regular file.");
}

Test(config, groups_remember_their_line)
{
	struct config c;
	char err[256];

	cr_assert_eq(parse(&c, "# x\nsocket_group = kvm\n\nadmin_group = wheel\n",
			   err), 0, "%s", err);
	cr_expect_eq(c.socket_group_line, 2);
	cr_expect_eq(c.admin_group_line, 4);
}
