/* SPDX-License-Identifier: MIT */
/*
 * A device backend: the CPU one (really computes, on the host) or the CUDA
 * one (the NVIDIA driver, loaded at run time).  Addresses are the
 * backend's own (a host pointer or a CUdeviceptr); they never leave the
 * server.  Every function returns 0 or an rgpu_error_t; arguments have
 * been validated by devctx.c.
 *
 * Each client session gets its own `struct rgpu_bsess` (a stream and
 * copy slots).  A session is used by one thread at a time, but sessions
 * run concurrently.
 */
#ifndef RGPU_BACKEND_H
#define RGPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "rgpu/kernels.h"
#include "rgpu/rgpu.h"

/* Staging buffers per session: copy chunk k on the device while chunk
 * k+1 crosses the network. */
#define RGPU_MAX_SLOTS 3

struct rgpu_bsess;
struct rgpu_bmod;

struct rgpu_launch_cfg {
	struct rgpu_dim3 grid, block;
	uint32_t shared_bytes;
};

struct rgpu_backend {
	const char *name;
	int (*device_count)(void);
	int (*props)(int dev, struct rgpu_device_prop *out);

	int (*sess_open)(struct rgpu_bsess **out);
	void (*sess_close)(struct rgpu_bsess *s);

	int (*mem_alloc)(struct rgpu_bsess *s, uint64_t size, uint64_t *addr);
	int (*mem_free)(struct rgpu_bsess *s, uint64_t addr, uint64_t size);
	int (*memset)(struct rgpu_bsess *s, uint64_t addr, int value,
		      uint64_t n);
	/* Synchronous copies (the local transport). */
	int (*htod)(struct rgpu_bsess *s, uint64_t dst, const void *src,
		    uint64_t n);
	int (*dtoh)(struct rgpu_bsess *s, void *dst, uint64_t src, uint64_t n);

	/* Pinned staging buffers and copies through them that complete
	 * asynchronously; slot_wait(slot) waits for the last copy queued on
	 * that slot. */
	int (*stage_alloc)(struct rgpu_bsess *s, size_t n, void **buf);
	void (*stage_free)(struct rgpu_bsess *s, void *buf);
	int (*htod_async)(struct rgpu_bsess *s, int slot, uint64_t dst,
			  const void *src, uint64_t n);
	int (*dtoh_async)(struct rgpu_bsess *s, int slot, void *dst,
			  uint64_t src, uint64_t n);
	int (*slot_wait)(struct rgpu_bsess *s, int slot);
	/* Make host memory (a connection's ring) a source and target of
	 * the asynchronous copies, as staging buffers are: pinned for DMA.
	 * NULL where any host memory will do (CPU). */
	int (*host_register)(struct rgpu_bsess *s, void *p, size_t n);
	void (*host_unregister)(struct rgpu_bsess *s, void *p);
	/* The host address of device memory, for backends whose memory the
	 * host can address (CPU); NULL for the others.  Copies then go
	 * straight between the connection and the device, as GPUDirect
	 * would: there is no DMA engine to stage for. */
	void *(*host_view)(struct rgpu_bsess *s, uint64_t addr);
	int (*sync)(struct rgpu_bsess *s);

	/* Load PTX text (NUL-terminated); on failure the JIT's log goes
	 * into log[logsz]. */
	int (*module_load)(struct rgpu_bsess *s, const char *ptx,
			   struct rgpu_bmod **mod, char *log, size_t logsz);
	void (*module_unload)(struct rgpu_bsess *s, struct rgpu_bmod *mod);
	/* Pointer arguments are resolved: value = backend address, avail =
	 * bytes up to the end of its allocation. */
	int (*launch)(struct rgpu_bsess *s, struct rgpu_bmod *mod,
		      const char *name, const struct rgpu_launch_cfg *cfg,
		      const struct rgpu_karg *args, unsigned nargs);
};

extern const struct rgpu_backend rgpu_backend_cpu;
extern const struct rgpu_backend rgpu_backend_cuda;

/* Initialize the CUDA backend: load the driver ($RGPU_CUDA_LIBRARY, else
 * libcuda.so.1), cuInit, find a device.  0, or an error with the reason
 * in why[whysz]. */
int rgpu_cuda_init(char *why, size_t whysz);

/* "cpu", "cuda" or "auto" (CUDA when a device is present, else CPU).
 * NULL with the reason in why[] when the one asked for cannot start;
 * with "auto", why[] says why CUDA was not picked. */
const struct rgpu_backend *rgpu_backend_pick(const char *which, char *why,
					     size_t whysz);

#endif
