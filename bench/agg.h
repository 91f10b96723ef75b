/* SPDX-License-Identifier: MIT */
/*
 * The aggregate benchmark (many pairs of domains at once), the memory
 * bandwidth reference it is judged against, and the report that runs the
 * whole suite.
 */
#ifndef V4V_AGG_H
#define V4V_AGG_H

#include <stddef.h>
#include <stdint.h>

/* memref.c: the aggregate memcpy rate of this machine, measured now. */
struct memref {
	int threads;		/* one per online CPU */
	size_t llc;		/* last-level cache, bytes (as detected) */
	size_t big_bytes;	/* all threads' source buffers: 4 x llc */
	size_t small_bytes;	/* all threads' source buffers, in cache */
	double big_mbps;	/* bytes copied per µs, all threads */
	double small_mbps;
};

/* The last-level cache size the CPU reports (sysconf, else 32 MiB). */
size_t memref_llc(void);
/* Measure both rates with `threads` threads for about `seconds` each;
 * llc 0 means detect.  0, or -1 if the buffers cannot be had. */
int memref_measure(struct memref *m, int threads, size_t llc,
		   double seconds);

/* aggregate.c */
int cmd_bench_aggregate(int argc, char **argv);
/* report.c */
int cmd_bench_report(int argc, char **argv);

#endif
