// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Integration: device fds offered beside the memory, and the state
 * format checked before the pause. A real migrd, a real VM and gmem; the
 * devices are real kernel objects (eventfd, pipe, pty, socket, a tap
 * where this machine lets us make one), and each test shows the same fd
 * working in the hands of the party that may have it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define SZ (2ULL << 20)

static struct daemon d;

static void start(void)
{
	REQUIRE_ROOT_KVM();
	cr_assert_eq(daemon_start(&d, "offer_timeout = 20s\n"), 0);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(devices, .init = start, .fini = stop, .timeout = 30);
TestSuite(format, .init = start, .fini = stop, .timeout = 30);

/* The source: owner of "vm1", a VM and its gmem. */
struct source {
	struct mig_ctx *ctx;
	int vm, gmem;
	uint64_t sid;
};

static void source_new(struct source *s)
{
	s->ctx = connect_as_owner(&d, "vm1");
	cr_assert_not_null(s->ctx);
	s->vm = make_vm();
	cr_assert_geq(s->vm, 0);
	s->gmem = make_gmem(s->vm, SZ);
	cr_assert_geq(s->gmem, 0);
}

static int offer(struct source *s, const struct mig_device *dev,
		 unsigned int ndev, const struct mig_state_format *fmt)
{
	struct mig_region r = gmem_region(s->gmem, SZ);
	struct mig_offer_args a = {
		.regions = &r, .nregions = 1, .vm_fd = s->vm,
		.devices = dev, .ndevices = ndev, .format = fmt,
	};

	return mig_offer_ex(s->ctx, "vm1", &a, sizeof(a), &s->sid);
}

static struct mig_device device(const char *name, enum mig_device_kind kind,
				int fd)
{
	struct mig_device dev = { .kind = kind, .fd = fd };

	strcpy(dev.name, name);
	return dev;
}

/* Nonblocking read of the pipe's read end: 0 at EOF, -EAGAIN if open. */
static int pipe_state(int rd)
{
	char c;
	ssize_t n = read(rd, &c, 1);

	return n < 0 ? -errno : (int)n;
}

static const struct mig_device *find(const struct mig_handoff *h,
				     const char *name)
{
	for (unsigned int i = 0; i < h->ndevices; i++)
		if (strcmp(h->devices[i].name, name) == 0)
			return &h->devices[i];
	return NULL;
}

Test(devices, a_successor_gets_each_device_checked_and_working)
{
	struct mig_handoff *h = NULL;
	struct mig_ctx *dest;
	struct source s;
	int ev = eventfd(0, EFD_CLOEXEC), p[2], sp[2], pty;
	const struct mig_device *got;
	uint64_t n = 0;
	char c = 0;

	source_new(&s);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(ev, 0);
	cr_assert_geq(pty, 0);
	struct mig_device dev[] = {
		device("irq0", MIG_DEVICE_EVENTFD, ev),
		device("console", MIG_DEVICE_PIPE, p[1]),
		device("serial1", MIG_DEVICE_TTY, pty),
		device("chardev", MIG_DEVICE_SOCKET, sp[0]),
	};
	cr_assert_eq(offer(&s, dev, 4, NULL), 0, "%s", mig_last_error(s.ctx));
	dest = connect_as_owner(&d, NULL);
	cr_assert_eq(claim_successor(&d, dest, "vm1", s.sid, &h), 0, "%s",
		     mig_last_error(dest));
	cr_assert_eq(h->ndevices, 4);
	for (unsigned int i = 0; i < 4; i++) {
		got = find(h, dev[i].name);
		cr_assert_not_null(got, "device %s handed", dev[i].name);
		cr_expect_eq(got->kind, dev[i].kind, "%s keeps its kind",
			     dev[i].name);
		cr_expect_geq(got->fd, 0);
	}
	/* The same kernel objects: what goes in one side comes out here. */
	n = 7;
	cr_expect_eq(write(find(h, "irq0")->fd, &n, 8), 8);
	cr_expect_eq(read(ev, &n, 8), 8);
	cr_expect_eq(n, 7, "the eventfd is the source's");
	cr_expect_eq(write(find(h, "console")->fd, "x", 1), 1);
	cr_expect_eq(read(p[0], &c, 1), 1);
	cr_expect_eq(c, 'x', "the console pipe is the source's");
	cr_expect_eq(write(find(h, "chardev")->fd, "y", 1), 1);
	cr_expect_eq(read(sp[1], &c, 1), 1);
	cr_expect_eq(c, 'y', "the socket is the source's");
	mig_handoff_free(h);
	mig_abort(dest, s.sid, "test done");
	mig_unref(dest);
	mig_unref(s.ctx);
}

/*
 * A source offers a console pipe and closes its own write end: migrd's
 * copy is the only one left. Returns the read end.
 */
static int offer_console_held_by_migrd(struct source *s)
{
	int p[2];

	source_new(s);
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	struct mig_device dev = device("console", MIG_DEVICE_PIPE, p[1]);

	cr_assert_eq(offer(s, &dev, 1, NULL), 0, "%s", mig_last_error(s->ctx));
	close(p[1]);
	cr_expect_eq(pipe_state(p[0]), -EAGAIN, "migrd holds the write end");
	return p[0];
}

/*
 * migrd's copies go when the session ends without a successor: the
 * pipe's reader sees EOF only once nobody holds the write end any more.
 */
Test(devices, an_abort_closes_migrds_copies)
{
	struct source s;
	int rd = offer_console_held_by_migrd(&s);

	cr_assert_eq(mig_abort(s.ctx, s.sid, "test abort"), 0);
	cr_expect_eq(pipe_state(rd), 0, "nobody holds it after the abort");
	mig_unref(s.ctx);
}

/* A rebind is another identity: it gets memory, never the devices. */
Test(devices, a_rebind_gets_none_and_migrd_keeps_none)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL), *dest;
	struct mig_handoff *h = NULL;
	struct mig_token t;
	struct source s;
	int rd = offer_console_held_by_migrd(&s);

	cr_assert_eq(mig_grant_rebind(m, "vm1", "newvm", NULL, (uid_t)-1, &t),
		     0, "%s", mig_last_error(m));
	dest = connect_as_owner(&d, NULL);
	cr_assert_eq(mig_claim(dest, s.sid, t.bytes, MIG_TOKEN_LEN, &h), 0,
		     "%s", mig_last_error(dest));
	cr_expect(h->deferred);
	cr_expect_eq(h->ndevices, 0, "no device for another identity");
	cr_expect_eq(pipe_state(rd), 0,
		     "migrd closed its copy: the write end is gone everywhere");
	mig_handoff_free(h);
	mig_abort(dest, s.sid, "test done");
	mig_unref(dest);
	mig_unref(m);
	mig_unref(s.ctx);
}

