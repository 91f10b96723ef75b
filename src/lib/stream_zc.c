/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy stream I/O: the bytes of a connection are handed out where
 * they lie in a ring, for a DMA engine to read or fill, instead of being
 * copied to or from the caller's buffer.  The ring, its checks, its
 * doorbells and its end-of-stream rules are those of stream.c; only the
 * copy is left out.
 *
 * Receiving: a span never crosses a message or the ring's wrap.  Spans
 * handed out and not yet consumed are counted (zc_ahead), so that the
 * next span starts after them and a DMA engine can work on several at
 * once; the position moves only in recv_zc_done, which looks at the
 * messages again (the producer may have rewritten what recv_zc saw: only
 * its own bytes).  With spans out, the ring is not empty and its
 * doorbell cannot be armed: recv_zc then never sleeps (EAGAIN).
 *
 * Sending: v4v_send_zc reserves space after the producer's position under
 * tx_lock and keeps the lock until v4v_send_zc_done commits, so nothing
 * else can be inserted into the space meanwhile.
 */
#include "sock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* The contiguous stream bytes after those handed out already, dropping
 * what is not stream payload at the reader's position: their count, 0
 * if none, or -EPROTO. */
static long rx_span(struct v4v_sock *s, const void **at, size_t max,
		    bool peek)
{
	struct v4v_ring_cons walk = s->cons;
	uint64_t skip = (uint64_t)s->rx_off + s->zc_ahead;
	bool front = true; /* walk is at the reader's position */
	struct v4v_ring_msg m;
	size_t n;
	int rc;

	for (;;) {
		rc = v4v_ring_peek(&walk, &m);
		if (rc <= 0)
			return rc < 0 ? -EPROTO : 0;
		if (m.message_type == V4VP_MT_STREAM) {
			if (skip < m.payload_len)
				break;
			skip -= m.payload_len;
		} else if (front) {
			/* Not ours, and nothing handed out before it. */
			stream_consumed(s, &m);
			walk = s->cons;
			continue;
		}
		front = false;
		v4v_ring_walk_next(&walk, &m);
	}
	n = v4v_ring_span(&walk, &m, (uint32_t)skip, at);
	if (n > max)
		n = max;
	if (!peek)
		s->zc_ahead += n;
	return (long)n;
}

ssize_t stream_recv_zc(struct v4v_sock *s, const void **at, size_t max,
		       int flags)
{
	uint64_t t0 = 0;
	long rc;

	if (flags & ~(MSG_DONTWAIT | MSG_PEEK))
		return -EOPNOTSUPP;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return -ENOTCONN;
	if (!max)
		return -EINVAL;
	pthread_mutex_lock(&s->rx_lock);
	for (;;) {
		rc = sock_closing(s) ? -EBADF
				     : rx_span(s, at, max, flags & MSG_PEEK);
		if (rc)
			break;
		if (s->zc_ahead) {
			rc = -EAGAIN;
			break;
		}
		rc = stream_rx_wait(s, flags, &t0);
		if (rc <= 0)
			break;
	}
	bell_rx_leave(s);
	pthread_mutex_unlock(&s->rx_lock);
	return rc;
}

/* $V4V_ZC_POISON=1 (a test aid): overwrite bytes as they are consumed,
 * so that a DMA engine still reading them (a consume before its copy was
 * done) copies garbage that result checks catch.  The ring is ours: its
 * producer writes only where nothing is queued. */
static bool zc_poison(void)
{
	static int on = -1;

	if (on < 0) {
		const char *e = getenv("V4V_ZC_POISON");

		on = e && *e == '1';
	}
	return on;
}

static void poison(struct v4v_sock *s, const struct v4v_ring_msg *m,
		   uint32_t off, uint32_t n)
{
	while (n) {
		void *at;
		size_t k = v4v_ring_span(&s->cons, m, off, (const void **)&at);

		if (!k)
			return;
		if (k > n)
			k = n;
		memset(at, 0xdb, k);
		off += (uint32_t)k;
		n -= (uint32_t)k;
	}
}

