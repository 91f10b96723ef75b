/* SPDX-License-Identifier: MIT */
#include "rgpu/pipeline.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "rgpu/log.h"
#include "v4v/socket.h"

void pipeline_init(struct pipeline *p, const struct rgpu_backend *be,
		   struct rgpu_bsess *bs, size_t chunk, unsigned nslots,
		   bool staged, bool zero_copy)
{
	*p = (struct pipeline){ .be = be, .bs = bs, .chunk = chunk,
				.nslots = nslots,
				.direct = be->host_view && !staged };
	if (!zero_copy || p->direct)
		p->zc_rx = p->zc_tx = -1;
	if (p->nslots < 2)
		p->nslots = 2;
	if (p->nslots > RGPU_MAX_SLOTS)
		p->nslots = RGPU_MAX_SLOTS;
}

void pipeline_release(struct pipeline *p)
{
	for (unsigned i = 0; i < p->nslots; i++) {
		if (!p->buf[i])
			continue;
		p->be->slot_wait(p->bs, (int)i);
		p->be->stage_free(p->bs, p->buf[i]);
		p->buf[i] = NULL;
	}
	for (int i = 0; i < 2; i++)
		if (p->reg[i])
			p->be->host_unregister(p->bs, p->reg[i]);
	p->reg[0] = p->reg[1] = NULL;
}

