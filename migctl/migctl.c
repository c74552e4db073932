// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migctl(8): the operator's view of migrd. Human output by default,
 * --json for scripts. Exit codes are part of the interface:
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "libmig.h"
#include "mig-private.h"
#ifdef WITH_LIBVIRT
#include "upgrade.h"
#endif

enum {
	EXIT_OK		= 0,	/* done */
	EXIT_FAILED	= 1,	/* migrd refused or the call failed */
	EXIT_USAGE	= 2,	/* bad command line */
	EXIT_NO_DAEMON	= 3,	/* migrd is not running or unreachable */
	EXIT_NOT_FOUND	= 4,	/* no such VM or session */
};

static bool json_out;
static struct json J;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: migctl [--socket PATH] [--json] COMMAND [ARG]...\n"
		"Inspect and steer migrd, the guest memory handoff broker.\n\n"
		"Commands:\n"
		"  status                       daemon version, counters, policy\n"
		"  list                         registered VMs and sessions\n"
		"  show VM|SESSION              one VM (id, name or UUID) or session\n"
		"  watch [--count N]            print events as they happen\n"
		"  abort SESSION [REASON]       cancel a handoff; the source keeps the guest\n"
		"  register NAME --pid PID [--uuid UUID]\n"
		"                               tell migrd that PID runs VM NAME\n"
		"  unregister VM                forget a VM, aborting its session\n"
		"  grant VM                     print a one-time token that lets the\n"
		"                               next VMM of VM take it over as is\n"
		"  grant VM --rebind NAME [--uuid UUID] [--uid UID]\n"
		"                               a token that moves VM's memory, zeroed,\n"
		"                               to a new VM NAME claimed by UID\n"
		"  upgrade [--connect URI] [--signal USR1|USR2|none] [--timeout S]\n"
		"          [--log FILE] DOMAIN -- COMMAND [ARG]...\n"
		"                               live-upgrade a libvirt domain: start\n"
		"                               COMMAND as its new VMM, with a token\n\n"
		"Options:\n"
		"  -s, --socket PATH  migrd's socket (default $MIGRD_SOCKET or "
		MIG_DEFAULT_SOCKET ")\n"
		"  -j, --json         machine-readable output\n"
		"  -h, --help         this help\n"
		"  -V, --version      the version\n\n"
		"Exit status: 0 done, 1 failed, 2 usage, 3 migrd not running,\n"
		"4 no such VM, session or domain, 5 the domain stopped during\n"
		"an upgrade, 6 libvirt unreachable.\n");
}

/*
 * What migrd passes on from VMMs (names, reasons) goes to a terminal:
 * control characters and malformed UTF-8 are shown as \xNN, so no
 * escape sequence reaches it. A few at a time per printf.
 */
static const char *safe(const char *s)
{
	static char ring[8][1024];
	static unsigned int next;
	char *out = ring[next++ % 8];

	mig_escape(out, sizeof(ring[0]), s ? s : "");
	return out;
}

static int fail(struct mig_ctx *ctx, int err, const char *what)
{
	const char *msg = ctx ? mig_last_error(ctx) : "";

	if (*msg)
		fprintf(stderr, "migctl: %s\n", safe(msg));
	else
		fprintf(stderr, "migctl: %s: %s\n", what, strerror(-err));
	if (err == -ENOENT || err == -ESTALE)
		return EXIT_NOT_FOUND;
	return EXIT_FAILED;
}

static void human_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void human_time(char *buf, size_t len, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03uZ",
		 (unsigned int)(ms % 1000));
}

static void json_vm(const char *key, const struct mig_vm_info *v)
{
	json_open(&J, key, '{');
	json_str(&J, "id", v->id);
	json_str(&J, "name", v->name);
	json_str(&J, "uuid", v->uuid);
	json_i64(&J, "owner_pid", v->owner_pid);
	json_u64(&J, "owner_uid", v->owner_uid);
	json_u64(&J, "session", v->session);
	json_u64(&J, "upgrades", v->upgrades);
	json_u64(&J, "registered_ms", v->registered_ms);
	json_close(&J, '}');
}

static const char *grant_name(enum mig_grant g)
{
	return g == MIG_GRANT_SUCCESSOR ? "successor" :
		g == MIG_GRANT_REBIND ? "rebind" : "none";
}