int stream_recv_zc_done(struct v4v_sock *s, size_t n)
{
	struct v4v_ring_msg m;
	int rc = 0;

	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return -ENOTCONN;
	pthread_mutex_lock(&s->rx_lock);
	s->zc_ahead = n < s->zc_ahead ? s->zc_ahead - n : 0;
	while (n) {
		uint32_t left;

		rc = v4v_ring_peek(&s->cons, &m);
		if (rc <= 0) {
			rc = rc < 0 ? -EPROTO : -EINVAL; /* more than queued */
			break;
		}
		rc = 0;
		left = m.message_type == V4VP_MT_STREAM &&
				       s->rx_off < m.payload_len
			       ? m.payload_len - s->rx_off
			       : 0;
		if (zc_poison())
			poison(s, &m, s->rx_off,
			       (uint32_t)(n < left ? n : left));
		if (n < left) {
			s->rx_off += (uint32_t)n;
			break;
		}
		n -= left;
		s->rx_off = 0;
		stream_consumed(s, &m);
	}
	bell_rx_leave(s);
	pthread_mutex_unlock(&s->rx_lock);
	return rc;
}

struct zc_want {
	size_t max;
	void **at;
};

/* Reserve a contiguous span for a stream_send_turn: its length, or
 * -EAGAIN when less than a writer's piece is free. */
static long reserve_span(struct v4v_sock *s, void *arg)
{
	struct zc_want *w = arg;
	uint32_t room = v4v_ring_space(&s->tx.prod);
	size_t len = v4v_ring_max_payload(s->tx.size);
	struct iovec iov[2];

	if (len > w->max)
		len = w->max;
	if (room < len && room < stream_min_chunk(&s->tx))
		return stream_full_ring(s);
	if (room < len)
		len = room;
	if (!v4v_ring_reserve(&s->tx.prod, (uint32_t)len, iov))
		return -EAGAIN;
	*w->at = iov[0].iov_base;
	return (long)iov[0].iov_len;
}

ssize_t stream_send_zc(struct v4v_sock *s, void **at, size_t max, int flags)
{
	struct zc_want w = { max, at };
	uint64_t t0 = 0;
	bool shut;
	long rc;

	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
		return -EOPNOTSUPP;
	if (!max)
		return -EINVAL;
	rc = stream_send_check(s, max);
	if (rc > 0)
		rc = -EPIPE; /* the peer is gone: nothing to reserve */
	if (rc)
		return rc;
	if (!s->tx.direct)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&s->tx_lock);
	rc = stream_send_turn(s, flags, &t0, reserve_span, &w);
	if (rc > 0) {
		stream_room_again(s);
		s->zc_reserved = (uint32_t)rc;
		__atomic_store_n(&s->zc_held, true, __ATOMIC_RELAXED);
		return rc; /* tx_lock stays held until done */
	}
	shut = s->wr_shut;
	pthread_mutex_unlock(&s->tx_lock);
	if (rc == -EPIPE && !shut)
		stream_send_to_gone(s, max);
	return rc ? rc : -EAGAIN;
}

int stream_send_zc_done(struct v4v_sock *s, size_t n)
{
	bool kick = false;
	int rc = 0;

	/* Read without the lock: true only while this thread holds it. */
	if (!__atomic_load_n(&s->zc_held, __ATOMIC_RELAXED))
		return -EINVAL;
	if (n > s->zc_reserved)
		rc = -EINVAL;
	else if (n)
		v4v_ring_commit(&s->tx.prod, &s->local, V4VP_MT_STREAM,
				(uint32_t)n, &kick);
	__atomic_store_n(&s->zc_held, false, __ATOMIC_RELAXED);
	s->zc_reserved = 0;
	if (kick)
		stream_ring_peer(s);
	pthread_mutex_unlock(&s->tx_lock);
	return rc;
}

int stream_zc_areas(struct v4v_sock *s, struct v4v_zc_area *rx,
		    struct v4v_zc_area *tx)
{
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return -ENOTCONN;
	*rx = (struct v4v_zc_area){ s->mem, s->memlen };
	*tx = (struct v4v_zc_area){ NULL, 0 };
	if (s->tx.txq) /* our own queue, after the receive ring */
		*tx = *rx;
	else if (s->tx.direct)
		*tx = (struct v4v_zc_area){ s->tx.mem, s->tx.memlen };
	return 0;
}
