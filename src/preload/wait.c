/* SPDX-License-Identifier: MIT */
/*
 * Polling waits: epoll_wait, epoll_pwait, poll and ppoll (here) and
 * select and pselect (select.c) look at the rings of the V4V sockets
 * they wait on for a while before they sleep in the kernel.  An
 * event-driven server otherwise pays a doorbell and a kernel wake-up on
 * each side of every request, which costs far more than the ring;
 * OpenOnload and libvma win their latency the same way.
 *
 * The kernel stays the only source of events: a ring found with data is
 * made readable (a token in its doorbell, which is what its producer
 * would have written had we slept) and the kernel is asked again with a
 * zero timeout, so level- and edge-triggered semantics, EPOLLONESHOT and
 * the application's epoll data are exactly the kernel's.  While we poll,
 * producers do not ring (RX_SPINNING); kernel descriptors in the same set
 * are looked at every 10 us or so.
 *
 * How long to poll adapts per thread, as halt polling does: a wait that
 * polling served grows the budget (up to V4V_POLL_MAX_US), one that then
 * slept longer than that cap shrinks it, down to nothing, so an idle
 * server sleeps at once and a core shared with the peer (which cannot
 * answer while we spin) stops being spun on.  V4V_POLL_US (default 50)
 * is where a budget starts and how far it comes back; 0 turns polling
 * off.
 *
 * epoll sets are remembered from epoll_ctl: epfd -> the descriptors added
 * with EPOLLIN.  A stale entry (closed, reused) costs a look, never an
 * event: only V4V sockets are polled, and a token only ever marks data.
 */
#include "preload.h"
#include "wait.h"
#include "lib/interposer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NEED() (real.socket ? (void)0 : real_init())

/* ---- epoll sets ---- */

struct epset {
	int *fds;
	int n, cap;
};

static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static struct epset *sets;	/* by epoll descriptor */
static int nsets;

static struct epset *set_of(int ep, bool create)
{
	if (ep < 0)
		return NULL;
	if (ep >= nsets) {
		int n = ep < 64 ? 128 : ep * 2;
		struct epset *s;

		if (!create)
			return NULL;
		s = realloc(sets, (size_t)n * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + nsets, 0, (size_t)(n - nsets) * sizeof(*s));
		sets = s;
		__atomic_store_n(&nsets, n, __ATOMIC_RELAXED);
	}
	return &sets[ep];
}

static void set_del(struct epset *s, int fd)
{
	for (int i = 0; i < s->n; i++) {
		if (s->fds[i] == fd) {
			s->fds[i] = s->fds[--s->n];
			return;
		}
	}
}

static void set_add(struct epset *s, int fd)
{
	set_del(s, fd);
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 8;
		int *f = realloc(s->fds, (size_t)cap * sizeof(*f));

		if (!f)
			return; /* not polled: still correct */
		s->fds = f;
		s->cap = cap;
	}
	s->fds[s->n++] = fd;
}

/* What epoll_ctl did to ep's set, once the kernel agreed. */
void pl_wait_epoll_ctl(int ep, int op, int fd, const struct epoll_event *ev)
{
	int kind = pfd_kind(fd);
	struct epset *s;

	if (kind != PFD_V4V && kind != PFD_TCP && op != EPOLL_CTL_DEL)
		return;
	pthread_mutex_lock(&sets_lock);
	s = set_of(ep, op != EPOLL_CTL_DEL);
	if (s) {
		if (op == EPOLL_CTL_DEL || !ev || !(ev->events & EPOLLIN))
			set_del(s, fd);
		else
			set_add(s, fd);
	}
	pthread_mutex_unlock(&sets_lock);
}

/* fd is closed: as an epoll set it is gone.  Called for every close:
 * free while no set was ever made. */
