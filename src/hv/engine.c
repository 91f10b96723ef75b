/* SPDX-License-Identifier: MIT */
/*
 * The copy engine: strict-mode stream data here, datagrams (both modes)
 * in dgram_q.c.  Each side of a strict connection writes into its own
 * transmit queue, a ring in memory that it shares with v4vd only (the
 * second ring of its receive ring's memfd); the engine reads each
 * message there, validated by the ring code in private memory, and
 * copies its payload into the peer's receive ring, so no page is ever
 * mapped by two domains.
 *
 * The engine is one or more shards (shards.c), each a set of connections
 * run by a copy thread or, with --copy-threads 0, by v4vd's loop; the
 * code here runs with the shard locked.  A shard polls its queues while
 * there is work and for an idle window after it (--copy-idle-us); then
 * it arms every queue and sleeps in epoll_wait.  An armed queue is the ring's own event
 * suppression, model-checked in tests/model: a sender that inserts into
 * an armed queue writes one token into its socket, whose other end (the
 * ring's doorbell) v4vd watches.  While the engine is awake nobody rings:
 * a send is an insert into shared memory, with no system call.  While it
 * polls with nothing to do it yields the CPU, so that on a machine with
 * fewer cores than runnable threads it gives way to the programs it
 * serves.
 *
 * Flow control: a full peer ring stalls only its own connection (a
 * waiter on that ring, woken by the reader's NOTIFY); a full transmit
 * queue makes the sender wait as a direct sender does (TX_WAITING in the
 * queue, its socket filled): consuming wakes it by emptying the doorbell.
 * The end of a stream (TX_FIN in the queue) goes to the peer after all
 * the data.  A queue that fails validation resets the connection, both
 * sides, and only it.
 */
#include "hv.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

/* How long a shard keeps its lock in one go: the loop waits for it. */
#define PASS_NS 50000u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool hv_pumps(const struct hv *hv, const struct hv_ring *r)
{
	(void)hv;
	return r->pumping;
}

/* The shard's epoll set names rings by handle: a ring may be gone by the
 * time its thread, having waited for the lock, looks at an event. */
static void watch_op(struct hv_ring *r, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = r->handle };

	if (r->bell >= 0 && !r->dying)
		epoll_ctl(r->shard->epfd, op, r->bell, &ev);
}

static void watch(struct hv_ring *r, uint32_t events)
{
	watch_op(r, EPOLL_CTL_MOD, events);
}

/* Only copying counts as work: a doorbell that stays readable while we
 * are awake (tokens are drained only before we sleep) must not keep the
 * idle window open for ever. */
static void wake_engine(struct hv_shard *sh)
{
	if (sh->awake)
		return;
	sh->awake = true;
	sh->wakeups++;
	sh->last_work_ns = now_ns();
	hv_shard_wake(sh);
}

void hv_pump_start(struct hv *hv, struct hv_ring *r)
{
	struct hv_shard *sh = hv_shard_pick(hv, r);

	r->pumping = true;
	r->shard = sh;
	list_add_tail(&sh->active, &r->active);
	sh->queues++;
	watch_op(r, EPOLL_CTL_ADD, EPOLLIN);
	/* The queue is fresh and empty: armed, its first insert rings us
	 * unless we are awake (then we see it anyway). */
	v4v_ring_arm(&r->txq);
	wake_engine(sh);
}

void hv_pump_forget(struct hv *hv, struct hv_ring *r)
{
	(void)hv;
	if (r->pumping) {
		list_del(&r->active);
		r->shard->queues--;
		if (r->bell >= 0)
			epoll_ctl(r->shard->epfd, EPOLL_CTL_DEL, r->bell, NULL);
	}
	r->pumping = false;
}

void hv_pump_unwatch(struct hv_ring *r)
{
	watch(r, 0);
}

bool hv_pump_stall(struct hv_ring *r, struct hv_ring *dst, uint32_t need)
{
	/* Not readable meanwhile: the sender's filled doorbell must not
	 * wake us again and again while we cannot help it. */
	watch(r, 0);
	r->stalled = true;
	hv_ring_add_waiter(dst, r->handle, need);
	/* Room may have appeared between our look and the flag. */
	if (v4v_ring_want_space(&dst->prod, need)) {
		hv_ring_del_waiter(dst, r->handle);
		r->stalled = false;
		watch(r, EPOLLIN);
	}
	return r->stalled;
}

/* A queue that fails validation: only its hostile owner's connection
 * pays, reset on both sides. */
