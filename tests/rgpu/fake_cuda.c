/* SPDX-License-Identifier: MIT */
/*
 * A test double of libcuda.so.1: the driver API entry points the CUDA
 * backend uses, over host memory, checking every call's arguments.  A call
 * that a real driver would refuse or that would corrupt memory is a
 * VIOLATION: the double says so and aborts, so the test that caused it
 * fails.  Asynchronous work is really deferred, per stream, until an event
 * or the stream is synchronized, so that a pipeline that reuses a staging
 * buffer too early copies the wrong bytes and is caught by the result
 * checks.  Shipped kernels run on the CPU (kernels_cpu.c).  Host memory
 * is pinned (cuMemHostAlloc), registered (cuMemHostRegister) or pageable;
 * each asynchronous copy's trace line says which its host side is, and
 * host memory may not be unregistered while a queued copy still uses it.
 *
 * $RGPU_FAKE_CUDA_DEVICES: device count (default 1; 0 for none).
 * $RGPU_FAKE_CUDA_TRACE: file that gets one line per call.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rgpu/cuda_drv.h"
#include "rgpu/kernels.h"
#include "rgpu/ptx_sig.h"

#define MAX_ALLOCS 4096
#define MAX_OPS 64
#define MAGIC_CTX 0xc7c7c7c7u
#define MAGIC_STREAM 0x57573737u
#define MAGIC_EVENT 0xe7e7e7e7u
#define MAGIC_MOD 0x30d30d30u

#define X(name, ret, params) ret name params __attribute__((visibility("default")));
RGPU_CUDA_SYMBOLS(X)
#undef X

struct CUctx_st {
	unsigned magic;
};

enum op_kind { OP_COPY, OP_MEMSET, OP_KERNEL };

struct op {
	enum op_kind kind;
	int reg; /* the registered region the host side is in, or -1 */
	uint64_t seq;
	void *dst;
	const void *src;
	size_t n;
	unsigned char value;
	/* kernels */
	char name[RGPU_MAX_NAME + 1];
	struct rgpu_dim3 grid, block;
	struct rgpu_karg args[RGPU_MAX_ARGS];
	unsigned nargs;
};

struct CUstream_st {
	unsigned magic;
	struct op ops[MAX_OPS];
	unsigned head, count;
	uint64_t next_seq;
};

struct CUevent_st {
	unsigned magic;
	struct CUstream_st *st;
	uint64_t seq; /* ops with seq < this precede the record */
};

struct CUfunc_st {
	struct CUmod_st *mod;
	const struct ptx_entry *e;
};

/* Functions live as long as their module, as in the driver. */
struct CUmod_st {
	unsigned magic;
	unsigned nentries;
	struct ptx_entry entries[16];
	struct CUfunc_st funcs[16];
};

struct region {
	uintptr_t p;
	size_t n;
	unsigned pending; /* queued copies using it (registered memory) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int initialized;
static struct CUctx_st primary = { MAGIC_CTX };
static int primary_refs;
static __thread CUcontext current;
static struct region dev[MAX_ALLOCS], pinned[MAX_ALLOCS],
	registered[MAX_ALLOCS];

static void violation(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fake libcuda: VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static void trace(const char *call)
{
	const char *path = getenv("RGPU_FAKE_CUDA_TRACE");
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s\n", call);
		fclose(f);
	}
}

/* Every call but cuInit and cuGetErrorString: initialized first. */
static void enter(const char *call)
{
	trace(call);
	if (!initialized)
		violation("%s before cuInit", call);
}

static void need_ctx(const char *call)
{
	enter(call);
	if (current != &primary)
		violation("%s with no current context on this thread", call);
}

static struct region *find(struct region *t, uintptr_t p, size_t n)
{
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (t[i].p && p >= t[i].p && p - t[i].p <= t[i].n &&
		    n <= t[i].n - (p - t[i].p))
			return &t[i];
	return NULL;
}

static void add(struct region *t, uintptr_t p, size_t n)
{
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (!t[i].p) {
			t[i] = (struct region){ p, n, 0 };
			return;
		}
	violation("too many allocations");
}

static void check_dev(uintptr_t p, size_t n, const char *call)
{
	pthread_mutex_lock(&mu);
	if (!find(dev, p, n))
		violation("%s: [0x%lx, +%zu) is not inside a device allocation",
			  call, (unsigned long)p, n);
	pthread_mutex_unlock(&mu);
}

static void check_stream(CUstream st, const char *call)
{
	if (!st || st->magic != MAGIC_STREAM)
		violation("%s: bad stream %p", call, (void *)st);
}

static bool overlaps(const struct region *r, uintptr_t p, size_t n)
{
	return r->p && p < r->p + r->n && r->p < p + n;
}

/* What the host side [p, +n) of an asynchronous copy is: "pinned",
 * "registered" (*reg: its region) or "pageable".  A range only partly
 * inside pinned or registered memory is a bug of the caller's. */
static const char *host_kind(const void *hp, size_t n, int *reg,
			     const char *call)
{
	uintptr_t p = (uintptr_t)hp;
	const char *kind = "pageable";

	*reg = -1;
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_ALLOCS; i++) {
		struct region *t[2] = { &pinned[i], &registered[i] };

		for (int k = 0; k < 2; k++) {
			if (!overlaps(t[k], p, n))
				continue;
			if (p < t[k]->p || p + n > t[k]->p + t[k]->n)
				violation("%s: host [0x%lx, +%zu) runs out of "
					  "%s memory", call, (unsigned long)p,
					  n, k ? "registered" : "pinned");
			kind = k ? "registered" : "pinned";
			if (k) {
				*reg = i;
				t[k]->pending++;
			}
		}
	}
	pthread_mutex_unlock(&mu);
	return kind;
}

