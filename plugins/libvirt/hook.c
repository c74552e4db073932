// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrd's libvirt hook, installed as /etc/libvirt/hooks/qemu.d/migrd.
 * libvirt is the management plane: it, not the VMM, says which process
 * runs which domain. So when a domain has started, this registers it with
 * migrd (name, UUID, and the VMM's pid from libvirt's pid file), and when
 * it stops, unregisters it.
 *
 * libvirt's hook contract: argv = DOMAIN OPERATION SUB-OP EXTRA, the
 * domain XML on stdin, no calls back into libvirt (it holds locks while
 * it waits for us), and a non-zero exit aborts the operation. So this
 * never takes long (a hard timeout), never calls libvirt, and fails a
 * start only when configured to (strict = yes): by default a domain
 * whose registration failed still starts, it just cannot be upgraded.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "hook.h"
#include "libmig.h"

static struct hook_conf conf;
static const char *op_name = "";

static void on_alarm(int sig)
{
	static const char msg[] = "migrd hook: migrd did not answer in time\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	_exit(conf.strict && strcmp(op_name, "started") == 0 ? 1 : 0);
}

/* The text of the first child element <tag> of the root. */
static int xml_child(xmlNode *root, const char *tag, char *out, size_t len)
{
	for (xmlNode *n = root->children; n; n = n->next) {
		xmlChar *s;

		if (n->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(n->name, (const xmlChar *)tag))
			continue;
		s = xmlNodeGetContent(n);
		if (!s)
			return -ENOMEM;
		snprintf(out, len, "%s", (const char *)s);
		xmlFree(s);
		return 0;
	}
	return -ENOENT;
}

int hook_read_domain(FILE *in, char *name, size_t nlen, char *uuid,
		     size_t ulen)
{
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), in);
	xmlDoc *doc;
	xmlNode *root;
	int r = -EINVAL;

	if (n == 0 || n == sizeof(buf))
		return -EINVAL;
	doc = xmlReadMemory(buf, (int)n, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (root && xmlStrcmp(root->name, (const xmlChar *)"domain") == 0 &&
	    xml_child(root, "name", name, nlen) == 0 &&
	    xml_child(root, "uuid", uuid, ulen) == 0)
		r = 0;
	xmlFreeDoc(doc);
	return r;
}

/* libvirt's pid file of the domain: the VMM process that owns it. */
static int owner_pid(const char *domain, pid_t *pid)
{
	char path[4096];
	FILE *f;
	int v = 0;

	snprintf(path, sizeof(path), "%s/%s.pid", conf.pid_dir, domain);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%d", &v) != 1 || v <= 0)
		v = 0;
	fclose(f);
	if (!v)
		return -EINVAL;
	*pid = v;
	return 0;
}

/*
 * Registered already, by this very process? migrd pins an owner by pidfd
 * and ends its registration when it exits, so a registration that still
 * names this pid is this process's, not a reused pid's.
 */
static bool same_registration(struct mig_ctx *ctx, const char *name,
			      const char *uuid, pid_t pid)
{
	struct mig_list *l = NULL;
	bool same = mig_show(ctx, uuid, &l) == 0 && l->nvms &&
		    l->vms[0].owner_pid == pid &&
		    strcmp(l->vms[0].name, name) == 0;

	mig_list_free(l);
	return same;
}

static int do_register(struct mig_ctx *ctx, const char *name, const char *uuid)
{
	struct mig_vm_info vm;
	pid_t pid = 0;
	int r = owner_pid(name, &pid);

	if (r) {
		fprintf(stderr, "migrd hook: no pid file for %s in %s: %s\n",
			name, conf.pid_dir, strerror(-r));
		return r;
	}
	/* libvirtd restarted and reconnects to the same QEMU: keep its
	 * identity and whatever session it has open. */
	if (same_registration(ctx, name, uuid, pid))
		return 0;
	/* A stale registration of the same domain (a crash without
	 * "stopped") would block the new one. */
	mig_unregister(ctx, uuid);
	r = mig_register(ctx, name, uuid, pid, -1, &vm);
	if (r)
		fprintf(stderr, "migrd hook: cannot register %s: %s\n", name,
			*mig_last_error(ctx) ? mig_last_error(ctx) : strerror(-r));
	return r;
}

static int do_unregister(struct mig_ctx *ctx, const char *uuid)
{
	int r = mig_unregister(ctx, uuid);

	return r == -ENOENT ? 0 : r;
}

enum action { NOTHING, REGISTER, UNREGISTER };

/* Which operations matter; the rest pass through untouched. */
static enum action action_of(const char *op)
{
	static const struct { const char *op; enum action a; } ops[] = {
		{ "started", REGISTER },	/* VMM running */
		{ "reconnect", REGISTER },	/* libvirtd restarted */
		{ "attach", REGISTER },		/* an existing VMM adopted */
		{ "stopped", UNREGISTER },
		{ "release", UNREGISTER },
	};

	for (size_t i = 0; i < sizeof(ops) / sizeof(*ops); i++)
		if (strcmp(op, ops[i].op) == 0)
			return ops[i].a;
	return NOTHING;
}

int main(int argc, char **argv)
{
	char name[256], uuid[64], err[256];
	struct mig_ctx *ctx;
	enum action a;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s DOMAIN OPERATION [SUB-OP EXTRA] < domain.xml\n"
			"libvirt's hook for migrd; see migctl(8), LIBVIRT.\n",
			argv[0]);
		return 2;
	}
	op_name = argv[2];
	a = action_of(op_name);
	if (a == NOTHING)
		return 0;
	r = hook_conf_load(&conf, getenv("MIGRD_HOOK_CONF"), err, sizeof(err));
	if (r) {
		fprintf(stderr, "migrd hook: %s\n", err);
		return a == REGISTER && conf.strict ? 1 : 0;
	}
	signal(SIGALRM, on_alarm);
	alarm(conf.timeout_s);
	xmlInitParser();
	r = hook_read_domain(stdin, name, sizeof(name), uuid, sizeof(uuid));
	if (r) {
		fprintf(stderr, "migrd hook: no domain XML with a name and UUID on stdin\n");
		return a == REGISTER && conf.strict ? 1 : 0;
	}
	ctx = mig_new();
	mig_set_log_priority(ctx, 0);
	r = ctx ? mig_connect(ctx, conf.socket[0] ? conf.socket : NULL) :
		-ENOMEM;
	if (r)
		fprintf(stderr, "migrd hook: migrd is not reachable: %s; %s is %s\n",
			strerror(-r), name,
			a == REGISTER ? "not registered" : "not unregistered");
	else
		r = a == REGISTER ? do_register(ctx, name, uuid) :
			do_unregister(ctx, uuid);
	mig_unref(ctx);
	xmlCleanupParser();
	return r && a == REGISTER && conf.strict ? 1 : 0;
}