static void corrupt(struct hv_ring *r)
{
	hv_log(HV_LOG_WARN, "ring %u (domain %u): corrupt transmit queue, "
	       "connection reset", r->handle, r->dom->domid);
	v4v_ring_set_tx_flag(&r->prod.r, V4V_RING_TX_RST);
	hv_bell_ring(r->bell);
	if (r->peer) {
		v4v_ring_set_tx_flag(&r->peer->prod.r,
				     V4V_RING_TX_RST | V4V_RING_TX_GONE);
		hv_bell_ring(r->peer->bell);
	}
	r->eof = true;
	watch(r, 0);
	r->shard->resets++;
}

/* The sender waits for room in its queue (TX_WAITING, consumed): wake it
 * once what it waits for fits, as a direct reader wakes its writer. */
static void sender_room(struct hv_ring *r)
{
	if (!v4v_ring_chunk_fits(&r->txq)) {
		v4v_ring_set_tx_flag(&r->txq.r, V4V_RING_TX_WAITING);
		return;
	}
	hv_ring_room(r);
}

/* The end of the owner's writes: FIN into the peer's ring after all the
 * data (a socket closed outright is ended by hv_conn_ring_gone). */
static void end_of_queue(struct hv_ring *r)
{
	r->eof = true;
	watch(r, 0); /* only the hang-up from now on */
	if (r->peer) {
		v4v_ring_set_tx_flag(&r->peer->prod.r, V4V_RING_TX_FIN);
		hv_bell_ring(r->peer->bell);
	}
}

/*
 * Copy from r's queue into its peer's ring, at most HV_TURN_BYTES.  A queue
 * message larger than the room in the peer's ring goes in pieces: stream
 * data has no boundaries.  Returns the bytes moved (0: nothing to do, or
 * stalled, or ended).
 */
static uint32_t stream_turn(struct hv_ring *r)
{
	struct hv_shard *sh = r->shard;
	struct v4v_addr src = { .port = r->port, .domid = r->dom->domid };
	struct hv_ring *dst = r->peer;
	uint32_t moved = 0, flags;
	struct v4v_ring_msg m;
	bool kick = false;
	int rc;

	while (moved < HV_TURN_BYTES && !r->stalled && !r->eof) {
		/* The flag first: a FIN set after the last insert is seen
		 * only once that insert is. */
		flags = v4v_ring_tx_flags(&r->txq.r);
		rc = v4v_ring_peek(&r->txq, &m);
		if (rc < 0) {
			corrupt(r);
			break;
		}
		if (rc == 0) {
			if (flags & V4V_RING_TX_FIN)
				end_of_queue(r);
			break;
		}
		if (dst && r->txq_off < m.payload_len) {
			uint32_t want = m.payload_len - r->txq_off;
			struct iovec iov[2];
			int pieces;
			size_t n;

			/* A large message goes in turn-sized pieces too. */
			if (want > HV_TURN_BYTES)
				want = HV_TURN_BYTES;
			pieces = v4v_ring_reserve(&dst->prod, want, iov);
			if (!pieces) {
				hv_pump_stall(r, dst, 1);
				continue;
			}
			n = v4v_ring_readv(&r->txq, &m, r->txq_off, iov,
					   pieces);
			v4v_ring_commit(&dst->prod, &src, V4VP_MT_STREAM,
					(uint32_t)n, &kick);
			if (kick) {
				hv_bell_ring(dst->bell);
				sh->bells++;
			}
			r->txq_off += (uint32_t)n;
			moved += (uint32_t)n;
			r->c.tx_msgs++;
			r->c.tx_bytes += n;
			dst->c.rx_msgs++;
			dst->c.rx_bytes += n;
			sh->msgs++;
			sh->bytes += n;
			if (r->txq_off < m.payload_len)
				continue;
		}
		/* Whole, or nobody left to deliver to: the peer is gone. */
		r->txq_off = 0;
		if (v4v_ring_consume(&r->txq, &m))
			sender_room(r);
		if (!dst)
			moved += m.payload_len + 1;
	}
	return moved;
}

static uint32_t copy_turn(struct hv_ring *r)
{
	return r->dgram_q ? hv_dgram_turn(r->shard->hv, r, HV_TURN_BYTES)
			  : stream_turn(r);
}

/* Data came or room came: copy now, and keep polling for a while. */
void hv_pump(struct hv *hv, struct hv_ring *r)
{
	(void)hv;
	if (!r->pumping || r->eof)
		return;
	if (r->stalled) {
		r->stalled = false;
		watch(r, EPOLLIN);
	}
	wake_engine(r->shard);
	copy_turn(r);
}

