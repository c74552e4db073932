/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The domain: VMs, sessions, grants, rebinds, old VMMs that must exit, the
 * journal. What migrd knows and decides, with no sockets and no protocol:
 * peers are named by connection id, and what the world must be told goes
 * into the outbox, which the transport drains after each event.
 */
#ifndef MIGRD_DOMAIN_H
#define MIGRD_DOMAIN_H

#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "fsm.h"
#include "migrd.h"
#include "policy.h"

/* Why the domain said no: a whole sentence, for the reply and the logs. */
struct why {
	char msg[256];
};

int why_fail(struct why *w, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Who a connection is, as far as the domain needs to know. */
struct peer {
	uint64_t id;			/* the connection, never reused */
	pid_t pid;
	uid_t uid;
	uint64_t ino;			/* pidfs inode of its process */
	int pidfd;			/* borrowed: dup() to keep */
	bool admin;
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
	struct list_head link;		/* in registration order */
	uint64_t serial;		/* that order: LIST pages by it */
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
	/* The journal's bookkeeping (journal.c): changed since its last
	 * write, and whether the file has a line for it. */
	struct list_head jlink;		/* in its changed list, if jchanged */
	bool jchanged;
	bool jin_file;
};

/*
 * A rebind's memory, substates of SWITCHING: it waits for the source
 * process to exit, then a worker checks that nobody else holds it and
 * zeroes it (or replaces it, for memfd).
 */
enum zero_state {
	ZERO_NONE,
	ZERO_AWAIT_EXIT,		/* the source was told to exit */
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
	enum mig_state state;
	uint64_t source_id;		/* connections, by id: never reused */
	uint64_t dest_id;
	bool source_on;			/* its connection is open */
	bool dest_on;
	struct watch source_proc;	/* the source process's pidfd */
	bool source_watched;		/* rebind: its exit is awaited */
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
	/*
	 * ADOPT: the source is the owner process, which does not speak
	 * libmig. The claimant drives the VMM's own migration over the
	 * channel migrd gives it, says when the state moved (STATE) and
	 * names the new VMM at COMMIT.
	 */
	bool adopted;
	bool dest_gone;			/* direct: its connection or process */
	bool dest_said_commit;		/* direct: noted; the source decides */
	struct watch dest_proc;		/* the destination process's pidfd */
	bool dest_watched;		/* recovered: its exit is watched */
	unsigned int nregions;
	struct mig_region regions[MIG_REGIONS_MAX];	/* fd -1 once handed */
	unsigned int ndevices;
	struct mig_device devices[MIG_DEVICES_MAX];	/* fd -1 once handed */
	struct mig_state_format format;	/* the source's; name "" if none */
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

/* ms from now to next for epoll: a deadline weeks away does not wrap. */
static inline int ms_until(uint64_t next, uint64_t now)
{
	return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* registry.c: the only place a VM is created or destroyed. */
struct vm *vm_find(const char *key);
/* Room for one more registration (max_vms), or why not. */
int registry_has_room(struct why *w);
int check_new_names(const char *name, const char *uuid, struct why *w);
struct vm *vm_create(const char *name, const char *uuid, int pidfd, pid_t pid,
		     uid_t uid, uint64_t ino);
void vm_owner_lost(struct vm *vm, const char *why);
void vm_set_owner(struct vm *vm, int pidfd, pid_t pid, uid_t uid,
		  uint64_t ino);
void vm_destroy(struct vm *vm, const char *why);
void vm_owner_exec(pid_t pid);
void registry_fini(void);

/* grant.c */
/* What a claim's token is for vm; *g is the grant it matched, if any. */
enum token_check grant_check(struct vm *vm, const uint8_t *token, size_t len,
			     const struct grant **g);
int grant_issue(struct vm *vm, enum grant_kind kind, const char *new_name,
		const char *new_uuid, bool has_uid, uid_t uid, struct why *w);

/* worker.c: slow work off the event loop; done() runs back on it. */
struct job {
	struct list_head link;
	void (*work)(struct job *j);	/* on its own thread */
	void (*done)(struct job *j);	/* on the loop; frees j */
};
int worker_init(void);
int worker_run(struct job *j);
void worker_fini(void);

/* holders.c: who but self holds or maps one of files (by dev, ino). */
struct holder {
	pid_t pid;
	unsigned int file;		/* index into files */
	bool mapped;			/* a mapping, not an fd */
};
/* 0: nobody; 1: *found; < 0: cannot tell (*found: who could not be seen). */
int holders_find(const struct stat *files, unsigned int n, pid_t self,
		 struct holder *found);

/* rebind.c */
int rebind_await_source(struct session *s);
int rebind_may_commit(const struct session *s, struct why *w);
void rebind_commit(struct session *s, struct vm *old, int pidfd);

/* session.c */
struct session *session_find(uint64_t id, bool ended_too);
struct session *session_new(struct vm *vm, const struct peer *source);
void session_claimed_by(struct session *s, const struct peer *dest);
unsigned int sessions_of(uint64_t peer_id);
/* Keep fd in *slot (counted in held_fds), or hand it out of there. */
/* memfd seals: none against writing, at offer and at hand-out. */
int region_check_seals(int fd, enum mig_region_kind kind, struct why *w,
		       unsigned int i);
void session_seal_regions(struct session *s);
int session_regions_intact(const struct session *s, struct why *w);
void session_keep_fd(int *slot, int fd);
int session_hand_fd(int *slot);
void session_set_deadline(struct session *s);
int session_event(struct session *s, enum fsm_event ev, int err,
		  const char *why);
void session_peer_lost(uint64_t peer_id);
void session_zeroed(struct session *s, int err, const char *why);
void session_dest_lost(struct session *s, const char *why);
void session_source_gone(struct session *s);
int session_commit(struct session *s, enum commit_word word, struct why *w);
struct session *session_recover(struct vm *vm, uint64_t id,
				enum mig_state state, int dest_pidfd, pid_t pid,
				uid_t uid, uint64_t ino, uint64_t start);
int session_timeouts(uint64_t now);	/* ms until the next deadline */
void sessions_stop(void);
void sessions_fini(void);

/* steps.c: who may do what to a session, and what each step changes. */
int session_may_offer(const struct vm *vm, const struct peer *p,
		      struct why *w);
int session_may_claim(struct session *s, const struct peer *p,
		      const uint8_t *token, size_t len,
		      const struct grant **g, struct decision *d,
		      struct why *w);
int session_may_adopt(const struct vm *vm, struct why *w);
struct session *session_adopt(struct vm *vm);
/* loads: what the claimant loads, for people. Aborts s. */
int session_cannot_load(struct session *s, const char *loads,
			struct why *w);
void session_spend_grant(struct session *s, const struct grant *g);
/* A rebind: the VM fd and the devices closed, never handed. */
void session_drop_identity(struct session *s);
bool session_may_step(const struct session *s, const struct peer *p,
		      enum fsm_event ev);
/* p aborts s after s committed: its old VMM resumed after GO? */
void session_late_abort(struct session *s, const struct peer *p);
int session_keep_state(struct session *s, const void *data, size_t len);
uint8_t *session_take_state(struct session *s, size_t *len);
int session_go_direct(struct session *s, const struct peer *p);
int session_adopted_successor(struct session *s, const struct peer *p,
			      int pidfd, struct why *w);

/* outbox.c: the domain records, the transport tells (after each event). */
void outbox_vm(const char *what, const struct vm *vm);
void outbox_session(const struct session *s);
void outbox_drain(void (*vm_fn)(const char *what, const struct vm *vm),
		  void (*session_fn)(const struct session *copy));

/* reaper.c: after a commit, the old VMM exits or is killed. */
int reaper_add(const struct vm *vm, int pidfd, pid_t pid);
int reaper_timeouts(uint64_t now);	/* ms until the next, -1: none */
int reaper_now(pid_t pid);		/* no grace left for pid */
void reaper_fini(void);
void reaper_journal(FILE *f);
void reaper_load(const char *line, int (*repin)(pid_t, uint64_t, uint64_t));

/* journal.c: what survives migrd being killed and started again. */
void journal_save(void);
int journal_load(void);
/* Where it lives: state_file, or beside the socket. */
void journal_set_path(void);
/* What vm's line says changed (owner, upgrades, presence): appended at
 * the next save, not the whole journal rewritten. */
void journal_vm_changed(struct vm *vm);
/* vm is about to be freed. */
void journal_vm_gone(struct vm *vm);

#endif /* MIGRD_DOMAIN_H */
