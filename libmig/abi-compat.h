/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmig's old ABIs, kept so that programs built against an older
 * libmig.h keep working (issue #20.4). Private: never installed.
 *
 * What broke: LIBMIG_0.4 grew struct mig_session_info (devices, format:
 * 296 -> 384 bytes on LP64) and with it struct mig_event (520 -> 608),
 * but left the calls that fill them at LIBMIG_0.1. A 0.1-0.3 program's
 * mig_next_event() buffer was overrun by 88 bytes, and the sessions
 * arrays of mig_list() and mig_show() were read at the wrong stride.
 *
 * Why symbol versions and not accessors (as libkmod has): the struct is
 * the caller's, by value, in every program already built, and an
 * accessor API would still need these same compat symbols for them. So
 * each call that fills or hands out those structs has two versions:
 *
 *   name@LIBMIG_0.1    (abi-compat.c) fills the 0.1-0.3 layouts below,
 *                      what every old binary is bound to;
 *   name@@LIBMIG_0.6   (manage.c) today's layouts, the default that new
 *                      links bind to.
 *
 * The C names of the implementations carry the version (mig_list_0_6,
 * mig_list_0_1); the public name exists only as the versioned alias.
 * Calls from inside the library and from the static internal archive
 * (migrd, migctl) bind to the default one.
 *
 * Programs built against the 0.4 and 0.5 headers called the @LIBMIG_0.1
 * symbols with the grown structs: rebuilt, they bind to @@LIBMIG_0.6.
 *
 * Rule (libmig/README): a public struct that a call fills or hands out
 * never changes size or layout within a version node. When it must, its
 * old layout goes here, frozen, the calls move to a new node and the old
 * node keeps a compat version; `make check-abi` catches a forgotten one.
 */
#ifndef MIG_ABI_COMPAT_H
#define MIG_ABI_COMPAT_H

#include <stddef.h>

#include "libmig.h"

/*
 * Bind @impl to the versioned symbol @ver ("name@NODE" for a compat
 * version, "name@@NODE" for the default). GCC's attribute survives LTO;
 * clang (the fuzz targets) has only the assembler directive.
 */
#if defined(__has_attribute)
#if __has_attribute(__symver__)
#define MIG_HAVE_SYMVER_ATTRIBUTE 1
#endif
#endif
#ifdef MIG_HAVE_SYMVER_ATTRIBUTE
#define MIG_SYMVER(impl, ver) \
	extern __typeof__(impl) impl __attribute__((__symver__(ver)))
#else
#define MIG_SYMVER(impl, ver) __asm__(".symver " #impl ", " ver)
#endif

/* ---- the 0.1 to 0.3 layouts: frozen, never edit ------------------------ */

struct mig03_session_info {
	uint64_t id;
	char vm_id[MIG_ID_LEN];
	char vm_name[MIG_NAME_MAX];
	enum mig_state state;
	pid_t source_pid;
	pid_t dest_pid;
	uint64_t mem_bytes;
	uint64_t created_ms;
	uint64_t updated_ms;
	int error;
	char reason[MIG_REASON_MAX];
	enum mig_grant grant;
	bool zeroed;
	unsigned int nregions;
	struct mig_region *regions;
};

struct mig03_event {
	uint64_t time_ms;
	char what[32];
	int has_vm;
	struct mig_vm_info vm;
	int has_session;
	struct mig03_session_info session;
};

struct mig03_list {
	unsigned int nvms;
	struct mig_vm_info *vms;
	unsigned int nsessions;
	struct mig03_session_info *sessions;
};

/*
 * What the old binaries were compiled with. The sizes hold on every LP64
 * target (the ones migrd runs on); the offsets, that 0.4 only appended,
 * hold everywhere and are what the conversion relies on.
 */
#if defined(__LP64__)
_Static_assert(sizeof(struct mig03_session_info) == 296,
	       "the 0.1-0.3 struct mig_session_info is 296 bytes");
_Static_assert(sizeof(struct mig03_event) == 520,
	       "the 0.1-0.3 struct mig_event is 520 bytes");
_Static_assert(sizeof(struct mig03_list) == 32,
	       "the 0.1-0.3 struct mig_list is 32 bytes");
#endif
#define MIG03_SAME(type, old, field)					\
	_Static_assert(offsetof(struct type, field) ==			\
		       offsetof(struct old, field), #type "." #field)
MIG03_SAME(mig_session_info, mig03_session_info, reason);
MIG03_SAME(mig_session_info, mig03_session_info, zeroed);
MIG03_SAME(mig_session_info, mig03_session_info, regions);
MIG03_SAME(mig_event, mig03_event, session);
MIG03_SAME(mig_list, mig03_list, sessions);
#undef MIG03_SAME

/* ---- the implementations behind each versioned name -------------------- */

/* Today's (manage.c), the @@LIBMIG_0.6 defaults. */
int mig_list_0_6(struct mig_ctx *ctx, struct mig_list **list);
int mig_show_0_6(struct mig_ctx *ctx, const char *what,
		 struct mig_list **list);
void mig_list_free_0_6(struct mig_list *list);
int mig_next_event_0_6(struct mig_ctx *ctx, struct mig_event *ev,
		       int timeout_ms);

/* The 0.1-0.3 layouts (abi-compat.c), @LIBMIG_0.1. */
int mig_list_0_1(struct mig_ctx *ctx, struct mig03_list **list);
int mig_show_0_1(struct mig_ctx *ctx, const char *what,
		 struct mig03_list **list);
void mig_list_free_0_1(struct mig03_list *list);
int mig_next_event_0_1(struct mig_ctx *ctx, struct mig03_event *ev,
		       int timeout_ms);

#endif /* MIG_ABI_COMPAT_H */
