/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmig - hand a running guest's memory from one VMM process to another
 * through the migrd broker.
 *
 * Conventions: every call returns 0 (or a non-negative value where said)
 * on success and a negative errno on failure; only constructors return
 * NULL. Strings returned inside structures are owned by the structure.
 * A context is not thread-safe: use one per thread.
 *
 * Errors: each call below lists those a caller can act on, its own and
 * migrd's answers; after an answer, mig_last_error() has migrd's
 * sentence. Every call that talks to migrd may also return:
 *	-ENOTCONN	@ctx is not connected, or a timeout closed it;
 *	-EINVAL		@ctx is an event stream (mig_subscribe());
 *	-ETIMEDOUT	migrd did not answer in time (mig_set_timeout());
 *			the connection is closed then;
 *	-ECONNRESET	migrd hung up (it exited or restarted);
 *	-EPROTO, -EBADMSG, -EMSGSIZE	an answer libmig cannot use;
 *	-EOPNOTSUPP	a migrd too old to know the request;
 *	-ENOMEM.
 * A call that passes fds to migrd returns -EBADF when one is not open.
 */
#ifndef LIBMIG_H
#define LIBMIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Wire protocol version spoken by this library. */
#define MIG_PROTOCOL_VERSION	1
/* Socket used when neither the caller nor $MIGRD_SOCKET names one. */
#define MIG_DEFAULT_SOCKET	"/run/migrd/migrd.sock"
/* A VM identity: 128 random bits as 32 lowercase hex digits. */
#define MIG_ID_LEN		33
#define MIG_NAME_MAX		64
#define MIG_UUID_LEN		37
#define MIG_REASON_MAX		128
/* Most regions one VM may offer. */
#define MIG_REGIONS_MAX		32
/* Most device fds one VM may offer beside its memory. Since LIBMIG_0.4. */
#define MIG_DEVICES_MAX		16
/* Most state formats a destination may say it loads. Since LIBMIG_0.4. */
#define MIG_FORMATS_MAX		8

struct mig_ctx;

/* ---- context ---------------------------------------------------------- */

/**
 * mig_new() - create a context, not yet connected.
 *
 * The log priority starts at LOG_ERR, or at the level named by $MIG_LOG
 * ("err", "warning", "info", "debug" or a syslog number).
 * Returns: a context with one reference, or NULL (errno ENOMEM).
 */
struct mig_ctx *mig_new(void);

/** mig_ref() - take a reference. NULL-safe; returns @ctx. */
struct mig_ctx *mig_ref(struct mig_ctx *ctx);

/**
 * mig_unref() - drop a reference; the last one closes the connection.
 * NULL-safe. Returns: NULL once freed, else @ctx.
 */
struct mig_ctx *mig_unref(struct mig_ctx *ctx);

/**
 * typedef mig_log_fn - where libmig's messages go.
 * @priority is a syslog priority (LOG_ERR ... LOG_DEBUG).
 */
typedef void (*mig_log_fn)(void *data, int priority, const char *file,
			   int line, const char *fn, const char *format,
			   va_list args);

/** mig_set_log_fn() - replace the default logger (stderr). */
void mig_set_log_fn(struct mig_ctx *ctx, mig_log_fn fn, void *data);
/** mig_get_log_priority() - messages above this priority are dropped. */
int mig_get_log_priority(const struct mig_ctx *ctx);
/** mig_set_log_priority() - set the threshold (a syslog priority). */
void mig_set_log_priority(struct mig_ctx *ctx, int priority);

/**
 * mig_connect() - connect to migrd and do the version handshake.
 * @path: socket path; NULL means $MIGRD_SOCKET or MIG_DEFAULT_SOCKET.
 *
 * Returns: 0; -ENOENT or -ECONNREFUSED when migrd is not running;
 * -EACCES when the caller may not use the socket; -EUSERS when migrd
 * has max_clients connections, or the caller's uid max_clients_per_uid
 * (root and the admin group are exempt); -EPROTO when the daemon speaks
 * no common protocol version; -EISCONN when @ctx is connected already;
 * -ENAMETOOLONG for a path too long for a socket address.
 */
int mig_connect(struct mig_ctx *ctx, const char *path);

/** mig_get_fd() - the connection's socket (to poll for events), or -1. */
int mig_get_fd(const struct mig_ctx *ctx);

/**
 * mig_set_timeout() - how long a request waits for migrd's answer, and a
 * handoff side for the other side's word on the direct channel (default
 * 10 s, or $MIG_TIMEOUT_MS). A request that times out fails with
 * -ETIMEDOUT and closes the connection. mig_wait(), and
 * mig_take_state() and mig_take_memory() through migrd, wait up to 10
 * minutes for the session to move; the state on the direct channel is
 * the other side's word (this timeout). Since LIBMIG_0.2.
 * Returns: 0; -EINVAL unless @timeout_ms > 0.
 */
