/* SPDX-License-Identifier: MIT */
/* The stream benchmark: transports and their operations. */
#ifndef V4V_SBENCH_H
#define V4V_SBENCH_H

#include "bench.h"

struct stransport {
	const char *name;
	const char *what;
	/* Once per run, in the parent; nonzero skips the transport. */
	int (*prepare)(void);
	void (*cleanup)(void);
	/* In each child before any socket: 'a' client, 'b' server. */
	int (*enter)(char side);
	int (*listen)(struct bench_addr *a);
	int (*accept)(int lfd);
	int (*dial)(const struct bench_addr *a);
	ssize_t (*send)(int fd, const void *buf, size_t len);
	ssize_t (*recv)(int fd, void *buf, size_t len);
};

extern const struct stransport st_v4v, st_v4v_strict, st_unix, st_tcp,
	st_generic;

/* generic.c */
int generic_setup(void);
void generic_teardown(void);
int generic_enter(char side);
const char *generic_server_addr(void);

#endif
