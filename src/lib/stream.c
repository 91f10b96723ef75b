/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets: reliable, ordered byte streams over a pair of rings, one
 * per direction, each registered by its receiver for exactly one partner.
 *
 * After the handshake (proto.h) each side writes into its peer's ring
 * itself (direct) or, in strict mode, through v4vd (mediated).  A send may
 * become several messages; a receive copies straight from the ring into
 * the caller's buffer and may end inside a message (rx_off remembers
 * where).  FIN and RST are flags in the peer ring's header, set by the
 * sender on shutdown or abort, and by v4vd when the last holder of a
 * socket closes it or dies; so close(2), exit and kill -9 all end the
 * connection the way the kernel ends TCP ones.
 */
#include "sock.h"
#include "link_proto.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>


int stream_bind(struct v4v_sock *s, const struct v4v_addr *a)
{
	if (s->state != ST_NEW || s->local.port)
		return -EINVAL;
	/* The listener ring is registered by listen(); until then the port
	 * is only remembered. */
	s->local.port = a->port;
	return 0;
}

/* The listener's ring holds the backlog: one SYN takes 80 bytes (its
 * header and payload, padded to whole slots). */
static uint32_t backlog_ring(int backlog)
{
	const uint32_t syn = (V4V_RING_MSG_HDR + sizeof(struct v4vp_syn) +
			      V4V_RING_SLOT - 1) & ~(V4V_RING_SLOT - 1);
	uint32_t n = backlog <= 0 ? 128 : backlog > 65536 ? 65536
							   : (uint32_t)backlog;

	n = (n + 16) * syn;
	return n < 4096 ? 4096 : n;
}

