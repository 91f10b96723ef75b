/* SPDX-License-Identifier: MIT */
/*
 * Stream connections: the handshake that links a client's receive ring
 * with a server's, the grants that let each side write into the other's
 * ring directly, and what the survivor learns when one side goes.
 *
 * The hypervisor is the only party that sees both domains, so it checks
 * every claim a side makes about the other (partners, the queue, the
 * connection id), and viptables decides both directions.  A connection is
 * made when CONNECT queues it, as TCP's handshake completes before
 * accept: the server's ring is made then, so the client can send, and
 * close, before the server accepts.
 */
#include "hv.h"
#include "viptables.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

static int grant_of(struct hv *hv, struct hv_ring *peer,
		    struct v4vp_grant *out, int fds[2]);
static void end_flow(struct hv_ring *peer, uint32_t flag);

/* Queue a connection on a listener: the SYN names the server's receive
 * ring, made now and linked with the client's, so that the connection is
 * established before accept, as a TCP one is. */
static int queue_conn(struct hv *hv, struct hv_ring *cli, struct hv_ring *lst,
		      uint32_t conid, uint16_t inet_port)
{
	struct v4vp_syn syn = { .conid = conid, .ring_size = cli->size,
				.inet_port = inet_port };
	struct iovec iov = { &syn, sizeof(syn) };
	struct v4v_addr src = { .port = cli->port, .domid = cli->dom->domid };
	struct hv_ring *q;
	bool kick;
	int rc = hv_ring_make(hv, lst->dom, cli->dom->domid, lst->accept_size,
			      &q);

	/* The listener's domain has no room for another connection: as a
	 * full backlog, the client waits and tries again. */
	if (rc)
		return rc == -EDQUOT || rc == -EMFILE ? -EAGAIN : rc;
	/* Written by us, never by the client: what the server's accept
	 * and getpeername report. */
	hv_inet_view(cli->dom, lst->dom, AF_INET, &syn.peer_in);
	hv_inet_view(cli->dom, lst->dom, AF_INET6, &syn.peer_in6);
	syn.handle = q->handle;
	rc = v4v_ring_insert(&lst->prod, &src, V4VP_MT_SYN, &iov, 1, &kick);
	if (rc) {
		hv_ring_destroy(hv, q, "not queued");
		return rc;
	}
	if (kick)
		hv_bell_ring(lst->bell);
	q->conid = conid;
	q->listener = lst->handle;
	q->state = cli->state = HV_RING_LINKED;
	q->peer = cli;
	cli->peer = q;
	hv_guardian_watch(hv, q);
	hv_guardian_watch(hv, cli);
	return 0;
}

/* The TCP port of the socket a client came with: the kernel bound it, so
 * the client holds it and nobody else can while we keep the socket. */
static int inet_port_of(int fd, uint16_t *port)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int type = 0;
	socklen_t tlen = sizeof(type);

	*port = 0;
	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) ||
	    type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -EINVAL;
	if (a.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&a)->sin_port);
	else if (a.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
	return *port ? 0 : -EINVAL;
}

int hv_connect(struct hv *hv, struct hv_domain *d,
	       const struct v4vp_connect *req, int inet_fd,
	       struct v4vp_grant *out, int fds[2])
{
	struct hv_ring *mine = own_ring(hv, d, req->handle), *lst;
	struct v4v_addr src;
	uint16_t port;
	int rc;

	if (!mine)
		return -EBADF;
	/* No filler: libv4v's sockets are writable from CONNECT on. */
	if (mine->partner != req->dst.domid || mine->state != HV_RING_PLAIN ||
	    req->filler || inet_port_of(inet_fd, &port))
		return -EINVAL;
	/* Strict: the client writes into its transmit queue, or nowhere. */
	if (hv->cfg.strict && !mine->has_txq)
		return -EINVAL;
	lst = hv_ring_route(hv, &req->dst, d->domid);
	if (!lst || !lst->listening) {
		d->c.norings++;
		hv->c.norings++;
		return -ECONNREFUSED;
	}
	src = (struct v4v_addr){ .port = mine->port, .domid = d->domid };
	/* Both directions now: a connection, once queued, is made. */
	if (!allowed(hv, mine, &req->dst, lst->dom->name) ||
	    !allowed(hv, lst, &src, d->name)) {
		d->c.rejects++;
		hv->c.rejects++;
		lst->c.rejects++;
		return -ECONNREFUSED;
	}
	rc = queue_conn(hv, mine, lst, req->conid, port);
	if (rc == -EAGAIN) {
		/* The backlog is full: the client waits and tries again,
		 * as a TCP client does when its SYN is dropped. */
		lst->c.drops++;
		return rc;
	}
	if (rc)
		return rc;
	mine->inet_fd = inet_fd;
	if (inet_fd >= 0)
		hv_fds_charge(hv, mine->dom->uid, 1);
	if (hv->cfg.strict)
		hv_pump_start(hv, mine); /* into the queued ring at once */
	hv_log(HV_LOG_DEBUG, "connect %u:%u -> %u:%u (conid %u)", d->domid,
	       mine->port, req->dst.domid, req->dst.port, req->conid);
	return grant_of(hv, mine->peer, out, fds);
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
	if (hv->cfg.strict) {
		out->flags = V4VP_GRANT_TXQ;
		out->tx = 0;
		return 0;
	}
	out->flags = V4VP_GRANT_DIRECT;
	fds[0] = peer->memfd;
	/* A queued ring has no doorbell until its server accepts. */
	if (peer->bell >= 0) {
		out->flags |= V4VP_GRANT_BELL;
		fds[1] = peer->bell;
	}
	peer->granted = true;
	return 0;
}

