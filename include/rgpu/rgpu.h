/* SPDX-License-Identifier: MIT */
/*
 * librgpu: a small CUDA-runtime-like API to a GPU in another domain,
 * reached through rgpu-server over V4V or TCP (see docs/rgpu.md).
 *
 * The first call connects to $RGPU_SERVER ("v4v:DOMAIN:PORT",
 * "tcp:HOST:PORT" or "local" for an in-process backend), unless
 * rgpu_connect was called.  All calls are thread-safe and serialized on
 * the one connection of the process.  Device pointers are opaque 64-bit
 * handles: pointer arithmetic inside one allocation works (ptr + offset),
 * but they mean nothing outside the session that made them.
 */
#ifndef RGPU_RGPU_H
#define RGPU_RGPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Also the status codes of the wire protocol (docs/rgpu-protocol.md). */
typedef enum rgpu_error {
	RGPU_SUCCESS = 0,
	RGPU_ERR_INVALID_VALUE = 1,	  /* bad argument, range or size */
	RGPU_ERR_MEMORY_ALLOCATION = 2,	  /* device or server memory */
	RGPU_ERR_INVALID_DEVICE_POINTER = 3, /* not a pointer of this session */
	RGPU_ERR_INVALID_DEVICE = 4,
	RGPU_ERR_NO_DEVICE = 5,
	RGPU_ERR_INVALID_PTX = 6,	  /* module rejected; see the log */
	RGPU_ERR_NOT_FOUND = 7,		  /* no such kernel in the module */
	RGPU_ERR_LAUNCH_FAILED = 8,
	RGPU_ERR_NOT_SUPPORTED = 9,
	RGPU_ERR_CONNECTION = 10,	  /* server unreachable or gone */
	RGPU_ERR_PROTOCOL = 11,		  /* malformed message */
	RGPU_ERR_BACKEND = 12,		  /* the device driver failed */
	RGPU_ERR_NO_SERVER = 13,	  /* $RGPU_SERVER unset or malformed */
	RGPU_ERR_INVALID_HANDLE = 14,	  /* not a module of this session */
	RGPU_ERR_LIMIT = 15,		  /* too many allocations or modules */
	RGPU_ERR_COUNT_
} rgpu_error_t;

typedef uint64_t rgpu_devptr_t;
typedef uint64_t rgpu_module_t;

struct rgpu_dim3 {
	uint32_t x, y, z;
};

struct rgpu_device_prop {
	char name[64];
	char backend[16]; /* "cpu" or "cuda" */
	uint64_t total_mem;
	int multiprocessors;
	int cc_major, cc_minor; /* 0.0 for the CPU backend */
	int max_threads_per_block;
};

/* A kernel argument: a device pointer (translated by the server) or a
 * plain value of 1 to 8 bytes, little-endian. */
enum { RGPU_ARG_VALUE = 0, RGPU_ARG_DEVPTR = 1 };
struct rgpu_arg {
	uint32_t kind;
	uint32_t size;
	uint64_t value; /* the pointer, or the value's bytes */
};
struct rgpu_arg rgpu_arg_ptr(rgpu_devptr_t p);
struct rgpu_arg rgpu_arg_u32(uint32_t v);
struct rgpu_arg rgpu_arg_f32(float v);

/* Connect to `spec` (NULL: $RGPU_SERVER), closing any earlier session;
 * everything allocated there is gone. */
rgpu_error_t rgpu_connect(const char *spec);
void rgpu_disconnect(void);
/* Bytes per pipelined chunk asked of the server at connect (0: its
 * default); also $RGPU_CHUNK_SIZE. */
void rgpu_set_chunk_size(size_t bytes);
/* Connections a large copy (1 MiB or more per connection) is split over,
 * each with a ring, a server thread and a device stream of its own (1 to
 * 16; 0: $RGPU_LANES, else one per four cores, at most four), asked of
 * the server at connect, which may grant fewer (rgpu-server
 * --max-lanes). */
void rgpu_set_lanes(unsigned n);
/* "cpu" or "cuda" once connected, else "". */
const char *rgpu_backend_name(void);

rgpu_error_t rgpu_get_device_count(int *count);
rgpu_error_t rgpu_get_device_properties(struct rgpu_device_prop *prop,
					int device);
rgpu_error_t rgpu_malloc(rgpu_devptr_t *ptr, size_t size);
rgpu_error_t rgpu_free(rgpu_devptr_t ptr);
/* Host memory the device copies to and from fastest: pinned (page-locked)
 * on the local transport with CUDA; ordinary page-aligned memory over the
 * network, where the server's side of the copy is what is pinned.  Free
 * it with rgpu_host_free, which also works after rgpu_disconnect. */
rgpu_error_t rgpu_host_alloc(void **ptr, size_t size);
rgpu_error_t rgpu_host_free(void *ptr);
rgpu_error_t rgpu_memcpy_htod(rgpu_devptr_t dst, const void *src, size_t n);
rgpu_error_t rgpu_memcpy_dtoh(void *dst, rgpu_devptr_t src, size_t n);
rgpu_error_t rgpu_memset(rgpu_devptr_t ptr, int value, size_t n);
rgpu_error_t rgpu_device_synchronize(void);
/* Load a module of PTX text.  On RGPU_ERR_INVALID_PTX the JIT's error log
 * is copied into `log` (NUL-terminated) when given. */
rgpu_error_t rgpu_module_load(rgpu_module_t *mod, const char *ptx, char *log,
			      size_t logsize);
rgpu_error_t rgpu_module_unload(rgpu_module_t mod);
rgpu_error_t rgpu_launch_kernel(rgpu_module_t mod, const char *name,
				struct rgpu_dim3 grid, struct rgpu_dim3 block,
				uint32_t shared_bytes,
				const struct rgpu_arg *args, unsigned nargs);

const char *rgpu_error_name(rgpu_error_t e);
const char *rgpu_error_string(rgpu_error_t e);

/* The kernels shipped with rgpu, as PTX text (sm_80, PTX ISA 7.0). */
const char *rgpu_shipped_ptx(void);

#ifdef __cplusplus
}
#endif

#endif