int mig_set_timeout(struct mig_ctx *ctx, int timeout_ms);

/**
 * mig_last_error() - the daemon's sentence for the last failed request,
 * or "" when the failure was local. Valid until the next call.
 */
const char *mig_last_error(const struct mig_ctx *ctx);

/* ---- what migrd knows ------------------------------------------------- */

enum mig_state {
	MIG_STATE_NONE		= 0,	/* no session: the VM is idle */
	MIG_STATE_OFFERED	= 1,	/* source offered, unclaimed */
	MIG_STATE_CLAIMED	= 2,	/* destination has the fds */
	MIG_STATE_READY		= 3,	/* destination built, may switch */
	MIG_STATE_SWITCHING	= 4,	/* source paused, state sent */
	MIG_STATE_COMMITTED	= 5,	/* destination owns the guest */
	MIG_STATE_ABORTED	= 6,	/* cancelled, source keeps it */
};

/** mig_state_name() - "offered", "claimed", ...; "unknown" otherwise. */
const char *mig_state_name(enum mig_state state);

enum mig_region_kind {
	MIG_REGION_GMEM		= 1,	/* KVM guest_memfd */
	MIG_REGION_MEMFD	= 2,	/* memfd_create() RAM */
};

/** mig_region_kind_name() - "gmem", "memfd"; "unknown" otherwise. */
const char *mig_region_kind_name(enum mig_region_kind kind);

/* One guest memory region and the fd behind it. */
struct mig_region {
	char name[MIG_NAME_MAX];	/* VMM's label */
	uint64_t gpa;			/* guest-physical address */
	uint64_t size;			/* bytes, page multiple */
	uint64_t offset;		/* where the range starts in fd */
	uint32_t flags;			/* VMM-defined, passed through */
	enum mig_region_kind kind;
	int fd;				/* -1 in query results */
};

/*
 * What a device fd is (since LIBMIG_0.4). migrd checks each fd against
 * its declared kind, hands device fds to a successor only (never to a
 * rebind: they reach the old VM's devices) and closes its copies when
 * the session ends either way.
 */
enum mig_device_kind {
	MIG_DEVICE_EVENTFD	= 1,	/* eventfd(2): irqfd, ioeventfd */
	MIG_DEVICE_TAP		= 2,	/* /dev/net/tun attached to a tap */
	MIG_DEVICE_VHOST	= 3,	/* /dev/vhost-* */
	MIG_DEVICE_VFIO		= 4,	/* under /dev/vfio, or /dev/iommu */
	MIG_DEVICE_PIPE		= 5,	/* pipe or FIFO: a console's output */
	MIG_DEVICE_TTY		= 6,	/* a terminal: pty master or slave */
	MIG_DEVICE_SOCKET	= 7,	/* any socket */
	MIG_DEVICE_OTHER	= 8,	/* anything but memory or a KVM fd */
};

/** mig_device_kind_name() - "eventfd", "tap", ...; "unknown" otherwise. */
const char *mig_device_kind_name(enum mig_device_kind kind);

/**
 * mig_device_kind_of() - what kind of device fd @fd really is, asked of
 * the kernel: MIG_DEVICE_OTHER for none of the specific kinds.
 * Returns: 0; -EBADF; -EINVAL for memory (gmem, memfd) and KVM fds,
 * which travel as regions and as the VM fd, never as devices.
 */
int mig_device_kind_of(int fd, enum mig_device_kind *kind);

struct mig_device {
	char name[MIG_NAME_MAX];	/* VMM's label, unique per offer */
	enum mig_device_kind kind;
	int fd;				/* -1 in query results */
};

/*
 * A guest state format (since LIBMIG_0.4). The source names the one its
 * state is in (@version; @min_version unused); a destination names each
 * it can load, from @min_version to @version.
 */
struct mig_state_format {
	char name[MIG_NAME_MAX];
	uint32_t version;
	uint32_t min_version;
};

/* What a claim token lets its bearer do with a VM's memory. */
enum mig_grant {
	MIG_GRANT_NONE		= 0,
	MIG_GRANT_SUCCESSOR	= 1,	/* upgrade: same identity, as is */
	MIG_GRANT_REBIND	= 2,	/* another identity: zeroed first */
};

struct mig_vm_info {
	char id[MIG_ID_LEN];		/* identity, never reused */
	char name[MIG_NAME_MAX];
	char uuid[MIG_UUID_LEN];
	pid_t owner_pid;
	uid_t owner_uid;
	uint64_t session;		/* open session, 0 when idle */
	unsigned int upgrades;		/* committed handoffs */
	uint64_t registered_ms;		/* CLOCK_REALTIME */
};

