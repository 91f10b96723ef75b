/* SPDX-License-Identifier: MIT */
/*
 * The shipped kernels: their PTX text, and CPU implementations with the
 * same semantics used by the CPU backend, the test double of libcuda and
 * rgpu-bench's reference check.
 */
#ifndef RGPU_KERNELS_H
#define RGPU_KERNELS_H

#include <stdint.h>

#include "rgpu/rgpu.h"

#define RGPU_SGEMM_NAME "rgpu_sgemm_tiled"
#define RGPU_STENCIL_NAME "rgpu_stencil5"
#define RGPU_SGEMM_TILE 16u

/* Generated from kernels.ptx at build time. */
extern const char rgpu_kernels_ptx[];

/* A launch argument resolved to host memory: for a device pointer,
 * `value` is a host address and `avail` the bytes from there to the end
 * of its allocation. */
struct rgpu_karg {
	uint32_t kind, size;
	uint64_t value;
	uint64_t avail;
};

/* Run shipped kernel `name` over the grid, as the GPU would: only output
 * elements covered by grid x block are written.  Every argument and every
 * range the kernel touches is checked first: RGPU_ERR_INVALID_VALUE,
 * RGPU_ERR_NOT_FOUND (not a shipped kernel), or 0. */
int rgpu_cpu_launch(const char *name, struct rgpu_dim3 grid,
		    struct rgpu_dim3 block, const struct rgpu_karg *args,
		    unsigned nargs, unsigned nthreads);

/* Check a launch of shipped kernel `name`: argument kinds and sizes, the
 * block shape it requires, and that every matrix it touches lies inside
 * its allocation.  Run for every backend: on a GPU an unchecked n would
 * let a kernel read other clients' memory. */
int rgpu_kernel_check(const char *name, struct rgpu_dim3 grid,
		      struct rgpu_dim3 block, const struct rgpu_karg *args,
		      unsigned nargs);

/* The kernels themselves over rows [0, rows) and columns [0, cols). */
void rgpu_cpu_sgemm(const float *a, const float *b, float *c, uint32_t n,
		    uint32_t rows, uint32_t cols, unsigned nthreads);
void rgpu_cpu_stencil5(const float *in, float *out, uint32_t n, float c0,
		       float c1, uint32_t rows, uint32_t cols);

#endif
