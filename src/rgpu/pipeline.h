/* SPDX-License-Identifier: MIT */
/*
 * Copies between a connection and the device.  Over V4V the device copies
 * straight out of the connection's receive ring and into the ring the
 * server sends into, both registered with the driver once per session
 * (zero-copy: no CPU touches the bytes on the server).  Otherwise, in
 * chunks through two or three pinned staging buffers: while the device
 * copies chunk k out of one buffer, chunk k+1 is received into the next
 * (host to device), or chunk k is sent while the device fills the next
 * (device to host).
 */
#ifndef RGPU_PIPELINE_H
#define RGPU_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgpu/backend.h"
#include "rgpu/conn.h"

#define RGPU_DEFAULT_CHUNK (1u << 20)
#define RGPU_DEFAULT_SLOTS 3u

struct pipeline {
	const struct rgpu_backend *be;
	struct rgpu_bsess *bs;
	size_t chunk;
	unsigned nslots;
	bool direct; /* no staging: straight to host-addressable memory */
	void *buf[RGPU_MAX_SLOTS]; /* allocated at first use */
	/* Zero-copy through the rings: -1 off, 0 not tried yet, 1 on. */
	int zc_rx, zc_tx;
	void *reg[2]; /* ring areas registered with the backend */
	unsigned zc_copies, staged_copies; /* copies each way, for the log */
};

/* What happened on the connection during a copy. */
struct pipe_io {
	uint64_t done; /* bytes moved on the connection */
	int err;       /* 0, or an errno; a short copy with 0 is an EOF */
};

/* staged: go through the staging buffers even when the backend's memory
 * is host-addressable (to model a GPU's copies with the CPU backend).
 * zero_copy: let the device use V4V rings (if it needs staging). */
void pipeline_init(struct pipeline *p, const struct rgpu_backend *be,
		   struct rgpu_bsess *bs, size_t chunk, unsigned nslots,
		   bool staged, bool zero_copy);
/* Waits for copies in flight, frees the staging buffers and unregisters
 * the rings: before the connection closes (its rings go with it). */
void pipeline_release(struct pipeline *p);

/* Receive n bytes from c into device address dst.  Returns the first
 * device error (the stream is still consumed to its end, so that the
 * session can answer and go on); io says whether the connection failed. */
int pipeline_htod(struct pipeline *p, uint64_t dst, uint64_t n,
		  struct rgpu_conn *c, struct pipe_io *io);
/* Receive and drop n bytes (the payload of a refused copy). */
int pipeline_discard(struct pipeline *p, uint64_t n, struct rgpu_conn *c,
		     struct pipe_io *io);
/* Send n bytes from device address src to c.  A device error after the
 * first byte went cannot be reported in band: the caller drops the
 * connection. */
int pipeline_dtoh(struct pipeline *p, uint64_t src, uint64_t n,
		  struct rgpu_conn *c, struct pipe_io *io);

#endif
