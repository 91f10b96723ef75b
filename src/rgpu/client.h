/* SPDX-License-Identifier: MIT */
/*
 * Inside librgpu: the two transports behind the public API, remote (the
 * wire protocol to rgpu-server over V4V or TCP) and local (a devctx in
 * this process, the bound with no network).  client.c serializes calls,
 * so a transport is used by one thread at a time.
 */
#ifndef RGPU_CLIENT_H
#define RGPU_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rgpu/backend.h"
#include "rgpu/rgpu.h"
#include "rgpu/wire.h"

struct rgpu_transport {
	int (*device_count)(void *t, int *n);
	int (*props)(void *t, int dev, struct rgpu_device_prop *p);
	int (*malloc)(void *t, uint64_t size, rgpu_devptr_t *p);
	int (*free)(void *t, rgpu_devptr_t p);
	int (*memset)(void *t, rgpu_devptr_t p, int v, uint64_t n);
	int (*htod)(void *t, rgpu_devptr_t dst, const void *src, uint64_t n);
	int (*dtoh)(void *t, void *dst, rgpu_devptr_t src, uint64_t n);
	int (*sync)(void *t);
	int (*module_load)(void *t, const char *ptx, rgpu_module_t *m,
			   char *log, size_t logsz);
	int (*module_unload)(void *t, rgpu_module_t m);
	int (*launch)(void *t, const struct rgpu_launch_req *r);
	/* Host memory the device copies fastest from and to: *be is the
	 * backend whose stage_free frees it, NULL for free(). */
	int (*host_alloc)(void *t, size_t n, void **p,
			  const struct rgpu_backend **be);
	void (*close)(void *t);
};

extern const struct rgpu_transport rgpu_remote;
extern const struct rgpu_transport rgpu_local;

/* Open a transport: *state for its calls, backend[16] its name.  0 or
 * an rgpu error; why[] says what went wrong. */
/* lanes: connections to copy over, this one included (1: no lanes). */
int rgpu_remote_open(const char *addr, size_t chunk, unsigned lanes,
		     void **state, char backend[16], char *why, size_t whysz);
int rgpu_local_open(void **state, char backend[16], char *why,
		    size_t whysz);

#endif