/* The ring's doorbell is readable: a token (the queue was armed), or the
 * fill of a sender waiting for room.  Left there while we are awake: a
 * fill is emptied only when the room it waits for comes (sender_room),
 * and tokens only before we sleep (arm_all), when no sender can be
 * waiting on an empty queue. */
void hv_pump_bell(struct hv *hv, struct hv_ring *r)
{
	r->bell_hot = true;
	hv_pump(hv, r);
}

/* Copy until the end of what the closed socket queued, or until the
 * peer's ring is full.  True when done. */
bool hv_pump_out(struct hv *hv, struct hv_ring *r)
{
	if (r->dgram_q)
		return hv_dgram_flush(hv, r);
	r->stalled = false; /* called when room may have come */
	while (!r->eof && !r->stalled && copy_turn(r))
		;
	/* Not stalled: the queue is empty, and the close is its end. */
	return !r->stalled || r->eof || !r->peer;
}

/* A pumping ring's socket was closed by its last holder: deliver what is
 * still queued before the ring goes, however long the peer takes. */
bool hv_pump_linger(struct hv *hv, struct hv_ring *r)
{
	if (!hv_pumps(hv, r) || r->eof)
		return false;
	if (r->dgram_q ? !hv_dgram_linger(hv, r)
		       : !r->peer || hv_pump_out(hv, r))
		return false;
	/* Still data and no room: wait for the peer, without the hang-up
	 * waking us again and again meanwhile. */
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, r->bell, NULL);
	epoll_ctl(r->shard->epfd, EPOLL_CTL_DEL, r->bell, NULL);
	r->dying = true;
	hv_log(HV_LOG_DEBUG, "ring %u closed with data queued: delivering "
	       "it first", r->handle);
	return true;
}

/* Arm every queue that can take no more from us now; false if one has
 * data after all (the engine stays awake). */
static bool arm_all(struct hv_shard *sh)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &sh->active) {
		struct hv_ring *r = container_of(pos, struct hv_ring, active);

		if (r->eof || r->stalled || r->dying)
			continue;
		/* Only an empty queue's doorbell holds nothing but tokens: a
		 * waiting sender's fill is emptied when its room comes. */
		if (v4v_ring_pending(&r->txq))
			return false;
		/* Only doorbells seen readable: with thousands of queues a
		 * system call each would make every sleep cost milliseconds.
		 * A token that came unseen stays and wakes us at once, to
		 * be drained next time: a wake-up for nothing, never lost. */
		if (r->bell_hot) {
			r->bell_hot = false;
			hv_bell_drain(r->bell);
		}
		if (!v4v_ring_arm(&r->txq))
			return false;
		/* A FIN set after this pass looked, whose token the drain
		 * just took (found by tests/model/engine.pml).  A datagram
		 * queue has no end: its flag means nothing. */
		if (!r->dgram_q &&
		    (v4v_ring_tx_flags(&r->txq.r) & V4V_RING_TX_FIN))
			return false;
	}
	return true;
}

/* Every active queue once, each at most a turn; true if any moved. */
static bool pass(struct hv_shard *sh)
{
	struct list *pos, *tmp;
	bool work = false;

	list_for_each_safe(pos, tmp, &sh->active) {
		struct hv_ring *r = container_of(pos, struct hv_ring, active);

		/* A dying ring is stalled: its reader's NOTIFY ends it. */
		if (r->eof || r->stalled || r->dying)
			continue;
		if (copy_turn(r))
			work = true;
	}
	return work;
}

/*
 * The engine's work after the loop's events: passes over the active
 * queues, each queue bounded per pass.  Returns 0 after work (poll
 * again), 1 with nothing to do in the idle window (the caller yields the
 * CPU, with the lock dropped, and polls again), -1 asleep: every queue
 * armed, the next doorbell or request wakes it.
 */
int hv_shard_turn(struct hv_shard *sh)
{
	uint64_t t0, now;
	bool work, any = false;

	if (!sh->awake)
		return -1;
	t0 = now_ns();
	/* Passes while there is work, for up to PASS_NS: a pass is cheap,
	 * a trip through epoll is not, but control requests wait for it. */
	do {
		work = pass(sh);
		any |= work;
		now = now_ns();
	} while (work && now - t0 < PASS_NS);
	if (any) {
		sh->busy_ns += now - t0;
		sh->last_work_ns = now;
		return 0;
	}
	if (now - sh->last_work_ns <
	    (uint64_t)sh->hv->cfg.copy_idle_us * 1000u)
		return 1;
	if (!arm_all(sh)) {
		sh->last_work_ns = now;
		return 0;
	}
	sh->awake = false;
	return -1;
}
