/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libnftables's symbol table for lc_dl_open (nft-dl.h). */
#define LC_NFT_DL_IMPL
#include "src/runner/nft-dl.h"

LC_NFT_SYMBOLS(LC_DL_DEFINE)

static const char *const names[] = { LC_NFT_SYMBOLS(LC_DL_NAME) };
static void **const slots[] = { LC_NFT_SYMBOLS(LC_DL_SLOT) };

struct lc_dl_lib lc_nft_lib = {
	.soname = LC_NFT_SONAME,
	.needed_for = "port forwarding (nftables)",
	.package = "libnftables0",
	.names = names,
	.slots = slots,
	.n = ELEMENTSOF(names),
};
