/* SPDX-License-Identifier: MIT */
/*
 * Stream connections: the handshake that links a client's receive ring
 * with a server's, the grants that let each side write into the other's
 * ring directly, and what the survivor learns when one side goes.
 *
 * The hypervisor is the only party that sees both domains, so it checks
 * every claim a side makes about the other (partners, pending state,
 * connection id) before linking, and viptables decides both directions.
 */
#include "hv.h"
#include "viptables.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct hv_ring *own_ring(struct hv *hv, struct hv_domain *d,
				uint32_t handle)
{
	struct hv_ring *r = hv_ring_by_handle(hv, handle);

	return r && r->dom == d ? r : NULL;
}

static bool allowed(struct hv *hv, const struct hv_ring *from,
		    const struct v4v_addr *to, const char *to_name)
{
	struct v4v_addr src = { .port = from->port,
				.domid = from->dom->domid };

	return vipt_check(hv->vipt, &src, from->dom->name, to, to_name) ==
	       V4VP_VIPT_ACCEPT;
}

int hv_connect(struct hv *hv, struct hv_domain *d,
	       const struct v4vp_connect *req)
{
	struct hv_ring *mine = own_ring(hv, d, req->handle), *lst;
	struct v4vp_syn syn = { .conid = req->conid };
	struct iovec iov = { &syn, sizeof(syn) };
	struct v4v_addr src;
	bool kick;
	int rc;

	if (!mine)
		return -EBADF;
	if (mine->partner != req->dst.domid || mine->state != HV_RING_PLAIN)
		return -EINVAL;
	lst = hv_ring_route(hv, &req->dst, d->domid);
	if (!lst || !lst->listening) {
		d->c.norings++;
		hv->c.norings++;
		return -ECONNREFUSED;
	}
	src = (struct v4v_addr){ .port = mine->port, .domid = d->domid };
	/* Both directions now, so that a connect that returned 0 is not
	 * refused later by the server's side of the rules. */
	if (!allowed(hv, mine, &req->dst, lst->dom->name) ||
	    !allowed(hv, lst, &src, d->name)) {
		d->c.rejects++;
		hv->c.rejects++;
		lst->c.rejects++;
		return -ECONNREFUSED;
	}
	syn.ring_size = mine->size;
	rc = v4v_ring_insert(&lst->prod, &src, V4VP_MT_SYN, &iov, 1, &kick);
	if (rc == -EAGAIN) {
		/* The backlog is full: the client waits and tries again,
		 * as a TCP client does when its SYN is dropped. */
		lst->c.drops++;
		return -EAGAIN;
	}
	if (rc)
		return rc;
	if (kick)
		hv_bell_ring(lst->bell);
	mine->state = HV_RING_PENDING;
	mine->conid = req->conid;
	mine->filler = req->filler;
	mine->listener = lst->handle;
	hv_log(HV_LOG_DEBUG, "connect %u:%u -> %u:%u (conid %u)", d->domid,
	       mine->port, req->dst.domid, req->dst.port, req->conid);
	return 0;
}

/* Fill a grant of `peer` (the ring the caller will write into). */
static int grant_of(struct hv *hv, struct hv_ring *peer,
		    struct v4vp_grant *out, int fds[2])
{
	out->flags = 0;
	out->peer_port = peer->port;
	out->peer_size = peer->size;
	out->tx = peer->prod.tx;
	fds[0] = fds[1] = -1;
	if (hv->cfg.strict)
		return 0;
	out->flags = V4VP_GRANT_DIRECT;
	fds[0] = peer->memfd;
	fds[1] = peer->bell;
	peer->granted = true;
	return 0;
}

/* A connecting client filled its socket so that it stays unwritable until
 * the outcome: remove exactly that filler.  In strict mode the client's
 * data follows it in the same stream, as soon as there is room. */
static void drain_filler(struct hv_ring *r)
{
	char buf[4096];

	while (r->filler) {
		ssize_t n = recv(r->bell, buf, r->filler < sizeof(buf)
						       ? r->filler
						       : sizeof(buf),
				 MSG_DONTWAIT);

		if (n <= 0)
			break; /* a client that lied about it hurts itself */
		r->filler -= (uint32_t)n;
	}
	r->filler = 0;
}

/* Wake a writer blocked on a full ring (it filled its socket); in strict
 * mode the kernel socket itself is the buffer, drained by the pump. */