/*
 * Grew in LIBMIG_0.4 (devices, format). The calls that fill it or hand
 * out arrays of it, mig_list(), mig_show(), mig_list_free() and
 * mig_next_event(), are LIBMIG_0.6 symbols; their LIBMIG_0.1 versions
 * keep the 0.1-0.3 layout for programs built then (libmig(3), ABI).
 */
struct mig_session_info {
	uint64_t id;
	char vm_id[MIG_ID_LEN];
	char vm_name[MIG_NAME_MAX];
	enum mig_state state;
	pid_t source_pid;
	pid_t dest_pid;			/* 0 until claimed */
	uint64_t mem_bytes;
	uint64_t created_ms;		/* CLOCK_REALTIME */
	uint64_t updated_ms;
	int error;			/* positive errno of an abort */
	char reason[MIG_REASON_MAX];
	enum mig_grant grant;		/* how it was claimed */
	bool zeroed;			/* memory zeroed for a rebind */
	unsigned int nregions;
	struct mig_region *regions;	/* owned; fds are -1 */
	/* Since LIBMIG_0.4: */
	unsigned int ndevices;
	struct mig_device *devices;	/* owned; fds are -1 */
	struct mig_state_format format;	/* name "" if the source said none */
};

struct mig_status {
	char version[32];
	pid_t pid;
	uint64_t uptime_ms;
	unsigned int clients;
	unsigned int vms;
	unsigned int sessions;		/* open ones */
	uint64_t committed;
	uint64_t aborted;
	char rebind_policy[16];
	unsigned int open_fds;		/* fds held for sessions */
	uint64_t refused;		/* claims refused */
	uint64_t rebinds;		/* rebinds committed */
};

struct mig_list {
	unsigned int nvms;
	struct mig_vm_info *vms;
	unsigned int nsessions;
	struct mig_session_info *sessions;
};

/**
 * mig_status() - the daemon's counters and settings.
 * Returns: 0, or an error every request may return (top of this file).
 */
int mig_status(struct mig_ctx *ctx, struct mig_status *st);

/**
 * mig_list() - all VMs and sessions; free with mig_list_free().
 * Returns: 0, or an error every request may return (top of this file).
 */
int mig_list(struct mig_ctx *ctx, struct mig_list **list);

/**
 * mig_show() - one VM (by identity, name or UUID) or one session (by
 * its decimal number) as a list of one; free with mig_list_free().
 * Returns: 0; -ENOENT when no such VM is registered or no session, open
 * or ended, has that number; -EINVAL for a NULL or empty @what.
 */
int mig_show(struct mig_ctx *ctx, const char *what, struct mig_list **list);

/** mig_list_free() - NULL-safe. */
void mig_list_free(struct mig_list *list);

/* ---- management: which VM is which (root or the admin group) ---------- */

/**
 * mig_register() - tell migrd that process @owner runs VM @name.
 * @uuid: may be NULL.
 * @owner: the VMM's pid, used when @owner_pidfd < 0.
 * @owner_pidfd: a pidfd of the VMM (race-free), or -1.
 * @out: may be NULL; receives the new identity.
 *
 * The registration dies with the process (exit or exec).
 * Returns: 0; -EPERM unless root or in the admin group; -EEXIST when a
 * VM has this name or UUID already; -EINVAL for a name that is not 1 to
 * 63 letters, digits or ._-:@+, a malformed UUID, or no owner at all;
 * -ENOSPC when migrd holds max_vms registrations; -ESRCH when the owner
 * process is gone; -EBADF when @owner_pidfd is not a pidfd.
 */
int mig_register(struct mig_ctx *ctx, const char *name, const char *uuid,
		 pid_t owner, int owner_pidfd, struct mig_vm_info *out);

/**
 * mig_unregister() - forget a VM; aborts its open session.
 * Returns: 0; -EPERM unless root or in the admin group; -ENOENT when no
 * such VM is registered; -EINVAL for a NULL @vm.
 */
int mig_unregister(struct mig_ctx *ctx, const char *vm);

#define MIG_TOKEN_LEN	32
#define MIG_TOKEN_HEX	(2 * MIG_TOKEN_LEN + 1)

/* A one-time claim token, bound to one VM identity. */
struct mig_token {
	uint8_t bytes[MIG_TOKEN_LEN];
	enum mig_grant kind;
	char vm_id[MIG_ID_LEN];		/* identity it is bound to */
	uint64_t expires_ms;		/* CLOCK_REALTIME */
};

