/* SPDX-License-Identifier: MIT */
/*
 * What v4v bench aggregate prints and writes: the grid of aggregate rates
 * per transport, the details of every point, the summary against the
 * memcpy reference, JSON, and the plot (gnuplot).
 */
#include "aggregate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void agg_fmt_size(char *b, size_t len, size_t s)
{
	/* Message sizes stay far below 4 GiB: 10 digits at most. */
	if (s >= 1 << 20 && !(s & ((1 << 20) - 1)))
		snprintf(b, len, "%uM", (unsigned)(s >> 20));
	else if (s >= 1 << 10 && !(s & ((1 << 10) - 1)))
		snprintf(b, len, "%uK", (unsigned)(s >> 10));
	else
		snprintf(b, len, "%uB", (unsigned)s);
}

static const struct aresult *find(const struct aresult *r, int n,
				  const char *t, int mode, size_t size,
				  int pairs)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t->name, t) && r[i].mode == mode &&
		    r[i].size == size && r[i].pairs == pairs)
			return &r[i];
	return NULL;
}

void agg_print_grid(const struct aresult *r, int n, const struct aopts *o,
		       const struct atrans **ts, int nts, int mode)
{
	printf("\nAggregate %s, both directions at once: MB/s received by "
	       "all domains (x: vs generic)\n%6s %5s",
	       mode == AM_STREAM ? "streaming" : "ping-pong", "size", "pairs");
	for (int i = 0; i < nts; i++)
		printf(" %17s", ts[i]->name);
	printf("\n");
	for (size_t s = o->min; s <= o->max; s *= o->step)
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *g = find(r, n, "generic", mode, s,
						       o->pairs[p]);
			char sz[16];

			agg_fmt_size(sz, sizeof(sz), s);
			printf("%6s %5d", sz, o->pairs[p]);
			for (int i = 0; i < nts; i++) {
				const struct aresult *x = find(r, n,
					ts[i]->name, mode, s, o->pairs[p]);
				char cell[40] = "-";

				if (x && g && g != x && g->mbps > 0)
					snprintf(cell, sizeof(cell),
						 "%9.0f %6.1fx", x->mbps,
						 x->mbps / g->mbps);
				else if (x)
					snprintf(cell, sizeof(cell), "%9.0f",
						 x->mbps);
				printf(" %17s", cell);
			}
			printf("\n");
		}
}

static const char *pin_name(int pin)
{
	return pin == PIN_PAIR ? "pair" : pin == PIN_SPREAD ? "spread"
								: "none";
}

void agg_print_details(const struct aresult *r, int n)
{
	printf("\nEvery point: aggregate MB/s and messages/s (received, all "
	       "domains), slowest and fastest pair, CPU seconds per GB moved\n"
	       "%-10s %-8s %6s %5s %9s %10s %9s %9s %7s %8s %6s\n",
	       "transport", "mode", "size", "pairs", "MB/s", "msgs/s",
	       "min pair", "max pair", "min/max", "CPU s/GB", "pin");
	for (int i = 0; i < n; i++) {
		char sz[16];

		agg_fmt_size(sz, sizeof(sz), r[i].size);
		printf("%-10s %-8s %6s %5d %9.0f %10.0f %9.0f %9.0f %7.2f "
		       "%8.3f %6s\n", r[i].t->name, agg_mode_name(r[i].mode), sz,
		       r[i].pairs, r[i].mbps, r[i].msgs, r[i].min_pair,
		       r[i].max_pair,
		       r[i].max_pair > 0 ? r[i].min_pair / r[i].max_pair : 0,
		       r[i].cpu_s_per_gb, pin_name(r[i].pin));
	}
}

/* The headline: v4v streaming at the largest pair count, best size. */
void agg_print_summary(const struct aresult *r, int n,
			  const struct aopts *o, const struct memref *m)
{
	int maxp = o->pairs[o->npairs - 1];
	const struct aresult *best = NULL, *bestall = NULL;

	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].t->name, "v4v") || r[i].mode != AM_STREAM)
			continue;
		if (r[i].pairs == maxp && (!best || r[i].mbps > best->mbps))
			best = &r[i];
		if (!bestall || r[i].mbps > bestall->mbps)
			bestall = &r[i];
	}
	if (m) {
		char a[16], b[16];

		agg_fmt_size(a, sizeof(a), m->big_bytes);
		agg_fmt_size(b, sizeof(b), m->small_bytes);
		printf("\nMemory-bandwidth reference (memcpy, %d threads, "
		       "bytes copied per second):\n"
		       "  buffers 4 x LLC (%s source in all, LLC %zu KiB): "
		       "%9.0f MB/s\n"
		       "  buffers in cache (%s source in all):%*s%9.0f MB/s\n",
		       m->threads, a, m->llc >> 10, m->big_mbps, b,
		       (int)(strlen(a) + 14 + 6 - strlen(b)), "", m->small_mbps);
	}
	if (!best)
		return;
	{
		char sz[16];

		agg_fmt_size(sz, sizeof(sz), best->size);
		printf("\nv4v streaming, %d pairs, best size (%s): %.0f MB/s",
		       maxp, sz, best->mbps);
		if (m && m->big_mbps > 0)
			printf(" = %.0f %% of memcpy 4 x LLC, %.0f %% of memcpy "
			       "in cache", 100 * best->mbps / m->big_mbps,
			       100 * best->mbps / m->small_mbps);
		printf("\n  slowest pair / fastest pair: %.2f; %d pairs keep "
		       "%.0f %% of the best v4v aggregate (%.0f MB/s, %d "
		       "pairs)\n",
		       best->max_pair > 0 ? best->min_pair / best->max_pair : 0,
		       maxp, 100 * best->mbps / bestall->mbps, bestall->mbps,
		       bestall->pairs);
		for (int i = 0; i < n; i++)
			if (r[i].mode == AM_STREAM && r[i].size == best->size &&
			    r[i].pairs == maxp && r[i].t != best->t &&
			    r[i].mbps > 0)
				printf("  vs %-10s %8.0f MB/s: %5.1fx\n",
				       r[i].t->name, r[i].mbps,
				       best->mbps / r[i].mbps);
	}
}

