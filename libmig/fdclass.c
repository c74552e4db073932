// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What an fd really is. A peer's word is not enough: migrd asks the kernel
 * about every fd it is handed, through what the fd reads back as in
 * /proc/self/fd plus fstat() and fstatfs(), which a peer cannot forge.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kvm-uapi.h"
#include "mig-private.h"

MIG_EXPORT const char *mig_fd_kind_name(enum mig_fd_kind kind)
{
	switch (kind) {
	case MIG_FD_GMEM:
		return "gmem";
	case MIG_FD_MEMFD:
		return "memfd";
	case MIG_FD_KVM_VM:
		return "kvm-vm";
	case MIG_FD_OTHER:
		break;
	}
	return "other";
}

static enum mig_fd_kind kind_of(const char *link, const struct stat *st,
				const struct statfs *sfs)
{
	if ((unsigned long)sfs->f_type == ANON_INODE_FS_MAGIC) {
		if (strcmp(link, KVM_GMEM_LINK_NAME) == 0 &&
		    S_ISREG(st->st_mode))
			return MIG_FD_GMEM;
		if (strcmp(link, KVM_VM_LINK_NAME) == 0)
			return MIG_FD_KVM_VM;
		return MIG_FD_OTHER;
	}
	/* memfd_create() names its files "/memfd:NAME (deleted)". */
	if (((unsigned long)sfs->f_type == TMPFS_MAGIC ||
	     (unsigned long)sfs->f_type == HUGETLBFS_MAGIC) &&
	    S_ISREG(st->st_mode) && strncmp(link, "/memfd:", 7) == 0)
		return MIG_FD_MEMFD;
	return MIG_FD_OTHER;
}

MIG_EXPORT int mig_fd_classify(int fd, struct mig_fd_info *info)
{
	char path[64], link[256];
	struct statfs sfs;
	struct stat st;
	ssize_t n;
	int fl;

	memset(info, 0, sizeof(*info));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
		return -errno;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';

	info->kind = kind_of(link, &st, &sfs);
	info->size = (uint64_t)st.st_size;
	info->ino = st.st_ino;
	info->writable = (fl & O_ACCMODE) == O_RDWR;
	return 0;
}
