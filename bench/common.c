/* SPDX-License-Identifier: MIT */
/* What every benchmark needs: a clock, pinning, percentiles, size ranges. */
#include "bench.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

void bench_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void bench_stats(double *s, uint32_t n, double *p50, double *p99,
		 double *mean)
{
	double sum = 0;

	qsort(s, n, sizeof(double), cmp_double);
	for (uint32_t i = 0; i < n; i++)
		sum += s[i];
	*p50 = s[n / 2];
	*p99 = s[(size_t)((double)n * 0.99)];
	*mean = sum / n;
}

/* "MIN:MAX" with an optional K or M on MAX; MIN a power of two. */
bool bench_parse_sizes(const char *s, size_t limit, size_t *min, size_t *max)
{
	char *end;
	unsigned long lo = strtoul(s, &end, 10), hi;

	if (*end != ':')
		return false;
	hi = strtoul(end + 1, &end, 10);
	if (*end == 'K' || *end == 'M')
		hi <<= *end++ == 'K' ? 10 : 20;
	if (*end || !lo || lo > hi || hi > limit || (lo & (lo - 1)))
		return false;
	*min = lo;
	*max = hi;
	return true;
}

/* Is `name` an item of the comma-separated `list` (NULL lists all)? */
bool bench_listed(const char *list, const char *name)
{
	size_t len = strlen(name);

	if (!list)
		return true;
	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1
						      : NULL)
		if (!strncmp(p, name, len) && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

/* Sleep until bench_now_us() reads `us`. */
void bench_sleep_until(double us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1e6) };

	ts.tv_nsec = (long)((us - (double)ts.tv_sec * 1e6) * 1e3);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}
