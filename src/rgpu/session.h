/* SPDX-License-Identifier: MIT */
/*
 * One client connection of rgpu-server: read a request, check it, run it
 * on the client's devctx, answer.  A malformed or hostile request ends
 * the session (logged); other sessions never notice.
 */
#ifndef RGPU_SESSION_H
#define RGPU_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgpu/backend.h"
#include "rgpu/conn.h"

struct server_cfg {
	const struct rgpu_backend *be;
	size_t chunk;	     /* default pipelined chunk */
	unsigned nslots;     /* staging buffers per session */
	bool allow_ptx;	     /* any PTX, not only the shipped kernels */
	bool staged;	     /* stage copies even for host-addressable memory */
	bool zero_copy;	     /* the device uses V4V rings, not staging */
	unsigned max_lanes;  /* connections one client may copy over */
	unsigned timeout_ms; /* a request that stalls this long is dropped */
};

/* Serve one connection until it ends, then close it.  Owns `c`. */
void session_serve(unsigned id, struct rgpu_conn c, const char *peer,
		   const struct server_cfg *cfg);

#endif
