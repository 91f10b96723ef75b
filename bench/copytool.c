/* SPDX-License-Identifier: MIT */
#include "copytool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <getopt.h>
#include <unistd.h>

double copy_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void copy_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		strerror(errno));
	_exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double copy_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

size_t copy_parse_size(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || !v || v > (64ul << 20)) {
		fprintf(stderr, "%s: bad size '%s' (1 to 64M)\n",
			program_invocation_short_name, s);
		exit(2);
	}
	return v;
}

int copy_options(int argc, char **argv, struct copy_opts *o, int max_pairs,
		 void (*usage)(FILE *), int *rc)
{
	int c;

	while ((c = getopt(argc, argv, "p:s:r:h")) != -1) {
		switch (c) {
		case 'p': o->pairs = atoi(optarg); break;
		case 's': o->secs = atof(optarg); break;
		case 'r': o->reps = atoi(optarg); break;
		case 'h': usage(stdout); *rc = 0; return -1;
		default: usage(stderr); *rc = 2; return -1;
		}
	}
	if (optind == argc || o->pairs < 1 || o->pairs > max_pairs ||
	    o->reps < 1 || o->reps > 15 || !(o->secs > 0) || o->secs > 60) {
		usage(stderr);
		*rc = 2;
		return -1;
	}
	return optind;
}

void copy_medians(double (*run)(int mode, size_t len, int pairs, double secs),
		  int nmodes, size_t len, const struct copy_opts *o,
		  double *med)
{
	for (int m = 0; m < nmodes; m++) {
		double r[15];

		for (int k = 0; k < o->reps; k++)
			r[k] = run(m, len, o->pairs, o->secs);
		med[m] = copy_median(r, o->reps);
	}
}
