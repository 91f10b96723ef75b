/* SPDX-License-Identifier: MIT */
/*
 * rgpu without a network: the header and body checks, the PTX signature
 * reader, and the device context's pointer and launch checks (CPU
 * backend, in process).
 */
#include "../unit/t.h"

#include <math.h>

#include "rgpu/devctx.h"
#include "rgpu/kernels.h"
#include "rgpu/ptx_sig.h"
#include "rgpu/wire.h"

static struct rgpu_hdr req(uint16_t op, uint64_t len)
{
	return (struct rgpu_hdr){ RGPU_MAGIC, RGPU_PROTO_VERSION, op, 7, 0,
				  len };
}

static int check(struct rgpu_hdr h)
{
	const char *why;

	return rgpu_hdr_check_request(&h, &why);
}

static void t_header_bytes(void)
{
	struct rgpu_hdr h = req(RGPU_OP_HTOD, 0x0102030405060708ull), back;
	uint8_t b[RGPU_HDR_SIZE];

	h.status = -2;
	rgpu_hdr_encode(b, &h);
	CHECK(memcmp(b, "RGPU", 4) == 0);
	CHECK_EQ(b[4], 1);
	CHECK_EQ(b[6], RGPU_OP_HTOD);
	CHECK_EQ(b[16], 0x08);
	CHECK_EQ(b[23], 0x01);
	rgpu_hdr_decode(&back, b);
	CHECK(memcmp(&h, &back, sizeof(h)) == 0);
}

