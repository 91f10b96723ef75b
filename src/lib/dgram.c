/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets: each message is one V4V message, sent through the
 * hypervisor and received straight from our own ring.  The source of every
 * received datagram is the address the hypervisor stamped.
 *
 * On a host a socket has a transmit queue too, which only v4vd's copy
 * engine reads (src/hv/dgram_q.c).  A datagram goes by SEND,
 * with SEND's exact errors, unless it goes where the last SEND went and
 * is no larger than that SEND vouched for: then it goes into the queue,
 * with no system call while the engine polls.  A queued datagram v4vd
 * cannot deliver (the receiver went, viptables changed) is lost as a UDP
 * datagram would be, and the next send asks again by SEND.
 */
#include "link_proto.h"
#include "sock.h"

#include <limits.h>
#include <poll.h>
#include <string.h>

static int dest_of(struct v4v_sock *s, const struct msghdr *msg,
		   struct v4v_addr *dst)
{
	int rc;

	if (msg->msg_name) {
		rc = sock_addr_in(msg->msg_name, msg->msg_namelen, dst);
		if (!rc && dst->domid > V4V_DOMID_MAX)
			rc = -EINVAL;
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	rc = s->connected ? 0 : -EDESTADDRREQ;
	*dst = s->peer;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* One attempt by SEND; on "no space" make the descriptor unwritable
 * first, then try once more, so that the hypervisor's later wakeup cannot
 * be missed.  A datagram v4vd took vouches for its destination: our
 * queue may carry the next ones there. */
static long try_send(struct v4v_sock *s, const struct v4v_addr *dst,
		     const struct msghdr *msg)
{
	struct v4vp_send_reply rep = { 0 };
	long rc = v4v_link_send(s->handle, dst, V4V_MT_DGRAM, msg->msg_iov,
				(int)msg->msg_iovlen, &rep);

	if (rc == -EAGAIN && (!s->filled || bell_writable(s->fd))) {
		bell_fill(s->fd);
		s->filled = true;
		rc = v4v_link_send(s->handle, dst, V4V_MT_DGRAM, msg->msg_iov,
				   (int)msg->msg_iovlen, &rep);
	}
	if (rc >= 0 && s->filled) {
		bell_drain(s->bell);
		s->filled = false;
		/* The drain may have taken a token for our queue. */
		if (s->tx.txq)
			bell_token(s->fd);
	}
	/* Only with nothing queued ahead (a full receiver may hold our
	 * queue back while this SEND went elsewhere): what we queue next
	 * must not wait behind another destination's datagrams. */
	if (rc >= 0 && s->tx.txq &&
	    v4v_ring_space(&s->tx.prod) == v4v_ring_max_payload(s->tx.size)) {
		s->vouched = *dst;
		s->vouched_max = rep.max;
	}
	return rc;
}

/* May this datagram go into our queue?  Only where our last SEND went,
 * no larger than it vouched for, while v4vd has not asked us to check
 * again, and while no other process may insert into the queue too (it
 * was open at a fork, or passed): our position is our own. */
static bool queueable(struct v4v_sock *s, const struct v4v_addr *dst,
		      size_t len)
{
	if (!s->tx.txq || !s->vouched_max)
		return false;
	if (v4v_ring_take_rx_flag(&s->tx.prod.r, V4V_RING_RX_RECHECK))
		s->vouched_max = 0;
	return s->vouched_max && v4v_addr_eq(dst, &s->vouched) &&
	       len <= s->vouched_max &&
	       len <= v4v_ring_max_payload(s->tx.size) &&
	       !__atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&s->passed, __ATOMIC_RELAXED);
}

/* Into our queue: the bytes, or -EAGAIN (full; the descriptor is made
 * unwritable first, as try_send does, and v4vd empties it when it takes
 * from the queue), or -EPIPE (v4vd closed a queue it found corrupt). */
static long queue_send(struct v4v_sock *s, const struct v4v_addr *dst,
		       const struct msghdr *msg, size_t len)
{
	struct v4v_ring_prod *q = &s->tx.prod;
	bool kick;
	int rc;

	rc = v4v_ring_insert(q, dst, V4V_MT_DGRAM, msg->msg_iov,
			     (int)msg->msg_iovlen, &kick);
	if (rc == -EAGAIN) {
		if (!s->filled || bell_writable(s->fd)) {
			bell_fill(s->fd);
			s->filled = true;
		}
		if (v4v_ring_want_space(q, (uint32_t)len))
			rc = v4v_ring_insert(q, dst, V4V_MT_DGRAM,
					     msg->msg_iov,
					     (int)msg->msg_iovlen, &kick);
	}
	if (rc)
		return rc;
	if (s->filled) {
		/* Our fill and our queue's tokens share the doorbell: the
		 * drain may have taken the token for this insert. */
		bell_drain(s->bell);
		s->filled = false;
		kick = true;
	}
	if (kick)
		bell_token(s->fd);
	return (long)len;
}

ssize_t dgram_sendmsg(struct v4v_sock *s, const struct msghdr *msg, int flags)
{
	size_t len = sock_iov_len(msg);
	struct v4v_addr dst;
	uint64_t t0 = 0;
	long rc;

	if (flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL))
		return v4v_fail(-EOPNOTSUPP);
	if (msg->msg_iovlen > IOV_MAX)
		return v4v_fail(-EMSGSIZE);
	rc = dest_of(s, msg, &dst);
	if (!rc)
		rc = sock_ensure_bound(s);
	if (rc)
		return v4v_fail((int)rc);
	pthread_mutex_lock(&s->tx_lock);
	for (;;) {
		if (sock_closing(s))
			rc = -EBADF;
		else if (queueable(s, &dst, len))
			rc = queue_send(s, &dst, msg, len);
		else
			rc = try_send(s, &dst, msg);
		if (rc != -EAGAIN || sock_nonblock(s, flags))
			break;
		if (!t0)
			t0 = sock_now_us();
		pthread_mutex_unlock(&s->tx_lock);
		rc = bell_wait(s->fd, POLLOUT,
			       sock_time_left(__atomic_load_n(&s->sndtimeo_ms,
							      __ATOMIC_RELAXED),
					      t0));
		pthread_mutex_lock(&s->tx_lock);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&s->tx_lock);
	return rc < 0 ? v4v_fail((int)rc) : rc;
}

