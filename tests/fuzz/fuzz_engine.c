/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the strict-mode copy engine (src/hv/engine.c,
 * src/hv/dgram_q.c): how it parses a sender's transmit queue, the memory
 * a hostile domain writes, and copies what it finds into the receiver's
 * ring.
 *
 * A sender with its transmit queue, the engine, and a receiver reading
 * the ring the engine produces into: one stream connection, or a
 * datagram socket sending to one other.  Every ring is one heap block of
 * exactly its size, so AddressSanitizer reports any access past either
 * end.  The engine's calls outside engine.c and dgram_q.c (doorbells,
 * waiter lists, routing, the log) are stubs here that record what was
 * asked; routing knows one destination, the receiver.
 *
 * Input layout (missing bytes read as 0):
 *
 *   u8  mode: bit 0 hostile; bits 1-2 the queue's size, bits 3-4 the
 *       receiver ring's (256, 512, 1024 or 4096 bytes each); bit 5
 *       datagrams
 *   then operations, one byte each plus their arguments (see run_op).
 *
 * Every mode: the receiver's ring, which only the engine writes, is
 * always well formed, every message in it carries the sender's true
 * address and the connection's type, and a reset reaches the receiver.
 * Honest mode (nothing scribbled yet): the receiver gets exactly the
 * bytes the sender queued, in order (datagrams: each one whole, and
 * those sent nowhere are dropped with RECHECK set in the queue), and a
 * stream's end after them; nothing is reset.  Hostile mode: the queue's
 * header and data can be rewritten between any two operations, with
 * indices that jump anywhere.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hv/hv.h"
#include "../engine_stubs.h"

#define SENDER_DOMID 3
#define SENDER_PORT 7
#define BELL_SENDER 100	/* doorbell "descriptors": the stubs count them */
#define BELL_RECEIVER 101
#define V4V_MT_DGRAM_FZ 0x44475231u /* libv4v's datagram type */

/* ---- what engine.c calls outside itself ---- */

static struct {
	bool waiting;		/* the engine waits for room in the receiver */
	unsigned drains;	/* the sender's doorbell emptied */
	unsigned rung[2];	/* sender's, receiver's */
} stub;

void hv_bell_ring(int bell)
{
	ASSERT(bell == BELL_SENDER || bell == BELL_RECEIVER);
	stub.rung[bell - BELL_SENDER]++;
}

void hv_bell_drain(int bell)
{
	ASSERT(bell == BELL_SENDER);
	stub.drains++;
}

/* Host rings only here: room is the drain of the sender's fill. */
void hv_ring_room(struct hv_ring *r)
{
	hv_bell_drain(r->bell);
}

void hv_ring_add_waiter(struct hv_ring *r, uint32_t handle, uint32_t need)
{
	(void)r;
	(void)handle;
	(void)need;
	stub.waiting = true;
}

void hv_ring_del_waiter(struct hv_ring *r, uint32_t handle)
{
	(void)r;
	(void)handle;
	stub.waiting = false;
}

static struct hv_ring *the_receiver;

/* One destination: the receiver's address, for datagrams up to its
 * ring's largest. */
int hv_route_msg(struct hv *hv, struct hv_ring *own, const struct v4v_addr *to,
		 uint32_t type, uint32_t len, struct hv_ring **out)
{
	struct hv_ring *r = the_receiver;

	(void)hv;
	ASSERT(own->dgram_q);
	if (to->domid != r->dom->domid || to->port != r->port ||
	    type == V4VP_MT_SYN)
		return -ECONNREFUSED;
	if (len > v4v_ring_max_payload(r->size))
		return -EMSGSIZE;
	*out = r;
	return 0;
}


/* ---- the input ---- */

/* ---- one connection ---- */

struct side {
	void *mem;
	struct v4v_ring view;
};

struct fz {
	struct input in;
	bool hostile, scribbled, fin, dgram;
	uint64_t nowhere;		/* datagrams sent where nobody is */
	uint64_t dgrams_queued, dgrams_received;
	struct hv hv;
	struct hv_shard shard;
	struct hv_domain sdom, rdom;
	struct hv_ring sender, receiver;
	struct side queue, own, rx;	/* own: the sender's receive ring */
	struct v4v_ring_prod app;	/* the sender's library, honest */
	struct v4v_ring_cons reader;	/* the receiver's library */
	uint64_t queued, received;	/* stream bytes */
};

/* The stream's byte at offset i: both ends compute it. */
static uint8_t stream_byte(uint64_t i)
{
	return (uint8_t)(i * 131u + (i >> 8) + 17u);
}

