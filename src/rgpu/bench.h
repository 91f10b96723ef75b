/* SPDX-License-Identifier: MIT */
/*
 * rgpu-bench: the remote-GPU experiment.  For each transport (v4v, tcp,
 * local), kernel (matmul, stencil) and size n, it copies the inputs to the
 * device, runs the kernel, copies the result back, times each step over
 * several repetitions, and checks the result against a CPU reference.
 */
#ifndef RGPU_BENCH_H
#define RGPU_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_SIZES 16
#define BENCH_MAX_RECS 256

/* local: in-process, pageable host memory; local-pinned: in-process,
 * host memory from rgpu_host_alloc (page-locked with CUDA). */
enum bench_transport { BT_V4V, BT_TCP, BT_LOCAL, BT_LOCAL_PINNED, BT_COUNT };
enum bench_kernel { BK_MATMUL, BK_STENCIL, BK_COUNT };

struct bench_cfg {
	uint32_t sizes[BENCH_MAX_SIZES];
	unsigned nsizes;
	bool transport[BT_COUNT];
	bool kernel[BK_COUNT];
	unsigned reps;
	uint32_t max_matmul; /* 0: 1024 on the CPU backend, else none */
	size_t chunk;	     /* 0: the server's default */
	unsigned staging;
	bool staged;
	bool no_zero_copy;   /* the server's --no-zero-copy */
	unsigned lanes;	     /* connections per remote client */
	const char *backend;
	const char *v4v_addr, *tcp_addr; /* servers to use; else spawn one */
	const char *server_bin;
	const char *json, *plot;
	bool verbose;
};

struct bench_rec {
	const char *transport;
	char backend[16];
	const char *kernel;
	uint32_t n;
	double htod_ms, kernel_ms, dtoh_ms; /* medians */
	bool ok;
};

struct bench_results {
	struct bench_rec rec[BENCH_MAX_RECS];
	unsigned n;
	unsigned failures; /* wrong results or failed steps */
};

extern const char *const bench_transport_name[BT_COUNT];
extern const char *const bench_kernel_name[BK_COUNT];

/* Run every kernel and size on the session rgpu_connect opened. */
void bench_run_transport(const struct bench_cfg *cfg, enum bench_transport t,
			 struct bench_results *res);

/* Start rgpu-server in its own domain, listening on V4V and TCP; fills
 * the two addresses ("v4v:D:P", "tcp:H:P").  0 or -1. */
int bench_spawn_server(const struct bench_cfg *cfg, char *v4v, size_t v4vsz,
		       char *tcp, size_t tcpsz);
void bench_stop_server(void);

void bench_print_table(const struct bench_results *res);
int bench_write_json(const char *path, const struct bench_results *res);
int bench_write_plot(const char *path, const struct bench_results *res);

void bench_progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