void pl_wait_forget(int fd)
{
	if (!__atomic_load_n(&nsets, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&sets_lock);
	if (fd >= 0 && fd < nsets && sets[fd].fds) {
		free(sets[fd].fds);
		memset(&sets[fd], 0, sizeof(sets[fd]));
	}
	pthread_mutex_unlock(&sets_lock);
}

/* The V4V sockets of ep's set, at most max. */
static int set_v4v(int ep, int *out, int max)
{
	struct epset *s;
	int n = 0;

	pthread_mutex_lock(&sets_lock);
	s = set_of(ep, false);
	for (int i = 0; s && i < s->n && n < max; i++)
		if (pfd_kind(s->fds[i]) == PFD_V4V)
			out[n++] = s->fds[i];
	pthread_mutex_unlock(&sets_lock);
	return n;
}

/* ---- the budget ---- */

static int base_us = -1, max_us;
static __thread int budget_us = -1;

static int env_us(const char *name, int dflt)
{
	const char *e = getenv(name);
	long v;

	if (!e || !e[0])
		return dflt;
	v = strtol(e, NULL, 10);
	return v < 0 ? 0 : v > 100000 ? 100000 : (int)v;
}

/* Is polling on at all?  Sets this thread's budget up. */
bool pl_polling(void)
{
	if (__atomic_load_n(&base_us, __ATOMIC_ACQUIRE) < 0) {
		max_us = env_us("V4V_POLL_MAX_US", 400);
		__atomic_store_n(&base_us, env_us("V4V_POLL_US", 50),
				 __ATOMIC_RELEASE);
	}
	if (budget_us < 0)
		budget_us = base_us;
	return base_us > 0;
}

static void learn(bool served, uint64_t slept_us)
{
	if (served)
		budget_us = budget_us * 2 > max_us ? max_us
			  : budget_us * 2 < base_us ? base_us : budget_us * 2;
	else if (slept_us > (uint64_t)max_us)
		budget_us /= 2; /* polling would not have helped */
	else if (budget_us < base_us)
		budget_us = base_us; /* traffic again: try once more */
	else if (budget_us == max_us)
		budget_us /= 2; /* the answer comes only once we sleep */
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* What is left of a timeout in ms (-1: none) after `spent_us`. */
static int left_ms(int timeout, uint64_t spent_us)
{
	uint64_t spent_ms = spent_us / 1000;

	if (timeout < 0)
		return -1;
	return spent_ms >= (uint64_t)timeout ? 0 : timeout - (int)spent_ms;
}

/* ---- a crowded machine ---- */

/* Polling spends a CPU.  When more threads are runnable than there are
 * CPUs, that CPU is taken from another thread, often the very peer we
 * wait for: pgbench -S -c 8 against PostgreSQL on two cores went from
 * TCP's throughput to 0.58 of it with polling.  So a wait does not poll
 * while the kernel's count of runnable threads (/proc/loadavg, read at
 * most once a millisecond per process) exceeds the CPUs online, and for
 * 20 ms after it last did: the pollers themselves are runnable, and
 * would otherwise be let back as soon as they had stopped. */
static int ncpu;
static uint64_t crowd_seen_us, crowd_until_us;

static int nr_running(void)
{
	char buf[128];
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC), r = 0;
	ssize_t n;

	if (fd < 0)
		return 0;
	n = real.read(fd, buf, sizeof(buf) - 1);
	real.close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* "0.52 0.41 0.30 3/124 4567": runnable/total is the fourth */
	if (sscanf(buf, "%*s %*s %*s %d/", &r) != 1)
		return 0;
	return r;
}

static bool crowded(uint64_t now)
{
	uint64_t seen = __atomic_load_n(&crowd_seen_us, __ATOMIC_RELAXED);

	if (now < __atomic_load_n(&crowd_until_us, __ATOMIC_RELAXED))
		return true;
	if (now - seen < 1000 ||
	    !__atomic_compare_exchange_n(&crowd_seen_us, &seen, now, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;
	if (!ncpu)
		ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (nr_running() <= ncpu)
		return false;
	__atomic_store_n(&crowd_until_us, now + 20000, __ATOMIC_RELAXED);
	return true;
}

/* ---- the wait ---- */

static __thread bool gave_way;	/* this wait stopped polling: crowded */

/* A handler ran while we polled: the call the application made would
 * have failed with EINTR (poll and epoll_wait never restart). */
static bool interrupted(struct waiter *w)
{
	if (!pl_sig_last())
		return false;
	w->n = -1;
	errno = EINTR;
	return true;
}

static bool look_cb(void *arg)
{
	struct waiter *w = arg;

	return interrupted(w) || w->look(w);
}

/* While polling: the kernel's events, or the machine got crowded. */
static bool poll_cb(void *arg)
{
	if (crowded(now_us())) {
		gave_way = true;
		return true;
	}
	return look_cb(arg);
}

/* Poll the rings v[0..nv) for the budget, then sleep for what is left of
 * the timeout (ms, -1 none) if nothing came; learn from the outcome. */
int pl_polled_wait(struct waiter *w, const int *v, int nv, int timeout)
{
	uint64_t t0 = now_us(), t1;
	int b = budget_us;

	gave_way = b && crowded(t0);
	if (b && !gave_way) {
		pl_sig_arm();
		if (w->look(w))
			return w->n;
		if (v4v_poll_rings(v, nv, b, poll_cb, w) > 0 && !w->n)
			look_cb(w);
		if (w->n) {
			learn(true, 0);
			return w->n;
		}
		if (interrupted(w))
			return w->n;
	}
	t1 = now_us();
	w->n = w->sleep(w, left_ms(timeout, t1 - t0));
	if (!gave_way)
		learn(false, now_us() - t1);
	return w->n;
}

/* ---- epoll_wait, epoll_pwait ---- */

struct epcall {
	struct waiter w;
	int ep, max;
	struct epoll_event *ev;
	const sigset_t *mask;
};

static int epoll_sleep(struct waiter *w, int ms)
{
	struct epcall *c = (struct epcall *)w;

	return real.epoll_pwait(c->ep, c->ev, c->max, ms, c->mask);
}

static bool epoll_look(struct waiter *w)
{
	w->n = epoll_sleep(w, 0);
	return w->n != 0;
}

static int wait_epoll(int ep, struct epoll_event *ev, int max, int timeout,
		      const sigset_t *mask)
{
	struct epcall c = { { 0, epoll_look, epoll_sleep }, ep, max, ev,
			    mask };
	int v[V4V_POLL_RINGS_MAX], nv;

	NEED();
	if (timeout == 0 || max <= 0 || !pl_polling() ||
	    !(nv = set_v4v(ep, v, V4V_POLL_RINGS_MAX)))
		return real.epoll_pwait(ep, ev, max, timeout, mask);
	return pl_polled_wait(&c.w, v, nv, timeout);
}

int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
	return wait_epoll(ep, ev, max, timeout, NULL);
}

int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout,
		const sigset_t *mask)
{
	return wait_epoll(ep, ev, max, timeout, mask);
}

/* ---- poll, ppoll ---- */

struct pollcall {
	struct waiter w;
	struct pollfd *fds;
	nfds_t nfds;
	const sigset_t *mask;
};

static int poll_sleep(struct waiter *w, int ms)
{
	struct pollcall *c = (struct pollcall *)w;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	return real.ppoll(c->fds, c->nfds, ms < 0 ? NULL : &ts, c->mask);
}

static bool poll_look(struct waiter *w)
{
	w->n = poll_sleep(w, 0);
	return w->n != 0;
}

/* The V4V sockets a poll waits to read. */
static int poll_v4v(const struct pollfd *p, nfds_t n, int *out, int max)
{
	int m = 0;

	for (nfds_t i = 0; i < n && m < max; i++)
		if (p[i].fd >= 0 && (p[i].events & POLLIN) &&
		    pfd_kind(p[i].fd) == PFD_V4V)
			out[m++] = p[i].fd;
	return m;
}

static int wait_poll(struct pollfd *fds, nfds_t n, int timeout,
		     const sigset_t *mask)
{
	struct pollcall c = { { 0, poll_look, poll_sleep }, fds, n, mask };
	int v[V4V_POLL_RINGS_MAX], nv;

	if (timeout == 0 || !n || !pl_polling() ||
	    !(nv = poll_v4v(fds, n, v, V4V_POLL_RINGS_MAX)))
		return poll_sleep(&c.w, timeout);
	return pl_polled_wait(&c.w, v, nv, timeout);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	NEED();
	return wait_poll(fds, n, timeout, NULL);
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
	  const sigset_t *mask)
{
	NEED();
	/* Whole milliseconds only: anything finer, or invalid, is the
	 * kernel's to time (or to refuse). */
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_sec > 1000000 ||
		    tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000 ||
		    tmo->tv_nsec % 1000000))
		return real.ppoll(fds, n, tmo, mask);
	return wait_poll(fds, n, tmo ? (int)(tmo->tv_sec * 1000 +
					     tmo->tv_nsec / 1000000) : -1,
			 mask);
}

/* What _FORTIFY_SOURCE builds call: the same, after libc's own check
 * that the array is as long as it says. */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *mask, size_t fdslen);

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort(); /* libc's __chk_fail */
	return poll(fds, n, timeout);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return ppoll(fds, n, tmo, mask);
}
