/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmount, loaded on first use (src/basic/dlopen-lib.h says why and how).
 * Include this instead of <libmount.h>: every mnt_*() below then calls
 * through a pointer that loads libmount.so.1 (and libblkid, libselinux and
 * libpcre2 with it) the first time.  A new mnt_*() call needs its name in
 * the list and a #define line.  `run` loads it in its parent, before any
 * clone (runner_clone_into_namespaces).
 */
#pragma once

#include <libmount.h>

#include "src/basic/dlopen-lib.h"

#define LC_MOUNT_SONAME "libmount.so.1"

#define LC_MOUNT_SYMBOLS(X) \
	X(mnt_context_disable_canonicalize) X(mnt_context_disable_helpers) X(mnt_context_disable_mtab) \
	X(mnt_context_get_excode) X(mnt_context_get_syscall_errno) X(mnt_context_mount) \
	X(mnt_context_set_fstype) X(mnt_context_set_options) X(mnt_context_set_source) \
	X(mnt_context_set_target) X(mnt_context_syscall_called) X(mnt_context_umount) X(mnt_free_context) \
	X(mnt_free_iter) X(mnt_fs_get_comment) X(mnt_fs_get_freq) X(mnt_fs_get_fs_options) \
	X(mnt_fs_get_fstype) X(mnt_fs_get_option) X(mnt_fs_get_options) X(mnt_fs_get_passno) \
	X(mnt_fs_get_root) X(mnt_fs_get_source) X(mnt_fs_get_target) X(mnt_fs_set_freq) \
	X(mnt_fs_set_fstype) X(mnt_fs_set_options) X(mnt_fs_set_passno) X(mnt_fs_set_source) \
	X(mnt_fs_set_target) X(mnt_new_context) X(mnt_new_fs) X(mnt_new_iter) X(mnt_new_table) \
	X(mnt_new_table_from_file) X(mnt_optstr_next_option) X(mnt_split_optstr) X(mnt_table_add_fs) \
	X(mnt_table_enable_comments) X(mnt_table_find_mountpoint) X(mnt_table_find_target) \
	X(mnt_table_first_fs) X(mnt_table_get_intro_comment) X(mnt_table_get_trailing_comment) \
	X(mnt_table_get_userdata) X(mnt_table_next_fs) X(mnt_table_parse_fstab) X(mnt_table_parse_stream) \
	X(mnt_table_set_parser_errcb) X(mnt_table_set_userdata) X(mnt_table_write_file) X(mnt_unref_fs) \
	X(mnt_unref_table)

LC_MOUNT_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_mount_lib;