int agg_write_json(const char *path, const struct aresult *r, int n,
		      const struct memref *m)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "[\n");
	if (m) {
		fprintf(f, "  {\"transport\": \"memcpy\", \"mode\": "
			"\"aggregate\", \"buffer\": \"4xLLC\", \"threads\": %d, "
			"\"size\": %zu, \"llc\": %zu, \"mbps\": %.1f},\n",
			m->threads, m->big_bytes, m->llc, m->big_mbps);
		fprintf(f, "  {\"transport\": \"memcpy\", \"mode\": "
			"\"aggregate\", \"buffer\": \"cache\", \"threads\": %d, "
			"\"size\": %zu, \"llc\": %zu, \"mbps\": %.1f}%s\n",
			m->threads, m->small_bytes, m->llc, m->small_mbps,
			n ? "," : "");
	}
	for (int i = 0; i < n; i++)
		fprintf(f, "  {\"transport\": \"%s\", \"mode\": \"aggregate\", "
			"\"traffic\": \"%s\", \"pairs\": %d, \"size\": %zu, "
			"\"mbps\": %.1f, \"msgs_per_s\": %.1f, "
			"\"min_pair_mbps\": %.1f, \"max_pair_mbps\": %.1f, "
			"\"cpu_s_per_gb\": %.4f, \"round_trips\": %llu, "
			"\"pin\": \"%s\"}%s\n",
			r[i].t->name, agg_mode_name(r[i].mode), r[i].pairs,
			r[i].size, r[i].mbps, r[i].msgs, r[i].min_pair,
			r[i].max_pair, r[i].cpu_s_per_gb,
			(unsigned long long)r[i].rtts, pin_name(r[i].pin),
			i + 1 < n ? "," : "");
	fprintf(f, "]\n");
	return fclose(f);
}

/* Left: streaming aggregate against pairs, every transport, at the size
 * where v4v does best with the most pairs; right: v4v at every size.
 * Both with the two memcpy rates as horizontal lines. */
int agg_write_plot(const char *png, const struct aresult *r, int n,
		      const struct aopts *o, const struct atrans **ts, int nts,
		      const struct memref *m)
{
	char data[] = "/tmp/v4vagg-plot.XXXXXX", sz[16];
	int fd = mkstemp(data), maxp = o->pairs[o->npairs - 1], idx = 0, rc;
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *g;
	const struct aresult *best = NULL;
	int blocks[64];
	const char *title[64];
	static char titles[64][32];

	if (!f)
		return -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t->name, "v4v") && r[i].mode == AM_STREAM &&
		    r[i].pairs == maxp && (!best || r[i].mbps > best->mbps))
			best = &r[i];
	if (!best)
		for (int i = 0; i < n; i++)
			if (r[i].mode == AM_STREAM && r[i].pairs == maxp &&
			    (!best || r[i].mbps > best->mbps))
				best = &r[i];
	if (!best) {
		fclose(f);
		unlink(data);
		return -1;
	}
	agg_fmt_size(sz, sizeof(sz), best->size);
	for (int i = 0; i < nts; i++) {
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *x = find(r, n, ts[i]->name,
				AM_STREAM, best->size, o->pairs[p]);

			if (x)
				fprintf(f, "%d %f\n", x->pairs, x->mbps);
		}
		fprintf(f, "\n\n");
		blocks[idx] = idx;
		title[idx++] = ts[i]->name;
	}
	for (size_t s = o->min; s <= o->max && idx < 64; s *= o->step) {
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *x = find(r, n, "v4v", AM_STREAM,
						       s, o->pairs[p]);

			if (x)
				fprintf(f, "%d %f\n", x->pairs, x->mbps);
		}
		fprintf(f, "\n\n");
		agg_fmt_size(titles[idx], sizeof(titles[idx]), s);
		blocks[idx] = idx;
		title[idx] = titles[idx];
		idx++;
	}
	fclose(f);
	g = popen("gnuplot", "w");
	if (!g) {
		unlink(data);
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 1400,560 noenhanced\n"
		   "set output '%s'\nset multiplot layout 1,2\nset grid\n"
		   "set xlabel 'pairs of domains'\nset ylabel 'MB/s'\n"
		   "set logscale y\nset key outside right\n"
		   "set xrange [0.8:%d]\nset logscale x 2\n", png, maxp + 1);
	for (int panel = 0; panel < 2; panel++) {
		if (panel == 0)
			fprintf(g, "set title 'Aggregate streaming, %s "
				   "messages, both directions'\nplot ", sz);
		else
			fprintf(g, "set title 'v4v aggregate streaming by "
				   "message size'\nplot ");
		for (int i = panel ? nts : 0; i < (panel ? idx : nts); i++)
			fprintf(g, "'%s' index %d with linespoints title '%s', ",
				data, blocks[i], title[i]);
		if (m)
			fprintf(g, "%f with lines dt 2 lw 2 title 'memcpy "
				   "4xLLC', %f with lines dt 3 lw 2 title "
				   "'memcpy in cache'\n",
				m->big_mbps, m->small_mbps);
		else
			fprintf(g, "1/0 notitle\n");
	}
	fprintf(g, "unset multiplot\n");
	rc = pclose(g);
	unlink(data);
	return rc;
}
