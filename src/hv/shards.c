/* SPDX-License-Identifier: MIT */
/*
 * The copy engine's shards and copy threads (--copy-threads N).
 *
 * Each strict connection (both of its directions) belongs to one shard:
 * the shard's list of active queues, and its epoll set of their
 * doorbells.  With no copy threads there is one shard and v4vd's loop
 * runs it: its epoll set sits in the loop's, and the loop makes the
 * engine's turns between events.  With N threads there are N shards, a
 * thread each, and a new connection goes to the shard with the fewest
 * queues.
 *
 * Locking is deliberately coarse.  A copy thread holds its shard's lock
 * while it copies or polls and drops it before it yields or sleeps, or
 * when the loop says it waits (loop_waits, looked at between turns; a
 * turn is bounded, engine.c PASS_NS).  The loop takes every shard's lock,
 * in order, around each event it handles, so control requests, ring
 * set-up and tear-down and the listings see the engine still; a thread
 * never takes any lock but its own.  What a thread touches is its
 * shard's rings and their peers (same shard), and their doorbells, which
 * the loop closes only with the shard locked.
 */
#include "hv.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* The most copy threads: each takes a core, and the loop takes every
 * shard's lock per event. */
#define MAX_THREADS 64u

static uint64_t cpu_ns(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An event of the shard's epoll set: its wake-up, or a doorbell. */
static void shard_event(struct hv_shard *sh, const struct epoll_event *e)
{
	struct hv_ring *r;
	uint64_t n;

	if (e->data.u64 == 0) {
		if (read(sh->wake, &n, sizeof(n)) < 0 && errno != EAGAIN)
			hv_log(HV_LOG_WARN, "copy thread %u: eventfd: %s",
			       sh->id, strerror(errno));
		return;
	}
	r = hv_ring_by_handle(sh->hv, (uint32_t)e->data.u64);
	if (!r || r->shard != sh || !r->pumping)
		return; /* gone while we waited for the lock */
	if (e->events & (EPOLLHUP | EPOLLERR)) {
		/* The loop ends the ring (its own set reports the hang-up
		 * too); here it would only be reported again and again. */
		epoll_ctl(sh->epfd, EPOLL_CTL_DEL, r->bell, NULL);
		return;
	}
	hv_pump_bell(sh->hv, r);
}

/* Take what the shard's epoll set holds, without waiting; lock held. */
static void shard_drain_events(struct hv_shard *sh)
{
	struct epoll_event ev[16];
	int n = epoll_wait(sh->epfd, ev, 16, 0);

	for (int i = 0; i < n; i++)
		shard_event(sh, &ev[i]);
}

void hv_shard_events(struct hv_shard *sh)
{
	shard_drain_events(sh);
}

/* How long a polling thread goes without a system call while its core
 * is its own: its epoll set (tokens only matter once it sleeps) and,
 * idle, a yield of the core.  A system call per pass (here 0.15 us for
 * epoll, 0.5 for the yield) is what a message that comes meanwhile
 * waits.  A yield that lets somebody run says the core is shared: then
 * the thread yields after every pass again, as the programs it serves
 * need the core more than it needs the microsecond. */
#define QUIET_NS 5000u
/* A yield that took longer than this let another thread run. */
#define YIELD_RAN_NS 2000u

static bool loop_waits(const struct hv_shard *sh)
{
	return __atomic_load_n(&sh->hv->engine.loop_waits, __ATOMIC_ACQUIRE);
}

/* Give the core to whoever waits for it; the next quiet period: none
 * if somebody did. */
static uint64_t yield_core(void)
{
	uint64_t t0 = cpu_ns(CLOCK_MONOTONIC);

	sched_yield();
	return cpu_ns(CLOCK_MONOTONIC) - t0 > YIELD_RAN_NS ? 0 : QUIET_NS;
}

/* A copy thread: turns while it has work or may soon, else sleeps in its
 * epoll set. */
static void *copy_thread(void *arg)
{
	struct hv_shard *sh = arg;
	struct epoll_event ev[16];
	uint64_t since = 0, quiet = 0;
	int timeout, n;

	pthread_mutex_lock(&sh->lock);
	while (!sh->stop) {
		timeout = hv_shard_turn(sh);
		if (timeout >= 0 && !loop_waits(sh) &&
		    cpu_ns(CLOCK_MONOTONIC) - since < quiet) {
			__builtin_ia32_pause();
			continue;
		}
		pthread_mutex_unlock(&sh->lock);
		/* The loop would lose the lock to us again and again. */
		while (loop_waits(sh))
			sched_yield();
		if (timeout > 0) {
			/* Idle but polling: give way to the programs we
			 * serve where they share our core. */
			quiet = yield_core();
			timeout = 0;
		}
		n = epoll_wait(sh->epfd, ev, 16, timeout);
		since = cpu_ns(CLOCK_MONOTONIC);
		pthread_mutex_lock(&sh->lock);
		for (int i = 0; i < n; i++)
			shard_event(sh, &ev[i]);
	}
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

void hv_shard_wake(struct hv_shard *sh)
{
	uint64_t one = 1;

	/* The loop gave work to a sleeping thread (a thread that wakes
	 * itself is already awake). */
	if (sh->threaded && !pthread_equal(pthread_self(), sh->thread) &&
	    write(sh->wake, &one, sizeof(one)) < 0)
		hv_log(HV_LOG_WARN, "copy thread %u: eventfd: %s", sh->id,
		       strerror(errno));
}

struct hv_shard *hv_shard_pick(struct hv *hv, struct hv_ring *r)
{
	struct hv_engine *e = &hv->engine;
	struct hv_shard *best = &e->shards[0];

	/* Both directions of a connection in one shard: a thread touches
	 * a ring's peer (it produces into it) under its own lock only. */
	if (r->peer && r->peer->pumping)
		return r->peer->shard;
	for (uint32_t i = 1; i < e->n; i++)
		if (e->shards[i].queues < best->queues)
			best = &e->shards[i];
	return best;
}

static int shard_init(struct hv *hv, struct hv_shard *sh, uint32_t id)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };

	sh->kind = HV_SHARD;
	sh->hv = hv;
	sh->id = id;
	list_init(&sh->active);
	pthread_mutex_init(&sh->lock, NULL);
	sh->epfd = epoll_create1(EPOLL_CLOEXEC);
	sh->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh->epfd < 0 || sh->wake < 0 ||
	    epoll_ctl(sh->epfd, EPOLL_CTL_ADD, sh->wake, &ev))
		return -errno;
	return 0;
}