static void run_op(struct op *o)
{
	int rc;

	switch (o->kind) {
	case OP_COPY:
		memcpy(o->dst, o->src, o->n);
		if (o->reg >= 0) {
			pthread_mutex_lock(&mu);
			registered[o->reg].pending--;
			pthread_mutex_unlock(&mu);
		}
		break;
	case OP_MEMSET:
		memset(o->dst, o->value, o->n);
		break;
	case OP_KERNEL:
		rc = rgpu_cpu_launch(o->name, o->grid, o->block, o->args,
				     o->nargs, 2);
		if (rc)
			violation("kernel %s launched with arguments it "
				  "cannot take (%d)", o->name, rc);
		break;
	}
}

/* The device makes progress: run queued work up to sequence `upto`. */
static void drain(CUstream st, uint64_t upto)
{
	while (st->count && st->ops[st->head].seq < upto) {
		run_op(&st->ops[st->head]);
		st->head = (st->head + 1) % MAX_OPS;
		st->count--;
	}
}

static void push(CUstream st, struct op *o)
{
	if (st->count == MAX_OPS)
		drain(st, st->ops[st->head].seq + 1);
	o->seq = st->next_seq++;
	st->ops[(st->head + st->count) % MAX_OPS] = *o;
	st->count++;
}

CUresult cuInit(unsigned int flags)
{
	trace("cuInit");
	if (flags != 0)
		violation("cuInit flags %u (must be 0)", flags);
	initialized = 1;
	return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult e, const char **s)
{
	if (!s)
		violation("cuGetErrorString: NULL");
	*s = e == CUDA_ERROR_INVALID_PTX ? "a PTX JIT compilation failed"
					 : "fake error";
	return CUDA_SUCCESS;
}

static int ndevices(void)
{
	const char *s = getenv("RGPU_FAKE_CUDA_DEVICES");

	return s ? atoi(s) : 1;
}

CUresult cuDeviceGetCount(int *count)
{
	enter("cuDeviceGetCount");
	if (!count)
		violation("cuDeviceGetCount: NULL");
	*count = ndevices();
	return CUDA_SUCCESS;
}

static void check_device(CUdevice d, const char *call)
{
	if (d < 0 || d >= ndevices())
		violation("%s: device %d does not exist", call, d);
}

