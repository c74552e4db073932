// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The malicious-rebind suite: a real migrd, real KVM VMs and gmem, and
 * test code playing a hostile VMM that speaks the wire protocol itself.
 * Every attack is shown failing and, on the same setup, the legitimate
 * party shown succeeding, so a test cannot pass by refusing everything.
 *
 * The victim's memory holds a secret pattern. "No fd received" is checked
 * on the raw datagram, not through libmig, which would close strays.
 * What a guest sees after a rebind is checked in tests/rebind.sh with the
 * reference VMM; here the host mapping of the handed-over fd is read.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mig-private.h"

#define SZ (4ULL << 20)
#define SECRET 0x5ec12e7ULL
#define NOBODY 65534

static struct daemon d;

/* The victim: a registered VM whose memory holds the secret, offered. */
struct victim {
	struct mig_ctx *ctx;
	int vm, gmem;
	uint8_t *mem;
	uint64_t sid;
	ino_t ino;
};

static void start(void)
{
	REQUIRE_ROOT_KVM();
	/* World-connectable, so other users can try their luck. */
	cr_assert_eq(daemon_start(&d, "socket_mode = 0666\ngrant_timeout = 1s\n"), 0);
}

static void stop(void)
{
	daemon_stop(&d);
}

TestSuite(malicious, .init = start, .fini = stop, .timeout = 60);

/* The victim's RAM on gmem, or with memfd on a memfd (a legacy VMM). */
static void victim_offer_kind(struct victim *v, const char *name,
			      bool memfd)
{
	struct mig_region r;
	struct stat st;

	v->ctx = connect_as_owner(&d, name);
	cr_assert_not_null(v->ctx);
	v->vm = make_vm();
	if (memfd) {
		v->gmem = memfd_create("ram", MFD_CLOEXEC);
		cr_assert_eq(ftruncate(v->gmem, SZ), 0);
	} else {
		v->gmem = make_gmem(v->vm, SZ);
	}
	cr_assert_geq(v->gmem, 0);
	v->mem = map_fd(v->gmem, SZ);
	cr_assert_not_null(v->mem);
	fill_pattern(v->mem, SZ, SECRET);
	cr_assert_eq(fstat(v->gmem, &st), 0);
	v->ino = st.st_ino;
	r = gmem_region(v->gmem, SZ);
	if (memfd)
		r.kind = MIG_REGION_MEMFD;
	cr_assert_eq(mig_offer(v->ctx, name, &r, 1, v->vm, &v->sid), 0);
}

static void victim_offer(struct victim *v, const char *name)
{
	victim_offer_kind(v, name, false);
}

static void grant(const char *vm, bool rebind, const char *new_name,
		  uid_t uid, struct mig_token *t)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	int r = rebind ? mig_grant_rebind(m, vm, new_name, NULL, uid, t) :
		mig_grant_successor(m, vm, t);

	cr_assert_eq(r, 0, "grant: %s", mig_last_error(m));
	mig_unref(m);
}

/* A raw connection that has said HELLO: what a hostile VMM would use. */
static int raw_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Hello h = MIG__HELLO__INIT;
	uint8_t buf[MIG_MSG_MAX];
	int fds[MIG_FDS_MAX];
	unsigned int n;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d.sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	req.has_kind = h.has_version = true;
	req.kind = MIG__KIND__HELLO;
	req.hello = &h;
	h.version = MIG_PROTOCOL_VERSION;
	if (mig_send_request(fd, &req, NULL, 0) ||
	    mig_wire_recv(fd, buf, fds, &n, 0) <= 0)
		return -EPROTO;
	return fd;
}

/* What a raw CLAIM got back: its errno and how many fds came with it. */
struct outcome {
	int err;
	unsigned int nfds;
};

/*
 * Claim on a connection of its own. A winner that hung up would abort
 * the session at once, so with a report pipe the outcome is written
 * there and the connection stays open until hold reaches end of file.
 */
static struct outcome raw_claim(uint64_t sid, const void *token, size_t len,
				int report, int hold)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Claim c = MIG__CLAIM__INIT;
	struct outcome o = { .err = EPROTO };
	static uint8_t buf[MIG_MSG_MAX];
	int fds[MIG_FDS_MAX];
	Mig__Response *resp;
	ssize_t got;
	int fd = raw_connect();

	if (fd < 0)
		return o;
	req.has_kind = c.has_session = true;
	req.kind = MIG__KIND__CLAIM;
	req.claim = &c;
	c.session = sid;
	if (token) {
		c.has_token = true;
		c.token.data = (uint8_t *)token;
		c.token.len = len;
	}
	if (mig_send_request(fd, &req, NULL, 0) == 0) {
		got = mig_wire_recv(fd, buf, fds, &o.nfds, 0);
		if (got > 0 && mig_decode_response(buf, (size_t)got, fds,
						   o.nfds, &resp) == 0) {
			o.err = (int)resp->error;
			mig__response__free_unpacked(resp, NULL);
		}
		mig_close_fds(fds, o.nfds);
	}
	if (report >= 0 && write(report, &o, sizeof(o)) != sizeof(o))
		o.err = EIO;
	if (hold >= 0)
		while (read(hold, buf, 1) > 0)
			;
	close(fd);
	return o;
}

