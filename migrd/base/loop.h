/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event loop: one epoll set, one primitive every layer may use (call
 * me back when this fd turns readable), and the wait that the transport
 * drives.
 */
#ifndef MIGRD_LOOP_H
#define MIGRD_LOOP_H

#include <stdint.h>

/* Something in the epoll set; the callback finds its object. */
struct watch {
	int fd;
	void (*fn)(struct watch *w, uint32_t events);
};

int watch_add(struct watch *w, uint32_t events);
void watch_del(struct watch *w);

int loop_init(void);
/*
 * Wait at most timeout_ms (-1: for ever) for one event and run its
 * callback: one at a time, since a callback may free objects (a client,
 * a VM and its pidfd watch) whose events would sit later in a batch.
 * Returns the number of events handled (0 or 1) or a negative errno.
 */
int loop_run_one(int timeout_ms);
void loop_fini(void);

#endif /* MIGRD_LOOP_H */
