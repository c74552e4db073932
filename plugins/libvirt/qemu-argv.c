// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * QEMU's command line as libvirt wrote it, read back from /proc, and the
 * successor's derived from it. libvirt 9 writes -object and -netdev as
 * JSON, older versions as key=value lists: both are read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig-util.h"
#include "qemu.h"

static int slurp(const char *path, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (!buf || fd < 0) {
		int e = buf ? -errno : -ENOMEM;

		free(buf);
		if (fd >= 0)
			close(fd);
		return e;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *b = realloc(buf, cap *= 2);

			if (!b) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = b;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* The value of key in a JSON object or a key=value list, as text. */
static bool opt_value(const char *arg, const char *key, char *out, size_t len)
{
	char k[64];
	const char *p;
	size_t n;

	if (arg[0] == '{') {
		snprintf(k, sizeof(k), "\"%s\":", key);
		p = strstr(arg, k);
		if (!p)
			return false;
		p += strlen(k);
		p += *p == '"';
		n = strcspn(p, "\",}");
	} else {
		size_t kl = strlen(key);

		for (p = arg; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
			if (strncmp(p, key, kl) == 0 && p[kl] == '=')
				break;
		if (!p)
			return false;
		p += kl + 1;
		n = strcspn(p, ",");
	}
	mig_strlcpy(out, p, n + 1 < len ? n + 1 : len);
	return true;
}

static bool is_memfd_backend(const char *arg)
{
	char type[64];

	return (opt_value(arg, "qom-type", type, sizeof(type)) &&
		strcmp(type, "memory-backend-memfd") == 0) ||
	       strncmp(arg, "memory-backend-memfd,", 21) == 0;
}

/*
 * What an upgrade made of a memfd backend: a file backend on an
 * inherited fd. Its fd number; -1 for any other backend.
 */
static int upgraded_backend(const char *arg)
{
	char type[64], path[64];

	if (!(opt_value(arg, "qom-type", type, sizeof(type)) &&
	      strcmp(type, "memory-backend-file") == 0) &&
	    strncmp(arg, "memory-backend-file,", 20))
		return -1;
	if (!opt_value(arg, "mem-path", path, sizeof(path)) ||
	    strncmp(path, "/proc/self/fd/", 14))
		return -1;
	return atoi(path + 14);
}

/* The fd number n of pid is a memfd of size bytes. */
static bool is_memfd(pid_t pid, int n, uint64_t size)
{
	char path[64], link[256];
	struct stat st;
	ssize_t l;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, n);
	l = readlink(path, link, sizeof(link) - 1);
	if (l < 0)
		return false;
	link[l] = '\0';
	return strncmp(link, "/memfd:", 7) == 0 && stat(path, &st) == 0 &&
	       (uint64_t)st.st_size == size;
}

/* Every memfd of the old QEMU that QEMU's memfd backend made. */
static int find_memfd(pid_t pid, uint64_t size, const struct qemu_proc *p,
		      int *fd)
{
	for (int n = 3; n < 65536; n++) {
		char path[64], link[256];
		struct stat st;
		ssize_t l;
		bool taken = false;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, n);
		l = readlink(path, link, sizeof(link) - 1);
		if (l < 0) {
			if (errno == ENOENT && n > 1024)
				break;
			continue;
		}
		link[l] = '\0';
		if (strncmp(link, "/memfd:memory-backend-memfd", 27) ||
		    stat(path, &st) < 0 || (uint64_t)st.st_size != size)
			continue;
		for (unsigned int i = 0; i < p->nbe; i++)
			taken |= p->be[i].fd == n;
		if (taken)
			continue;
		*fd = n;
		return 0;
	}
	return -ENOENT;
}

static int add_fd(struct qemu_proc *p, long v)
{
	for (unsigned int i = 0; i < p->nfds; i++)
		if (p->fds[i] == v)
			return 0;
	if (p->nfds == QEMU_FDS_MAX)
		return -E2BIG;
	p->fds[p->nfds++] = (int)v;
	return 0;
}

/*
 * The fds libvirt passed, named on the command line: fd=, vhostfd=,
 * fds=a:b, vhostfds=, in either syntax.
 */
static int scan_fds(struct qemu_proc *p, const char *arg)
{
	static const char *const keys[] = { "fd", "vhostfd", "fds", "vhostfds" };
	char v[256];

	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const char *s;

		if (!opt_value(arg, keys[k], v, sizeof(v)))
			continue;
		for (s = v; *s; ) {
			char *end;
			long n = strtol(s, &end, 10);

			if (end == s || n < 3 || n > 65535)
				break;
			if (add_fd(p, n))
				return -E2BIG;
			s = *end == ':' ? end + 1 : end;
			if (*end != ':')
				break;
		}
	}
	return 0;
}