CUresult cuDeviceGet(CUdevice *d, int ordinal)
{
	enter("cuDeviceGet");
	if (!d)
		violation("cuDeviceGet: NULL");
	check_device(ordinal, "cuDeviceGet");
	*d = ordinal;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
	enter("cuDeviceGetName");
	check_device(d, "cuDeviceGetName");
	if (!name || len <= 0)
		violation("cuDeviceGetName: buffer %p, %d", (void *)name, len);
	snprintf(name, (size_t)len, "Fake GPU (test double)");
	return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
	enter("cuDeviceTotalMem_v2");
	check_device(d, "cuDeviceTotalMem_v2");
	if (!bytes)
		violation("cuDeviceTotalMem_v2: NULL");
	*bytes = (size_t)4 << 30;
	return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d)
{
	enter("cuDeviceGetAttribute");
	check_device(d, "cuDeviceGetAttribute");
	if (!v)
		violation("cuDeviceGetAttribute: NULL");
	switch (a) {
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = 4; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = 8; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = 0; break;
	default: violation("cuDeviceGetAttribute: attribute %d", a);
	}
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice d)
{
	enter("cuDevicePrimaryCtxRetain");
	check_device(d, "cuDevicePrimaryCtxRetain");
	if (!ctx)
		violation("cuDevicePrimaryCtxRetain: NULL");
	pthread_mutex_lock(&mu);
	primary_refs++;
	pthread_mutex_unlock(&mu);
	*ctx = &primary;
	return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d)
{
	enter("cuDevicePrimaryCtxRelease_v2");
	check_device(d, "cuDevicePrimaryCtxRelease_v2");
	pthread_mutex_lock(&mu);
	if (primary_refs-- <= 0)
		violation("primary context released more than retained");
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx)
{
	enter("cuCtxSetCurrent");
	if (ctx && (ctx->magic != MAGIC_CTX || primary_refs <= 0))
		violation("cuCtxSetCurrent: not a retained context");
	current = ctx;
	return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize(void)
{
	need_ctx("cuCtxSynchronize");
	return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes)
{
	void *m;

	need_ctx("cuMemAlloc_v2");
	if (!p || bytes == 0)
		violation("cuMemAlloc_v2: %p, %zu bytes", (void *)p, bytes);
	if (bytes > ((size_t)4 << 30))
		return CUDA_ERROR_OUT_OF_MEMORY;
	m = malloc(bytes);
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&mu);
	add(dev, (uintptr_t)m, bytes);
	pthread_mutex_unlock(&mu);
	*p = (uintptr_t)m;
	return CUDA_SUCCESS;
}

static void remove_region(struct region *t, uintptr_t p, const char *call)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (t[i].p == p) {
			t[i].p = 0;
			pthread_mutex_unlock(&mu);
			free((void *)p);
			return;
		}
	violation("%s: 0x%lx was not allocated (double free?)", call,
		  (unsigned long)p);
}

CUresult cuMemFree_v2(CUdeviceptr p)
{
	need_ctx("cuMemFree_v2");
	remove_region(dev, (uintptr_t)p, "cuMemFree_v2");
	return CUDA_SUCCESS;
}

CUresult cuMemsetD8Async(CUdeviceptr p, unsigned char v, size_t n,
			 CUstream st)
{
	struct op o = { .kind = OP_MEMSET, .dst = (void *)(uintptr_t)p,
			.n = n, .value = v };

	need_ctx("cuMemsetD8Async");
	check_stream(st, "cuMemsetD8Async");
	check_dev(p, n, "cuMemsetD8Async");
	push(st, &o);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n,
			      CUstream st)
{
	struct op o = { .kind = OP_COPY, .dst = (void *)(uintptr_t)dst,
			.src = src, .n = n };
	char call[64];

	if (!src || n == 0)
		violation("cuMemcpyHtoDAsync_v2: src %p, %zu bytes",
			  (void *)src, n);
	snprintf(call, sizeof(call), "cuMemcpyHtoDAsync_v2 %s",
		 host_kind(src, n, &o.reg, "cuMemcpyHtoDAsync_v2"));
	need_ctx(call);
	check_stream(st, "cuMemcpyHtoDAsync_v2");
	check_dev(dst, n, "cuMemcpyHtoDAsync_v2");
	push(st, &o);
	return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n,
			      CUstream st)
{
	struct op o = { .kind = OP_COPY, .dst = dst,
			.src = (const void *)(uintptr_t)src, .n = n };
	char call[64];

	if (!dst || n == 0)
		violation("cuMemcpyDtoHAsync_v2: dst %p, %zu bytes", dst, n);
	snprintf(call, sizeof(call), "cuMemcpyDtoHAsync_v2 %s",
		 host_kind(dst, n, &o.reg, "cuMemcpyDtoHAsync_v2"));
	need_ctx(call);
	check_stream(st, "cuMemcpyDtoHAsync_v2");
	check_dev(src, n, "cuMemcpyDtoHAsync_v2");
	push(st, &o);
	return CUDA_SUCCESS;
}

CUresult cuMemHostAlloc(void **p, size_t bytes, unsigned flags)
{
	need_ctx("cuMemHostAlloc");
	if (!p || bytes == 0 || (flags & ~0xfu))
		violation("cuMemHostAlloc: %p, %zu bytes, flags %u", (void *)p,
			  bytes, flags);
	*p = malloc(bytes);
	if (!*p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&mu);
	add(pinned, (uintptr_t)*p, bytes);
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}

