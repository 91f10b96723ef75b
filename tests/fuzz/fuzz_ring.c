/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the V4V ring (src/ring/ring.c).
 *
 * The ring memory is one heap block of exactly v4v_ring_mem_size(size)
 * bytes, so AddressSanitizer reports any access past either end.  Every
 * buffer the ring copies into is its own exact-size heap block, too.
 *
 * Input layout (missing bytes read as 0):
 *
 *   u8   mode: bit 0 hostile, bits 1-6 pick the size (256 .. 1264)
 *   u16  start slot: rx and tx both start there, as after earlier traffic
 *   hostile only:
 *     u32 tx_ptr, u32 rx_ptr, u32 rx_flags, u32 tx_flags
 *     u16 n, then n bytes written to the data area from the start slot on
 *   then operations, one byte each plus their arguments (see run_op).
 *
 * Honest mode: nobody corrupts the ring, and a reference queue must match
 * every byte that comes out, every space and used figure, and the doorbell
 * and notification flags exactly.  Hostile mode: the shared header and data
 * area are whatever the input says and can be rewritten between any two
 * operations; the consumer must stay in bounds, report -EBADMSG rather than
 * anything inconsistent, and the producer must stay in bounds whatever
 * rx_ptr says.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ring/ring.h"

#define SLOT V4V_RING_SLOT
#define MHDR V4V_RING_MSG_HDR
#define MAXQ 128 /* more than a 1264-byte ring can hold: 1264 / 16 */

struct qmsg {
	uint32_t len, type;
};

struct fz {
	struct input in;
	bool hostile;
	uint8_t *mem;
	uint32_t size;
	struct v4v_ring r;
	struct v4v_ring_prod p;
	struct v4v_ring_cons c;
	/* consumer state */
	bool have_msg; /* m is the message at c.rx, from a peek */
	bool dead;     /* peek said -EBADMSG: the ring is dropped */
	struct v4v_ring_msg m;
	uint32_t type_seq;
	/* the honest-mode model */
	struct qmsg q[MAXQ];
	unsigned qhead, qn;
	uint32_t used;
	bool armed, waiting, closed, fin;
};

static uint8_t pat(uint32_t type, uint32_t i)
{
	uint32_t x = type * 0x9e3779b1u + i * 0x85ebca6bu;

	return (uint8_t)(x ^ x >> 15);
}

static uint32_t round_slot(uint32_t n)
{
	return (n + SLOT - 1) & ~(SLOT - 1);
}

static uint32_t model_free(const struct fz *f)
{
	return f->size - f->used - SLOT;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	ASSERT(p);
	return p;
}

static void op_peek(struct fz *f)
{
	uint32_t used = v4v_ring_used(&f->c);
	struct v4v_ring_msg m;
	int rc;

	memset(&m, 0xa5, sizeof(m));
	rc = v4v_ring_peek(&f->c, &m);
	ASSERT(rc == 1 || rc == 0 || rc == -EBADMSG);
	f->have_msg = rc == 1;
	if (rc == -EBADMSG) {
		ASSERT(f->hostile);
		f->dead = true;
		return;
	}
	if (rc == 0) {
		ASSERT(used == 0);
		ASSERT(!f->hostile ? f->qn == 0 : true);
		return;
	}
	/* What peek vouches for lies within what tx_ptr says is there. */
	ASSERT(m.payload_len <= v4v_ring_max_payload(f->size));
	ASSERT(round_slot(MHDR + m.payload_len) <= used);
	ASSERT(m.source.pad == 0);
	f->m = m;
	if (!f->hostile) {
		struct qmsg *q = &f->q[f->qhead];

		ASSERT(f->qn > 0);
		ASSERT(m.payload_len == q->len);
		ASSERT(m.message_type == q->type);
		ASSERT(m.source.port == q->type);
	}
}

static void check_bytes(const struct fz *f, const uint8_t *buf, uint32_t off,
			size_t n)
{
	if (f->hostile)
		return;
	for (size_t i = 0; i < n; i++)
		ASSERT(buf[i] == pat(f->m.message_type, off + (uint32_t)i));
}

static void op_readv(struct fz *f)
{
	uint32_t len = f->m.payload_len;
	uint32_t off = in_u16(&f->in) % (len + 2);
	int n = 1 + in_u8(&f->in) % 4;
	struct iovec iov[4];
	size_t room = 0, want, got, at = 0;

	for (int i = 0; i < n; i++) {
		iov[i].iov_len = in_u16(&f->in) % 600;
		iov[i].iov_base = iov[i].iov_len ? xmalloc(iov[i].iov_len)
						 : NULL;
		room += iov[i].iov_len;
	}
	want = off >= len ? 0 : len - off < room ? len - off : room;
	got = v4v_ring_readv(&f->c, &f->m, off, iov, n);
	ASSERT(got == want);
	for (int i = 0; i < n; i++) {
		size_t k = got - at < iov[i].iov_len ? got - at
						     : iov[i].iov_len;

		check_bytes(f, iov[i].iov_base, off + (uint32_t)at, k);
		at += k;
		free(iov[i].iov_base);
	}
}

