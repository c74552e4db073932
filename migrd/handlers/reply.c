// SPDX-License-Identifier: LGPL-2.1-or-later
/* A reply as handlers fill it: its kind, its error sentence, its session. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "h-private.h"

void reply_init(struct reply *rep, Mig__Kind kind)
{
	memset(rep, 0, sizeof(*rep));
	mig__response__init(&rep->resp);
	rep->resp.has_kind = true;
	rep->resp.kind = kind;
}

/* Errors echo what a peer sent (a name it asked for): escaped, always. */
int reply_err(struct reply *rep, int err, const char *fmt, ...)
{
	char raw[sizeof(rep->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	mig_escape(rep->msg, sizeof(rep->msg), raw);
	rep->resp.has_error = true;
	rep->resp.error = (uint32_t)-err;
	rep->resp.message = rep->msg;
	return err;
}

int reply_why(struct reply *rep, int err, const struct why *w)
{
	return reply_err(rep, err, "%s", w->msg);
}

/* Find an open session or explain, in the reply, why there is none. */
struct session *target_session(uint64_t id, bool has, struct reply *rep)
{
	struct session *s;

	if (!has) {
		reply_err(rep, -EINVAL, "The request names no session.");
		return NULL;
	}
	s = session_find(id, true);
	if (!s)
		reply_err(rep, -ENOENT, "There is no session %llu.",
			  (unsigned long long)id);
	else if (fsm_final(s->state))
		reply_err(rep, -ESTALE, "Session %llu has already %s.",
			  (unsigned long long)id,
			  mig_state_name((enum mig_state)s->state));
	return s && !fsm_final(s->state) ? s : NULL;
}

void reply_session(struct reply *rep, const struct session *s)
{
	session_info(&rep->session, s, &rep->sw);
	rep->resp.session = &rep->session;
}
