// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The outbox: what the domain wants the world told, recorded while it
 * decides and sent by the transport after each event (server_step()).
 * The domain never sends, so no transition does I/O halfway, and a reply
 * always leaves before the notices its request caused: the destination's
 * COMMIT answer, on the guest's critical path, before the source's wake-up.
 *
 * Each entry is a copy taken at the moment of the change, so every
 * transition is told as it was, even when the object moved on or ended.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "domain.h"

struct outbox_entry {
	struct list_head link;
	enum { OUT_VM, OUT_SESSION } kind;
	char what[16];
	union {
		struct vm vm;
		struct session session;
	} u;
};

static struct list_head entries = LIST_HEAD_INIT(entries);

static struct outbox_entry *new_entry(void)
{
	struct outbox_entry *e = malloc(sizeof(*e));

	if (!e)
		log_err("outbox: out of memory; an event is lost");
	return e;
}

void outbox_vm(const char *what, const struct vm *vm)
{
	struct outbox_entry *e = new_entry();

	if (!e)
		return;
	e->kind = OUT_VM;
	mig_strlcpy(e->what, what, sizeof(e->what));
	e->u.vm = *vm;
	list_add_tail(&e->link, &entries);
}

/* A session moved: subscribers hear its state, its waiters get answers. */
void outbox_session(const struct session *s)
{
	struct outbox_entry *e = new_entry();

	if (!e)
		return;
	e->kind = OUT_SESSION;
	mig_strlcpy(e->what, "state", sizeof(e->what));
	e->u.session = *s;
	/* A copy owns nothing: no blob, no fds. */
	e->u.session.blob = NULL;
	list_add_tail(&e->link, &entries);
}

void outbox_drain(void (*vm_fn)(const char *what, const struct vm *vm),
		  void (*session_fn)(const struct session *copy))
{
	struct outbox_entry *e;

	/* A callback may add entries; take them one at a time. */
	while (!list_empty(&entries)) {
		e = list_entry(entries.next, struct outbox_entry, link);
		list_del(&e->link);
		if (e->kind == OUT_VM)
			vm_fn(e->what, &e->u.vm);
		else
			session_fn(&e->u.session);
		free(e);
	}
}
