/* SPDX-License-Identifier: MIT */
/*
 * What the copy measurements (singlecopy, strictcopy) share: the clock,
 * dying with a message, a median, and message sizes with K and M.
 */
#ifndef V4V_BENCH_COPYTOOL_H
#define V4V_BENCH_COPYTOOL_H

#include <stddef.h>

/* Seconds on the monotonic clock. */
double copy_now(void);
/* "PROG: WHAT: strerror(errno)", then _exit(1) (safe in a child). */
void copy_die(const char *what);
/* The median of n values (sorts them). */
double copy_median(double *v, int n);
/* 1 to 64M with an optional K or M; exits 2 with a message if not. */
size_t copy_parse_size(const char *s);

#endif
