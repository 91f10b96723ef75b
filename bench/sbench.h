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

/* stransports.c: socket buffer and ring size of every transport. */
extern int sbench_buf_bytes;
int st_inet_listen_any(struct bench_addr *a);
/* The v4vd --strict the v4v-strict transport started (0: none). */
pid_t st_strict_pid(void);

/* generic.c */
int generic_setup(void);
void generic_teardown(void);
int generic_enter(char side);
const char *generic_server_addr(void);
/* One namespace per domain, all on one bridge (the aggregate benchmark). */
int generic_multi_setup(int ndom);
void generic_multi_teardown(int ndom);
int generic_multi_enter(int dom);
void generic_multi_addr(int dom, char *buf, size_t len);

#endif
