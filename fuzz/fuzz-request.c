// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target: migrd's request handling, in process. The daemon's
 * own code (everything but main()) runs on a private socket; each input
 * is a conversation of one client that has said HELLO:
 *
 *   record := flags:u8 len:u16le bytes[len]
 *   flags & 3 = how many fds go with the datagram, flags >> 2 picks
 *   their kinds (memfd, /dev/null, socket, KVM VM fd, gmem, a pidfd of
 *   this process, which lets a REGISTER make the client a VM's owner).
 *
 * After the client hangs up and every VM is unregistered, migrd must be
 * back where it started: no client, no open session, no fd held. A
 * broken invariant aborts, which libFuzzer reports like a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <limits.h>

#include "log.h"
#include "transport.h"

static int kvm_vm = -1;

static void setup(void)
{
	static char dir[] = "/tmp/migrd-fuzz.XXXXXX";
	int kvm;

	config_defaults(&migrd.cfg);
	if (!mkdtemp(dir))
		abort();
	snprintf(migrd.cfg.socket, sizeof(migrd.cfg.socket), "%s/sock", dir);
	migrd.cfg.max_vms = 8;
	/* The old owner of a committed session is this very process: the
	 * reaper must never get to it. */
	migrd.cfg.exit_grace_ms = UINT_MAX;
	log_setup(false, getenv("FUZZ_LOG") ? LOG_DEBUG : LOG_EMERG);
	if (server_init())
		abort();
	/* One VM fd for inputs that want KVM fds, where there is KVM. */
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm >= 0)
		kvm_vm = ioctl(kvm, KVM_CREATE_VM, 0);
}

static void pump(void)
{
	while (server_step(0) > 0)
		;
}

static void drain(int c)
{
	static uint8_t buf[MIG_MSG_MAX];
	int fds[MIG_FDS_MAX];
	unsigned int n;

	while (mig_wire_recv(c, buf, fds, &n, MSG_DONTWAIT) > 0)
		mig_close_fds(fds, n);
}

static int fd_of_kind(unsigned int kind)
{
	struct { uint64_t size, flags, reserved[6]; } g = { 2 << 20, 3 };
	int fd, sv[2];

	switch (kind % 6) {
	case 0:
		fd = memfd_create("fuzz", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, 2 << 20) < 0)
			abort();
		return fd;
	case 1:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	case 2:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
			return -1;
		close(sv[1]);
		return sv[0];
	case 3:
		return kvm_vm >= 0 ? fcntl(kvm_vm, F_DUPFD_CLOEXEC, 3) : -1;
	case 4:
		/* KVM_CREATE_GUEST_MEMFD, mappable and shared */
		return kvm_vm >= 0 ? ioctl(kvm_vm, _IOWR(KVMIO, 0xd4, g), &g) : -1;
	default:
		return mig_pidfd_open(getpid());
	}
}

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	Mig__Request req = MIG__REQUEST__INIT;
	Mig__Hello h = MIG__HELLO__INIT;
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	mig_strlcpy(sa.sun_path, migrd.cfg.socket, sizeof(sa.sun_path));
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	pump();
	req.has_kind = h.has_version = true;
	req.kind = MIG__KIND__HELLO;
	req.hello = &h;
	h.version = MIG_PROTOCOL_VERSION;
	mig_send_request(c, &req, NULL, 0);
	pump();
	drain(c);
	return c;
}

static void send_record(int c, uint8_t flags, const uint8_t *p, size_t len)
{
	unsigned int n = flags & 3;
	int fds[3];

	for (unsigned int i = 0; i < n; i++) {
		fds[i] = fd_of_kind((flags >> 2) + i);
		if (fds[i] < 0)
			n = i;
	}
	mig_wire_send(c, p, len, fds, n);
	mig_close_fds(fds, n);
	pump();
	drain(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	int c;

	if (!ready) {
		setup();
		ready = true;
	}
	c = client();
	while (size >= 3) {
		size_t len = (size_t)data[1] | (size_t)data[2] << 8;

		if (len > size - 3)
			len = size - 3;
		send_record(c, data[0], data + 3, len);
		data += 3 + len;
		size -= 3 + len;
	}
	close(c);
	pump();
	registry_fini();
	pump();
	if (migrd.nclients || migrd.nsessions || migrd.held_fds || migrd.nvms)
		abort();	/* something outlived its client */
	return 0;
}
