// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Log and terminal injection: what a VMM says (a region's name, an abort
 * reason, a VM it asks for) reaches migrd's log, migctl's terminal and
 * migctl's JSON. A newline must not forge a log line, an escape sequence
 * must not reach a terminal, malformed UTF-8 must not break JSON (parsed
 * here with jq, a real parser). The same steps with plain words go
 * through unchanged.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

#define SZ (2ULL << 20)
/* A newline and a whole forged log line, a screen clear, bytes that are
 * not UTF-8, and a C1 CSI. */
#define FORGED "migrd: info: session 7 (VM vm1): switching -> committed on commit"
#define EVIL "bye\n" FORGED "\x1b[2J\xff\xfe\xc2\x9b"

static struct daemon d;

static void start(void)
{
	REQUIRE_ROOT_KVM();
	if (!getenv("MIGCTL") || system("jq --version >/dev/null 2>&1"))
		cr_skip_test("needs MIGCTL (run through make check) and jq");
	cr_assert_eq(daemon_start_logged(&d, NULL), 0);
	/* For migctl, run as operators do. */
	setenv("MIGRD_SOCKET", d.sock, 1);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(inject, .init = start, .fini = stop, .timeout = 60);

/* No byte of buf is a control character or malformed UTF-8. */
static bool clean(const char *buf)
{
	return mig_str_printable(buf);
}

/* What a command printed, newlines turned into spaces. */
static char *run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *run(const char *fmt, ...)
{
	static char out[65536];
	char cmd[1024];
	size_t n = 0, got;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((got = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
		n += got;
	out[n] = '\0';
	cr_expect_eq(pclose(p), 0, "%s", cmd);
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\n')
			out[i] = ' ';
	return out;
}

static uint64_t offer(struct mig_ctx *c, const char *region)
{
	int vm = make_vm(), gmem = make_gmem(vm, SZ);
	struct mig_region r = gmem_region(gmem, SZ);
	uint64_t sid = 0;

	mig_strlcpy(r.name, region, sizeof(r.name));
	cr_expect_eq(mig_offer(c, "vm1", &r, 1, vm, &sid), 0,
		     "%s: %s", region, mig_last_error(c));
	return sid;
}

Test(inject, region_names_are_printable_or_refused)
{
	struct mig_ctx *c = connect_as_owner(&d, "vm1");
	const char *bad[] = { "ram\x1b[31m", "ram\n", "ram\xff", "ram\xc2\x9b" };
	int vm = make_vm(), gmem = make_gmem(vm, SZ);
	struct mig_region r = gmem_region(gmem, SZ);
	uint64_t sid;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		mig_strlcpy(r.name, bad[i], sizeof(r.name));
		cr_expect_eq(mig_offer(c, "vm1", &r, 1, vm, &sid), -EINVAL,
			     "region name %zu", i);
		cr_expect(strstr(mig_last_error(c), "not printable"), "%s",
			  mig_last_error(c));
	}
	sid = offer(c, "RAM \xc3\xa9t\xc3\xa9");	/* "RAM été": fine */
	cr_expect(strstr(run("'%s' show %llu", getenv("MIGCTL"),
			     (unsigned long long)sid), "RAM \xc3\xa9t\xc3\xa9"));
	mig_unref(c);
}

/* Every line of migrd's log as migrd wrote it: none forged, none raw. */
static void expect_clean_log(void)
{
	char line[8192];
	FILE *f = fopen(d.log, "r");
	int forged = 0, raw = 0, escaped = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		forged += !strncmp(line, FORGED, strlen(FORGED));
		raw += !clean(line);
		escaped += strstr(line, "bye\\x0a" FORGED "\\x1b[2J\\xff") != NULL;
	}
	fclose(f);
	cr_expect_eq(forged, 0, "a forged log line");
	cr_expect_eq(raw, 0, "%d log lines with raw control bytes", raw);
	cr_expect_geq(escaped, 1, "the reason is in the log, escaped");
}

Test(inject, an_abort_reason_forges_nothing)
{
	struct mig_ctx *c = connect_as_owner(&d, "vm1");
	const char *migctl = getenv("MIGCTL");
	uint64_t sid = offer(c, "ram");
	struct mig_list *l;
	char *out;
	pid_t watch;

	/* A JSON watcher of everything that follows. */
	watch = fork();
	if (watch == 0) {
		char path[128];

		snprintf(path, sizeof(path), "%s/watch.json", d.dir);
		if (!freopen(path, "w", stdout))
			_exit(1);
		execl(migctl, "migctl", "--json", "watch", NULL);
		_exit(127);
	}
	usleep(300000);
	cr_assert_eq(mig_abort(c, sid, EVIL), 0);
	cr_assert_eq(mig_show(c, "vm1", &l), 0);
	mig_list_free(l);
	cr_assert_eq(mig_show(c, "1", &l), 0);
	cr_expect(clean(l->sessions[0].reason), "the reason as migrd keeps it");
	cr_expect(strstr(l->sessions[0].reason, "bye\\x0a"), "%s",
		  l->sessions[0].reason);
	mig_list_free(l);
	/* The terminal: not one raw control byte. */
	out = run("'%s' show %llu", migctl, (unsigned long long)sid);
	cr_expect(clean(out), "migctl show: %s", out);
	out = run("'%s' list", migctl);
	cr_expect(clean(out), "migctl list: %s", out);
	/* JSON: what jq parses, with the reason in it. */
	out = run("'%s' --json show %llu | jq -r .session.reason", migctl,
		  (unsigned long long)sid);
	cr_expect(strstr(out, "bye\\x0a"), "show --json: %s", out);
	run("'%s' --json list | jq -e .vms", migctl);
	usleep(300000);
	kill(watch, SIGTERM);
	waitpid(watch, NULL, 0);
	out = run("jq -r .session.reason %s/watch.json | grep -c 'bye'", d.dir);
	cr_expect_eq(atoi(out), 1, "the watcher saw the abort: %s", out);
	expect_clean_log();
	mig_unref(c);
}

/* What a peer asked for comes back in errors: escaped there too. */
Test(inject, errors_echo_nothing_raw)
{
	struct mig_ctx *c = connect_as_owner(&d, NULL);
	int vm = make_vm(), gmem = make_gmem(vm, SZ);
	struct mig_region r = gmem_region(gmem, SZ);
	uint64_t sid;

	cr_expect_eq(mig_offer(c, "vm\x1b]0;pwned\x07", &r, 1, vm, &sid),
		     -ENOENT);
	cr_expect(clean(mig_last_error(c)), "%s", mig_last_error(c));
	cr_expect(strstr(mig_last_error(c), "vm\\x1b]0;pwned\\x07"), "%s",
		  mig_last_error(c));
	cr_expect_eq(mig_offer(c, "nosuchvm", &r, 1, vm, &sid), -ENOENT);
	cr_expect(strstr(mig_last_error(c), "No VM named nosuchvm"), "%s",
		  mig_last_error(c));
	mig_unref(c);
}
