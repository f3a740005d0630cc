/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk and file-system images as import sources: what libblkid finds in a
 * file (a partition table or a bare file system), which partition is the
 * root, and a read-only loop mount of it in a private mount namespace.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/basic/macro.h"

#define IMAGE_TYPE_MAX 40

struct image_part {
	unsigned number;              /* as the partition table numbers it (1-based) */
	uint64_t offset, size;        /* bytes */
	char type[IMAGE_TYPE_MAX];    /* GPT type UUID (lower case), or MBR "0x83" */
	char fstype[IMAGE_TYPE_MAX];  /* what libblkid found in it; "" for nothing */
};

struct image_info {
	char pttype[16];              /* "gpt", "dos", ... ; "" for a bare file system */
	char fstype[IMAGE_TYPE_MAX];  /* the root file system's type */
	uint64_t offset, size;        /* of the root file system inside the file, bytes */
	unsigned partno;              /* 0: the whole file is the file system */
	uint64_t file_size;
};

/*
 * Probe the regular file path with libblkid.  1 and *ret filled when it is a
 * disk image whose root partition could be chosen, or a file system image;
 * 0 when libblkid recognises nothing (it may be a tarball); -errno with err
 * set when it is an image that cannot be imported (no or several root
 * candidates, vfat, a partition past the end of the file, ...).
 */
int image_probe(const char *path, struct image_info *ret, struct lc_err *err);

/* A file system type a base's tree can come from (owners, modes, symlinks, device nodes). */
bool image_fstype_is_root(const char *fstype);

/* The Discoverable Partitions Specification's root partition type UUID of this architecture, or NULL. */
const char *image_root_type(void);

/*
 * The root partition among parts: the one of GPT type root_type (NULL: none
 * for this architecture), else the only one holding a Linux root file
 * system.  Returns its index, or -errno with err naming the partitions when
 * there is none, more than one, or it extends past file_size.
 */
int image_choose_partition(const struct image_part *parts, size_t n, const char *root_type, uint64_t file_size,
			   struct lc_err *err);

/*
 * Mount the image's root file system read-only (a loop device libmount sets
 * up with autoclear) in a forked process's private mount namespace, at a
 * fresh directory below workdir, and return a descriptor of its root.  The
 * process exits at once: the mount is then reachable only through that
 * descriptor (and /proc/self/fd/N paths), in no mount table, and goes with
 * it, taking the loop device along; a kill at any moment leaves nothing
 * mounted or attached.  Returns the descriptor, or -errno with err set.
 */
int image_open_root(const char *path, const struct image_info *img, const char *workdir, struct lc_err *err);

/* Memory the forked process of image_open_root() writes and its parent reads; NULL on failure. */
void *image_shared_alloc(size_t size);
void image_shared_free(void *p, size_t size);
