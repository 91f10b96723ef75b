/* SPDX-License-Identifier: MIT */
/*
 * The V4V ring: one receiver-owned circular buffer of 16-byte slots.
 *
 * Memory layout (all little-endian, see docs/protocol.md):
 *
 *   offset   0  cache line owned by the consumer: magic, version, size,
 *               rx_ptr, rx_flags
 *   offset  64  cache line owned by the producer: tx_ptr, tx_flags,
 *               tx_bytes
 *   offset 128  data area, `size` bytes, size a multiple of 16
 *
 * A message is a 16-byte header {len, source address, message type}
 * followed by the payload, padded to a multiple of 16; it may wrap at the
 * end of the data area.  rx == tx means empty; the producer never fills the
 * last slot, so a full ring is never mistaken for an empty one.
 *
 * Trust: shared memory may be written by a hostile party at any time.  The
 * producer keeps its tx position privately and treats the published rx_ptr
 * as a hint it sanitizes; the consumer keeps its rx position privately and
 * validates tx_ptr and every header (copy, then validate) before use.  A
 * corrupted ring can only hurt the messages in that ring.
 *
 * Concurrency: one producer and one consumer at a time; callers serialize
 * several threads on either side themselves.  This file depends on nothing
 * above it.
 */
#ifndef V4V_RING_H
#define V4V_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "v4v/addr.h"

#define V4V_RING_MAGIC 0x4e523456u /* "V4RN" */
#define V4V_RING_VERSION 1u
#define V4V_RING_HDR_SIZE 128u
#define V4V_RING_SLOT 16u
#define V4V_RING_MSG_HDR 16u
/* Smallest and largest data areas the ring code accepts. */
#define V4V_RING_MIN_SIZE 256u
#define V4V_RING_MAX_SIZE (1u << 30)

/* rx_flags: the consumer found the ring empty and holds no doorbell token:
 * the producer must ring the doorbell after its next insert. */
#define V4V_RING_RX_ARMED 1u
/* rx_flags: the consumer will read no more (closed): producers get EPIPE. */
#define V4V_RING_RX_CLOSED 2u
/* rx_flags: the consumer is polling the ring right now: an armed ring
 * needs no doorbell (virtio-style event suppression).  It clears the flag,
 * fences and looks again before it stops polling. */
#define V4V_RING_RX_SPINNING 4u
/* rx_flags, in a datagram socket's transmit queue (v4vd sets it, the
 * socket clears it): a queued datagram was refused, or the destination
 * the socket queues to may be gone: send the next one by SEND. */
#define V4V_RING_RX_RECHECK 8u
/* rx_flags bits 4-31: the position the consumer armed at (positions are
 * multiples of 16).  A producer rings only for a message inserted at that
 * position: one the consumer took by polling before the producer looked
 * at the flag needs no doorbell, and gets none (a stale one would make
 * the descriptor readable with nothing to read). */
#define V4V_RING_RX_FLAG_BITS 0xfu
/* tx_flags: a producer failed for lack of space and waits to be notified
 * when the consumer frees some. */
#define V4V_RING_TX_WAITING 1u
/* tx_flags: the producer will send no more; after the data, end of file. */
#define V4V_RING_TX_FIN 2u
/* tx_flags: the connection was aborted: discard the data, ECONNRESET. */
#define V4V_RING_TX_RST 4u
/* tx_flags (set by v4vd with FIN or RST): the producer's socket is gone,
 * so nobody reads what the consumer sends back: its first send is
 * answered as TCP answers it, with a reset. */
#define V4V_RING_TX_GONE 8u

struct v4v_ring_shared {
	uint32_t magic;
	uint32_t version;
	uint32_t size; /* informational: both sides keep their own copy */
	uint32_t rx_ptr;
	uint32_t rx_flags;
	/* The pid of the consumer process that holds the ring, 0 if none:
	 * for consumers of one ring in several processes (a listener after
	 * fork), on rings only the hypervisor produces into (libv4v). */
	int32_t rx_owner;
	uint8_t pad0[64 - 6 * 4];
	uint32_t tx_ptr;
	uint32_t tx_flags;
	/* Payload bytes ever committed: statistics only (v4v status), never
	 * used to index memory; a hostile producer can only lie about its
	 * own traffic. */
	uint64_t tx_bytes;
	uint8_t pad1[64 - 2 * 4 - 8];
};

/* The 16-byte message header as stored in the ring. */
struct v4v_ring_msghdr {
	uint32_t len; /* header + payload, unpadded */
	struct v4v_addr source;
	uint32_t message_type;
};

/* A private view of a ring: the size is fixed when the view is made and is
 * never read back from shared memory. */
struct v4v_ring {
	struct v4v_ring_shared *sh;
	uint8_t *data;
	uint32_t size;
};

