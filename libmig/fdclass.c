// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What an fd really is. A peer's word is not enough: migrd asks the kernel
 * about every fd it is handed, through what the fd reads back as in
 * /proc/self/fd plus fstat() and fstatfs(), which a peer cannot forge.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/magic.h>
#include <linux/vhost.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* What the kernel says of fd: its /proc/self/fd link and its stat. */
static int fd_facts(int fd, char *link, size_t len, struct stat *st)
{
	char path[64];
	ssize_t n;

	if (fstat(fd, st) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, len - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	return 0;
}

/* mig_fd_classify(), and the link and stat it went by. */
static int classify(int fd, struct mig_fd_info *info, char *link, size_t len,
		    struct stat *st)
{
	struct statfs sfs;
	int fl, r;

	memset(info, 0, sizeof(*info));
	r = fd_facts(fd, link, len, st);
	if (r)
		return r;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstatfs(fd, &sfs) < 0)
		return -errno;
	info->kind = kind_of(link, st, &sfs);
	info->size = (uint64_t)st->st_size;
	info->ino = st->st_ino;
	info->writable = (fl & O_ACCMODE) == O_RDWR;
	return 0;
}

MIG_EXPORT int mig_fd_classify(int fd, struct mig_fd_info *info)
{
	char link[256];
	struct stat st;

	return classify(fd, info, link, sizeof(link), &st);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The name of the char driver that has @major, "" if none has it. */
static void char_driver(unsigned int major, char *name, size_t len)
{
	char line[128], drv[64];
	bool chars = false;
	unsigned int m;
	FILE *f = fopen("/proc/devices", "re");

	name[0] = '\0';
	while (f && !name[0] && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Character devices:", 18) == 0)
			chars = true;
		else if (strncmp(line, "Block devices:", 14) == 0)
			chars = false;
		else if (chars && sscanf(line, "%u %63s", &m, drv) == 2 &&
			 m == major)
			mig_strlcpy(name, drv, len);
	}
	if (f)
		fclose(f);
}

#define MISC_MAJOR	10
#define TUN_MINOR	200
#define VFIO_MINOR	196
#define VHOST_NET_MINOR	238
#define VHOST_VSOCK_MINOR 241

/*
 * A character device, known by its device number (not by the path it
 * was opened at, which a mount namespace can fake); tap and vhost also
 * answer an ioctl only they know (asked only of their own devices), so a
 * renamed /dev/null cannot pass for one.
 */
static enum mig_device_kind chardev_kind(int fd, dev_t rdev)
{
	bool misc = major(rdev) == MISC_MAJOR;
	struct stat iommu;
	struct ifreq ifr;
	uint64_t features;
	char drv[64];

	char_driver(major(rdev), drv, sizeof(drv));
	if (misc && minor(rdev) == TUN_MINOR)
		return ioctl(fd, TUNGETIFF, &ifr) == 0 ? MIG_DEVICE_TAP :
			MIG_DEVICE_OTHER;
	if ((misc && (minor(rdev) == VHOST_NET_MINOR ||
		      minor(rdev) == VHOST_VSOCK_MINOR)) ||
	    strcmp(drv, "vhost-vdpa") == 0)
		return ioctl(fd, VHOST_GET_FEATURES, &features) == 0 ?
			MIG_DEVICE_VHOST : MIG_DEVICE_OTHER;
	/* VFIO's container, a group or device cdev, or iommufd. */
	if ((misc && minor(rdev) == VFIO_MINOR) || strcmp(drv, "vfio") == 0 ||
	    strcmp(drv, "vfio-dev") == 0 ||
	    (stat("/dev/iommu", &iommu) == 0 && S_ISCHR(iommu.st_mode) &&
	     iommu.st_rdev == rdev))
		return MIG_DEVICE_VFIO;
	if (isatty(fd))
		return MIG_DEVICE_TTY;
	return MIG_DEVICE_OTHER;
}

MIG_EXPORT int mig_device_kind_of(int fd, enum mig_device_kind *kind)
{
	struct mig_fd_info fi;
	char link[256];
	struct stat st;
	int r = classify(fd, &fi, link, sizeof(link), &st);

	if (r)
		return r;
	/* Memory and KVM's own fds have rules of their own (regions, the
	 * VM fd): a device slot must not be a way around them. */
	if (fi.kind != MIG_FD_OTHER || has_prefix(link, "anon_inode:kvm") ||
	    strcmp(link, "/dev/kvm") == 0)
		return -EINVAL;
	if (strcmp(link, "anon_inode:[eventfd]") == 0)
		*kind = MIG_DEVICE_EVENTFD;
	else if (S_ISFIFO(st.st_mode))
		*kind = MIG_DEVICE_PIPE;
	else if (S_ISSOCK(st.st_mode))
		*kind = MIG_DEVICE_SOCKET;
	else if (S_ISCHR(st.st_mode))
		*kind = chardev_kind(fd, st.st_rdev);
	else
		*kind = MIG_DEVICE_OTHER;
	return 0;
}
