/* SPDX-License-Identifier: MIT */
/* The "local" transport: the backend in this process, no network. */
#include "rgpu/backend.h"
#include "rgpu/client.h"
#include "rgpu/devctx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rgpu_local_open(void **state, char backend[16], char *why, size_t whysz)
{
	const char *which = getenv("RGPU_BACKEND");
	const struct rgpu_backend *be;
	struct devctx *c;
	int rc;

	be = rgpu_backend_pick(which && *which ? which : "auto", why, whysz);
	if (!be)
		return RGPU_ERR_NO_DEVICE;
	/* In-process there is no one else to protect: any PTX goes. */
	rc = devctx_open(be, true, &c);
	if (rc) {
		snprintf(why, whysz, "cannot open the %s backend", be->name);
		return rc;
	}
	snprintf(backend, 16, "%s", be->name);
	*state = c;
	return 0;
}

static int l_count(void *t, int *n)
{
	*n = devctx_backend(t)->device_count();
	return 0;
}

static int l_props(void *t, int dev, struct rgpu_device_prop *p)
{
	return devctx_backend(t)->props(dev, p);
}

static int l_malloc(void *t, uint64_t size, rgpu_devptr_t *p)
{
	return devctx_malloc(t, size, p);
}

static int l_free(void *t, rgpu_devptr_t p)
{
	return devctx_free(t, p);
}

static int l_memset(void *t, rgpu_devptr_t p, int v, uint64_t n)
{
	return devctx_memset(t, p, v, n);
}

static int l_htod(void *t, rgpu_devptr_t dst, const void *src, uint64_t n)
{
	return devctx_htod(t, dst, src, n);
}

static int l_dtoh(void *t, void *dst, rgpu_devptr_t src, uint64_t n)
{
	return devctx_dtoh(t, dst, src, n);
}

static int l_sync(void *t)
{
	return devctx_sync(t);
}

static int l_load(void *t, const char *ptx, rgpu_module_t *m, char *log,
		  size_t logsz)
{
	return devctx_module_load(t, ptx, m, log, logsz);
}

static int l_unload(void *t, rgpu_module_t m)
{
	return devctx_module_unload(t, m);
}

static int l_launch(void *t, const struct rgpu_launch_req *r)
{
	return devctx_launch(t, r);
}

/* The backend's pinned memory: its staging buffers' allocator. */
static int l_host_alloc(void *t, size_t n, void **p,
			const struct rgpu_backend **be)
{
	*be = devctx_backend(t);
	return (*be)->stage_alloc(devctx_bsess(t), n, p);
}

static void l_close(void *t)
{
	devctx_close(t);
}

const struct rgpu_transport rgpu_local = {
	.device_count = l_count,
	.props = l_props,
	.malloc = l_malloc,
	.free = l_free,
	.memset = l_memset,
	.htod = l_htod,
	.dtoh = l_dtoh,
	.sync = l_sync,
	.module_load = l_load,
	.module_unload = l_unload,
	.launch = l_launch,
	.host_alloc = l_host_alloc,
	.close = l_close,
};
