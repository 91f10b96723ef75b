/* SPDX-License-Identifier: MIT */
/* rgpu-bench: the table, the JSON records and the plot. */
#include "rgpu/bench.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bench_progress(const char *fmt, ...)
{
	static int tty = -1;
	char line[160];
	va_list ap;

	if (tty < 0)
		tty = isatty(2);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* On a terminal one line rewritten in place; in a log, one line
	 * per step. */
	fprintf(stderr, tty ? "\rrgpu-bench: %-50s" : "rgpu-bench: %s\n", line);
}

static double gbps(uint32_t n, double ms)
{
	return ms > 0 ? (double)n * n * 4 / (ms * 1e6) : 0;
}

static const struct bench_rec *find(const struct bench_results *res,
				    const char *t, uint32_t n)
{
	for (unsigned i = 0; i < res->n; i++)
		if (strcmp(res->rec[i].transport, t) == 0 &&
		    res->rec[i].n == n && res->rec[i].ok)
			return &res->rec[i];
	return NULL;
}

/* The largest n that `t` has a good record of, 0 if none. */
static uint32_t largest(const struct bench_results *res, const char *t)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < res->n; i++)
		if (find(res, t, res->rec[i].n) && res->rec[i].n > n)
			n = res->rec[i].n;
	return n;
}

/* "0.58x" (base_ms / ms: how many times the baseline's speed), or "-". */
static const char *vs(char *buf, size_t sz, double ms,
		      const struct bench_rec *base, bool htod)
{
	double b = base ? (htod ? base->htod_ms : base->dtoh_ms) : 0;

	if (b <= 0 || ms <= 0)
		return "-";
	snprintf(buf, sz, "%.2fx", b / ms);
	return buf;
}

/* The copies at the largest size v4v ran: every transport's, then each
 * remote one against the in-process bounds (pageable and pinned host
 * memory) and v4v against tcp. */
static void print_compare(const struct bench_results *res)
{
	const struct bench_rec *r[BT_COUNT];
	uint32_t n = largest(res, "v4v");

	if (!n)
		return;
	for (int t = 0; t < BT_COUNT; t++)
		r[t] = find(res, bench_transport_name[t], n);
	printf("\ncopies of one %ux%u matrix (%.1f MiB), medians:\n", n, n,
	       (double)n * n * 4 / 1048576.0);
	for (int t = 0; t < BT_COUNT; t++)
		if (r[t])
			printf("  %-13s htod %9.3f ms %7.2f GB/s   dtoh %9.3f ms "
			       "%7.2f GB/s\n", r[t]->transport, r[t]->htod_ms,
			       gbps(n, r[t]->htod_ms), r[t]->dtoh_ms,
			       gbps(n, r[t]->dtoh_ms));
	for (int t = BT_V4V; t <= BT_TCP; t++) {
		char a[16], b[16], c[16], d[16];

		if (!r[t] || (!r[BT_LOCAL] && !r[BT_LOCAL_PINNED]))
			continue;
		printf("  %s speed: htod %s of local, %s of local-pinned; "
		       "dtoh %s of local, %s of local-pinned\n",
		       r[t]->transport,
		       vs(a, sizeof(a), r[t]->htod_ms, r[BT_LOCAL], true),
		       vs(b, sizeof(b), r[t]->htod_ms, r[BT_LOCAL_PINNED], true),
		       vs(c, sizeof(c), r[t]->dtoh_ms, r[BT_LOCAL], false),
		       vs(d, sizeof(d), r[t]->dtoh_ms, r[BT_LOCAL_PINNED],
			  false));
	}
	if (r[BT_V4V] && r[BT_TCP])
		printf("\nhost-to-device copy of one %ux%u matrix (%.1f MiB): "
		       "v4v %.2f ms (%.2f GB/s), tcp %.2f ms (%.2f GB/s): "
		       "v4v %.2fx faster\n", n, n, (double)n * n * 4 / 1048576.0,
		       r[BT_V4V]->htod_ms, gbps(n, r[BT_V4V]->htod_ms),
		       r[BT_TCP]->htod_ms, gbps(n, r[BT_TCP]->htod_ms),
		       r[BT_TCP]->htod_ms / r[BT_V4V]->htod_ms);
}

