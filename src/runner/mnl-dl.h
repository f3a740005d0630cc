/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libmnl, loaded on first use (src/basic/dlopen-lib.h): only a child with
 * a private network (network.c, netlink.c) needs it, so a plain `run` and
 * every other command start without it.  Include this instead of
 * <libmnl/libmnl.h>; a new mnl_*() call needs its name in the list and a
 * #define line.  Every call is made by run's parent (in the host's mount
 * namespace), never by the container's processes.
 */
#pragma once

#include <libmnl/libmnl.h>

#include "src/basic/dlopen-lib.h"

#define LC_MNL_SONAME "libmnl.so.0"

#define LC_MNL_SYMBOLS(X) \
	X(mnl_attr_get_str) X(mnl_attr_get_type) X(mnl_attr_get_u32) X(mnl_attr_nest_end) \
	X(mnl_attr_nest_start) X(mnl_attr_next) X(mnl_attr_ok) X(mnl_attr_parse_nested) \
	X(mnl_attr_put_strz) X(mnl_attr_put_u32) X(mnl_attr_validate) X(mnl_cb_run) \
	X(mnl_nlmsg_get_payload) X(mnl_nlmsg_get_payload_offset) X(mnl_nlmsg_get_payload_tail) \
	X(mnl_nlmsg_put_extra_header) X(mnl_nlmsg_put_header) X(mnl_socket_bind) X(mnl_socket_close) \
	X(mnl_socket_get_portid) X(mnl_socket_open2) X(mnl_socket_recvfrom) X(mnl_socket_sendto)

LC_MNL_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_mnl_lib;

#ifndef LC_MNL_DL_IMPL
#define mnl_attr_get_str LC_DL_CALL(lc_mnl_lib, mnl_attr_get_str)
#define mnl_attr_get_type LC_DL_CALL(lc_mnl_lib, mnl_attr_get_type)
#define mnl_attr_get_u32 LC_DL_CALL(lc_mnl_lib, mnl_attr_get_u32)
#define mnl_attr_nest_end LC_DL_CALL(lc_mnl_lib, mnl_attr_nest_end)
#define mnl_attr_nest_start LC_DL_CALL(lc_mnl_lib, mnl_attr_nest_start)
#define mnl_attr_next LC_DL_CALL(lc_mnl_lib, mnl_attr_next)
#define mnl_attr_ok LC_DL_CALL(lc_mnl_lib, mnl_attr_ok)
#define mnl_attr_parse_nested LC_DL_CALL(lc_mnl_lib, mnl_attr_parse_nested)
#define mnl_attr_put_strz LC_DL_CALL(lc_mnl_lib, mnl_attr_put_strz)
#define mnl_attr_put_u32 LC_DL_CALL(lc_mnl_lib, mnl_attr_put_u32)
#define mnl_attr_validate LC_DL_CALL(lc_mnl_lib, mnl_attr_validate)
#define mnl_cb_run LC_DL_CALL(lc_mnl_lib, mnl_cb_run)
#define mnl_nlmsg_get_payload LC_DL_CALL(lc_mnl_lib, mnl_nlmsg_get_payload)
#define mnl_nlmsg_get_payload_offset LC_DL_CALL(lc_mnl_lib, mnl_nlmsg_get_payload_offset)
#define mnl_nlmsg_get_payload_tail LC_DL_CALL(lc_mnl_lib, mnl_nlmsg_get_payload_tail)
#define mnl_nlmsg_put_extra_header LC_DL_CALL(lc_mnl_lib, mnl_nlmsg_put_extra_header)
#define mnl_nlmsg_put_header LC_DL_CALL(lc_mnl_lib, mnl_nlmsg_put_header)
#define mnl_socket_bind LC_DL_CALL(lc_mnl_lib, mnl_socket_bind)
#define mnl_socket_close LC_DL_CALL(lc_mnl_lib, mnl_socket_close)
#define mnl_socket_get_portid LC_DL_CALL(lc_mnl_lib, mnl_socket_get_portid)
#define mnl_socket_open2 LC_DL_CALL(lc_mnl_lib, mnl_socket_open2)
#define mnl_socket_recvfrom LC_DL_CALL(lc_mnl_lib, mnl_socket_recvfrom)
#define mnl_socket_sendto LC_DL_CALL(lc_mnl_lib, mnl_socket_sendto)
#endif
