/* SPDX-License-Identifier: MIT */
/*
 * libv4v internals: the state behind each V4V socket.
 *
 * The application's descriptor is `fd`, one end of an AF_UNIX stream pair
 * (the doorbell); `bell` is our reference to the other end, which the
 * hypervisor also holds.  Readiness of `fd` is kept exact by the ring's
 * flags (see bell.c): readable iff the receive ring holds a message,
 * writable unless a send is blocked for lack of space.
 */
#ifndef V4V_LIB_SOCK_H
#define V4V_LIB_SOCK_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"
#include "ring/ring.h"
#include "v4v/link.h"
#include "v4v/socket.h"

/* The message_type of datagrams (docs/protocol.md). */
#define V4V_MT_DGRAM 0x44475231u /* "1RGD" */
/* A socket's busy-poll budget where nobody set one (sock.c). */
#define BUSY_DEFAULT (-1)

enum stream_state { ST_NEW, ST_LISTEN, ST_CONNECTED };

/*
 * Locking.  Each field of struct v4v_sock and struct stream_tx names what
 * protects it:
 *
 *   lock	s->lock: binding, connecting, listening, shutdown, options,
 *		the pending error
 *   rx_lock	s->rx_lock: the receive ring's consumer side (receive,
 *		accept, FIONREAD)
 *   tx_lock	s->tx_lock: the sending side (the producer's position, the
 *		doorbell fill)
 *   table	table_lock in sock.c: the descriptor table and references
 *   const	set before the socket can be used, then read-only: before
 *		sock_install, or, for what binding and connecting make,
 *		before the release store that publishes it (below)
 *   atomic	written under the lock named, read without it through
 *		__atomic loads; acquire where the reader goes on to use what
 *		the writer set before it
 *
 * A field under two locks is written with both held and read with
 * either.  sock_free runs once no reference is left and reads anything
 * without a lock.
 *
 * Publication: binding or connecting fills the ring (mem, cons), the
 * stream's grant (tx), local and peer under lock, then publishes them
 * with a release store: of `handle` for a datagram socket (found by
 * sock_ensure_bound), of `state` for a stream (ST_LISTEN, ST_CONNECTED).
 * A caller that loaded that with acquire reads them without a lock: none
 * changes again, except the positions, which rx_lock and tx_lock guard.
 *
 * Lock order: rx_lock, then lock, then tx_lock; table_lock and the link's
 * lock (link.c) are innermost.  A receive takes lock for the pending
 * error (take_err, die); connect takes rx_lock around lock to change a
 * datagram socket's peer; shutdown takes tx_lock inside lock to order the
 * end after the data.  Receives, accepts and sends drop their lock while
 * they sleep in poll; but a blocking strict send sleeps in sendmsg with
 * tx_lock, and a connect waiting for backlog room with lock.
 */

/* The sending side of a stream connection: the peer's ring.  Const (set by
 * take_grant under lock before state becomes ST_CONNECTED, or before an
 * accepted socket is installed) unless marked. */
struct stream_tx {
	bool direct;		/* we insert; else v4vd moves our writes */
	bool gone;		/* the peer closed before we accepted */
	bool dead;		/* atomic, set once under lock (with err):
				 * reset, nothing more either way */
	bool txq;		/* strict: the ring is our own transmit queue
				 * (in our ring's memory), which v4vd reads;
				 * we ring v4vd through our own socket */
	struct v4v_ring_prod prod; /* the position: tx_lock */
	void *mem;
	size_t memlen;
	int bell;		/* atomic, set once (take_grant, or peer_bell's
				 * compare-exchange): the peer's doorbell; -1
				 * if not direct, or not fetched yet */
	uint32_t port;		/* the peer's ring */
	uint32_t size;
};