static void side_new(struct side *s, uint32_t size)
{
	size_t len = v4v_ring_mem_size(size);

	s->mem = malloc(len);
	ASSERT(s->mem);
	v4v_ring_format(s->mem, size);
	ASSERT(!v4v_ring_view(&s->view, s->mem, len, size));
}

static uint32_t pick_size(unsigned bits)
{
	static const uint32_t sizes[] = { 256, 512, 1024, 4096 };

	return sizes[bits & 3];
}

static void setup(struct fz *f, uint8_t mode)
{
	struct hv_ring *s = &f->sender, *r = &f->receiver;

	f->hostile = mode & 1;
	f->dgram = mode & 32;
	side_new(&f->queue, pick_size(mode >> 1));
	side_new(&f->rx, pick_size(mode >> 3));
	side_new(&f->own, 256);
	v4v_ring_prod_init(&f->app, &f->queue.view);
	v4v_ring_cons_init(&f->reader, &f->rx.view);

	f->hv.cfg.strict = true;
	f->hv.cfg.copy_idle_us = 0;
	f->hv.epfd = -1;
	f->shard.hv = &f->hv;
	f->shard.epfd = -1;
	list_init(&f->shard.active);
	the_shard = &f->shard;
	f->sdom.domid = SENDER_DOMID;
	f->rdom.domid = SENDER_DOMID + 1;

	pthread_mutex_init(&f->hv.engine.dgram_lock, NULL);
	the_receiver = r;

	s->handle = 1;
	s->dom = &f->sdom;
	s->port = SENDER_PORT;
	s->bell = BELL_SENDER;
	s->has_txq = true;
	v4v_ring_cons_init(&s->txq, &f->queue.view);
	v4v_ring_prod_init(&s->prod, &f->own.view);

	r->handle = 2;
	r->dom = &f->rdom;
	r->port = 9;
	r->size = f->rx.view.size;
	r->bell = BELL_RECEIVER;
	v4v_ring_prod_init(&r->prod, &f->rx.view);
	if (f->dgram) {
		s->dgram_q = true;
	} else {
		s->state = r->state = HV_RING_LINKED;
		s->peer = r;
		r->peer = s;
	}

	hv_pump_start(&f->hv, s);
}

static void teardown(struct fz *f)
{
	free(f->queue.mem);
	free(f->rx.mem);
	free(f->own.mem);
}

/* ---- the sender, honest ---- */

/* A stream's bytes, or a datagram to the receiver (bit 15 of len: to
 * nowhere instead). */
static void app_send(struct fz *f, uint16_t len)
{
	struct v4v_addr me = { .port = SENDER_PORT, .domid = SENDER_DOMID };
	struct v4v_addr to = { .port = f->receiver.port,
			       .domid = f->rdom.domid };
	uint32_t max = v4v_ring_max_payload(f->queue.view.size);
	bool nowhere = f->dgram && (len & 0x8000);
	uint8_t buf[4096];
	struct iovec iov = { buf, len % (max + 1) };
	bool kick;

	if (f->fin)
		return; /* an honest sender writes nothing after its end */
	/* An honest datagram socket queues only what fits where it goes. */
	if (f->dgram && iov.iov_len > v4v_ring_max_payload(f->receiver.size))
		iov.iov_len = v4v_ring_max_payload(f->receiver.size);
	if (nowhere)
		to.port++;
	for (size_t i = 0; i < iov.iov_len; i++)
		buf[i] = nowhere ? 0xee : stream_byte(f->queued + i);
	if (v4v_ring_insert(&f->app, f->dgram ? &to : &me,
			    f->dgram ? V4V_MT_DGRAM_FZ : V4VP_MT_STREAM, &iov, 1,
			    &kick))
		return; /* full: an honest sender waits */
	if (nowhere) {
		f->nowhere++;
		return;
	}
	f->queued += iov.iov_len;
	f->dgrams_queued++;
}

static void app_fin(struct fz *f)
{
	if (f->dgram)
		return; /* a datagram socket has no end */
	f->fin = true;
	v4v_ring_set_tx_flag(&f->queue.view, V4V_RING_TX_FIN);
}

/* ---- the receiver ---- */

/* Room came: what v4vd's loop does for the reader's NOTIFY. */
static void room_came(struct fz *f)
{
	if (!stub.waiting)
		return;
	stub.waiting = false;
	hv_pump(&f->hv, &f->sender);
}

/* Take up to `n` messages; the ring only the engine writes must always
 * be well formed. */