static void op_read(struct fz *f)
{
	uint32_t len = f->m.payload_len;
	uint32_t off = in_u16(&f->in) % (len + 1);
	uint32_t n = in_u16(&f->in) % (len - off + 1);
	uint8_t *buf = xmalloc(n);

	v4v_ring_read(&f->c, off, buf, n);
	check_bytes(f, buf, off, n);
	free(buf);
}

static void op_consume(struct fz *f)
{
	bool notify = v4v_ring_consume(&f->c, &f->m);

	f->have_msg = false;
	ASSERT(f->c.rx < f->size && f->c.rx % SLOT == 0);
	if (f->hostile)
		return;
	ASSERT(f->r.sh->rx_ptr == f->c.rx);
	ASSERT(notify == f->waiting);
	f->waiting = false;
	f->used -= round_slot(MHDR + f->q[f->qhead].len);
	f->qhead = (f->qhead + 1) % MAXQ;
	f->qn--;
}

static void op_arm(struct fz *f)
{
	bool empty = v4v_ring_arm(&f->c), rung;
	int moved = v4v_ring_arm_move(&f->c, &rung);

	ASSERT(moved >= -1 && moved <= 1);
	if (f->hostile)
		return;
	ASSERT(empty == (f->qn == 0));
	f->armed = empty;
	/* Armed here, or not armed at all: nothing to move. */
	ASSERT(moved == (empty ? 1 : -1) && !rung);
}

static void op_used(struct fz *f)
{
	uint32_t used = v4v_ring_used(&f->c);

	ASSERT(used <= f->size - SLOT && used % SLOT == 0);
	ASSERT(f->hostile || used == f->used);
}

static void op_insert(struct fz *f)
{
	uint32_t max = v4v_ring_max_payload(f->size);
	uint32_t len = in_u16(&f->in) % (max + 64);
	int n = in_u8(&f->in) % 4; /* 0 iovecs only for len 0 */
	struct v4v_addr src = { .port = f->type_seq, .domid = 1,
				.pad = 0xffff };
	struct iovec iov[3];
	uint8_t *buf = xmalloc(len);
	size_t at = 0;
	bool kick;
	int rc, want;

	if (len && !n)
		n = 1;
	for (uint32_t i = 0; i < len; i++)
		buf[i] = pat(f->type_seq, i);
	for (int i = 0; i < n; i++) {
		size_t k = i == n - 1 ? len - at
				      : in_u16(&f->in) % (len - at + 1);

		/* An empty piece may well have no buffer at all. */
		iov[i].iov_base = k ? buf + at : NULL;
		iov[i].iov_len = k;
		at += k;
	}
	rc = v4v_ring_insert(&f->p, &src, f->type_seq, n ? iov : NULL, n,
			     &kick);
	free(buf);
	ASSERT(rc == 0 || rc == -EAGAIN || rc == -EMSGSIZE || rc == -EPIPE);
	ASSERT((len > max) == (rc == -EMSGSIZE));
	ASSERT((rc == -EPIPE) ==
	       (len <= max && (v4v_ring_rx_flags(&f->r) & V4V_RING_RX_CLOSED)));
	ASSERT(f->p.tx < f->size && f->p.tx % SLOT == 0);
	ASSERT(rc || f->r.sh->tx_ptr == f->p.tx);
	ASSERT(rc == 0 || !kick);
	f->type_seq++;
	if (f->hostile)
		return;
	want = len > max ? -EMSGSIZE
	       : f->closed ? -EPIPE
	       : round_slot(MHDR + len) > model_free(f) ? -EAGAIN : 0;
	ASSERT(rc == want);
	if (rc)
		return;
	ASSERT(kick == f->armed);
	f->armed = false;
	ASSERT(f->qn < MAXQ);
	f->q[(f->qhead + f->qn++) % MAXQ] =
		(struct qmsg){ len, f->type_seq - 1 };
	f->used += round_slot(MHDR + len);
}

static void op_space(struct fz *f)
{
	uint32_t space = v4v_ring_space(&f->p);
	uint32_t need = in_u16(&f->in);
	bool now;

	ASSERT(space <= v4v_ring_max_payload(f->size) && space % SLOT == 0);
	if (!f->hostile)
		ASSERT(space == (model_free(f) > MHDR ? model_free(f) - MHDR
						      : 0));
	if (in_u8(&f->in) & 1)
		need |= (uint32_t)in_u16(&f->in) << 16;
	now = v4v_ring_want_space(&f->p, need);
	/* space() is what fits; 0 is ambiguous (a header-only message may
	 * or may not fit), so only a positive need is held to it. */
	ASSERT(need == 0 || need > space || now);
	if (f->hostile)
		return;
	if (need > v4v_ring_max_payload(f->size)) {
		ASSERT(now);
		return;
	}
	ASSERT(now == (round_slot(MHDR + need) <= model_free(f)));
	f->waiting = true;
}

/* The one-way flags: closing, FIN and RST never disturb the doorbell and
 * notification bits, nor do those disturb them. */