/**
 * mig_grant_successor() - management: authorise an upgrade of @vm.
 *
 * The new VMM claims @vm's next session with the token, inherits its
 * identity and gets its memory as is. One use; a new grant replaces the
 * previous one; it expires after grant_timeout. Hand it to the new VMM
 * privately (environment or a pipe, not its command line).
 * Returns: 0; -EPERM unless root or in the admin group; -ENOENT when no
 * such VM is registered; -ESRCH when its owner process is gone.
 */
int mig_grant_successor(struct mig_ctx *ctx, const char *vm,
			struct mig_token *out);

/**
 * mig_grant_rebind() - management: authorise moving @vm's memory to a
 * new VM identity, registered as @new_name (and @new_uuid, may be NULL)
 * once the claimant commits.
 * @uid: who may claim; (uid_t)-1 for @vm's owner's uid.
 *
 * The memory reaches the claimant zeroed, verified, without the source's
 * VM fd or state; @vm's identity ends with the commit.
 * Returns: 0; -EACCES under rebind_policy = refuse; -EEXIST when
 * @new_name or @new_uuid is taken; -EINVAL when either is malformed;
 * -EPERM unless root or in the admin group; -ENOENT when no such VM is
 * registered; -ESRCH when its owner process is gone.
 */
int mig_grant_rebind(struct mig_ctx *ctx, const char *vm,
		     const char *new_name, const char *new_uuid, uid_t uid,
		     struct mig_token *out);

/** mig_token_format() - 64 lowercase hex digits and a NUL into @hex. */
void mig_token_format(const uint8_t bytes[MIG_TOKEN_LEN],
		      char hex[MIG_TOKEN_HEX]);

/** mig_token_parse() - the reverse; -EINVAL unless exactly 64 hex digits. */
int mig_token_parse(const char *hex, uint8_t bytes[MIG_TOKEN_LEN]);

/**
 * mig_token_pipe() - for a launcher: the read end of a pipe that holds
 * the token (close-on-exec; the child clears that and names the fd in
 * MIG_TOKEN_FD). Nothing of the token is left in either process's
 * environment or command line.
 * Returns: the fd; -EMFILE or -ENFILE when pipe2(2) has no fd for it.
 */
int mig_token_pipe(const uint8_t bytes[MIG_TOKEN_LEN]);

/**
 * mig_token_take() - for the new VMM: its claim token, from the fd named
 * by MIG_TOKEN_FD (read, then closed) or else from MIG_TOKEN (whose value
 * is then overwritten where it lives, so /proc/PID/environ no longer
 * shows it); both variables are removed. Call it once, early.
 * Returns: 0; -ENOENT if neither is set; -EINVAL if the token or the
 * number in MIG_TOKEN_FD is malformed; -EBADF (or another read(2) error)
 * when MIG_TOKEN_FD names no fd that can be read. The variables are
 * removed on failure too.
 */
int mig_token_take(uint8_t bytes[MIG_TOKEN_LEN]);

/* ---- the handoff ------------------------------------------------------- */

/**
 * mig_offer() - source: open a session that offers @vm's memory.
 * @regions: fds are sent by SCM_RIGHTS and stay open in the caller, who
 *	keeps running the guest until the session commits.
 * @vm_fd: the source VM fd, or -1.
 * @session: receives the session number.
 *
 * Only the VM's registered owner process may offer it.
 * Returns: 0; -ENOENT when no such VM is registered; -EPERM unless the
 * caller is its owner process; -EBUSY when it has a session open
 * already; -EMFILE when this connection has max_sessions_per_client
 * sessions open; -EBADF when an fd is not what its region says (not
 * open, another kind, not open read-write, a memfd sealed against
 * writing) or @vm_fd is not a KVM VM fd; -EINVAL for no region or more
 * than MIG_REGIONS_MAX, or a region that has no valid kind, is empty,
 * not page-aligned, overlaps another, reaches past the end of its fd or
 * has a name that is not printable UTF-8.
 */
int mig_offer(struct mig_ctx *ctx, const char *vm,
	      const struct mig_region *regions, unsigned int nregions,
	      int vm_fd, uint64_t *session);

/* What a destination receives. */
struct mig_handoff {
	unsigned int nregions;
	struct mig_region *regions;	/* fds are the caller's now */
	int vm_fd;			/* source VM fd or -1 */
	enum mig_grant grant;		/* what the claim was */
	bool deferred;			/* rebind: fds are -1 here and come
					 * with mig_take_memory() */
	bool zeroed;			/* memory was zeroed by migrd */
	/* Since LIBMIG_0.4: */
	unsigned int ndevices;
	struct mig_device *devices;	/* fds are the caller's now; none
					 * on a rebind */
	struct mig_state_format format;	/* the source's; name "" if none */
};

