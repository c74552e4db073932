// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Process events from the kernel's proc connector, through libnl-3: an
 * owner that executes a new program is no longer the VMM management
 * registered, so its registration ends. Exit is caught by the owner's
 * pidfd already; exec is the one event only the connector reports.
 * Needs CAP_NET_ADMIN; without it migrd runs with exit detection only.
 *
 * The connector is a datagram stream the kernel drops from when migrd's
 * socket buffer is full (ENOBUFS, a storm of forks and execs): an exec
 * may be lost, and with it the end of a registration. That is said as a
 * warning, with a buffer as large as may be to make it rare.
 */
#include <errno.h>
#include <linux/cn_proc.h>
#include <poll.h>
#include <linux/connector.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"
#include "transport.h"

static struct nl_sock *sk;
static struct watch pm_watch = { .fd = -1 };

static int on_message(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct proc_event ev;
	struct cn_msg cn;

	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(cn) + sizeof(ev)))
		return NL_SKIP;
	memcpy(&cn, nlmsg_data(nlh), sizeof(cn));
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return NL_SKIP;
	/* The event follows the 20-byte cn_msg: copy it out to align it. */
	memcpy(&ev, (char *)nlmsg_data(nlh) + sizeof(cn), sizeof(ev));
	if (ev.what == PROC_EVENT_EXEC)
		vm_owner_exec(ev.event_data.exec.process_tgid);
	/* Connector messages are NLMSG_DONE: skip libnl's own handling,
	 * which would take them for the end of a dump. */
	return NL_SKIP;
}

/*
 * After an overrun, what can still be checked is, for every owner at
 * once: alive (its pidfd not readable) and the same process (its start
 * time). An exec changes neither: one that was among the lost events
 * cannot be told after the fact, which the warning says.
 */
static void recheck_owners(void)
{
	struct vm *vm, *tmp;

	list_for_each_entry_safe(vm, tmp, &migrd.vms, link) {
		struct pollfd p = { .fd = vm->owner.fd, .events = POLLIN };
		uint64_t start;

		if (vm->owner_gone || vm->owner.fd < 0)
			continue;
		if (poll(&p, 1, 0) == 1)
			vm_owner_lost(vm, "owner process exited");
		else if (vm->owner_start &&
			 (mig_pid_start(vm->owner_pid, &start) < 0 ||
			  start != vm->owner_start))
			vm_owner_lost(vm, "owner process is gone");
	}
}

static void procmon_event(struct watch *w, uint32_t events)
{
	int r = nl_recvmsgs_default(sk);

	if (r >= 0 || r == -NLE_AGAIN)
		return;
	/* libnl reports the kernel's ENOBUFS (events dropped) as NOMEM. */
	if (r == -NLE_NOMEM) {
		log_warn("proc connector: events were lost (receive buffer overrun); an owner that executed a new program meanwhile may keep its registration: re-checking every owner");
		recheck_owners();
		return;
	}
	log_warn("proc connector: %s", nl_geterror(r));
}

static int subscribe(void)
{
	enum proc_cn_mcast_op op = PROC_CN_MCAST_LISTEN;
	struct cn_msg cn = {
		.id = { .idx = CN_IDX_PROC, .val = CN_VAL_PROC },
		.len = sizeof(op),
	};
	/*
	 * The header, then its payload, laid out by hand: a struct with
	 * cn_msg (which ends in a flexible array) before the payload is a
	 * GNU extension.
	 */
	char msg[sizeof(cn) + sizeof(op)];

	memcpy(msg, &cn, sizeof(cn));
	memcpy(msg + sizeof(cn), &op, sizeof(op));
	return nl_send_simple(sk, NLMSG_DONE, 0, msg, sizeof(msg));
}

int procmon_init(void)
{
	int r;

	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(sk);
	nl_socket_disable_auto_ack(sk);
	r = nl_connect(sk, NETLINK_CONNECTOR);
	if (!r)
		r = nl_socket_add_membership(sk, CN_IDX_PROC);
	if (!r)
		r = subscribe() < 0 ? -NLE_PERM : 0;
	if (!r)
		r = nl_socket_set_nonblocking(sk);
	/* Room for bursts: fewer overruns (best effort, the rmem limit). */
	if (!r && nl_socket_set_buffer_size(sk, 4 << 20, 0) < 0)
		log_debug("proc connector: cannot enlarge the receive buffer");
	if (!r)
		r = nl_socket_modify_cb(sk, NL_CB_MSG_IN, NL_CB_CUSTOM,
					on_message, NULL);
	if (r) {
		log_debug("proc connector: %s", nl_geterror(r));
		procmon_fini();
		return -EPERM;
	}
	pm_watch.fd = nl_socket_get_fd(sk);
	pm_watch.fn = procmon_event;
	return watch_add(&pm_watch, EPOLLIN);
}

void procmon_fini(void)
{
	if (!sk)
		return;
	if (pm_watch.fd >= 0)
		watch_del(&pm_watch);
	pm_watch.fd = -1;
	nl_socket_free(sk);
	sk = NULL;
}
