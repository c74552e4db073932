// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Writes the seed corpora of the fuzz targets (fuzz/corpus/), so they
 * can be regenerated when the protocol grows:
 *
 *   fuzz/seeds fuzz/corpus
 *
 * wire/ holds one datagram per file behind its fd-count byte; request/
 * holds conversations in fuzz-request's record format. Each seed is a
 * well-formed request of one kind, so the fuzzer starts inside every
 * handler instead of having to discover protobuf first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mig-private.h"

/* fuzz-request's flags: n fds of kinds starting at k. */
#define FDS(n, k) ((uint8_t)((n) | (k) << 2))
enum { K_MEMFD, K_NULL, K_SOCKET, K_VM, K_GMEM, K_PIDFD };

static uint8_t buf[1 << 16];

static size_t pack(Mig__Kind kind, Mig__Request *req)
{
	req->has_kind = true;
	req->kind = kind;
	return mig__request__pack(req, buf);
}

static void put(const char *dir, const char *name, const void *a, size_t n,
		const void *b, size_t m)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, n, f) != n || (m && fwrite(b, 1, m, f) != m) ||
	    fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* One request as a wire seed and as a one-record conversation. */
static void seed(const char *top, const char *name, Mig__Kind kind,
		 Mig__Request *req, uint8_t flags)
{
	char dir[256];
	uint8_t hdr[3], nfds = flags & 3;
	size_t len = pack(kind, req);

	snprintf(dir, sizeof(dir), "%s/wire", top);
	put(dir, name, &nfds, 1, buf, len);
	hdr[0] = flags;
	hdr[1] = (uint8_t)len;
	hdr[2] = (uint8_t)(len >> 8);
	snprintf(dir, sizeof(dir), "%s/request", top);
	put(dir, name, hdr, 3, buf, len);
}

/* The record of one request, appended to conv. */
static size_t record(uint8_t *conv, size_t at, Mig__Kind kind,
		     Mig__Request *req, uint8_t flags)
{
	size_t len = pack(kind, req);

	conv[at] = flags;
	conv[at + 1] = (uint8_t)len;
	conv[at + 2] = (uint8_t)(len >> 8);
	memcpy(conv + at + 3, buf, len);
	return at + 3 + len;
}

int main(int argc, char **argv)
{
	static uint8_t conv[1 << 16], token[MIG_TOKEN_LEN];
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Register reg = MIG__REGISTER__INIT;
	Mig__Target tgt = MIG__TARGET__INIT;
	Mig__Offer off = MIG__OFFER__INIT;
	Mig__Region rg = MIG__REGION__INIT, *rgs[] = { &rg };
	Mig__Claim cl = MIG__CLAIM__INIT;
	Mig__Grant gr = MIG__GRANT__INIT;
	Mig__Blob bl = MIG__BLOB__INIT;
	Mig__Wait wt = MIG__WAIT__INIT;
	char sub[512];
	size_t n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR\n");
		return 2;
	}
	snprintf(sub, sizeof(sub), "%s/wire", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(sub, 0755);
	snprintf(sub, sizeof(sub), "%s/request", argv[1]);
	mkdir(sub, 0755);

	reg.name = "vm1";
	reg.has_owner_pidfd = true;
	reg.owner_pidfd = 0;
	req.register_ = &reg;
	seed(argv[1], "register", MIG__KIND__REGISTER, &req, FDS(1, K_PIDFD));
	n = record(conv, n, MIG__KIND__REGISTER, &req, FDS(1, K_PIDFD));
	req.register_ = NULL;

	off.vm = "vm1";
	off.has_vm_fd = true;
	off.vm_fd = 1;
	rg.name = "ram";
	rg.has_gpa = rg.has_size = rg.has_kind = rg.has_fd = true;
	rg.size = 2 << 20;
	rg.kind = MIG__REGION_KIND__GMEM;
	rg.fd = 0;
	off.n_regions = 1;
	off.regions = rgs;
	req.offer = &off;
	/* fds: kind K_VM first, then K_GMEM */
	off.vm_fd = 0;
	rg.fd = 1;
	seed(argv[1], "offer", MIG__KIND__OFFER, &req, FDS(2, K_VM));
	n = record(conv, n, MIG__KIND__OFFER, &req, FDS(2, K_VM));
	req.offer = NULL;

	gr.vm = "vm1";
	gr.has_kind = true;
	gr.kind = MIG__GRANT_KIND__SUCCESSOR;
	req.grant = &gr;
	seed(argv[1], "grant", MIG__KIND__GRANT, &req, 0);
	n = record(conv, n, MIG__KIND__GRANT, &req, 0);
	gr.kind = MIG__GRANT_KIND__REBIND;
	gr.new_name = "vm2";
	seed(argv[1], "grant-rebind", MIG__KIND__GRANT, &req, 0);
	req.grant = NULL;

	cl.has_session = cl.has_token = true;
	cl.session = 1;
	cl.token.data = token;
	cl.token.len = sizeof(token);
	req.claim = &cl;
	seed(argv[1], "claim", MIG__KIND__CLAIM, &req, 0);
	n = record(conv, n, MIG__KIND__CLAIM, &req, 0);
	req.claim = NULL;

	tgt.has_session = true;
	tgt.session = 1;
	req.target = &tgt;
	seed(argv[1], "ready", MIG__KIND__READY, &req, 0);
	seed(argv[1], "take-state", MIG__KIND__TAKE_STATE, &req, 0);
	seed(argv[1], "commit", MIG__KIND__COMMIT, &req, 0);
	req.reason = "fuzz";
	seed(argv[1], "abort", MIG__KIND__ABORT, &req, 0);
	req.reason = NULL;
	tgt.vm = "vm1";
	seed(argv[1], "show", MIG__KIND__SHOW, &req, 0);
	seed(argv[1], "unregister", MIG__KIND__UNREGISTER, &req, 0);
	n = record(conv, n, MIG__KIND__SHOW, &req, 0);
	req.target = NULL;

	bl.has_session = bl.has_data = true;
	bl.session = 1;
	bl.data.data = token;
	bl.data.len = 8;
	req.state = &bl;
	seed(argv[1], "state", MIG__KIND__STATE, &req, 0);
	req.state = NULL;

	wt.has_session = wt.has_state = true;
	wt.session = 1;
	wt.state = MIG__STATE__COMMITTED;
	req.wait = &wt;
	seed(argv[1], "wait", MIG__KIND__WAIT, &req, 0);
	req.wait = NULL;

	seed(argv[1], "status", MIG__KIND__STATUS, &req, 0);
	seed(argv[1], "list", MIG__KIND__LIST, &req, 0);
	n = record(conv, n, MIG__KIND__LIST, &req, 0);
	seed(argv[1], "subscribe", MIG__KIND__SUBSCRIBE, &req, 0);

	snprintf(sub, sizeof(sub), "%s/request", argv[1]);
	put(sub, "conversation", conv, n, NULL, 0);
	return 0;
}