void bench_print_table(const struct bench_results *res)
{
	printf("%-12s %-7s %-8s %6s %11s %11s %11s %10s %4s\n", "transport",
	       "backend", "kernel", "n", "htod_ms", "kernel_ms", "dtoh_ms",
	       "htod_GB/s", "ok");
	for (unsigned i = 0; i < res->n; i++) {
		const struct bench_rec *r = &res->rec[i];

		printf("%-12s %-7s %-8s %6u %11.3f %11.3f %11.3f %10.2f %4s\n",
		       r->transport, r->backend, r->kernel, r->n, r->htod_ms,
		       r->kernel_ms, r->dtoh_ms, gbps(r->n, r->htod_ms),
		       r->ok ? "yes" : "NO");
	}
	print_compare(res);
}

int bench_write_json(const char *path, const struct bench_results *res)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "[\n");
	for (unsigned i = 0; i < res->n; i++) {
		const struct bench_rec *r = &res->rec[i];

		fprintf(f, "  {\"transport\": \"%s\", \"backend\": \"%s\", "
			"\"kernel\": \"%s\", \"n\": %u, \"htod_ms\": %.4f, "
			"\"kernel_ms\": %.4f, \"dtoh_ms\": %.4f, \"ok\": %s}%s\n",
			r->transport, r->backend, r->kernel, r->n, r->htod_ms,
			r->kernel_ms, r->dtoh_ms, r->ok ? "true" : "false",
			i + 1 < res->n ? "," : "");
	}
	fprintf(f, "]\n");
	return fclose(f) ? -1 : 0;
}

/* One data block per transport: n, htod ms, htod GB/s, from the stencil's
 * records if any (it runs at every size; matmul may stop earlier), else
 * matmul's: both copy the same n x n matrices. */
static void write_data(FILE *f, const struct bench_results *res)
{
	const char *const *ts = bench_transport_name;

	for (unsigned t = 0; t < BT_COUNT; t++) {
		const char *kernel = NULL;

		/* gnuplot's names take no '-': blocks by number. */
		fprintf(f, "$t%u << EOD\n", t);
		for (unsigned i = 0; i < res->n; i++) {
			const struct bench_rec *r = &res->rec[i];

			if (strcmp(r->transport, ts[t]) || !r->ok)
				continue;
			if (!kernel || strcmp(r->kernel, "stencil") == 0)
				kernel = r->kernel;
		}
		for (unsigned i = 0; kernel && i < res->n; i++) {
			const struct bench_rec *r = &res->rec[i];

			if (strcmp(r->transport, ts[t]) || !r->ok)
				continue;
			if (strcmp(r->kernel, kernel) == 0)
				fprintf(f, "%u %.4f %.4f\n", r->n, r->htod_ms,
					gbps(r->n, r->htod_ms));
		}
		fprintf(f, "EOD\n");
	}
}

/* "$t0 u 1:COL w lp t 'v4v', ..." for the transports that have data:
 * gnuplot stops at an empty data block. */
static const char *plot_list(const struct bench_results *res, int col,
			     char *out, size_t outsz)
{
	const char *const *ts = bench_transport_name;
	size_t len = 0;

	out[0] = '\0';
	for (unsigned t = 0; t < BT_COUNT; t++) {
		bool any = false;

		for (unsigned i = 0; i < res->n && !any; i++)
			any = strcmp(res->rec[i].transport, ts[t]) == 0 &&
			      res->rec[i].ok;
		if (any)
			len += (size_t)snprintf(out + len, outsz - len,
						"%s$t%u u 1:%d w lp t '%s'",
						len ? ", " : "", t, col,
						t == BT_LOCAL ? "local (pageable)"
						: t == BT_LOCAL_PINNED
							? "local-pinned (bound)"
							: ts[t]);
	}
	return out;
}

int bench_write_plot(const char *path, const struct bench_results *res)
{
	char script[] = "/tmp/rgpu-bench-plot.XXXXXX";
	int fd = mkstemp(script), rc;
	char cmd[600], p1[256], p2[256];
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f)
		return -1;
	write_data(f, res);
	fprintf(f,
		"set terminal pngcairo size 1200,480\n"
		"set output '%s'\n"
		"set multiplot layout 1,2 title 'rgpu: one host-to-device copy "
		"of an n x n float matrix (%s backend)'\n"
		"set logscale x 2\nset grid\nset key top left\n"
		"set xlabel 'n'\n"
		"set logscale y\nset ylabel 'htod time (ms)'\n"
		"plot %s\n"
		"unset logscale y\nset ylabel 'htod bandwidth (GB/s)'\n"
		"plot %s\n"
		"unset multiplot\n",
		path, res->n ? res->rec[0].backend : "?",
		plot_list(res, 2, p1, sizeof(p1)), plot_list(res, 3, p2, sizeof(p2)));
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot %s 2>&1", script);
	rc = system(cmd);
	unlink(script);
	return rc == 0 ? 0 : -1;
}
