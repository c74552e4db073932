// SPDX-License-Identifier: LGPL-2.1-or-later
/* Wire structures to public ones, and the names of enum values. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig-private.h"

MIG_ASSERT_SAME(MIG_STATE_OFFERED, MIG__STATE__OFFERED);
MIG_ASSERT_SAME(MIG_STATE_CLAIMED, MIG__STATE__CLAIMED);
MIG_ASSERT_SAME(MIG_STATE_READY, MIG__STATE__READY_TO_SWITCH);
MIG_ASSERT_SAME(MIG_STATE_SWITCHING, MIG__STATE__SWITCHING);
MIG_ASSERT_SAME(MIG_STATE_COMMITTED, MIG__STATE__COMMITTED);
MIG_ASSERT_SAME(MIG_STATE_ABORTED, MIG__STATE__ABORTED);
MIG_ASSERT_SAME(MIG_REGION_GMEM, MIG__REGION_KIND__GMEM);
MIG_ASSERT_SAME(MIG_REGION_MEMFD, MIG__REGION_KIND__MEMFD);
MIG_ASSERT_SAME(MIG_GRANT_SUCCESSOR, MIG__GRANT_KIND__SUCCESSOR);
MIG_ASSERT_SAME(MIG_GRANT_REBIND, MIG__GRANT_KIND__REBIND);
MIG_ASSERT_SAME(MIG_DEVICE_EVENTFD, MIG__DEVICE_KIND__EVENTFD);
MIG_ASSERT_SAME(MIG_DEVICE_TAP, MIG__DEVICE_KIND__TAP);
MIG_ASSERT_SAME(MIG_DEVICE_VHOST, MIG__DEVICE_KIND__VHOST);
MIG_ASSERT_SAME(MIG_DEVICE_VFIO, MIG__DEVICE_KIND__VFIO);
MIG_ASSERT_SAME(MIG_DEVICE_PIPE, MIG__DEVICE_KIND__PIPE);
MIG_ASSERT_SAME(MIG_DEVICE_TTY, MIG__DEVICE_KIND__TTY);
MIG_ASSERT_SAME(MIG_DEVICE_SOCKET, MIG__DEVICE_KIND__SOCKET);
MIG_ASSERT_SAME(MIG_DEVICE_OTHER, MIG__DEVICE_KIND__DEVICE_OTHER);

MIG_EXPORT const char *mig_state_name(enum mig_state state)
{
	static const char *const names[] = {
		[MIG_STATE_NONE] = "idle",
		[MIG_STATE_OFFERED] = "offered",
		[MIG_STATE_CLAIMED] = "claimed",
		[MIG_STATE_READY] = "ready",
		[MIG_STATE_SWITCHING] = "switching",
		[MIG_STATE_COMMITTED] = "committed",
		[MIG_STATE_ABORTED] = "aborted",
	};

	if ((unsigned int)state < ARRAY_SIZE(names))
		return names[state];
	return "unknown";
}

MIG_EXPORT const char *mig_region_kind_name(enum mig_region_kind kind)
{
	switch (kind) {
	case MIG_REGION_GMEM:
		return "gmem";
	case MIG_REGION_MEMFD:
		return "memfd";
	}
	return "unknown";
}

MIG_EXPORT const char *mig_device_kind_name(enum mig_device_kind kind)
{
	static const char *const names[] = {
		[MIG_DEVICE_EVENTFD] = "eventfd", [MIG_DEVICE_TAP] = "tap",
		[MIG_DEVICE_VHOST] = "vhost", [MIG_DEVICE_VFIO] = "vfio",
		[MIG_DEVICE_PIPE] = "pipe", [MIG_DEVICE_TTY] = "tty",
		[MIG_DEVICE_SOCKET] = "socket", [MIG_DEVICE_OTHER] = "other",
	};

	if ((unsigned int)kind < ARRAY_SIZE(names) && names[kind])
		return names[kind];
	return "unknown";
}

void mig_vm_from_wire(struct mig_vm_info *out, const Mig__VmInfo *in)
{
	memset(out, 0, sizeof(*out));
	mig_strlcpy(out->id, in->id, sizeof(out->id));
	mig_strlcpy(out->name, in->name, sizeof(out->name));
	mig_strlcpy(out->uuid, in->uuid, sizeof(out->uuid));
	out->owner_pid = in->owner_pid;
	out->owner_uid = in->owner_uid;
	out->session = in->session;
	out->upgrades = in->upgrades;
	out->registered_ms = in->registered_ms;
}

void mig_region_from_wire(struct mig_region *out, const Mig__Region *in)
{
	memset(out, 0, sizeof(*out));
	mig_strlcpy(out->name, in->name, sizeof(out->name));
	out->gpa = in->gpa;
	out->size = in->size;
	out->offset = in->offset;
	out->flags = in->flags;
	out->kind = (enum mig_region_kind)in->kind;
	out->fd = -1;
}

void mig_device_from_wire(struct mig_device *out, const Mig__Device *in)
{
	memset(out, 0, sizeof(*out));
	mig_strlcpy(out->name, in->name, sizeof(out->name));
	out->kind = (enum mig_device_kind)in->kind;
	out->fd = -1;
}

void mig_format_from_wire(struct mig_state_format *out,
			  const Mig__StateFormat *in)
{
	memset(out, 0, sizeof(*out));
	if (!in)
		return;
	mig_strlcpy(out->name, in->name, sizeof(out->name));
	out->version = in->version;
	out->min_version = in->min_version;
}

void mig_format_to_wire(Mig__StateFormat *out,
			const struct mig_state_format *in)
{
	mig__state_format__init(out);
	out->name = (char *)in->name;
	out->has_version = out->has_min_version = true;
	out->version = in->version;
	out->min_version = in->min_version;
}

/* *out: a calloc()ed copy of the wire's devices, fds -1. */
int mig_devices_from_wire(struct mig_device **out, unsigned int *n,
			  Mig__Device **in, size_t nin)
{
	*out = NULL;
	*n = 0;
	if (!nin)
		return 0;
	*out = calloc(nin, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < nin; i++)
		mig_device_from_wire(&(*out)[i], in[i]);
	*n = (unsigned int)nin;
	return 0;
}

int mig_session_from_wire(struct mig_session_info *out,
			  const Mig__SessionInfo *in, bool regions)
{
	memset(out, 0, sizeof(*out));
	out->id = in->id;
	mig_strlcpy(out->vm_id, in->vm_id, sizeof(out->vm_id));
	mig_strlcpy(out->vm_name, in->vm_name, sizeof(out->vm_name));
	out->state = (enum mig_state)in->state;
	out->source_pid = in->source_pid;
	out->dest_pid = in->dest_pid;
	out->mem_bytes = in->mem_bytes;
	out->created_ms = in->created_ms;
	out->updated_ms = in->updated_ms;
	out->error = (int)in->error;
	mig_strlcpy(out->reason, in->reason, sizeof(out->reason));
	out->grant = (enum mig_grant)in->grant;
	out->zeroed = in->zeroed;
	mig_format_from_wire(&out->format, in->format);
	if (!regions)
		return 0;
	if (mig_devices_from_wire(&out->devices, &out->ndevices,
				  in->devices, in->n_devices))
		return -ENOMEM;
	if (!in->n_regions)
		return 0;
	out->regions = calloc(in->n_regions, sizeof(*out->regions));
	if (!out->regions)
		return -ENOMEM;
	out->nregions = in->n_regions;
	for (size_t i = 0; i < in->n_regions; i++)
		mig_region_from_wire(&out->regions[i], in->regions[i]);
	return 0;
}