static void json_session(const char *key, const struct mig_session_info *s)
{
	json_open(&J, key, '{');
	json_u64(&J, "id", s->id);
	json_str(&J, "vm_id", s->vm_id);
	json_str(&J, "vm_name", s->vm_name);
	json_str(&J, "state", mig_state_name(s->state));
	json_i64(&J, "source_pid", s->source_pid);
	json_i64(&J, "dest_pid", s->dest_pid);
	json_u64(&J, "mem_bytes", s->mem_bytes);
	json_u64(&J, "created_ms", s->created_ms);
	json_u64(&J, "updated_ms", s->updated_ms);
	json_i64(&J, "error", s->error);
	json_str(&J, "reason", s->reason);
	json_str(&J, "grant", grant_name(s->grant));
	json_bool(&J, "zeroed", s->zeroed);
	json_open(&J, "regions", '[');
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct mig_region *r = &s->regions[i];

		json_open(&J, NULL, '{');
		json_str(&J, "name", r->name);
		json_str(&J, "kind", mig_region_kind_name(r->kind));
		json_u64(&J, "gpa", r->gpa);
		json_u64(&J, "size", r->size);
		json_u64(&J, "offset", r->offset);
		json_u64(&J, "flags", r->flags);
		json_close(&J, '}');
	}
	json_close(&J, ']');
	json_open(&J, "devices", '[');
	for (unsigned int i = 0; i < s->ndevices; i++) {
		json_open(&J, NULL, '{');
		json_str(&J, "name", s->devices[i].name);
		json_str(&J, "kind", mig_device_kind_name(s->devices[i].kind));
		json_close(&J, '}');
	}
	json_close(&J, ']');
	if (s->format.name[0]) {
		json_open(&J, "state_format", '{');
		json_str(&J, "name", s->format.name);
		json_u64(&J, "version", s->format.version);
		json_close(&J, '}');
	}
	json_close(&J, '}');
}

static void print_vm_row(const struct mig_vm_info *v)
{
	char sess[24] = "-";

	if (v->session)
		snprintf(sess, sizeof(sess), "%" PRIu64, v->session);
	printf("%-20s %-32s %8d %6u %8s %8u\n", safe(v->name), safe(v->id),
	       v->owner_pid,
	       v->owner_uid, sess, v->upgrades);
}

static void print_session_row(const struct mig_session_info *s)
{
	char mem[32];

	human_size(mem, sizeof(mem), s->mem_bytes);
	printf("%-8" PRIu64 " %-20s %-10s %8d %8d %10s  %s\n", s->id,
	       safe(s->vm_name), mig_state_name(s->state), s->source_pid,
	       s->dest_pid, mem, safe(s->reason));
}

static int cmd_status(struct mig_ctx *ctx, int argc, char **argv)
{
	struct mig_status st;
	int r;

	if (!ctx)
		return EXIT_OK;
	r = mig_status(ctx, &st);
	if (r)
		return fail(ctx, r, "status");
	if (json_out) {
		json_open(&J, NULL, '{');
		json_str(&J, "version", st.version);
		json_i64(&J, "pid", st.pid);
		json_u64(&J, "uptime_ms", st.uptime_ms);
		json_u64(&J, "clients", st.clients);
		json_u64(&J, "vms", st.vms);
		json_u64(&J, "sessions", st.sessions);
		json_u64(&J, "committed", st.committed);
		json_u64(&J, "aborted", st.aborted);
		json_str(&J, "rebind_policy", st.rebind_policy);
		json_u64(&J, "open_fds", st.open_fds);
		json_u64(&J, "refused", st.refused);
		json_u64(&J, "rebinds", st.rebinds);
		json_close(&J, '}');
		return EXIT_OK;
	}
	printf("migrd %s, pid %d, up %" PRIu64 ".%03" PRIu64 " s\n",
	       st.version, st.pid, st.uptime_ms / 1000, st.uptime_ms % 1000);
	printf("clients: %u  VMs: %u  open sessions: %u  fds held: %u\n",
	       st.clients, st.vms, st.sessions, st.open_fds);
	printf("handoffs: %" PRIu64 " committed, %" PRIu64 " aborted\n",
	       st.committed, st.aborted);
	printf("claims refused: %" PRIu64 "  rebinds: %" PRIu64 "\n",
	       st.refused, st.rebinds);
	printf("rebind policy: %s\n", st.rebind_policy);
	return EXIT_OK;
}

