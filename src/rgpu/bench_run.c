/* SPDX-License-Identifier: MIT */
/* rgpu-bench: one transport's runs, timed and checked. */
#include "rgpu/bench.h"
#include "rgpu/kernels.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rgpu/rgpu.h"

#define MAX_REPS 64
#define MATMUL_SAMPLES 512
#define STENCIL_C0 0.5f
#define STENCIL_C1 0.125f

struct samples {
	double htod[2 * MAX_REPS], kern[MAX_REPS], dtoh[MAX_REPS];
	unsigned nh, nk, nd;
};

/* Host and device buffers of one size: inputs a (and b), output c. */
struct bufs {
	uint32_t n;
	size_t bytes;
	bool pinned; /* host buffers from rgpu_host_alloc */
	float *a, *b, *c;
	rgpu_devptr_t da, db, dc;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double median(double *v, unsigned n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Uniform in [-1, 1), reproducible. */
static void fill(float *m, size_t count, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < count; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		m[i] = (float)((double)(x >> 11) / (double)(1ull << 52) - 1.0);
	}
}

/* A full reference product costs as much as the run: check a sample of
 * entries instead, each exactly (double) against the float error bound
 * of an n-term dot product. */
static bool check_matmul(const struct bufs *m)
{
	uint64_t n = m->n, x = 12345;

	for (unsigned s = 0; s < MATMUL_SAMPLES; s++) {
		uint64_t i, j;
		double ref = 0, mag = 0;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		i = (x >> 33) % n;
		j = (x >> 13) % n;
		for (uint64_t k = 0; k < n; k++) {
			double p = (double)m->a[i * n + k] * m->b[k * n + j];

			ref += p;
			mag += fabs(p);
		}
		if (fabs(m->c[i * n + j] - ref) >
		    (double)n * FLT_EPSILON * mag + 1e-6)
			return false;
	}
	return true;
}

static bool check_stencil(const struct bufs *m)
{
	uint64_t n = m->n;

	for (uint64_t i = 0; i < n; i++) {
		for (uint64_t j = 0; j < n; j++) {
			const float *p = m->a + i * n + j;
			double ref = *p, mag = fabs(*p);

			if (i && j && i < n - 1 && j < n - 1) {
				double s = (double)p[-(int64_t)n] + p[n] +
					   p[-1] + p[1];

				ref = STENCIL_C0 * (double)p[0] + STENCIL_C1 * s;
				mag = fabs(STENCIL_C0 * p[0]) +
				      STENCIL_C1 * (fabs(p[-(int64_t)n]) +
						    fabs(p[n]) + fabs(p[-1]) +
						    fabs(p[1]));
			}
			if (fabs(m->c[i * n + j] - ref) > 8 * FLT_EPSILON * mag)
				return false;
		}
	}
	return true;
}

static bool failed(const char *what, rgpu_error_t e, const char *t,
		   const char *k, uint32_t n)
{
	if (e == RGPU_SUCCESS)
		return false;
	fprintf(stderr, "\nrgpu-bench: %s %s n=%u: %s: %s\n", t, k, n, what,
		rgpu_error_string(e));
	return true;
}

static float *host_alloc(const struct bufs *m)
{
	void *p = NULL;

	if (!m->pinned)
		return malloc(m->bytes);
	return rgpu_host_alloc(&p, m->bytes) ? NULL : p;
}

static void host_free(const struct bufs *m, float *p)
{
	if (m->pinned)
		rgpu_host_free(p);
	else
		free(p);
}

static void bufs_free(struct bufs *m)
{
	if (m->da)
		rgpu_free(m->da);
	if (m->db)
		rgpu_free(m->db);
	if (m->dc)
		rgpu_free(m->dc);
	host_free(m, m->a);
	host_free(m, m->b);
	host_free(m, m->c);
}

static rgpu_error_t bufs_alloc(struct bufs *m, uint32_t n, bool two_inputs,
			       bool pinned)
{
	rgpu_error_t e;

	*m = (struct bufs){ .n = n, .bytes = (size_t)n * n * sizeof(float),
			    .pinned = pinned };
	m->a = host_alloc(m);
	m->b = two_inputs ? host_alloc(m) : NULL;
	m->c = host_alloc(m);
	if (!m->a || !m->c || (two_inputs && !m->b))
		return RGPU_ERR_MEMORY_ALLOCATION;
	fill(m->a, (size_t)n * n, n);
	if (two_inputs)
		fill(m->b, (size_t)n * n, n + 1);
	e = rgpu_malloc(&m->da, m->bytes);
	if (!e && two_inputs)
		e = rgpu_malloc(&m->db, m->bytes);
	return e ? e : rgpu_malloc(&m->dc, m->bytes);
}

static rgpu_error_t launch(rgpu_module_t mod, enum bench_kernel k,
			   const struct bufs *m)
{
	uint32_t t = RGPU_SGEMM_TILE, g = (m->n + t - 1) / t;
	struct rgpu_dim3 grid = { g, g, 1 }, block = { t, t, 1 };
	struct rgpu_arg mm[4] = { rgpu_arg_ptr(m->da), rgpu_arg_ptr(m->db),
				  rgpu_arg_ptr(m->dc), rgpu_arg_u32(m->n) };
	struct rgpu_arg st[5] = { rgpu_arg_ptr(m->da), rgpu_arg_ptr(m->dc),
				  rgpu_arg_u32(m->n), rgpu_arg_f32(STENCIL_C0),
				  rgpu_arg_f32(STENCIL_C1) };

	if (k == BK_MATMUL)
		return rgpu_launch_kernel(mod, RGPU_SGEMM_NAME, grid, block, 0,
					  mm, 4);
	return rgpu_launch_kernel(mod, RGPU_STENCIL_NAME, grid, block, 0, st,
				  5);
}

/* One repetition: inputs over, kernel, result back; each step timed. */
static rgpu_error_t one_rep(rgpu_module_t mod, enum bench_kernel k,
			    struct bufs *m, struct samples *s)
{
	rgpu_error_t e;
	double t0 = now_ms();

