/* SPDX-License-Identifier: MIT */
/*
 * Polling waits: epoll_wait, epoll_pwait, poll and ppoll (here) and
 * select and pselect (select.c) look at the rings of the V4V sockets
 * they wait on for a while before they sleep in the kernel.  An
 * event-driven server otherwise pays a doorbell and a kernel wake-up on
 * each side of every request, which costs far more than the ring;
 * OpenOnload and libvma win their latency the same way.
 *
 * What a wait finds in a ring it reports itself where it can say exactly
 * what the kernel would (level-triggered EPOLLIN with the application's
 * data, POLLIN, select's read set): no token, no second look.  The rest
 * (the end of a stream, edge-triggered and one-shot registrations, an
 * event whose data the kernel's answer already holds) is made readable
 * in the kernel first (the token its producer would have written had we
 * slept), and the kernel reports it.  Data a wait reported from a ring
 * may stay unknown to the kernel, but never across a kernel sleep: every
 * sleep first makes its rings' data readable, and an epoll set another
 * wait watches (nested, or given to poll/select), one too big to poll
 * whole, and a socket leaving a set are made readable at once.  While we
 * poll, producers do not ring (RX_SPINNING); the kernel is asked at most
 * every 10 us.
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
 * with EPOLLIN, their events, data and socket identity.  A stale entry
 * (closed, reused) costs a look, never an event: only V4V sockets are
 * polled, only the socket registered is reported, and a token only ever
 * marks data.
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

struct member {
	int fd;
	uint32_t events;
	uint64_t data;
	uint64_t id;	/* the V4V socket registered (v4v_sock_id), or 0 */
};

struct epset {
	struct member *m;
	int n, cap;
	bool watched;	/* by another epoll set, poll or select: the kernel
			 * must know all it holds */
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
		if (s->m[i].fd == fd) {
			s->m[i] = s->m[--s->n];
			return;
		}
	}
}

/* Another wait watches set `ep` (nested epoll, poll or select on it): from
 * now on its V4V sockets are made readable in the kernel, never reported
 * by us alone, and what is there now is made readable at once. */
static void set_watched(struct epset *s)
{
	s->watched = true;
	for (int i = 0; i < s->n; i++)
		if (pfd_kind(s->m[i].fd) == PFD_V4V)
			v4v_show_rings(&s->m[i].fd, 1);
}

static void set_add(struct epset *s, int fd, const struct epoll_event *ev)
{
	struct member *m;

	set_del(s, fd);
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 8;

		m = realloc(s->m, (size_t)cap * sizeof(*m));
		if (!m) {
			/* not polled: the kernel must know what it has */
			if (pfd_kind(fd) == PFD_V4V)
				v4v_show_rings(&fd, 1);
			return;
		}
		s->m = m;
		s->cap = cap;
	}
	/* A TCP socket that becomes V4V later gets no id: its events come
	 * through the kernel (a stale id can never report a new socket). */
	s->m[s->n++] = (struct member){ fd, ev->events, ev->data.u64,
					pfd_kind(fd) == PFD_V4V
						? v4v_sock_id(fd) : 0 };
	/* Past what one wait polls, a member could leave the polled part
	 * (set_del reorders) with data only we knew of. */
	if (s->n > V4V_POLL_RINGS_MAX && !s->watched)
		set_watched(s);
}

