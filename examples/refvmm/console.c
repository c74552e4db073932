// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guest's console: one line per guest report, written to whatever
 * --console names (a FIFO, a pty, a file). It is a device fd: on upgrade
 * it goes to the successor through migrd, so a reader attached before
 * the first upgrade reads on across every upgrade without reconnecting,
 * and never sees EOF while some VMM runs the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define CONSOLE_DEVICE	"console"

int console_open(struct vmm *v, const char *path)
{
	/* A FIFO waits here for its reader, as a serial line would. */
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	/* Then like a UART without flow control: a stalled reader loses
	 * lines, it never stalls the vCPU. */
	if (fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK) < 0) {
		close(fd);
		return -errno;
	}
	v->console_fd = fd;
	return 0;
}

void console_report(struct vmm *v, const struct report *r)
{
	if (v->console_fd < 0)
		return;
	/* The pid says which VMM wrote the line. */
	dprintf(v->console_fd, "guest: vmm=%d report=%" PRIu64 " counter=%"
		PRIu64 " ok=%" PRIu64 "\n", getpid(), r->reports, r->counter,
		r->ok);
}

/* What the source offers beside its memory: the console, if any. */
unsigned int console_devices(const struct vmm *v, struct mig_device *dev)
{
	enum mig_device_kind kind;

	if (v->console_fd < 0 || mig_device_kind_of(v->console_fd, &kind))
		return 0;
	*dev = (struct mig_device){ .kind = kind, .fd = v->console_fd };
	strcpy(dev->name, CONSOLE_DEVICE);
	return 1;
}

/* The successor, once it owns the guest: the console is its now. */
void console_adopt(struct vmm *v, struct mig_handoff *h)
{
	for (unsigned int i = 0; i < h->ndevices; i++) {
		if (strcmp(h->devices[i].name, CONSOLE_DEVICE) != 0)
			continue;
		v->console_fd = h->devices[i].fd;
		h->devices[i].fd = -1;
	}
}
