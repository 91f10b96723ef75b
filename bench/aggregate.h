/* SPDX-License-Identifier: MIT */
/*
 * Inside v4v bench aggregate (aggregate*.c): its options, the
 * coordinator's orders to a domain and a domain's report, one measured
 * point.  agg.h is what the rest of the bench sees.
 */
#ifndef V4V_AGGREGATE_H
#define V4V_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "sbench.h"

#define MAX_PAIRS 16
#define MAX_POINTS 4096
#define MIN_SIZE 64

enum { AM_STREAM = 1, AM_PINGPONG = 2 };
enum { PIN_NONE, PIN_SPREAD, PIN_PAIR, PIN_BEST };

struct atrans {
	const char *name;
	const struct stransport *st;
	bool v4v, gen;
};

struct aopts {
	int pairs[MAX_PAIRS], npairs, maxpairs;
	size_t min, max;
	unsigned step;
	double seconds, warm, memref_seconds;
	double idle_s;		/* strict v4vd's CPU over this long idle */
	int modes, pin, spin, buf;
	size_t llc;
	bool netns, quiet, memref;
	const char *transports, *json, *plot;
};

/* Coordinator to domain. */
struct ctl {
	uint32_t op; /* 0 quit, 1 run */
	uint32_t mode;
	uint64_t size;
	double go_us, count_us, end_us;
	int32_t spin_us;
	int32_t pin; /* PIN_NONE, PIN_SPREAD or PIN_PAIR */
};

/* Domain to coordinator (one atomic pipe write). */
struct rep {
	int32_t pair, side, err, ready;
	int32_t late; /* began after count_us: the window was not all seen */
	uint64_t rx_bytes, rx_msgs, rtts;
	double cpu_us;
	char why[64];
};

struct aresult {
	const struct atrans *t;
	int mode, pairs;
	size_t size;
	double mbps, msgs, min_pair, max_pair, cpu_s_per_gb;
	uint64_t rtts;
	int pin;
};

/* aggregate_domain.c: a domain's life, in its own process: connect (side
 * 1 listens and writes its address to addr_w, side 0 dials *peer), say
 * ready on rep_w, run the points read from ctl_r until told to quit. */
_Noreturn void agg_domain(const struct aopts *o, const struct atrans *t,
			  int pair, int side, int ctl_r, int rep_w,
			  int addr_w, struct bench_addr *peer);

/* aggregate_fleet.c: every point of one transport, appended to res
 * (*nres of them so far); *step of nsteps counts the progress line.  For
 * v4v-strict with o->idle_s, *idle_cpu_s gets its v4vd's CPU seconds
 * over that long after the runs, every connection still open. */
int agg_run_transport(const struct aopts *o, const struct atrans *t,
		      struct aresult *res, int *nres, int *step, int nsteps,
		      double *idle_cpu_s);
int agg_nsizes(const struct aopts *o);
int agg_nmodes(const struct aopts *o);
const char *agg_mode_name(int m);

/* aggregate_output.c: the tables, JSON and plot; m NULL if there is no
 * memcpy reference. */
void agg_fmt_size(char *b, size_t len, size_t s);
void agg_print_grid(const struct aresult *r, int n, const struct aopts *o,
		    const struct atrans **ts, int nts, int mode);
void agg_print_details(const struct aresult *r, int n);
void agg_print_summary(const struct aresult *r, int n,
		       const struct aopts *o, const struct memref *m);
int agg_write_json(const char *path, const struct aresult *r, int n,
		   const struct memref *m);
int agg_write_plot(const char *png, const struct aresult *r, int n,
		   const struct aopts *o, const struct atrans **ts, int nts,
		   const struct memref *m);

#endif
