// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The wire codec. Datagram boundaries are message boundaries (SEQPACKET),
 * so there is no framing to get wrong; what remains is to never trust the
 * peer: truncation of data or fds is an error, and an fd that arrives with
 * a rejected message is closed before we return.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wire.h"

int mig_wire_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MIG_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (len == 0 || len > MIG_MSG_MAX || nfds > MIG_FDS_MAX)
		return -EMSGSIZE;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Take every fd out of the control data; false if anything else was there. */
static bool take_fds(struct msghdr *msg, int *fds, unsigned int *nfds)
{
	bool clean = true;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
	     c = CMSG_NXTHDR(msg, c)) {
		size_t n;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			clean = false;
			continue;
		}
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (*nfds < MIG_FDS_MAX) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				clean = false;
			}
		}
	}
	return clean;
}

ssize_t mig_wire_recv(int sock, void *buf, int *fds, unsigned int *nfds,
		       int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * MIG_FDS_MAX)];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = MIG_MSG_MAX };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;
	bool clean;

	*nfds = 0;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	clean = take_fds(&msg, fds, nfds);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		mig_close_fds(fds, *nfds);
		*nfds = 0;
		return -EMSGSIZE;
	}
	if (!clean || (n == 0 && *nfds)) {
		mig_close_fds(fds, *nfds);
		*nfds = 0;
		return -EBADMSG;
	}
	return n;
}

static int send_packed(int sock, const ProtobufCMessage *m, const int *fds,
		       unsigned int nfds)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;
	int r;

	if (len > MIG_MSG_MAX)
		return -EMSGSIZE;
	/* An empty message would read as end of stream on the other side. */
	buf = calloc(1, len ? len : 1);
	if (!buf)
		return -ENOMEM;
	protobuf_c_message_pack(m, buf);
	r = mig_wire_send(sock, buf, len ? len : 1, fds, nfds);
	free(buf);
	return r;
}

int mig_send_request(int sock, const Mig__Request *req, const int *fds,
		     unsigned int nfds)
{
	return send_packed(sock, &req->base, fds, nfds);
}

int mig_send_response(int sock, const Mig__Response *resp, const int *fds,
		      unsigned int nfds)
{
	return send_packed(sock, &resp->base, fds, nfds);
}

/* Each index in range and each fd named exactly once. */
static int check_refs(const int32_t *refs, unsigned int nrefs,
		      unsigned int nfds)
{
	uint64_t used = 0;

	for (unsigned int i = 0; i < nrefs; i++) {
		if (refs[i] < 0 || (unsigned int)refs[i] >= nfds)
			return -EBADMSG;
		if (used & (1ULL << refs[i]))
			return -EBADMSG;
		used |= 1ULL << refs[i];
	}
	return (unsigned int)__builtin_popcountll(used) == nfds ? 0 : -EBADMSG;
}

/* Add one fd index to refs; -1 (none) is skipped where allowed. */
static int add_ref(int32_t *refs, unsigned int *n, bool has, int32_t idx,
		   bool optional)
{
	if (!has || (optional && idx == -1))
		return optional ? 0 : -EBADMSG;
	if (*n >= MIG_FDS_MAX)
		return -EBADMSG;
	refs[(*n)++] = idx;
	return 0;
}

/* Every region names its fd, except in a handoff whose fds come later. */
static int add_region_refs(int32_t *refs, unsigned int *n,
			   Mig__Region **regions, size_t nregions,
			   bool optional)
{
	for (size_t i = 0; i < nregions; i++) {
		int r = add_ref(refs, n, regions[i]->has_fd, regions[i]->fd,
				optional);
		if (r)
			return r;
	}
	return 0;
}

/* Every device names its fd. */
static int add_device_refs(int32_t *refs, unsigned int *n,
			   Mig__Device **devices, size_t ndevices)
{
	for (size_t i = 0; i < ndevices; i++) {
		int r = add_ref(refs, n, devices[i]->has_fd, devices[i]->fd,
				false);
		if (r)
			return r;
	}
	return 0;
}

