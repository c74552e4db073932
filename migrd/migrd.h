/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * migrd's objects. One daemon, one event loop, one instance of struct
 * migrd. Layering: server.c owns sockets and the loop and dispatches to
 * the handlers in registry.c (VMs), session.c (handoffs) and query.c
 * (status, list, events); fsm.c and config.c are pure.
 */
#ifndef MIGRD_H
#define MIGRD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"
#include "fsm.h"
#include "libmig.h"
#include "list.h"
#include "mig-private.h"
#include "policy.h"

/* Something in the epoll set; the callback finds its object. */
struct watch {
	int fd;
	void (*fn)(struct watch *w, uint32_t events);
};

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
	/* A reply held back until a session moves (WAIT, TAKE_STATE). */
	Mig__Kind pending;
	uint64_t pending_session;
	Mig__State pending_state;
	unsigned int sessions;		/* open sessions it takes part in */
};

/* A claim token management asked for; at most one live per VM. */
struct grant {
	uint8_t token[MIG_TOKEN_LEN];
	enum grant_kind kind;		/* GRANT_NONE: none issued */
	bool used;			/* kept to tell a replay */
	uint64_t expires;		/* CLOCK_MONOTONIC ms */
	uint64_t expires_ms;		/* the same, CLOCK_REALTIME */
	uid_t uid;			/* who may claim with it */
	char new_name[MIG_NAME_MAX];	/* rebind: the new identity's */
	char new_uuid[MIG_UUID_LEN];
};

struct vm {
	struct list_head link;
	struct watch owner;		/* owner's pidfd: readable at exit */
	char id[MIG_ID_LEN];
	char name[MIG_NAME_MAX];
	char uuid[MIG_UUID_LEN];
	pid_t owner_pid;
	uid_t owner_uid;
	uint64_t owner_ino;
	uint64_t owner_start;		/* its start time: re-pinning */
	bool owner_gone;
	bool dying;			/* vm_destroy() runs */
	struct session *session;
	unsigned int upgrades;
	uint64_t registered_ms;
	struct grant grant;
};

/* A rebind's zeroing runs on a worker (ZEROING substate of SWITCHING). */
enum zero_state {
	ZERO_NONE,
	ZERO_RUNNING,			/* the old guest can no longer resume */
	ZERO_DONE,			/* zeroed and verified: may be handed */
	ZERO_FAILED,
};

struct session {
	struct list_head link;
	uint64_t id;
	struct vm *vm;			/* NULL once ended */
	char vm_id[MIG_ID_LEN];
	char vm_name[MIG_NAME_MAX];
	Mig__State state;
	struct client *source;		/* NULL once gone or ended */
	struct client *dest;
	uint64_t source_id;		/* client ids: never reused */
	uint64_t dest_id;
	pid_t source_pid;
	pid_t dest_pid;
	uid_t dest_uid;
	uint64_t dest_ino;		/* the destination process, pinned */
	uint64_t dest_start;
	/*
	 * The direct channel: migrd holds the source's end from claim until
	 * the source learns that the destination is ready; from then on
	 * (direct) the two sides decide the outcome between them and migrd
	 * only records what it hears.
	 */
	int peer_fd;
	bool direct;
	bool dest_gone;			/* direct: its connection or process */
	struct watch dest_proc;		/* recovered session: its pidfd */
	unsigned int nregions;
	struct mig_region regions[MIG_REGIONS_MAX];	/* fd -1 once handed */
	int vm_fd;
	uint8_t *blob;
	size_t bloblen;
	uint64_t mem_bytes;
	uint64_t created_ms;
	uint64_t updated_ms;
	uint64_t deadline;		/* CLOCK_MONOTONIC ms */
	int error;
	char reason[MIG_REASON_MAX];
	struct grant grant;		/* the one claimed with; token wiped */
	enum zero_state zero;		/* rebind: its memory's zeroing */
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
	Mig__Region regions[MIG_REGIONS_MAX];
	Mig__Region *rp[MIG_REGIONS_MAX];
	Mig__Handoff handoff;
	Mig__Blob blob;
	Mig__StatusInfo status;
	Mig__GrantReply grant;
	void *heap;			/* freed after sending */
};

struct migrd {
	struct config cfg;
	int epfd;
	struct watch listener;
	struct watch signals;
	struct watch procmon;
	struct list_head clients;
	struct list_head vms;
	struct list_head sessions;	/* open */
	struct list_head history;	/* ended, newest last */
	unsigned int nclients, nvms, nsessions, nhistory;
	uint64_t next_client, next_session;
	uint64_t committed, aborted, refused, rebinds;
	uint64_t started_ms;		/* CLOCK_MONOTONIC */
	unsigned int held_fds;
	gid_t admin_gid;
	bool have_admin_gid;
	bool stopping;
	bool dirty;			/* the journal is behind */
	uint64_t accept_paused_until;	/* EMFILE: CLOCK_MONOTONIC ms */
	struct list_head reapers;	/* old owners that must exit */
	char state_file[108 + 8];
};

