/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny unit-test harness.  Each tests/unit/test-*.c defines TEST(name)
 * functions and ends with TEST_MAIN().  A TEST registers itself (a
 * constructor adds it to the list), so no list of tests is written twice;
 * they run in the order they appear in the file.  Every test prints
 * "ok NAME" or "FAIL NAME"; tests/run counts those lines.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_;


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

static struct test_case_ test_cases_[256];
static size_t test_n_cases_;

static inline void test_register_(const char *name, void (*fn)(void))
{
	if (test_n_cases_ == sizeof(test_cases_) / sizeof(test_cases_[0])) {
		fprintf(stderr, "test.h: too many tests in one file\n");
		abort();
	}
	test_cases_[test_n_cases_++] = (struct test_case_){ name, fn };
}

/* Constructors run in definition order with GCC and clang alike. */
#define TEST(name)                                                                    \
	static void test_##name(void);                                                \
	__attribute__((constructor)) static void test_register_##name(void)          \
	{                                                                             \
		test_register_(#name, test_##name);                                   \
	}                                                                             \
	static void test_##name(void)

#define TEST_MAIN(...)                                                                 \
	int main(void)                                                                \
	{                                                                             \
		int failed = 0;                                                       \
		for (size_t i = 0; i < test_n_cases_; i++) {                          \
			test_failed_ = 0;                                             \
			test_cases_[i].fn();                                          \
			printf("%s %s\n", test_failed_ ? "FAIL" : "ok", test_cases_[i].name); \
			fflush(stdout);                                               \
			failed += test_failed_;                                       \
		}                                                                     \
		return failed ? 1 : 0;                                                \
	}
