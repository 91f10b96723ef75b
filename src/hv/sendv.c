/* SPDX-License-Identifier: MIT */
/*
 * Mediated sendv: the hypervisor copies a message into the receiver's ring.
 * The source address is stamped here from the caller's own ring; the
 * firewall decides before any byte moves.  The same checks decide each
 * datagram the copy engine takes from a transmit queue (dgram_q.c).
 */
#include "hv.h"
#include "viptables.h"

#include <errno.h>

void hv_count_tx(struct hv *hv, struct hv_domain *src, struct hv_ring *dst,
		 uint32_t len)
{
	struct v4vp_counters *cs[] = { &hv->c, &src->c };

	for (unsigned i = 0; i < 2; i++) {
		cs[i]->tx_msgs++;
		cs[i]->tx_bytes += len;
	}
	hv->c.rx_msgs++;
	hv->c.rx_bytes += len;
	dst->c.rx_msgs++;
	dst->c.rx_bytes += len;
	dst->dom->c.rx_msgs++;
	dst->dom->c.rx_bytes += len;
}

static int refuse(uint64_t *hv_ctr, uint64_t *dom_ctr, int err)
{
	++*hv_ctr;
	++*dom_ctr;
	return err;
}

int hv_route_msg(struct hv *hv, struct hv_ring *own, const struct v4v_addr *to,
		 uint32_t type, uint32_t len, struct hv_ring **out)
{
	struct hv_domain *d = own->dom;
	struct v4v_addr src = { .port = own->port, .domid = d->domid };
	struct hv_ring *dst;

	if (to->domid > V4V_DOMID_MAX || type == V4VP_MT_SYN)
		return -EINVAL;
	dst = hv_ring_route(hv, to, d->domid);
	if (!dst)
		return refuse(&hv->c.norings, &d->c.norings, -ECONNREFUSED);
	if (vipt_check(hv->vipt, &src, d->name, to, dst->dom->name) !=
	    V4VP_VIPT_ACCEPT) {
		dst->c.rejects++;
		hv_log(HV_LOG_DEBUG, "viptables rejected %u:%u -> %u:%u",
		       src.domid, src.port, to->domid, to->port);
		return refuse(&hv->c.rejects, &d->c.rejects, -ECONNREFUSED);
	}
	/* A connection's ring takes data only from its linked peer, and
	 * only through us while its peer has no grant to write it. */
	if (dst->state == HV_RING_LINKED && dst->peer != own)
		return -ECONNREFUSED;
	/* Nor while the engine produces into it (strict): two producers. */
	if (dst->granted || (dst->state == HV_RING_LINKED && own->pumping))
		return -EISCONN;
	if (len > v4v_ring_max_payload(dst->size))
		return -EMSGSIZE;
	*out = dst;
	return 0;
}

int hv_sendv(struct hv *hv, struct hv_domain *d, const struct v4vp_send *s,
	     const void *payload, uint32_t *max)
{
	struct hv_ring *own = hv_ring_by_handle(hv, s->handle);
	struct v4v_addr src;
	struct hv_ring *dst;
	struct iovec iov = { (void *)payload, s->len };
	bool kick;
	int rc;

	if (!own || own->dom != d)
		return -EBADF;
	rc = hv_route_msg(hv, own, &s->dst, s->message_type, s->len, &dst);
	if (rc)
		return rc;
	/* What the socket queued goes first.  If a full receiver holds it
	 * back, a datagram to that receiver waits behind it (order), one to
	 * another goes now: a receiver that does not read stalls only the
	 * traffic to itself. */
	if (own->dgram_q && !hv_dgram_flush(hv, own) &&
	    own->dq_stall == dst->handle) {
		own->send_waits = true;
		return -EAGAIN;
	}
	src = (struct v4v_addr){ .port = own->port, .domid = d->domid };
	rc = v4v_ring_insert(&dst->prod, &src, s->message_type, &iov, 1, &kick);
	if (rc == -EAGAIN) {
		hv_ring_add_waiter(dst, own->handle, s->len);
		/* The consumer may have made room since we looked. */
		if (v4v_ring_want_space(&dst->prod, s->len)) {
			rc = v4v_ring_insert(&dst->prod, &src, s->message_type,
					     &iov, 1, &kick);
			if (!rc)
				hv_ring_del_waiter(dst, own->handle);
		}
	}
	if (rc == -EAGAIN) {
		dst->c.drops++;
		own->send_waits = true;
		return refuse(&hv->c.drops, &d->c.drops, -EAGAIN);
	}
	if (rc)
		return rc;
	hv_count_tx(hv, d, dst, s->len);
	if (kick)
		hv_bell_ring(dst->bell);
	/* The destination is vouched for: the socket may queue the next
	 * datagrams to it, up to this size (dgram_q.c). */
	own->dq_last = dst->handle;
	*max = v4v_ring_max_payload(dst->size);
	return 0;
}