static void expect_refused(struct source *s, const struct mig_device *dev,
			   unsigned int n, int err, const char *why)
{
	struct mig_list *l = NULL;

	cr_expect_eq(offer(s, dev, n, NULL), err, "%s: %s", why,
		     mig_last_error(s->ctx));
	cr_assert_eq(mig_show(s->ctx, "vm1", &l), 0);
	cr_expect_eq(l->vms[0].session, 0, "%s: no session opened", why);
	mig_list_free(l);
}

Test(devices, fds_that_are_not_what_they_say_are_refused)
{
	int p[2], ev = eventfd(0, EFD_CLOEXEC);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	int mfd = memfd_create("ram", MFD_CLOEXEC);
	struct source s;

	source_new(&s);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	struct mig_device pipe_as_tap = device("net0", MIG_DEVICE_TAP, p[1]);
	struct mig_device ev_as_pipe = device("console", MIG_DEVICE_PIPE, ev);
	struct mig_device null_as_vhost = device("vhost0", MIG_DEVICE_VHOST, null);
	struct mig_device gmem_as_other = device("x", MIG_DEVICE_OTHER, s.gmem);
	struct mig_device memfd_as_pipe = device("y", MIG_DEVICE_PIPE, mfd);
	struct mig_device vm_as_other = device("z", MIG_DEVICE_OTHER, s.vm);
	struct mig_device twice[] = {
		device("console", MIG_DEVICE_PIPE, p[1]),
		device("console", MIG_DEVICE_EVENTFD, ev),
	};
	struct mig_device unnamed = device("", MIG_DEVICE_PIPE, p[1]);

	expect_refused(&s, &pipe_as_tap, 1, -EBADF, "a pipe as a tap");
	expect_refused(&s, &ev_as_pipe, 1, -EBADF, "an eventfd as a pipe");
	expect_refused(&s, &null_as_vhost, 1, -EBADF, "/dev/null as vhost");
	expect_refused(&s, &gmem_as_other, 1, -EBADF, "gmem as a device");
	expect_refused(&s, &memfd_as_pipe, 1, -EBADF, "a memfd as a device");
	expect_refused(&s, &vm_as_other, 1, -EBADF, "the VM fd as a device");
	expect_refused(&s, twice, 2, -EINVAL, "two devices of one name");
	expect_refused(&s, &unnamed, 1, -EINVAL, "a device without a name");
	if (tun >= 0) {
		struct mig_device unattached = device("net0", MIG_DEVICE_TAP, tun);

		expect_refused(&s, &unattached, 1, -EBADF,
			       "/dev/net/tun attached to no interface");
	}
	/* The same source, honest, is accepted. */
	struct mig_device honest[] = {
		device("console", MIG_DEVICE_PIPE, p[1]),
		device("irq0", MIG_DEVICE_EVENTFD, ev),
		device("null", MIG_DEVICE_OTHER, null),
	};
	cr_expect_eq(offer(&s, honest, 3, NULL), 0, "%s",
		     mig_last_error(s.ctx));
	mig_unref(s.ctx);
}