extern struct migrd migrd;

#define HISTORY_MAX 64

/* server.c */
int server_init(void);
int server_run(void);
int server_step(int max_ms);
void server_fini(void);
int watch_add(struct watch *w, uint32_t events);
void watch_del(struct watch *w);
void client_send(struct client *c, struct reply *rep);
void reply_init(struct reply *rep, Mig__Kind kind);
int reply_err(struct reply *rep, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* registry.c */
int handle_register(struct client *c, Mig__Request *req, int *fds,
		    unsigned int nfds, struct reply *rep);
int handle_unregister(struct client *c, Mig__Request *req, int *fds,
		      unsigned int nfds, struct reply *rep);
struct vm *vm_find(const char *key);
int check_new_names(const char *name, const char *uuid, struct reply *rep);
struct vm *vm_create(const char *name, const char *uuid, int pidfd, pid_t pid,
		     uid_t uid, uint64_t ino);
void vm_owner_lost(struct vm *vm, const char *why);
void vm_set_owner(struct vm *vm, int pidfd, pid_t pid, uid_t uid,
		  uint64_t ino);
void vm_destroy(struct vm *vm, const char *why);
void vm_owner_exec(pid_t pid);
void registry_fini(void);

/* grant.c */
int handle_grant(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);
/* What a claim's token is for vm; *g is the grant it matched, if any. */
enum token_check grant_check(struct vm *vm, const Mig__Claim *cl,
			     const struct grant **g);

/* worker.c: slow work off the event loop; done() runs back on it. */
struct job {
	struct list_head link;
	void (*work)(struct job *j);	/* on its own thread */
	void (*done)(struct job *j);	/* on the loop; frees j */
};
int worker_init(void);
int worker_run(struct job *j);
void worker_fini(void);

/* rebind.c */
int rebind_zero_start(struct session *s);
int rebind_may_commit(const struct session *s, struct reply *rep);
void rebind_commit(struct session *s, struct vm *old);

/* session.c */
int handle_offer(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);
int handle_claim(struct client *c, Mig__Request *req, int *fds,
		 unsigned int nfds, struct reply *rep);
int handle_step(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_wait(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
struct session *session_find(uint64_t id, bool ended_too);
int session_event(struct session *s, enum fsm_event ev, int err,
		  const char *why);
void session_client_lost(struct client *c);
void session_zeroed(struct session *s, int err);
void session_dest_lost(struct session *s, const char *why);
void session_source_gone(struct session *s);
struct session *session_recover(struct vm *vm, uint64_t id, Mig__State state,
				int dest_pidfd, pid_t pid, uid_t uid,
				uint64_t ino, uint64_t start);
/* Answer c's waiting WAIT/TAKE_STATE on s: 0 answered, 1 not yet. */
int session_wait_answer(struct client *c, struct session *s,
			struct reply *rep);
int session_timeouts(uint64_t now);	/* ms until the next deadline */
void sessions_stop(void);
void sessions_fini(void);

/* query.c */
int handle_status(struct client *c, Mig__Request *req, int *fds,
		  unsigned int nfds, struct reply *rep);
int handle_list(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_show(struct client *c, Mig__Request *req, int *fds,
		unsigned int nfds, struct reply *rep);
int handle_subscribe(struct client *c, Mig__Request *req, int *fds,
		     unsigned int nfds, struct reply *rep);
void vm_info(Mig__VmInfo *out, const struct vm *vm);
void session_info(Mig__SessionInfo *out, const struct session *s,
		  Mig__Region *rs, Mig__Region **rp);
void event_vm(const char *what, const struct vm *vm);
void event_session(const struct session *s);

/* outbox.c: the domain records, the transport tells (after each event). */
void outbox_vm(const char *what, const struct vm *vm);
void outbox_session(const struct session *s);
void outbox_drain(void (*vm_fn)(const char *what, const struct vm *vm),
		  void (*session_fn)(const struct session *copy));

/* reaper.c: after a commit, the old VMM exits or is killed. */
int reaper_add(const struct vm *vm, int pidfd, pid_t pid);
int reaper_timeouts(uint64_t now);	/* ms until the next, -1: none */
void reaper_fini(void);
void reaper_journal(FILE *f);
void reaper_load(const char *line, int (*repin)(pid_t, uint64_t, uint64_t));

/* journal.c: what survives migrd being killed and started again. */
void journal_save(void);
int journal_load(void);

/* fault.c: MIGRD_FAULT=before-KIND / after-KIND kills migrd there. */
void fault_at(const char *when, Mig__Kind kind);

/* procmon.c */
int procmon_init(void);
void procmon_fini(void);

#endif /* MIGRD_H */