static int request_refs(const Mig__Request *req, int32_t *refs,
			unsigned int *n)
{
	int r = 0;

	if (req->register_)
		r = add_ref(refs, n, req->register_->has_owner_pidfd,
			    req->register_->owner_pidfd, true);
	if (!r && req->offer)
		r = add_ref(refs, n, req->offer->has_vm_fd,
			    req->offer->vm_fd, true);
	if (!r && req->offer)
		r = add_region_refs(refs, n, req->offer->regions,
				    req->offer->n_regions, false);
	if (!r && req->offer)
		r = add_device_refs(refs, n, req->offer->devices,
				    req->offer->n_devices);
	/* ADOPT names fds in its owner's table, none in this message. */
	if (!r)
		r = add_ref(refs, n, req->has_successor_pidfd,
			    req->successor_pidfd, true);
	return r;
}

static int response_refs(const Mig__Response *resp, int32_t *refs,
			 unsigned int *n)
{
	int r = 0;

	if (resp->handoff) {
		r = add_ref(refs, n, resp->handoff->has_vm_fd,
			    resp->handoff->vm_fd, true);
		if (!r && resp->handoff->has_peer_fd)
			r = add_ref(refs, n, true, resp->handoff->peer_fd, true);
		if (!r && resp->handoff->has_source_pidfd)
			r = add_ref(refs, n, true, resp->handoff->source_pidfd,
				    true);
		if (!r)
			r = add_region_refs(refs, n, resp->handoff->regions,
					    resp->handoff->n_regions,
					    resp->handoff->deferred);
		if (!r)
			r = add_device_refs(refs, n, resp->handoff->devices,
					    resp->handoff->n_devices);
	}
	if (!r && resp->has_peer_fd)
		r = add_ref(refs, n, true, resp->peer_fd, true);
	return r;
}

typedef int (*refs_fn)(const ProtobufCMessage *m, int32_t *refs,
		       unsigned int *n);

static int request_refs_of(const ProtobufCMessage *m, int32_t *refs,
			   unsigned int *n)
{
	return request_refs((const Mig__Request *)m, refs, n);
}

static int response_refs_of(const ProtobufCMessage *m, int32_t *refs,
			    unsigned int *n)
{
	return response_refs((const Mig__Response *)m, refs, n);
}

/* Unpack, then check the fd indexes; on any error close every fd. */
static int decode(const ProtobufCMessageDescriptor *desc, refs_fn refs_of,
		  const void *buf, size_t len, int *fds, unsigned int nfds,
		  ProtobufCMessage **out)
{
	int32_t refs[MIG_FDS_MAX];
	unsigned int n = 0;
	int r = -EBADMSG;

	*out = protobuf_c_message_unpack(desc, NULL, len, buf);
	if (*out) {
		r = refs_of(*out, refs, &n);
		if (!r)
			r = check_refs(refs, n, nfds);
	}
	if (r) {
		if (*out)
			protobuf_c_message_free_unpacked(*out, NULL);
		*out = NULL;
		mig_close_fds(fds, nfds);
	}
	return r;
}

int mig_decode_request(const void *buf, size_t len, int *fds,
		       unsigned int nfds, Mig__Request **req)
{
	return decode(&mig__request__descriptor, request_refs_of, buf, len,
		      fds, nfds, (ProtobufCMessage **)req);
}

int mig_decode_response(const void *buf, size_t len, int *fds,
			unsigned int nfds, Mig__Response **resp)
{
	return decode(&mig__response__descriptor, response_refs_of, buf, len,
		      fds, nfds, (ProtobufCMessage **)resp);
}

int mig_send_peer(int sock, const Mig__Peer *p)
{
	return send_packed(sock, &p->base, NULL, 0);
}

static int no_refs(const ProtobufCMessage *m, int32_t *refs, unsigned int *n)
{
	return 0;
}

int mig_decode_peer(const void *buf, size_t len, int *fds, unsigned int nfds,
		    Mig__Peer **p)
{
	return decode(&mig__peer__descriptor, no_refs, buf, len, fds, nfds,
		      (ProtobufCMessage **)p);
}