static void wake_writer(struct hv *hv, struct hv_ring *r)
{
	char buf[4096];

	if (hv->cfg.strict)
		return;
	while (recv(r->bell, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* The connection will never be.  Wake the client both ways (writable:
 * its filler removed; readable: a token); its next call asks GRANT and
 * learns ECONNREFUSED.  The ring stays until the client closes it. */
static void refuse(struct hv_ring *r)
{
	r->state = HV_RING_REFUSED;
	drain_filler(r);
	hv_bell_ring(r->bell);
}

int hv_accept(struct hv *hv, struct hv_domain *d,
	      const struct v4vp_accept *req, struct v4vp_grant *out,
	      int fds[2])
{
	struct hv_ring *mine = own_ring(hv, d, req->handle);
	struct hv_ring *lst = own_ring(hv, d, req->listener);
	struct hv_ring *cli;
	struct v4v_addr to;

	if (!mine || !lst || mine->state != HV_RING_PLAIN ||
	    mine->partner != req->peer.domid)
		return -EINVAL;
	cli = hv_ring_route(hv, &req->peer, d->domid);
	if (!cli || cli->partner != d->domid ||
	    cli->state != HV_RING_PENDING || cli->conid != req->conid ||
	    cli->listener != lst->handle)
		return -ECONNABORTED; /* the client gave up or died */
	to = (struct v4v_addr){ .port = cli->port, .domid = cli->dom->domid };
	if (!allowed(hv, lst, &to, cli->dom->name)) {
		refuse(cli);
		return -ECONNREFUSED;
	}
	mine->state = cli->state = HV_RING_LINKED;
	mine->peer = cli;
	cli->peer = mine;
	drain_filler(cli);
	if (hv->cfg.strict) {
		hv_pump_start(hv, mine);
		hv_pump_start(hv, cli); /* it may have written already */
	}
	hv_log(HV_LOG_DEBUG, "accept %u:%u <-> %u:%u (%s)", d->domid,
	       mine->port, cli->dom->domid, cli->port,
	       hv->cfg.strict ? "mediated" : "direct");
	return grant_of(hv, cli, out, fds);
}

int hv_grant(struct hv *hv, struct hv_domain *d, uint32_t handle,
	     struct v4vp_grant *out, int fds[2])
{
	struct hv_ring *mine = own_ring(hv, d, handle);

	fds[0] = fds[1] = -1;
	if (!mine)
		return -EBADF;
	switch (mine->state) {
	case HV_RING_PENDING: return -EINPROGRESS;
	case HV_RING_REFUSED: return -ECONNREFUSED;
	case HV_RING_PLAIN: return -ENOTCONN;
	case HV_RING_LINKED: break;
	}
	if (!mine->peer)
		return -ECONNRESET;
	return grant_of(hv, mine->peer, out, fds);
}

/* End the flow into `peer`: FIN after its data, or RST at once. */
static void end_flow(struct hv_ring *peer, uint32_t flag)
{
	struct v4v_ring view = peer->prod.r;

	v4v_ring_set_tx_flag(&view, flag);
	hv_bell_ring(peer->bell);
}

int hv_shutdown_ring(struct hv *hv, struct hv_domain *d,
		     const struct v4vp_shutdown *req)
{
	struct hv_ring *mine = own_ring(hv, d, req->handle);

	if (!mine)
		return -EBADF;
	if (mine->state != HV_RING_LINKED || !mine->peer)
		return -ENOTCONN;
	if (req->how != V4VP_SHUT_FIN && req->how != V4VP_SHUT_RST)
		return -EINVAL;
	end_flow(mine->peer, req->how == V4VP_SHUT_FIN ? V4V_RING_TX_FIN
						       : V4V_RING_TX_RST);
	return 0;
}

/* Clients queued on a dying listener are refused; a pending client that
 * dies is simply gone (ACCEPT will say ECONNABORTED). */
static void refuse_pending(struct hv *hv, struct hv_ring *lst)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &hv->rings) {
		struct hv_ring *r = container_of(pos, struct hv_ring, link);

		if (r->state == HV_RING_PENDING && r->listener == lst->handle)
			refuse(r);
	}
}

/*
 * The last holder of r's socket closed it, or died.  Like TCP: if r still
 * held unread data the peer gets a reset, otherwise end of file after all
 * the data already in its ring.  Either way the peer's producer learns
 * that nobody reads r any more, and the peer's socket reports the hang-up
 * even while its owner sleeps in poll.
 */
void hv_conn_ring_gone(struct hv *hv, struct hv_ring *r)
{
	struct hv_ring *peer = r->peer;
	/* A granted ring was written by the peer, not by us: only the
	 * published positions can tell whether data was left unread. */
	bool unread = r->granted ? !v4v_ring_looks_empty(&r->prod.r)
				 : !v4v_ring_prod_empty(&r->prod);

	if (r->partner == V4V_DOMID_ANY) {
		refuse_pending(hv, r);
		return;
	}
	if (r->state != HV_RING_LINKED || !peer)
		return;
	v4v_ring_set_rx_flag(&r->prod.r, V4V_RING_RX_CLOSED);
	end_flow(peer, unread ? V4V_RING_TX_RST : V4V_RING_TX_FIN);
	/* A writer blocked on r being full sleeps until its descriptor is
	 * writable (select counts no hang-up as writable): empty its
	 * doorbell, and its next send sees RX_CLOSED: EPIPE. */
	wake_writer(hv, peer);
	/* Strict: the peer writes into its socket; nobody will ever read
	 * that now, so its writes must fail (EPIPE) rather than vanish. */
	shutdown(peer->bell, unread || hv->cfg.strict ? SHUT_RDWR : SHUT_WR);
	peer->peer = NULL;
	r->peer = NULL;
	hv_log(HV_LOG_DEBUG, "connection %u:%u -> %u:%u closed (%s)",
	       r->dom->domid, r->port, peer->dom->domid, peer->port,
	       unread ? "reset" : "fin");
}