/* Everything an offer can carry; since LIBMIG_0.4. */
struct mig_offer_args {
	const struct mig_region *regions;
	unsigned int nregions;
	int vm_fd;				/* -1: none */
	const struct mig_device *devices;	/* may be NULL */
	unsigned int ndevices;
	const struct mig_state_format *format;	/* NULL: not checked */
};

/**
 * mig_offer_ex() - mig_offer() with device fds and the state's format.
 * @size: sizeof(struct mig_offer_args) as the caller was built with, so
 *	that later versions can grow the struct.
 *
 * Device fds stay open in the caller too; a successor gets them with its
 * claim, a rebind never does. A claimant that cannot load @format is
 * refused and the session aborted before the source is asked to pause.
 * Returns: as mig_offer(); -EBADF when a device fd is not its kind, or
 * is guest memory or a KVM fd; -EINVAL for more than MIG_DEVICES_MAX
 * devices, a device with no name, no valid kind or another's name, a
 * @format with no name, or @size smaller than the struct; -E2BIG when
 * @size is larger and the bytes past the struct are not zero.
 */
int mig_offer_ex(struct mig_ctx *ctx, const char *vm,
		 const struct mig_offer_args *args, size_t size,
		 uint64_t *session);

/**
 * mig_wait_offer() - destination: the number of @vm's open session, or
 * wait up to @timeout_ms (-1: forever) for its owner to offer one. A
 * destination started first (pre-launch) sets up what it can, then
 * waits here, so that neither its exec nor its setup is in the handoff.
 * It watches migrd's events on a second connection of its own.
 * Since LIBMIG_0.4.
 * Returns: 0; -ENOENT when no VM @vm is registered; -ETIMEDOUT;
 * -ECONNRESET when migrd went away; -EINVAL when @ctx is not connected
 * (not -ENOTCONN); the errors of mig_connect() for the second
 * connection (-EUSERS at migrd's connection limits, say).
 */
int mig_wait_offer(struct mig_ctx *ctx, const char *vm, int timeout_ms,
		   uint64_t *session);

/**
 * mig_claim() - destination: take a session's memory.
 * @token: the MIG_TOKEN_LEN bytes from mig_grant_successor() or
 *	mig_grant_rebind(); a claim without one is refused.
 *
 * With a successor token the handoff carries the fds and the source VM
 * fd, contents as they are. With a rebind token it carries the layout
 * only (@deferred): the source pauses after mig_ready(), migrd zeroes
 * the memory, and mig_take_memory() returns the fds.
 *
 * Returns: 0; -EPERM for a missing, forged, used, expired or foreign
 * token or a claimant of the wrong uid; -EACCES for a rebind under
 * rebind_policy = refuse, or of an adopted VM; -EBUSY when someone else
 * claimed it; -ENOENT when there is no such session; -ESTALE when it
 * has ended; -EINVAL when this connection offered it; -EMFILE when this
 * connection has max_sessions_per_client sessions open; -EBADF when the
 * source shrank its memory or sealed it against writing after the offer
 * (the session is aborted then).
 */
int mig_claim(struct mig_ctx *ctx, uint64_t session, const void *token,
	      size_t token_len, struct mig_handoff **handoff);

/**
 * mig_claim_ex() - mig_claim() saying which state formats this VMM
 * loads (@loads, @nloads; none: migrd cannot check). Since LIBMIG_0.4.
 * Returns: as mig_claim(); -EPROTONOSUPPORT when the source's state is
 * in none of them: the session is then aborted and the source's guest
 * runs on, never paused; -EINVAL for more than MIG_FORMATS_MAX formats
 * or one with no name.
 */
int mig_claim_ex(struct mig_ctx *ctx, uint64_t session, const void *token,
		 size_t token_len, const struct mig_state_format *loads,
		 unsigned int nloads, struct mig_handoff **handoff);

/** mig_handoff_free() - closes every fd still >= 0 in it. NULL-safe. */
void mig_handoff_free(struct mig_handoff *handoff);

/**
 * mig_take_memory() - rebind destination: wait for the source to pause,
 * then receive the zeroed memory. No state of the source comes with it.
 * Returns: 0; -ECANCELED if the session was aborted, also when another
 * process still held or mapped the memory, the source did not exit in
 * time, or migrd could not verify the zeroing (mig_last_error() says
 * which); -ENODATA when the memory was taken already; -EPERM for anyone
 * but the claimant; -ENOENT when there is no such session.
 */
int mig_take_memory(struct mig_ctx *ctx, uint64_t session,
		    struct mig_handoff **handoff);