static void print_list(const struct mig_list *l)
{
	if (json_out) {
		json_open(&J, NULL, '{');
		json_open(&J, "vms", '[');
		for (unsigned int i = 0; i < l->nvms; i++)
			json_vm(NULL, &l->vms[i]);
		json_close(&J, ']');
		json_open(&J, "sessions", '[');
		for (unsigned int i = 0; i < l->nsessions; i++)
			json_session(NULL, &l->sessions[i]);
		json_close(&J, ']');
		json_close(&J, '}');
		return;
	}
	printf("%-20s %-32s %8s %6s %8s %8s\n", "VM", "IDENTITY", "OWNER",
	       "UID", "SESSION", "UPGRADES");
	for (unsigned int i = 0; i < l->nvms; i++)
		print_vm_row(&l->vms[i]);
	printf("\n%-8s %-20s %-10s %8s %8s %10s  %s\n", "SESSION", "VM",
	       "STATE", "SOURCE", "DEST", "MEMORY", "REASON");
	for (unsigned int i = 0; i < l->nsessions; i++)
		print_session_row(&l->sessions[i]);
}

static int cmd_list(struct mig_ctx *ctx, int argc, char **argv)
{
	struct mig_list *l;
	int r;

	if (!ctx)
		return EXIT_OK;
	r = mig_list(ctx, &l);
	if (r)
		return fail(ctx, r, "list");
	print_list(l);
	mig_list_free(l);
	return EXIT_OK;
}

static void print_session_detail(const struct mig_session_info *s)
{
	char mem[32], t[40];

	human_size(mem, sizeof(mem), s->mem_bytes);
	human_time(t, sizeof(t), s->created_ms);
	printf("session %" PRIu64 " of VM %s (%s)\n", s->id,
	       safe(s->vm_name), safe(s->vm_id));
	printf("  state:   %s%s%s\n", mig_state_name(s->state),
	       s->reason[0] ? ", " : "", safe(s->reason));
	printf("  source:  pid %d\n  dest:    pid %d\n", s->source_pid,
	       s->dest_pid);
	if (s->grant != MIG_GRANT_NONE)
		printf("  claimed: with a %s grant%s\n", grant_name(s->grant),
		       s->zeroed ? ", memory zeroed" : "");
	printf("  memory:  %s in %u regions\n  created: %s\n", mem,
	       s->nregions, t);
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct mig_region *r = &s->regions[i];

		human_size(mem, sizeof(mem), r->size);
		printf("  region %u: %-5s gpa 0x%" PRIx64 " %s %s\n", i,
		       mig_region_kind_name(r->kind), r->gpa, mem,
		       safe(r->name));
	}
	for (unsigned int i = 0; i < s->ndevices; i++)
		printf("  device %u: %-7s %s\n", i,
		       mig_device_kind_name(s->devices[i].kind),
		       safe(s->devices[i].name));
	if (s->format.name[0])
		printf("  format:  %s v%u\n", safe(s->format.name),
		       s->format.version);
}

static int cmd_show(struct mig_ctx *ctx, int argc, char **argv)
{
	struct mig_list *l;
	int r;

	if (argc != 2) {
		fprintf(stderr, "migctl: show needs one VM or session.\n");
		return EXIT_USAGE;
	}
	if (!ctx)
		return EXIT_OK;
	r = mig_show(ctx, argv[1], &l);
	if (r)
		return fail(ctx, r, "show");
	if (json_out) {
		json_open(&J, NULL, '{');
		if (l->nvms)
			json_vm("vm", &l->vms[0]);
		if (l->nsessions)
			json_session("session", &l->sessions[0]);
		json_close(&J, '}');
	} else {
		for (unsigned int i = 0; i < l->nvms; i++) {
			const struct mig_vm_info *v = &l->vms[i];

			printf("VM %s\n  identity: %s\n  uuid:     %s\n"
			       "  owner:    pid %d uid %u\n  upgrades: %u\n",
			       safe(v->name), safe(v->id),
			       v->uuid[0] ? safe(v->uuid) : "-",
			       v->owner_pid, v->owner_uid, v->upgrades);
		}
		for (unsigned int i = 0; i < l->nsessions; i++)
			print_session_detail(&l->sessions[i]);
	}
	mig_list_free(l);
	return EXIT_OK;
}

static void print_event(const struct mig_event *ev)
{
	char t[40];

	if (json_out) {
		json_open(&J, NULL, '{');
		json_u64(&J, "time_ms", ev->time_ms);
		json_str(&J, "what", ev->what);
		if (ev->has_vm)
			json_vm("vm", &ev->vm);
		if (ev->has_session)
			json_session("session", &ev->session);
		json_close(&J, '}');
	} else {
		human_time(t, sizeof(t), ev->time_ms);
		if (ev->has_session)
			printf("%s session %" PRIu64 " VM %s %s%s%s\n", t,
			       ev->session.id, safe(ev->session.vm_name),
			       mig_state_name(ev->session.state),
			       ev->session.reason[0] ? ": " : "",
			       safe(ev->session.reason));
		else if (ev->has_vm)
			printf("%s VM %s %s (owner pid %d)\n", t,
			       safe(ev->vm.name), safe(ev->what),
			       ev->vm.owner_pid);
	}
	fflush(stdout);
}

