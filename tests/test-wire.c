// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire codec against a real SEQPACKET socketpair: round trips, and
 * every way a peer can send something wrong. Each rejection must also
 * leave no received fd open, so the fd table is counted around it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

static int sv[2];
static uint8_t buf[MIG_MSG_MAX];

static void setup(void)
{
	int big = 4 * MIG_MSG_MAX;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

TestSuite(wire, .init = setup, .fini = teardown);

static Mig__Request *recv_req(int *err, int *fds, unsigned int *nfds)
{
	Mig__Request *req = NULL;
	ssize_t n = mig_wire_recv(sv[1], buf, fds, nfds, MSG_DONTWAIT);

	*err = n < 0 ? (int)n : mig_decode_request(buf, (size_t)n, fds,
						     *nfds, &req);
	return req;
}

Test(wire, request_with_fds_round_trips)
{
	Mig__Request req = MIG__REQUEST__INIT, *got;
	Mig__Offer o = MIG__OFFER__INIT;
	Mig__Region r = MIG__REGION__INIT, *rp = &r;
	int fd = memfd_create("t", 0), fds[MIG_FDS_MAX], err;
	struct stat a, b;
	unsigned int n;

	req.has_kind = true;
	req.kind = MIG__KIND__OFFER;
	req.offer = &o;
	o.vm = "vm1";
	o.n_regions = 1;
	o.regions = &rp;
	r.has_fd = true;
	r.fd = 0;
	r.has_size = true;
	r.size = 4096;
	cr_assert_eq(mig_send_request(sv[0], &req, &fd, 1), 0);
	got = recv_req(&err, fds, &n);
	cr_assert_eq(err, 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(got->kind, MIG__KIND__OFFER);
	cr_assert_str_eq(got->offer->vm, "vm1");
	cr_assert_eq(got->offer->regions[0]->size, 4096);
	fstat(fd, &a);
	fstat(fds[0], &b);
	cr_assert_eq(a.st_ino, b.st_ino, "the fd received is the fd sent");
	cr_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC,
		  "received fds are close-on-exec");
	mig__request__free_unpacked(got, NULL);
	close(fds[0]);
	close(fd);
}

Test(wire, oversized_datagram_is_truncation_error)
{
	size_t len = MIG_MSG_MAX + 100;
	char *big = calloc(1, len);
	int fds[MIG_FDS_MAX];
	unsigned int n;

	cr_assert_eq(send(sv[0], big, len, 0), (ssize_t)len);
	cr_assert_eq(mig_wire_recv(sv[1], buf, fds, &n, 0), -EMSGSIZE);
	free(big);
}

Test(wire, sender_refuses_oversize_and_too_many_fds)
{
	int fds[MIG_FDS_MAX + 1] = { 0 };

	cr_assert_eq(mig_wire_send(sv[0], buf, MIG_MSG_MAX + 1, NULL, 0),
		     -EMSGSIZE);
	cr_assert_eq(mig_wire_send(sv[0], buf, 1, fds, MIG_FDS_MAX + 1),
		     -EMSGSIZE);
	cr_assert_eq(mig_wire_send(sv[0], buf, 0, NULL, 0), -EMSGSIZE);
}

/* Bypass our sender to put more fds on the wire than we accept. */
Test(wire, too_many_fds_are_all_closed)
{
	enum { N = MIG_FDS_MAX + 8 };
	char ctl[CMSG_SPACE(sizeof(int) * N)];
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	int fds[N], got[MIG_FDS_MAX], before;
	unsigned int n;

	for (int i = 0; i < N; i++)
		fds[i] = memfd_create("t", 0);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * N);
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	cr_assert_eq(sendmsg(sv[0], &msg, 0), 1);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	before = count_fds(getpid());
	cr_assert_eq(mig_wire_recv(sv[1], buf, got, &n, 0), -EMSGSIZE);
	cr_assert_eq(n, 0);
	cr_assert_eq(count_fds(getpid()), before, "no received fd leaked");
}

