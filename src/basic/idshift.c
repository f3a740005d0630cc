/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "src/basic/idshift.h"

/* include/uapi/linux/posix_acl_xattr.h: little-endian on disk and in the xattr API. */
#define ACL_XATTR_VERSION 2
#define ACL_TAG_USER      0x02
#define ACL_TAG_GROUP     0x08

int lc_posix_acl_shift(void *value, size_t len, uint32_t from, uint32_t count, uint32_t to)
{
	unsigned char *p = value;
	uint32_t version;
	int moved = 0;
	if (len < 4 || (len - 4) % 8 != 0)
		return -EINVAL;
	memcpy(&version, p, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return -EINVAL;
	for (size_t off = 4; off < len; off += 8) {
		uint16_t tag;
		uint32_t id;
		memcpy(&tag, p + off, 2);
		memcpy(&id, p + off + 4, 4);
		tag = le16toh(tag);
		id = le32toh(id);
		if (tag != ACL_TAG_USER && tag != ACL_TAG_GROUP)
			continue;
		if (id < from || (uint64_t)id >= (uint64_t)from + count)
			continue;
		id = htole32(id - from + to);
		memcpy(p + off + 4, &id, 4);
		moved++;
	}
	return moved;
}