/* Run raw_claim() in a child of uid and bring its outcome back. */
static struct outcome claim_as(uid_t uid, uint64_t sid, const void *token,
			       size_t len)
{
	struct outcome o = { .err = -1 };
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		if (uid && (setgid(uid) || setuid(uid)))
			_exit(2);
		close(p[0]);
		raw_claim(sid, token, len, p[1], -1);
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &o, sizeof(o)), sizeof(o));
	close(p[0]);
	waitpid(pid, NULL, 0);
	return o;
}

static void expect_refused(struct outcome o, int err, const char *what)
{
	cr_expect_eq(o.err, err, "%s: errno %d, want %d", what, o.err, err);
	cr_expect_eq(o.nfds, 0, "%s: %u fds received", what, o.nfds);
}

/*
 * What a successor claim brings: the region's fd, the source VM fd, the
 * destination's end of the direct channel and the source's pidfd.
 */
#define SUCCESSOR_FDS 4

static void expect_granted(struct outcome o, unsigned int nfds,
			   const char *what)
{
	cr_expect_eq(o.err, 0, "%s: refused with errno %d", what, o.err);
	cr_expect_eq(o.nfds, nfds, "%s: %u fds, want %u", what, o.nfds, nfds);
}

/* 1. A process of another uid, even holding a valid token: refused. */
Test(malicious, other_uid_is_refused)
{
	struct victim v;
	struct mig_token t;

	victim_offer(&v, "victim");
	grant("victim", false, NULL, (uid_t)-1, &t);
	expect_refused(claim_as(NOBODY, v.sid, t.bytes, sizeof(t.bytes)),
		       EPERM, "uid nobody with the victim's token");
	/* The refusal spent nothing: the owner's uid claims with it. */
	expect_granted(claim_as(0, v.sid, t.bytes, sizeof(t.bytes)), SUCCESSOR_FDS,
		       "the owner's uid with the same token (gmem + VM fd)");
}

/* 2. Same uid: no token, forged, another VM's, replayed, expired. */
Test(malicious, bad_tokens_are_refused)
{
	struct victim v, other;
	struct mig_token t, t_other, t_late;
	uint8_t forged[MIG_TOKEN_LEN];

	victim_offer(&v, "victim");
	victim_offer(&other, "other");
	grant("victim", false, NULL, (uid_t)-1, &t);
	grant("other", false, NULL, (uid_t)-1, &t_other);
	memcpy(forged, t.bytes, sizeof(forged));
	forged[MIG_TOKEN_LEN - 1] ^= 1;

	expect_refused(claim_as(0, v.sid, NULL, 0), EPERM, "no token");
	expect_refused(claim_as(0, v.sid, forged, sizeof(forged)), EPERM,
		       "a token one bit off");
	expect_refused(claim_as(0, v.sid, t.bytes, 16), EPERM,
		       "half a token");
	expect_refused(claim_as(0, v.sid, t_other.bytes, MIG_TOKEN_LEN),
		       EPERM, "another VM's token");
	expect_granted(claim_as(0, v.sid, t.bytes, MIG_TOKEN_LEN), SUCCESSOR_FDS,
		       "the victim's own token");
	/* The token of "other" works for "other". */
	expect_granted(claim_as(0, other.sid, t_other.bytes, MIG_TOKEN_LEN), SUCCESSOR_FDS,
		       "other's own token");

	/* Replayed: the claimant hung up (its session aborted), the victim
	 * offers again, the old token is spent. */
	cr_assert_eq(mig_wait(v.ctx, v.sid, MIG_STATE_COMMITTED, NULL),
		     -ECANCELED);
	cr_assert_eq(mig_offer(v.ctx, "victim",
			       &(struct mig_region){ .name = "ram", .size = SZ,
						     .kind = MIG_REGION_GMEM,
						     .fd = v.gmem },
			       1, v.vm, &v.sid), 0);
	expect_refused(claim_as(0, v.sid, t.bytes, MIG_TOKEN_LEN), EPERM,
		       "a replayed token");
	/* Expired: grant_timeout is 1 s in this suite. */
	grant("victim", false, NULL, (uid_t)-1, &t_late);
	usleep(1100 * 1000);
	expect_refused(claim_as(0, v.sid, t_late.bytes, MIG_TOKEN_LEN), EPERM,
		       "an expired token");
	grant("victim", false, NULL, (uid_t)-1, &t);
	expect_granted(claim_as(0, v.sid, t.bytes, MIG_TOKEN_LEN), SUCCESSOR_FDS,
		       "a fresh token");
}

/* 3. Claimants race with the one valid token: exactly one wins. */
Test(malicious, racing_claimants_one_winner)
{
	enum { N = 6 };
	struct outcome o[N];
	struct victim v;
	struct mig_token t;
	int go[2], res[2], done[2], wins = 0, fds = 0;
	pid_t kids[N];

	victim_offer(&v, "victim");
	grant("victim", false, NULL, (uid_t)-1, &t);
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(res), 0);
	cr_assert_eq(pipe(done), 0);
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c;

			close(go[1]);
			close(done[1]);
			close(res[0]);
			if (read(go[0], &c, 1) < 0)
				_exit(1);
			raw_claim(v.sid, t.bytes, MIG_TOKEN_LEN, res[1],
				  done[0]);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);		/* all start at once */
	for (int i = 0; i < N; i++) {
		cr_assert_eq(read(res[0], &o[i], sizeof(o[i])), sizeof(o[i]));
		wins += o[i].err == 0;
		fds += (int)o[i].nfds;
		cr_expect(o[i].err == 0 || o[i].err == EPERM ||
			  o[i].err == EBUSY, "loser %d: errno %d", i, o[i].err);
	}
	close(done[1]);		/* now they may hang up */
	for (int i = 0; i < N; i++)
		waitpid(kids[i], NULL, 0);
	cr_expect_eq(wins, 1, "%d winners", wins);
	cr_expect_eq(fds, SUCCESSOR_FDS, "only the winner got fds (%d in all)",
		     fds);
}

