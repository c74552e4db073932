// SPDX-License-Identifier: LGPL-2.1-or-later
/* The daemon's one instance of state (migrd.h), in a file of its own so
 * that no layer depends on another to reach it. */
#include "migrd.h"

struct migrd migrd;

void migrd_state_init(void)
{
	list_init(&migrd.vms);
	list_init(&migrd.sessions);
	list_init(&migrd.history);
	list_init(&migrd.reapers);
	migrd.started_ms = mig_mono_ms();
}