struct v4v_ring_prod {
	struct v4v_ring r;
	uint32_t tx;
};

struct v4v_ring_cons {
	struct v4v_ring r;
	uint32_t rx;
};

/* A validated message at the consumer's position. */
struct v4v_ring_msg {
	uint32_t payload_len;
	uint32_t message_type;
	struct v4v_addr source;
};

/* Bytes of memory a ring with `size` data bytes needs. */
static inline size_t v4v_ring_mem_size(uint32_t size)
{
	return (size_t)V4V_RING_HDR_SIZE + size;
}

/* The largest payload a ring of `size` data bytes can ever hold. */
static inline uint32_t v4v_ring_max_payload(uint32_t size)
{
	return size - V4V_RING_SLOT - V4V_RING_MSG_HDR;
}

/* Streams: the smallest piece a writer inserts when the ring is nearly
 * full (waiting for more room beats flooding the ring with tiny
 * messages): 4 KiB, or in a ring too small for that to leave room for
 * pipelining, half its largest message.  Writer and reader must agree on
 * it: a writer that may not insert waits, and its reader wakes it only
 * once this much fits (v4v_ring_chunk_fits). */
static inline uint32_t v4v_ring_min_chunk(uint32_t size)
{
	uint32_t half = v4v_ring_max_payload(size) / 2 & ~(V4V_RING_SLOT - 1);

	return half < 4096u ? half : 4096u;
}

/* 0 if `size` is acceptable for a data area, else -EINVAL. */
int v4v_ring_size_check(uint32_t size);

/* Format fresh ring memory (done by the owner before registering). */
void v4v_ring_format(void *mem, uint32_t size);
/* Memory for `nrings` rings of `size` data bytes each, back to back (ring
 * i at i * v4v_ring_mem_size(size)): a memfd sized for them and sealed
 * against shrinking and growing (what v4vd accepts), close-on-exec.
 * Returns the descriptor or a negative errno. */
int v4v_ring_memfd(uint32_t size, unsigned nrings);

/* Make a private view of `mem` (at least v4v_ring_mem_size(size) bytes).
 * Does not trust the header: the caller supplies the size. */
int v4v_ring_view(struct v4v_ring *r, void *mem, size_t memlen,
		  uint32_t size);

/* Producer side.  Start at the position the ring was formatted with. */
void v4v_ring_prod_init(struct v4v_ring_prod *p, const struct v4v_ring *r);

/* Insert one message.  Returns 0, -EAGAIN (no space now), -EMSGSIZE (can
 * never fit), -EPIPE (the consumer closed) or -EINVAL (bad iovec).  *kick is set when the consumer asked
 * for a doorbell and the caller must ring it. */
int v4v_ring_insert(struct v4v_ring_prod *p, const struct v4v_addr *src,
		    uint32_t message_type, const struct iovec *iov,
		    int iovcnt, bool *kick);

/* Free payload bytes for one more message right now. */
uint32_t v4v_ring_space(const struct v4v_ring_prod *p);

/* Two-step insert, for a producer that fills the payload in place (for
 * example straight from a socket): reserve describes up to `max` payload
 * bytes of free ring as one or two pieces (the ring may wrap) and returns
 * how many pieces, 0 if there is no room; commit then publishes a message
 * of `len` (at most what was reserved) bytes.  Nothing is visible to the
 * consumer before commit. */
int v4v_ring_reserve(const struct v4v_ring_prod *p, uint32_t max,
		     struct iovec iov[2]);
void v4v_ring_commit(struct v4v_ring_prod *p, const struct v4v_addr *src,
		     uint32_t message_type, uint32_t len, bool *kick);

/* Announce that a producer waits for `need` payload bytes of space.
 * Returns true if the space is already there (no need to wait). */
bool v4v_ring_want_space(struct v4v_ring_prod *p, uint32_t need);

/* Consumer side. */
void v4v_ring_cons_init(struct v4v_ring_cons *c, const struct v4v_ring *r);

/* Look at the next message.  Returns 1 and fills *m, 0 if the ring is
 * empty, -EBADMSG if the producer's tx_ptr or the message header is
 * invalid (the ring is corrupt and must be dropped). */
int v4v_ring_peek(struct v4v_ring_cons *c, struct v4v_ring_msg *m);

/* Copy `n` payload bytes starting at `off` of the message just peeked. */
void v4v_ring_read(const struct v4v_ring_cons *c, uint32_t off, void *dst,
		   size_t n);

/* Copy payload bytes [off, off + len) into an iovec; returns bytes copied. */
size_t v4v_ring_readv(const struct v4v_ring_cons *c,
		      const struct v4v_ring_msg *m, uint32_t off,
		      const struct iovec *iov, int iovcnt);

