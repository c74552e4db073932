// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Zeroing guest memory before it goes to another VM identity. The punch
 * frees the pages (they read back as zero); the check makes "zeroed" a
 * fact migrd observed rather than a syscall's return value, because a
 * mapping that still writes into the file while we punch would refill it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig-private.h"

#define CHUNK (1ULL << 30)	/* checked a GiB at a time */
#define PAGE 4096ULL

/* 1 if any page of [off, off + len) is in the file's page cache. */
static int chunk_resident(int fd, uint64_t off, uint64_t len,
			  unsigned char *vec)
{
	void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	int r = 0;

	if (p == MAP_FAILED)
		return -errno;
	if (mincore(p, len, vec) < 0)
		r = -errno;
	for (uint64_t i = 0; !r && i < len / PAGE; i++)
		if (vec[i] & 1)
			r = 1;
	munmap(p, len);
	return r;
}

static int check_unmapped(int fd, uint64_t size)
{
	unsigned char *vec = malloc(CHUNK / PAGE);
	int r = 0;

	if (!vec)
		return -ENOMEM;
	for (uint64_t off = 0; !r && off < size; off += CHUNK) {
		uint64_t len = size - off < CHUNK ? size - off : CHUNK;

		r = chunk_resident(fd, off, (len + PAGE - 1) & ~(PAGE - 1),
				   vec);
	}
	free(vec);
	/* Not mappable (gmem without GUEST_MEMFD_FLAG_MMAP): the host
	 * cannot read it either, so there is nothing more to look at. */
	if (r == -ENODEV || r == -EINVAL || r == -EACCES)
		return 0;
	return r > 0 ? -EIO : r;
}

MIG_EXPORT int mig_gmem_zero(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size == 0)
		return 0;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      st.st_size) < 0)
		return -errno;
	/* shmem counts its pages in st_blocks; anon gmem reports 0. */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_blocks)
		return -EIO;
	return check_unmapped(fd, (uint64_t)st.st_size);
}
