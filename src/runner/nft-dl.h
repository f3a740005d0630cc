/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libnftables, loaded on first use (src/basic/dlopen-lib.h): only `--port`
 * and `net gc` need it (nft.c).  Include this instead of
 * <nftables/libnftables.h>; a new nft_*() call needs its name in the list
 * and a #define line.
 */
#pragma once

#include <nftables/libnftables.h>

#include "src/basic/dlopen-lib.h"

#define LC_NFT_SONAME "libnftables.so.1"

#define LC_NFT_SYMBOLS(X) \
	X(nft_ctx_buffer_error) X(nft_ctx_buffer_output) X(nft_ctx_free) X(nft_ctx_get_error_buffer) \
	X(nft_ctx_get_output_buffer) X(nft_ctx_new) X(nft_run_cmd_from_buffer)

LC_NFT_SYMBOLS(LC_DL_DECLARE)
extern struct lc_dl_lib lc_nft_lib;

#ifndef LC_NFT_DL_IMPL
#define nft_ctx_buffer_error LC_DL_CALL(lc_nft_lib, nft_ctx_buffer_error)
#define nft_ctx_buffer_output LC_DL_CALL(lc_nft_lib, nft_ctx_buffer_output)
#define nft_ctx_free LC_DL_CALL(lc_nft_lib, nft_ctx_free)
#define nft_ctx_get_error_buffer LC_DL_CALL(lc_nft_lib, nft_ctx_get_error_buffer)
#define nft_ctx_get_output_buffer LC_DL_CALL(lc_nft_lib, nft_ctx_get_output_buffer)
#define nft_ctx_new LC_DL_CALL(lc_nft_lib, nft_ctx_new)
#define nft_run_cmd_from_buffer LC_DL_CALL(lc_nft_lib, nft_run_cmd_from_buffer)
#endif