/* A real tap, where this machine lets root make one. */
Test(devices, a_tap_is_recognised)
{
	int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	enum mig_device_kind kind;
	struct source s;

	if (tun < 0)
		cr_skip_test("no /dev/net/tun here");
	strcpy(ifr.ifr_name, "migtst%d");
	if (ioctl(tun, TUNSETIFF, &ifr) < 0)
		cr_skip_test("cannot make a tap here: %s", strerror(errno));
	cr_expect_eq(mig_device_kind_of(tun, &kind), 0);
	cr_expect_eq(kind, MIG_DEVICE_TAP);
	source_new(&s);
	struct mig_device dev = device("net0", MIG_DEVICE_TAP, tun);

	cr_expect_eq(offer(&s, &dev, 1, NULL), 0, "%s", mig_last_error(s.ctx));
	mig_unref(s.ctx);
}

static const struct mig_state_format v2 = { "refvmm-x86", 2, 0 };

static struct mig_state_format loads(const char *name, uint32_t min,
				     uint32_t max)
{
	struct mig_state_format f = { .version = max, .min_version = min };

	strcpy(f.name, name);
	return f;
}

/*
 * The attack on the guest here is an upgrade to a VMM that would fail
 * only after the pause. It is refused while the guest still runs, the
 * source hears why, and the same steps with a destination that loads v2
 * go through.
 */
