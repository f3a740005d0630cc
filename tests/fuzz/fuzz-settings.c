/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the settings-file parser: whatever the bytes, parsing
 * either fails cleanly or yields settings that serialise and parse back to
 * the same text.   make fuzz && build-fuzz/fuzz-settings -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/store/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings *s = NULL, *again = NULL;
	struct lc_err err = { "" };
	if (settings_parse((const char *)data, size, "fuzz", &s, &err) < 0)
		return 0;
	char *text = settings_to_string(s);
	if (!text || settings_parse(text, strlen(text), "again", &again, &err) < 0)
		abort();
	char *text2 = settings_to_string(again);
	if (!text2 || strcmp(text, text2) != 0)
		abort();
	free(text);
	free(text2);
	settings_free(s);
	settings_free(again);
	return 0;
}
