/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libarchive, loaded with dlopen() the first time an import needs it.
 *
 * Debian's libarchive pulls in libxml2, ICU, libstdc++, nettle and five
 * compressors: linking it made every layerctl command (`run` included) pay
 * ~2 ms of dynamic loading for the one command that reads archives.  systemd
 * loads its optional libraries the same way.  Include this after <archive.h>
 * and <archive_entry.h>: the library's own prototypes type the pointers, and
 * each name below then calls through its pointer.
 */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#define LC_ARCHIVE_SONAME "libarchive.so.13"

#define LC_ARCHIVE_SYMBOLS(X)                                                                           \
	X(archive_entry_atime) X(archive_entry_atime_is_set) X(archive_entry_atime_nsec)                 \
	X(archive_entry_copy_hardlink) X(archive_entry_copy_pathname) X(archive_entry_dev)               \
	X(archive_entry_filetype) X(archive_entry_free) X(archive_entry_hardlink) X(archive_entry_ino64) \
	X(archive_entry_linkify) X(archive_entry_linkresolver_free) X(archive_entry_linkresolver_new)    \
	X(archive_entry_linkresolver_set_strategy) X(archive_entry_mtime) X(archive_entry_mtime_is_set)  \
	X(archive_entry_mtime_nsec) X(archive_entry_new) X(archive_entry_pathname) X(archive_entry_size) \
	X(archive_errno) X(archive_error_string) X(archive_free) X(archive_read_data_block)              \
	X(archive_read_disk_can_descend) X(archive_read_disk_descend) X(archive_read_disk_new)           \
	X(archive_read_disk_open) X(archive_read_disk_set_behavior)                                      \
	X(archive_read_disk_set_symlink_physical) X(archive_read_new) X(archive_read_next_header)        \
	X(archive_read_next_header2) X(archive_read_open_filename) X(archive_read_support_filter_all)    \
	X(archive_read_support_format_tar) X(archive_write_close) X(archive_write_data_block)            \
	X(archive_write_disk_new) X(archive_write_disk_set_options) X(archive_write_finish_entry)        \
	X(archive_write_header) X(archive_write_new) X(archive_write_set_format_pax_restricted)          \
	X(archive_write_add_filter_by_name) X(archive_write_open_filename) X(archive_write_data)          \
	X(archive_read_data)

#define LC_ARCHIVE_DECLARE(s) extern __typeof__(&s) sym_##s;
LC_ARCHIVE_SYMBOLS(LC_ARCHIVE_DECLARE)
#undef LC_ARCHIVE_DECLARE

/* Load the library and resolve every symbol; 0, or -errno with *err set. */
struct lc_err;
int archive_dl_open(struct lc_err *err);

#ifndef LC_ARCHIVE_DL_IMPL
/* From here on, archive_foo(...) calls (*sym_archive_foo)(...). */
#define archive_entry_atime (*sym_archive_entry_atime)
#define archive_entry_atime_is_set (*sym_archive_entry_atime_is_set)
#define archive_entry_atime_nsec (*sym_archive_entry_atime_nsec)
#define archive_entry_copy_hardlink (*sym_archive_entry_copy_hardlink)
#define archive_entry_copy_pathname (*sym_archive_entry_copy_pathname)
#define archive_entry_dev (*sym_archive_entry_dev)
#define archive_entry_filetype (*sym_archive_entry_filetype)
#define archive_entry_free (*sym_archive_entry_free)
#define archive_entry_hardlink (*sym_archive_entry_hardlink)
#define archive_entry_ino64 (*sym_archive_entry_ino64)
#define archive_entry_linkify (*sym_archive_entry_linkify)
#define archive_entry_linkresolver_free (*sym_archive_entry_linkresolver_free)
#define archive_entry_linkresolver_new (*sym_archive_entry_linkresolver_new)
#define archive_entry_linkresolver_set_strategy (*sym_archive_entry_linkresolver_set_strategy)
#define archive_entry_mtime (*sym_archive_entry_mtime)
#define archive_entry_mtime_is_set (*sym_archive_entry_mtime_is_set)
#define archive_entry_mtime_nsec (*sym_archive_entry_mtime_nsec)
#define archive_entry_new (*sym_archive_entry_new)
#define archive_entry_pathname (*sym_archive_entry_pathname)
#define archive_entry_size (*sym_archive_entry_size)
#define archive_errno (*sym_archive_errno)
#define archive_error_string (*sym_archive_error_string)
#define archive_free (*sym_archive_free)
#define archive_read_data_block (*sym_archive_read_data_block)
#define archive_read_disk_can_descend (*sym_archive_read_disk_can_descend)
#define archive_read_disk_descend (*sym_archive_read_disk_descend)
#define archive_read_disk_new (*sym_archive_read_disk_new)
#define archive_read_disk_open (*sym_archive_read_disk_open)
#define archive_read_disk_set_behavior (*sym_archive_read_disk_set_behavior)
#define archive_read_disk_set_symlink_physical (*sym_archive_read_disk_set_symlink_physical)
#define archive_read_new (*sym_archive_read_new)
#define archive_read_next_header (*sym_archive_read_next_header)
#define archive_read_next_header2 (*sym_archive_read_next_header2)
#define archive_read_open_filename (*sym_archive_read_open_filename)
#define archive_read_support_filter_all (*sym_archive_read_support_filter_all)
#define archive_read_support_format_tar (*sym_archive_read_support_format_tar)
#define archive_write_close (*sym_archive_write_close)
#define archive_write_data_block (*sym_archive_write_data_block)
#define archive_write_disk_new (*sym_archive_write_disk_new)
#define archive_write_disk_set_options (*sym_archive_write_disk_set_options)
#define archive_write_finish_entry (*sym_archive_write_finish_entry)
#define archive_write_header (*sym_archive_write_header)
#define archive_write_new (*sym_archive_write_new)
#define archive_write_set_format_pax_restricted (*sym_archive_write_set_format_pax_restricted)
#define archive_write_add_filter_by_name (*sym_archive_write_add_filter_by_name)
#define archive_write_open_filename (*sym_archive_write_open_filename)
#define archive_write_data (*sym_archive_write_data)
#define archive_read_data (*sym_archive_read_data)
#endif