static void receive(struct fz *f, unsigned n)
{
	uint8_t buf[4096];
	struct v4v_ring_msg m;

	while (n--) {
		int rc = v4v_ring_peek(&f->reader, &m);

		ASSERT(rc >= 0);
		if (!rc)
			break;
		ASSERT(m.message_type ==
		       (f->dgram ? V4V_MT_DGRAM_FZ : V4VP_MT_STREAM) ||
		       (f->dgram && f->scribbled));
		ASSERT(m.source.domid == SENDER_DOMID);
		ASSERT(m.source.port == SENDER_PORT);
		ASSERT(m.payload_len <= sizeof(buf));
		v4v_ring_read(&f->reader, 0, buf, m.payload_len);
		if (!f->scribbled) {
			for (uint32_t i = 0; i < m.payload_len; i++)
				ASSERT(buf[i] == stream_byte(f->received + i));
		}
		f->received += m.payload_len;
		f->dgrams_received++;
		v4v_ring_consume(&f->reader, &m);
	}
	room_came(f);
}

/* ---- the hostile sender ---- */

static void scribble(struct fz *f)
{
	size_t len = v4v_ring_mem_size(f->queue.view.size);
	uint16_t off = in_u16(&f->in);
	uint8_t n = in_u8(&f->in);

	f->scribbled = true;
	for (uint8_t i = 0; i < n; i++)
		((uint8_t *)f->queue.mem)[(off + i) % len] = in_u8(&f->in);
}

static void jump(struct fz *f)
{
	f->scribbled = true;
	f->queue.view.sh->tx_ptr = in_u32(&f->in);
}

/* One operation; false at the end of the input. */
static bool run_op(struct fz *f)
{
	uint8_t op;

	if (!f->in.n)
		return false;
	op = in_u8(&f->in);
	switch (op % 8) {
	case 0:
		app_send(f, in_u16(&f->in));
		break;
	case 1: /* the sender's doorbell is readable */
		hv_pump_bell(&f->hv, &f->sender);
		break;
	case 2:
		hv_shard_turn(&f->shard);
		break;
	case 3:
		receive(f, 1u + in_u8(&f->in) % 8);
		break;
	case 4:
		app_fin(f);
		break;
	case 5: /* the socket closed: deliver what is queued */
		hv_pump_out(&f->hv, &f->sender);
		break;
	case 6:
		if (f->hostile)
			scribble(f);
		break;
	case 7:
		if (f->hostile)
			jump(f);
		break;
	}
	return true;
}

/* Drive the connection until nothing moves: bounded, so an engine that
 * never stops shows up as a timeout. */
static void settle(struct fz *f)
{
	for (int i = 0; i < 10000; i++) {
		uint64_t before = f->received;
		struct v4v_ring_msg m;

		hv_pump_bell(&f->hv, &f->sender);
		hv_shard_turn(&f->shard);
		receive(f, 64);
		/* Empty datagrams move no bytes: the receiver's ring must be
		 * empty too (receiving may have made room for more). */
		if (f->received == before && !stub.waiting &&
		    !v4v_ring_pending(&f->sender.txq) &&
		    !v4v_ring_peek(&f->reader, &m))
			break;
		if (f->received == before && f->sender.eof)
			break;
	}
}

static void check_end(struct fz *f)
{
	uint32_t flags = v4v_ring_tx_flags(&f->rx.view);

	if (f->dgram) {
		/* A queue found corrupt is read no more (its flag, in memory
		 * the hostile owner writes, may be gone again). */
		if (f->shard.resets)
			ASSERT(f->sender.eof);
		if (f->scribbled)
			return;
		ASSERT(!f->shard.resets);
		ASSERT(f->received == f->queued);
		ASSERT(f->dgrams_received == f->dgrams_queued);
		ASSERT(!v4v_ring_pending(&f->sender.txq));
		ASSERT(!f->nowhere == !(v4v_ring_rx_flags(&f->queue.view) &
					V4V_RING_RX_RECHECK));
		return;
	}
	/* A reset reaches the receiver, in every mode. */
	if (f->shard.resets) {
		ASSERT(flags & V4V_RING_TX_RST);
		ASSERT(f->sender.eof);
	}
	if (f->scribbled)
		return;
	ASSERT(!f->shard.resets);
	ASSERT(f->received == f->queued);
	ASSERT(flags & V4V_RING_TX_FIN);
	ASSERT(f->sender.eof);
	ASSERT(!v4v_ring_pending(&f->sender.txq));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;

	memset(&f, 0, sizeof(f));
	memset(&stub, 0, sizeof(stub));
	f.in = (struct input){ data, size };
	setup(&f, in_u8(&f.in));
	while (run_op(&f))
		;
	app_fin(&f);
	settle(&f);
	check_end(&f);
	teardown(&f);
	return 0;
}