static int cmd_watch(struct mig_ctx *ctx, int argc, char **argv)
{
	uint64_t count = 0, seen = 0;
	struct mig_event ev;
	int r;

	if (argc == 3 && strcmp(argv[1], "--count") == 0) {
		if (mig_parse_u64(argv[2], &count) || !count) {
			fprintf(stderr, "migctl: --count needs a positive number.\n");
			return EXIT_USAGE;
		}
	} else if (argc != 1) {
		fprintf(stderr, "migctl: watch takes only --count N.\n");
		return EXIT_USAGE;
	}
	if (!ctx)
		return EXIT_OK;
	r = mig_subscribe(ctx);
	if (r)
		return fail(ctx, r, "watch");
	while (!count || seen < count) {
		r = mig_next_event(ctx, &ev, -1);
		if (r == -ECONNRESET) {
			fprintf(stderr, "migctl: migrd went away.\n");
			return EXIT_NO_DAEMON;
		}
		/* Stopped or slow: say what was missed, and go on. */
		if (r == -EOVERFLOW) {
			fprintf(stderr, "migctl: %s\n", safe(mig_last_error(ctx)));
			continue;
		}
		if (r)
			return fail(ctx, r, "watch");
		print_event(&ev);
		seen++;
	}
	return EXIT_OK;
}

static int session_arg(const char *s, uint64_t *id)
{
	if (mig_parse_u64(s, id) == 0 && *id)
		return 0;
	fprintf(stderr, "migctl: %s is not a session number.\n", s);
	return -EINVAL;
}

static int cmd_abort(struct mig_ctx *ctx, int argc, char **argv)
{
	uint64_t id;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "migctl: abort needs a session and, optionally, a reason.\n");
		return EXIT_USAGE;
	}
	if (session_arg(argv[1], &id))
		return EXIT_USAGE;
	if (!ctx)
		return EXIT_OK;
	r = mig_abort(ctx, id, argc == 3 ? argv[2] : "operator abort");
	if (r)
		return fail(ctx, r, "abort");
	if (!json_out)
		printf("session %" PRIu64 " aborted\n", id);
	return EXIT_OK;
}

static int cmd_register(struct mig_ctx *ctx, int argc, char **argv)
{
	const char *uuid = NULL;
	struct mig_vm_info vm;
	uint64_t pid = 0;
	int r;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--pid") == 0 &&
		    mig_parse_u64(argv[i + 1], &pid) == 0)
			continue;
		if (strcmp(argv[i], "--uuid") == 0) {
			uuid = argv[i + 1];
			continue;
		}
		pid = 0;
		break;
	}
	if (argc < 4 || argc % 2 || !pid || pid > INT32_MAX) {
		fprintf(stderr, "migctl: register needs NAME --pid PID [--uuid UUID].\n");
		return EXIT_USAGE;
	}
	if (!ctx)
		return EXIT_OK;
	r = mig_register(ctx, argv[1], uuid, (pid_t)pid, -1, &vm);
	if (r)
		return fail(ctx, r, "register");
	if (json_out)
		json_vm(NULL, &vm);
	else
		printf("%s\n", vm.id);
	return EXIT_OK;
}

static int cmd_unregister(struct mig_ctx *ctx, int argc, char **argv)
{
	int r;

	if (argc != 2) {
		fprintf(stderr, "migctl: unregister needs one VM.\n");
		return EXIT_USAGE;
	}
	if (!ctx)
		return EXIT_OK;
	r = mig_unregister(ctx, argv[1]);
	if (r)
		return fail(ctx, r, "unregister");
	return EXIT_OK;
}

static int grant_opts(int argc, char **argv, const char **rebind,
		      const char **uuid, uid_t *uid)
{
	uint64_t v;

	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return -EINVAL;
		if (strcmp(argv[i], "--rebind") == 0)
			*rebind = argv[i + 1];
		else if (strcmp(argv[i], "--uuid") == 0)
			*uuid = argv[i + 1];
		else if (strcmp(argv[i], "--uid") == 0 &&
			 !mig_parse_u64(argv[i + 1], &v) && v < UINT32_MAX)
			*uid = (uid_t)v;
		else
			return -EINVAL;
	}
	return (*uuid || *uid != (uid_t)-1) && !*rebind ? -EINVAL : 0;
}