Test(format, a_destination_that_cannot_load_it_is_refused_before_the_pause)
{
	struct mig_state_format old = loads("refvmm-x86", 1, 1);
	struct mig_state_format wrong = loads("qemu-x86", 1, 9);
	struct mig_state_format both[] = { wrong, loads("refvmm-x86", 1, 3) };
	struct mig_handoff *h = NULL;
	struct mig_list *l = NULL;
	enum mig_state reached;
	struct mig_ctx *dest;
	struct source s;

	source_new(&s);
	cr_assert_eq(offer(&s, NULL, 0, &v2), 0, "%s", mig_last_error(s.ctx));
	dest = connect_as_owner(&d, NULL);
	cr_expect_eq(claim_successor_loads(&d, dest, "vm1", s.sid, &old, 1, &h),
		     -EPROTONOSUPPORT);
	cr_expect_null(h, "no memory for it");
	cr_expect(strstr(mig_last_error(dest), "cannot load state refvmm-x86 v2"),
		  "says why: %s", mig_last_error(dest));
	cr_expect_eq(mig_wait(s.ctx, s.sid, MIG_STATE_READY, &reached),
		     -ECANCELED, "the source is never asked to pause");
	cr_expect_eq(reached, MIG_STATE_ABORTED);
	cr_assert_eq(mig_show(s.ctx, "vm1", &l), 0);
	cr_expect_eq(l->vms[0].upgrades, 0);
	mig_list_free(l);

	/* Another format altogether: the same. */
	cr_assert_eq(offer(&s, NULL, 0, &v2), 0, "%s", mig_last_error(s.ctx));
	cr_expect_eq(claim_successor_loads(&d, dest, "vm1", s.sid, &wrong, 1,
					   &h), -EPROTONOSUPPORT);
	/* The legitimate destination: v2 is in its range. */
	cr_assert_eq(offer(&s, NULL, 0, &v2), 0, "%s", mig_last_error(s.ctx));
	cr_expect_eq(claim_successor_loads(&d, dest, "vm1", s.sid, both, 2, &h),
		     0, "%s", mig_last_error(dest));
	cr_assert_not_null(h);
	cr_expect_str_eq(h->format.name, "refvmm-x86");
	cr_expect_eq(h->format.version, 2, "the handoff says the format");
	mig_handoff_free(h);
	mig_abort(dest, s.sid, "test done");
	mig_unref(dest);
	mig_unref(s.ctx);
}

/* Lying about formats is no way for a stranger to abort an upgrade. */
Test(format, only_an_authorised_claimant_can_call_it_off)
{
	struct mig_state_format old = loads("refvmm-x86", 1, 1);
	struct mig_handoff *h = NULL;
	struct mig_ctx *stranger;
	struct mig_list *l = NULL;
	struct source s;
	uint8_t forged[MIG_TOKEN_LEN] = { 0 };

	source_new(&s);
	cr_assert_eq(offer(&s, NULL, 0, &v2), 0, "%s", mig_last_error(s.ctx));
	stranger = connect_as_owner(&d, NULL);
	cr_expect_eq(mig_claim_ex(stranger, s.sid, forged, sizeof(forged), &old,
				  1, &h), -EPERM);
	cr_assert_eq(mig_show(s.ctx, "vm1", &l), 0);
	cr_expect_eq(l->vms[0].session, s.sid, "the session is still open");
	mig_list_free(l);
	mig_unref(stranger);
	mig_unref(s.ctx);
}

/* Either side silent (an older libmig): nothing to check, as before. */
Test(format, an_unsaid_format_is_not_checked)
{
	struct mig_state_format old = loads("refvmm-x86", 1, 1);
	struct mig_handoff *h = NULL;
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct source s;

	source_new(&s);
	cr_assert_eq(offer(&s, NULL, 0, NULL), 0, "%s", mig_last_error(s.ctx));
	cr_expect_eq(claim_successor_loads(&d, dest, "vm1", s.sid, &old, 1, &h),
		     0, "%s", mig_last_error(dest));
	cr_expect_str_eq(h->format.name, "");
	mig_handoff_free(h);
	mig_abort(dest, s.sid, "test done");
	h = NULL;
	cr_assert_eq(offer(&s, NULL, 0, &v2), 0, "%s", mig_last_error(s.ctx));
	cr_expect_eq(claim_successor(&d, dest, "vm1", s.sid, &h), 0, "%s",
		     mig_last_error(dest));
	mig_handoff_free(h);
	mig_abort(dest, s.sid, "test done");
	mig_unref(dest);
	mig_unref(s.ctx);
}
