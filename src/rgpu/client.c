/* SPDX-License-Identifier: MIT */
/*
 * librgpu's public API: one session per process, opened on first use from
 * $RGPU_SERVER, every call serialized under one lock.
 */
#include "rgpu/client.h"
#include "rgpu/kernels.h"
#include "rgpu/size_arg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Host buffers from rgpu_host_alloc, and how each is freed. */
#define MAX_HOST_BUFS 256

struct host_buf {
	void *p;
	const struct rgpu_backend *be; /* NULL: free() */
};

static struct {
	pthread_mutex_t lock;
	struct host_buf host[MAX_HOST_BUFS];
	const struct rgpu_transport *tr;
	void *state;
	char backend[16];
	size_t chunk;
	unsigned lanes;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void close_locked(void)
{
	if (g.tr)
		g.tr->close(g.state);
	g.tr = NULL;
	g.state = NULL;
	g.backend[0] = '\0';
}

static size_t chunk_from_env(void)
{
	uint64_t v;

	if (g.chunk)
		return g.chunk;
	if (rgpu_parse_size(getenv("RGPU_CHUNK_SIZE"), &v) == 0 &&
	    v >= RGPU_MIN_CHUNK && v <= RGPU_MAX_CHUNK)
		return (size_t)v;
	return 0;
}

/* Unset: a lane per four cores, at most four.  A lane's copy needs a
 * core on each side; on a small machine more lanes only compete with
 * each other (two cores: slower than one lane). */
static unsigned auto_lanes(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) / 4;

	return n < 1 ? 1 : n > 4 ? 4 : (unsigned)n;
}

static unsigned lanes_from_env(void)
{
	const char *s = getenv("RGPU_LANES");
	char *end;
	unsigned long v;

	if (g.lanes)
		return g.lanes;
	if (!s || !*s)
		return auto_lanes();
	v = strtoul(s, &end, 10);
	if (*end || v < 1 || v > RGPU_MAX_LANES) {
		fprintf(stderr, "librgpu: RGPU_LANES=%s: expected 1 to %u; "
			"using 1\n", s, RGPU_MAX_LANES);
		return 1;
	}
	return (unsigned)v;
}

static rgpu_error_t connect_locked(const char *spec)
{
	char why[256] = "";
	int rc;

	close_locked();
	if (!spec)
		spec = getenv("RGPU_SERVER");
	if (!spec || !*spec) {
		fprintf(stderr, "librgpu: set RGPU_SERVER to v4v:DOMAIN:PORT, "
			"tcp:HOST:PORT or local\n");
		return RGPU_ERR_NO_SERVER;
	}
	if (strcmp(spec, "local") == 0) {
		rc = rgpu_local_open(&g.state, g.backend, why, sizeof(why));
		g.tr = rc ? NULL : &rgpu_local;
	} else if (strncmp(spec, "v4v:", 4) && strncmp(spec, "tcp:", 4)) {
		snprintf(why, sizeof(why), "'%s': expected v4v:DOMAIN:PORT, "
			 "tcp:HOST:PORT or local", spec);
		rc = RGPU_ERR_NO_SERVER;
	} else {
		rc = rgpu_remote_open(spec, chunk_from_env(), lanes_from_env(),
				      &g.state, g.backend, why, sizeof(why));
		g.tr = rc ? NULL : &rgpu_remote;
	}
	if (rc)
		fprintf(stderr, "librgpu: %s\n", why);
	return (rgpu_error_t)rc;
}

