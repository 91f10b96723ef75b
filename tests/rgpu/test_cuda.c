/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend against the test double of libcuda.so.1
 * ($RGPU_CUDA_LIBRARY, set by meson), which checks every call's arguments
 * and aborts on a bad one: device queries, memory, the pipelined copies
 * through staging buffers (over a socketpair), both kernels, and the JIT
 * error log.
 */
#include "../unit/t.h"

#include <math.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rgpu/backend.h"
#include "rgpu/devctx.h"
#include "rgpu/kernels.h"
#include "rgpu/pipeline.h"
#include "rgpu/rgpu.h"

static void t_no_device_falls_back(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char why[256];
		const struct rgpu_backend *be;

		setenv("RGPU_FAKE_CUDA_DEVICES", "0", 1);
		be = rgpu_backend_pick("auto", why, sizeof(why));
		_exit(be == &rgpu_backend_cpu && strstr(why, "no CUDA device") &&
		      !rgpu_backend_pick("cuda", why, sizeof(why)) ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void t_missing_library(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char why[256];

		setenv("RGPU_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
		_exit(rgpu_backend_pick("auto", why, sizeof(why)) ==
				      &rgpu_backend_cpu &&
			      strstr(why, "cannot load") ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void t_props(void)
{
	struct rgpu_device_prop p;
	int n = 0;

	REQUIRE(rgpu_connect("local") == RGPU_SUCCESS);
	CHECK(strcmp(rgpu_backend_name(), "cuda") == 0);
	CHECK_EQ(rgpu_get_device_count(&n), RGPU_SUCCESS);
	CHECK_EQ(n, 1);
	CHECK_EQ(rgpu_get_device_properties(&p, 0), RGPU_SUCCESS);
	CHECK(strcmp(p.name, "Fake GPU (test double)") == 0);
	CHECK_EQ(p.cc_major, 8);
	CHECK_EQ(rgpu_get_device_properties(&p, 1), RGPU_ERR_INVALID_DEVICE);
}

static void fill(float *m, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (float)(((i + seed) * 2654435761u) % 1000) / 500.0f - 1.0f;
}

static void t_kernels(void)
{
	enum { N = 45 };
	static float a[N * N], b[N * N], c[N * N], ref[N * N];
	size_t bytes = sizeof(a);
	struct rgpu_dim3 g = { (N + 15) / 16, (N + 15) / 16, 1 },
			 blk = { 16, 16, 1 };
	rgpu_devptr_t da, db, dc;
	rgpu_module_t m;
	char log[512];

	fill(a, N * N, 1);
	fill(b, N * N, 2);
	REQUIRE(rgpu_module_load(&m, rgpu_shipped_ptx(), log, sizeof(log)) ==
		RGPU_SUCCESS);
	REQUIRE(rgpu_malloc(&da, bytes) == RGPU_SUCCESS);
	REQUIRE(rgpu_malloc(&db, bytes) == RGPU_SUCCESS);
	REQUIRE(rgpu_malloc(&dc, bytes) == RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_htod(da, a, bytes), RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_htod(db, b, bytes), RGPU_SUCCESS);
	{
		struct rgpu_arg args[4] = { rgpu_arg_ptr(da), rgpu_arg_ptr(db),
					    rgpu_arg_ptr(dc), rgpu_arg_u32(N) };

		CHECK_EQ(rgpu_launch_kernel(m, RGPU_SGEMM_NAME, g, blk, 0, args,
					    4), RGPU_SUCCESS);
	}
	CHECK_EQ(rgpu_device_synchronize(), RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_dtoh(c, dc, bytes), RGPU_SUCCESS);
	rgpu_cpu_sgemm(a, b, ref, N, N, N, 1);
	for (int i = 0; i < N * N; i++)
		CHECK(fabsf(c[i] - ref[i]) < 1e-4f);
	{
		struct rgpu_arg args[5] = { rgpu_arg_ptr(da), rgpu_arg_ptr(dc),
					    rgpu_arg_u32(N), rgpu_arg_f32(0.5f),
					    rgpu_arg_f32(0.125f) };

		CHECK_EQ(rgpu_launch_kernel(m, RGPU_STENCIL_NAME, g, blk, 0,
					    args, 5), RGPU_SUCCESS);
	}
	CHECK_EQ(rgpu_memcpy_dtoh(c, dc, bytes), RGPU_SUCCESS);
	rgpu_cpu_stencil5(a, ref, N, 0.5f, 0.125f, N, N);
	CHECK(memcmp(c, ref, bytes) == 0);
	CHECK_EQ(rgpu_memset(dc + 4, 0, bytes - 4), RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_dtoh(c, dc, bytes), RGPU_SUCCESS);
	CHECK(c[0] == ref[0] && c[1] == 0.0f && c[N * N - 1] == 0.0f);
	CHECK_EQ(rgpu_module_unload(m), RGPU_SUCCESS);
	CHECK_EQ(rgpu_free(da), RGPU_SUCCESS);
	CHECK_EQ(rgpu_free(db), RGPU_SUCCESS);
	CHECK_EQ(rgpu_free(dc), RGPU_SUCCESS);
}

static void t_jit_log(void)
{
	rgpu_module_t m;
	char log[512];

	CHECK_EQ(rgpu_module_load(&m, ".version 7.0\n.target sm_80\n"
				  "// RGPU_FAKE_SYNTAX_ERROR\n"
				  ".visible .entry k() { ret; }\n", log,
				  sizeof(log)), RGPU_ERR_INVALID_PTX);
	CHECK(strstr(log, "syntax error") != NULL);
	rgpu_disconnect();
}

struct feeder {
	int fd;
	const uint8_t *data;
	size_t n;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	struct rgpu_conn c = { f->fd, false };

	conn_write(&c, f->data, f->n);
	return NULL;
}

static void *drink(void *arg)
{
	struct feeder *f = arg;
	struct rgpu_conn c = { f->fd, false };
	int err;

	f->n = conn_read(&c, (void *)f->data, f->n, &err);
	return NULL;
}

/* Several chunk and slot counts, sizes that end mid-chunk: the double
 * defers every copy until its event is waited for, so a staging buffer
 * reused too early would show up as wrong bytes. */
static void pipeline_case(struct devctx *ctx, size_t chunk, unsigned slots,
			  size_t n)
{
	const struct rgpu_backend *be = devctx_backend(ctx);
	uint8_t *src = malloc(n), *back = malloc(n);
	int sv[2];
	struct pipeline p;
	struct pipe_io io;
	struct feeder f;
	pthread_t t;
	rgpu_devptr_t d;
	uint64_t addr, avail;
	struct rgpu_conn rc;

	REQUIRE(src && back && socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	for (size_t i = 0; i < n; i++)
		src[i] = (uint8_t)(i * 31 + i / 4096);
	REQUIRE(devctx_malloc(ctx, n, &d) == 0);
	REQUIRE(devctx_resolve(ctx, d, n, &addr, &avail) == 0);
	pipeline_init(&p, be, devctx_bsess(ctx), chunk, slots, true, true);
	f = (struct feeder){ sv[1], src, n };
	rc = (struct rgpu_conn){ sv[0], false };
	pthread_create(&t, NULL, feed, &f);
	CHECK_EQ(pipeline_htod(&p, addr, n, &rc, &io), 0);
	pthread_join(t, NULL);
	CHECK_EQ(io.done, n);
	CHECK_EQ(devctx_dtoh(ctx, back, d, n), 0);
	CHECK(memcmp(src, back, n) == 0);
	memset(back, 0, n);
	f = (struct feeder){ sv[1], back, n };
	pthread_create(&t, NULL, drink, &f);
	CHECK_EQ(pipeline_dtoh(&p, addr, n, &rc, &io), 0);
	pthread_join(t, NULL);
	CHECK_EQ(io.done, n);
	CHECK_EQ(f.n, n);
	CHECK(memcmp(src, back, n) == 0);
	pipeline_release(&p);
	CHECK_EQ(devctx_free(ctx, d), 0);
	close(sv[0]);
	close(sv[1]);
	free(src);
	free(back);
}

static void t_pipeline(void)
{
	struct devctx *ctx;
	char why[256];
	const struct rgpu_backend *be = rgpu_backend_pick("cuda", why,
							  sizeof(why));

	REQUIRE(be == &rgpu_backend_cuda);
	REQUIRE(devctx_open(be, false, &ctx) == 0);
	pipeline_case(ctx, 65536, 3, 1024);
	pipeline_case(ctx, 65536, 3, 65536 * 7 + 123);
	pipeline_case(ctx, 65536, 2, 65536 * 5);
	pipeline_case(ctx, 1 << 20, 3, (3 << 20) + 17);
	devctx_close(ctx);
}

/* Host registration: copies straight from and into registered memory,
 * a second registration of the same memory refused (the pipeline then
 * stages), unregistering after the copies are done. */
static void t_host_register(void)
{
	const size_t n = 3 * 4096;
	struct devctx *ctx;
	struct rgpu_bsess *bs;
	char why[256];
	const struct rgpu_backend *be = rgpu_backend_pick("cuda", why,
							  sizeof(why));
	uint8_t *host = aligned_alloc(4096, n), back[64];
	uint64_t dev;

	REQUIRE(be && host && devctx_open(be, false, &ctx) == 0);
	bs = devctx_bsess(ctx);
	REQUIRE(be->mem_alloc(bs, n, &dev) == 0);
	for (size_t i = 0; i < n; i++)
		host[i] = (uint8_t)(i * 7);
	CHECK_EQ(be->host_register(bs, host, n), 0);
	CHECK(be->host_register(bs, host + 4096, 4096) != 0);
	CHECK_EQ(be->htod_async(bs, 0, dev, host, n), 0);
	CHECK_EQ(be->slot_wait(bs, 0), 0);
	memset(host, 0, n);
	CHECK_EQ(be->dtoh_async(bs, 1, host + 100, dev + 100, 1000), 0);
	CHECK_EQ(be->slot_wait(bs, 1), 0);
	for (size_t i = 100; i < 1100; i++)
		CHECK_EQ(host[i], (uint8_t)(i * 7));
	CHECK_EQ(host[99], 0);
	be->host_unregister(bs, host);
	CHECK_EQ(be->dtoh(bs, back, dev + 4096, sizeof(back)), 0);
	CHECK_EQ(back[5], (uint8_t)((4096 + 5) * 7));
	CHECK_EQ(be->mem_free(bs, dev, n), 0);
	devctx_close(ctx);
	free(host);
}

/* rgpu_host_alloc on the local transport: the driver's pinned memory,
 * copies from and into it exact, freed also after a disconnect. */
static void t_host_alloc(void)
{
	const size_t n = (1u << 20) + 5;
	void *a = NULL, *b = NULL, *stray = malloc(16);
	rgpu_devptr_t d;

	REQUIRE(rgpu_connect("local") == RGPU_SUCCESS);
	REQUIRE(rgpu_host_alloc(&a, n) == RGPU_SUCCESS);
	REQUIRE(rgpu_host_alloc(&b, n) == RGPU_SUCCESS);
	CHECK(((uintptr_t)a & 15) == 0);
	for (size_t i = 0; i < n; i++)
		((uint8_t *)a)[i] = (uint8_t)(i * 13);
	REQUIRE(rgpu_malloc(&d, n) == RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_htod(d, a, n), RGPU_SUCCESS);
	CHECK_EQ(rgpu_memcpy_dtoh(b, d, n), RGPU_SUCCESS);
	CHECK(memcmp(a, b, n) == 0);
	CHECK_EQ(rgpu_host_free(a), RGPU_SUCCESS);
	CHECK_EQ(rgpu_host_free(a), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(rgpu_host_free(stray), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(rgpu_host_free(NULL), RGPU_SUCCESS);
	rgpu_disconnect();
	CHECK_EQ(rgpu_host_free(b), RGPU_SUCCESS);
	free(stray);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "no_device_falls_back", t_no_device_falls_back },
		{ "missing_library", t_missing_library },
		{ "props", t_props },
		{ "kernels", t_kernels },
		{ "jit_log", t_jit_log },
		{ "pipeline", t_pipeline },
		{ "host_register", t_host_register },
		{ "host_alloc", t_host_alloc },
		{ NULL, NULL },
	};

	if (!getenv("RGPU_CUDA_LIBRARY")) {
		printf("RGPU_CUDA_LIBRARY unset: run through meson\n");
		return 77;
	}
	setenv("RGPU_BACKEND", "cuda", 1);
	return t_run(cases, argc, argv);
}
