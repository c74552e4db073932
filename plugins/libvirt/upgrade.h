/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migctl upgrade: live-upgrade a libvirt domain's VMM through migrd. */
#ifndef MIGRD_LIBVIRT_UPGRADE_H
#define MIGRD_LIBVIRT_UPGRADE_H

#include <stdbool.h>

#include "libmig.h"

/* The namespace of the element migctl keeps in a domain's metadata. */
#define UPGRADE_NS_URI	"https://migrd.org/xmlns/libvirt/upgrade/1"
#define UPGRADE_NS_KEY	"migrd"

/* Exit codes beyond migctl's (0 ok, 1 failed, 2 usage, 3 no migrd,
 * 4 not found). */
#define EXIT_DOMAIN_STOPPED	5	/* the domain stopped mid-way */
#define EXIT_NO_LIBVIRT		6	/* libvirt unreachable */

/* argv: [--connect URI] [--signal SIG|none] [--timeout S] [--log FILE]
 * DOMAIN -- COMMAND [ARG]... ; returns an exit code. */
int migctl_upgrade(struct mig_ctx *ctx, int argc, char **argv, bool json);

/* argv: [--connect URI] [--timeout S] DOMAIN --emulator PATH: a libvirt
 * QEMU domain onto another QEMU binary (qemu-upgrade.c). */
int migctl_upgrade_qemu(struct mig_ctx *ctx, int argc, char **argv,
			bool json);

#endif