Test(wire, exactly_the_fd_limit_is_accepted)
{
	int fds[MIG_FDS_MAX], got[MIG_FDS_MAX], before;
	unsigned int n;

	for (int i = 0; i < MIG_FDS_MAX; i++)
		fds[i] = memfd_create("t", 0);
	cr_assert_eq(mig_wire_send(sv[0], "y", 1, fds, MIG_FDS_MAX), 0);
	for (int i = 0; i < MIG_FDS_MAX; i++)
		close(fds[i]);
	before = count_fds(getpid());
	cr_assert_eq(mig_wire_recv(sv[1], buf, got, &n, 0), 1,
		     "exactly MIG_FDS_MAX fds are accepted");
	cr_assert_eq(n, MIG_FDS_MAX);
	cr_assert_eq(count_fds(getpid()), before + MIG_FDS_MAX);
	mig_close_fds(got, n);
	cr_assert_eq(count_fds(getpid()), before);
}

Test(wire, credentials_instead_of_fds_are_rejected)
{
	struct ucred cred = { getpid(), getuid(), getgid() };
	char ctl[CMSG_SPACE(sizeof(cred))];
	struct iovec iov = { .iov_base = "z", .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	int one = 1, got[MIG_FDS_MAX];
	unsigned int n;

	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	cr_assert_eq(sendmsg(sv[0], &msg, 0), 1);
	cr_assert_eq(mig_wire_recv(sv[1], buf, got, &n, 0), -EBADMSG);
}

Test(wire, end_of_stream_reads_as_zero)
{
	int got[MIG_FDS_MAX];
	unsigned int n;

	shutdown(sv[0], SHUT_WR);
	cr_assert_eq(mig_wire_recv(sv[1], buf, got, &n, 0), 0);
}

Test(wire, garbage_is_not_a_request)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 };
	Mig__Request *req;
	int fds[1];

	cr_assert_eq(mig_decode_request(junk, sizeof(junk), fds, 0, &req),
		     -EBADMSG);
	cr_assert_null(req);
}

/* Build an OFFER whose region names fd index idx, send nfds fds with it. */
static int offer_with_index(int idx, int idx2, unsigned int nfds)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Offer o = MIG__OFFER__INIT;
	Mig__Region r[2] = { MIG__REGION__INIT, MIG__REGION__INIT };
	Mig__Region *rp[2] = { &r[0], &r[1] };
	int fds[4], got[MIG_FDS_MAX], err, before;
	unsigned int n;
	Mig__Request *dec;

	req.has_kind = true;
	req.kind = MIG__KIND__OFFER;
	req.offer = &o;
	o.n_regions = idx2 == -2 ? 1 : 2;
	o.regions = rp;
	r[0].has_fd = idx != -2;
	r[0].fd = idx;
	r[1].has_fd = true;
	r[1].fd = idx2;
	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = memfd_create("t", 0);
	cr_assert_eq(mig_send_request(sv[0], &req, fds, nfds), 0);
	mig_close_fds(fds, nfds);
	before = count_fds(getpid());
	dec = recv_req(&err, got, &n);
	if (err)
		cr_assert_eq(count_fds(getpid()), before,
			     "a rejected message leaves no fd open");
	if (dec) {
		mig_close_fds(got, n);
		mig__request__free_unpacked(dec, NULL);
	}
	return err;
}

Test(wire, fd_indexes_must_match_fds_exactly)
{
	cr_assert_eq(offer_with_index(0, -2, 1), 0, "one region, one fd");
	cr_assert_eq(offer_with_index(0, 1, 2), 0, "two regions, two fds");
	cr_assert_eq(offer_with_index(1, -2, 1), -EBADMSG, "index past end");
	cr_assert_eq(offer_with_index(-1, -2, 1), -EBADMSG, "negative index");
	cr_assert_eq(offer_with_index(-2, -2, 1), -EBADMSG, "region sans fd");
	cr_assert_eq(offer_with_index(0, 0, 2), -EBADMSG, "fd named twice");
	cr_assert_eq(offer_with_index(0, -2, 2), -EBADMSG, "fd named never");
	cr_assert_eq(offer_with_index(0, -2, 0), -EBADMSG, "no fd at all");
}