static int add_addfd(struct qemu_proc *p, const char *arg)
{
	struct qemu_addfd *f = &p->addfd[p->naddfd];
	char v[32];

	if (p->naddfd == ARRAY_SIZE(p->addfd) ||
	    !opt_value(arg, "set", v, sizeof(v)))
		return -EINVAL;
	f->set = atoi(v);
	if (!opt_value(arg, "fd", v, sizeof(v)) || (f->fd = atoi(v)) < 3 ||
	    !opt_value(arg, "opaque", f->opaque, sizeof(f->opaque)))
		return -EINVAL;
	f->src = -1;
	p->naddfd++;
	return 0;
}

int qemu_addfd_resolve(struct qemu_proc *p, const char *fdsets, char *err,
		       size_t len)
{
	for (unsigned int i = 0; i < p->naddfd; i++) {
		struct qemu_addfd *f = &p->addfd[i];
		char key[96];
		const char *o, *fd;

		/* {"fd": 14, "opaque": "serial0-source"}: fd comes first. */
		snprintf(key, sizeof(key), "\"opaque\": \"%s\"", f->opaque);
		o = strstr(fdsets, key);
		for (fd = o; fd && fd > fdsets && strncmp(fd, "\"fd\":", 5); fd--)
			;
		if (!o || !fd || strncmp(fd, "\"fd\":", 5))
			return snprintf(err, len, "the old QEMU has no fd %s in its fdsets",
					f->opaque), -ENOENT;
		f->src = atoi(fd + 5);
	}
	return 0;
}

/*
 * What an earlier upgrade added to the command line: -incoming, and the
 * private monitor on an fd that is long closed. Never carried on.
 */
static bool ours(const struct qemu_proc *p, int i)
{
	const char *a = p->argv[i], *prev = p->argv[i - 1];

	return strcmp(a, "-incoming") == 0 || strcmp(prev, "-incoming") == 0 ||
	       ((strcmp(a, "-chardev") == 0 || strcmp(a, "-mon") == 0) &&
		i + 1 < p->argc && strstr(p->argv[i + 1], "migrd-qmp")) ||
	       ((strcmp(prev, "-chardev") == 0 || strcmp(prev, "-mon") == 0) &&
		strstr(a, "migrd-qmp"));
}

int qemu_proc_read(pid_t pid, struct qemu_proc *p, char *err, size_t len)
{
	char path[64], *buf, v[64];
	size_t n;
	int r;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	r = slurp(path, &buf, &n);
	if (r)
		return snprintf(err, len, "cannot read %s: %s", path,
				strerror(-r)), r;
	for (size_t i = 0; i < n; i++)
		p->argc += buf[i] == '\0';
	p->argv = calloc((size_t)p->argc + 1, sizeof(char *));
	if (!p->argv) {
		free(buf);
		return -ENOMEM;
	}
	for (size_t i = 0, a = 0; i < n; i += strlen(buf + i) + 1)
		p->argv[a++] = buf + i;
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	r = slurp(path, &p->env, &p->envlen);
	if (r)
		return snprintf(err, len, "cannot read %s: %s", path,
				strerror(-r)), r;
	for (int i = 1; i < p->argc; i++) {
		const char *a = p->argv[i];
		struct qemu_backend *b;

		if (ours(p, i))
			continue;

		if (strcmp(p->argv[i - 1], "-add-fd") == 0) {
			if (add_addfd(p, a))
				return snprintf(err, len, "cannot read -add-fd %s",
						a), -EINVAL;
			continue;
		}
		if (scan_fds(p, a))
			return snprintf(err, len, "QEMU was passed more than %d fds",
					QEMU_FDS_MAX), -E2BIG;
		if (strcmp(p->argv[i - 1], "-object") ||
		    (!is_memfd_backend(a) && upgraded_backend(a) < 0))
			continue;
		if (p->nbe == MIG_REGIONS_MAX)
			return snprintf(err, len, "too many memory backends"),
				-E2BIG;
		b = &p->be[p->nbe];
		if (!opt_value(a, "id", b->id, sizeof(b->id)) ||
		    !opt_value(a, "size", v, sizeof(v)) ||
		    mig_parse_u64(v, &b->size))
			return snprintf(err, len, "memory backend without id or size: %s",
					a), -EINVAL;
		if (!opt_value(a, "share", v, sizeof(v)) ||
		    (strcmp(v, "true") && strcmp(v, "on")))
			return snprintf(err, len, "memory backend %s is not shared (share=on): a new QEMU could not use its memory; use <access mode='shared'/>",
					b->id), -EINVAL;
		b->arg = i;
		b->fd = upgraded_backend(a);
		if (b->fd >= 0 && !is_memfd(pid, b->fd, b->size))
			return snprintf(err, len, "memory backend %s's fd %d is not a memfd of %llu bytes",
					b->id, b->fd, (unsigned long long)b->size),
				-EINVAL;
		if (b->fd < 0 && find_memfd(pid, b->size, p, &b->fd))
			return snprintf(err, len, "no memfd of %llu bytes for memory backend %s in pid %d",
					(unsigned long long)b->size, b->id,
					pid), -ENOENT;
		p->nbe++;
	}
	if (!p->nbe)
		return snprintf(err, len, "the domain's RAM is not a memfd (memory-backend-memfd): use <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"),
			-EINVAL;
	return 0;
}

