// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input changes nothing: each bad request gets a clear error, no fd
 * stays behind in migrd, and a session opened before it still completes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

#define SZ (1ULL << 20)

static struct daemon d;
static struct mig_ctx *owner;	/* registered owner of "victim" */
static int vm, gmem;
static uint64_t good;		/* an innocent open session */
static int baseline;

static void start(void)
{
	struct mig_region r;

	REQUIRE_ROOT_KVM();
	/* World-connectable, so an unprivileged user can try its luck. */
	cr_assert_eq(daemon_start(&d, "socket_mode = 0666\n"), 0);
	baseline = daemon_baseline(&d);
	cr_assert_geq(baseline, 0);
	owner = connect_as_owner(&d, "victim");
	cr_assert_not_null(owner);
	cr_assert_not_null(connect_as_owner(&d, "bystander"));
	vm = make_vm();
	gmem = make_gmem(vm, SZ);
	cr_assert_geq(gmem, 0);
	r = gmem_region(gmem, SZ);
	cr_assert_eq(mig_offer(owner, "bystander", &r, 1, -1, &good), 0);
	/* Two VM owner pidfds, our two connections, the offered gmem, and
	 * the session's pidfd of its source (for the destination). */
	baseline += 2 + 2 * 2 + 1 + 1;
}

static void stop(void)
{
	struct mig_ctx *c = connect_as_owner(&d, NULL);

	/* The innocent session is still there and still claimable. */
	if (c && good) {
		struct mig_handoff *h = NULL;

		cr_expect_eq(claim_successor(&d, c, "bystander", good, &h), 0,
			     "the other session survived: %s",
			     mig_last_error(c));
		mig_handoff_free(h);
	}
	mig_unref(c);
	mig_unref(owner);
	daemon_stop(&d);
}

TestSuite(bad, .init = start, .fini = stop, .timeout = 30);

static int wait_exit(pid_t pid)
{
	int st = 0;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void expect_unchanged(void)
{
	struct mig_status st;

	cr_assert_eq(mig_status(owner, &st), 0);
	cr_assert_eq(st.sessions, 1, "only the innocent session is open");
	cr_assert_eq(st.open_fds, 1, "only its one gmem fd is held");
	cr_assert_eq(settled_fds(d.pid, baseline), baseline,
		     "migrd's fd table is as before");
}

static int offer_one(int fd, enum mig_region_kind kind, uint64_t size,
		     int vm_fd)
{
	struct mig_region r = gmem_region(fd, size);
	uint64_t sid;
	int ret;

	r.kind = kind;
	ret = mig_offer(owner, "victim", &r, 1, vm_fd, &sid);
	cr_log_info("offer: %d %s", ret, mig_last_error(owner));
	return ret;
}

Test(bad, fds_that_are_not_what_they_claim)
{
	int memfd = memfd_create("m", MFD_CLOEXEC);
	int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(ftruncate(memfd, SZ), 0);
	cr_assert_eq(offer_one(memfd, MIG_REGION_GMEM, SZ, -1), -EBADF);
	cr_assert(strstr(mig_last_error(owner), "claims to be gmem but its fd is memfd"));
	cr_assert_eq(offer_one(gmem, MIG_REGION_MEMFD, SZ, -1), -EBADF);
	cr_assert_eq(offer_one(file, MIG_REGION_GMEM, SZ, -1), -EBADF);
	cr_assert_eq(offer_one(sv[0], MIG_REGION_GMEM, SZ, -1), -EBADF);
	cr_assert_eq(offer_one(gmem, MIG_REGION_GMEM, SZ, memfd), -EBADF,
		     "a memfd is not a VM fd");
	cr_assert(strstr(mig_last_error(owner), "not a KVM VM fd"));
	expect_unchanged();
}

Test(bad, read_only_memory_fd)
{
	int memfd = memfd_create("m", MFD_CLOEXEC);
	char path[64];
	int ro;

	cr_assert_eq(ftruncate(memfd, SZ), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_eq(offer_one(ro, MIG_REGION_MEMFD, SZ, -1), -EBADF);
	expect_unchanged();
}

Test(bad, ranges_that_do_not_fit)
{
	struct mig_region r[2] = { gmem_region(gmem, SZ / 2),
				   gmem_region(gmem, SZ / 2) };
	uint64_t sid;

	cr_assert_eq(offer_one(gmem, MIG_REGION_GMEM, SZ + 4096, -1), -EINVAL,
		     "past the end of the fd");
	cr_assert_eq(offer_one(gmem, MIG_REGION_GMEM, 1000, -1), -EINVAL,
		     "not page-aligned");
	cr_assert_eq(offer_one(gmem, MIG_REGION_GMEM, 0, -1), -EINVAL);
	r[1].gpa = SZ / 4;
	r[1].offset = SZ / 2;
	cr_assert_eq(mig_offer(owner, "victim", r, 2, -1, &sid), -EINVAL);
	cr_assert(strstr(mig_last_error(owner), "overlap"));
	r[1].gpa = UINT64_MAX - 4095;
	cr_assert_eq(mig_offer(owner, "victim", r, 2, -1, &sid), -EINVAL,
		     "wraps around");
	expect_unchanged();
}

Test(bad, only_the_owner_process_offers)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* Same uid, even root: not the registered process. */
		struct mig_ctx *c = connect_as_owner(&d, NULL);
		struct mig_region r = gmem_region(gmem, SZ);
		uint64_t sid;

		_exit(mig_offer(c, "victim", &r, 1, -1, &sid) == -EPERM ? 0 : 1);
	}
	struct mig_region r = gmem_region(gmem, SZ);
	uint64_t sid;

	cr_assert_eq(wait_exit(pid), 0, "the impostor was refused");
	cr_assert_eq(mig_offer(owner, "victim", &r, 1, -1, &sid), 0,
		     "the owner itself may");
	cr_assert_eq(mig_abort(owner, sid, NULL), 0);
}

