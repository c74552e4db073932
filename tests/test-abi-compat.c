// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ABI: a program built against libmig 0.3 keeps working against today's
 * shared library (issue #20.4). struct mig_session_info grew in 0.4 and
 * struct mig_event with it; the calls that fill them or hand out arrays
 * of them have a LIBMIG_0.1 version that keeps the 0.3 layouts.
 *
 * tests/abi/old-client.c is the old program (the frozen 0.3 header, the
 * LIBMIG_0.1 symbols); this file is everyone else (today's header, the
 * default symbols) and drives a real migrd. No KVM: the sessions offer a
 * memfd, which needs none. Linked against the shared libmig.la, not the
 * internal archive: symbol versions exist only in the shared library.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "abi/old-client.h"

#define SZ (2ULL << 20)
/* The sizes LIBMIG_0.1 to 0.3 shipped with, on x86-64 and the like. */
#define OLD_SESSION_SIZE	296
#define OLD_EVENT_SIZE		520

static struct daemon d;

static void start(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, NULL), 0);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(abi, .init = start, .fini = stop, .timeout = 30);

static struct mig_ctx *owner_of(const char *vm)
{
	struct mig_ctx *c = connect_as_owner(&d, vm);

	cr_assert_not_null(c, "registered %s", vm);
	return c;
}

static struct mig_ctx *subscriber(void)
{
	struct mig_ctx *c = connect_as_owner(&d, NULL);

	cr_assert_not_null(c);
	cr_assert_eq(mig_subscribe(c), 0);
	return c;
}

/* Offer @vm's memfd RAM (and with @fmt, a console pipe and a format). */
static uint64_t offer(struct mig_ctx *c, const char *vm, bool with_extras)
{
	static const struct mig_state_format fmt = { "abi-test", 3, 0 };
	int ram = memfd_create("guest-ram", MFD_CLOEXEC);
	struct mig_region r = {
		.name = "pc.ram", .size = SZ, .kind = MIG_REGION_MEMFD,
		.fd = ram,
	};
	struct mig_device dev = { .name = "console", .kind = MIG_DEVICE_PIPE };
	struct mig_offer_args a = { .regions = &r, .nregions = 1, .vm_fd = -1 };
	int p[2];
	uint64_t sid = 0;

	cr_assert_geq(ram, 0);
	cr_assert_eq(ftruncate(ram, SZ), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	if (with_extras) {
		dev.fd = p[1];
		a.devices = &dev;
		a.ndevices = 1;
		a.format = &fmt;
	}
	cr_assert_eq(mig_offer_ex(c, vm, &a, sizeof(a), &sid), 0, "%s",
		     mig_last_error(c));
	/* migrd holds its own copies now. */
	close(ram);
	close(p[0]);
	close(p[1]);
	return sid;
}

Test(abi, the_old_program_was_built_with_the_0_3_sizes)
{
	cr_assert_eq(old_session_size(), OLD_SESSION_SIZE);
	cr_assert_eq(old_event_size(), OLD_EVENT_SIZE);
	/* And today's grew: else this test would prove nothing. */
	cr_assert_gt(sizeof(struct mig_session_info), OLD_SESSION_SIZE);
	cr_assert_gt(sizeof(struct mig_event), OLD_EVENT_SIZE);
}

/* Old events until one with a session in @state, each checked intact. */
static void old_event_until(struct mig_ctx *sub, enum mig_state state,
			    struct old_event_seen *ev)
{
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(old_next_event(sub, 5000, ev), 0);
		cr_assert(ev->intact, "mig_next_event@LIBMIG_0.1 wrote past "
			  "the 0.3 struct mig_event (%d bytes)",
			  OLD_EVENT_SIZE);
		if (ev->has_session && ev->s.state == (int)state)
			return;
	}
	cr_assert_fail("no event with a session in state %s",
		       mig_state_name(state));
}

Test(abi, an_old_event_buffer_is_filled_and_not_overrun)
{
	struct mig_ctx *sub = subscriber();
	struct mig_ctx *own = owner_of("abi-ev");
	struct old_event_seen ev;
	uint64_t sid;

	/* The registration: a VM and no session. */
	cr_assert_eq(old_next_event(sub, 5000, &ev), 0);
	cr_assert(ev.intact, "mig_next_event@LIBMIG_0.1 wrote past the 0.3 "
		  "struct mig_event (%d bytes)", OLD_EVENT_SIZE);
	cr_assert_str_eq(ev.what, "registered");
	cr_assert_eq(ev.has_vm, 1);
	cr_assert_str_eq(ev.vm_name, "abi-ev");
	cr_assert_eq(ev.has_session, 0);

	/* An offer with devices and a format, which 0.3 cannot see: the
	 * session still arrives whole in the old layout. */
	sid = offer(own, "abi-ev", true);
	old_event_until(sub, MIG_STATE_OFFERED, &ev);
	cr_assert_eq(ev.s.id, sid);
	cr_assert_str_eq(ev.s.vm_name, "abi-ev");
	cr_assert_eq(ev.s.mem_bytes, SZ);
	cr_assert(ev.regions_null, "events carry no regions");
	cr_assert_eq(ev.s.nregions, 0);

	cr_assert_eq(mig_abort(own, sid, "done"), 0);
	old_event_until(sub, MIG_STATE_ABORTED, &ev);
	cr_assert_eq(ev.s.id, sid);
	mig_unref(own);
	mig_unref(sub);
}