/* 4. The kernel itself: another VM cannot bind the victim's gmem. */
Test(malicious, kernel_refuses_foreign_gmem_binding)
{
	int vm_a = make_vm(), vm_b = make_vm();
	int gmem_a = make_gmem(vm_a, SZ);
	void *hva = mmap(NULL, SZ, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_geq(gmem_a, 0);
	cr_assert_neq(hva, MAP_FAILED);
	cr_expect_eq(mig_memslot_set(vm_b, 0, 0, SZ, hva, gmem_a, 0), -EINVAL,
		     "KVM_SET_USER_MEMORY_REGION2 of A's gmem into VM B");
	cr_expect_eq(mig_memslot_set(vm_a, 0, 0, SZ, hva, gmem_a, 0), 0,
		     "the same call into VM A itself");
}

static uint64_t decide_sid;

static void *source_decides(void *ctx)
{
	return (void *)(intptr_t)mig_wait(ctx, decide_sid, MIG_STATE_COMMITTED,
					  NULL);
}

Test(malicious, upgrade_keeps_the_secret)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	pthread_t source;
	void *decided;
	struct mig_handoff *h = NULL;
	struct mig_list *l;
	struct victim v;
	struct mig_token t;
	char old_id[MIG_ID_LEN];
	size_t len;
	void *blob;
	uint8_t *p;

	victim_offer(&v, "victim");
	decide_sid = v.sid;
	cr_assert_eq(mig_show(v.ctx, "victim", &l), 0);
	strcpy(old_id, l->vms[0].id);
	mig_list_free(l);
	grant("victim", false, NULL, (uid_t)-1, &t);
	cr_assert_eq(mig_claim(dest, v.sid, t.bytes, MIG_TOKEN_LEN, &h), 0);
	cr_expect(!h->deferred && h->grant == MIG_GRANT_SUCCESSOR);
	cr_expect_geq(h->vm_fd, 0, "the successor gets the VM fd");
	p = map_fd(h->regions[0].fd, SZ);
	cr_assert_not_null(p);
	cr_expect(check_pattern(p, SZ, SECRET), "the secret is intact");
	cr_assert_eq(mig_ready(dest, v.sid), 0);
	cr_assert_eq(mig_wait(v.ctx, v.sid, MIG_STATE_READY, NULL), 0);
	cr_assert_eq(mig_send_state(v.ctx, v.sid, "victim-regs", 12), 0);
	cr_assert_eq(mig_take_state(dest, v.sid, &blob, &len), 0);
	cr_expect(len == 12 && memcmp(blob, "victim-regs", 12) == 0);
	free(blob);
	/* The source answers the commit on the direct channel, meanwhile. */
	cr_assert_eq(pthread_create(&source, NULL, source_decides, v.ctx), 0);
	cr_assert_eq(mig_commit(dest, v.sid), 0);
	pthread_join(source, &decided);
	cr_expect_eq((intptr_t)decided, 0, "the source handed over");
	cr_assert_eq(mig_show(dest, "victim", &l), 0);
	cr_expect_str_eq(l->vms[0].id, old_id, "the identity goes on");
	cr_expect_eq(l->vms[0].upgrades, 1);
	mig_list_free(l);
	mig_handoff_free(h);
}

/* Under rebind_policy = refuse no rebind is even granted. */
Test(malicious, refuse_policy_refuses_rebinds)
{
	struct mig_ctx *m;
	struct mig_token t;
	struct victim v;

	daemon_stop(&d);
	cr_assert_eq(daemon_start(&d, "rebind_policy = refuse\n"), 0);
	victim_offer(&v, "victim");
	m = connect_as_owner(&d, NULL);
	cr_expect_eq(mig_grant_rebind(m, "victim", "newvm", NULL, (uid_t)-1,
				      &t), -EACCES);
	cr_expect(strstr(mig_last_error(m), "refuse"), "%s",
		  mig_last_error(m));
	cr_assert_eq(mig_grant_successor(m, "victim", &t), 0,
		     "upgrades are not rebinds");
	expect_granted(claim_as(0, v.sid, t.bytes, MIG_TOKEN_LEN), SUCCESSOR_FDS,
		       "the successor");
	mig_unref(m);
}