int stream_listen(struct v4v_sock *s, int backlog)
{
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	if (s->state == ST_LISTEN)
		goto out;
	if (s->state != ST_NEW) {
		rc = -EINVAL;
		goto out;
	}
	/* SO_RCVBUF set on a listener is for the sockets it accepts. */
	s->listen_ring = backlog_ring(backlog);
	rc = sock_bind_ring(s, s->local.port);
	if (!rc) /* accept looks without the lock: the ring first */
		__atomic_store_n(&s->state, ST_LISTEN, __ATOMIC_RELEASE);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Strict: we write into our own transmit queue, the second ring of our
 * receive ring's memory, and ring v4vd through our own socket. */
static int take_txq(struct v4v_sock *s, int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return sock_txq_start(s);
}

/* Map the peer's ring as its producer, from the grant. */
static int take_grant(struct v4v_sock *s, const struct v4vp_grant *g,
		      int fds[2])
{
	struct stream_tx *t = &s->tx;
	struct v4v_ring view;
	int rc = 0;

	t->port = g->peer_port;
	t->size = g->peer_size;
	if (g->flags & V4VP_GRANT_TXQ)
		return take_txq(s, fds);
	/* We write into a ring ourselves: the peer's, or our own queue. */
	t->direct = g->flags & V4VP_GRANT_DIRECT;
	if (!t->direct || fds[0] < 0 || (g->flags & V4VP_GRANT_BELL && fds[1] < 0) ||
	    v4v_ring_size_check(g->peer_size)) {
		rc = -EPROTO;
		goto out;
	}
	t->memlen = v4v_ring_mem_size(g->peer_size);
	t->mem = mmap(NULL, t->memlen, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fds[0], 0);
	if (t->mem == MAP_FAILED) {
		t->mem = NULL;
		rc = -errno;
		goto out;
	}
	v4v_ring_view(&view, t->mem, t->memlen, g->peer_size);
	v4v_ring_prod_init(&t->prod, &view);
	rc = v4v_ring_prod_start(&t->prod, g->tx);
	if (!rc && fds[1] >= 0) {
		t->bell = fds[1];
		fds[1] = -1;
	}
out:
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}

/* Register this socket's receive ring for one partner domain. */
static int conn_ring(struct v4v_sock *s, v4v_domid_t partner)
{
	v4v_handle_t handle;
	uint32_t port;
	struct v4v_link_mem at;
	int memfd = -1, rc = sock_ring_alloc(s, &memfd, s->strict ? 2 : 1);

	if (rc)
		return rc;
	rc = v4v_link_register_mem(V4V_PORT_ANY, partner, s->ring_size,
				   s->strict ? V4VP_REG_TXQ : 0, 0, memfd,
				   s->bell, &handle, &port, &at);
	close(memfd);
	if (!rc && at.fd >= 0)
		rc = sock_ring_move(s, &at, s->strict ? 2 : 1);
	if (rc) {
		sock_unmap_ring(s);
		return rc;
	}
	s->handle = handle;
	s->local.port = port;
	return 0;
}

static void drop_conn_ring(struct v4v_sock *s)
{
	v4v_link_unregister(s->handle, V4VP_UNREG_NOW);
	s->handle = 0;
	sock_unmap_ring(s);
}

/* Queue the connection on the listener: v4vd makes the server's ring and
 * grants it to us at once.  A full backlog makes a blocking connect wait
 * a little and try again (until SO_SNDTIMEO); a non-blocking one fails
 * EAGAIN. */
static int knock(struct v4v_sock *s, const struct v4v_addr *dst,
		 bool nonblock)
{
	uint64_t t0 = sock_now_us();
	int rc, pause_us = 100, fds[2];
	struct v4vp_grant g;

	for (;;) {
		rc = v4v_link_connect(s->handle, s->conid, dst, s->inet_fd, &g,
				      fds);
		if (!rc)
			return take_grant(s, &g, fds);
		if (rc != -EAGAIN || nonblock)
			return rc;
		if (s->sndtimeo_ms >= 0 &&
		    sock_time_left(s->sndtimeo_ms, t0) == 0)
			return -ETIMEDOUT;
		usleep((useconds_t)pause_us);
		if (pause_us < 20000)
			pause_us *= 2;
	}
}

int stream_connect(struct v4v_sock *s, const struct v4v_addr *dst)
{
	bool nonblock = sock_nonblock(s, 0);
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->state != ST_NEW)
		rc = -EISCONN;
	else
		rc = conn_ring(s, dst->domid);
	if (rc)
		goto out;
	if (getrandom(&s->conid, sizeof(s->conid), 0) != sizeof(s->conid))
		s->conid = (uint32_t)sock_now_us() ^ (uint32_t)getpid();
	rc = knock(s, dst, nonblock);
	if (rc) {
		drop_conn_ring(s);
		goto out;
	}
	if (s->inet_fd >= 0) {
		close(s->inet_fd); /* v4vd keeps the port now */
		s->inet_fd = -1;
	}
	s->peer = *dst;
	__atomic_store_n(&s->state, ST_CONNECTED, __ATOMIC_RELEASE);
	/* Queued is made, as TCP's handshake completes before accept: the
	 * socket is writable at once.  A non-blocking connect still says
	 * it is in progress, as the kernel's does even on loopback. */
	rc = nonblock ? -EINPROGRESS : 0;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Errors after the end, in the kernel's order.  A reset (TX_RST in our
 * ring) ends the connection both ways and leaves ECONNRESET pending; the
 * first send to a peer whose socket is gone (TX_GONE) is taken, as TCP
 * takes it, and the reset it draws leaves EPIPE pending.  A pending error
 * is reported once, by whichever comes first of a send, a receive (unless
 * the peer's end of file came before it) or SO_ERROR; after it sends fail
 * with EPIPE and receives return end of file.
 */
static int take_err(struct v4v_sock *s, int otherwise)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = s->err ? s->err : otherwise;
	s->err = 0;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static void die(struct v4v_sock *s, int err)
{
	pthread_mutex_lock(&s->lock);
	if (!s->tx.dead) {
		s->err = err;
		__atomic_store_n(&s->tx.dead, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&s->lock);
}

static void see_reset(struct v4v_sock *s)
{
	if (!__atomic_load_n(&s->tx.dead, __ATOMIC_ACQUIRE) &&
	    (v4v_ring_tx_flags(&s->cons.r) & V4V_RING_TX_RST))
		die(s, -ECONNRESET);
}

/* A receive that found the reset. */
static int rx_reset(struct v4v_sock *s)
{
	see_reset(s);
	if (v4v_ring_tx_flags(&s->cons.r) & V4V_RING_TX_FIN)
		return 0;
	return take_err(s, 0);
}

/* SO_ERROR: a reset in our ring becomes the pending error, which
 * v4v_getsockopt then reports once, under the lock, as the kernel does. */
void stream_so_error(struct v4v_sock *s)
{
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == ST_CONNECTED)
		see_reset(s);
}

/* A reset connection (the peer's abort, or the reset a send to a gone
 * peer draws) has no peer any more, as a TCP socket in CLOSE has none. */
bool stream_was_reset(struct v4v_sock *s)
{
	stream_so_error(s);
	return __atomic_load_n(&s->tx.dead, __ATOMIC_ACQUIRE);
}

/* A send found the peer's socket gone (the flag, or the ring or kernel
 * stream refusing it): the bytes are taken and dropped, as TCP takes
 * them, unless a reset came first.  Returns what the send returns. */
long stream_send_to_gone(struct v4v_sock *s, size_t len)
{
	see_reset(s);
	if (__atomic_load_n(&s->tx.dead, __ATOMIC_ACQUIRE))
		return take_err(s, -EPIPE);
	die(s, -EPIPE);
	return (long)len;
}

/* May a send go on?  0 yes; `total` if the bytes are taken and dropped
 * (the peer is gone); or the error. */
long stream_send_check(struct v4v_sock *s, size_t total)
{
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return -ENOTCONN;
	if (__atomic_load_n(&s->wr_shut, __ATOMIC_ACQUIRE))
		return -EPIPE;
	see_reset(s);
	if (__atomic_load_n(&s->tx.dead, __ATOMIC_ACQUIRE))
		return take_err(s, -EPIPE);
	/* Nothing sent draws no reset: an empty send just returns 0. */
	if (total && (s->tx.gone || (v4v_ring_tx_flags(&s->cons.r) &
				     V4V_RING_TX_GONE)))
		return stream_send_to_gone(s, total);
	return 0;
}

/* The doorbell of the ring we write into.  A client is granted the
 * server's ring before the server exists (accept makes its doorbell), so
 * it asks for the doorbell when it first needs it: to ring for a message
 * or an end, or to wake the server's writer.  Anybody who needs it knows
 * the server exists (it armed its ring, or wrote to ours).  -1 if there
 * is none yet: nobody to ring. */
static int peer_bell(struct v4v_sock *s)
{
	int bell = __atomic_load_n(&s->tx.bell, __ATOMIC_ACQUIRE), fds[2];
	int none = -1;
	struct v4vp_grant g;

	/* Our own queue: v4vd holds the other end of our socket (whose
	 * number the interposer may change: not kept). */
	if (s->tx.txq)
		return s->fd;
	if (bell >= 0 || !s->tx.direct)
		return bell;
	if (v4v_link_grant(s->handle, &g, fds))
		return -1;
	if (fds[0] >= 0)
		close(fds[0]);
	if (!(g.flags & V4VP_GRANT_BELL) || fds[1] < 0)
		return -1;
	/* Two threads may ask at once: one doorbell is kept. */
	if (!__atomic_compare_exchange_n(&s->tx.bell, &none, fds[1], false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fds[1]);
		return none;
	}
	return fds[1];
}

void stream_ring_peer(struct v4v_sock *s)
{
	int bell;

	/* In a VM our queue's engine is rung through the device itself:
	 * a token would wake the guest's agent to pass it on. */
	if (s->tx.txq && v4v_link_kick())
		return;
	bell = peer_bell(s);
	if (bell >= 0)
		bell_token(bell);
}

/* ---- accept ---- */

static struct v4v_sock *new_conn_sock(struct v4v_sock *lst, int flags)
{
	struct v4v_sock *ns = sock_alloc(SOCK_STREAM);

	if (!ns)
		return NULL;
	ns->strict = lst->strict;
	if (sock_make_doorbell(ns, flags)) {
		free(ns);
		return NULL;
	}
	ns->local = lst->local;
	ns->max_dgram = lst->max_dgram;
	ns->ring_size = lst->ring_size;
	ns->busy_us = __atomic_load_n(&lst->busy_us, __ATOMIC_RELAXED);
	return ns;
}

/* Take the connection a SYN names: its ring, already holding what the
 * client sent (and maybe its end), becomes ours, and we are granted the
 * client's.  Returns the new socket, or NULL with *err set. */
static struct v4v_sock *answer(struct v4v_sock *lst,
			       const struct v4v_addr *from,
			       const struct v4vp_syn *syn, int flags, int *err)
{
	struct v4v_sock *ns = new_conn_sock(lst, flags);
	struct v4vp_accept_reply rep;
	v4v_handle_t handle;
	int fds[3], rc;

	if (!ns) {
		*err = -ENOMEM;
		return NULL;
	}
	rc = v4v_link_accept(syn->handle, lst->handle, from, syn->conid,
			     ns->bell, &rep, &handle, fds);
	if (!rc && fds[0] < 0)
		rc = -EPROTO;
	if (!rc) {
		ns->handle = handle;
		ns->ring_size = rep.ring_size;
		rc = sock_ring_map(ns, fds[0], rep.offset, rep.ring_size,
				   rep.grant.flags & V4VP_GRANT_TXQ ? 2 : 1);
	}
	if (fds[0] >= 0)
		close(fds[0]);
	if (!rc && (rep.grant.flags & V4VP_GRANT_GONE))
		ns->tx.gone = true;
	else if (!rc)
		rc = take_grant(ns, &rep.grant, fds + 1);
	else
		for (int i = 1; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	if (rc) {
		*err = rc;
		sock_put(ns); /* never installed: this frees it */
		return NULL;
	}
	/* Seen from the application, an accepted socket lives at the
	 * listener's address, as with TCP. */
	ns->peer = *from;
	ns->peer_inet_port = syn->inet_port;
	ns->peer_inet[0] = syn->peer_in;
	ns->peer_inet[1] = syn->peer_in6;
	ns->state = ST_CONNECTED;
	bell_rx_start(ns);
	return ns;
}

/*
 * A listener may be shared by processes (pre-forked servers accept in
 * several children): they take turns on its ring, each starting from the
 * position the last one published.  The turn is a pid in the ring's
 * rx_owner; a holder that died is passed over.  Only v4vd produces into
 * a listener's ring, so no other domain can hold the turn.
 */
static void listener_take(struct v4v_sock *s)
{
	int32_t *owner = &s->cons.r.sh->rx_owner, me = (int32_t)getpid(), cur;

	for (unsigned n = 1;; n++) {
		cur = 0;
		if (__atomic_compare_exchange_n(owner, &cur, me, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED) ||
		    cur == me)
			break;
		if (n % 64 == 0 && kill(cur, 0) && errno == ESRCH)
			__atomic_compare_exchange_n(owner, &cur, 0, false,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		if (n < 1000)
			sched_yield();
		else
			usleep(100); /* a stopped holder: do not burn a core */
	}
	v4v_ring_cons_resync(&s->cons);
}

static void listener_give(struct v4v_sock *s)
{
	__atomic_store_n(&s->cons.r.sh->rx_owner, 0, __ATOMIC_RELEASE);
}

/* Take the next SYN from the listener's ring.  1, 0 if none, -errno. */
static int take_syn(struct v4v_sock *s, struct v4v_addr *from,
		    struct v4vp_syn *syn)
{
	struct v4v_ring_msg m;
	int rc;

	for (;;) {
		rc = v4v_ring_peek(&s->cons, &m);
		if (rc <= 0)
			return rc == -EBADMSG ? -EPROTO : rc;
		if (m.message_type == V4VP_MT_SYN &&
		    m.payload_len == sizeof(*syn)) {
			v4v_ring_read(&s->cons, 0, syn, sizeof(*syn));
			*from = m.source;
		}
		if (v4v_ring_consume(&s->cons, &m))
			v4v_link_notify(s->handle);
		if (m.message_type == V4VP_MT_SYN &&
		    m.payload_len == sizeof(*syn))
			return 1;
	}
}

static int next_syn(struct v4v_sock *s, struct v4v_addr *from,
		    struct v4vp_syn *syn)
{
	int rc;

	listener_take(s);
	rc = take_syn(s, from, syn);
	listener_give(s);
	return rc;
}

static int accept_one(struct v4v_sock *s, int flags, struct v4v_sock **out)
{
	struct v4v_addr from;
	struct v4vp_syn syn;
	int rc;

	for (;;) {
		rc = next_syn(s, &from, &syn);
		if (rc <= 0)
			break;
		*out = answer(s, &from, &syn, flags, &rc);
		if (*out)
			break;
		/* The client gave up or died meanwhile: try the next. */
		if (rc != -ECONNABORTED && rc != -ECONNREFUSED)
			break;
	}
	bell_rx_leave(s);
	return rc;
}

int stream_accept(struct v4v_sock *s, struct sockaddr *addr, socklen_t *len,
		  int flags)
{
	struct v4v_sock *ns = NULL;
	struct v4v_addr peer;
	uint64_t t0 = 0;
	int rc, fd;

	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_LISTEN)
		return -EINVAL;
	pthread_mutex_lock(&s->rx_lock);
	for (;;) {
		rc = sock_closing(s) ? -EBADF : accept_one(s, flags, &ns);
		if (rc)
			break;
		rc = bell_rx_wait(s, 0, false, &t0);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&s->rx_lock);
	if (rc < 0)
		return rc;
	/* Installed, the socket is the application's: a close may free it. */
	peer = ns->peer;
	fd = ns->fd;
	rc = sock_install(ns);
	if (rc)
		return rc;
	sock_addr_out(&peer, addr, len);
	return fd;
}

/* ---- sending ---- */

static void peer_flag(struct v4v_sock *s, uint32_t flag)
{
	if (s->tx.gone) {
		return; /* nobody to tell */
	} else if (s->tx.txq && flag == V4V_RING_TX_RST) {
		/* A reset overtakes what is queued. */
		v4v_link_shutdown(s->handle, V4VP_SHUT_RST);
	} else {
		v4v_ring_set_tx_flag(&s->tx.prod.r, flag);
		stream_ring_peer(s);
	}
}

/* No room in the ring we write: wait, unless it will never drain.  Our
 * own queue drains no more once v4vd has ended the connection (a reset or
 * the peer gone in our ring), or has ended (the guardian reset us). */
long stream_full_ring(struct v4v_sock *s)
{
	if (v4v_ring_rx_flags(&s->tx.prod.r) & V4V_RING_RX_CLOSED)
		return -EPIPE;
	if (s->tx.txq && (v4v_ring_tx_flags(&s->cons.r) &
			  (V4V_RING_TX_RST | V4V_RING_TX_GONE)))
		return -EPIPE;
	return -EAGAIN;
}

/* Insert up to `len` bytes from iov at `off` as one message.  Returns the
 * bytes placed, or -EAGAIN / -EPIPE / another errno. */
static long put_chunk(struct v4v_sock *s, const struct iovec *iov, int iovcnt,
		      size_t off, size_t len)
{
	struct iovec part[16];
	uint32_t room, max;
	int n = 0;
	bool kick;
	long rc;

	max = v4v_ring_max_payload(s->tx.size);
	if (max > STREAM_MAX_CHUNK)
		max = STREAM_MAX_CHUNK;
	if (len > max)
		len = max;
	room = v4v_ring_space(&s->tx.prod);
	/* A full ring whose reader is gone never drains: say so (the
	 * insert below would, but is never reached). */
	if (room < len && room < stream_min_chunk(&s->tx))
		return stream_full_ring(s);
	if (room < len)
		len = room;
	/* Gather the chunk's pieces of the caller's iovec. */
	for (int i = 0; i < iovcnt && len && n < 16; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		part[n].iov_base = (char *)iov[i].iov_base + off;
		part[n].iov_len = l - off < len ? l - off : len;
		len -= part[n].iov_len;
		off = 0;
		n++;
	}
	len = 0;
	for (int i = 0; i < n; i++)
		len += part[i].iov_len;
	rc = v4v_ring_insert(&s->tx.prod, &s->local, V4VP_MT_STREAM, part, n,
			     &kick);
	if (rc)
		return rc;
	if (kick)
		stream_ring_peer(s);
	return (long)len;
}

/* No room: make our descriptor unwritable, then say whether to try once
 * more before sleeping.  Whoever consumes the ring we write (the peer, or
 * v4vd's engine for our own queue) drains our doorbell when it frees room
 * and sees TX_WAITING, set after the fill. */
static bool wait_room(struct v4v_sock *s)
{
	if (!s->filled || bell_writable(s->fd)) {
		bell_fill(s->fd);
		s->filled = true;
	}
	return v4v_ring_want_space(&s->tx.prod, stream_min_chunk(&s->tx));
}

void stream_room_again(struct v4v_sock *s)
{
	if (s->filled) {
		bell_drain(s->bell);
		s->filled = false;
		/* Our own queue's tokens travel the same way as our fill:
		 * one this send wrote for a sleeping engine went too. */
		if (s->tx.txq)
			bell_token(s->fd);
	}
}

/* Sending's turn: with tx_lock held, call place(s, arg) until it places
 * something or fails for another reason than a full ring, waiting for
 * room in between (unless non-blocking).  Returns what place returned, or
 * the error of the wait. */
long stream_send_turn(struct v4v_sock *s, int flags, uint64_t *t0,
		      long (*place)(struct v4v_sock *, void *), void *arg)
{
	long rc;

	for (;;) {
		/* wr_shut again, under tx_lock: a shutdown since send_check
		 * has set the end, and nothing may follow it. */
		if (sock_closing(s))
			return -EBADF;
		if (s->wr_shut)
			return -EPIPE;
		if (sock_maybe_shared(s))
			sock_resync_tx(s);
		rc = place(s, arg);
		if (rc != -EAGAIN)
			return rc;
		if (wait_room(s))
			continue;
		/* Only now, about to block, is O_NONBLOCK worth a look. */
		if (sock_nonblock(s, flags))
			return rc;
		if (!*t0)
			*t0 = sock_now_us();
		pthread_mutex_unlock(&s->tx_lock);
		rc = bell_wait(s->fd, POLLOUT,
			       sock_time_left(__atomic_load_n(&s->sndtimeo_ms,
							      __ATOMIC_RELAXED),
					      *t0));
		pthread_mutex_lock(&s->tx_lock);
		if (rc)
			return rc;
		s->filled = false; /* the peer emptied it */
	}
}

struct send_pos {
	const struct msghdr *msg;
	size_t done, total;
};

static long place_chunk(struct v4v_sock *s, void *arg)
{
	struct send_pos *p = arg;

	return put_chunk(s, p->msg->msg_iov, (int)p->msg->msg_iovlen, p->done,
			 p->total - p->done);
}

ssize_t stream_sendmsg(struct v4v_sock *s, const struct msghdr *msg,
		       int flags)
{
	struct send_pos pos = { msg, 0, sock_iov_len(msg) };
	uint64_t t0 = 0;
	bool shut;
	long rc;

	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE))
		return -EOPNOTSUPP;
	rc = stream_send_check(s, pos.total);
	if (rc || !pos.total)
		return rc;
	pthread_mutex_lock(&s->tx_lock);
	while (pos.done < pos.total) {
		rc = stream_send_turn(s, flags, &t0, place_chunk, &pos);
		if (rc < 0)
			break;
		pos.done += (size_t)rc;
	}
	/* A partial send that stopped for lack of room (or a timeout) stays
	 * unwritable: the peer empties the doorbell when it frees room. */
	if ((pos.done || rc >= 0) && rc != -EAGAIN)
		stream_room_again(s);
	shut = s->wr_shut;
	pthread_mutex_unlock(&s->tx_lock);
	/* The peer's socket went after send_check (RX_CLOSED in its ring
	 * comes just before TX_GONE in ours). */
	if (rc == -EPIPE && !shut)
		return stream_send_to_gone(s, pos.total);
	return pos.done ? (ssize_t)pos.done : rc;
}

