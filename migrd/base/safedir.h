/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef MIGRD_SAFEDIR_H
#define MIGRD_SAFEDIR_H

/*
 * An O_PATH fd on dir if every directory from / down to it is owned by
 * root (or migrd's user) and writable by nobody else (sticky ancestors
 * excepted); else logged, naming @what whoever could write there could
 * replace, and a negative errno. The journal's and the socket's check.
 */
int safe_dir_open(const char *dir, const char *what);

#endif /* MIGRD_SAFEDIR_H */
