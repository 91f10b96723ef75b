/* SPDX-License-Identifier: MIT */
/*
 * The CPU backend: "device" memory is host memory and the shipped kernels
 * run on the host's cores.  A copy-engine thread per session plays the
 * GPU's DMA engine, so that pipelined copies overlap as they would on a
 * GPU.
 */
#include "rgpu/backend.h"
#include "rgpu/ptx_sig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QLEN 8

struct copy_job {
	void *dst;
	const void *src;
	uint64_t n;
	int slot;
};

struct rgpu_bsess {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t engine;
	bool engine_on, stop;
	struct copy_job q[QLEN];
	unsigned head, count;
	unsigned pending[RGPU_MAX_SLOTS];
};

struct rgpu_bmod {
	int unused;
};

/* Device memory of all sessions together, against half the RAM: the
 * host must keep working when clients ask for too much. */
static _Atomic uint64_t mem_used;

static uint64_t mem_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 2
				    : (4ull << 30);
}

static unsigned ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

static int cpu_device_count(void)
{
	return 1;
}

static int cpu_props(int dev, struct rgpu_device_prop *p)
{
	if (dev != 0)
		return RGPU_ERR_INVALID_DEVICE;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "host CPU (%u threads)", ncpus());
	snprintf(p->backend, sizeof(p->backend), "cpu");
	p->total_mem = mem_limit();
	p->multiprocessors = (int)ncpus();
	p->max_threads_per_block = 1024;
	return 0;
}

static int cpu_sess_open(struct rgpu_bsess **out)
{
	struct rgpu_bsess *s = calloc(1, sizeof(*s));

	if (!s)
		return RGPU_ERR_MEMORY_ALLOCATION;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	*out = s;
	return 0;
}

static void cpu_sess_close(struct rgpu_bsess *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->engine_on)
		pthread_join(s->engine, NULL);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int cpu_mem_alloc(struct rgpu_bsess *s, uint64_t size, uint64_t *addr)
{
	uint64_t used = atomic_fetch_add(&mem_used, size);
	void *p;

	(void)s;
	if (used + size > mem_limit() || size > SIZE_MAX) {
		atomic_fetch_sub(&mem_used, size);
		return RGPU_ERR_MEMORY_ALLOCATION;
	}
	p = malloc(size ? (size_t)size : 1);
	if (!p) {
		atomic_fetch_sub(&mem_used, size);
		return RGPU_ERR_MEMORY_ALLOCATION;
	}
	*addr = (uintptr_t)p;
	return 0;
}

static int cpu_mem_free(struct rgpu_bsess *s, uint64_t addr, uint64_t size)
{
	(void)s;
	free((void *)(uintptr_t)addr);
	atomic_fetch_sub(&mem_used, size);
	return 0;
}

static int cpu_memset(struct rgpu_bsess *s, uint64_t addr, int v, uint64_t n)
{
	(void)s;
	memset((void *)(uintptr_t)addr, v, n);
	return 0;
}

static int cpu_htod(struct rgpu_bsess *s, uint64_t dst, const void *src,
		    uint64_t n)
{
	(void)s;
	if (n) /* src may be NULL for an empty copy */
		memcpy((void *)(uintptr_t)dst, src, n);
	return 0;
}

static int cpu_dtoh(struct rgpu_bsess *s, void *dst, uint64_t src, uint64_t n)
{
	(void)s;
	if (n)
		memcpy(dst, (const void *)(uintptr_t)src, n);
	return 0;
}

static int cpu_stage_alloc(struct rgpu_bsess *s, size_t n, void **buf)
{
	(void)s;
	*buf = malloc(n);
	return *buf ? 0 : RGPU_ERR_MEMORY_ALLOCATION;
}

static void cpu_stage_free(struct rgpu_bsess *s, void *buf)
{
	(void)s;
	free(buf);
}