static void t_header_checks(void)
{
	struct rgpu_hdr h = req(RGPU_OP_MALLOC, 8);

	CHECK_EQ(check(h), 0);
	h.magic ^= 1;
	CHECK_EQ(check(h), RGPU_ERR_PROTOCOL);
	h = req(RGPU_OP_MALLOC, 8);
	h.version = 2;
	CHECK_EQ(check(h), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(0, 0)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_END_, 0)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(0x8003, 8)), RGPU_ERR_PROTOCOL); /* a reply */
	h = req(RGPU_OP_SYNC, 0);
	h.status = 1;
	CHECK_EQ(check(h), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_MALLOC, 9)), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(check(req(RGPU_OP_MALLOC, 7)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_HTOD, 7)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_HTOD, 8)), 0);
	CHECK_EQ(check(req(RGPU_OP_HTOD, 8 + RGPU_MAX_COPY)), 0);
	CHECK_EQ(check(req(RGPU_OP_HTOD, 9 + RGPU_MAX_COPY)),
		 RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(check(req(RGPU_OP_HTOD, UINT64_MAX)), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(check(req(RGPU_OP_MODULE_LOAD, 0)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_MODULE_LOAD, RGPU_MAX_PTX + 1)),
		 RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(check(req(RGPU_OP_LAUNCH, 1000)), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(check(req(RGPU_OP_LANES, RGPU_LANES_LEN)), 0);
	CHECK_EQ(check(req(RGPU_OP_LANES, 3)), RGPU_ERR_PROTOCOL);
	CHECK_EQ(check(req(RGPU_OP_JOIN, RGPU_JOIN_LEN)), 0);
	CHECK_EQ(check(req(RGPU_OP_JOIN, 9)), RGPU_ERR_INVALID_VALUE);
	CHECK(!strcmp(rgpu_op_name(RGPU_OP_JOIN | RGPU_REPLY), "JOIN"));
	CHECK(!strcmp(rgpu_op_name(RGPU_OP_LANES), "LANES"));
}

static void t_reply_checks(void)
{
	struct rgpu_hdr h = req(RGPU_OP_MALLOC | RGPU_REPLY, 8);

	CHECK_EQ(rgpu_hdr_check_reply(&h, RGPU_OP_MALLOC, 7, 8), 0);
	CHECK(rgpu_hdr_check_reply(&h, RGPU_OP_MALLOC, 8, 8));
	CHECK(rgpu_hdr_check_reply(&h, RGPU_OP_FREE, 7, 8));
	CHECK(rgpu_hdr_check_reply(&h, RGPU_OP_MALLOC, 7, 4));
	h.status = RGPU_ERR_COUNT_;
	CHECK(rgpu_hdr_check_reply(&h, RGPU_OP_MALLOC, 7, 8));
}

static void t_launch_body(void)
{
	struct rgpu_launch_req r = { .module = 0x1122334455667788ull,
				     .grid = { 3, 4, 5 }, .block = { 16, 16, 1 },
				     .shared_bytes = 9, .name_len = 4,
				     .nargs = 2, .name = "kern" },
			       back;
	uint8_t b[1024];
	size_t n;

	r.args[0] = (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, 42 };
	r.args[1] = (struct rgpu_arg){ RGPU_ARG_VALUE, 4, 7 };
	n = rgpu_launch_encode(b, &r);
	CHECK_EQ(n, RGPU_LAUNCH_FIXED + 4 + 2 * RGPU_ARG_WIRE);
	CHECK_EQ(rgpu_launch_decode(&back, b, n), 0);
	CHECK_EQ(back.module, r.module);
	CHECK_EQ(back.grid.z, 5);
	CHECK(strcmp(back.name, "kern") == 0);
	CHECK_EQ(back.args[0].value, 42);
	CHECK_EQ(rgpu_launch_decode(&back, b, n - 1), RGPU_ERR_PROTOCOL);
	b[38] = 33; /* 33 arguments */
	CHECK_EQ(rgpu_launch_decode(&back, b, n), RGPU_ERR_PROTOCOL);
	r.name[1] = ' ';
	n = rgpu_launch_encode(b, &r);
	CHECK_EQ(rgpu_launch_decode(&back, b, n), RGPU_ERR_INVALID_VALUE);
	r.name[1] = 'e';
	r.args[1].size = 9;
	n = rgpu_launch_encode(b, &r);
	CHECK_EQ(rgpu_launch_decode(&back, b, n), RGPU_ERR_INVALID_VALUE);
	r.args[1] = (struct rgpu_arg){ 2, 4, 7 };
	n = rgpu_launch_encode(b, &r);
	CHECK_EQ(rgpu_launch_decode(&back, b, n), RGPU_ERR_INVALID_VALUE);
}

static void t_ptx_sig(void)
{
	struct ptx_entry e[4];
	const struct ptx_entry *s;
	int n = ptx_entries(rgpu_kernels_ptx, e, 4);

	CHECK_EQ(n, 2);
	s = ptx_entry_lookup(e, 2, RGPU_SGEMM_NAME);
	REQUIRE(s);
	CHECK_EQ(s->nparams, 4);
	CHECK(s->size[0] == 8 && s->size[2] == 8 && s->size[3] == 4);
	s = ptx_entry_lookup(e, 2, RGPU_STENCIL_NAME);
	REQUIRE(s);
	CHECK_EQ(s->nparams, 5);
	/* An .entry in a comment is not one. */
	CHECK_EQ(ptx_entries("// .entry fake(.param .u32 a)\n"
			     "/* .entry f2( */ .entry real(.param .u64 p, "
			     ".param .f32 x) {}", e, 4), 1);
	CHECK(strcmp(e[0].name, "real") == 0 && e[0].nparams == 2);
	CHECK_EQ(ptx_entries(".entry k(.param .align 8 .b8 s[16]) {}", e, 4),
		 -RGPU_ERR_INVALID_PTX);
	CHECK_EQ(ptx_entries(".entry k() {} .entry k() {}", e, 4),
		 -RGPU_ERR_INVALID_PTX);
	CHECK_EQ(ptx_entries(".entry k(.param .u32", e, 4),
		 -RGPU_ERR_INVALID_PTX);
	CHECK_EQ(ptx_entries(".entry", e, 4), -RGPU_ERR_INVALID_PTX);
}

static struct devctx *open_cpu(bool any)
{
	struct devctx *c;

	REQUIRE(devctx_open(&rgpu_backend_cpu, any, &c) == 0);
	return c;
}

static void t_pointers(void)
{
	struct devctx *c = open_cpu(false), *other = open_cpu(false);
	rgpu_devptr_t p, q;
	uint64_t addr, avail;
	char buf[100];

	CHECK_EQ(devctx_malloc(c, 0, &p), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(devctx_malloc(c, RGPU_MAX_ALLOC + 1, &p),
		 RGPU_ERR_INVALID_VALUE);
	REQUIRE(devctx_malloc(c, 100, &p) == 0);
	CHECK(p >> RGPU_OFFSET_BITS);
	CHECK_EQ(devctx_resolve(c, p + 10, 90, &addr, &avail), 0);
	CHECK_EQ(avail, 90);
	CHECK_EQ(devctx_resolve(c, p + 10, 91, &addr, &avail),
		 RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(devctx_resolve(c, p + 100, 0, &addr, &avail),
		 RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK_EQ(devctx_resolve(c, p ^ (1ull << 52), 1, &addr, &avail),
		 RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK_EQ(devctx_resolve(c, 0, 1, &addr, &avail),
		 RGPU_ERR_INVALID_DEVICE_POINTER);
	/* Another client's context knows nothing of p. */
	CHECK_EQ(devctx_dtoh(other, buf, p, 1), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK_EQ(devctx_memset(c, p, 7, 100), 0);
	CHECK_EQ(devctx_dtoh(c, buf, p, 100), 0);
	CHECK_EQ(buf[99], 7);
	CHECK_EQ(devctx_free(c, p + 1), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK_EQ(devctx_free(c, p), 0);
	CHECK_EQ(devctx_free(c, p), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK_EQ(devctx_dtoh(c, buf, p, 1), RGPU_ERR_INVALID_DEVICE_POINTER);
	REQUIRE(devctx_malloc(c, 100, &q) == 0);
	CHECK(q != p); /* a new key for the reused slot */
	devctx_close(c);
	devctx_close(other);
}

static void fill(float *m, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (float)((i * 7919) % 101) / 50.0f * scale - 1.0f;
}

static struct rgpu_launch_req sgemm_req(rgpu_module_t m, rgpu_devptr_t a,
					rgpu_devptr_t b, rgpu_devptr_t c,
					uint32_t n)
{
	struct rgpu_launch_req r = { .module = m, .block = { 16, 16, 1 },
				     .nargs = 4, .name = RGPU_SGEMM_NAME };

	r.grid = (struct rgpu_dim3){ (n + 15) / 16, (n + 15) / 16, 1 };
	r.name_len = (uint16_t)strlen(r.name);
	r.args[0] = (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, a };
	r.args[1] = (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, b };
	r.args[2] = (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, c };
	r.args[3] = (struct rgpu_arg){ RGPU_ARG_VALUE, 4, n };
	return r;
}

static void t_launch_checks(void)
{
	enum { N = 37 };
	static float a[N * N], b[N * N], c[N * N];
	struct devctx *ctx = open_cpu(false);
	size_t bytes = sizeof(a);
	rgpu_devptr_t da, db, dc, small;
	rgpu_module_t m;
	struct rgpu_launch_req r;
	char log[256];

	fill(a, N * N, 1.0f);
	fill(b, N * N, 0.5f);
	REQUIRE(devctx_malloc(ctx, bytes, &da) == 0);
	REQUIRE(devctx_malloc(ctx, bytes, &db) == 0);
	REQUIRE(devctx_malloc(ctx, bytes, &dc) == 0);
	REQUIRE(devctx_malloc(ctx, bytes - 4, &small) == 0);
	CHECK_EQ(devctx_htod(ctx, da, a, bytes), 0);
	CHECK_EQ(devctx_htod(ctx, db, b, bytes), 0);
	CHECK_EQ(devctx_module_load(ctx, ".version 7.0\n.target sm_80\n"
				    ".entry x() { ret; }", &m, log,
				    sizeof(log)), RGPU_ERR_INVALID_PTX);
	CHECK(strstr(log, "--allow-ptx"));
	REQUIRE(devctx_module_load(ctx, rgpu_kernels_ptx, &m, log,
				   sizeof(log)) == 0);
	r = sgemm_req(m, da, db, dc, N);
	r.module ^= 1ull << 40;
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_HANDLE);
	r = sgemm_req(m, da, db, small, N); /* C one float short */
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_VALUE);
	r = sgemm_req(m, da, db, dc, N);
	r.args[2].kind = RGPU_ARG_VALUE; /* a raw address */
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_VALUE);
	r = sgemm_req(m, da, db, dc, N);
	r.nargs = 3;
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_VALUE);
	r = sgemm_req(m, da, db, dc, N);
	r.block.x = 8;
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_VALUE);
	r = sgemm_req(m, da, db, dc, N);
	r.args[1].value ^= 1ull << 50;
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_INVALID_DEVICE_POINTER);
	r = sgemm_req(m, da, db, dc, N);
	memcpy(r.name, "nope", 5);
	r.name_len = 4;
	CHECK_EQ(devctx_launch(ctx, &r), RGPU_ERR_NOT_FOUND);
	r = sgemm_req(m, da, db, dc, N);
	CHECK_EQ(devctx_launch(ctx, &r), 0);
	CHECK_EQ(devctx_dtoh(ctx, c, dc, bytes), 0);
	for (int i = 0; i < N; i += 5)
		for (int j = 0; j < N; j += 3) {
			double ref = 0;

			for (int k = 0; k < N; k++)
				ref += (double)a[i * N + k] * b[k * N + j];
			CHECK(fabs(c[i * N + j] - ref) < 1e-4);
		}
	CHECK_EQ(devctx_module_unload(ctx, m), 0);
	CHECK_EQ(devctx_module_unload(ctx, m), RGPU_ERR_INVALID_HANDLE);
	devctx_close(ctx);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "header_bytes", t_header_bytes },
		{ "header_checks", t_header_checks },
		{ "reply_checks", t_reply_checks },
		{ "launch_body", t_launch_body },
		{ "ptx_sig", t_ptx_sig },
		{ "pointers", t_pointers },
		{ "launch_checks", t_launch_checks },
		{ NULL, NULL },
	};

	return t_run(cases, argc, argv);
}
