/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny unit-test harness.  Each tests/unit/test-*.c defines TEST(name)
 * functions and ends with TEST_MAIN(list...).  Every test prints "ok NAME" or
 * "FAIL NAME"; tests/run counts those lines.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_;

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			test_failed_ = 1;                                             \
		}                                                                     \
	} while (0)

#define CHECK_STREQ(a, b)                                                             \
	do {                                                                          \
		const char *a_ = (a), *b_ = (b);                                      \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                              \
			fprintf(stderr, "  %s:%d: '%s' != '%s'\n", __FILE__, __LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
			test_failed_ = 1;                                             \
		}                                                                     \
	} while (0)

#define CHECK_INT(a, b)                                                               \
	do {                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                   \
		if (a_ != b_) {                                                       \
			fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
			test_failed_ = 1;                                             \
		}                                                                     \
	} while (0)

struct test_case_ {
	const char *name;
	void (*fn)(void);
};

#define T(name) { #name, test_##name }

#define TEST_MAIN(...)                                                                \
	int main(void)                                                                \
	{                                                                             \
		static const struct test_case_ cases[] = { __VA_ARGS__ };             \
		int failed = 0;                                                       \
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {       \
			test_failed_ = 0;                                             \
			cases[i].fn();                                                \
			printf("%s %s\n", test_failed_ ? "FAIL" : "ok", cases[i].name); \
			fflush(stdout);                                               \
			failed += test_failed_;                                       \
		}                                                                     \
		return failed ? 1 : 0;                                                \
	}
