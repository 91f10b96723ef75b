/* SPDX-License-Identifier: MIT */
/*
 * The benchmark harness: transports under test and the measurements made
 * of them, all in one run so that ratios compare like with like.
 */
#ifndef V4V_BENCH_H
#define V4V_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Where the server listens, passed from server to client process. */
struct bench_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct transport {
	const char *name;
	const char *what; /* one line for the table's legend */
	/* Server process: open and bind; fill *addr for the client. */
	int (*serve)(struct bench_addr *addr);
	/* Client process: open a socket that talks to addr. */
	int (*dial)(const struct bench_addr *addr);
	ssize_t (*sendto)(int fd, const void *buf, size_t len,
			  const struct bench_addr *to);
	ssize_t (*recvfrom)(int fd, void *buf, size_t len,
			    struct bench_addr *from);
	size_t max_msg;
};

extern const struct transport bench_v4v_dgram;
extern const struct transport bench_udp;
extern const struct transport bench_unix_dgram;

struct bench_result {
	const char *transport;
	size_t size;
	double p50_us, p99_us, mean_us;
	uint32_t iters;
};

/* common.c */
double bench_now_us(void);
void bench_sleep_until(double us);
void bench_pin(int cpu);
/* Sorts the samples; the median, 99th percentile and mean. */
void bench_stats(double *samples, uint32_t n, double *p50, double *p99,
		 double *mean);
bool bench_listed(const char *list, const char *name);
bool bench_parse_sizes(const char *s, size_t limit, size_t *min,
		       size_t *max);

int cmd_bench(int argc, char **argv);
int cmd_bench_dgram(int argc, char **argv);

#endif