void qemu_proc_free(struct qemu_proc *p)
{
	if (p->argv)
		free(p->argv[0]);
	free(p->argv);
	free(p->env);
	p->argv = NULL;
	p->env = NULL;
}

/* A memfd backend as a file backend on /proc/self/fd/N. */
static char *file_backend(const char *arg, int fd)
{
	static const char *const memfd_only[] = { "seal", "hugetlb",
						  "hugetlbsize" };
	size_t n = strlen(arg) + 128;
	char *out = malloc(n), *p;

	if (!out)
		return NULL;
	if (arg[0] == '{') {
		const char *t = strstr(arg, "memory-backend-memfd");
		size_t pre = (size_t)(t - arg);

		snprintf(out, n, "%.*smemory-backend-file%s", (int)pre, arg,
			 t + 20);
		/* Drop what only a memfd backend knows. */
		for (size_t k = 0; k < ARRAY_SIZE(memfd_only); k++) {
			char key[32];

			snprintf(key, sizeof(key), ",\"%s\":", memfd_only[k]);
			p = strstr(out, key);
			if (p) {
				char *e = p + strlen(key);

				e += strcspn(e, ",}");
				memmove(p, e, strlen(e) + 1);
			}
		}
		p = strrchr(out, '}');
		snprintf(p, n - (size_t)(p - out),
			 ",\"mem-path\":\"/proc/self/fd/%d\"}", fd);
	} else {
		snprintf(out, n, "memory-backend-file%s", arg + 20);
		for (size_t k = 0; k < ARRAY_SIZE(memfd_only); k++) {
			char key[32];

			snprintf(key, sizeof(key), ",%s=", memfd_only[k]);
			p = strstr(out, key);
			if (p) {
				char *e = p + 1 + strcspn(p + 1, ",");

				memmove(p, e, strlen(e) + 1);
			}
		}
		p = out + strlen(out);
		snprintf(p, n - (size_t)(p - out), ",mem-path=/proc/self/fd/%d",
			 fd);
	}
	return out;
}

static bool no_acpi(const struct qemu_proc *p)
{
	for (int i = 1; i < p->argc; i++)
		if (strcmp(p->argv[i], "-no-acpi") == 0)
			return true;
	return false;
}

/* A fresh memfd backend of the same id and size. */
static char *fresh_backend(const struct qemu_backend *b)
{
	char *out;

	if (asprintf(&out, "{\"qom-type\":\"memory-backend-memfd\",\"id\":\"%s\",\"share\":true,\"x-use-canonical-path-for-ramblock-id\":false,\"size\":%llu}",
		     b->id, (unsigned long long)b->size) < 0)
		return NULL;
	return out;
}

char **qemu_new_argv(const struct qemu_proc *p, const char *emulator,
		     int qmp_fd, bool copy)
{
	char **v = calloc((size_t)p->argc + 8, sizeof(char *));
	int n = 0;

	if (!v)
		return NULL;
	v[n++] = strdup(emulator);
	for (int i = 1; i < p->argc; i++) {
		const struct qemu_backend *b = NULL;

		if (ours(p, i))
			continue;
		/* The old QEMU holds the pid file's lock; we write it. */
		if (strcmp(p->argv[i], "-pidfile") == 0) {
			i++;
			continue;
		}
		for (unsigned int k = 0; k < p->nbe; k++)
			if (p->be[k].arg == i)
				b = &p->be[k];
		/* Removed in QEMU 9: the machine property says the same. */
		if (strcmp(p->argv[i], "-no-acpi") == 0)
			continue;
		if (i > 1 && strcmp(p->argv[i - 1], "-machine") == 0 &&
		    no_acpi(p)) {
			if (asprintf(&v[n++], "%s,acpi=off", p->argv[i]) < 0)
				v[n - 1] = NULL;
			continue;
		}
		if (b && copy)
			v[n++] = fresh_backend(b);
		else
			v[n++] = b && upgraded_backend(p->argv[i]) < 0 ?
				file_backend(p->argv[i], b->fd) :
				strdup(p->argv[i]);
	}
	v[n++] = strdup("-incoming");
	v[n++] = strdup("defer");
	v[n++] = strdup("-chardev");
	if (asprintf(&v[n++], "socket,id=migrd-qmp,fd=%d", qmp_fd) < 0)
		v[n - 1] = NULL;
	v[n++] = strdup("-mon");
	v[n++] = strdup("chardev=migrd-qmp,mode=control");
	for (int i = 0; i < n; i++)
		if (!v[i]) {
			for (int k = 0; k < n; k++)
				free(v[k]);
			free(v);
			return NULL;
		}
	return v;
}