/* Wake a direct writer blocked on a full ring (it filled its socket); a
 * strict writer waits on its own queue, which hv_conn_ring_gone closes,
 * and is woken by the shutdown of its doorbell. */
static void wake_writer(struct hv *hv, struct hv_ring *r)
{
	if (hv->cfg.strict || r->bell < 0)
		return;
	hv_ring_room(r);
}

/* A queued connection that will never be accepted: the client is reset,
 * as TCP resets the connections in a closing listener's queue. */
static void drop_queued(struct hv *hv, struct hv_ring *q, const char *why)
{
	if (q->peer)
		end_flow(q->peer, V4V_RING_TX_RST);
	hv_ring_destroy(hv, q, why);
}

int hv_accept(struct hv *hv, struct hv_domain *d,
	      const struct v4vp_accept *req, int bell,
	      struct v4vp_accept_reply *out, int fds[3])
{
	struct hv_ring *q = own_ring(hv, d, req->handle);
	struct hv_ring *lst = own_ring(hv, d, req->listener);
	struct hv_ring *cli;
	int rc;

	fds[0] = fds[1] = fds[2] = -1;
	if (!q || !lst || !lst->listening)
		return -EINVAL;
	if (!q->queued || q->listener != lst->handle ||
	    q->conid != req->conid || q->partner != req->peer.domid)
		return -ECONNABORTED; /* not (or no longer) in this queue */
	cli = q->peer;
	if (cli && !allowed(hv, lst, &(struct v4v_addr){ .port = cli->port,
				.domid = cli->dom->domid }, cli->dom->name)) {
		drop_queued(hv, q, "refused by viptables at accept");
		return -ECONNREFUSED;
	}
	rc = hv_ring_adopt_bell(hv, q, bell);
	if (rc)
		return rc;
	if (hv->cfg.strict)
		hv_pump_start(hv, q);
	out->ring_port = q->port;
	out->ring_size = q->size;
	fds[0] = q->memfd;
	if (cli)
		grant_of(hv, cli, &out->grant, fds + 1);
	else
		out->grant.flags = V4VP_GRANT_GONE;
	hv_log(HV_LOG_DEBUG, "accept %u:%u <-> %u:%u (%s)", d->domid, q->port,
	       q->partner, cli ? cli->port : 0,
	       cli ? hv->cfg.strict ? "mediated" : "direct" : "client gone");
	return 0;
}

int hv_grant(struct hv *hv, struct hv_domain *d, uint32_t handle,
	     struct v4vp_grant *out, int fds[2])
{
	struct hv_ring *mine = own_ring(hv, d, handle);

	fds[0] = fds[1] = -1;
	if (!mine)
		return -EBADF;
	if (mine->state != HV_RING_LINKED)
		return -ENOTCONN;
	if (mine->queued)
		return -EINPROGRESS; /* its grants come with ACCEPT */
	if (!mine->peer)
		return -ECONNRESET;
	if (mine->peer->queued)
		return -EINPROGRESS; /* no doorbell to grant yet */
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

/* The connections queued on a dying listener are reset. */
static void drop_queue(struct hv *hv, struct hv_ring *lst)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &hv->rings) {
		struct hv_ring *r = container_of(pos, struct hv_ring, link);

		if (r->queued && r->listener == lst->handle)
			drop_queued(hv, r, "its listener closed");
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
		drop_queue(hv, r);
		return;
	}
	if (r->state != HV_RING_LINKED || !peer)
		return;
	v4v_ring_set_rx_flag(&r->prod.r, V4V_RING_RX_CLOSED);
	/* Nobody will take what the peer queues now: its sends fail. */
	if (peer->has_txq)
		v4v_ring_set_rx_flag(&peer->txq.r, V4V_RING_RX_CLOSED);
	/* After an abortive close's RST, no FIN: the reader must see the
	 * reset, not end of file. */
	if (unread)
		end_flow(peer, V4V_RING_TX_GONE | V4V_RING_TX_RST);
	else if (v4v_ring_tx_flags(&peer->prod.r) & V4V_RING_TX_RST)
		end_flow(peer, V4V_RING_TX_GONE);
	else
		end_flow(peer, V4V_RING_TX_GONE | V4V_RING_TX_FIN);
	/* A writer blocked on r being full sleeps until its descriptor is
	 * writable (select counts no hang-up as writable): empty its
	 * doorbell, and its next send sees RX_CLOSED: EPIPE. */
	wake_writer(hv, peer);
	/* Strict: nobody will take what the peer queues now; the hang-up
	 * wakes a writer waiting on its queue, whose sends then fail. */
	if (peer->bell >= 0)
		shutdown(peer->bell,
			 unread || hv->cfg.strict ? SHUT_RDWR : SHUT_WR);
	peer->peer = NULL;
	r->peer = NULL;
	hv_log(HV_LOG_DEBUG, "connection %u:%u -> %u:%u closed (%s)",
	       r->dom->domid, r->port, peer->dom->domid, peer->port,
	       unread ? "reset" : "fin");
}
