// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A program built against libmig 0.3: this file sees only the frozen 0.3
 * header (tests/abi/libmig-0.3.h), never today's libmig.h, and so has
 * the 0.3 struct sizes compiled in, as every binary built then has.
 *
 * A binary linked against libmig 0.1 to 0.3 names LIBMIG_0.1 for the
 * calls below, because that was their only version then. This test links
 * against today's library, where an unversioned reference would bind to
 * the newest (default) version, so it names the old version explicitly:
 * the dynamic linker then resolves exactly what an old binary gets.
 */
#include <string.h>

#include "libmig-0.3.h"
#include "old-client.h"

__asm__(".symver mig_next_event, mig_next_event@LIBMIG_0.1");
__asm__(".symver mig_list, mig_list@LIBMIG_0.1");
__asm__(".symver mig_show, mig_show@LIBMIG_0.1");
__asm__(".symver mig_list_free, mig_list_free@LIBMIG_0.1");

/* Far more than any growth of the struct, to catch a write past it. */
#define GUARD		256
#define GUARD_BYTE	0xa5

size_t old_event_size(void)
{
	return sizeof(struct mig_event);
}

size_t old_session_size(void)
{
	return sizeof(struct mig_session_info);
}

static void copy_str(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void see_session(struct old_session_seen *out,
			const struct mig_session_info *s)
{
	memset(out, 0, sizeof(*out));
	out->id = s->id;
	copy_str(out->vm_name, s->vm_name, sizeof(out->vm_name));
	out->state = s->state;
	out->mem_bytes = s->mem_bytes;
	out->nregions = s->nregions;
	if (s->nregions && s->regions) {
		copy_str(out->region0, s->regions[0].name,
			 sizeof(out->region0));
		out->region0_size = s->regions[0].size;
	}
}

int old_next_event(struct mig_ctx *ctx, int timeout_ms,
		   struct old_event_seen *seen)
{
	/* The guard lies inside one object: a write past ev is a failed
	 * check here, not a sanitizer abort elsewhere. */
	struct {
		struct mig_event ev;
		unsigned char guard[GUARD];
	} buf;
	int r;

	memset(&buf, GUARD_BYTE, sizeof(buf));
	r = mig_next_event(ctx, &buf.ev, timeout_ms);
	memset(seen, 0, sizeof(*seen));
	seen->intact = true;
	for (size_t i = 0; i < GUARD; i++)
		if (buf.guard[i] != GUARD_BYTE)
			seen->intact = false;
	if (r)
		return r;
	copy_str(seen->what, buf.ev.what, sizeof(seen->what));
	seen->has_vm = buf.ev.has_vm;
	if (buf.ev.has_vm)
		copy_str(seen->vm_name, buf.ev.vm.name, sizeof(seen->vm_name));
	seen->has_session = buf.ev.has_session;
	if (buf.ev.has_session) {
		seen->regions_null = !buf.ev.session.regions;
		see_session(&seen->s, &buf.ev.session);
	}
	return 0;
}

static void see_list(struct old_list_seen *seen, const struct mig_list *l)
{
	memset(seen, 0, sizeof(*seen));
	seen->nvms = l->nvms;
	for (unsigned int i = 0; i < l->nvms && i < OLD_SEEN_MAX; i++)
		copy_str(seen->vm_names[i], l->vms[i].name,
			 sizeof(seen->vm_names[i]));
	seen->nsessions = l->nsessions;
	/* Indexing with the 0.3 size: where an old program looks. */
	for (unsigned int i = 0; i < l->nsessions && i < OLD_SEEN_MAX; i++)
		see_session(&seen->s[i], &l->sessions[i]);
}

int old_list(struct mig_ctx *ctx, struct old_list_seen *seen)
{
	struct mig_list *l;
	int r = mig_list(ctx, &l);

	if (r)
		return r;
	see_list(seen, l);
	mig_list_free(l);
	return 0;
}

int old_show(struct mig_ctx *ctx, const char *what,
	     struct old_list_seen *seen)
{
	struct mig_list *l;
	int r = mig_show(ctx, what, &l);

	if (r)
		return r;
	see_list(seen, l);
	mig_list_free(l);
	return 0;
}
