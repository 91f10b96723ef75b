/* SPDX-License-Identifier: MIT */
/*
 * select and pselect as polling waits (wait.c).  The kernel gets the
 * application's sets back as they came before every look and the sleep,
 * since each call overwrites them with its answer; so what the
 * application is told is always one whole kernel answer.  select's
 * timeout, as on Linux, is left holding the time not slept.
 */
#include "preload.h"
#include "wait.h"
#include "lib/interposer.h"

#include <errno.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

struct selcall {
	struct waiter w;
	int nfds;
	fd_set *sets[3], saved[3];	/* read, write, except */
	const sigset_t *mask;
	struct timespec until;		/* CLOCK_MONOTONIC; tv_sec < 0: none */
};

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec != b->tv_sec ? (a->tv_sec < b->tv_sec ? -1 : 1)
	     : a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

/* What is left until `until`, never negative. */
static struct timespec ts_left(const struct timespec *until)
{
	struct timespec now, d = { 0, 0 };

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_cmp(&now, until) >= 0)
		return d;
	d.tv_sec = until->tv_sec - now.tv_sec;
	d.tv_nsec = until->tv_nsec - now.tv_nsec;
	if (d.tv_nsec < 0) {
		d.tv_sec--;
		d.tv_nsec += 1000000000L;
	}
	return d;
}

/* Now plus d. */
static struct timespec ts_after(const struct timespec *d)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += d->tv_sec;
	t.tv_nsec += d->tv_nsec;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static int sel_call(struct selcall *c, const struct timespec *tmo)
{
	for (int i = 0; i < 3; i++)
		if (c->sets[i])
			*c->sets[i] = c->saved[i];
	return real.pselect(c->nfds, c->sets[0], c->sets[1], c->sets[2], tmo,
			    c->mask);
}

/* Sleeps until the deadline, to the nanosecond: wait.c's milliseconds
 * would round a select timeout. */
static int sel_sleep(struct waiter *w, int ms)
{
	struct selcall *c = (struct selcall *)w;
	struct timespec left = ts_left(&c->until);

	(void)ms;
	return sel_call(c, c->until.tv_sec < 0 ? NULL : &left);
}

static bool sel_look(struct waiter *w)
{
	static const struct timespec zero;

	w->n = sel_call((struct selcall *)w, &zero);
	return w->n != 0;
}

static void sel_none(struct waiter *w)
{
	struct selcall *c = (struct selcall *)w;

	for (int i = 0; i < 3; i++)
		if (c->sets[i])
			FD_ZERO(c->sets[i]);
	w->n = 0;
}

/* select is level-triggered, and answers per descriptor: all data found
 * is ours to report (mine NULL). */
static void sel_merge(struct waiter *w, const int *v, int nv,
		      const uint8_t *news)
{
	struct selcall *c = (struct selcall *)w;

	for (int i = 0; i < nv; i++) {
		if (news[i] != V4V_NEWS_DATA || FD_ISSET(v[i], c->sets[0]))
			continue;
		FD_SET(v[i], c->sets[0]);
		w->n++;
	}
}

/* The V4V sockets select waits to read; an epoll set among the rest is
 * watched (pl_wait_watch). */
static int sel_v4v(int nfds, const fd_set *r, int *v)
{
	int nv = 0;

	for (int fd = 0; fd < nfds; fd++) {
		if (!FD_ISSET(fd, r))
			continue;
		if (pfd_kind(fd) == PFD_V4V) {
			if (nv < V4V_POLL_RINGS_MAX) {
				v[nv++] = fd;
				continue;
			}
			/* More than one wait polls: the kernel answers
			 * alone, once every ring's data is readable there. */
			for (fd = 0; fd < nfds; fd++)
				if (FD_ISSET(fd, r) && pfd_kind(fd) == PFD_V4V)
					v4v_show_rings(&fd, 1);
			return 0;
		} else {
			pl_wait_watch(fd);
		}
	}
	return nv;
}

static int wait_select(int nfds, fd_set *r, fd_set *wr, fd_set *e,
		       const struct timespec *tmo, const sigset_t *mask)
{
	struct selcall c = { { 0, sel_look, sel_sleep, sel_none, NULL,
			       sel_merge },
			     nfds, { r, wr, e }, { { { 0 } } }, mask,
			     { -1, 0 } };
	int v[V4V_POLL_RINGS_MAX], nv = 0, ms = -1;
	bool now;

	if (!r || nfds <= 0 || nfds > FD_SETSIZE || !pl_polling() ||
	    (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 ||
		     tmo->tv_nsec >= 1000000000L || tmo->tv_sec > 1000000)))
		return real.pselect(nfds, r, wr, e, tmo, mask);
	if (!(nv = sel_v4v(nfds, r, v)))
		return real.pselect(nfds, r, wr, e, tmo, mask);
	for (int i = 0; i < 3; i++)
		if (c.sets[i])
			c.saved[i] = *c.sets[i];
	now = tmo && !tmo->tv_sec && !tmo->tv_nsec;
	if (now)
		return pl_looked(&c.w, v, nv);
	if (tmo) {
		c.until = ts_after(tmo);
		ms = (int)(tmo->tv_sec * 1000 + (tmo->tv_nsec + 999999) /
			   1000000);
	}
	return pl_polled_wait(&c.w, v, nv, ms);
}

int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	struct timespec ts, until, left;
	int n, err;

	if (!real.socket)
		real_init();
	if (!tv)
		return wait_select(nfds, r, w, e, NULL, NULL);
	if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000) {
		errno = EINVAL;
		return -1;
	}
	ts = (struct timespec){ tv->tv_sec, tv->tv_usec * 1000 };
	until = ts_after(&ts);
	n = wait_select(nfds, r, w, e, &ts, NULL);
	err = errno;
	left = ts_left(&until);
	tv->tv_sec = left.tv_sec;
	tv->tv_usec = left.tv_nsec / 1000;
	errno = err;
	return n;
}

int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
	    const struct timespec *tmo, const sigset_t *mask)
{
	if (!real.socket)
		real_init();
	return wait_select(nfds, r, w, e, tmo, mask);
}
