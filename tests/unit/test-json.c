/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* src/json.c: nesting, commas and string escaping. */
#include "tests/unit/test.h"
#include "src/json.h"

static char *render(void (*fn)(struct json *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json j;
	json_init(&j, f);
	j.pretty = false;
	fn(&j);
	fclose(f);
	return buf;
}

static void doc(struct json *j)
{
	json_begin_object(j);
	json_kv_string(j, "a", "x\"y\\z\n");
	json_key(j, "list");
	json_begin_array(j);
	json_int(j, -1);
	json_uint(j, 2);
	json_bool(j, true);
	json_null(j);
	json_begin_object(j);
	json_end_object(j);
	json_end_array(j);
	json_kv_string(j, "bytes", "ok\xc3\xa9\xff\x01");
	json_kv_string(j, "none", NULL);
	json_end_object(j);
}

TEST(document)
{
	char *s = render(doc);
	CHECK_STREQ(s, "{\"a\":\"x\\\"y\\\\z\\n\",\"list\":[-1,2,true,null,{}],"
		       "\"bytes\":\"ok\xc3\xa9\\u00ff\\u0001\",\"none\":null}");
	free(s);
}

TEST_MAIN()