/* ---- receiving ---- */

/* The peer consumed room we were waiting for?  Tell the waiting sender. */
void stream_consumed(struct v4v_sock *s, const struct v4v_ring_msg *m)
{
	int bell;

	if (!v4v_ring_consume(&s->cons, m))
		return;
	if (!s->tx.direct || s->tx.txq) { /* v4vd writes our ring */
		v4v_link_notify(s->handle);
		return;
	}
	/* Wake the peer only once the piece it waits for fits (wait_room),
	 * so that writable means a send goes through; until then the flag
	 * stays for the next consume.  The ring still holds at least half
	 * its size, so there will be one if anybody reads. */
	if (!v4v_ring_chunk_fits(&s->cons)) {
		v4v_ring_set_tx_flag(&s->cons.r, V4V_RING_TX_WAITING);
		return;
	}
	bell = peer_bell(s);
	if (bell >= 0)
		bell_drain(bell); /* the peer's doorbell: its fill */
}

/* Copy what is available into the caller's iovec, from message to
 * message, after the `done` bytes an earlier pass of this call placed.
 * Returns bytes copied, or -EPROTO for a corrupt ring. */
static long take_bytes(struct v4v_sock *s, struct msghdr *msg, size_t done,
		       size_t want, int flags)
{
	struct v4v_ring_msg m;
	size_t got = 0;

	if (sock_maybe_shared(s))
		sock_resync_rx(s);
	while (done + got < want) {
		struct iovec part[16];
		size_t n, skip = done + got;
		int np = 0, rc = v4v_ring_peek(&s->cons, &m);

		if (rc < 0)
			return -EPROTO;
		if (rc == 0)
			break;
		if (m.message_type != V4VP_MT_STREAM) {
			stream_consumed(s, &m); /* not ours to read */
			continue;
		}
		for (size_t i = 0; i < msg->msg_iovlen && np < 16; i++) {
			size_t l = msg->msg_iov[i].iov_len;

			if (skip >= l) {
				skip -= l;
				continue;
			}
			part[np].iov_base = (char *)msg->msg_iov[i].iov_base + skip;
			part[np++].iov_len = l - skip;
			skip = 0;
		}
		n = v4v_ring_readv(&s->cons, &m, s->rx_off, part, np);
		got += n;
		if (flags & MSG_PEEK)
			break;
		s->rx_off += (uint32_t)n;
		if (s->rx_off >= m.payload_len) {
			s->rx_off = 0;
			stream_consumed(s, &m);
		}
		if (!n)
			break;
	}
	return (long)got;
}

