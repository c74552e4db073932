/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test harness: a real migrd on a private socket, real KVM VMs and
 * guest_memfds. Tests that need /dev/kvm or root skip with a reason.
 */
#ifndef MIG_TEST_HARNESS_H
#define MIG_TEST_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include "libmig.h"

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[160];		/* its stderr, if daemon_start_logged() */
};

/* Start migrd with extra config lines (may be NULL); waits until ready. */
int daemon_start(struct daemon *d, const char *config);
/* The same, its log in d->log rather than in the test's output. */
int daemon_start_logged(struct daemon *d, const char *config);
void daemon_stop(struct daemon *d);
/* What one client connection and one registered VM cost migrd in fds. */
#define PER_CLIENT 2	/* the socket and the peer's pidfd */
#define PER_VM 1	/* the owner's pidfd */
/* migrd's open fds with no client connected. */
int daemon_baseline(const struct daemon *d);
/* Open fds of a process, from /proc/PID/fd. */
int count_fds(pid_t pid);
/*
 * count_fds() once it equals want, or after 2 s whatever it is: hangups
 * of other processes reach migrd in no fixed order with our requests.
 */
int settled_fds(pid_t pid, int want);

/* Why KVM tests cannot run here, or NULL if they can. */
const char *kvm_unavailable(void);

/*
 * In a Criterion fixture: skip, saying why, unless KVM (and root) are
 * here. The reason also goes to the test's log, where `./dev test` looks
 * for it: on a machine with /dev/kvm and root such a skip fails the run.
 */
#define REQUIRE_KVM()							\
	do {								\
		const char *why_ = kvm_unavailable();			\
									\
		if (why_) {						\
			fprintf(stderr, "SKIP: needs KVM: %s\n", why_);	\
			cr_skip_test("needs KVM: %s", why_);		\
		}							\
	} while (0)
#define REQUIRE_ROOT_KVM()						\
	do {								\
		if (geteuid() != 0) {					\
			fprintf(stderr, "SKIP: needs root\n");		\
			cr_skip_test("needs root: registering VMs is a management operation"); \
		}							\
		REQUIRE_KVM();						\
	} while (0)
/* A fresh VM fd of this process. */
int make_vm(void);
/* A gmem of vm, mappable and shared (MMAP|INIT_SHARED), size bytes. */
int make_gmem(int vm, uint64_t size);
void *map_fd(int fd, uint64_t size);
/* Fill with / check a pattern derived from seed. */
void fill_pattern(void *p, uint64_t size, uint64_t seed);
bool check_pattern(const void *p, uint64_t size, uint64_t seed);

/* A connected context, registered as owner of VM name when name != NULL. */
struct mig_ctx *connect_as_owner(const struct daemon *d, const char *name);

/*
 * Claim session sid of VM vm on ctx the way a legitimate successor does:
 * with a token management (a root connection of its own) granted.
 */
int claim_successor(const struct daemon *d, struct mig_ctx *ctx,
		    const char *vm, uint64_t sid, struct mig_handoff **h);

/* The same, saying which state formats the claimant loads. */
int claim_successor_loads(const struct daemon *d, struct mig_ctx *ctx,
			  const char *vm, uint64_t sid,
			  const struct mig_state_format *loads,
			  unsigned int nloads, struct mig_handoff **h);

/* One gmem region at gpa 0 for fd. */
struct mig_region gmem_region(int fd, uint64_t size);

#endif