/* 7. Offered fds are what they say, or nothing is forwarded. */
Test(malicious, offers_of_the_wrong_fds)
{
	int baseline = daemon_baseline(&d);
	struct mig_ctx *c = connect_as_owner(&d, "victim");
	int vm = make_vm(), gmem = make_gmem(vm, SZ), other_vm = make_vm();
	int memfd = memfd_create("ram", MFD_CLOEXEC);
	int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	char path[] = "/tmp/migrd-test-file.XXXXXX";
	int file = mkstemp(path);
	const struct { int fd; const char *what; } bad[] = {
		{ memfd, "a memfd" }, { other_vm, "another VM's fd" },
		{ sock, "a socket" }, { file, "a regular file" },
	};
	/* Earlier connections may still be closing: count once they have. */
	int before = settled_fds(d.pid, baseline + PER_CLIENT + PER_VM);
	struct mig_region r;
	uint64_t sid;

	unlink(path);
	cr_assert(memfd >= 0 && file >= 0 && ftruncate(memfd, SZ) == 0 &&
		  ftruncate(file, SZ) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		r = gmem_region(bad[i].fd, SZ);
		cr_expect_eq(mig_offer(c, "victim", &r, 1, vm, &sid), -EBADF,
			     "%s offered as gmem", bad[i].what);
		cr_expect(strstr(mig_last_error(c), "gmem"), "%s",
			  mig_last_error(c));
	}
	r = gmem_region(gmem, SZ);
	cr_expect_eq(mig_offer(c, "victim", &r, 1, gmem, &sid), -EBADF,
		     "a gmem offered as the VM fd");
	cr_expect_eq(settled_fds(d.pid, before), before,
		     "migrd kept none of them");
	cr_expect_eq(mig_offer(c, "victim", &r, 1, vm, &sid), 0,
		     "the real gmem and VM fd");
	mig_unref(c);
}

/* A memfd of SZ holding the secret, optionally sealable. */
static int secret_memfd(bool sealable)
{
	int fd = memfd_create("ram", MFD_CLOEXEC |
			      (sealable ? MFD_ALLOW_SEALING : 0));
	void *p;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, SZ), 0);
	p = map_fd(fd, SZ);
	cr_assert_not_null(p);
	fill_pattern(p, SZ, SECRET);
	munmap(p, SZ);
	return fd;
}

static void expect_secret(int fd)
{
	void *p = map_fd(fd, SZ);

	cr_assert_not_null(p);
	cr_expect(check_pattern(p, SZ, SECRET), "the secret is intact");
	munmap(p, SZ);
}

static int offer_memfd(struct mig_ctx *c, int fd, uint64_t *sid)
{
	struct mig_region r = gmem_region(fd, SZ);

	r.kind = MIG_REGION_MEMFD;
	return mig_offer(c, "victim", &r, 1, -1, sid);
}

/* 7b. A memfd its successor could not map writable is refused at once. */
Test(malicious, memfds_sealed_against_writing)
{
	struct mig_ctx *c = connect_as_owner(&d, "victim");
	const int seals[] = { F_SEAL_WRITE, F_SEAL_FUTURE_WRITE };
	uint64_t sid;

	for (size_t i = 0; i < sizeof(seals) / sizeof(*seals); i++) {
		int fd = secret_memfd(true);

		cr_assert_eq(fcntl(fd, F_ADD_SEALS, seals[i]), 0);
		cr_expect_eq(offer_memfd(c, fd, &sid), -EBADF, "seal %#x",
			     seals[i]);
		cr_expect(strstr(mig_last_error(c), "sealed against writing"),
			  "%s", mig_last_error(c));
		close(fd);
	}
	cr_expect_eq(offer_memfd(c, secret_memfd(true), &sid), 0,
		     "an unsealed memfd: %s", mig_last_error(c));
	mig_unref(c);
}

/*
 * 7c. What the source does to its memfd after the offer: migrd seals it
 * against shrinking where it can, and checks again at hand-out where it
 * cannot; a successor never gets an fd shorter than its region.
 */
static void claim_after(struct mig_ctx *c, uint64_t sid, int expect,
			const char *why)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct stat st;
	int r = claim_successor(&d, dest, "victim", sid, &h);

	cr_expect_eq(r, expect, "claim: %s", mig_last_error(dest));
	if (expect) {
		cr_expect_null(h, "nothing handed out");
		cr_expect(strstr(mig_last_error(dest), why), "%s",
			  mig_last_error(dest));
	} else {
		cr_assert_eq(fstat(h->regions[0].fd, &st), 0);
		cr_expect_eq(st.st_size, SZ, "the whole region");
		expect_secret(h->regions[0].fd);
	}
	mig_handoff_free(h);
	mig_unref(dest);
	/* Refused, or its destination gone: either way the session ends. */
	cr_expect_eq(mig_wait(c, sid, MIG_STATE_COMMITTED, NULL), -ECANCELED,
		     "the session is over");
}

