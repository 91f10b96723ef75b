/* SPDX-License-Identifier: MIT */
/*
 * Integration-test harness: start a private v4vd, run domains as forked
 * processes, read the hypervisor's state, stop it.
 *
 * Each domain is a child process that has not used V4V before the fork, so
 * it becomes a new domain on first use.  The test process itself only
 * opens control (non-domain) connections.
 */
#ifndef V4V_TEST_HARNESS_H
#define V4V_TEST_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"

struct hv_proc {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
};

/* Start v4vd ($V4VD) with extra args, NULL-terminated, and --strict when
 * V4V_TEST_STRICT=1; sets V4V_SOCKET for everything started afterwards. */
void hv_start(struct hv_proc *hv, const char *const *extra);
/* Stop v4vd with `sig` (SIGTERM: a clean exit; SIGKILL: a crash) and
 * start a new one on the same socket path. */
void hv_restart(struct hv_proc *hv, int sig, const char *const *extra);
/* SIGTERM and wait; returns v4vd's exit status (-1 if it crashed). */
int hv_stop(struct hv_proc *hv);
bool hv_alive(const struct hv_proc *hv);
/* Fail the test binary (and kill v4vd) if it runs past `seconds`. */
void hv_watchdog(const struct hv_proc *hv, unsigned seconds);

/* Run fn(arg) in a new process (a new domain); returns its pid. */
pid_t dom_spawn(int (*fn)(void *), void *arg);
/* Wait for a domain process; its exit status, or 128+signal. */
int dom_wait(pid_t pid);

/* Fetch one LIST kind into malloc'd records (control connection). */
int hv_fetch(uint32_t what, void **recs, uint32_t *n);
bool hv_counters(struct v4vp_rec_hv *out);
/* Number of open descriptors and resident KiB of a process. */
int proc_fds(pid_t pid);
long proc_rss_kb(pid_t pid);

/* A pipe-based barrier between parent and child processes. */
struct gate {
	int fd[2];
};
void gate_init(struct gate *g);
void gate_open(struct gate *g, uint32_t value);
uint32_t gate_wait(struct gate *g);

/* Run fn(gates) in a new domain; once it opens gates->up, restart v4vd
 * (`sig`, then a new one), then open gates->again.  Returns what
 * dom_wait says of fn. */
struct restart_gates {
	struct gate up, again;
};
int dom_across_restart(struct hv_proc *hv, int (*fn)(void *), int sig);

uint64_t now_ns(void);

#endif
