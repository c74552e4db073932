/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport: the socket, the loop, the peers (credentials, pidfds,
 * limits), the codec, and the only code that sends. It is the top layer:
 * it calls the handlers, the domain and below; nothing calls it.
 */
#ifndef MIGRD_TRANSPORT_H
#define MIGRD_TRANSPORT_H

#include <sys/socket.h>

#include "handlers.h"
#include "log.h"

struct client {
	struct list_head link;
	struct watch w;
	struct ucred cred;
	struct conn conn;		/* what the handlers see of it */
	uint64_t lost;			/* events it was too slow for */
};

/* What only the transport holds. */
struct server {
	struct watch listener;
	struct watch signals;
	struct list_head clients;
	uint64_t next_client;
	gid_t admin_gid;
	bool have_admin_gid;
	uint64_t accept_paused_until;	/* EMFILE: CLOCK_MONOTONIC ms */
};

extern struct server server;

/* server.c: setup, the loop, shutdown. */
int server_init(void);
int server_run(void);
int server_step(int max_ms);
void server_fini(void);

/* client.c: a connection's life. */
void client_accept(struct watch *w, uint32_t events);
void client_send(struct client *c, struct reply *rep);
/* The same, but a full socket is -EAGAIN, not a reason to drop c. */
int client_try_send(struct client *c, struct reply *rep);
void client_free(struct client *c);
/* Listen again once an EMFILE pause is over; ms until then, or -1. */
int accept_timeout(uint64_t now);

/* listener.c: the socket (ours or systemd's) and the signals. */
int listener_setup(void);
int signals_setup(void);
int lookup_group(const char *name, gid_t *gid);

/* events.c: after each event, the waiters and subscribers hear of it. */
void deliver(void);

/* conf-file.c: migrd.conf opened, held to sshd's rules, parsed. */
int config_load(struct config *cfg, const char *path, char *err,
		size_t errlen);

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