/* An OFFER of one region (fd 0) and one device naming fd index idx. */
static int offer_with_device(int idx, unsigned int nfds)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Offer o = MIG__OFFER__INIT;
	Mig__Region r = MIG__REGION__INIT, *rp = &r;
	Mig__Device dv = MIG__DEVICE__INIT, *dp = &dv;
	int fds[4], got[MIG_FDS_MAX], err;
	unsigned int n;
	Mig__Request *dec;

	req.has_kind = true;
	req.kind = MIG__KIND__OFFER;
	req.offer = &o;
	o.n_regions = 1;
	o.regions = &rp;
	r.has_fd = true;
	r.fd = 0;
	o.n_devices = 1;
	o.devices = &dp;
	dv.name = "console";
	dv.has_fd = idx != -2;
	dv.fd = idx;
	for (unsigned int i = 0; i < nfds; i++)
		fds[i] = memfd_create("t", 0);
	cr_assert_eq(mig_send_request(sv[0], &req, fds, nfds), 0);
	mig_close_fds(fds, nfds);
	dec = recv_req(&err, got, &n);
	if (dec) {
		mig_close_fds(got, n);
		mig__request__free_unpacked(dec, NULL);
	}
	return err;
}

Test(wire, a_device_names_an_fd_of_its_own)
{
	cr_assert_eq(offer_with_device(1, 2), 0, "region fd 0, device fd 1");
	cr_assert_eq(offer_with_device(-2, 1), -EBADMSG, "device sans fd");
	cr_assert_eq(offer_with_device(0, 1), -EBADMSG, "the region's fd");
	cr_assert_eq(offer_with_device(2, 2), -EBADMSG, "index past end");
	cr_assert_eq(offer_with_device(1, 3), -EBADMSG, "an fd named never");
}

/* The direct channel: a destination given the state by a peer message. */
static int take_state_of(const Mig__Peer *p, char *got, size_t len)
{
	struct mig_ctx *ctx = mig_new();
	void *data = NULL;
	size_t n = 0;
	int r, fd = dup(sv[1]);

	cr_assert_not_null(ctx);
	cr_assert_geq(fd, 0);
	mig_set_log_priority(ctx, LOG_CRIT);
	mig_peer_adopt(ctx, 7, fd, -1, false);
	cr_assert_eq(mig_send_peer(sv[0], p), 0);
	r = mig_peer_take_state(ctx, &data, &n);
	if (!r) {
		cr_assert_lt(n, len);
		memcpy(got, data, n);
		got[n] = '\0';
	}
	free(data);
	mig_unref(ctx);
	return r;
}

/*
 * A version of the channel this libmig does not know is refused before
 * anything in the message is used; its own version, and none (a libmig
 * before the field), are read.
 */
Test(wire, peer_version_checked)
{
	Mig__Peer p = MIG__PEER__INIT;
	char got[16];

	p.has_kind = p.has_session = p.has_state = true;
	p.kind = MIG__PEER_KIND__PEER_STATE;
	p.session = 7;
	p.state.data = (uint8_t *)"guest";
	p.state.len = 5;
	p.has_version = true;
	p.version = 2;
	cr_expect_eq(take_state_of(&p, got, sizeof(got)), -EPROTO,
		     "a channel version from the future is refused");
	p.version = 1;
	cr_expect_eq(take_state_of(&p, got, sizeof(got)), 0);
	cr_expect_str_eq(got, "guest");
	p.has_version = false;
	cr_expect_eq(take_state_of(&p, got, sizeof(got)), 0,
		     "an older libmig's message, without a version, is read");
	cr_expect_str_eq(got, "guest");
}
