// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: the wire decoder, both directions. The first byte
 * says how many fds (0-3) arrived with the datagram. Invariants beyond
 * "does not crash": a rejected message leaves none of its fds open, and
 * an accepted one passes protobuf-c's own check.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "mig-private.h"

static void make_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void expect_closed(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fcntl(fds[i], F_GETFD) != -1)
			abort();	/* a rejected message leaked an fd */
}

/*
 * What the decoder accepts is a message protobuf-c itself calls valid.
 * (A pack/unpack round trip is not an invariant: protobuf-c keeps
 * unknown fields with a tag of 0 and then refuses its own output.)
 */
static void check(const ProtobufCMessage *m)
{
	if (!protobuf_c_message_check(m))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int nfds = size ? data[0] % 4 : 0;
	Mig__Response *resp;
	Mig__Request *req;
	int fds[4];

	if (size) {
		data++;
		size--;
	}
	make_fds(fds, nfds);
	if (mig_decode_request(data, size, fds, nfds, &req) == 0) {
		check(&req->base);
		mig__request__free_unpacked(req, NULL);
		mig_close_fds(fds, nfds);
	} else {
		expect_closed(fds, nfds);
	}
	make_fds(fds, nfds);
	if (mig_decode_response(data, size, fds, nfds, &resp) == 0) {
		check(&resp->base);
		mig__response__free_unpacked(resp, NULL);
		mig_close_fds(fds, nfds);
	} else {
		expect_closed(fds, nfds);
	}
	return 0;
}
