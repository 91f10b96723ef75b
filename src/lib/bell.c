/* SPDX-License-Identifier: MIT */
/*
 * Doorbells: how a V4V socket's kernel descriptor tells the truth about
 * the ring behind it.
 *
 * Readable: a token sits in fd's receive queue whenever the ring holds a
 * message.  The consumer drains tokens only when it has found the ring
 * empty, then arms the ring at its position (V4V_RING_RX_ARMED); a
 * producer that inserts at that position into an armed ring disarms it
 * and writes one token.  The ring's full
 * fences order "publish tx / read flag" against "set flag / read tx", so
 * either the producer sees the flag or the consumer sees the data: no
 * wakeup is lost (docs/architecture.md has the argument; tests/model has
 * the Promela model).
 *
 * Writable: a sender that must wait for space fills its own send buffer
 * towards the hypervisor; the hypervisor empties it when the receiver
 * frees room, and the kernel reports the descriptor writable again.
 */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

size_t bell_drain(int fd)
{
	char buf[8192];
	size_t total = 0;
	ssize_t n;

	/* A whole fill (a few KiB) in one call, and stop at a short read:
	 * what arrives after that is a new fill (or token), not ours to
	 * take.  Looping on would empty a sender's next fill as it is made
	 * and wake it with no room. */
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		total += (size_t)n;
		if (n != (ssize_t)sizeof(buf))
			break;
	}
	return total;
}

void bell_token(int bell)
{
	char t = 0;

	(void)send(bell, &t, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

uint32_t bell_fill(int fd)
{
	static const char junk[4096];
	uint32_t total = 0;
	ssize_t n;

	while ((n = send(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL)) >
	       0)
		total += (uint32_t)n;
	return total;
}

bool bell_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

int bell_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n = poll(&p, 1, timeout_ms);

	if (n < 0)
		return -errno;
	return n == 0 ? -EAGAIN : 0;
}

/* End of file and resets are rung unconditionally (the peer or v4vd sets
 * the flag, then writes a token; shutdown(SHUT_RD) rings our own bell):
 * a token that came after the caller looked at the flags may have been
 * drained just now.  An ended connection stays readable, as a kernel
 * socket at end of file does. */
static bool rx_ended(const struct v4v_sock *s)
{
	if (s->type != SOCK_STREAM ||
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == ST_LISTEN)
		return false;
	return __atomic_load_n(&s->rd_shut, __ATOMIC_ACQUIRE) ||
	       (v4v_ring_tx_flags(&s->cons.r) &
		(V4V_RING_TX_FIN | V4V_RING_TX_RST));
}

/*
 * A producer that took ARMED owes us a token: it clears the flag, then
 * writes.  If we arm again before the token lands, it arrives later and
 * leaves the descriptor readable with nothing to read, and a program
 * that trusts poll (wrk does) takes the EAGAIN that follows for an
 * error.  So the owed token is waited for, briefly: the producer is
 * between two instructions and a system call.  (A producer that dies
 * there, or a hostile one, costs its own connection a millisecond.)
 */
#define OWED_TOKEN_MS 1

static void drain_owed(struct v4v_sock *s)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };

	if (bell_drain(s->fd) > 0)
		return;
	if (poll(&p, 1, OWED_TOKEN_MS) == 1)
		bell_drain(s->fd);
	else
		s->token_late = true;
}

/* Armed, the ring found empty: nobody owes us a token, so a token in the
 * doorbell is stale and would make it readable with nothing to read.  It
 * can only be one that came after drain_owed stopped waiting, one
 * another holder of the descriptor wrote (sock_bell_touched), or the
 * end's (which armed_or_token writes again): otherwise the doorbell is
 * known empty and looking costs a system call a request. */
static void drain_stale(struct v4v_sock *s)
{
	bool others = sock_others_moved(s, &s->drain_seen);

	if (!s->token_late && !others && !rx_ended(s))
		return;
	if (bell_drain(s->fd) > 0)
		s->token_late = false;
}