Test(malicious, memfds_changed_after_the_offer)
{
	struct mig_ctx *c = connect_as_owner(&d, "victim");
	int sealable = secret_memfd(true), plain = secret_memfd(false);
	uint64_t sid;

	/* Sealable: migrd sealed it; the shrink fails, the claim works. */
	cr_assert_eq(offer_memfd(c, sealable, &sid), 0);
	cr_expect(fcntl(sealable, F_GET_SEALS) & F_SEAL_SHRINK);
	cr_expect_eq(ftruncate(sealable, 0), -1, "the source cannot shrink it");
	claim_after(c, sid, 0, NULL);
	/* Sealed against writing after the offer: refused at hand-out. */
	cr_assert_eq(offer_memfd(c, sealable, &sid), 0);
	cr_assert_eq(fcntl(sealable, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
	claim_after(c, sid, -EBADF, "sealed against writing");
	/* Not sealable: shrunk to 0 after the offer, refused at hand-out. */
	cr_assert_eq(offer_memfd(c, plain, &sid), 0);
	cr_assert_eq(ftruncate(plain, 0), 0);
	claim_after(c, sid, -EBADF, "shrank to 0 bytes after the offer");
	mig_unref(c);
}

/* 8a. An unregistered VM cannot be offered by its former owner. */
Test(malicious, unregistered_owner_loses_rights)
{
	struct mig_ctx *c = connect_as_owner(&d, "victim");
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	int vm = make_vm(), gmem = make_gmem(vm, SZ);
	struct mig_region r = gmem_region(gmem, SZ);
	struct mig_token t;
	uint64_t sid;

	cr_assert_eq(mig_unregister(m, "victim"), 0);
	cr_expect_eq(mig_offer(c, "victim", &r, 1, vm, &sid), -ENOENT);
	cr_expect_eq(mig_grant_successor(m, "victim", &t), -ENOENT);
	cr_assert_eq(mig_register(m, "victim", NULL, getpid(), -1, NULL), 0);
	cr_expect_eq(mig_offer(c, "victim", &r, 1, vm, &sid), 0,
		     "registered again, it may");
	mig_unref(c);
	mig_unref(m);
}

static bool registered(struct mig_ctx *m, const char *name)
{
	struct mig_list *l = NULL;
	int r = mig_show(m, name, &l);

	mig_list_free(l);
	return r == 0;
}

static bool wait_unregistered(struct mig_ctx *m, const char *name)
{
	for (int i = 0; i < 300 && registered(m, name); i++)
		usleep(10000);
	return !registered(m, name);
}

/* 8b. exec() ends a registration: the new program is not the VMM. */
Test(malicious, exec_loses_rights)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	int go[2];
	pid_t stays, execs;
	char c;

	cr_assert_eq(pipe(go), 0);
	stays = fork();
	if (stays == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	execs = fork();
	if (execs == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		execl("/bin/sleep", "sleep", "30", NULL);
		_exit(127);
	}
	cr_assert_eq(mig_register(m, "stays", NULL, stays, -1, NULL), 0);
	cr_assert_eq(mig_register(m, "execs", NULL, execs, -1, NULL), 0);
	close(go[1]);		/* both go on; one of them execs */
	cr_expect(wait_unregistered(m, "execs"), "exec ended the registration");
	cr_expect(registered(m, "stays"), "the other one keeps it");
	kill(stays, SIGKILL);
	kill(execs, SIGKILL);
	waitpid(stays, NULL, 0);
	waitpid(execs, NULL, 0);
	cr_expect(wait_unregistered(m, "stays"), "and exit ends it");
	mig_unref(m);
}

/* Fork a child whose pid is want, if the kernel gives it out again. */
static pid_t fork_with_pid(pid_t want, const int go[2])
{
	for (int i = 0; i < 100; i++) {
		FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		pid_t pid;
		char c;

		if (!f)
			return -1;
		fprintf(f, "%d", want - 1);
		fclose(f);
		pid = fork();
		if (pid == 0) {
			if (getpid() != want)
				_exit(0);
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(1);
			/* The impostor: same pid, same uid, same VM name. */
			struct mig_ctx *ctx = connect_as_owner(&d, NULL);
			int vm = make_vm(), gmem = make_gmem(vm, SZ);
			struct mig_region r = gmem_region(gmem, SZ);
			uint64_t sid;
			int e = mig_offer(ctx, "victim", &r, 1, vm, &sid);

			_exit(e == -ENOENT || e == -EPERM ? 42 : 43);
		}
		if (pid == want)
			return pid;
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/* 8c. The owner exits; a process that gets its pid inherits nothing. */
Test(malicious, pid_reuse_inherits_nothing)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	int go[2], status;
	pid_t owner, impostor;

	cr_assert_eq(pipe(go), 0);
	owner = fork();
	if (owner == 0) {
		close(go[1]);
		_exit(read(go[0], &(char){ 0 }, 1) < 0);
	}
	cr_assert_eq(mig_register(m, "victim", NULL, owner, -1, NULL), 0);
	cr_assert(registered(m, "victim"), "the live owner holds it");
	kill(owner, SIGKILL);
	waitpid(owner, NULL, 0);
	impostor = fork_with_pid(owner, go);
	if (impostor < 0)
		cr_skip_test("the kernel did not give pid %d out again", owner);
	close(go[1]);
	waitpid(impostor, &status, 0);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		  "pid %d again could not offer the dead owner's VM", owner);
	cr_expect(wait_unregistered(m, "victim"));
	mig_unref(m);
}

/*
 * 9. The owner's uid is the user it runs as, also when it is not
 * dumpable (then /proc/PID belongs to root, which made it uid 0, an
 * owner root's rights).
 */
static pid_t nobody_process(bool dumpable, int go)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (setgid(NOBODY) || setuid(NOBODY))
		_exit(2);
	prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0);
	if (write(go, "x", 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

Test(malicious, a_non_dumpable_owner_keeps_its_uid)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	const bool dumpable[] = { true, false };

	for (int i = 0; i < 2; i++) {
		struct mig_list *l;
		char name[16];
		int sp[2];
		pid_t pid;
		char c;

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
		pid = nobody_process(dumpable[i], sp[1]);
		cr_assert_eq(read(sp[0], &c, 1), 1);
		snprintf(name, sizeof(name), "nobody%d", i);
		cr_assert_eq(mig_register(m, name, NULL, pid, -1, NULL), 0);
		cr_assert_eq(mig_show(m, name, &l), 0);
		cr_expect_eq(l->vms[0].owner_uid, NOBODY,
			     "%s owner: uid %u", dumpable[i] ? "a dumpable" :
			     "a non-dumpable", l->vms[0].owner_uid);
		mig_list_free(l);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sp[0]);
		close(sp[1]);
	}
	mig_unref(m);
}

/*
 * Lies on the control socket (issue #20). The source decides: it sends
 * GO on the direct channel and never resumes, or resumes and never sends
 * GO; migrd commits on its word (its COMMIT after GO) or its exit, never
 * on a destination's word alone, and exit_grace never kills a source
 * that did not say GO. No KVM: the guest's RAM is a memfd (a legacy VMM
 * offers no VM fd), so this suite runs wherever root does.
 *
 * The source is a forked child speaking libmig as a VMM does; this
 * process plays the destinations, honest (libmig) and lying (a word on
 * the control socket only, whatever the direct channel holds).
 */

/* exit_grace of this suite's migrd, and what a slow build adds to it. */
#define GRACE_MS 1000
#define SLACK_MS 3000
/* How long the source waits for COMMIT on its channel before resuming. */
#define PEER_MS 1500

static void start_lies(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, "exit_grace = 1s\noffer_timeout = 20s\n"),
		     0);
}