Test(bad, unknown_and_ended_sessions)
{
	struct mig_ctx *c = connect_as_owner(&d, NULL);
	struct mig_handoff *h;

	cr_assert_eq(mig_claim(c, 9999, NULL, 0, &h), -ENOENT);
	cr_assert(strstr(mig_last_error(c), "no session 9999"));
	cr_assert_eq(mig_ready(c, 9999), -ENOENT);
	cr_assert_eq(mig_commit(c, good), -EPERM,
		     "not this connection's session");
	cr_assert_eq(mig_send_state(c, good, "x", 1), -EPERM);
	cr_assert_eq(mig_take_state(c, good, &(void *){ NULL }, &(size_t){ 0 }),
		     -EPERM, "only the destination takes the state");
	mig_unref(c);
	expect_unchanged();
}

Test(bad, second_claimant_is_refused)
{
	struct mig_ctx *a = connect_as_owner(&d, NULL);
	struct mig_ctx *b = connect_as_owner(&d, NULL);
	struct mig_region r = gmem_region(gmem, SZ);
	struct mig_handoff *h1, *h2 = NULL;
	uint64_t sid;

	cr_assert_eq(mig_offer(owner, "victim", &r, 1, -1, &sid), 0);
	cr_assert_eq(claim_successor(&d, a, "victim", sid, &h1), 0);
	cr_assert_eq(claim_successor(&d, b, "victim", sid, &h2), -EBUSY);
	cr_assert_null(h2, "no fd for the loser");
	cr_assert_eq(claim_successor(&d, owner, "bystander", good, &h2), -EINVAL,
		     "a source cannot claim its own session");
	mig_handoff_free(h1);
	mig_unref(a);
	mig_unref(b);
}

static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d.sock);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static Mig__Response *raw_reply(int fd)
{
	static uint8_t buf[MIG_MSG_MAX];
	Mig__Response *resp;
	int fds[MIG_FDS_MAX];
	unsigned int n;
	ssize_t len = mig_wire_recv(fd, buf, fds, &n, 0);

	cr_assert_gt(len, 0);
	cr_assert_eq(mig_decode_response(buf, (size_t)len, fds, n, &resp), 0);
	return resp;
}

Test(bad, garbage_datagrams)
{
	static const uint8_t junk[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	int fd = raw_connect(), memfd = memfd_create("m", MFD_CLOEXEC);
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Response *resp;

	cr_assert_eq(mig_wire_send(fd, junk, sizeof(junk), &memfd, 1), 0);
	resp = raw_reply(fd);
	cr_assert_eq(resp->error, EBADMSG);
	cr_assert(strstr(resp->message, "Malformed"));
	mig__response__free_unpacked(resp, NULL);

	/* Well-formed, but not HELLO first. */
	req.has_kind = true;
	req.kind = MIG__KIND__LIST;
	cr_assert_eq(mig_send_request(fd, &req, NULL, 0), 0);
	resp = raw_reply(fd);
	cr_assert_eq(resp->error, EPROTO);
	mig__response__free_unpacked(resp, NULL);

	/* A kind from the future. */
	req.kind = (Mig__Kind)77;
	cr_assert_eq(mig_send_request(fd, &req, NULL, 0), 0);
	resp = raw_reply(fd);
	cr_assert_eq(resp->error, EOPNOTSUPP);
	mig__response__free_unpacked(resp, NULL);

	/* An fd the message does not name is closed, not kept. */
	req.kind = MIG__KIND__STATUS;
	cr_assert_eq(mig_send_request(fd, &req, &memfd, 1), 0);
	resp = raw_reply(fd);
	cr_assert_eq(resp->error, EBADMSG);
	mig__response__free_unpacked(resp, NULL);
	close(fd);
	expect_unchanged();
}

Test(bad, management_needs_privilege)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct mig_ctx *c;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		c = connect_as_owner(&d, NULL);
		if (!c)
			_exit(3);
		_exit(mig_register(c, "evil", NULL, getpid(), -1, NULL) ==
		      -EPERM && mig_unregister(c, "victim") == -EPERM ? 0 : 1);
	}
	cr_assert_eq(wait_exit(pid), 0, "nobody was refused both");
	expect_unchanged();
}