static void *engine_main(void *arg)
{
	struct rgpu_bsess *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct copy_job j;

		while (!s->count && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->count)
			break;
		j = s->q[s->head];
		pthread_mutex_unlock(&s->mu);
		memcpy(j.dst, j.src, j.n);
		pthread_mutex_lock(&s->mu);
		s->head = (s->head + 1) % QLEN;
		s->count--;
		s->pending[j.slot]--;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int enqueue(struct rgpu_bsess *s, void *dst, const void *src,
		   uint64_t n, int slot)
{
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (!s->engine_on) {
		if (pthread_create(&s->engine, NULL, engine_main, s)) {
			rc = RGPU_ERR_BACKEND;
			goto out;
		}
		s->engine_on = true;
	}
	while (s->count == QLEN)
		pthread_cond_wait(&s->cv, &s->mu);
	s->q[(s->head + s->count) % QLEN] =
		(struct copy_job){ dst, src, n, slot };
	s->count++;
	s->pending[slot]++;
	pthread_cond_broadcast(&s->cv);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int cpu_htod_async(struct rgpu_bsess *s, int slot, uint64_t dst,
			  const void *src, uint64_t n)
{
	return enqueue(s, (void *)(uintptr_t)dst, src, n, slot);
}

static int cpu_dtoh_async(struct rgpu_bsess *s, int slot, void *dst,
			  uint64_t src, uint64_t n)
{
	return enqueue(s, dst, (const void *)(uintptr_t)src, n, slot);
}

static int cpu_slot_wait(struct rgpu_bsess *s, int slot)
{
	pthread_mutex_lock(&s->mu);
	while (s->pending[slot])
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void *cpu_host_view(struct rgpu_bsess *s, uint64_t addr)
{
	(void)s;
	return (void *)(uintptr_t)addr;
}

/* Kernels run synchronously inside launch, so there is nothing to wait
 * for beyond the copy engine. */
static int cpu_sync(struct rgpu_bsess *s)
{
	for (int i = 0; i < RGPU_MAX_SLOTS; i++)
		cpu_slot_wait(s, i);
	return 0;
}

/* The CPU cannot run PTX: a module is accepted when every kernel in it
 * has a CPU implementation, which is checked with a dry launch. */
static int cpu_module_load(struct rgpu_bsess *s, const char *ptx,
			   struct rgpu_bmod **mod, char *log, size_t logsz)
{
	struct ptx_entry e[16];
	int n = ptx_entries(ptx, e, 16);
	struct rgpu_dim3 one = { 1, 1, 1 };

	(void)s;
	if (n <= 0) {
		snprintf(log, logsz, "cpu backend: no readable .entry in module");
		return RGPU_ERR_INVALID_PTX;
	}
	for (int i = 0; i < n; i++)
		if (rgpu_cpu_launch(e[i].name, one, one, NULL, 0, 1) ==
		    RGPU_ERR_NOT_FOUND) {
			snprintf(log, logsz,
				 "cpu backend: no CPU implementation of kernel '%s'",
				 e[i].name);
			return RGPU_ERR_INVALID_PTX;
		}
	*mod = calloc(1, sizeof(**mod));
	return *mod ? 0 : RGPU_ERR_MEMORY_ALLOCATION;
}

static void cpu_module_unload(struct rgpu_bsess *s, struct rgpu_bmod *mod)
{
	(void)s;
	free(mod);
}

static int cpu_launch(struct rgpu_bsess *s, struct rgpu_bmod *mod,
		      const char *name, const struct rgpu_launch_cfg *cfg,
		      const struct rgpu_karg *args, unsigned nargs)
{
	(void)mod;
	/* Copies queued before the launch must land first, as on a stream. */
	cpu_sync(s);
	return rgpu_cpu_launch(name, cfg->grid, cfg->block, args, nargs,
			       ncpus());
}

const struct rgpu_backend rgpu_backend_cpu = {
	.name = "cpu",
	.device_count = cpu_device_count,
	.props = cpu_props,
	.sess_open = cpu_sess_open,
	.sess_close = cpu_sess_close,
	.mem_alloc = cpu_mem_alloc,
	.mem_free = cpu_mem_free,
	.memset = cpu_memset,
	.htod = cpu_htod,
	.dtoh = cpu_dtoh,
	.stage_alloc = cpu_stage_alloc,
	.stage_free = cpu_stage_free,
	.htod_async = cpu_htod_async,
	.dtoh_async = cpu_dtoh_async,
	.slot_wait = cpu_slot_wait,
	.host_view = cpu_host_view,
	.sync = cpu_sync,
	.module_load = cpu_module_load,
	.module_unload = cpu_module_unload,
	.launch = cpu_launch,
};
