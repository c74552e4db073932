// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The LIBMIG_0.1 versions of the calls whose structs grew in 0.4: what a
 * program built against the 0.1-0.3 header is bound to. Each calls
 * today's version and converts the result to the frozen layouts of
 * abi-compat.h, so an old buffer is never written past its end and an
 * old array is laid out at the stride the old program indexes it with.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig-private.h"
#include "abi-compat.h"

MIG_SYMVER(mig_list_free_0_1, "mig_list_free@LIBMIG_0.1");
MIG_SYMVER(mig_list_0_1, "mig_list@LIBMIG_0.1");
MIG_SYMVER(mig_show_0_1, "mig_show@LIBMIG_0.1");
MIG_SYMVER(mig_next_event_0_1, "mig_next_event@LIBMIG_0.1");

/*
 * @cur to @old. @cur's regions move to @old (mig_list_free@LIBMIG_0.1
 * frees them); its devices, which an old program cannot see nor free,
 * are freed here.
 */
static void session_to_03(struct mig03_session_info *old,
			  struct mig_session_info *cur)
{
	memset(old, 0, sizeof(*old));
	old->id = cur->id;
	memcpy(old->vm_id, cur->vm_id, sizeof(old->vm_id));
	memcpy(old->vm_name, cur->vm_name, sizeof(old->vm_name));
	old->state = cur->state;
	old->source_pid = cur->source_pid;
	old->dest_pid = cur->dest_pid;
	old->mem_bytes = cur->mem_bytes;
	old->created_ms = cur->created_ms;
	old->updated_ms = cur->updated_ms;
	old->error = cur->error;
	memcpy(old->reason, cur->reason, sizeof(old->reason));
	old->grant = cur->grant;
	old->zeroed = cur->zeroed;
	old->nregions = cur->nregions;
	old->regions = cur->regions;
	cur->nregions = 0;
	cur->regions = NULL;
	free(cur->devices);
	cur->ndevices = 0;
	cur->devices = NULL;
}

MIG_EXPORT void mig_list_free_0_1(struct mig03_list *list)
{
	if (!list)
		return;
	for (unsigned int i = 0; i < list->nsessions; i++)
		free(list->sessions[i].regions);
	free(list->sessions);
	free(list->vms);
	free(list);
}

/* A 0.3 list from @cur, which is consumed either way. */
static int list_to_03(struct mig_list *cur, struct mig03_list **out)
{
	struct mig03_list *old = calloc(1, sizeof(*old));
	unsigned int n = cur->nsessions;

	if (old)
		old->sessions = calloc(n ? n : 1, sizeof(*old->sessions));
	if (!old || !old->sessions) {
		free(old);
		mig_list_free_0_6(cur);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++)
		session_to_03(&old->sessions[i], &cur->sessions[i]);
	old->nsessions = n;
	/* struct mig_vm_info has not changed: the array moves as it is. */
	old->nvms = cur->nvms;
	old->vms = cur->vms;
	cur->vms = NULL;
	cur->nvms = 0;
	/* Nothing is left in cur's sessions to free but the array. */
	mig_list_free_0_6(cur);
	*out = old;
	return 0;
}

MIG_EXPORT int mig_list_0_1(struct mig_ctx *ctx, struct mig03_list **list)
{
	struct mig_list *cur;
	int r = mig_list_0_6(ctx, &cur);

	return r ? r : list_to_03(cur, list);
}

MIG_EXPORT int mig_show_0_1(struct mig_ctx *ctx, const char *what,
			    struct mig03_list **list)
{
	struct mig_list *cur;
	int r = mig_show_0_6(ctx, what, &cur);

	return r ? r : list_to_03(cur, list);
}

MIG_EXPORT int mig_next_event_0_1(struct mig_ctx *ctx, struct mig03_event *ev,
				  int timeout_ms)
{
	struct mig_event cur;
	int r = mig_next_event_0_6(ctx, &cur, timeout_ms);

	if (r)
		return r;
	/* Only the 0.3 size: the caller's buffer ends there. */
	memset(ev, 0, sizeof(*ev));
	ev->time_ms = cur.time_ms;
	memcpy(ev->what, cur.what, sizeof(ev->what));
	ev->has_vm = cur.has_vm;
	ev->vm = cur.vm;
	ev->has_session = cur.has_session;
	session_to_03(&ev->session, &cur.session);
	/* An event's session carries no arrays (libmig.h: "regions NULL");
	 * should it ever, the old caller would not free them. */
	free(ev->session.regions);
	ev->session.regions = NULL;
	ev->session.nregions = 0;
	return 0;
}
