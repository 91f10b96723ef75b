/* SPDX-License-Identifier: MIT */
/*
 * A minimal test harness: each test binary is a list of functions; CHECK
 * records a failure with its location and goes on, so one run shows every
 * broken expectation.  The exit status is what meson reads: 0 pass,
 * 1 fail, 77 skip.
 */
#ifndef V4V_TEST_T_H
#define V4V_TEST_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed;

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",      \
				__FILE__, __LINE__, #cond);               \
			t_failed++;                                       \
		}                                                         \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long _a = (long long)(a), _b = (long long)(b);       \
		if (_a != _b) {                                           \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s"\
				" (%lld != %lld)\n", __FILE__, __LINE__,  \
				#a, #b, _a, _b);                          \
			t_failed++;                                       \
		}                                                         \
	} while (0)

/* Stop the whole binary: for set-up failures after which nothing works. */
#define REQUIRE(cond)                                                     \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n",    \
				__FILE__, __LINE__, #cond);               \
			exit(1);                                          \
		}                                                         \
	} while (0)

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_SKIP 77

static inline int t_run(const struct t_case *cases, int argc, char **argv)
{
	for (const struct t_case *c = cases; c->name; c++) {
		int before = t_failed;

		if (argc > 1 && strcmp(argv[1], c->name))
			continue;
		c->fn();
		printf("%s %s\n", t_failed == before ? "ok  " : "FAIL", c->name);
		fflush(stdout);
	}
	return t_failed ? 1 : 0;
}

#endif
