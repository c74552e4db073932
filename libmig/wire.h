/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The wire codec: one protobuf message per SOCK_SEQPACKET datagram, fds as
 * SCM_RIGHTS. Shared by libmig and migrd; everything here closes the fds
 * of a message it rejects, so a caller never leaks what a peer sent.
 */
#ifndef MIG_WIRE_H
#define MIG_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mig-util.h"
#include "proto/migrd.pb-c.h"

/*
 * Hard limits. A datagram must fit the socket's send buffer
 * (net.core.wmem_default, 208 KiB on Debian), so stay well under it.
 */
#define MIG_MSG_MAX	(128 * 1024)
#define MIG_FDS_MAX	64

/* Send one datagram with nfds fds attached. Never raises SIGPIPE. */
int mig_wire_send(int sock, const void *buf, size_t len, const int *fds,
		  unsigned int nfds);

/*
 * Receive one datagram into buf (at least MIG_MSG_MAX bytes) and up to
 * MIG_FDS_MAX fds, received close-on-exec. Returns its length, 0 at end
 * of stream, -EMSGSIZE when data or fds were truncated, -EBADMSG for
 * control data that is not SCM_RIGHTS, -EAGAIN on a non-blocking socket
 * with nothing queued. On any error no fd is left open.
 */
ssize_t mig_wire_recv(int sock, void *buf, int *fds, unsigned int *nfds,
		       int flags);

/* Pack and send. */
int mig_send_request(int sock, const Mig__Request *req, const int *fds,
		     unsigned int nfds);
int mig_send_response(int sock, const Mig__Response *resp, const int *fds,
		      unsigned int nfds);

/*
 * Unpack what mig_wire_recv() received and check that the fds and the
 * indexes naming them agree: each index in range and each fd named
 * exactly once. Returns 0 or -EBADMSG; on error the fds are closed.
 */
int mig_decode_request(const void *buf, size_t len, int *fds,
		       unsigned int nfds, Mig__Request **req);
int mig_decode_response(const void *buf, size_t len, int *fds,
			unsigned int nfds, Mig__Response **resp);

/* The direct channel's messages: no fds travel with them. */
int mig_send_peer(int sock, const Mig__Peer *p);
int mig_decode_peer(const void *buf, size_t len, int *fds, unsigned int nfds,
		    Mig__Peer **p);

#endif /* MIG_WIRE_H */