/* Nothing to read: why?  0 for end of file, an errno, or 1 to wait. */
static int empty_reason(struct v4v_sock *s)
{
	uint32_t f = v4v_ring_tx_flags(&s->cons.r);

	/* FIN and RST are set after the last data: look again before
	 * believing them.  What came before a reset is still read, as the
	 * kernel lets it be. */
	if ((f & V4V_RING_TX_RST) && !v4v_ring_used(&s->cons))
		return rx_reset(s);
	if ((f & V4V_RING_TX_FIN) && !v4v_ring_used(&s->cons))
		return 0;
	if (__atomic_load_n(&s->rd_shut, __ATOMIC_ACQUIRE))
		return 0;
	return 1;
}

long stream_rx_wait(struct v4v_sock *s, int flags, uint64_t *t0)
{
	int rc;

	if (v4v_ring_used(&s->cons))
		return 1;
	rc = empty_reason(s);
	if (rc <= 0)
		return rc;
	rc = bell_rx_wait(s, flags, true, t0);
	return rc ? rc : 1;
}

ssize_t stream_recvmsg(struct v4v_sock *s, struct msghdr *msg, int flags)
{
	size_t want = sock_iov_len(msg), got = 0;
	uint64_t t0 = 0;
	long rc;

	if (flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_WAITALL | MSG_NOSIGNAL |
		      MSG_TRUNC))
		return -EOPNOTSUPP;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return -ENOTCONN;
	msg->msg_flags = 0;
	msg->msg_controllen = 0;
	if (msg->msg_name)
		sock_addr_out(&s->peer, msg->msg_name, &msg->msg_namelen);
	if (!want)
		return 0;
	pthread_mutex_lock(&s->rx_lock);
	for (;;) {
		rc = sock_closing(s) ? -EBADF
				     : take_bytes(s, msg, got, want, flags);
		if (rc < 0)
			break;
		got += (size_t)rc;
		if (got == want || (got && !(flags & MSG_WAITALL)) ||
		    (got && (flags & MSG_PEEK)))
			break;
		rc = stream_rx_wait(s, flags, &t0);
		if (rc <= 0)
			break;
	}
	bell_rx_leave(s);
	pthread_mutex_unlock(&s->rx_lock);
	return got ? (ssize_t)got : rc;
}