struct v4v_sock {
	int fd;			/* const, but v4v_sock_alias (lock) and
				 * v4v_sock_move (table, before the
				 * application has the socket) replace it:
				 * a stale copy names the same open socket */
	int bell;		/* const */
	int type;		/* const: SOCK_DGRAM or SOCK_STREAM */
	uint64_t id;		/* const: never reused (v4v_sock_id) */
	int refs;		/* table: the table's and each call's */
	int aliases;		/* table: more descriptor numbers (dup): fd
				 * is then our private one */
	bool closing;		/* atomic, set once under table: see
				 * sock_closing */
	pthread_mutex_t lock;	/* binding, connecting, options */
	pthread_mutex_t rx_lock;/* the ring's consumer side */
	pthread_mutex_t tx_lock;/* sending */
	v4v_handle_t handle;	/* lock; a datagram socket's is published
				 * (release), a stream's const from
				 * ST_LISTEN or ST_CONNECTED on: the ring's
				 * link handle; 0 if unbound */
	struct v4v_addr local;	/* domid const; port lock, const once
				 * published */
	struct v4v_addr peer;	/* datagram: lock and rx_lock; stream:
				 * lock, const from ST_CONNECTED on */
	bool connected;		/* lock and rx_lock: a datagram socket's
				 * peer is set */
	bool filled;		/* tx_lock: doorbell filled, fd not
				 * writable */
	bool nonblock;		/* atomic (relaxed), no lock: a cache of
				 * O_NONBLOCK (see sock_nonblock) */
	bool passed;		/* atomic (relaxed), set once: passed with
				 * SCM_RIGHTS, so a process we cannot hear
				 * from may hold it (see forked.c) */
	uint32_t fork_slot;	/* atomic (relaxed), set once, in the fork
				 * handler: our entry in forked.c's table,
				 * 0 while no fork found us open */
	uint64_t nb_known;	/* atomic: with fork_slot, the O_NONBLOCK
				 * (bit 0) seen when the entry's count was
				 * bits 1-32; bit 33 set once valid */
	uint32_t drain_seen;	/* rx_lock: the entry's count at our last
				 * drain of the doorbell */
	bool token_late;	/* rx_lock: an owed token did not come in
				 * time and may land while we are armed */
	bool strict;		/* const: the hypervisor mediates all data */
	void *mem;		/* lock, const once published */
	size_t memlen;		/* lock, const once published */
	uint32_t ring_size;	/* lock, const once bound (set_rcvbuf) */
	uint32_t listen_ring;	/* lock: listener ring size, set by listen */
	uint32_t max_dgram;	/* const */
	struct v4v_ring_cons cons; /* the view (r): lock, const once
				    * published; the position: rx_lock */
	int rcvtimeo_ms;	/* atomic (relaxed), written under lock;
				 * -1: forever */
	int sndtimeo_ms;	/* atomic (relaxed), written under lock */
	int busy_us;		/* atomic (relaxed), written under lock;
				 * BUSY_DEFAULT: host or VM default (sock.c) */
	/* stream sockets */
	enum stream_state state;/* atomic, written under lock: release,
				 * read without it with acquire */
	uint32_t conid;		/* lock */
	uint32_t rx_off;	/* rx_lock: bytes already read of the
				 * current message */
	bool rd_shut;		/* atomic, written under lock */
	bool wr_shut;		/* atomic, written under lock, and tx_lock
				 * unless strict (stream_shutdown) */
	bool linger0;		/* lock: SO_LINGER {1, 0}: close aborts */
	int err;		/* lock: pending SO_ERROR, negative errno */
	int inet_fd;		/* lock: client: a bound TCP socket for
				 * CONNECT */
	uint16_t peer_inet_port;/* const: accepted: the client's TCP port,
				 * or 0 */
	struct v4vp_inet_addr peer_inet[2]; /* const: accepted: the client's
				 * address as our domain sees it, IPv4 and
				 * IPv6 (from v4vd, in the SYN) */
	struct stream_tx tx;	/* see struct stream_tx; a datagram
				 * socket's transmit queue (on a host, in
				 * both modes), set when bound */
	struct v4v_addr vouched;/* tx_lock: datagram: the destination of
				 * our last SEND, to which we may queue */
	uint32_t vouched_max;	/* tx_lock: the largest datagram it takes;
				 * 0: nothing vouched for */
	uint64_t zc_ahead;	/* rx_lock: bytes v4v_recv_zc handed out
				 * that recv_zc_done has not consumed */
	uint32_t zc_reserved;	/* tx_lock, held from v4v_send_zc to
				 * v4v_send_zc_done: bytes reserved */
	bool zc_held;		/* atomic, written under tx_lock: a
				 * reservation holds tx_lock */
};