/**
 * mig_ready() - destination: VM built, the source may pause now.
 * Returns: 0; -EPERM for anyone but the claimant; -EPROTO unless the
 * session is claimed and not ready yet; -ESTALE when it has ended
 * (aborted, say); -ENOENT when there is no such session.
 */
int mig_ready(struct mig_ctx *ctx, uint64_t session);

/**
 * mig_wait() - block until @session reaches @state or ends.
 * @reached: may be NULL; receives the state seen.
 *
 * The source of an upgrade that sent its state and waits for
 * MIG_STATE_COMMITTED waits on the direct channel instead: 0 means the
 * destination runs the guest now (exit, never resume); -ECANCELED means
 * resume it.
 *
 * Returns: 0 once at or past @state; -ECANCELED when the session was
 * aborted first (then @reached is MIG_STATE_ABORTED); -EOWNERDEAD for
 * the source of a rebind once it sent its state: exit, never resume;
 * -EPERM for a connection that takes no part in the session (admins
 * may wait); -EINVAL for a @state other than OFFERED to COMMITTED;
 * -ENOENT when there is no such session.
 */
int mig_wait(struct mig_ctx *ctx, uint64_t session, enum mig_state state,
	     enum mig_state *reached);

/**
 * mig_send_state() - source: the guest is paused, here is its state.
 * At most MIG_STATE_MAX bytes. The source then waits for COMMITTED.
 * Returns: 0; -EMSGSIZE for more than MIG_STATE_MAX bytes; -ECONNRESET
 * when the destination hung up on the direct channel (the guest is still
 * the source's); -EPROTO before the destination is ready; -EPERM for
 * anyone but the source; -ESTALE when the session has ended; -ESRCH when
 * migrd cannot watch a rebind's source exit (the session is aborted).
 */
#define MIG_STATE_MAX	(96 * 1024)
int mig_send_state(struct mig_ctx *ctx, uint64_t session, const void *data,
		   size_t len);

/**
 * mig_take_state() - destination: wait for the source's state.
 * @data: receives a malloc()ed copy the caller frees.
 *
 * Returns: 0; -ECANCELED when the source called it off or the session
 * was aborted; -ECONNRESET when the source hung up before sending its
 * state (the session is aborted then); -ETIMEDOUT when no state came
 * within 10 minutes; -ENODATA when the state was taken already; -EPERM
 * for anyone but the claimant; -ENOENT when there is no such session.
 */
int mig_take_state(struct mig_ctx *ctx, uint64_t session, void **data,
		   size_t *len);

/**
 * mig_commit() - destination: take ownership of the guest. Run the guest
 * only after this returns 0; on failure the source resumes it.
 *
 * For an upgrade (successor claim) the state and this commit travel over
 * a direct channel between the two VMMs that migrd set up at claim: the
 * source answers GO and never resumes, or it resumes and this fails
 * (-ECANCELED, or -ECONNRESET). 0 also when the source died after handing
 * over its state, since it cannot resume then. None of it needs migrd to
 * be alive; migrd is told the outcome. migrd(8), FAILURES, has the table.
 *
 * Returns: 0; -ECANCELED when the source called it off and resumes;
 * -ECONNRESET when no GO came (the source hung up, or did not answer in
 * time). Without a direct channel (a rebind): -EPROTO before the zeroed
 * memory was taken; -EEXIST when the new VM's name or UUID was
 * registered since the grant; -EPERM for anyone but the claimant;
 * -ESTALE when the session has ended; -ENOENT. On an adopted VM's
 * session -EINVAL (or -EPROTO before mig_state_moved()): use
 * mig_commit_successor().
 */
int mig_commit(struct mig_ctx *ctx, uint64_t session);

/* ---- VMMs that do not speak libmig (since LIBMIG_0.5) ------------------- */

/**
 * mig_adopt() - management (root or admin_group): migrd takes @vm's
 * memory and device fds from its registered owner with pidfd_getfd(2)
 * and opens a session as if the owner had offered them.
 * @args: as for mig_offer_ex(), except that each region's and device's
 *	fd is the fd's *number in the owner process*, and vm_fd must be -1.
 *
 * Each fd is checked as an offered one. The claimant (with a successor
 * token; an adopted VM cannot be rebound) also receives two SOCKET
 * devices, "migration.source" and "migration.destination": the ends of
 * a stream socketpair for the VMMs' own migration of their state.
 * Returns: 0 and *@session; -EPERM for a caller who is neither root nor
 * in admin_group; -ENOENT for an unknown VM; -ESRCH when its owner is
 * gone; -EBUSY when it has a session open; -EBADF when an fd number is
 * not open in the owner or not what it is declared to be; -EINVAL for a
 * malformed region or device, no region, a vm_fd other than -1, or more
 * than MIG_DEVICES_MAX - 2 devices (two slots are the channel's); -E2BIG
 * as for mig_offer_ex(); -EPERM (from the kernel) when migrd may not
 * take fds from the owner.
 */
