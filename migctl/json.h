/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A minimal streaming JSON writer for migctl --json. */
#ifndef MIGRD_JSON_H
#define MIGRD_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;
	int depth;
	bool need_comma[16];
};

void json_init(struct json *j, FILE *f);
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_bool(struct json *j, const char *key, bool v);

#endif /* MIGRD_JSON_H */