TestSuite(lies, .init = start_lies, .fini = stop, .timeout = 60);

enum src_way {
	SRC_HONEST,		/* hands over, or resumes: one of the two */
	SRC_DIES_AFTER_STATE,	/* its state left, then it died: no GO */
	SRC_RESUMES_AFTER_GO,	/* the liar: GO, then ABORT and runs on */
};

/* One round of the source: its session, its decision, what came after. */
struct src_report {
	uint64_t sid;
	int decided;		/* 0: GO sent; -ECANCELED: it resumed */
	int after;		/* SRC_RESUMES_AFTER_GO: its ABORT */
};

struct src {
	pid_t pid;
	int rd;			/* its reports */
	int go;			/* a byte starts a round */
	uint64_t sid;
};

static int src_ram(void)
{
	int fd = memfd_create("ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	if (fd < 0 || ftruncate(fd, SZ) < 0)
		return -1;
	p = map_fd(fd, SZ);
	if (!p)
		return -1;
	fill_pattern(p, SZ, SECRET);
	munmap(p, SZ);
	return fd;
}

/* The source VMM, in its own process: one offer per byte on go. */
static void src_main(const char *name, enum src_way way, int wr, int go)
{
	struct mig_ctx *c = connect_as_owner(&d, name);
	int ram = src_ram();
	struct mig_region r = gmem_region(ram, SZ);
	char x;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!c || ram < 0)
		_exit(2);
	mig_set_timeout(c, PEER_MS);
	r.kind = MIG_REGION_MEMFD;
	while (read(go, &x, 1) == 1) {
		struct src_report rep = { 0 };

		if (mig_offer(c, name, &r, 1, -1, &rep.sid) ||
		    write(wr, &rep, sizeof(rep)) != sizeof(rep))
			_exit(3);
		/* The claimant is ready: pause, state on the channel. */
		rep.decided = mig_wait(c, rep.sid, MIG_STATE_READY, NULL);
		if (!rep.decided)
			rep.decided = mig_send_state(c, rep.sid, "regs", 4);
		if (!rep.decided && way == SRC_DIES_AFTER_STATE)
			_exit(0);
		if (!rep.decided)
			rep.decided = mig_wait(c, rep.sid, MIG_STATE_COMMITTED,
					       NULL);
		if (!rep.decided && way == SRC_RESUMES_AFTER_GO)
			rep.after = mig_abort(c, rep.sid, "resuming anyway");
		if (write(wr, &rep, sizeof(rep)) != sizeof(rep))
			_exit(4);
		if (!rep.decided && way == SRC_HONEST)
			_exit(0);
		/* Resumed (or the liar): it runs the guest, until killed. */
	}
	_exit(0);
}

static void src_start(struct src *s, const char *name, enum src_way way)
{
	int rep[2], go[2];

	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		close(rep[0]);
		close(go[1]);
		src_main(name, way, rep[1], go[0]);
	}
	close(rep[1]);
	close(go[0]);
	s->rd = rep[0];
	s->go = go[1];
}

/* The source offers again; its session in s->sid. */
static void src_offer(struct src *s)
{
	struct src_report rep;

	cr_assert_eq(write(s->go, "o", 1), 1);
	cr_assert_eq(read(s->rd, &rep, sizeof(rep)), sizeof(rep),
		     "the source could not offer");
	s->sid = rep.sid;
}

/* The round's outcome, as the source saw it. */
static struct src_report src_decided(struct src *s)
{
	struct src_report rep = { .decided = -EIO };

	cr_assert_eq(read(s->rd, &rep, sizeof(rep)), sizeof(rep),
		     "the source died before deciding");
	return rep;
}

/* The round's outcome if the source lived to say it (0), else -1. */
static int src_said(struct src *s, struct src_report *rep)
{
	return read(s->rd, rep, sizeof(*rep)) == sizeof(*rep) ? 0 : -1;
}

/* Its exit status once it exited by itself within ms, else -1. */
static int src_exited_within(struct src *s, int ms)
{
	int st;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return st;
		}
		usleep(10000);
	}
	return -1;
}

static void src_end(struct src *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	close(s->rd);
	close(s->go);
}