int mig_adopt(struct mig_ctx *ctx, const char *vm,
	      const struct mig_offer_args *args, size_t size,
	      uint64_t *session);

/**
 * mig_state_moved() - claimant of an adopted VM: the old VMM finished
 * its own migration into the new one (paused for good unless resumed
 * by hand). From here a death of the old VMM no longer ends the session.
 * Returns: 0; -EPROTO when the session is not ready (before mig_ready(),
 * or called twice); -EPERM for anyone but the claimant; -ESTALE when the
 * session has ended (the old VMM died first, say); -ENOENT.
 */
int mig_state_moved(struct mig_ctx *ctx, uint64_t session);

/**
 * mig_commit_successor() - claimant of an adopted VM: the new VMM,
 * named by @pidfd (a child of the caller), runs the guest from now on
 * and becomes the VM's owner; migrd will kill the old one after
 * exit_grace unless it exits first. Only after mig_state_moved().
 * Returns: 0; -EPROTO before mig_state_moved(); -EPERM when @pidfd is
 * not the caller's child or is the old VMM, or the caller is not the
 * claimant; -ESRCH when that process has exited; -EINVAL for a @pidfd
 * that is negative or not a pidfd; -EBADF when it is not open; -ESTALE
 * when the session has ended; -ENOENT.
 */
int mig_commit_successor(struct mig_ctx *ctx, uint64_t session, int pidfd);

/**
 * mig_abort() - cancel before commit; the source keeps the guest.
 * Returns: 0; -ESTALE when the session has ended already (committed or
 * aborted); -EPERM for a connection that takes no part in it (admins
 * may, until the two sides decide on their direct channel); -ENOENT.
 */
int mig_abort(struct mig_ctx *ctx, uint64_t session, const char *reason);

/* ---- events ------------------------------------------------------------ */

/* Embeds struct mig_session_info: see there for its versions. */
struct mig_event {
	uint64_t time_ms;		/* CLOCK_REALTIME */
	char what[32];			/* "registered", "unregistered", "state" */
	int has_vm;
	struct mig_vm_info vm;
	int has_session;
	struct mig_session_info session;	/* regions NULL */
};

/**
 * mig_subscribe() - turn this connection into an event stream; no other
 * request may follow on it (each fails with -EINVAL).
 * Returns: 0; -EINVAL when it is one already.
 */
int mig_subscribe(struct mig_ctx *ctx);

/**
 * mig_next_event() - wait up to @timeout_ms (-1: forever) for an event.
 * Returns: 0; -ETIMEDOUT; -ECONNRESET when migrd went away; -EOVERFLOW
 * once after events were lost (mig_last_error() says how many; the
 * stream goes on); -EINVAL before mig_subscribe().
 */
int mig_next_event(struct mig_ctx *ctx, struct mig_event *ev,
		   int timeout_ms);

/* ---- KVM and guest_memfd helpers (no daemon needed) --------------------- */

struct mig_kvm_caps {
	int guest_memfd;		/* KVM_CAP_GUEST_MEMFD */
	uint64_t gmem_flags;		/* KVM_CAP_GUEST_MEMFD_FLAGS mask */
	int user_memory2;		/* KVM_SET_USER_MEMORY_REGION2 */
	unsigned long link_ioctl;	/* KVM_LINK_GUEST_MEMFD nr, 0: absent */
};

/* guest_memfd flags (KVM_CREATE_GUEST_MEMFD) */
#define MIG_GMEM_MMAP		(1ULL << 0)
#define MIG_GMEM_INIT_SHARED	(1ULL << 1)

/**
 * mig_kvm_probe() - what the kernel offers, asked of a VM fd.
 * Returns: 0; -EBADF; -ENOTTY when @vm_fd is not a KVM fd.
 */
int mig_kvm_probe(int vm_fd, struct mig_kvm_caps *caps);

/*
 * A VM whose private memory only its guest reads (KVM_X86_SW_PROTECTED_VM,
 * Linux 6.8+ with CONFIG_KVM_SW_PROTECTED_VM): the type for KVM_CREATE_VM.
 */
#define MIG_VM_TYPE_SW_PROTECTED	1