/* The default: a quarter of the cores, at least two, at most 16; none
 * (the engine in the loop) on one core.  Two threads on two cores, where
 * the programs they serve compete for the same cores: a one-byte strict
 * ping-pong took 5.8 us against 7.1 to 8.4 us with the engine in the
 * loop, and strict aggregates of 2 to 16 pairs moved 1.3x to 3x as much
 * (docs/results/strict-engine-epyc-2core.md, 2026-12-07).  A thread
 * sleeps once its idle window has passed, so an idle engine costs
 * nothing either way. */
static uint32_t default_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cores <= 1)
		return 0;
	if (cores / 4 < 2)
		return 2;
	return cores / 4 > 16 ? 16 : (uint32_t)(cores / 4);
}

int hv_engine_init(struct hv *hv)
{
	struct hv_engine *e = &hv->engine;
	uint32_t threads = hv->cfg.copy_threads;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	if (threads == UINT32_MAX)
		threads = default_threads();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	e->n = threads ? threads : 1;
	pthread_mutex_init(&e->dgram_lock, NULL);
	e->shards = aligned_alloc(_Alignof(struct hv_shard),
				  e->n * sizeof(*e->shards));
	if (!e->shards)
		return -ENOMEM;
	memset(e->shards, 0, e->n * sizeof(*e->shards));
	for (uint32_t i = 0; i < e->n; i++) {
		rc = shard_init(hv, &e->shards[i], i);
		if (rc)
			return rc;
	}
	if (!threads) {
		ev.data.ptr = &e->shards[0];
		if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, e->shards[0].epfd, &ev))
			return -errno;
		return 0;
	}
	for (uint32_t i = 0; i < e->n; i++) {
		struct hv_shard *sh = &e->shards[i];

		rc = pthread_create(&sh->thread, NULL, copy_thread, sh);
		if (rc)
			return -rc;
		sh->threaded = true;
	}
	hv_log(HV_LOG_INFO, "%u copy threads", threads);
	return 0;
}

void hv_engine_fini(struct hv *hv)
{
	struct hv_engine *e = &hv->engine;

	for (uint32_t i = 0; i < e->n; i++) {
		struct hv_shard *sh = &e->shards[i];

		if (!sh->threaded)
			continue;
		pthread_mutex_lock(&sh->lock);
		sh->stop = true;
		pthread_mutex_unlock(&sh->lock);
		hv_shard_wake(sh);
		pthread_join(sh->thread, NULL);
		sh->threaded = false;
	}
}

void hv_engine_lock(struct hv *hv)
{
	if (hv->engine.shards[0].threaded)
		__atomic_store_n(&hv->engine.loop_waits, true,
				 __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < hv->engine.n; i++)
		pthread_mutex_lock(&hv->engine.shards[i].lock);
}

void hv_engine_unlock(struct hv *hv)
{
	for (uint32_t i = hv->engine.n; i-- > 0;)
		pthread_mutex_unlock(&hv->engine.shards[i].lock);
	__atomic_store_n(&hv->engine.loop_waits, false, __ATOMIC_RELEASE);
}

int hv_engine_turn(struct hv *hv)
{
	struct hv_shard *sh = &hv->engine.shards[0];

	return sh->threaded ? -1 : hv_shard_turn(sh);
}

uint32_t hv_engine_records(struct hv *hv, struct v4vp_rec_engine *recs,
			   uint32_t max)
{
	struct hv_engine *e = &hv->engine;
	uint32_t n = e->n < max ? e->n : max;

	for (uint32_t i = 0; i < n; i++) {
		const struct hv_shard *sh = &e->shards[i];
		struct v4vp_rec_engine *r = &recs[i];
		clockid_t clk = CLOCK_THREAD_CPUTIME_ID;

		memset(r, 0, sizeof(*r));
		r->thread = sh->id;
		r->queues = sh->queues;
		r->flags = sh->awake ? V4VP_ENGINE_AWAKE : 0;
		r->msgs = sh->msgs;
		r->bytes = sh->bytes;
		r->wakeups = sh->wakeups;
		r->bells = sh->bells;
		r->busy_ns = sh->busy_ns;
		r->resets = sh->resets;
		/* Without threads the engine is the loop, this thread. */
		if (!sh->threaded ||
		    !pthread_getcpuclockid(sh->thread, &clk))
			r->cpu_ns = cpu_ns(clk);
	}
	return n;
}
