/* SPDX-License-Identifier: MIT */
/* One line per meaningful event, to stderr (with a timestamp) or syslog. */
#include "hv.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static bool log_syslog;
static int log_verbosity;

void hv_log_init(const struct hv_config *cfg)
{
	log_syslog = cfg->use_syslog;
	log_verbosity = cfg->verbosity;
	if (log_syslog)
		openlog("v4vd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void hv_log(int level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level == HV_LOG_DEBUG && log_verbosity < 1)
		return;
	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(prio[level], fmt, ap);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld v4vd %s: ", when,
			ts.tv_nsec / 1000000, tag[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