#ifndef LC_MOUNT_DL_IMPL
#define mnt_context_disable_canonicalize LC_DL_CALL(lc_mount_lib, mnt_context_disable_canonicalize)
#define mnt_context_disable_helpers LC_DL_CALL(lc_mount_lib, mnt_context_disable_helpers)
#define mnt_context_disable_mtab LC_DL_CALL(lc_mount_lib, mnt_context_disable_mtab)
#define mnt_context_get_excode LC_DL_CALL(lc_mount_lib, mnt_context_get_excode)
#define mnt_context_get_syscall_errno LC_DL_CALL(lc_mount_lib, mnt_context_get_syscall_errno)
#define mnt_context_mount LC_DL_CALL(lc_mount_lib, mnt_context_mount)
#define mnt_context_set_fstype LC_DL_CALL(lc_mount_lib, mnt_context_set_fstype)
#define mnt_context_set_options LC_DL_CALL(lc_mount_lib, mnt_context_set_options)
#define mnt_context_set_source LC_DL_CALL(lc_mount_lib, mnt_context_set_source)
#define mnt_context_set_target LC_DL_CALL(lc_mount_lib, mnt_context_set_target)
#define mnt_context_syscall_called LC_DL_CALL(lc_mount_lib, mnt_context_syscall_called)
#define mnt_context_umount LC_DL_CALL(lc_mount_lib, mnt_context_umount)
#define mnt_free_context LC_DL_CALL(lc_mount_lib, mnt_free_context)
#define mnt_free_iter LC_DL_CALL(lc_mount_lib, mnt_free_iter)
#define mnt_fs_get_comment LC_DL_CALL(lc_mount_lib, mnt_fs_get_comment)
#define mnt_fs_get_freq LC_DL_CALL(lc_mount_lib, mnt_fs_get_freq)
#define mnt_fs_get_fs_options LC_DL_CALL(lc_mount_lib, mnt_fs_get_fs_options)
#define mnt_fs_get_fstype LC_DL_CALL(lc_mount_lib, mnt_fs_get_fstype)
#define mnt_fs_get_option LC_DL_CALL(lc_mount_lib, mnt_fs_get_option)
#define mnt_fs_get_options LC_DL_CALL(lc_mount_lib, mnt_fs_get_options)
#define mnt_fs_get_passno LC_DL_CALL(lc_mount_lib, mnt_fs_get_passno)
#define mnt_fs_get_root LC_DL_CALL(lc_mount_lib, mnt_fs_get_root)
#define mnt_fs_get_source LC_DL_CALL(lc_mount_lib, mnt_fs_get_source)
#define mnt_fs_get_target LC_DL_CALL(lc_mount_lib, mnt_fs_get_target)
#define mnt_fs_set_freq LC_DL_CALL(lc_mount_lib, mnt_fs_set_freq)
#define mnt_fs_set_fstype LC_DL_CALL(lc_mount_lib, mnt_fs_set_fstype)
#define mnt_fs_set_options LC_DL_CALL(lc_mount_lib, mnt_fs_set_options)
#define mnt_fs_set_passno LC_DL_CALL(lc_mount_lib, mnt_fs_set_passno)
#define mnt_fs_set_source LC_DL_CALL(lc_mount_lib, mnt_fs_set_source)
#define mnt_fs_set_target LC_DL_CALL(lc_mount_lib, mnt_fs_set_target)
#define mnt_new_context LC_DL_CALL(lc_mount_lib, mnt_new_context)
#define mnt_new_fs LC_DL_CALL(lc_mount_lib, mnt_new_fs)
#define mnt_new_iter LC_DL_CALL(lc_mount_lib, mnt_new_iter)
#define mnt_new_table LC_DL_CALL(lc_mount_lib, mnt_new_table)
#define mnt_new_table_from_file LC_DL_CALL(lc_mount_lib, mnt_new_table_from_file)
#define mnt_optstr_next_option LC_DL_CALL(lc_mount_lib, mnt_optstr_next_option)
#define mnt_split_optstr LC_DL_CALL(lc_mount_lib, mnt_split_optstr)
#define mnt_table_add_fs LC_DL_CALL(lc_mount_lib, mnt_table_add_fs)
#define mnt_table_enable_comments LC_DL_CALL(lc_mount_lib, mnt_table_enable_comments)
#define mnt_table_find_mountpoint LC_DL_CALL(lc_mount_lib, mnt_table_find_mountpoint)
#define mnt_table_find_target LC_DL_CALL(lc_mount_lib, mnt_table_find_target)
#define mnt_table_first_fs LC_DL_CALL(lc_mount_lib, mnt_table_first_fs)
#define mnt_table_get_intro_comment LC_DL_CALL(lc_mount_lib, mnt_table_get_intro_comment)
#define mnt_table_get_trailing_comment LC_DL_CALL(lc_mount_lib, mnt_table_get_trailing_comment)
#define mnt_table_get_userdata LC_DL_CALL(lc_mount_lib, mnt_table_get_userdata)
#define mnt_table_next_fs LC_DL_CALL(lc_mount_lib, mnt_table_next_fs)
#define mnt_table_parse_fstab LC_DL_CALL(lc_mount_lib, mnt_table_parse_fstab)
#define mnt_table_parse_stream LC_DL_CALL(lc_mount_lib, mnt_table_parse_stream)
#define mnt_table_set_parser_errcb LC_DL_CALL(lc_mount_lib, mnt_table_set_parser_errcb)
#define mnt_table_set_userdata LC_DL_CALL(lc_mount_lib, mnt_table_set_userdata)
#define mnt_table_write_file LC_DL_CALL(lc_mount_lib, mnt_table_write_file)
#define mnt_unref_fs LC_DL_CALL(lc_mount_lib, mnt_unref_fs)
#define mnt_unref_table LC_DL_CALL(lc_mount_lib, mnt_unref_table)
#endif
