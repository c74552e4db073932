/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The event loop's one primitive that every layer may use: call me back
 * when this fd turns readable. The loop itself (epoll) is the transport's
 * (server.c).
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

#endif /* MIGRD_LOOP_H */
