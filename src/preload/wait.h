/* SPDX-License-Identifier: MIT */
/*
 * The polling wait (wait.c), for each call that waits on descriptors.
 */
#ifndef V4V_PRELOAD_WAIT_H
#define V4V_PRELOAD_WAIT_H

#include <stdbool.h>

/* One call being served: how to look at the kernel without waiting, and
 * how to sleep in it; n is what the last look or sleep returned. */
struct waiter {
	int n;
	bool (*look)(struct waiter *w);
	int (*sleep)(struct waiter *w, int ms);	/* ms -1: no timeout */
};

/* Is polling on at all?  Sets this thread's budget up. */
bool pl_polling(void);

/* Poll the rings of the V4V sockets v[0..nv) for this thread's budget,
 * looking at the kernel now and then, and sleep in it for what is left
 * of `timeout` (ms, -1 none) if nothing came; returns w->n. */
int pl_polled_wait(struct waiter *w, const int *v, int nv, int timeout);

#endif
