/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals shared by libmig's files, migrd and the tests (through the
 * non-installed libmig-internal.la). Not part of the ABI.
 */
#ifndef MIG_PRIVATE_H
#define MIG_PRIVATE_H

#include <stdbool.h>
#include <syslog.h>

#include "libmig.h"
#include "mig-util.h"
#include "wire.h"


struct mig_ctx {
	int refcount;
	mig_log_fn log_fn;
	void *log_data;
	int log_priority;
	int sock;
	char path[108];			/* the socket connected to */
	uint32_t version;
	uint64_t features;
	bool subscribed;
	uint8_t *rxbuf;			/* MIG_MSG_MAX, allocated once */
	char last_error[256];
	int timeout_ms;			/* for an answer or a peer's word */
	int wait_timeout_ms;		/* for WAIT and TAKE_STATE */
	unsigned int unread;		/* answers to notices not yet read */
	/* The direct channel of the handoff this process takes part in. */
	int peer;			/* -1: none */
	int peer_pidfd;			/* destination: the source process */
	uint64_t peer_session;
	bool peer_is_source;
	bool peer_have_state;		/* destination: the state is in */
};

/* Waits for which migrd answers only when a session moves. */
#define MIG_WAIT_TIMEOUT_MS	(10 * 60 * 1000)
#define MIG_DEFAULT_TIMEOUT_MS	10000

void mig_log(const struct mig_ctx *ctx, int priority, const char *file,
	     int line, const char *fn, const char *format, ...)
	__attribute__((format(printf, 6, 7)));

#define mig_log_cond(ctx, prio, ...)					\
	do {								\
		if ((ctx) && (ctx)->log_priority >= (prio))		\
			mig_log(ctx, prio, __FILE__, __LINE__, __func__,\
				__VA_ARGS__);				\
	} while (0)

#define mig_dbg(ctx, ...)	mig_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define mig_info(ctx, ...)	mig_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define mig_err(ctx, ...)	mig_log_cond(ctx, LOG_ERR, __VA_ARGS__)


/* The direct channel (peer.c). */
void mig_peer_adopt(struct mig_ctx *ctx, uint64_t session, int fd,
		    int pidfd, bool source);
void mig_peer_close(struct mig_ctx *ctx);
bool mig_peer_for(const struct mig_ctx *ctx, uint64_t session);
int mig_peer_send_state(struct mig_ctx *ctx, const void *data, size_t len);
int mig_peer_take_state(struct mig_ctx *ctx, void **data, size_t *len);
int mig_peer_source_decide(struct mig_ctx *ctx);
int mig_peer_dest_commit(struct mig_ctx *ctx);
void mig_peer_abort(struct mig_ctx *ctx, const char *reason);

/*
 * The protocol enums and the public ones share their numbers on purpose:
 * these checks make a drift a build error instead of a wire bug.
 */
#define MIG_ASSERT_SAME(a, b) _Static_assert((int)(a) == (int)(b), #a)

/* Convert between the wire and the public structures (convert.c). */
void mig_vm_from_wire(struct mig_vm_info *out, const Mig__VmInfo *in);
int mig_session_from_wire(struct mig_session_info *out,
			  const Mig__SessionInfo *in, bool regions);
void mig_region_from_wire(struct mig_region *out, const Mig__Region *in);
void mig_device_from_wire(struct mig_device *out, const Mig__Device *in);
int mig_devices_from_wire(struct mig_device **out, unsigned int *n,
			  Mig__Device **in, size_t nin);
void mig_format_from_wire(struct mig_state_format *out,
			  const Mig__StateFormat *in);
void mig_format_to_wire(Mig__StateFormat *out,
			const struct mig_state_format *in);

/* Receive and decode one datagram on ctx's socket (client.c). */
int mig_recv_response(struct mig_ctx *ctx, Mig__Response **resp, int *fds,
		      unsigned int *nfds);

/*
 * One request/response round trip on ctx's socket. On success *resp is
 * the daemon's answer with error == 0 and rfds/nrfds what came with it;
 * a daemon error is returned as its negative errno with the sentence
 * kept for mig_last_error(). rfds may be NULL when no fd is expected.
 */
int mig_call(struct mig_ctx *ctx, Mig__Request *req, const int *fds,
	     unsigned int nfds, Mig__Response **resp, int *rfds,
	     unsigned int *nrfds);

/*
 * A session request whose answer does not matter beyond logging; without
 * wait, its answer is read (and dropped) before the next request's: for
 * notices on the guest's critical path.
 */
void mig_notify(struct mig_ctx *ctx, Mig__Kind kind, uint64_t session,
		const char *reason, bool wait);
void mig_notify_wait(struct mig_ctx *ctx, uint64_t session,
		     enum mig_state state);


#endif /* MIG_PRIVATE_H */