/* After arming (`armed`: 1 armed and empty, 0 data raced in): whether
 * the caller may sleep, keeping the descriptor readable if it may not. */
static bool armed_or_token(struct v4v_sock *s, int armed, bool rung)
{
	if (armed == 1) {
		if (!rx_ended(s))
			return true;
	} else if (rung) {
		return false; /* a producer's token keeps it readable */
	}
	/* Data (or the end) arrived after we looked: the descriptor must
	 * stay readable for whoever polls it next. */
	bell_token(s->bell);
	return false;
}

void bell_rx_start(struct v4v_sock *s)
{
	armed_or_token(s, v4v_ring_arm(&s->cons), false);
}

bool bell_rx_rearm(struct v4v_sock *s)
{
	bool rung;
	int armed;

	if (v4v_ring_armed(&s->cons)) {
		/* Arm here only if still armed: a producer that took ARMED
		 * since owes a token, to be waited for below. */
		drain_stale(s);
		armed = v4v_ring_arm_move(&s->cons, &rung);
		if (armed >= 0)
			return armed_or_token(s, armed, rung);
	}
	drain_owed(s);
	armed = v4v_ring_arm_rung(&s->cons, &rung);
	return armed_or_token(s, armed, rung);
}

void bell_rx_leave(struct v4v_sock *s)
{
	bool rung;
	int armed;

	if (!v4v_ring_used(&s->cons)) {
		/* Still armed: the common case while messages flow and we
		 * find them by polling; no system call.  If we took messages
		 * since arming, the arm moves here, so that their producer,
		 * which may not have looked at ARMED yet, does not ring for
		 * what is gone.  A producer that did ring first: drain its
		 * token and arm afresh. */
		armed = v4v_ring_arm_move(&s->cons, &rung);
		if (armed < 0)
			bell_rx_rearm(s);
		else if (armed == 0)
			armed_or_token(s, armed, rung);
		return;
	}
	bell_rx_show(s);
}

/* Data left behind while armed (we found it by polling, so nobody rang):
 * make the descriptor readable ourselves.  Not armed: a producer took
 * the arm and rings. */
void bell_rx_show(struct v4v_sock *s)
{
	if (v4v_ring_armed(&s->cons) && v4v_ring_disarm(&s->cons))
		bell_token(s->bell);
}

/*
 * A receive call found nothing: wait the way the call must.  Non-blocking:
 * fail with EAGAIN (after leaving the descriptor exact).  Blocking: poll
 * the ring for the busy budget if `spin`, then sleep on the doorbell,
 * within SO_RCVTIMEO counted from *t0.  Called and returns with rx_lock
 * held (dropped while asleep).  Returns 0 to look at the ring again, or
 * -EAGAIN, -EINTR.
 */
/* v4vd shut the doorbell down as it exited (a stream socket learns it
 * from the reset flag in its ring; a listener or datagram socket from
 * the end of file on its descriptor, which nothing else gives them). */
static bool hv_gone(const struct v4v_sock *s)
{
	char c;

	if (s->type == SOCK_STREAM &&
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != ST_LISTEN)
		return false;
	return recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int bell_rx_wait(struct v4v_sock *s, int flags, bool spin, uint64_t *t0)
{
	int rc;

	if (sock_nonblock_hint(s, flags) && sock_nonblock(s, flags)) {
		if (!bell_rx_rearm(s))
			return 0;
		return hv_gone(s) ? -ECONNRESET : -EAGAIN;
	}
	if ((spin && sock_busy_wait(s)) || !bell_rx_rearm(s))
		return 0;
	if (hv_gone(s))
		return -ECONNRESET;
	if (sock_nonblock(s, flags))
		return -EAGAIN;
	if (!*t0)
		*t0 = sock_now_us();
	pthread_mutex_unlock(&s->rx_lock);
	rc = bell_wait(s->fd, POLLIN,
		       sock_time_left(__atomic_load_n(&s->rcvtimeo_ms,
						      __ATOMIC_RELAXED),
				      *t0));
	pthread_mutex_lock(&s->rx_lock);
	return rc;
}
