/* SPDX-License-Identifier: MIT */
/*
 * Strict-mode stream data: the application writes into its own socket, a
 * kernel stream whose other end (the doorbell) the hypervisor holds; the
 * hypervisor moves what arrives into the peer's ring.  No memory is shared
 * between the domains, sends need no round trip to v4vd, and the kernel's
 * socket buffer is the flow control: when the peer's ring is full we stop
 * reading, the buffer fills, and the sender blocks (or gets EAGAIN) in the
 * kernel.  The end of the stream (shutdown or close) arrives in order
 * after the data, so FIN can never overtake it.
 */
#include "hv.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* The largest message one pump step inserts. */
#define PUMP_CHUNK (64u * 1024u)

bool hv_pumps(const struct hv *hv, const struct hv_ring *r)
{
	return hv->cfg.strict && r->pumping;
}

static void watch(struct hv *hv, struct hv_ring *r, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = r };

	epoll_ctl(hv->epfd, EPOLL_CTL_MOD, r->bell, &ev);
}

void hv_pump_start(struct hv *hv, struct hv_ring *r)
{
	r->pumping = true;
	watch(hv, r, EPOLLIN | EPOLLRDHUP);
	hv_pump(hv, r);
}

static bool hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

/* Stop reading until the peer frees room (a waiter on its ring). */
static void stall(struct hv *hv, struct hv_ring *r, struct hv_ring *dst)
{
	watch(hv, r, 0);
	r->stalled = true;
	hv_ring_add_waiter(dst, r->handle, 1);
	/* Room may have appeared between our look and the flag. */
	if (v4v_ring_want_space(&dst->prod, 1)) {
		hv_ring_del_waiter(dst, r->handle);
		r->stalled = false;
		watch(hv, r, EPOLLIN | EPOLLRDHUP);
	}
}

/* Move one chunk, from the socket straight into the peer's ring (one copy,
 * done by the kernel); returns false when there is nothing more to do. */
static bool pump_once(struct hv *hv, struct hv_ring *r)
{
	static uint8_t sink[PUMP_CHUNK];
	struct hv_ring *dst = r->peer;
	struct v4v_addr src = { .port = r->port, .domid = r->dom->domid };
	struct iovec iov[2] = { { sink, sizeof(sink) } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 1 };
	ssize_t n;
	bool kick;

	if (dst) {
		int pieces = v4v_ring_reserve(&dst->prod, PUMP_CHUNK, iov);

		if (!pieces) {
			stall(hv, r, dst);
			return !r->stalled;
		}
		mh.msg_iovlen = (size_t)pieces;
	}
	n = recvmsg(r->bell, &mh, MSG_DONTWAIT);
	if (n < 0)
		return errno == EINTR;
	if (n == 0) {
		/* The writer's end: FIN after everything it wrote, if it
		 * shut its writing side down.  A socket closed outright is
		 * ended by hv_conn_ring_gone, with FIN, or RST if it left
		 * data unread, as TCP ends it. */
		r->eof = true;
		watch(hv, r, 0);
		if (dst && !hung_up(r->bell)) {
			v4v_ring_set_tx_flag(&dst->prod.r, V4V_RING_TX_FIN);
			hv_bell_ring(dst->bell);
		}
		return false;
	}
	if (!dst)
		return true; /* the peer is gone: nobody to deliver to */
	v4v_ring_commit(&dst->prod, &src, V4VP_MT_STREAM, (uint32_t)n, &kick);
	r->c.tx_msgs++;
	r->c.tx_bytes += (uint64_t)n;
	dst->c.rx_msgs++;
	dst->c.rx_bytes += (uint64_t)n;
	if (kick)
		hv_bell_ring(dst->bell);
	return true;
}

void hv_pump(struct hv *hv, struct hv_ring *r)
{
	if (!r->pumping || r->eof)
		return;
	r->stalled = false;
	watch(hv, r, EPOLLIN | EPOLLRDHUP);
	/* Bounded: one busy connection cannot starve the others. */
	for (int budget = 16; budget > 0 && pump_once(hv, r); budget--)
		;
}

/* Pump until the end of what the closed socket held, or until the peer's
 * ring is full.  Bounded by the socket buffer's size.  True when done. */
bool hv_pump_out(struct hv *hv, struct hv_ring *r)
{
	r->stalled = false; /* called when room may have come */
	while (r->peer && !r->eof && !r->stalled)
		hv_pump(hv, r);
	return r->eof || !r->peer;
}

/* A pumping ring's socket was closed by its last holder: deliver what is
 * still queued before the ring goes, however long the peer takes. */
bool hv_pump_linger(struct hv *hv, struct hv_ring *r)
{
	if (!hv_pumps(hv, r) || r->eof || !r->peer)
		return false;
	if (hv_pump_out(hv, r))
		return false;
	/* Still data and no room: wait for the peer, without the hang-up
	 * waking us again and again meanwhile. */
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, r->bell, NULL);
	r->dying = true;
	hv_log(HV_LOG_DEBUG, "ring %u closed with data queued: delivering "
	       "it first", r->handle);
	return true;
}
