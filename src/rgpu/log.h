/* SPDX-License-Identifier: MIT */
/* Log lines on standard error: "PROGRAM: message". */
#ifndef RGPU_LOG_H
#define RGPU_LOG_H

/* verbose: 0 normal, 1 with debug lines, -1 silent (the fuzzer). */
void rgpu_log_init(const char *program, int verbose);
void rgpu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with --verbose. */
void rgpu_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
