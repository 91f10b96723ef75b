/* SPDX-License-Identifier: MIT */
/*
 * The memory-bandwidth reference: how many bytes per second this machine
 * copies with memcpy, all cores at once, for buffers four times the
 * last-level cache (what DRAM allows) and for buffers that fit in each
 * core's cache (what the caches allow).  Each thread copies its own
 * source buffer into its own destination, pass after pass, in 1 MiB
 * memcpy calls; the rate is the bytes copied (not read plus written) per
 * second, summed over the threads, best of three timed slices.
 */
#include "agg.h"
#include "bench.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PIECE (1u << 20)
#define MAX_THREADS 64

struct copier {
	int cpu;
	size_t len;
	uint8_t *src, *dst;
	double seconds;
	double mbps;
	pthread_barrier_t *go;
};

size_t memref_llc(void)
{
	long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
	long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);

	if (l3 > 0)
		return (size_t)l3;
	if (l2 > 0)
		return (size_t)l2;
	return 32u << 20;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_HUGEPAGE); /* fewer faults to set up */
	return p;
}

static void *copy_loop(void *arg)
{
	struct copier *c = arg;
	size_t piece = c->len < PIECE ? c->len : PIECE;
	double best = 0;

	bench_pin(c->cpu);
	memset(c->src, 0x5a, c->len); /* fault in, on this thread's core */
	memset(c->dst, 0xa5, c->len);
	pthread_barrier_wait(c->go);
	for (int slice = 0; slice < 3; slice++) {
		double t0 = bench_now_us(), t;
		uint64_t bytes = 0;

		do {
			for (size_t off = 0; off + piece <= c->len;
			     off += piece)
				memcpy(c->dst + off, c->src + off, piece);
			bytes += c->len / piece * piece;
			t = bench_now_us();
		} while (t - t0 < c->seconds * 1e6 / 3);
		if ((double)bytes / (t - t0) > best)
			best = (double)bytes / (t - t0);
		/* All threads time the same slices. */
		pthread_barrier_wait(c->go);
	}
	c->mbps = best;
	return NULL;
}

/* All threads, each with `per` bytes of source; the summed rate. */
static double run(int threads, size_t per, double seconds, bool *ok)
{
	struct copier c[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	pthread_barrier_t go;
	double sum = 0;
	int n = 0;

	pthread_barrier_init(&go, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		c[i] = (struct copier){ .cpu = i, .len = per,
					.seconds = seconds, .go = &go,
					.src = map(per), .dst = map(per) };
		if (!c[i].src || !c[i].dst) {
			*ok = false;
			threads = i + 1;
			break;
		}
	}
	if (*ok)
		for (; n < threads; n++)
			if (pthread_create(&tid[n], NULL, copy_loop, &c[n]))
				break;
	if (n != threads) /* cannot happen on a sane machine */
		*ok = false;
	for (int i = 0; i < n; i++) {
		pthread_join(tid[i], NULL);
		sum += c[i].mbps;
	}
	for (int i = 0; i < threads; i++) {
		if (c[i].src)
			munmap(c[i].src, per);
		if (c[i].dst)
			munmap(c[i].dst, per);
	}
	pthread_barrier_destroy(&go);
	return sum;
}

int memref_measure(struct memref *m, int threads, size_t llc, double seconds)
{
	long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
	size_t small;
	bool ok = true;

	if (threads < 1)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (!llc)
		llc = memref_llc();
	/* In cache: source and destination together take half of one
	 * core's L2 (or 256 KiB each when L2 is not reported). */
	small = l2 > 0 ? (size_t)l2 / 4 : 256u << 10;
	if (small < 16u << 10)
		small = 16u << 10;
	*m = (struct memref){ .threads = threads, .llc = llc };
	m->big_bytes = (4 * llc / (size_t)threads) & ~(size_t)(PIECE - 1);
	if (m->big_bytes < PIECE)
		m->big_bytes = PIECE;
	m->big_mbps = run(threads, m->big_bytes, seconds, &ok);
	m->big_bytes *= (size_t)threads;
	m->small_bytes = small * (size_t)threads;
	m->small_mbps = run(threads, small, seconds, &ok);
	return ok ? 0 : -1;
}