static int cmd_grant(struct mig_ctx *ctx, int argc, char **argv)
{
	const char *rebind = NULL, *uuid = NULL;
	char hex[MIG_TOKEN_HEX];
	uid_t uid = (uid_t)-1;
	struct mig_token t;
	int r;

	if (argc < 2 || grant_opts(argc, argv, &rebind, &uuid, &uid)) {
		fprintf(stderr, "migctl: grant needs VM [--rebind NAME [--uuid UUID] [--uid UID]].\n");
		return EXIT_USAGE;
	}
	if (!ctx)
		return EXIT_OK;
	r = rebind ? mig_grant_rebind(ctx, argv[1], rebind, uuid, uid, &t) :
		mig_grant_successor(ctx, argv[1], &t);
	if (r)
		return fail(ctx, r, "grant");
	mig_token_format(t.bytes, hex);
	if (json_out) {
		json_open(&J, NULL, '{');
		json_str(&J, "token", hex);
		json_str(&J, "kind", grant_name(t.kind));
		json_str(&J, "vm_id", t.vm_id);
		json_u64(&J, "expires_ms", t.expires_ms);
		json_close(&J, '}');
	} else {
		printf("%s\n", hex);
	}
	explicit_bzero(&t, sizeof(t));
	explicit_bzero(hex, sizeof(hex));
	return EXIT_OK;
}

#ifdef WITH_LIBVIRT
static int cmd_upgrade(struct mig_ctx *ctx, int argc, char **argv)
{
	return migctl_upgrade(ctx, argc, argv, json_out);
}
#endif

/*
 * Arguments after the command's name: at most max (-1: its business).
 * fn(NULL, ...) only checks the command line: bad usage is exit 2 before
 * anything is asked of migrd, whether it runs or not (migctl(8)).
 */
static const struct command {
	const char *name;
	int (*fn)(struct mig_ctx *ctx, int argc, char **argv);
	int max;
} commands[] = {
	{ "status", cmd_status, 0 },
	{ "list", cmd_list, 0 },
	{ "show", cmd_show, 1 },
	{ "watch", cmd_watch, 2 },
	{ "abort", cmd_abort, 2 },
	{ "register", cmd_register, 5 },
	{ "unregister", cmd_unregister, 1 },
	{ "grant", cmd_grant, 7 },
#ifdef WITH_LIBVIRT
	{ "upgrade", cmd_upgrade, -1 },
#endif
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int run(const struct command *cmd, const char *sock, int argc,
	       char **argv)
{
	struct mig_ctx *ctx = mig_new();
	int r;

	if (!ctx) {
		perror("migctl");
		return EXIT_FAILED;
	}
	/* What migctl starts (upgrade's guard) talks to the same migrd. */
	if (sock)
		setenv("MIGRD_SOCKET", sock, 1);
	r = mig_connect(ctx, sock);
	if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(stderr, "migctl: migrd is not running (no one listens on %s).\n",
			sock ? sock : getenv("MIGRD_SOCKET") ?
			getenv("MIGRD_SOCKET") : MIG_DEFAULT_SOCKET);
		r = EXIT_NO_DAEMON;
	} else if (r) {
		fprintf(stderr, "migctl: cannot talk to migrd: %s.\n",
			strerror(-r));
		r = EXIT_NO_DAEMON;
	} else {
		r = cmd->fn(ctx, argc, argv);
	}
	mig_unref(ctx);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ }
	};
	const struct command *cmd;
	const char *sock = NULL;
	int c;

	/* Stop at the command: its own options are its business. */
	while ((c = getopt_long(argc, argv, "+s:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': json_out = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case 'V': printf("migctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
#ifndef WITH_LIBVIRT
	if (!cmd && strcmp(argv[optind], "upgrade") == 0) {
		fprintf(stderr, "migctl: this migctl was built without the libvirt plugin (configure --with-libvirt).\n");
		return EXIT_USAGE;
	}
#endif
	if (!cmd) {
		fprintf(stderr, "migctl: unknown command %s; see migctl --help.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (cmd->max >= 0 && argc - optind - 1 > cmd->max) {
		if (cmd->max)
			fprintf(stderr, "migctl: too many arguments for %s; see migctl --help.\n",
				cmd->name);
		else
			fprintf(stderr, "migctl: %s takes no arguments.\n",
				cmd->name);
		return EXIT_USAGE;
	}
	c = cmd->fn(NULL, argc - optind, argv + optind);
	if (c)
		return c;
	json_init(&J, stdout);
	signal(SIGPIPE, SIG_DFL);
	return run(cmd, sock, argc - optind, argv + optind);
}