void pl_wait_watch(int fd)
{
	if (fd < 0 || fd >= __atomic_load_n(&nsets, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&sets_lock);
	if (fd < nsets && sets[fd].m && !sets[fd].watched)
		set_watched(&sets[fd]);
	pthread_mutex_unlock(&sets_lock);
}

/* What epoll_ctl did to ep's set, once the kernel agreed. */
void pl_wait_epoll_ctl(int ep, int op, int fd, const struct epoll_event *ev)
{
	int kind = pfd_kind(fd);
	struct epset *s;

	if (op == EPOLL_CTL_ADD)
		pl_wait_watch(fd); /* an epoll set in another */
	if (kind != PFD_V4V && kind != PFD_TCP && op != EPOLL_CTL_DEL)
		return;
	pthread_mutex_lock(&sets_lock);
	s = set_of(ep, op != EPOLL_CTL_DEL);
	if (s) {
		bool out = op == EPOLL_CTL_DEL || !ev || !(ev->events & EPOLLIN);

		/* Data a set reported from the ring must not stay unknown
		 * to the kernel where no wait of ours will look: a set the
		 * socket leaves, or a watched one it joins. */
		if (kind == PFD_V4V && (out || s->watched))
			v4v_show_rings(&fd, 1);
		if (out)
			set_del(s, fd);
		else
			set_add(s, fd, ev);
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
	/* Asked last: a system call, for an epoll set's number only. */
	if (fd >= 0 && fd < nsets && sets[fd].m && !pl_borrowed_memory()) {
		free(sets[fd].m);
		memset(&sets[fd], 0, sizeof(sets[fd]));
	}
	pthread_mutex_unlock(&sets_lock);
}

/* The V4V sockets of ep's set, at most max: their numbers in v, their
 * registrations in m, and whether we may report them ourselves. */
static int set_v4v(int ep, int *v, struct member *m, int max, bool *own)
{
	struct epset *s;
	int n = 0;

	pthread_mutex_lock(&sets_lock);
	s = set_of(ep, false);
	*own = s && !s->watched;
	for (int i = 0; s && i < s->n && n < max; i++) {
		if (pfd_kind(s->m[i].fd) != PFD_V4V)
			continue;
		m[n] = s->m[i];
		v[n++] = s->m[i].fd;
	}
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
		__atomic_store_n(&base_us, env_us("V4V_POLL_US",
						  v4v_link_in_vm() ? 0 : 50),
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
 * most once a millisecond per process) has exceeded the CPUs online by
 * more than one in CROWD_STREAK samples in a row, and for 20 ms after:
 * the pollers themselves are runnable, and would otherwise be let back
 * as soon as they had stopped.  One thread more than CPUs, or one
 * sample, is not enough: kernel workers and timers run for moments
 * beside two pollers on two cores (which yield every 10 us), and taking
 * each for a crowd cost redis GET -c 1 a fifth of its throughput. */
#define CROWD_STREAK 2
static int ncpu, crowd_streak;
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
	/* One thread at a time gets here (the exchange above). */
	if (nr_running() <= ncpu + 1) {
		__atomic_store_n(&crowd_streak, 0, __ATOMIC_RELAXED);
		return false;
	}
	if (__atomic_add_fetch(&crowd_streak, 1, __ATOMIC_RELAXED) <
	    CROWD_STREAK)
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

/* When this thread last asked the kernel: a kernel descriptor's events
 * wait at most POLL_KERNEL_US for us, as they do while we poll. */
#define POLL_KERNEL_US 10
static __thread uint64_t looked_us;

/* The kernel's answer, unless a signal handler ran. */
static bool look_now(struct waiter *w)
{
	bool r = interrupted(w) || w->look(w);

	looked_us = now_us();
	return r;
}

/* While polling: the kernel's events (if it is time to ask), or the
 * machine got crowded. */
static bool poll_cb(void *arg)
{
	uint64_t now = now_us();

	if (crowded(now)) {
		gave_way = true;
		return true;
	}
	return now - looked_us >= POLL_KERNEL_US && look_now(arg);
}

/* Answer with the kernel's events and the rings' news together.  Data the
 * waiter can report itself (w->mine) is added to the kernel's answer
 * without a doorbell token; anything else is made readable first, and
 * then the kernel must be asked (`looked`: it was, just before, so that
 * shows in the next call).  The kernel is asked anyway unless it was
 * within POLL_KERNEL_US.  Returns w->n. */
static int answer(struct waiter *w, const int *v, int nv, uint8_t *news,
		  bool looked)
{
	bool shown = false;

	/* What is shown is the kernel's to report: merge sees only ours. */
	for (int i = 0; i < nv; i++) {
		if (news[i] && (news[i] != V4V_NEWS_DATA ||
				(w->mine && !w->mine(w, i)))) {
			v4v_show_rings(&v[i], 1);
			news[i] = 0;
			shown = true;
		}
	}
	if (!looked) {
		if (shown || now_us() - looked_us >= POLL_KERNEL_US)
			look_now(w);
		else if (!interrupted(w))
			w->none(w);
	}
	if (w->n >= 0)
		w->merge(w, v, nv, news);
	return w->n;
}

/* A call that must not wait: one look at the rings and the kernel. */
int pl_looked(struct waiter *w, const int *v, int nv)
{
	uint8_t news[V4V_POLL_RINGS_MAX];

	v4v_poll_rings(v, nv, 0, NULL, NULL, news);
	looked_us = 0; /* no waiting for events: ask the kernel */
	return answer(w, v, nv, news, false);
}

/* Poll the rings v[0..nv) for the budget, then sleep for what is left of
 * the timeout (ms, -1 none) if nothing came; learn from the outcome.  The
 * kernel sleeps only once every ring's news is readable in it. */
int pl_polled_wait(struct waiter *w, const int *v, int nv, int timeout)
{
	uint8_t news[V4V_POLL_RINGS_MAX];
	uint64_t t0 = now_us(), t1;
	int b = budget_us;

	gave_way = b && crowded(t0);
	if (b && !gave_way) {
		pl_sig_arm();
		w->n = 0;
		if ((v4v_poll_rings(v, nv, b, poll_cb, w, news) || w->n) &&
		    answer(w, v, nv, news, w->n != 0)) {
			if (w->n > 0)
				learn(true, 0);
			return w->n;
		}
		if (interrupted(w))
			return w->n;
	} else if (v4v_poll_rings(v, nv, 0, NULL, NULL, news) &&
		   answer(w, v, nv, news, false)) {
		/* Not polling: what the rings hold already needs no sleep
		 * (under load, requests queue up while a server works). */
		return w->n;
	}
	v4v_show_rings(v, nv);
	t1 = now_us();
	w->n = w->sleep(w, left_ms(timeout, t1 - t0));
	looked_us = now_us();
	if (!gave_way)
		learn(false, looked_us - t1);
	return w->n;
}

/* ---- epoll_wait, epoll_pwait ---- */

struct epcall {
	struct waiter w;
	int ep, max;
	struct epoll_event *ev;
	const sigset_t *mask;
	bool own;		/* the set is watched by no other wait */
	struct member m[V4V_POLL_RINGS_MAX]; /* its V4V sockets */
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

static void epoll_none(struct waiter *w)
{
	w->n = 0;
}

/* Level-triggered EPOLLIN of the socket registered: the one event we can
 * tell exactly without the kernel.  Edge-triggered and one-shot
 * registrations change state in the kernel as they report. */
static bool epoll_mine(struct waiter *w, int i)
{
	struct epcall *c = (struct epcall *)w;
	const struct member *m = &c->m[i];

	return c->own && m->id && !(m->events & (EPOLLET | EPOLLONESHOT)) &&
	       v4v_sock_id(m->fd) == m->id;
}

/* Our EPOLLIN after the kernel's events.  One whose data the kernel's
 * answer already holds may be that same socket (its doorbell rang, or
 * EPOLLOUT): it is made readable and reported by the kernel next time,
 * never twice; so is one that finds the answer full, so that the
 * kernel's round robin includes it. */
static void epoll_merge(struct waiter *w, const int *v, int nv,
			const uint8_t *news)
{
	struct epcall *c = (struct epcall *)w;
	int kn = w->n;

	for (int i = 0; i < nv; i++) {
		bool dup = false;

		if (news[i] != V4V_NEWS_DATA)
			continue;
		for (int j = 0; j < kn && !dup; j++)
			dup = c->ev[j].data.u64 == c->m[i].data;
		if (dup || w->n == c->max) {
			v4v_show_rings(&v[i], 1);
			continue;
		}
		c->ev[w->n].events = EPOLLIN;
		c->ev[w->n++].data.u64 = c->m[i].data;
	}
}

static int wait_epoll(int ep, struct epoll_event *ev, int max, int timeout,
		      const sigset_t *mask)
{
	struct epcall c; /* not zeroed: m is 8 KiB, and set_v4v fills it */
	int v[V4V_POLL_RINGS_MAX], nv;

	c.w = (struct waiter){ 0, epoll_look, epoll_sleep, epoll_none,
			       epoll_mine, epoll_merge };
	c.ep = ep;
	c.max = max;
	c.ev = ev;
	c.mask = mask;

	NEED();
	if (max <= 0 || !pl_polling() ||
	    !(nv = set_v4v(ep, v, c.m, V4V_POLL_RINGS_MAX, &c.own)))
		return real.epoll_pwait(ep, ev, max, timeout, mask);
	if (timeout == 0)
		return pl_looked(&c.w, v, nv);
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
	nfds_t at[V4V_POLL_RINGS_MAX];	/* of each V4V socket polled */
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

static void poll_none(struct waiter *w)
{
	struct pollcall *c = (struct pollcall *)w;

	for (nfds_t i = 0; i < c->nfds; i++)
		c->fds[i].revents = 0;
	w->n = 0;
}

/* poll is level-triggered, and its answer is per entry: all data found
 * is ours to report (mine NULL). */
static void poll_merge(struct waiter *w, const int *v, int nv,
		       const uint8_t *news)
{
	struct pollcall *c = (struct pollcall *)w;

	(void)v;
	for (int i = 0; i < nv; i++) {
		struct pollfd *p = &c->fds[c->at[i]];

		if (news[i] != V4V_NEWS_DATA)
			continue;
		if (!p->revents)
			w->n++;
		p->revents |= (short)(p->events & (POLLIN | POLLRDNORM));
	}
}

/* More V4V sockets than one wait polls: the kernel answers alone, once
 * every ring's data is readable in it.  Returns 0. */
static int too_many(const struct pollfd *p, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (p[i].fd >= 0 && pfd_kind(p[i].fd) == PFD_V4V)
			v4v_show_rings(&p[i].fd, 1);
	return 0;
}

/* The V4V sockets a poll waits to read; an epoll set among the rest is
 * watched (pl_wait_watch). */
static int poll_v4v(struct pollcall *c, int *out, int max)
{
	int m = 0;

	for (nfds_t i = 0; i < c->nfds; i++) {
		const struct pollfd *p = &c->fds[i];
		int kind = p->fd < 0 ? PFD_NONE : pfd_kind(p->fd);

		if (kind == PFD_NONE && p->fd >= 0)
			pl_wait_watch(p->fd);
		if (kind == PFD_V4V && (p->events & POLLIN)) {
			if (m == max)
				return too_many(c->fds, c->nfds);
			c->at[m] = i;
			out[m++] = p->fd;
		}
	}
	return m;
}

static int wait_poll(struct pollfd *fds, nfds_t n, int timeout,
		     const sigset_t *mask)
{
	struct pollcall c; /* not zeroed: at is 2 KiB */
	int v[V4V_POLL_RINGS_MAX], nv;

	c.w = (struct waiter){ 0, poll_look, poll_sleep, poll_none, NULL,
			       poll_merge };
	c.fds = fds;
	c.nfds = n;
	c.mask = mask;
	if (!n || !pl_polling() || !(nv = poll_v4v(&c, v, V4V_POLL_RINGS_MAX)))
		return poll_sleep(&c.w, timeout);
	if (timeout == 0)
		return pl_looked(&c.w, v, nv);
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
