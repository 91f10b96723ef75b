/* SPDX-License-Identifier: MIT */
/*
 * The polling wait (wait.c), for each call that waits on descriptors.
 */
#ifndef V4V_PRELOAD_WAIT_H
#define V4V_PRELOAD_WAIT_H

#include <stdbool.h>
#include <stdint.h>

/* One call being served: how to look at the kernel without waiting, how
 * to sleep in it, and how to answer "nothing" without it (a look is
 * skipped when one was made within 10 us); n is what the last look or
 * sleep returned.  After a look, merge adds to the answer the V4V
 * sockets v[i] with data (news[i], V4V_NEWS_DATA) that the call can
 * report by itself, exactly as the kernel would: those mine(w, i) said
 * yes to, or all if mine is NULL; the others were made readable in the
 * kernel first, and their news cleared. */
struct waiter {
	int n;
	bool (*look)(struct waiter *w);
	int (*sleep)(struct waiter *w, int ms);	/* ms -1: no timeout */
	void (*none)(struct waiter *w);		/* an answer of nothing */
	bool (*mine)(struct waiter *w, int i);
	void (*merge)(struct waiter *w, const int *v, int nv,
		      const uint8_t *news);	/* news: ours only */
};

/* Is polling on at all?  Sets this thread's budget up. */
bool pl_polling(void);

/* Poll the rings of the V4V sockets v[0..nv) for this thread's budget,
 * looking at the kernel now and then, and sleep in it for what is left
 * of `timeout` (ms, -1 none) if nothing came; returns w->n. */
int pl_polled_wait(struct waiter *w, const int *v, int nv, int timeout);

/* The same for a call that must not wait (timeout 0). */
int pl_looked(struct waiter *w, const int *v, int nv);

/* fd, if an epoll set, is watched by a wait that the kernel answers:
 * from now on that set's V4V sockets are always readable in the kernel
 * when they hold data. */
void pl_wait_watch(int fd);

#endif
