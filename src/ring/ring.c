/* SPDX-License-Identifier: MIT */
/*
 * The V4V ring: insert, copy-out and validation.  See ring.h for the
 * layout and the trust rules; docs/protocol.md for the bytes.
 */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define load_acq(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define store_rel(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define full_fence() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline uint32_t round_slot(uint32_t n)
{
	return (n + V4V_RING_SLOT - 1) & ~(V4V_RING_SLOT - 1);
}

/* Bytes between two positions going forward, both already in range. */
static inline uint32_t ring_dist(uint32_t from, uint32_t to, uint32_t size)
{
	return to >= from ? to - from : size - from + to;
}

static inline uint32_t ring_advance(uint32_t pos, uint32_t n, uint32_t size)
{
	/* n <= size, pos < size: no overflow since size <= 2^30. */
	pos += n;
	return pos >= size ? pos - size : pos;
}

static inline bool pos_valid(uint32_t pos, uint32_t size)
{
	return pos < size && (pos & (V4V_RING_SLOT - 1)) == 0;
}

/* Copy into the data area at `pos`, wrapping at the end. */
static void copy_in(const struct v4v_ring *r, uint32_t pos, const void *src,
		    size_t n)
{
	size_t first = r->size - pos;

	/* An empty iovec may have a NULL base: memcpy must not see it. */
	if (!n)
		return;
	if (n <= first) {
		memcpy(r->data + pos, src, n);
	} else {
		memcpy(r->data + pos, src, first);
		memcpy(r->data, (const uint8_t *)src + first, n - first);
	}
}

static void copy_out(const struct v4v_ring *r, uint32_t pos, void *dst,
		     size_t n)
{
	size_t first = r->size - pos;

	if (!n)
		return;
	if (n <= first) {
		memcpy(dst, r->data + pos, n);
	} else {
		memcpy(dst, r->data + pos, first);
		memcpy((uint8_t *)dst + first, r->data, n - first);
	}
}

int v4v_ring_size_check(uint32_t size)
{
	if (size < V4V_RING_MIN_SIZE || size > V4V_RING_MAX_SIZE)
		return -EINVAL;
	if (size % V4V_RING_SLOT)
		return -EINVAL;
	return 0;
}

void v4v_ring_format(void *mem, uint32_t size)
{
	struct v4v_ring_shared *sh = mem;

	memset(sh, 0, sizeof(*sh));
	sh->magic = V4V_RING_MAGIC;
	sh->version = V4V_RING_VERSION;
	sh->size = size;
}

int v4v_ring_memfd(uint32_t size, unsigned nrings)
{
	int fd = memfd_create("v4v-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING), e;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(v4v_ring_mem_size(size) * nrings)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int v4v_ring_view(struct v4v_ring *r, void *mem, size_t memlen, uint32_t size)
{
	if (v4v_ring_size_check(size) || memlen < v4v_ring_mem_size(size))
		return -EINVAL;
	r->sh = mem;
	r->data = (uint8_t *)mem + V4V_RING_HDR_SIZE;
	r->size = size;
	return 0;
}

void v4v_ring_prod_init(struct v4v_ring_prod *p, const struct v4v_ring *r)
{
	p->r = *r;
	p->tx = 0;
}

/*
 * The consumer's rx_ptr is only a hint.  An invalid one can only come from
 * the ring's owner damaging its own ring; like Argo, treat the ring as
 * empty from our position so the owner, and nobody else, loses messages.
 */
static uint32_t sane_rx(const struct v4v_ring_prod *p)
{
	uint32_t rx = load_acq(&p->r.sh->rx_ptr);

	return pos_valid(rx, p->r.size) ? rx : p->tx;
}

static uint32_t free_bytes(const struct v4v_ring_prod *p, uint32_t rx)
{
	/* One slot always stays empty so that rx == tx means empty. */
	return p->r.size - ring_dist(rx, p->tx, p->r.size) - V4V_RING_SLOT;
}

uint32_t v4v_ring_space(const struct v4v_ring_prod *p)
{
	uint32_t f = free_bytes(p, sane_rx(p));

	return f > V4V_RING_MSG_HDR ? (f - V4V_RING_MSG_HDR) & ~(V4V_RING_SLOT - 1)
				   : 0;
}

static int iov_total(const struct v4v_ring_prod *p, const struct iovec *iov,
		     int iovcnt, uint32_t *out)
{
	size_t total = 0;

	if (iovcnt < 0 || (iovcnt > 0 && !iov))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > v4v_ring_max_payload(p->r.size) ||
		    total + iov[i].iov_len > v4v_ring_max_payload(p->r.size))
			return -EMSGSIZE;
		total += iov[i].iov_len;
	}
	*out = (uint32_t)total;
	return 0;
}

int v4v_ring_insert(struct v4v_ring_prod *p, const struct v4v_addr *src,
		    uint32_t message_type, const struct iovec *iov, int iovcnt,
		    bool *kick)
{
	uint32_t len, need, pos;
	int rc;

	*kick = false;
	rc = iov_total(p, iov, iovcnt, &len);
	if (rc)
		return rc;
	if (load_relaxed(&p->r.sh->rx_flags) & V4V_RING_RX_CLOSED)
		return -EPIPE;
	need = round_slot(V4V_RING_MSG_HDR + len);
	if (need > free_bytes(p, sane_rx(p)))
		return -EAGAIN;

	pos = ring_advance(p->tx, V4V_RING_MSG_HDR, p->r.size);
	for (int i = 0; i < iovcnt; i++) {
		copy_in(&p->r, pos, iov[i].iov_base, iov[i].iov_len);
		pos = ring_advance(pos, (uint32_t)iov[i].iov_len, p->r.size);
	}
	v4v_ring_commit(p, src, message_type, len, kick);
	return 0;
}

int v4v_ring_reserve(const struct v4v_ring_prod *p, uint32_t max,
		     struct iovec iov[2])
{
	uint32_t room = v4v_ring_space(p);
	uint32_t pos = ring_advance(p->tx, V4V_RING_MSG_HDR, p->r.size);
	uint32_t first;

	if (room > max)
		room = max;
	if (!room)
		return 0;
	first = p->r.size - pos;
	iov[0].iov_base = p->r.data + pos;
	if (room <= first) {
		iov[0].iov_len = room;
		return 1;
	}
	iov[0].iov_len = first;
	iov[1].iov_base = p->r.data;
	iov[1].iov_len = room - first;
	return 2;
}

void v4v_ring_commit(struct v4v_ring_prod *p, const struct v4v_addr *src,
		     uint32_t message_type, uint32_t len, bool *kick)
{
	struct v4v_ring_msghdr h = {
		.len = V4V_RING_MSG_HDR + len,
		.source = *src,
		.message_type = message_type,
	};
	uint32_t start = p->tx, f;

	*kick = false;
	h.source.pad = 0;
	copy_in(&p->r, p->tx, &h, sizeof(h));
	p->tx = ring_advance(p->tx, round_slot(h.len), p->r.size);
	__atomic_store_n(&p->r.sh->tx_bytes,
			 __atomic_load_n(&p->r.sh->tx_bytes, __ATOMIC_RELAXED) +
				 len, __ATOMIC_RELAXED);
	store_rel(&p->r.sh->tx_ptr, p->tx);

	/* Pairs with the fence in v4v_ring_arm: either the consumer sees our
	 * tx_ptr, or we see its ARMED flag.  Only one side clears it, and we
	 * only if the consumer armed where this message starts: if it has
	 * taken the message already and armed further on, it wants no
	 * doorbell for it. */
	full_fence();
	f = load_relaxed(&p->r.sh->rx_flags);
	if ((f & (V4V_RING_RX_ARMED | V4V_RING_RX_SPINNING)) ==
		    V4V_RING_RX_ARMED &&
	    (f & ~V4V_RING_RX_FLAG_BITS) == start)
		*kick = __atomic_compare_exchange_n(
			&p->r.sh->rx_flags, &f, f & ~V4V_RING_RX_ARMED, false,
			__ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

bool v4v_ring_want_space(struct v4v_ring_prod *p, uint32_t need)
{
	uint32_t total;

	/* A message that can never fit must not wait for space forever, and
	 * need + header must not wrap to a small total: say "don't wait" and
	 * let the insert report -EMSGSIZE. */
	if (need > v4v_ring_max_payload(p->r.size))
		return true;
	total = round_slot(V4V_RING_MSG_HDR + need);
	__atomic_fetch_or(&p->r.sh->tx_flags, V4V_RING_TX_WAITING,
			  __ATOMIC_SEQ_CST);
	full_fence();
	return total <= free_bytes(p, sane_rx(p));
}

void v4v_ring_cons_init(struct v4v_ring_cons *c, const struct v4v_ring *r)
{
	c->r = *r;
	c->rx = 0;
}

bool v4v_ring_cons_resync(struct v4v_ring_cons *c)
{
	uint32_t rx = load_acq(&c->r.sh->rx_ptr);

	if (!pos_valid(rx, c->r.size))
		return false;
	c->rx = rx;
	return true;
}

bool v4v_ring_prod_resync(struct v4v_ring_prod *p)
{
	uint32_t tx = load_acq(&p->r.sh->tx_ptr);

	if (!pos_valid(tx, p->r.size))
		return false;
	p->tx = tx;
	return true;
}

uint32_t v4v_ring_used(const struct v4v_ring_cons *c)
{
	uint32_t tx = load_acq(&c->r.sh->tx_ptr);

	if (!pos_valid(tx, c->r.size))
		return 0;
	return ring_dist(c->rx, tx, c->r.size);
}

int v4v_ring_peek(struct v4v_ring_cons *c, struct v4v_ring_msg *m)
{
	struct v4v_ring_msghdr h;
	uint32_t tx = load_acq(&c->r.sh->tx_ptr);
	uint32_t used;

	if (!pos_valid(tx, c->r.size))
		return -EBADMSG;
	if (tx == c->rx)
		return 0;
	used = ring_dist(c->rx, tx, c->r.size);
	if (used < V4V_RING_MSG_HDR)
		return -EBADMSG;
	/* Copy first: the producer may rewrite the header under us. */
	copy_out(&c->r, c->rx, &h, sizeof(h));
	if (h.len < V4V_RING_MSG_HDR || h.len > used ||
	    round_slot(h.len) > used)
		return -EBADMSG;
	m->payload_len = h.len - V4V_RING_MSG_HDR;
	m->message_type = h.message_type;
	m->source = h.source;
	m->source.pad = 0;
	return 1;
}

uint32_t v4v_ring_pending(const struct v4v_ring_cons *c)
{
	struct v4v_ring_cons walk = *c;
	struct v4v_ring_msg m;
	uint32_t total = 0;

	/* Walk a private copy: the consumer's position does not move. */
	while (v4v_ring_peek(&walk, &m) == 1) {
		total += m.payload_len;
		v4v_ring_walk_next(&walk, &m);
	}
	return total;
}

void v4v_ring_read(const struct v4v_ring_cons *c, uint32_t off, void *dst,
		   size_t n)
{
	uint32_t pos = ring_advance(c->rx, V4V_RING_MSG_HDR, c->r.size);

	copy_out(&c->r, ring_advance(pos, off, c->r.size), dst, n);
}

size_t v4v_ring_readv(const struct v4v_ring_cons *c,
		      const struct v4v_ring_msg *m, uint32_t off,
		      const struct iovec *iov, int iovcnt)
{
	size_t done = 0;

	if (off >= m->payload_len)
		return 0;
	for (int i = 0; i < iovcnt && off < m->payload_len; i++) {
		size_t n = iov[i].iov_len;

		if (n > m->payload_len - off)
			n = m->payload_len - off;
		v4v_ring_read(c, off, iov[i].iov_base, n);
		off += (uint32_t)n;
		done += n;
	}
	return done;
}

size_t v4v_ring_span(const struct v4v_ring_cons *c,
		     const struct v4v_ring_msg *m, uint32_t off,
		     const void **at)
{
	uint32_t pos, n;

	if (off >= m->payload_len)
		return 0;
	pos = ring_advance(ring_advance(c->rx, V4V_RING_MSG_HDR, c->r.size),
			   off, c->r.size);
	n = m->payload_len - off;
	*at = c->r.data + pos;
	return n < c->r.size - pos ? n : c->r.size - pos;
}

void v4v_ring_walk_next(struct v4v_ring_cons *walk,
			const struct v4v_ring_msg *m)
{
	walk->rx = ring_advance(walk->rx,
				round_slot(V4V_RING_MSG_HDR + m->payload_len),
				walk->r.size);
}

bool v4v_ring_consume(struct v4v_ring_cons *c, const struct v4v_ring_msg *m)
{
	v4v_ring_walk_next(c, m);
	store_rel(&c->r.sh->rx_ptr, c->rx);
	/* Pairs with the fence in v4v_ring_want_space. */
	full_fence();
	if (!(load_relaxed(&c->r.sh->tx_flags) & V4V_RING_TX_WAITING))
		return false;
	return __atomic_fetch_and(&c->r.sh->tx_flags, ~V4V_RING_TX_WAITING,
				  __ATOMIC_ACQ_REL) &
	       V4V_RING_TX_WAITING;
}

/* Compare-and-swap attempts before arm_at_rx stops being polite: the
 * producer may rewrite rx_flags at will, and a hostile one must not keep
 * the consumer spinning. */
#define ARM_TRIES 16

/* Set ARMED at our position (if must_be_armed, only while it is still
 * set), fence, and look again.  Returns as v4v_ring_arm_move. */
static int arm_at_rx(struct v4v_ring_cons *c, bool must_be_armed,
		     bool *rung)
{
	uint32_t f = load_relaxed(&c->r.sh->rx_flags), n;
	int tries = 0;

	*rung = false;
	for (;;) {
		if (must_be_armed && !(f & V4V_RING_RX_ARMED))
			return -1;
		n = (f & V4V_RING_RX_FLAG_BITS) | V4V_RING_RX_ARMED | c->rx;
		if (f == n || __atomic_compare_exchange_n(&c->r.sh->rx_flags,
							  &f, n, false,
							  __ATOMIC_SEQ_CST,
							  __ATOMIC_RELAXED))
			break;
		if (++tries == ARM_TRIES) {
			/* The word keeps changing under us: only a hostile
			 * producer does that.  Conditional: give up (the
			 * caller waits for a token, briefly).  Otherwise
			 * take the word; an honest producer's kick that
			 * this overwrites at worst leaves a stale token. */
			if (must_be_armed)
				return -1;
			__atomic_store_n(&c->r.sh->rx_flags, n,
					 __ATOMIC_SEQ_CST);
			break;
		}
	}
	full_fence();
	if (load_acq(&c->r.sh->tx_ptr) == c->rx)
		return 1;
	/* Whoever clears ARMED owns the doorbell: we, or a producer that
	 * saw the flag first and now rings. */
	*rung = !(__atomic_fetch_and(&c->r.sh->rx_flags, ~V4V_RING_RX_ARMED,
				     __ATOMIC_ACQ_REL) &
		  V4V_RING_RX_ARMED);
	return 0;
}

bool v4v_ring_arm_rung(struct v4v_ring_cons *c, bool *rung)
{
	return arm_at_rx(c, false, rung) == 1;
}

int v4v_ring_arm_move(struct v4v_ring_cons *c, bool *rung)
{
	uint32_t f = load_relaxed(&c->r.sh->rx_flags);

	*rung = false;
	if (!(f & V4V_RING_RX_ARMED))
		return -1;
	if ((f & ~V4V_RING_RX_FLAG_BITS) == c->rx)
		return 1; /* took nothing since arming */
	return arm_at_rx(c, true, rung);
}

bool v4v_ring_arm(struct v4v_ring_cons *c)
{
	bool rung;

	return v4v_ring_arm_rung(c, &rung);
}

void v4v_ring_set_rx_flag(const struct v4v_ring *r, uint32_t flag)
{
	__atomic_fetch_or(&r->sh->rx_flags, flag, __ATOMIC_SEQ_CST);
}

bool v4v_ring_take_rx_flag(const struct v4v_ring *r, uint32_t flag)
{
	if (!(load_relaxed(&r->sh->rx_flags) & flag))
		return false;
	return __atomic_fetch_and(&r->sh->rx_flags, ~flag, __ATOMIC_ACQ_REL) &
	       flag;
}

void v4v_ring_set_tx_flag(const struct v4v_ring *r, uint32_t flag)
{
	__atomic_fetch_or(&r->sh->tx_flags, flag, __ATOMIC_SEQ_CST);
}

uint32_t v4v_ring_rx_flags(const struct v4v_ring *r)
{
	return load_acq(&r->sh->rx_flags);
}

uint32_t v4v_ring_tx_flags(const struct v4v_ring *r)
{
	return load_acq(&r->sh->tx_flags);
}

int v4v_ring_prod_start(struct v4v_ring_prod *p, uint32_t tx)
{
	if (!pos_valid(tx, p->r.size))
		return -EINVAL;
	p->tx = tx;
	return 0;
}

bool v4v_ring_prod_empty(const struct v4v_ring_prod *p)
{
	return sane_rx(p) == p->tx;
}

bool v4v_ring_looks_empty(const struct v4v_ring *r)
{
	return load_acq(&r->sh->rx_ptr) == load_acq(&r->sh->tx_ptr);
}

uint32_t v4v_ring_tx_mark(const struct v4v_ring *r)
{
	return load_acq(&r->sh->tx_ptr);
}

uint32_t v4v_ring_rx_mark(const struct v4v_ring *r)
{
	return load_acq(&r->sh->rx_ptr);
}

void v4v_ring_spin_begin(struct v4v_ring_cons *c)
{
	__atomic_fetch_or(&c->r.sh->rx_flags, V4V_RING_RX_SPINNING,
			  __ATOMIC_SEQ_CST);
}

void v4v_ring_spin_end(struct v4v_ring_cons *c)
{
	/* Pairs with the producer's fence: either it saw SPINNING clear
	 * (and rings if armed) or our next look sees its data. */
	__atomic_fetch_and(&c->r.sh->rx_flags, ~V4V_RING_RX_SPINNING,
			   __ATOMIC_SEQ_CST);
	full_fence();
}

bool v4v_ring_armed(const struct v4v_ring_cons *c)
{
	return load_acq(&c->r.sh->rx_flags) & V4V_RING_RX_ARMED;
}

bool v4v_ring_disarm(struct v4v_ring_cons *c)
{
	return __atomic_fetch_and(&c->r.sh->rx_flags, ~V4V_RING_RX_ARMED,
				  __ATOMIC_ACQ_REL) &
	       V4V_RING_RX_ARMED;
}