/* The bytes msg's iovec holds. */
static inline size_t sock_iov_len(const struct msghdr *msg)
{
	size_t t = 0;

	for (size_t i = 0; i < msg->msg_iovlen; i++)
		t += msg->msg_iov[i].iov_len;
	return t;
}

/* v4v_close sets `closing`, then wakes the calls blocked on the socket:
 * they look at it on every pass, without table_lock. */
static inline bool sock_closing(const struct v4v_sock *s)
{
	return __atomic_load_n(&s->closing, __ATOMIC_ACQUIRE);
}

/* sock.c: the descriptor table.  sock_get takes a reference (NULL and
 * errno ENOTSOCK/EBADF if fd is not ours); sock_put drops it. */
struct v4v_sock *sock_get(int fd);
void sock_put(struct v4v_sock *s);
int sock_bind_ring(struct v4v_sock *s, uint32_t port);
int sock_ensure_bound(struct v4v_sock *s);
int sock_addr_in(const struct sockaddr *addr, socklen_t len,
		 struct v4v_addr *out);
void sock_addr_out(const struct v4v_addr *a, struct sockaddr *addr,
		   socklen_t *len);
/* Is the socket non-blocking for this call?  _hint answers from the
 * cache without a system call; sock_nonblock answers from it too where
 * the cache is known true (see there), else asks the kernel. */
bool sock_nonblock_hint(const struct v4v_sock *s, int flags);
bool sock_nonblock(struct v4v_sock *s, int flags);
/* Whether another process may hold the socket (after fork, or passed):
 * one that may have read or written it since we last did. */
bool sock_maybe_shared(const struct v4v_sock *s);
/* Such a process read (rx_lock held) or wrote (tx_lock held) the
 * connection: go on from the positions published in the rings. */
void sock_resync_rx(struct v4v_sock *s);
void sock_resync_tx(struct v4v_sock *s);
/* Whether another process may have written into the doorbell since
 * *seen (updated: read before the caller drains). */
bool sock_others_moved(struct v4v_sock *s, uint32_t *seen);
/* O_NONBLOCK was set or cleared by this process (interposed fcntl,
 * FIONBIO): the cache, and the other processes of the tree, learn it. */
void sock_nonblock_changed(struct v4v_sock *s);
/* This process wrote a token into the doorbell for no data (shutdown,
 * close): the other holders must drain before they trust it empty.
 * Called after the token is written: one that told them first could
 * have them drain before it lands, then trust a doorbell that is not
 * empty (a readiness for nothing, every time); told after, they may
 * wake once for nothing. */
void sock_bell_touched(struct v4v_sock *s);

/* forked.c: the tree's table of changes to sockets shared by fork. */
uint32_t forked_slot_of(uint64_t id);
uint32_t forked_count(uint32_t slot);
void forked_bump(uint32_t slot);

/* bell.c */
/* Take what waits in fd's receive queue (one fill); returns bytes. */
size_t bell_drain(int fd);
void bell_token(int bell);
/* Make fd unwritable by filling the doorbell towards the hypervisor;
 * returns the bytes written. */
uint32_t bell_fill(int fd);
bool bell_writable(int fd);
/* Wait for `events` on fd; 0 ready, -EAGAIN timed out, -EINTR. */
int bell_wait(int fd, short events, int timeout_ms);
/* After the consumer found the ring empty: arm the ring for a doorbell,
 * or, if data raced in, keep the descriptor readable.  Returns true if
 * the ring is empty and armed. */
bool bell_rx_rearm(struct v4v_sock *s);
/* Leaving a receive call: keep readiness exact for the next poller,
 * whether the ring is empty or not. */
void bell_rx_leave(struct v4v_sock *s);
/* The ring holds data found by polling: make the descriptor readable.
 * rx_lock held. */
void bell_rx_show(struct v4v_sock *s);
/* A ring that may already hold data (an accepted connection's): arm it,
 * or make the descriptor readable. */
void bell_rx_start(struct v4v_sock *s);
int bell_rx_wait(struct v4v_sock *s, int flags, bool spin, uint64_t *t0);

