/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport: the socket, the epoll loop, the peers (credentials,
 * pidfds, limits), the codec, and the only code that sends.
 */
#ifndef MIGRD_TRANSPORT_H
#define MIGRD_TRANSPORT_H

#include <sys/socket.h>

#include "domain.h"
#include "mig-private.h"

struct client {
	struct list_head link;
	struct watch w;
	uint64_t id;
	struct ucred cred;
	int pidfd;			/* pins the peer process */
	uint64_t pid_ino;		/* its pidfs inode: who it is */
	bool admin;			/* root or admin_group */
	bool hello;
	bool subscriber;
	uint64_t lost;			/* events it was too slow for */
	/* A reply held back until a session moves (WAIT, TAKE_STATE). */
	Mig__Kind pending;
	uint64_t pending_session;
	enum mig_state pending_state;
};

/* Wire storage for one session's details: regions, devices, format. */
struct session_wire {
	Mig__Region regions[MIG_REGIONS_MAX];
	Mig__Region *rp[MIG_REGIONS_MAX];
	Mig__Device devices[MIG_DEVICES_MAX];
	Mig__Device *dp[MIG_DEVICES_MAX];
	Mig__StateFormat format;
};

/* What a handler answers; storage for the reply lives here. */
struct reply {
	Mig__Response resp;
	char msg[256];
	int fds[MIG_FDS_MAX];
	unsigned int nfds;
	bool deferred;			/* answered later */
	Mig__HelloReply hello;
	Mig__VmInfo vm;
	Mig__SessionInfo session;
	struct session_wire sw;		/* the session's details */
	Mig__Handoff handoff;
	Mig__Blob blob;
	Mig__StatusInfo status;
	Mig__GrantReply grant;
	Mig__ListPage page;		/* LIST: the next page's cursor */
	void *heap;			/* freed after sending */
};

/* server.c */
int server_init(void);
int server_run(void);
int server_step(int max_ms);
void server_fini(void);
void client_send(struct client *c, struct reply *rep);
/* The same, but a full socket is -EAGAIN, not a reason to drop c. */
int client_try_send(struct client *c, struct reply *rep);
void reply_init(struct reply *rep, Mig__Kind kind);
int reply_err(struct reply *rep, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The domain's sentence as the reply's error. */
int reply_why(struct reply *rep, int err, const struct why *w);
/* What the domain needs to know of a connection. */
void client_peer(const struct client *c, struct peer *p);

/* fault.c: MIGRD_FAULT=before-KIND / after-KIND kills migrd there. */
void fault_at(const char *when, Mig__Kind kind);

/* sockpath.c: the socket's directory checked, locked, bound into. */
int sockpath_claim(const char *path);
int sockpath_bind(int fd, mode_t mode, gid_t gid);
void sockpath_release(void);

/* activation.c: systemd's socket (LISTEN_FDS) and readiness (sd_notify). */
/* The passed listener (its path into path), -ENOENT if none was passed. */
int activation_listener(char *path, size_t len);
void activation_notify(const char *state);
/* Pets systemd's watchdog if due; ms until next due, -1: no watchdog. */
int activation_watchdog(uint64_t now);

/* procmon.c */
int procmon_init(void);
void procmon_fini(void);

#endif /* MIGRD_TRANSPORT_H */