/* Where payload byte `off` of the message just peeked lies in the data
 * area: *at points there; returns how many payload bytes from there are
 * contiguous (up to the message's end or the ring's wrap), 0 if off is at
 * or past the end.  For consumers that hand the bytes on without copying
 * them (a DMA engine); they stay valid until the message is consumed. */
size_t v4v_ring_span(const struct v4v_ring_cons *c,
		     const struct v4v_ring_msg *m, uint32_t off,
		     const void **at);

/* Move a private copy of a consumer past the message it just peeked,
 * publishing nothing: to look further into the ring than the consumer's
 * position. */
void v4v_ring_walk_next(struct v4v_ring_cons *walk,
			const struct v4v_ring_msg *m);

/* Drop the message just peeked.  Returns true if a producer waits for
 * space and must be notified. */
bool v4v_ring_consume(struct v4v_ring_cons *c, const struct v4v_ring_msg *m);

/* Ask for a doorbell on the next insert.  Returns true if the ring is still
 * empty afterwards (safe to sleep), false if data arrived meanwhile (the
 * flag is withdrawn). */
bool v4v_ring_arm(struct v4v_ring_cons *c);
/* The same; when data raced in, *rung says a producer took ARMED first
 * and owes a doorbell (else the caller must make its own). */
bool v4v_ring_arm_rung(struct v4v_ring_cons *c, bool *rung);
/* Consumer that took messages while armed (found by polling), at an empty
 * ring: move the arm to its position, so that the producer of what it
 * took does not ring for it.  Returns 1 if armed here and still empty;
 * 0 if data raced in (*rung as for arm_rung); -1 if a producer took
 * ARMED first and owes a doorbell (nothing changed). */
int v4v_ring_arm_move(struct v4v_ring_cons *c, bool *rung);

/* Bytes currently queued (headers and padding included). */
uint32_t v4v_ring_used(const struct v4v_ring_cons *c);
/* Does a waiting stream writer's piece (v4v_ring_min_chunk) fit now? */
static inline bool v4v_ring_chunk_fits(const struct v4v_ring_cons *c)
{
	return c->r.size - v4v_ring_used(c) - V4V_RING_SLOT >=
	       V4V_RING_MSG_HDR + v4v_ring_min_chunk(c->r.size);
}

/* Consumer: start and stop polling the ring (see RX_SPINNING).  After
 * spin_end, the caller must look at the ring again. */
void v4v_ring_spin_begin(struct v4v_ring_cons *c);
void v4v_ring_spin_end(struct v4v_ring_cons *c);
/* Consumer: is a doorbell still owed to us (ARMED set, nobody rang)? */
bool v4v_ring_armed(const struct v4v_ring_cons *c);
/* Consumer: withdraw ARMED; true if we took it (so no producer rang). */
bool v4v_ring_disarm(struct v4v_ring_cons *c);

/* Consumer: take up the published rx_ptr as our position (another
 * process consumed); false, and no change, if it is not a valid one. */
bool v4v_ring_cons_resync(struct v4v_ring_cons *c);
/* Producer: take up the published tx_ptr as our position (another process
 * produced); false, and no change, if it is not a valid one.  Whoever can
 * write the header can only misplace messages of this ring. */
bool v4v_ring_prod_resync(struct v4v_ring_prod *p);
/* The consumer's published position: a third party notices whether
 * anybody reads by it (a hint, as v4v_ring_tx_mark). */
uint32_t v4v_ring_rx_mark(const struct v4v_ring *r);

/* Payload bytes of all complete, valid messages queued now (stops at the
 * first invalid header). */
uint32_t v4v_ring_pending(const struct v4v_ring_cons *c);

/* Set and read the one-way flags above (atomic; any side may call). */
void v4v_ring_set_rx_flag(const struct v4v_ring *r, uint32_t flag);
/* Clear `flag` in rx_flags; true if it was set. */
bool v4v_ring_take_rx_flag(const struct v4v_ring *r, uint32_t flag);
void v4v_ring_set_tx_flag(const struct v4v_ring *r, uint32_t flag);
uint32_t v4v_ring_rx_flags(const struct v4v_ring *r);
uint32_t v4v_ring_tx_flags(const struct v4v_ring *r);
/* Producer: start from position `tx` (taken over from the hypervisor). */
int v4v_ring_prod_start(struct v4v_ring_prod *p, uint32_t tx);
/* Producer: is the ring empty right now (as far as the hint tells)? */
bool v4v_ring_prod_empty(const struct v4v_ring_prod *p);
/* A third party's view: do the published positions say empty?  Only a
 * hint (both are written by others); never used to index memory. */
bool v4v_ring_looks_empty(const struct v4v_ring *r);
/* The producer's published position: a third party notices progress by
 * it (a hint, as above). */
uint32_t v4v_ring_tx_mark(const struct v4v_ring *r);

#endif
