/* SPDX-License-Identifier: MIT */
/*
 * What the copy measurements (singlecopy, strictcopy) share: the clock,
 * dying with a message, a median, and message sizes with K and M.
 */
#ifndef V4V_BENCH_COPYTOOL_H
#define V4V_BENCH_COPYTOOL_H

#include <stddef.h>
#include <stdio.h>

struct copy_opts {
	int pairs, reps;	/* -p, -r */
	double secs;		/* -s */
};

/* Seconds on the monotonic clock. */
double copy_now(void);
/* "PROG: WHAT: strerror(errno)", then _exit(1) (safe in a child). */
void copy_die(const char *what);
/* The median of n values (sorts them). */
double copy_median(double *v, int n);
/* 1 to 64M with an optional K or M; exits 2 with a message if not. */
size_t copy_parse_size(const char *s);
/* -p PAIRS (1 to max_pairs), -s SECONDS (over 0, at most 60), -r REPS (1
 * to 15), -h; defaults as *o comes.  Returns the index of the first SIZE,
 * or -1 with *rc the exit status (0 after -h, 2 for bad usage). */
int copy_options(int argc, char **argv, struct copy_opts *o, int max_pairs,
		 void (*usage)(FILE *), int *rc);
/* med[m]: the median over o->reps runs of run(m, len, ...), each mode. */
void copy_medians(double (*run)(int mode, size_t len, int pairs, double secs),
		  int nmodes, size_t len, const struct copy_opts *o,
		  double *med);

#endif