static void copy_msg(struct v4v_sock *s, const struct v4v_ring_msg *m,
		     struct msghdr *msg, int flags, ssize_t *ret)
{
	size_t got = v4v_ring_readv(&s->cons, m, 0, msg->msg_iov,
				    (int)msg->msg_iovlen);

	msg->msg_flags = got < m->payload_len ? MSG_TRUNC : 0;
	msg->msg_controllen = 0;
	if (msg->msg_name) {
		socklen_t len = msg->msg_namelen;

		sock_addr_out(&m->source, msg->msg_name, &len);
		msg->msg_namelen = len;
	}
	*ret = flags & MSG_TRUNC ? (ssize_t)m->payload_len : (ssize_t)got;
}

/* Take the next datagram for us.  Returns 1 with *ret set, 0 if the ring
 * is empty, or a negative errno. */
static int take_one(struct v4v_sock *s, struct msghdr *msg, int flags,
		    ssize_t *ret)
{
	struct v4v_ring_msg m;

	for (;;) {
		int rc = v4v_ring_peek(&s->cons, &m);

		if (rc <= 0)
			return rc == -EBADMSG ? -EPROTO : rc;
		/* A connected socket hears only its peer; other types are
		 * not ours to read. */
		if (m.message_type == V4V_MT_DGRAM &&
		    (!s->connected || v4v_addr_eq(&m.source, &s->peer))) {
			copy_msg(s, &m, msg, flags, ret);
			if (flags & MSG_PEEK)
				return 1;
		}
		if (v4v_ring_consume(&s->cons, &m))
			v4v_link_notify(s->handle);
		if (m.message_type == V4V_MT_DGRAM &&
		    (!s->connected || v4v_addr_eq(&m.source, &s->peer)))
			break;
	}
	bell_rx_leave(s);
	return 1;
}

ssize_t dgram_recvmsg(struct v4v_sock *s, struct msghdr *msg, int flags)
{
	uint64_t t0 = 0;
	ssize_t ret = 0;
	int rc;

	if (flags & ~(MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC | MSG_NOSIGNAL))
		return v4v_fail(-EOPNOTSUPP);
	rc = sock_ensure_bound(s);
	if (rc)
		return v4v_fail(rc);
	pthread_mutex_lock(&s->rx_lock);
	for (;;) {
		rc = sock_closing(s) ? -EBADF : take_one(s, msg, flags, &ret);
		if (rc)
			break;
		rc = bell_rx_wait(s, flags, true, &t0);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&s->rx_lock);
	return rc < 0 ? v4v_fail(rc) : ret;
}

int dgram_next_size(struct v4v_sock *s)
{
	struct v4v_ring_msg m;
	int n = 0;

	pthread_mutex_lock(&s->rx_lock);
	if (v4v_ring_peek(&s->cons, &m) == 1)
		n = (int)m.payload_len;
	pthread_mutex_unlock(&s->rx_lock);
	return n;
}
