/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend: the NVIDIA driver API, loaded with dlopen at run time
 * so that nothing needs the CUDA toolkit to build.  All sessions share
 * device 0's primary context; each has its own non-blocking stream, on
 * which every one of its operations runs in order, and one event per
 * staging slot.
 */
#include "rgpu/backend.h"
#include "rgpu/cuda_drv.h"
#include "rgpu/log.h"
#include "rgpu/wire.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X(name, ret, params) ret(*name) params;
static struct {
	RGPU_CUDA_SYMBOLS(X)
} drv;
#undef X

static CUdevice device;
static CUcontext primary;

struct rgpu_bsess {
	CUstream st;
	CUevent ev[RGPU_MAX_SLOTS];
};

struct rgpu_bmod {
	CUmodule m;
};

static const char *cu_str(CUresult r)
{
	const char *s = NULL;

	if (drv.cuGetErrorString && drv.cuGetErrorString(r, &s) == 0 && s)
		return s;
	return "unknown CUDA error";
}

/* Map a driver error to ours, and log it: the client only sees the
 * code, the operator needs the driver's words. */
static int cu_err(CUresult r, const char *what)
{
	if (r == CUDA_SUCCESS)
		return 0;
	rgpu_log("cuda: %s failed: %s (%d)", what, cu_str(r), r);
	switch (r) {
	case CUDA_ERROR_OUT_OF_MEMORY:
		return RGPU_ERR_MEMORY_ALLOCATION;
	case CUDA_ERROR_INVALID_PTX:
		return RGPU_ERR_INVALID_PTX;
	case CUDA_ERROR_NOT_FOUND:
		return RGPU_ERR_NOT_FOUND;
	case CUDA_ERROR_INVALID_VALUE:
		return RGPU_ERR_INVALID_VALUE;
	case CUDA_ERROR_LAUNCH_FAILED:
	case CUDA_ERROR_ILLEGAL_ADDRESS:
		return RGPU_ERR_LAUNCH_FAILED;
	default:
		return RGPU_ERR_BACKEND;
	}
}

/* Sessions are served by several threads: make the primary context
 * current on whichever thread calls (a thread-local setting, cheap). */
static int bind_ctx(void)
{
	return cu_err(drv.cuCtxSetCurrent(primary), "cuCtxSetCurrent");
}