/* Payload bytes ready to read (FIONREAD). */
int stream_fionread(struct v4v_sock *s)
{
	int n;

	/* Only a connection's ring holds payload; one still connecting may
	 * lose its ring to a failed connect under our feet. */
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_CONNECTED)
		return 0;
	pthread_mutex_lock(&s->rx_lock);
	if (sock_maybe_shared(s))
		sock_resync_rx(s);
	n = (int)v4v_ring_pending(&s->cons) - (int)s->rx_off;
	pthread_mutex_unlock(&s->rx_lock);
	return n < 0 ? 0 : n;
}

int stream_shutdown(struct v4v_sock *s, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (s->state != ST_CONNECTED) {
		pthread_mutex_unlock(&s->lock);
		return -ENOTCONN;
	}
	if (how != SHUT_WR)
		__atomic_store_n(&s->rd_shut, true, __ATOMIC_RELEASE);
	if (how != SHUT_RD && !s->wr_shut) {
		/* The end goes after what a send in progress places, and no
		 * send places more after it: they look at wr_shut under
		 * tx_lock. */
		pthread_mutex_lock(&s->tx_lock);
		__atomic_store_n(&s->wr_shut, true, __ATOMIC_RELEASE);
		peer_flag(s, V4V_RING_TX_FIN);
		pthread_mutex_unlock(&s->tx_lock);
	}
	pthread_mutex_unlock(&s->lock);
	/* Wake our own readers: they now see end of file (another process
	 * holding the socket does not, and must drain the token). */
	if (how != SHUT_WR) {
		bell_token(s->bell);
		sock_bell_touched(s);
	}
	return 0;
}

/* The last reference is going: an abortive close resets the peer; an
 * orderly one is ended by v4vd when it sees the hang-up (only then do we
 * know no other process still holds the socket). */
void stream_release(struct v4v_sock *s)
{
	if (s->linger0 && s->state == ST_CONNECTED)
		peer_flag(s, V4V_RING_TX_RST);
	if (s->tx.mem)
		munmap(s->tx.mem, s->tx.memlen);
	if (s->tx.bell >= 0)
		close(s->tx.bell);
}