CUresult cuMemFreeHost(void *p)
{
	need_ctx("cuMemFreeHost");
	remove_region(pinned, (uintptr_t)p, "cuMemFreeHost");
	return CUDA_SUCCESS;
}

CUresult cuMemHostRegister_v2(void *p, size_t bytes, unsigned flags)
{
	const volatile char *c = p;
	uintptr_t a = (uintptr_t)p;

	need_ctx("cuMemHostRegister_v2");
	if (!p || bytes == 0 || (flags & ~0xfu))
		violation("cuMemHostRegister_v2: %p, %zu bytes, flags %u", p,
			  bytes, flags);
	/* The driver pins every page: they must be there. */
	(void)c[0];
	(void)c[bytes - 1];
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (overlaps(&registered[i], a, bytes) ||
		    overlaps(&pinned[i], a, bytes)) {
			pthread_mutex_unlock(&mu);
			return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
		}
	add(registered, a, bytes);
	pthread_mutex_unlock(&mu);
	return CUDA_SUCCESS;
}

CUresult cuMemHostUnregister(void *p)
{
	need_ctx("cuMemHostUnregister");
	pthread_mutex_lock(&mu);
	for (int i = 0; i < MAX_ALLOCS; i++)
		if (registered[i].p && registered[i].p == (uintptr_t)p) {
			if (registered[i].pending)
				violation("cuMemHostUnregister: %u queued "
					  "copies still use %p",
					  registered[i].pending, p);
			registered[i].p = 0;
			pthread_mutex_unlock(&mu);
			return CUDA_SUCCESS;
		}
	pthread_mutex_unlock(&mu);
	return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
}

