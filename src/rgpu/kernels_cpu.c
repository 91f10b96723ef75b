/* SPDX-License-Identifier: MIT */
/* CPU implementations of the shipped kernels. */
#include "rgpu/kernels.h"

#include <pthread.h>
#include <string.h>

/* Cache blocking for the product: a KB x JB block of B (256 KiB) stays in
 * L2 while every row of the thread's slice of A streams past it. */
#define JB 512u
#define KB 128u
#define MAX_THREADS 16u

struct sgemm_job {
	const float *a, *b;
	float *c;
	uint32_t n, r0, r1, cols;
};

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void sgemm_rows(const struct sgemm_job *j)
{
	uint64_t n = j->n;

	for (uint32_t jj = 0; jj < j->cols; jj += JB) {
		uint32_t je = min_u32(j->cols, jj + JB);

		for (uint32_t kk = 0; kk < j->n; kk += KB) {
			uint32_t ke = min_u32(j->n, kk + KB);

			for (uint32_t i = j->r0; i < j->r1; i++) {
				float *c = j->c + i * n;
				const float *a = j->a + i * n;

				if (kk == 0)
					memset(c + jj, 0, (je - jj) * 4);
				for (uint32_t k = kk; k < ke; k++) {
					const float *b = j->b + k * n;
					float aik = a[k];

					for (uint32_t x = jj; x < je; x++)
						c[x] += aik * b[x];
				}
			}
		}
	}
}

static void *sgemm_thread(void *arg)
{
	sgemm_rows(arg);
	return NULL;
}

void rgpu_cpu_sgemm(const float *a, const float *b, float *c, uint32_t n,
		    uint32_t rows, uint32_t cols, unsigned nthreads)
{
	struct sgemm_job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned started = 0;

	if (nthreads < 1 || (uint64_t)rows * cols * n < (1u << 20))
		nthreads = 1; /* not worth a thread */
	nthreads = min_u32(nthreads, MAX_THREADS);
	for (unsigned t = 0; t < nthreads; t++) {
		jobs[t] = (struct sgemm_job){ a, b, c, n,
					      (uint32_t)((uint64_t)rows * t / nthreads),
					      (uint32_t)((uint64_t)rows * (t + 1) / nthreads),
					      cols };
	}
	/* This thread takes slice 0; a thread that cannot start is done
	 * here too. */
	for (unsigned t = 1; t < nthreads; t++)
		if (pthread_create(&tid[started + 1], NULL, sgemm_thread,
				   &jobs[t]) == 0)
			started++;
		else
			sgemm_rows(&jobs[t]);
	sgemm_rows(&jobs[0]);
	for (unsigned t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
}

void rgpu_cpu_stencil5(const float *in, float *out, uint32_t n, float c0,
		       float c1, uint32_t rows, uint32_t cols)
{
	uint64_t w = n;

	for (uint32_t i = 0; i < rows; i++) {
		for (uint32_t j = 0; j < cols; j++) {
			const float *p = in + i * w + j;
			float s;

			if (i == 0 || j == 0 || i == n - 1 || j == n - 1) {
				out[i * w + j] = *p;
				continue;
			}
			s = p[-(int64_t)w] + p[w];
			s += p[-1];
			s += p[1];
			out[i * w + j] = c0 * p[0] + c1 * s;
		}
	}
}

/* Elements of the n x n output covered by `cover` threads along an axis. */
static uint32_t covered(uint32_t n, uint32_t grid, uint32_t block)
{
	uint64_t c = (uint64_t)grid * block;

	return c < n ? (uint32_t)c : n;
}

static int matrix_arg(const struct rgpu_karg *a, uint32_t n)
{
	if (a->kind != RGPU_ARG_DEVPTR || a->size != 8)
		return -1;
	return a->avail / 4 / n < n ? -1 : 0;
}

static int value_arg(const struct rgpu_karg *a, uint32_t size)
{
	return a->kind == RGPU_ARG_VALUE && a->size == size ? 0 : -1;
}

static int check_sgemm(struct rgpu_dim3 b, const struct rgpu_karg *a,
		       unsigned nargs)
{
	uint32_t n;

	if (nargs != 4 || value_arg(&a[3], 4))
		return RGPU_ERR_INVALID_VALUE;
	n = (uint32_t)a[3].value;
	/* .reqntid 16, 16, 1 in the PTX: the GPU refuses other shapes. */
	if (b.x != RGPU_SGEMM_TILE || b.y != RGPU_SGEMM_TILE || b.z != 1)
		return RGPU_ERR_INVALID_VALUE;
	for (int i = 0; i < 3 && n; i++)
		if (matrix_arg(&a[i], n))
			return RGPU_ERR_INVALID_VALUE;
	return 0;
}

static int check_stencil(const struct rgpu_karg *a, unsigned nargs)
{
	uint32_t n;

	if (nargs != 5 || value_arg(&a[2], 4) || value_arg(&a[3], 4) ||
	    value_arg(&a[4], 4))
		return RGPU_ERR_INVALID_VALUE;
	n = (uint32_t)a[2].value;
	if (n && (matrix_arg(&a[0], n) || matrix_arg(&a[1], n)))
		return RGPU_ERR_INVALID_VALUE;
	return 0;
}

int rgpu_kernel_check(const char *name, struct rgpu_dim3 grid,
		      struct rgpu_dim3 block, const struct rgpu_karg *args,
		      unsigned nargs)
{
	(void)grid; /* any grid stays inside n x n: the kernels test it */
	if (strcmp(name, RGPU_SGEMM_NAME) == 0)
		return check_sgemm(block, args, nargs);
	if (strcmp(name, RGPU_STENCIL_NAME) == 0)
		return check_stencil(args, nargs);
	return RGPU_ERR_NOT_FOUND;
}

static float f32_of(uint64_t v)
{
	uint32_t bits = (uint32_t)v;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

int rgpu_cpu_launch(const char *name, struct rgpu_dim3 g, struct rgpu_dim3 b,
		    const struct rgpu_karg *a, unsigned nargs,
		    unsigned nthreads)
{
	int rc = rgpu_kernel_check(name, g, b, a, nargs);
	uint32_t n;

	if (rc)
		return rc;
	if (strcmp(name, RGPU_SGEMM_NAME) == 0) {
		n = (uint32_t)a[3].value;
		if (n)
			rgpu_cpu_sgemm((const float *)(uintptr_t)a[0].value,
				       (const float *)(uintptr_t)a[1].value,
				       (float *)(uintptr_t)a[2].value, n,
				       covered(n, g.y, b.y),
				       covered(n, g.x, b.x), nthreads);
		return 0;
	}
	n = (uint32_t)a[2].value;
	if (n)
		rgpu_cpu_stencil5((const float *)(uintptr_t)a[0].value,
				  (float *)(uintptr_t)a[1].value, n,
				  f32_of(a[3].value), f32_of(a[4].value),
				  covered(n, g.y, b.y), covered(n, g.x, b.x));
	return 0;
}