rgpu_error_t rgpu_connect(const char *spec)
{
	rgpu_error_t rc;

	pthread_mutex_lock(&g.lock);
	rc = connect_locked(spec);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

void rgpu_disconnect(void)
{
	pthread_mutex_lock(&g.lock);
	close_locked();
	pthread_mutex_unlock(&g.lock);
}

void rgpu_set_chunk_size(size_t bytes)
{
	pthread_mutex_lock(&g.lock);
	g.chunk = bytes;
	pthread_mutex_unlock(&g.lock);
}

void rgpu_set_lanes(unsigned n)
{
	pthread_mutex_lock(&g.lock);
	g.lanes = n > RGPU_MAX_LANES ? RGPU_MAX_LANES : n;
	pthread_mutex_unlock(&g.lock);
}

const char *rgpu_backend_name(void)
{
	return g.backend;
}

/* Every call: take the lock, connect if nobody has, run `expr`. */
#define CALL(expr)                                                             \
	do {                                                                   \
		int rc_ = 0;                                                   \
		pthread_mutex_lock(&g.lock);                                   \
		if (!g.tr)                                                     \
			rc_ = connect_locked(NULL);                            \
		if (!rc_)                                                      \
			rc_ = (expr);                                          \
		pthread_mutex_unlock(&g.lock);                                 \
		return (rgpu_error_t)rc_;                                      \
	} while (0)

rgpu_error_t rgpu_get_device_count(int *count)
{
	if (!count)
		return RGPU_ERR_INVALID_VALUE;
	CALL(g.tr->device_count(g.state, count));
}

rgpu_error_t rgpu_get_device_properties(struct rgpu_device_prop *prop,
					int device)
{
	if (!prop || device < 0)
		return RGPU_ERR_INVALID_VALUE;
	CALL(g.tr->props(g.state, device, prop));
}

rgpu_error_t rgpu_malloc(rgpu_devptr_t *ptr, size_t size)
{
	if (!ptr || size == 0)
		return RGPU_ERR_INVALID_VALUE;
	CALL(g.tr->malloc(g.state, size, ptr));
}

rgpu_error_t rgpu_free(rgpu_devptr_t ptr)
{
	CALL(g.tr->free(g.state, ptr));
}

static int host_alloc_locked(void **p, size_t n)
{
	const struct rgpu_backend *be;
	int rc;

	for (unsigned i = 0; i < MAX_HOST_BUFS; i++) {
		if (g.host[i].p)
			continue;
		rc = g.tr->host_alloc(g.state, n, p, &be);
		if (!rc)
			g.host[i] = (struct host_buf){ *p, be };
		return rc;
	}
	return RGPU_ERR_MEMORY_ALLOCATION;
}

rgpu_error_t rgpu_host_alloc(void **p, size_t n)
{
	if (!p)
		return RGPU_ERR_INVALID_VALUE;
	*p = NULL;
	CALL(host_alloc_locked(p, n));
}

rgpu_error_t rgpu_host_free(void *p)
{
	rgpu_error_t rc = p ? RGPU_ERR_INVALID_VALUE : RGPU_SUCCESS;

	pthread_mutex_lock(&g.lock);
	for (unsigned i = 0; i < MAX_HOST_BUFS && p; i++) {
		if (g.host[i].p != p)
			continue;
		if (g.host[i].be)
			g.host[i].be->stage_free(NULL, p);
		else
			free(p);
		g.host[i].p = NULL;
		rc = RGPU_SUCCESS;
		break;
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

/* Copies above the protocol's limit go as several requests. */
static int htod_split(rgpu_devptr_t dst, const void *src, size_t n)
{
	for (size_t off = 0; off < n || n == 0; off += RGPU_MAX_COPY) {
		size_t len = n - off < RGPU_MAX_COPY ? n - off : RGPU_MAX_COPY;
		int rc = g.tr->htod(g.state, dst + off,
				    (const char *)src + off, len);

		if (rc || n == 0)
			return rc;
	}
	return 0;
}

static int dtoh_split(void *dst, rgpu_devptr_t src, size_t n)
{
	for (size_t off = 0; off < n || n == 0; off += RGPU_MAX_COPY) {
		size_t len = n - off < RGPU_MAX_COPY ? n - off : RGPU_MAX_COPY;
		int rc = g.tr->dtoh(g.state, (char *)dst + off, src + off, len);

		if (rc || n == 0)
			return rc;
	}
	return 0;
}

rgpu_error_t rgpu_memcpy_htod(rgpu_devptr_t dst, const void *src, size_t n)
{
	if (!src && n)
		return RGPU_ERR_INVALID_VALUE;
	CALL(htod_split(dst, src, n));
}

rgpu_error_t rgpu_memcpy_dtoh(void *dst, rgpu_devptr_t src, size_t n)
{
	if (!dst && n)
		return RGPU_ERR_INVALID_VALUE;
	CALL(dtoh_split(dst, src, n));
}

rgpu_error_t rgpu_memset(rgpu_devptr_t ptr, int value, size_t n)
{
	if (n > RGPU_MAX_COPY)
		return RGPU_ERR_INVALID_VALUE;
	CALL(g.tr->memset(g.state, ptr, value, n));
}

rgpu_error_t rgpu_device_synchronize(void)
{
	CALL(g.tr->sync(g.state));
}

rgpu_error_t rgpu_module_load(rgpu_module_t *mod, const char *ptx, char *log,
			      size_t logsize)
{
	if (!mod || !ptx)
		return RGPU_ERR_INVALID_VALUE;
	if (log && logsize)
		log[0] = '\0';
	CALL(g.tr->module_load(g.state, ptx, mod, log, logsize));
}

rgpu_error_t rgpu_module_unload(rgpu_module_t mod)
{
	CALL(g.tr->module_unload(g.state, mod));
}

rgpu_error_t rgpu_launch_kernel(rgpu_module_t mod, const char *name,
				struct rgpu_dim3 grid, struct rgpu_dim3 block,
				uint32_t shared_bytes,
				const struct rgpu_arg *args, unsigned nargs)
{
	struct rgpu_launch_req r = { .module = mod, .grid = grid,
				     .block = block,
				     .shared_bytes = shared_bytes };
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > RGPU_MAX_NAME || nargs > RGPU_MAX_ARGS ||
	    (nargs && !args))
		return RGPU_ERR_INVALID_VALUE;
	memcpy(r.name, name, len + 1);
	r.name_len = (uint16_t)len;
	r.nargs = (uint16_t)nargs;
	if (nargs)
		memcpy(r.args, args, nargs * sizeof(*args));
	CALL(g.tr->launch(g.state, &r));
}

struct rgpu_arg rgpu_arg_ptr(rgpu_devptr_t p)
{
	return (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, p };
}

struct rgpu_arg rgpu_arg_u32(uint32_t v)
{
	return (struct rgpu_arg){ RGPU_ARG_VALUE, 4, v };
}

struct rgpu_arg rgpu_arg_f32(float v)
{
	uint32_t bits;

	memcpy(&bits, &v, 4);
	return (struct rgpu_arg){ RGPU_ARG_VALUE, 4, bits };
}

const char *rgpu_shipped_ptx(void)
{
	return rgpu_kernels_ptx;
}