CUresult cuStreamCreate(CUstream *st, unsigned flags)
{
	need_ctx("cuStreamCreate");
	if (!st || flags > 1)
		violation("cuStreamCreate: %p, flags %u", (void *)st, flags);
	*st = calloc(1, sizeof(**st));
	(*st)->magic = MAGIC_STREAM;
	return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(CUstream st)
{
	need_ctx("cuStreamDestroy_v2");
	check_stream(st, "cuStreamDestroy_v2");
	drain(st, UINT64_MAX);
	st->magic = 0;
	free(st);
	return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream st)
{
	need_ctx("cuStreamSynchronize");
	check_stream(st, "cuStreamSynchronize");
	drain(st, UINT64_MAX);
	return CUDA_SUCCESS;
}

CUresult cuEventCreate(CUevent *ev, unsigned flags)
{
	need_ctx("cuEventCreate");
	if (!ev || (flags & ~0x7u))
		violation("cuEventCreate: %p, flags %u", (void *)ev, flags);
	*ev = calloc(1, sizeof(**ev));
	(*ev)->magic = MAGIC_EVENT;
	return CUDA_SUCCESS;
}

static void check_event(CUevent ev, const char *call)
{
	if (!ev || ev->magic != MAGIC_EVENT)
		violation("%s: bad event %p", call, (void *)ev);
}

CUresult cuEventRecord(CUevent ev, CUstream st)
{
	need_ctx("cuEventRecord");
	check_event(ev, "cuEventRecord");
	check_stream(st, "cuEventRecord");
	ev->st = st;
	ev->seq = st->next_seq;
	return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent ev)
{
	need_ctx("cuEventSynchronize");
	check_event(ev, "cuEventSynchronize");
	if (ev->st)
		drain(ev->st, ev->seq);
	return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent ev)
{
	need_ctx("cuEventDestroy_v2");
	check_event(ev, "cuEventDestroy_v2");
	ev->magic = 0;
	free(ev);
	return CUDA_SUCCESS;
}

/* The options the backend passes: the error log buffer and its size. */
static void jit_options(unsigned n, CUjit_option *opts, void **vals,
			char **log, size_t *logsz)
{
	for (unsigned i = 0; i < n; i++) {
		if (opts[i] == CU_JIT_ERROR_LOG_BUFFER)
			*log = vals[i];
		else if (opts[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
			*logsz = (size_t)(uintptr_t)vals[i];
		else if (opts[i] != CU_JIT_INFO_LOG_BUFFER &&
			 opts[i] != CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES)
			violation("cuModuleLoadDataEx: option %d", opts[i]);
	}
	if (!*log != !*logsz)
		violation("cuModuleLoadDataEx: log buffer without its size");
	if (*log)
		memset(*log, 'x', *logsz); /* the whole buffer is writable */
}

/* A PTX module is text; it is accepted when it has a header and its
 * entries parse.  "RGPU_FAKE_SYNTAX_ERROR" in it fails like ptxas. */
CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n,
			    CUjit_option *opts, void **vals)
{
	const char *ptx = image;
	char *log = NULL;
	size_t logsz = 0;
	int ne;

	need_ctx("cuModuleLoadDataEx");
	if (!m || !image || (n && (!opts || !vals)))
		violation("cuModuleLoadDataEx: NULL argument");
	if (strnlen(ptx, RGPU_MAX_PTX + 1) > RGPU_MAX_PTX)
		violation("cuModuleLoadDataEx: image is not NUL-terminated");
	jit_options(n, opts, vals, &log, &logsz);
	*m = calloc(1, sizeof(**m));
	ne = ptx_entries(ptx, (*m)->entries, 16);
	if (!strstr(ptx, ".version") || !strstr(ptx, ".target") || ne <= 0 ||
	    strstr(ptx, "RGPU_FAKE_SYNTAX_ERROR")) {
		if (log)
			snprintf(log, logsz, "ptxas application ptx input, "
				 "line 1; error   : syntax error (fake)");
		free(*m);
		*m = NULL;
		return CUDA_ERROR_INVALID_PTX;
	}
	if (log)
		log[0] = '\0';
	(*m)->magic = MAGIC_MOD;
	(*m)->nentries = (unsigned)ne;
	return CUDA_SUCCESS;
}

static void check_module(CUmodule m, const char *call)
{
	if (!m || m->magic != MAGIC_MOD)
		violation("%s: bad module %p", call, (void *)m);
}

CUresult cuModuleUnload(CUmodule m)
{
	need_ctx("cuModuleUnload");
	check_module(m, "cuModuleUnload");
	m->magic = 0;
	free(m);
	return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	const struct ptx_entry *e;

	need_ctx("cuModuleGetFunction");
	check_module(m, "cuModuleGetFunction");
	if (!f || !name)
		violation("cuModuleGetFunction: NULL argument");
	e = ptx_entry_lookup(m->entries, m->nentries, name);
	if (!e)
		return CUDA_ERROR_NOT_FOUND;
	*f = &m->funcs[e - m->entries];
	(*f)->mod = m;
	(*f)->e = e;
	return CUDA_SUCCESS;
}

/* Read each parameter as the GPU would, by the signature's sizes; an
 * 8-byte parameter of a shipped kernel is a pointer into an allocation. */
static void kernel_args(CUfunction f, void **params, struct op *o)
{
	const struct ptx_entry *e = f->e;

	o->nargs = e->nparams;
	for (unsigned i = 0; i < e->nparams; i++) {
		uint64_t v = 0;
		struct region *r;

		if (!params[i])
			violation("cuLaunchKernel: parameter %u is NULL", i);
		memcpy(&v, params[i], e->size[i]);
		o->args[i] = (struct rgpu_karg){ RGPU_ARG_VALUE, e->size[i], v,
						 0 };
		if (e->size[i] != 8)
			continue;
		pthread_mutex_lock(&mu);
		r = find(dev, (uintptr_t)v, 1);
		pthread_mutex_unlock(&mu);
		if (!r)
			violation("cuLaunchKernel: pointer parameter %u 0x%lx "
				  "is not in a device allocation", i,
				  (unsigned long)v);
		o->args[i].kind = RGPU_ARG_DEVPTR;
		o->args[i].avail = r->n - ((uintptr_t)v - r->p);
	}
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
			unsigned bx, unsigned by, unsigned bz, unsigned shmem,
			CUstream st, void **params, void **extra)
{
	struct op o = { .kind = OP_KERNEL, .grid = { gx, gy, gz },
			.block = { bx, by, bz } };

	need_ctx("cuLaunchKernel");
	check_stream(st, "cuLaunchKernel");
	if (!f || !f->mod || f->mod->magic != MAGIC_MOD)
		violation("cuLaunchKernel: bad function");
	if (!gx || !gy || !gz || !bx || !by || !bz ||
	    (uint64_t)bx * by * bz > 1024 || shmem > 48 * 1024)
		violation("cuLaunchKernel: grid %ux%ux%u block %ux%ux%u "
			  "shared %u", gx, gy, gz, bx, by, bz, shmem);
	if (extra)
		violation("cuLaunchKernel: extra must be NULL");
	if (f->e->nparams && !params)
		violation("cuLaunchKernel: kernelParams is NULL");
	snprintf(o.name, sizeof(o.name), "%s", f->e->name);
	kernel_args(f, params, &o);
	push(st, &o);
	return CUDA_SUCCESS;
}
