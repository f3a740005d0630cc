/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How few fsyncs make a new directory durable (docs/durability.md).
 *
 * POSIX promises nothing about directory entries; Linux's fsync(2) says the
 * entry of a new file needs an fsync of its directory too.  Two file
 * systems give more, and `child create` relies on it to skip one fsync:
 *
 *   ext4 with a journal, xfs: an fsync commits the journal (log) up to the
 *     file's last change, and the journal is one ordered stream, so every
 *     metadata change made before it (mkdirs, attributes, names, the empty
 *     directories' own inodes and blocks) is durable with it.
 *
 * Everything else gets the fsync of the directory as well: btrfs (its fsync
 * logs single inodes), ext2's own driver, network file systems, and ext4
 * without a journal, whose fsync of a new file writes the parent directory's
 * blocks (ext4_sync_parent) but not the inodes of sibling directories.
 */
#pragma once

#include <stdbool.h>

/*
 * Does fsync() of a file just created in the new directory dirfd, after
 * every other entry of it was made, also make those entries and what they
 * name durable?  False when unsure.
 */
bool fsync_new_file_covers_new_dir(int dirfd);
