/* SPDX-License-Identifier: MIT */
/*
 * One client's view of the device: its allocations, its modules, and the
 * checks that keep it inside them.  Device pointers given to the client
 * are opaque handles, translated here and only here:
 *
 *   bits 63..40  key: 12 random bits, then the slot in this context's
 *                table (never 0)
 *   bits 39..0   offset into the allocation
 *
 * A pointer resolves only if its slot is in use with the same key and the
 * offset is inside the allocation, so a client can name nothing but its
 * own memory, and guessing a stale or forged key is detected.  A devctx
 * is used by one thread at a time.
 */
#ifndef RGPU_DEVCTX_H
#define RGPU_DEVCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgpu/backend.h"
#include "rgpu/wire.h"

#define RGPU_MAX_ALLOCS 4096u
#define RGPU_MAX_MODULES 16u
#define RGPU_OFFSET_BITS 40

struct devctx;

/* allow_any_ptx: load any PTX module, not only the shipped kernels (see
 * docs/rgpu.md: with CUDA, kernels run in the shared primary context). */
int devctx_open(const struct rgpu_backend *be, bool allow_any_ptx,
		struct devctx **out);
/* Frees every allocation and module of the client. */
void devctx_close(struct devctx *c);
const struct rgpu_backend *devctx_backend(const struct devctx *c);
struct rgpu_bsess *devctx_bsess(const struct devctx *c);

int devctx_malloc(struct devctx *c, uint64_t size, rgpu_devptr_t *out);
int devctx_free(struct devctx *c, rgpu_devptr_t p);
/* [p, p + n) as a backend address.  RGPU_ERR_INVALID_DEVICE_POINTER if p
 * is not inside an allocation of this context; RGPU_ERR_INVALID_VALUE if
 * the range runs past its end.  `avail`: bytes from p to the end. */
int devctx_resolve(const struct devctx *c, rgpu_devptr_t p, uint64_t n,
		   uint64_t *addr, uint64_t *avail);
int devctx_memset(struct devctx *c, rgpu_devptr_t p, int value, uint64_t n);
/* Synchronous copies, for the in-process ("local") transport. */
int devctx_htod(struct devctx *c, rgpu_devptr_t dst, const void *src,
		uint64_t n);
int devctx_dtoh(struct devctx *c, void *dst, rgpu_devptr_t src, uint64_t n);
int devctx_sync(struct devctx *c);

/* `ptx` is NUL-terminated.  On RGPU_ERR_INVALID_PTX, log[] says why. */
int devctx_module_load(struct devctx *c, const char *ptx, rgpu_module_t *out,
		       char *log, size_t logsz);
int devctx_module_unload(struct devctx *c, rgpu_module_t m);
/* Checks the module, the kernel name, the grid and block, and every
 * argument against the kernel's signature; translates pointers. */
int devctx_launch(struct devctx *c, const struct rgpu_launch_req *r);

/* True for the errors after which a server drops the session: the client
 * named memory or a module that is not its own. */
static inline bool rgpu_err_is_forgery(int e)
{
	return e == RGPU_ERR_INVALID_DEVICE_POINTER ||
	       e == RGPU_ERR_INVALID_HANDLE;
}

#endif