/**
 * mig_memory_private() - mark guest range @gpa..+@size of @vm_fd private
 * (KVM_SET_MEMORY_ATTRIBUTES): the guest's accesses there go to the
 * slot's guest_memfd. Needs LIBMIG_0.3.
 * Returns: 0; -EINVAL for an empty or unaligned range, or a VM without
 * private memory (not MIG_VM_TYPE_SW_PROTECTED, say); -ENOTTY when the
 * kernel has no memory attributes.
 */
int mig_memory_private(int vm_fd, uint64_t gpa, uint64_t size);

/**
 * mig_gmem_create() - a new guest_memfd of @vm_fd.
 * Returns: the fd; -EINVAL for a size that is 0 or not page-aligned, or
 * flags the kernel does not know (see mig_kvm_probe()); -ENOTTY when the
 * kernel has no guest_memfd.
 */
int mig_gmem_create(int vm_fd, uint64_t size, uint64_t flags);

/**
 * mig_gmem_link() - a new gmem fd of @vm_fd on @gmem_fd's inode, with no
 * proof of identity: on a kernel with the rebind rule the memory arrives
 * zeroed (and every other holder is revoked).
 * Returns: the fd; -ENOTTY when the kernel has no link ioctl; -EINVAL
 * for a non-gmem fd or a gmem of @vm_fd itself; -EBADF when @gmem_fd is
 * not open; -EIO for a gmem revoked by an earlier link.
 */
int mig_gmem_link(int vm_fd, int gmem_fd);

/**
 * mig_gmem_link_vm() - the same, presenting @source_vm_fd (the gmem's own
 * VM, which migrd hands only to a successor) as proof that this is the
 * same virtual machine: the contents are kept. -1: no proof, as
 * mig_gmem_link(). On a kernel with the plain RFC link (no rule, no
 * KVM_CAP_LINK_GUEST_MEMFD) contents are kept either way.
 * Returns: the fd; -EPERM when the proof is not the gmem's VM; -EBADF;
 * -EINVAL for a @source_vm_fd that is not a VM; else as mig_gmem_link().
 * Needs LIBMIG_0.3.
 */
int mig_gmem_link_vm(int vm_fd, int gmem_fd, int source_vm_fd);

/**
 * mig_gmem_link_flags() - KVM_LINK_GUEST_MEMFD_* flags the kernel knows
 * (KVM_CAP_LINK_GUEST_MEMFD, our patch); 0 where it has no rule.
 */
uint64_t mig_gmem_link_flags(int vm_fd);

/**
 * mig_memslot_set() - bind guest range @gpa..+@size of @vm_fd to @hva,
 * and to @gmem_fd at @gmem_offset when @gmem_fd >= 0.
 * @size 0 deletes the slot.
 * Returns: 0; -EINVAL for a range or @hva that is not page-aligned, or a
 * @gmem_fd that is not a gmem of @vm_fd or whose range is bound already;
 * -EEXIST when the range overlaps another slot; -EBADF; -ENOTTY when the
 * kernel has no KVM_SET_USER_MEMORY_REGION2 (before Linux 6.8).
 */
int mig_memslot_set(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva, int gmem_fd, uint64_t gmem_offset);

/**
 * mig_gmem_zero() - free every page of a gmem or memfd, then check it.
 *
 * Punches a hole over the whole file, then verifies that no page of it
 * is left: mincore() over a fresh read-only mapping (gmem with
 * GUEST_MEMFD_FLAG_MMAP, memfd) and st_blocks == 0 (memfd). A gmem that
 * cannot be mapped cannot be read from the host either; the punch is all
 * there is to check then. Anyone still writing through another mapping
 * while this runs makes the check fail.
 *
 * Returns: 0; -EIO when pages remain after the punch; -EINVAL for an fd
 * that is not a regular file; -EBADF; -EPERM for a memfd sealed against
 * writing; -EOPNOTSUPP when its file system cannot punch holes.
 */
int mig_gmem_zero(int fd);

enum mig_fd_kind {
	MIG_FD_OTHER	= 0,
	MIG_FD_GMEM	= 1,
	MIG_FD_MEMFD	= 2,
	MIG_FD_KVM_VM	= 3,
};

struct mig_fd_info {
	enum mig_fd_kind kind;
	uint64_t size;			/* st_size */
	uint64_t ino;			/* st_ino: same inode, same memory */
	int writable;			/* opened read-write */
};

/**
 * mig_fd_classify() - what an fd of this process really is.
 * Returns: 0; -EBADF when @fd is not open.
 */
int mig_fd_classify(int fd, struct mig_fd_info *info);

/** mig_fd_kind_name() - "gmem", "memfd", "kvm-vm", "other". */
const char *mig_fd_kind_name(enum mig_fd_kind kind);

#ifdef __cplusplus
}
#endif

#endif /* LIBMIG_H */