static int stage(struct pipeline *p)
{
	for (unsigned i = 0; i < p->nslots; i++) {
		int rc = p->buf[i] ? 0
				   : p->be->stage_alloc(p->bs, p->chunk,
							&p->buf[i]);

		if (rc)
			return rc;
	}
	return 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Wait for the copies on the first `used` slots; keep the first error. */
static int drain(struct pipeline *p, uint64_t used, int rc)
{
	for (unsigned i = 0; i < p->nslots && i < used; i++) {
		int w = p->be->slot_wait(p->bs, (int)i);

		rc = rc ? rc : w;
	}
	return rc;
}

static bool recv_chunk(struct rgpu_conn *c, void *buf, size_t len,
		       struct pipe_io *io)
{
	size_t got = conn_read(c, buf, len, &io->err);

	io->done += got;
	if (got == len)
		return true;
	if (io->err == 0)
		io->err = EPIPE; /* the peer ended the stream mid-copy */
	return false;
}

/* Host-addressable device memory: receive into it, send from it. */
static int direct_htod(struct pipeline *p, uint64_t dst, uint64_t n,
		       struct rgpu_conn *c, struct pipe_io *io)
{
	char *to = p->be->host_view(p->bs, dst);

	for (uint64_t off = 0; off < n; off += p->chunk)
		if (!recv_chunk(c, to + off,
				(size_t)min_u64(p->chunk, n - off), io))
			break;
	return 0;
}

static int direct_dtoh(struct pipeline *p, uint64_t src, uint64_t n,
		       struct rgpu_conn *c, struct pipe_io *io)
{
	io->err = -conn_write(c, p->be->host_view(p->bs, src), (size_t)n);
	io->done = io->err ? 0 : n;
	return 0;
}

/* ---- zero-copy: the device reads and writes the V4V rings ---- */

/* Register one ring area (once); false if the backend refuses it. */
static bool zc_register(struct pipeline *p, const struct v4v_zc_area *a)
{
	int rc;

	if (!a->len)
		return false;
	if (a->base == p->reg[0] || a->base == p->reg[1] ||
	    !p->be->host_register)
		return true;
	rc = p->be->host_register(p->bs, a->base, a->len);
	if (rc) {
		rgpu_log("cannot register a %zu-byte ring with the %s driver "
			 "(%s): copying through staging buffers",
			 a->len, p->be->name, rgpu_error_name(rc));
		return false;
	}
	p->reg[p->reg[0] ? 1 : 0] = a->base;
	return true;
}

/* Decide, at a V4V connection's first copy, which ways go zero-copy: the
 * receive ring for host-to-device, the ring we send into (the client's,
 * or our own transmit queue under a strict v4vd) for device-to-host. */
static void zc_setup(struct pipeline *p, struct rgpu_conn *c)
{
	struct v4v_zc_area rx, tx;

	if (p->zc_rx || p->zc_tx)
		return;
	p->zc_rx = p->zc_tx = -1;
	if (!c->v4v || v4v_zc_areas(c->fd, &rx, &tx))
		return;
	p->zc_rx = zc_register(p, &rx) ? 1 : -1;
	p->zc_tx = zc_register(p, &tx) ? 1 : -1;
}

static int zc_errno(ssize_t k)
{
	return k < 0 ? (errno == EWOULDBLOCK ? EAGAIN : errno) : EPIPE;
}

/* Up to nslots spans of the receive ring in the device's hands at once,
 * each a piece of a message of the client's (a chunk): the next span is
 * taken while the device copies the last ones, and the oldest is waited
 * for and consumed when the slots are full or nothing more has arrived.
 * After a device error the stream is still consumed to its end. */
static int zc_htod(struct pipeline *p, uint64_t dst, uint64_t n,
		   struct rgpu_conn *c, struct pipe_io *io)
{
	uint64_t queued = 0, len[RGPU_MAX_SLOTS];
	unsigned head = 0, out = 0;
	int rc = 0, w;

	while (io->done < n) {
		if (out < p->nslots && queued < n) {
			const void *at;
			ssize_t k = v4v_recv_zc(
				c->fd, &at,
				(size_t)min_u64(p->chunk, n - queued),
				out ? MSG_DONTWAIT : 0);
			unsigned slot = (head + out) % p->nslots;

			if (k > 0) {
				if (!rc)
					rc = p->be->htod_async(p->bs, (int)slot,
							       dst + queued, at,
							       (uint64_t)k);
				len[slot] = (uint64_t)k;
				queued += (uint64_t)k;
				out++;
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			if (!(k < 0 && errno == EAGAIN && out)) {
				io->err = zc_errno(k);
				break;
			}
		}
		w = rc ? 0 : p->be->slot_wait(p->bs, (int)head);
		rc = rc ? rc : w;
		if (v4v_recv_zc_done(c->fd, (size_t)len[head])) {
			io->err = errno;
			break;
		}
		io->done += len[head];
		head = (head + 1) % p->nslots;
		out--;
	}
	/* A broken stream: the device still may not read the ring. */
	for (; out; out--, head = (head + 1) % p->nslots)
		p->be->slot_wait(p->bs, (int)head);
	return rc;
}

/* The device writes a span of the ring we send into (up to nslots
 * chunks: a wait for the device per span, not per chunk), then it is
 * published; the client copies it out while the device fills the next. */
static int zc_dtoh(struct pipeline *p, uint64_t src, uint64_t n,
		   struct rgpu_conn *c, struct pipe_io *io)
{
	int rc = 0;

	while (io->done < n && !rc) {
		void *at;
		ssize_t k = v4v_send_zc(c->fd, &at,
					(size_t)min_u64(p->chunk * p->nslots,
							n - io->done),
					MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			io->err = zc_errno(k);
			break;
		}
		rc = p->be->dtoh_async(p->bs, 0, at, src + io->done,
				       (uint64_t)k);
		rc = rc ? rc : p->be->slot_wait(p->bs, 0);
		v4v_send_zc_done(c->fd, rc ? 0 : (size_t)k);
		if (!rc)
			io->done += (uint64_t)k;
	}
	return rc;
}

/* ---- staged ---- */

int pipeline_htod(struct pipeline *p, uint64_t dst, uint64_t n,
		  struct rgpu_conn *c, struct pipe_io *io)
{
	uint64_t off = 0, k = 0;
	int rc;

	*io = (struct pipe_io){ 0, 0 };
	if (p->direct)
		return direct_htod(p, dst, n, c, io);
	zc_setup(p, c);
	if (p->zc_rx > 0) {
		p->zc_copies++;
		return zc_htod(p, dst, n, c, io);
	}
	p->staged_copies++;
	rc = stage(p);
	if (rc) {
		pipeline_discard(p, n, c, io);
		return rc;
	}
	for (; off < n; off += p->chunk, k++) {
		unsigned slot = (unsigned)(k % p->nslots);
		size_t len = (size_t)min_u64(p->chunk, n - off);

		/* The buffer is free again once its last copy is done. */
		if (k >= p->nslots) {
			int w = p->be->slot_wait(p->bs, (int)slot);

			rc = rc ? rc : w;
		}
		if (!recv_chunk(c, p->buf[slot], len, io))
			break;
		if (!rc)
			rc = p->be->htod_async(p->bs, (int)slot, dst + off,
					       p->buf[slot], len);
	}
	return drain(p, k, rc);
}

int pipeline_discard(struct pipeline *p, uint64_t n, struct rgpu_conn *c,
		     struct pipe_io *io)
{
	char scratch[65536];

	(void)p;
	*io = (struct pipe_io){ 0, 0 };
	for (uint64_t off = 0; off < n; off += sizeof(scratch))
		if (!recv_chunk(c, scratch,
				(size_t)min_u64(sizeof(scratch), n - off), io))
			break;
	return 0;
}

int pipeline_dtoh(struct pipeline *p, uint64_t src, uint64_t n,
		  struct rgpu_conn *c, struct pipe_io *io)
{
	uint64_t chunks = (n + p->chunk - 1) / p->chunk;
	int rc;

	*io = (struct pipe_io){ 0, 0 };
	if (p->direct)
		return direct_dtoh(p, src, n, c, io);
	zc_setup(p, c);
	if (p->zc_tx > 0) {
		p->zc_copies++;
		return zc_dtoh(p, src, n, c, io);
	}
	p->staged_copies++;
	rc = stage(p);
	if (rc)
		return rc;
	/* Prime every slot, then: wait, send, refill the slot. */
	for (uint64_t k = 0; k < chunks && k < p->nslots && !rc; k++)
		rc = p->be->dtoh_async(p->bs, (int)k, p->buf[k],
				       src + k * p->chunk,
				       min_u64(p->chunk, n - k * p->chunk));
	for (uint64_t k = 0; k < chunks && !rc; k++) {
		unsigned slot = (unsigned)(k % p->nslots);
		uint64_t next = k + p->nslots;
		size_t len = (size_t)min_u64(p->chunk, n - k * p->chunk);

		rc = p->be->slot_wait(p->bs, (int)slot);
		if (rc)
			break;
		io->err = -conn_write(c, p->buf[slot], len);
		if (io->err)
			break;
		io->done += len;
		if (next < chunks)
			rc = p->be->dtoh_async(p->bs, (int)slot, p->buf[slot],
					       src + next * p->chunk,
					       min_u64(p->chunk,
						       n - next * p->chunk));
	}
	return drain(p, chunks, rc);
}
