// SPDX-License-Identifier: LGPL-2.1-or-later
#include <inttypes.h>

#include "json.h"
#include "mig-private.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->need_comma[0] = false;
}

/*
 * A JSON string, valid whatever s holds: control characters (C0, DEL,
 * C1) as \uXXXX, each malformed UTF-8 byte as U+FFFD.
 */
static void quoted(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = mig_utf8_len((const char *)p);

		if (!n) {
			fputs("\\ufffd", f);
			p++;
			continue;
		}
		if (n == 1 && (*p == '"' || *p == '\\'))
			fprintf(f, "\\%c", *p);
		else if (n == 1 && (*p < 0x20 || *p == 0x7f))
			fprintf(f, "\\u%04x", *p);
		else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
			fprintf(f, "\\u%04x", p[1]);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}

/* Separator and key before a value; key is NULL inside arrays. */
static void prefix(struct json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->f);
	j->need_comma[j->depth] = true;
	if (key) {
		quoted(j->f, key);
		fputc(':', j->f);
	}
}

void json_open(struct json *j, const char *key, char bracket)
{
	prefix(j, key);
	fputc(bracket, j->f);
	if (j->depth < 15)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void json_close(struct json *j, char bracket)
{
	if (j->depth > 0)
		j->depth--;
	fputc(bracket, j->f);
	if (j->depth == 0)
		fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *v)
{
	prefix(j, key);
	quoted(j->f, v ? v : "");
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	prefix(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	prefix(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	prefix(j, key);
	fputs(v ? "true" : "false", j->f);
}