/* A word on the control socket only; STATE says it went direct. */
static int say(struct mig_ctx *ctx, Mig__Kind kind, uint64_t sid)
{
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Target t = MIG__TARGET__INIT;
	Mig__Blob b = MIG__BLOB__INIT;
	Mig__Response *resp;
	int r;

	req.kind = kind;
	if (kind == MIG__KIND__STATE) {
		req.state = &b;
		b.has_session = b.has_direct = b.direct = true;
		b.session = sid;
	} else {
		req.target = &t;
		t.has_session = true;
		t.session = sid;
	}
	r = mig_call(ctx, &req, NULL, 0, &resp, NULL, NULL);
	if (!r)
		mig__response__free_unpacked(resp, NULL);
	return r;
}

/* The session's state as migrd records it, asked by management. */
static enum mig_state state_of(uint64_t sid)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	enum mig_state st = MIG_STATE_NONE;
	int r = mig_wait(m, sid, MIG_STATE_OFFERED, &st);

	mig_unref(m);
	return r == -ECANCELED ? MIG_STATE_ABORTED : r ? MIG_STATE_NONE : st;
}

/* The same once it is want, or after 2 s (notices travel unanswered). */
static enum mig_state settled_state(uint64_t sid, enum mig_state want)
{
	enum mig_state st = state_of(sid);

	for (int i = 0; i < 200 && st != want; i++) {
		usleep(10000);
		st = state_of(sid);
	}
	return st;
}

static pid_t owner_of(const char *vm)
{
	struct mig_ctx *m = connect_as_owner(&d, NULL);
	struct mig_list *l = NULL;
	pid_t pid = 0;

	if (mig_show(m, vm, &l) == 0)
		pid = l->vms[0].owner_pid;
	mig_list_free(l);
	mig_unref(m);
	return pid;
}

/* An honest destination, once it claimed: ready, load, commit. */
static int honest_dest(struct mig_ctx *dest, uint64_t sid)
{
	size_t len;
	void *blob;
	int r = mig_ready(dest, sid);

	if (!r)
		r = mig_take_state(dest, sid, &blob, &len);
	if (r)
		return r;
	free(blob);
	return mig_commit(dest, sid);
}

/* The same setup, an honest destination: the offered guest moves, once. */
static void honest_round(struct src *s, const char *vm)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;

	cr_assert_eq(claim_successor(&d, dest, vm, s->sid, &h), 0, "%s",
		     mig_last_error(dest));
	cr_expect_eq(honest_dest(dest, s->sid), 0, "%s",
		     mig_last_error(dest));
	cr_expect_eq(src_decided(s).decided, 0, "the source handed over");
	cr_expect_eq(settled_state(s->sid, MIG_STATE_COMMITTED),
		     MIG_STATE_COMMITTED);
	cr_expect_eq(owner_of(vm), getpid(), "the destination owns it");
	cr_expect_eq(src_exited_within(s, SLACK_MS), 0,
		     "the source exited by itself");
	mig_handoff_free(h);
	mig_unref(dest);
}

/*
 * A destination with a valid token claims, says READY, never reads the
 * state nor speaks on the channel, and tells migrd COMMIT: noted, not
 * committed; the source resumes after its own timeout and lives on past
 * exit_grace, still the owner.
 */
Test(lies, commit_without_the_sources_go)
{
	struct mig_ctx *liar = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct src s;

	src_start(&s, "victim", SRC_HONEST);
	src_offer(&s);
	cr_assert_eq(claim_successor(&d, liar, "victim", s.sid, &h), 0, "%s",
		     mig_last_error(liar));
	cr_assert_eq(mig_ready(liar, s.sid), 0);
	/* The source paused: its state waits, unread, on the channel. */
	cr_assert_eq(mig_wait_readable(liar->peer, 10000), 0);
	cr_expect_eq(say(liar, MIG__KIND__COMMIT, s.sid), -EINPROGRESS,
		     "%s", mig_last_error(liar));
	cr_expect(strstr(mig_last_error(liar), "the source decides"), "%s",
		  mig_last_error(liar));
	cr_expect_eq(state_of(s.sid), MIG_STATE_READY, "not committed");
	cr_expect_eq(owner_of("victim"), s.pid, "the source still owns it");
	cr_expect_eq(src_decided(&s).decided, -ECANCELED,
		     "no COMMIT on its channel: the source resumed");
	cr_expect_eq(settled_state(s.sid, MIG_STATE_ABORTED),
		     MIG_STATE_ABORTED);
	cr_expect_eq(src_exited_within(&s, GRACE_MS + 500), -1,
		     "exit_grace did not kill the source that kept the guest");
	cr_expect_eq(owner_of("victim"), s.pid, "the source still owns it");
	mig_handoff_free(h);
	mig_unref(liar);
	src_offer(&s);
	honest_round(&s, "victim");
	src_end(&s);
}

/* COMMIT before READY: out of order, and nothing changes. */
Test(lies, commit_before_ready)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct src s;

	src_start(&s, "victim", SRC_HONEST);
	src_offer(&s);
	cr_assert_eq(claim_successor(&d, dest, "victim", s.sid, &h), 0, "%s",
		     mig_last_error(dest));
	cr_expect_eq(say(dest, MIG__KIND__COMMIT, s.sid), -EPROTO, "%s",
		     mig_last_error(dest));
	cr_expect_eq(state_of(s.sid), MIG_STATE_CLAIMED);
	cr_expect_eq(owner_of("victim"), s.pid);
	/* The same destination, honest from here: the guest moves. */
	cr_expect_eq(honest_dest(dest, s.sid), 0, "%s", mig_last_error(dest));
	cr_expect_eq(src_decided(&s).decided, 0, "the source handed over");
	cr_expect_eq(settled_state(s.sid, MIG_STATE_COMMITTED),
		     MIG_STATE_COMMITTED);
	cr_expect_eq(owner_of("victim"), getpid());
	cr_expect_eq(src_exited_within(&s, SLACK_MS), 0);
	mig_handoff_free(h);
	mig_unref(dest);
	src_end(&s);
}

