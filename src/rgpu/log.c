/* SPDX-License-Identifier: MIT */
#include "rgpu/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *prog = "rgpu";
static int verbosity;

void rgpu_log_init(const char *program, int verbose)
{
	prog = program;
	verbosity = verbose;
}

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One fprintf per line: stdio's lock keeps concurrent sessions'
	 * lines whole. */
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000000, prog, line);
}

void rgpu_log(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 0)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void rgpu_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity <= 0)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