	e = rgpu_memcpy_htod(m->da, m->a, m->bytes);
	s->htod[s->nh++] = now_ms() - t0;
	if (!e && m->b) {
		t0 = now_ms();
		e = rgpu_memcpy_htod(m->db, m->b, m->bytes);
		s->htod[s->nh++] = now_ms() - t0;
	}
	if (e)
		return e;
	t0 = now_ms();
	e = launch(mod, k, m);
	e = e ? e : rgpu_device_synchronize();
	s->kern[s->nk++] = now_ms() - t0;
	if (e)
		return e;
	memset(m->c, 0, m->bytes); /* a stale result must not pass */
	t0 = now_ms();
	e = rgpu_memcpy_dtoh(m->c, m->dc, m->bytes);
	s->dtoh[s->nd++] = now_ms() - t0;
	return e;
}

static void run_size(const struct bench_cfg *cfg, enum bench_transport t,
		     rgpu_module_t mod, enum bench_kernel k, uint32_t n,
		     struct bench_results *res)
{
	const char *tn = bench_transport_name[t], *kn = bench_kernel_name[k];
	struct bench_rec *r = &res->rec[res->n];
	struct samples s = { .nh = 0 };
	struct bufs m;
	rgpu_error_t e = bufs_alloc(&m, n, k == BK_MATMUL,
				    t == BT_LOCAL_PINNED);

	*r = (struct bench_rec){ .transport = tn, .kernel = kn, .n = n };
	snprintf(r->backend, sizeof(r->backend), "%s", rgpu_backend_name());
	failed("allocation", e, tn, kn, n);
	for (unsigned i = 0; i < cfg->reps && !e; i++) {
		bench_progress("%s %s n=%u rep %u/%u", tn, kn, n, i + 1,
			       cfg->reps);
		e = one_rep(mod, k, &m, &s);
		failed("run", e, tn, kn, n);
	}
	r->htod_ms = median(s.htod, s.nh);
	r->kernel_ms = median(s.kern, s.nk);
	r->dtoh_ms = median(s.dtoh, s.nd);
	r->ok = !e && (k == BK_MATMUL ? check_matmul(&m) : check_stencil(&m));
	if (!e && !r->ok)
		fprintf(stderr, "\nrgpu-bench: %s %s n=%u: WRONG RESULT\n", tn,
			kn, n);
	res->failures += !r->ok;
	res->n++;
	bufs_free(&m);
}

static uint32_t matmul_limit(const struct bench_cfg *cfg)
{
	if (cfg->max_matmul)
		return cfg->max_matmul;
	return strcmp(rgpu_backend_name(), "cpu") == 0 ? 1024 : UINT32_MAX;
}

void bench_run_transport(const struct bench_cfg *cfg, enum bench_transport t,
			 struct bench_results *res)
{
	char log[4096];
	rgpu_module_t mod;
	rgpu_error_t e = rgpu_module_load(&mod, rgpu_shipped_ptx(), log,
					  sizeof(log));

	if (e) {
		fprintf(stderr, "rgpu-bench: %s: module load: %s\n%s\n",
			bench_transport_name[t], rgpu_error_string(e), log);
		res->failures++;
		return;
	}
	for (int k = 0; k < BK_COUNT; k++) {
		if (!cfg->kernel[k])
			continue;
		for (unsigned i = 0; i < cfg->nsizes; i++) {
			uint32_t n = cfg->sizes[i];

			if (k == BK_MATMUL && n > matmul_limit(cfg))
				continue;
			if (res->n == BENCH_MAX_RECS)
				return;
			run_size(cfg, t, mod, (enum bench_kernel)k, n, res);
		}
	}
	rgpu_module_unload(mod);
}