/* sock.c: helpers shared by the socket types */
struct v4v_sock *sock_alloc(int type);
int sock_make_doorbell(struct v4v_sock *s, int type_flags);
/* The receive ring (and, nrings 2, a strict connection's transmit queue
 * after it: the second ring of the memfd). */
int sock_ring_alloc(struct v4v_sock *s, int *memfd, unsigned nrings);
/* s->tx becomes our own transmit queue, the second ring of our ring's
 * memory, which v4vd reads (a strict stream's; a datagram socket's in
 * both modes). */
int sock_txq_start(struct v4v_sock *s);
struct v4v_link_mem;
/* A guest's ring lives where the hypervisor put it (link_proto.h):
 * remap there, and arm it, as a fresh ring is. */
int sock_ring_move(struct v4v_sock *s, struct v4v_link_mem *at,
		   unsigned nrings);
int sock_ring_map(struct v4v_sock *s, int memfd, uint64_t off,
		  uint32_t size, unsigned nrings);
int sock_install(struct v4v_sock *s);
void sock_unmap_ring(struct v4v_sock *s);
uint64_t sock_now_us(void);
int sock_time_left(int timeout_ms, uint64_t t0);
bool sock_busy_wait(struct v4v_sock *s);

/* stream.c */
int stream_bind(struct v4v_sock *s, const struct v4v_addr *a);
int stream_listen(struct v4v_sock *s, int backlog);
int stream_accept(struct v4v_sock *s, struct sockaddr *addr,
		  socklen_t *len, int flags);
int stream_connect(struct v4v_sock *s, const struct v4v_addr *dst);
ssize_t stream_sendmsg(struct v4v_sock *s, const struct msghdr *msg,
		       int flags);
ssize_t stream_recvmsg(struct v4v_sock *s, struct msghdr *msg, int flags);
int stream_shutdown(struct v4v_sock *s, int how);
void stream_so_error(struct v4v_sock *s);
bool stream_was_reset(struct v4v_sock *s);
int stream_fionread(struct v4v_sock *s);
void stream_release(struct v4v_sock *s);
/* For stream_zc.c, which shares the send and receive paths. */
/* Largest message a send inserts: small enough that the receiver copies
 * one chunk out while we copy the next in, on the other core. */
#define STREAM_MAX_CHUNK (128u * 1024u)
static inline uint32_t stream_min_chunk(const struct stream_tx *t)
{
	return v4v_ring_min_chunk(t->size);
}
long stream_send_check(struct v4v_sock *s, size_t total);
long stream_send_to_gone(struct v4v_sock *s, size_t len);
long stream_full_ring(struct v4v_sock *s);
long stream_send_turn(struct v4v_sock *s, int flags, uint64_t *t0,
		      long (*place)(struct v4v_sock *, void *), void *arg);
void stream_room_again(struct v4v_sock *s);
void stream_ring_peer(struct v4v_sock *s);
void stream_consumed(struct v4v_sock *s, const struct v4v_ring_msg *m);
/* Under rx_lock, the reader found nothing to take: wait for more.  1 to
 * look again, else what the receive ends with (0 at the end of the
 * stream, or -errno). */
long stream_rx_wait(struct v4v_sock *s, int flags, uint64_t *t0);

/* stream_zc.c: zero-copy stream I/O (v4v_recv_zc and friends) */
ssize_t stream_recv_zc(struct v4v_sock *s, const void **at, size_t max,
		       int flags);
int stream_recv_zc_done(struct v4v_sock *s, size_t n);
ssize_t stream_send_zc(struct v4v_sock *s, void **at, size_t max,
		       int flags);
int stream_send_zc_done(struct v4v_sock *s, size_t n);
int stream_zc_areas(struct v4v_sock *s, struct v4v_zc_area *rx,
		    struct v4v_zc_area *tx);

/* dgram.c */
ssize_t dgram_sendmsg(struct v4v_sock *s, const struct msghdr *msg,
		      int flags);
ssize_t dgram_recvmsg(struct v4v_sock *s, struct msghdr *msg, int flags);
int dgram_next_size(struct v4v_sock *s);

#include "lib/interposer.h"

/* Helpers returning -1 with errno set, in the BSD style. */
static inline long v4v_fail(int neg_errno)
{
	errno = -neg_errno;
	return -1;
}

#endif