static void op_flags(struct fz *f)
{
	uint8_t which = in_u8(&f->in);
	uint32_t rxf, txf;

	if (which & 1) {
		v4v_ring_set_rx_flag(&f->r, V4V_RING_RX_CLOSED);
		f->closed = true;
	} else {
		v4v_ring_set_tx_flag(&f->r, V4V_RING_TX_FIN);
		f->fin = true;
	}
	rxf = v4v_ring_rx_flags(&f->r);
	txf = v4v_ring_tx_flags(&f->r);
	ASSERT(rxf == f->r.sh->rx_flags && txf == f->r.sh->tx_flags);
	if (f->hostile)
		return;
	ASSERT((rxf & V4V_RING_RX_FLAG_BITS) ==
	       ((f->closed ? V4V_RING_RX_CLOSED : 0) |
		(f->armed ? V4V_RING_RX_ARMED : 0)));
	ASSERT(txf == ((f->fin ? V4V_RING_TX_FIN : 0) |
		       (f->waiting ? V4V_RING_TX_WAITING : 0)));
}

/* Where the producer stands: only valid positions are taken. */
static void op_prod(struct fz *f)
{
	uint32_t old = f->p.tx, tx = in_u32(&f->in);
	bool empty = v4v_ring_prod_empty(&f->p);
	int rc;

	ASSERT(f->hostile || empty == (f->qn == 0));
	if (!f->hostile)
		tx = f->p.tx; /* moving it would lose queued messages */
	rc = v4v_ring_prod_start(&f->p, tx);
	ASSERT(rc == 0 || rc == -EINVAL);
	ASSERT(rc == 0 ? f->p.tx == tx : f->p.tx == old);
	ASSERT((rc == 0) == (tx < f->size && tx % SLOT == 0));
}

/* Hostile mode: the peer rewrites shared memory between two operations. */
static void op_corrupt(struct fz *f)
{
	struct v4v_ring_shared *sh = f->r.sh;
	uint32_t v;

	switch (in_u8(&f->in) % 5) {
	case 0: sh->tx_ptr = in_u32(&f->in); break;
	case 1: sh->rx_ptr = in_u32(&f->in); break;
	case 2: sh->rx_flags = in_u32(&f->in); break;
	case 3: sh->tx_flags = in_u32(&f->in); break;
	default:
		v = in_u16(&f->in) % f->size;
		for (int n = in_u8(&f->in) % 32; n > 0; n--) {
			f->r.data[v] = in_u8(&f->in);
			v = (v + 1) % f->size;
		}
	}
}

static void run_op(struct fz *f, uint8_t op)
{
	bool cons = !f->dead;

	switch (op % 12) {
	case 0: if (cons) op_peek(f); break;
	case 1: if (cons && f->have_msg) op_readv(f); break;
	case 2: if (cons && f->have_msg) op_read(f); break;
	case 3: if (cons && f->have_msg) op_consume(f); break;
	case 4: if (cons) op_arm(f); break;
	case 5: if (cons) op_used(f); break;
	case 6: case 7: op_insert(f); break;
	case 8: op_space(f); break;
	case 9: if (f->hostile) op_corrupt(f); break;
	case 10: op_flags(f); break;
	case 11: op_prod(f); break;
	}
}

static void setup_hostile(struct fz *f, uint32_t pos)
{
	struct v4v_ring_shared *sh = f->r.sh;
	uint16_t n;

	sh->tx_ptr = in_u32(&f->in);
	sh->rx_ptr = in_u32(&f->in);
	sh->rx_flags = in_u32(&f->in);
	sh->tx_flags = in_u32(&f->in);
	n = in_u16(&f->in);
	for (uint32_t i = 0; i < n && i < f->size && f->in.n; i++)
		f->r.data[(pos + i) % f->size] = in_u8(&f->in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f = calloc(1, sizeof(*f));
	uint8_t mode;
	uint32_t pos;

	ASSERT(f);
	f->in = (struct input){ data, size };
	mode = in_u8(&f->in);
	f->hostile = mode & 1;
	f->size = V4V_RING_MIN_SIZE + SLOT * ((mode >> 1) & 63);
	pos = in_u16(&f->in) * SLOT % f->size;

	f->mem = xmalloc(v4v_ring_mem_size(f->size));
	memset(f->mem, 0xdd, v4v_ring_mem_size(f->size));
	v4v_ring_format(f->mem, f->size);
	ASSERT(v4v_ring_view(&f->r, f->mem, v4v_ring_mem_size(f->size),
			     f->size) == 0);
	v4v_ring_prod_init(&f->p, &f->r);
	v4v_ring_cons_init(&f->c, &f->r);
	/* As if earlier traffic had left both ends at `pos`. */
	f->p.tx = f->c.rx = pos;
	f->r.sh->tx_ptr = f->r.sh->rx_ptr = pos;
	if (f->hostile)
		setup_hostile(f, pos);

	while (f->in.n)
		run_op(f, in_u8(&f->in));

	/* Honest mode: whatever is left comes out intact, in order. */
	while (!f->hostile && f->qn) {
		op_peek(f);
		ASSERT(f->have_msg);
		op_consume(f);
	}
	free(f->mem);
	free(f);
	return 0;
}