static int load_symbols(void *lib, char *why, size_t whysz)
{
#define X(name, ret, params)                                                  \
	*(void **)&drv.name = dlsym(lib, #name);                               \
	if (!drv.name) {                                                       \
		snprintf(why, whysz, "the driver library lacks %s", #name);    \
		return RGPU_ERR_BACKEND;                                       \
	}
	RGPU_CUDA_SYMBOLS(X)
#undef X
	return 0;
}

int rgpu_cuda_init(char *why, size_t whysz)
{
	const char *path = getenv("RGPU_CUDA_LIBRARY");
	void *lib;
	CUresult r;
	int n = 0;

	if (primary)
		return 0;
	if (!path || !*path)
		path = "libcuda.so.1";
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		snprintf(why, whysz, "cannot load %s: %s", path, dlerror());
		return RGPU_ERR_NO_DEVICE;
	}
	if (load_symbols(lib, why, whysz))
		return RGPU_ERR_BACKEND;
	if ((r = drv.cuInit(0)) != CUDA_SUCCESS) {
		snprintf(why, whysz, "cuInit: %s", cu_str(r));
		return RGPU_ERR_NO_DEVICE;
	}
	if ((r = drv.cuDeviceGetCount(&n)) != CUDA_SUCCESS || n < 1) {
		snprintf(why, whysz, "no CUDA device (%s)",
			 r ? cu_str(r) : "count 0");
		return RGPU_ERR_NO_DEVICE;
	}
	if ((r = drv.cuDeviceGet(&device, 0)) != CUDA_SUCCESS ||
	    (r = drv.cuDevicePrimaryCtxRetain(&primary, device)) !=
		    CUDA_SUCCESS) {
		snprintf(why, whysz, "device 0: %s", cu_str(r));
		primary = NULL;
		return RGPU_ERR_BACKEND;
	}
	return 0;
}

/* Only device 0 is served: one server per GPU keeps sessions simple. */
static int cuda_device_count(void)
{
	return 1;
}

static int cuda_props(int dev, struct rgpu_device_prop *p)
{
	size_t mem = 0;
	int rc;

	if (dev != 0)
		return RGPU_ERR_INVALID_DEVICE;
	memset(p, 0, sizeof(*p));
	snprintf(p->backend, sizeof(p->backend), "cuda");
	rc = cu_err(drv.cuDeviceGetName(p->name, (int)sizeof(p->name) - 1,
					device), "cuDeviceGetName");
	rc = rc ? rc : cu_err(drv.cuDeviceTotalMem_v2(&mem, device),
			      "cuDeviceTotalMem_v2");
	rc = rc ? rc : cu_err(drv.cuDeviceGetAttribute(&p->multiprocessors,
				CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
			      "cuDeviceGetAttribute");
	rc = rc ? rc : cu_err(drv.cuDeviceGetAttribute(&p->cc_major,
				CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
			      "cuDeviceGetAttribute");
	rc = rc ? rc : cu_err(drv.cuDeviceGetAttribute(&p->cc_minor,
				CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
			      "cuDeviceGetAttribute");
	rc = rc ? rc : cu_err(drv.cuDeviceGetAttribute(&p->max_threads_per_block,
				CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, device),
			      "cuDeviceGetAttribute");
	p->total_mem = mem;
	return rc;
}

static void cuda_sess_close(struct rgpu_bsess *s)
{
	if (bind_ctx() == 0) {
		if (s->st)
			drv.cuStreamSynchronize(s->st);
		for (int i = 0; i < RGPU_MAX_SLOTS; i++)
			if (s->ev[i])
				drv.cuEventDestroy_v2(s->ev[i]);
		if (s->st)
			drv.cuStreamDestroy_v2(s->st);
	}
	free(s);
}

static int cuda_sess_open(struct rgpu_bsess **out)
{
	struct rgpu_bsess *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return RGPU_ERR_MEMORY_ALLOCATION;
	rc = bind_ctx();
	rc = rc ? rc : cu_err(drv.cuStreamCreate(&s->st, CU_STREAM_NON_BLOCKING),
			      "cuStreamCreate");
	for (int i = 0; i < RGPU_MAX_SLOTS && !rc; i++)
		rc = cu_err(drv.cuEventCreate(&s->ev[i], CU_EVENT_DISABLE_TIMING),
			    "cuEventCreate");
	if (rc) {
		cuda_sess_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int stream_sync(struct rgpu_bsess *s)
{
	return cu_err(drv.cuStreamSynchronize(s->st), "cuStreamSynchronize");
}

static int cuda_mem_alloc(struct rgpu_bsess *s, uint64_t size, uint64_t *addr)
{
	CUdeviceptr p = 0;
	int rc = bind_ctx();

	(void)s;
	rc = rc ? rc : cu_err(drv.cuMemAlloc_v2(&p, size ? size : 1),
			      "cuMemAlloc_v2");
	*addr = p;
	return rc;
}

static int cuda_mem_free(struct rgpu_bsess *s, uint64_t addr, uint64_t size)
{
	int rc = bind_ctx();

	(void)size;
	/* Work queued on our stream may still use it. */
	rc = rc ? rc : stream_sync(s);
	return rc ? rc : cu_err(drv.cuMemFree_v2(addr), "cuMemFree_v2");
}

static int cuda_memset(struct rgpu_bsess *s, uint64_t addr, int v, uint64_t n)
{
	int rc = bind_ctx();

	rc = rc ? rc : cu_err(drv.cuMemsetD8Async(addr, (unsigned char)v, n,
						  s->st), "cuMemsetD8Async");
	return rc ? rc : stream_sync(s);
}

static int cuda_htod(struct rgpu_bsess *s, uint64_t dst, const void *src,
		     uint64_t n)
{
	int rc = bind_ctx();

	rc = rc ? rc : cu_err(drv.cuMemcpyHtoDAsync_v2(dst, src, n, s->st),
			      "cuMemcpyHtoDAsync_v2");
	return rc ? rc : stream_sync(s);
}

static int cuda_dtoh(struct rgpu_bsess *s, void *dst, uint64_t src, uint64_t n)
{
	int rc = bind_ctx();

	rc = rc ? rc : cu_err(drv.cuMemcpyDtoHAsync_v2(dst, src, n, s->st),
			      "cuMemcpyDtoHAsync_v2");
	return rc ? rc : stream_sync(s);
}

static int cuda_stage_alloc(struct rgpu_bsess *s, size_t n, void **buf)
{
	int rc = bind_ctx();

	(void)s;
	*buf = NULL;
	return rc ? rc : cu_err(drv.cuMemHostAlloc(buf, n,
						   CU_MEMHOSTALLOC_PORTABLE),
				"cuMemHostAlloc");
}

static void cuda_stage_free(struct rgpu_bsess *s, void *buf)
{
	(void)s;
	if (buf && bind_ctx() == 0)
		cu_err(drv.cuMemFreeHost(buf), "cuMemFreeHost");
}

/* Portable: sessions run on several threads, all in the primary
 * context. */
static int cuda_host_register(struct rgpu_bsess *s, void *p, size_t n)
{
	int rc = bind_ctx();

	(void)s;
	return rc ? rc : cu_err(drv.cuMemHostRegister_v2(
				   p, n, CU_MEMHOSTREGISTER_PORTABLE),
			       "cuMemHostRegister_v2");
}

static void cuda_host_unregister(struct rgpu_bsess *s, void *p)
{
	if (bind_ctx() == 0) {
		stream_sync(s); /* nothing may still read or write it */
		cu_err(drv.cuMemHostUnregister(p), "cuMemHostUnregister");
	}
}

static int cuda_htod_async(struct rgpu_bsess *s, int slot, uint64_t dst,
			   const void *src, uint64_t n)
{
	int rc = bind_ctx();

	rc = rc ? rc : cu_err(drv.cuMemcpyHtoDAsync_v2(dst, src, n, s->st),
			      "cuMemcpyHtoDAsync_v2");
	return rc ? rc : cu_err(drv.cuEventRecord(s->ev[slot], s->st),
				"cuEventRecord");
}

static int cuda_dtoh_async(struct rgpu_bsess *s, int slot, void *dst,
			   uint64_t src, uint64_t n)
{
	int rc = bind_ctx();

	rc = rc ? rc : cu_err(drv.cuMemcpyDtoHAsync_v2(dst, src, n, s->st),
			      "cuMemcpyDtoHAsync_v2");
	return rc ? rc : cu_err(drv.cuEventRecord(s->ev[slot], s->st),
				"cuEventRecord");
}

static int cuda_slot_wait(struct rgpu_bsess *s, int slot)
{
	int rc = bind_ctx();

	return rc ? rc : cu_err(drv.cuEventSynchronize(s->ev[slot]),
				"cuEventSynchronize");
}

static int cuda_sync(struct rgpu_bsess *s)
{
	int rc = bind_ctx();

	return rc ? rc : stream_sync(s);
}

static int cuda_module_load(struct rgpu_bsess *s, const char *ptx,
			    struct rgpu_bmod **mod, char *log, size_t logsz)
{
	CUjit_option opt[2] = { CU_JIT_ERROR_LOG_BUFFER,
				CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
	void *val[2] = { log, (void *)(uintptr_t)logsz };
	struct rgpu_bmod *m = calloc(1, sizeof(*m));
	CUresult r;
	int rc = bind_ctx();

	(void)s;
	if (!m)
		return RGPU_ERR_MEMORY_ALLOCATION;
	if (logsz)
		log[0] = '\0';
	if (rc == 0) {
		r = drv.cuModuleLoadDataEx(&m->m, ptx, 2, opt, val);
		rc = cu_err(r, "cuModuleLoadDataEx");
	}
	if (logsz)
		log[logsz - 1] = '\0';
	if (rc) {
		free(m);
		return rc;
	}
	*mod = m;
	return 0;
}

static void cuda_module_unload(struct rgpu_bsess *s, struct rgpu_bmod *m)
{
	if (bind_ctx() == 0) {
		stream_sync(s);
		cu_err(drv.cuModuleUnload(m->m), "cuModuleUnload");
	}
	free(m);
}

static int cuda_launch(struct rgpu_bsess *s, struct rgpu_bmod *m,
		       const char *name, const struct rgpu_launch_cfg *c,
		       const struct rgpu_karg *args, unsigned nargs)
{
	/* devctx.c has checked nargs and every size against the kernel's
	 * signature in the PTX, so the driver reads only what is here. */
	uint64_t vals[RGPU_MAX_ARGS];
	void *params[RGPU_MAX_ARGS + 1];
	CUfunction f;
	int rc = bind_ctx();

	for (unsigned i = 0; i < nargs && i < RGPU_MAX_ARGS; i++) {
		vals[i] = args[i].value; /* little-endian: narrower values
					  * are its first bytes */
		params[i] = &vals[i];
	}
	params[nargs] = NULL;
	rc = rc ? rc : cu_err(drv.cuModuleGetFunction(&f, m->m, name),
			      "cuModuleGetFunction");
	return rc ? rc : cu_err(drv.cuLaunchKernel(f, c->grid.x, c->grid.y,
						   c->grid.z, c->block.x,
						   c->block.y, c->block.z,
						   c->shared_bytes, s->st,
						   params, NULL),
				"cuLaunchKernel");
}

const struct rgpu_backend rgpu_backend_cuda = {
	.name = "cuda",
	.device_count = cuda_device_count,
	.props = cuda_props,
	.sess_open = cuda_sess_open,
	.sess_close = cuda_sess_close,
	.mem_alloc = cuda_mem_alloc,
	.mem_free = cuda_mem_free,
	.memset = cuda_memset,
	.htod = cuda_htod,
	.dtoh = cuda_dtoh,
	.stage_alloc = cuda_stage_alloc,
	.stage_free = cuda_stage_free,
	.htod_async = cuda_htod_async,
	.dtoh_async = cuda_dtoh_async,
	.slot_wait = cuda_slot_wait,
	.host_register = cuda_host_register,
	.host_unregister = cuda_host_unregister,
	.sync = cuda_sync,
	.module_load = cuda_module_load,
	.module_unload = cuda_module_unload,
	.launch = cuda_launch,
};
