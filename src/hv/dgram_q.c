/* SPDX-License-Identifier: MIT */
/*
 * Datagram transmit queues: the copy engine's datagrams.
 *
 * A datagram socket has a transmit queue of its own (in both modes), the
 * second ring of its receive ring's memory, which only it writes and only
 * v4vd reads.  Each queued message names its destination where a ring
 * message names its source; the engine reads the header once into
 * private memory (the ring code's peek), decides the message exactly as
 * a SEND (hv_route_msg: the route, viptables, the size), stamps the true
 * source and copies the payload straight into the receiver's ring.
 *
 * The socket queues only to the destination its last SEND reached and
 * up to the size that SEND vouched for, so the errors a program can act
 * on (no receiver, the firewall, too large) stay synchronous: they are
 * SEND's.  What changes after that (the receiver closes, viptables
 * change) costs the queued datagrams the kernel's UDP would lose too: the
 * engine drops each one it cannot deliver and sets RECHECK in the queue,
 * and the socket's next send goes by SEND again, which reports the error.
 * A receiver's ring that goes, and any viptables change, set RECHECK in
 * every queue that may aim there (hv_dgram_revoke).
 *
 * Copy threads of different shards may deliver into one receiver's ring
 * at once, so a delivery holds the engine's datagram lock; the loop,
 * which holds every shard's lock, excludes them all already.
 */
#include "hv.h"

#include <errno.h>
#include <sys/epoll.h>

/* Copy m's payload into dst.  0 done, -EAGAIN no room. */
static int put(struct hv_ring *r, struct hv_ring *dst,
	       const struct v4v_ring_msg *m, bool *kick)
{
	struct v4v_addr src = { .port = r->port, .domid = r->dom->domid };
	struct iovec iov[2];
	int pieces;

	/* Nothing to copy: the insert knows whether a bare header fits
	 * (space says 0 both when it does and when it does not). */
	if (!m->payload_len)
		return v4v_ring_insert(&dst->prod, &src, m->message_type, NULL,
				       0, kick);
	if (v4v_ring_space(&dst->prod) < m->payload_len)
		return -EAGAIN;
	pieces = v4v_ring_reserve(&dst->prod, m->payload_len, iov);
	v4v_ring_readv(&r->txq, m, 0, iov, pieces);
	v4v_ring_commit(&dst->prod, &src, m->message_type, m->payload_len,
			kick);
	return 0;
}

/* One datagram of r's queue: 0 delivered, -EAGAIN the receiver is full
 * (r stalls on it), another errno refused. */
static int deliver(struct hv *hv, struct hv_ring *r,
		   const struct v4v_ring_msg *m)
{
	struct hv_engine *e = &hv->engine;
	struct hv_ring *dst;
	bool kick = false;
	int rc;

	pthread_mutex_lock(&e->dgram_lock);
	rc = hv_route_msg(hv, r, &m->source, m->message_type, m->payload_len,
			  &dst);
	if (!rc && (v4v_ring_rx_flags(&dst->prod.r) & V4V_RING_RX_CLOSED))
		rc = -ECONNREFUSED;
	if (!rc) {
		rc = put(r, dst, m, &kick);
		if (rc == -EAGAIN && !hv_pump_stall(r, dst, m->payload_len))
			rc = put(r, dst, m, &kick);
		if (rc == -EAGAIN)
			r->dq_stall = dst->handle;
	}
	if (!rc) {
		hv_count_tx(hv, r->dom, dst, m->payload_len);
		r->c.tx_msgs++;
		r->c.tx_bytes += m->payload_len;
		r->dq_last = dst->handle;
	}
	pthread_mutex_unlock(&e->dgram_lock);
	if (kick) {
		hv_bell_ring(dst->bell);
		r->shard->bells++;
	}
	return rc;
}

/* The sender may go on: room in its queue, or, after a SEND that had to
 * wait, an empty queue (the SEND's retry goes through). */
static void sender_room(struct hv_ring *r, bool waited)
{
	if (waited || (r->send_waits && !v4v_ring_pending(&r->txq))) {
		r->send_waits = false;
		hv_ring_room(r);
	}
}

uint32_t hv_dgram_turn(struct hv *hv, struct hv_ring *r, uint32_t budget)
{
	struct hv_shard *sh = r->shard;
	struct v4v_ring_msg m;
	uint32_t moved = 0;
	bool waited = false;
	int rc;

	while (moved < budget && !r->stalled && !r->eof) {
		rc = v4v_ring_peek(&r->txq, &m);
		if (rc < 0) {
			hv_log(HV_LOG_WARN, "ring %u (domain %u): corrupt "
			       "datagram queue, closed", r->handle,
			       r->dom->domid);
			/* Its owner's sends fail from now on (EPIPE). */
			v4v_ring_set_rx_flag(&r->txq.r, V4V_RING_RX_CLOSED);
			r->eof = true;
			sh->resets++;
			hv_pump_unwatch(r);
			break;
		}
		if (rc == 0)
			break;
		rc = deliver(hv, r, &m);
		if (rc == -EAGAIN)
			break;
		if (rc) {
			r->c.drops++;
			v4v_ring_set_rx_flag(&r->txq.r, V4V_RING_RX_RECHECK);
		} else {
			sh->msgs++;
			sh->bytes += m.payload_len;
		}
		waited |= v4v_ring_consume(&r->txq, &m);
		moved += m.payload_len + V4V_RING_MSG_HDR;
	}
	sender_room(r, waited);
	return moved;
}

bool hv_dgram_flush(struct hv *hv, struct hv_ring *r)
{
	r->stalled = false;
	while (!r->eof && !r->stalled && hv_dgram_turn(hv, r, UINT32_MAX))
		;
	return !r->stalled;
}

bool hv_dgram_linger(struct hv *hv, struct hv_ring *r)
{
	if (hv_dgram_flush(hv, r))
		return false;
	/* Its port is free at once, as a closed UDP socket's: nobody
	 * reaches the ring any more, and a program may bind it again. */
	htab_del(&hv->rings_by_addr, &r->by_addr);
	hv_dgram_revoke(hv, r->handle);
	return true;
}

/* A queue whose datagrams may aim at ring `handle` (0: any) checks its
 * destination again before it queues more. */
static void revoke_shard(struct hv_shard *sh, uint32_t handle)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &sh->active) {
		struct hv_ring *r = container_of(pos, struct hv_ring, active);

		if (r->dgram_q && (!handle || r->dq_last == handle))
			v4v_ring_set_rx_flag(&r->txq.r, V4V_RING_RX_RECHECK);
	}
}

void hv_dgram_revoke(struct hv *hv, uint32_t handle)
{
	for (uint32_t i = 0; i < hv->engine.n; i++)
		revoke_shard(&hv->engine.shards[i], handle);
}