/* @seen holds sessions @a and @b (any order), each read whole. */
static void both_sessions(const struct old_list_seen *seen, uint64_t a,
			  uint64_t b)
{
	cr_assert_eq(seen->nsessions, 2);
	for (unsigned int i = 0; i < 2; i++) {
		const struct old_session_seen *s = &seen->s[i];
		const char *vm = s->id == a ? "abi-a" : "abi-b";

		cr_assert(s->id == a || s->id == b,
			  "session %u reads as %llu: read at the wrong offset",
			  i, (unsigned long long)s->id);
		cr_assert_str_eq(s->vm_name, vm);
		cr_assert_eq(s->state, MIG_STATE_OFFERED);
		cr_assert_eq(s->mem_bytes, SZ);
		/* A list leaves the regions out; mig_show() has them. */
		cr_assert_eq(s->nregions, 0);
	}
	cr_assert_neq(seen->s[0].id, seen->s[1].id);
}

Test(abi, an_old_list_is_an_array_of_0_3_sessions)
{
	struct mig_ctx *a = owner_of("abi-a");
	struct mig_ctx *b = owner_of("abi-b");
	struct old_list_seen seen;
	uint64_t sa = offer(a, "abi-a", true), sb = offer(b, "abi-b", false);

	cr_assert_eq(old_list(a, &seen), 0);
	cr_assert_eq(seen.nvms, 2);
	both_sessions(&seen, sa, sb);
	mig_unref(a);
	mig_unref(b);
}

Test(abi, an_old_show_is_a_0_3_list)
{
	struct mig_ctx *a = owner_of("abi-a");
	struct mig_ctx *b = owner_of("abi-b");
	struct old_list_seen seen;
	uint64_t sa = offer(a, "abi-a", true);
	char num[24];

	offer(b, "abi-b", false);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)sa);
	cr_assert_eq(old_show(a, num, &seen), 0);
	cr_assert_eq(seen.nsessions, 1);
	cr_assert_eq(seen.s[0].id, sa);
	cr_assert_str_eq(seen.s[0].vm_name, "abi-a");
	cr_assert_eq(seen.s[0].state, MIG_STATE_OFFERED);
	cr_assert_eq(seen.s[0].nregions, 1);
	cr_assert_str_eq(seen.s[0].region0, "pc.ram");
	cr_assert_eq(seen.s[0].region0_size, SZ);

	cr_assert_eq(old_show(a, "abi-b", &seen), 0);
	cr_assert_eq(seen.nvms, 1);
	cr_assert_str_eq(seen.vm_names[0], "abi-b");
	cr_assert_eq(old_show(a, "no-such-vm", &seen), -ENOENT);
	mig_unref(a);
	mig_unref(b);
}

/* The default versions are today's: devices and format come through. */
Test(abi, a_current_program_gets_the_current_layout)
{
	struct mig_ctx *sub = subscriber();
	struct mig_ctx *a = owner_of("abi-a");
	struct mig_ctx *b = owner_of("abi-b");
	uint64_t sa = offer(a, "abi-a", true), sb = offer(b, "abi-b", false);
	struct mig_event ev;
	struct mig_list *l;
	bool seen_a = false;
	char num[24];

	cr_assert_eq(mig_list(a, &l), 0);
	cr_assert_eq(l->nsessions, 2);
	cr_assert(l->sessions[1].id == sa || l->sessions[1].id == sb);
	mig_list_free(l);

	snprintf(num, sizeof(num), "%llu", (unsigned long long)sa);
	cr_assert_eq(mig_show(a, num, &l), 0);
	cr_assert_eq(l->nsessions, 1);
	cr_assert_eq(l->sessions[0].id, sa);
	cr_assert_eq(l->sessions[0].nregions, 1);
	cr_assert_eq(l->sessions[0].ndevices, 1);
	cr_assert_str_eq(l->sessions[0].devices[0].name, "console");
	cr_assert_str_eq(l->sessions[0].format.name, "abi-test");
	cr_assert_eq(l->sessions[0].format.version, 3);
	mig_list_free(l);

	while (!seen_a) {
		cr_assert_eq(mig_next_event(sub, &ev, 5000), 0);
		seen_a = ev.has_session && ev.session.id == sa;
	}
	/* Events carry no regions, devices or format: only the numbers. */
	cr_assert_str_eq(ev.session.vm_name, "abi-a");
	cr_assert_eq(ev.session.mem_bytes, SZ);
	cr_assert_null(ev.session.devices);
	mig_unref(sub);
	mig_unref(a);
	mig_unref(b);
}