/* READY, STATE, COMMIT for a session the speaker does not hold. */
static void no_say(struct mig_ctx *who, uint64_t sid, const char *what)
{
	static const Mig__Kind kinds[] = {
		MIG__KIND__READY, MIG__KIND__STATE, MIG__KIND__COMMIT,
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		cr_expect_eq(say(who, kinds[i], sid), -EPERM,
			     "%s, request %d: %s", what, kinds[i],
			     mig_last_error(who));
}

Test(lies, words_for_a_session_not_held)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_ctx *stranger = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct src a, b;

	src_start(&a, "victim", SRC_HONEST);
	src_start(&b, "other", SRC_HONEST);
	src_offer(&a);
	src_offer(&b);
	cr_assert_eq(claim_successor(&d, dest, "victim", a.sid, &h), 0, "%s",
		     mig_last_error(dest));
	no_say(dest, b.sid, "victim's destination on other's session");
	no_say(stranger, a.sid, "a stranger on victim's session");
	cr_expect_eq(say(dest, MIG__KIND__STATE, a.sid), -EPERM,
		     "only the source says STATE: %s", mig_last_error(dest));
	cr_expect_eq(state_of(a.sid), MIG_STATE_CLAIMED);
	cr_expect_eq(state_of(b.sid), MIG_STATE_OFFERED);
	cr_expect_eq(owner_of("other"), b.pid);
	/* Those who hold them: both move. */
	cr_expect_eq(honest_dest(dest, a.sid), 0, "%s", mig_last_error(dest));
	cr_expect_eq(src_decided(&a).decided, 0);
	cr_expect_eq(owner_of("victim"), getpid());
	mig_handoff_free(h);
	mig_unref(dest);
	mig_unref(stranger);
	honest_round(&b, "other");
	src_end(&a);
	src_end(&b);
}

/*
 * A source that says GO and then resumes anyway: the commit stands (its
 * ABORT is refused), the destination owns the VM, and migrd kills the
 * old VMM, so that two runners last at most within_ms.
 */
static void resumes_after_go(unsigned int within_ms)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct src_report rep;
	struct src s;
	int st;

	src_start(&s, "victim", SRC_RESUMES_AFTER_GO);
	src_offer(&s);
	cr_assert_eq(claim_successor(&d, dest, "victim", s.sid, &h), 0, "%s",
		     mig_last_error(dest));
	cr_expect_eq(honest_dest(dest, s.sid), 0, "the destination runs it");
	/* Killed for its ABORT, it may not live to report it. */
	if (src_said(&s, &rep) == 0) {
		cr_expect_eq(rep.decided, 0, "the source sent GO");
		cr_expect_eq(rep.after, -ESTALE, "its ABORT after GO is refused");
	}
	cr_expect_eq(state_of(s.sid), MIG_STATE_COMMITTED);
	cr_expect_eq(owner_of("victim"), getpid());
	st = src_exited_within(&s, within_ms);
	cr_expect(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "migrd killed the source that ran on within %u ms (status %#x)",
		  within_ms, st);
	mig_handoff_free(h);
	mig_unref(dest);
	src_end(&s);
}

Test(lies, a_source_that_resumes_after_go_is_killed)
{
	resumes_after_go(GRACE_MS + SLACK_MS);
}

/*
 * With a long exit_grace: the ABORT it sends after GO says it runs the
 * guest beside its successor, and migrd kills it at once, not after the
 * grace (60 s here).
 */
static void start_long_grace(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: registering VMs is a management operation");
	cr_assert_eq(daemon_start(&d, "exit_grace = 60s\noffer_timeout = 20s\n"),
		     0);
}

TestSuite(lies_long_grace, .init = start_long_grace, .fini = stop,
	  .timeout = 60);

Test(lies_long_grace, a_source_that_resumes_after_go_is_killed_at_once)
{
	resumes_after_go(SLACK_MS);
}

/*
 * The source dies after its state left, before any GO: it can never
 * resume, so the destination's COMMIT stands then (migrd(8): "source
 * after its state left, before GO").
 */
Test(lies, a_source_dead_after_its_state_left_lets_the_destination_commit)
{
	struct mig_ctx *dest = connect_as_owner(&d, NULL);
	struct mig_handoff *h = NULL;
	struct src s;

	src_start(&s, "victim", SRC_DIES_AFTER_STATE);
	src_offer(&s);
	cr_assert_eq(claim_successor(&d, dest, "victim", s.sid, &h), 0, "%s",
		     mig_last_error(dest));
	cr_expect_eq(honest_dest(dest, s.sid), 0, "%s", mig_last_error(dest));
	cr_expect_eq(src_exited_within(&s, SLACK_MS), 0, "it died by itself");
	cr_expect_eq(settled_state(s.sid, MIG_STATE_COMMITTED),
		     MIG_STATE_COMMITTED);
	cr_expect_eq(owner_of("victim"), getpid());
	mig_handoff_free(h);
	mig_unref(dest);
	src_end(&s);
}
