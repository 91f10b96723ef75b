/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the V4V ring (src/ring/ring.c).
 *
 * Every ring lives in an mmap'ed region with PROT_NONE guard pages on both
 * sides.  The ring is placed either flush against the trailing guard (an
 * access past the end of the data area faults at once) or flush against the
 * leading guard (an access before the header faults).  The slack between
 * the ring and the other guard, and the header's padding, hold a canary
 * that is checked when the ring is closed, so a stray write fails the test
 * even where no guard page is adjacent.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ring/ring.h"
#include "t.h"

#define CANARY 0xa5
#define SLOT V4V_RING_SLOT
#define MHDR V4V_RING_MSG_HDR

_Static_assert(sizeof(struct v4v_ring_shared) == V4V_RING_HDR_SIZE,
	       "shared header is two cache lines");
_Static_assert(offsetof(struct v4v_ring_shared, tx_ptr) == 64,
	       "producer fields on their own cache line");
_Static_assert(sizeof(struct v4v_ring_msghdr) == V4V_RING_MSG_HDR,
	       "message header is one slot");

enum place { AT_END, AT_START };

struct gring {
	uint8_t *map;
	size_t maplen;
	uint8_t *body; /* the accessible pages between the guards */
	size_t bodylen;
	uint8_t *mem; /* the ring: header, then data */
	uint32_t size;
	struct v4v_ring r;
	struct v4v_ring_prod p;
	struct v4v_ring_cons c;
};

/* ---- helpers --------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(uint64_t *s, uint32_t n)
{
	return n ? (uint32_t)(rnd(s) % n) : 0;
}

/* Byte i of the payload of message `seed`. */
static uint8_t pat(uint32_t seed, uint32_t i)
{
	uint32_t x = seed * 0x9e3779b1u + i * 0x85ebca6bu;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 13;
	return (uint8_t)x;
}

static void fill_pat(uint8_t *buf, uint32_t seed, uint32_t off, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		buf[i] = pat(seed, off + i);
}

static bool check_pat(const uint8_t *buf, uint32_t seed, uint32_t off,
		      uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (buf[i] != pat(seed, off + i))
			return false;
	return true;
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return false;
	return true;
}

static uint32_t round_slot(uint32_t n)
{
	return (n + SLOT - 1) & ~(SLOT - 1);
}

static struct v4v_addr addr_of(uint32_t seed)
{
	struct v4v_addr a = {
		.port = seed,
		.domid = (v4v_domid_t)(seed & 0x7fff),
	};
	return a;
}

static void gring_open(struct gring *g, uint32_t size, enum place where)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = v4v_ring_mem_size(size);
	struct v4v_ring_shared *sh;

	g->size = size;
	g->bodylen = (len + pg - 1) / pg * pg;
	g->maplen = g->bodylen + 2 * pg;
	g->map = mmap(NULL, g->maplen, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(g->map != MAP_FAILED);
	g->body = g->map + pg;
	REQUIRE(mprotect(g->body, g->bodylen, PROT_READ | PROT_WRITE) == 0);
	memset(g->body, CANARY, g->bodylen);
	g->mem = where == AT_END ? g->body + g->bodylen - len : g->body;
	v4v_ring_format(g->mem, size);
	sh = (struct v4v_ring_shared *)g->mem;
	memset(sh->pad0, CANARY, sizeof(sh->pad0));
	memset(sh->pad1, CANARY, sizeof(sh->pad1));
	REQUIRE(v4v_ring_view(&g->r, g->mem, len, size) == 0);
	v4v_ring_prod_init(&g->p, &g->r);
	v4v_ring_cons_init(&g->c, &g->r);
}

static void gring_close(struct gring *g)
{
	struct v4v_ring_shared *sh = (struct v4v_ring_shared *)g->mem;
	uint8_t *end = g->mem + v4v_ring_mem_size(g->size);

	/* Nothing but the ring's own fields may have been written. */
	CHECK_EQ(sh->magic, V4V_RING_MAGIC);
	CHECK_EQ(sh->version, V4V_RING_VERSION);
	CHECK_EQ(sh->size, g->size);
	CHECK(all_byte(sh->pad0, sizeof(sh->pad0), CANARY));
	CHECK(all_byte(sh->pad1, sizeof(sh->pad1), CANARY));
	CHECK(all_byte(g->body, (size_t)(g->mem - g->body), CANARY));
	CHECK(all_byte(end, (size_t)(g->body + g->bodylen - end), CANARY));
	munmap(g->map, g->maplen);
}

static struct v4v_ring_shared *sh_of(struct gring *g)
{
	return g->r.sh;
}

/* The flag bits of rx_flags, without the position armed at. */
static uint32_t rxf(struct gring *g)
{
	return sh_of(g)->rx_flags & V4V_RING_RX_FLAG_BITS;
}

/* Insert one message of `len` payload bytes named by `seed`. */
static int put(struct gring *g, uint32_t len, uint32_t seed, bool *kick)
{
	struct v4v_addr a = addr_of(seed);
	uint8_t *buf = malloc(len ? len : 1);
	struct iovec iov = { buf, len };
	bool k;
	int rc;

	REQUIRE(buf);
	fill_pat(buf, seed, 0, len);
	rc = v4v_ring_insert(&g->p, &a, seed, &iov, 1, &k);
	free(buf);
	if (kick)
		*kick = k;
	return rc;
}

/* Peek, check, read and consume the message put(g, len, seed) made. */
static bool get(struct gring *g, uint32_t len, uint32_t seed)
{
	struct v4v_ring_msg m;
	uint8_t *buf = malloc(len ? len : 1);
	bool ok = true;
	int rc;

	REQUIRE(buf);
	rc = v4v_ring_peek(&g->c, &m);
	CHECK_EQ(rc, 1);
	if (rc != 1) {
		free(buf);
		return false;
	}
	CHECK_EQ(m.payload_len, len);
	CHECK_EQ(m.message_type, seed);
	CHECK_EQ(m.source.port, seed);
	CHECK_EQ(m.source.domid, seed & 0x7fff);
	CHECK_EQ(m.source.pad, 0);
	ok = m.payload_len == len && m.message_type == seed;
	if (ok) {
		v4v_ring_read(&g->c, 0, buf, len);
		ok = check_pat(buf, seed, 0, len);
		CHECK(ok);
	}
	free(buf);
	v4v_ring_consume(&g->c, &m);
	return ok;
}

/* Move an empty ring's rx and tx together to `pos` with filler messages. */
static void advance_to(struct gring *g, uint32_t pos)
{
	uint32_t d = (pos + g->size - g->p.tx) % g->size;

	REQUIRE(g->p.tx == g->c.rx);
	while (d) {
		uint32_t step = d > g->size - SLOT ? g->size - SLOT : d;

		REQUIRE(put(g, step - MHDR, 7, NULL) == 0);
		REQUIRE(get(g, step - MHDR, 7));
		d -= step;
	}
	REQUIRE(g->p.tx == pos && g->c.rx == pos);
	REQUIRE(v4v_ring_used(&g->c) == 0);
}

/* The raw header the producer wrote at data offset `pos`. */
static struct v4v_ring_msghdr raw_hdr(struct gring *g, uint32_t pos)
{
	struct v4v_ring_msghdr h;

	memcpy(&h, g->r.data + pos, sizeof(h));
	return h;
}

/* ---- format, view, sizes ---------------------------------------------- */

static void t_size_check(void)
{
	CHECK_EQ(v4v_ring_size_check(0), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(16), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE - SLOT), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE - 1), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE), 0);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE + 8), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE + 1), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MIN_SIZE + SLOT), 0);
	CHECK_EQ(v4v_ring_size_check(4096), 0);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MAX_SIZE), 0);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MAX_SIZE - SLOT), 0);
	CHECK_EQ(v4v_ring_size_check(V4V_RING_MAX_SIZE + SLOT), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(0xfffffff0u), -EINVAL);
	CHECK_EQ(v4v_ring_size_check(0xffffffffu), -EINVAL);
	CHECK_EQ(v4v_ring_max_payload(256), 256 - SLOT - MHDR);
	CHECK_EQ(v4v_ring_mem_size(256), 256 + V4V_RING_HDR_SIZE);
}

static void t_view_format(void)
{
	static uint8_t mem[V4V_RING_HDR_SIZE + 512]
		__attribute__((aligned(64)));
	struct v4v_ring_shared *sh = (struct v4v_ring_shared *)mem;
	struct v4v_ring r;

	memset(mem, 0xee, sizeof(mem));
	v4v_ring_format(mem, 512);
	CHECK_EQ(sh->magic, V4V_RING_MAGIC);
	CHECK_EQ(sh->version, V4V_RING_VERSION);
	CHECK_EQ(sh->size, 512);
	CHECK_EQ(sh->rx_ptr, 0);
	CHECK_EQ(sh->tx_ptr, 0);
	CHECK_EQ(sh->rx_flags, 0);
	CHECK_EQ(sh->tx_flags, 0);
	/* The data area is not the header's business. */
	CHECK_EQ(mem[V4V_RING_HDR_SIZE], 0xee);

	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 512), 0);
	CHECK(r.sh == sh);
	CHECK(r.data == mem + V4V_RING_HDR_SIZE);
	CHECK_EQ(r.size, 512);
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 256), 0);
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem) - 1, 512), -EINVAL);
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 528), -EINVAL);
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 500), -EINVAL);
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 128), -EINVAL);
	/* The view never reads the size back from shared memory. */
	sh->size = 0xffffffffu;
	CHECK_EQ(v4v_ring_view(&r, mem, sizeof(mem), 512), 0);
	CHECK_EQ(r.size, 512);
}

/* ---- basic traffic ---------------------------------------------------- */

static void t_empty(void)
{
	struct gring g;
	struct v4v_ring_msg m;

	gring_open(&g, 256, AT_END);
	memset(&m, 0x5a, sizeof(m));
	CHECK_EQ(v4v_ring_peek(&g.c, &m), 0);
	CHECK_EQ(v4v_ring_used(&g.c), 0);
	CHECK_EQ(v4v_ring_space(&g.p), v4v_ring_max_payload(256));
	gring_close(&g);
}

static void t_roundtrip(void)
{
	static const uint32_t lens[] = { 1, 15, 16, 17, 31, 32, 100, 5 };
	struct gring g;
	bool kick = true;

	gring_open(&g, 1024, AT_END);
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		CHECK_EQ(put(&g, lens[i], 100 + i, &kick), 0);
		CHECK(!kick);
	}
	for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		CHECK(get(&g, lens[i], 100 + i));
	CHECK_EQ(v4v_ring_peek(&g.c, &(struct v4v_ring_msg){ 0 }), 0);
	CHECK_EQ(g.c.rx, g.p.tx);
	CHECK_EQ(sh_of(&g)->rx_ptr, sh_of(&g)->tx_ptr);
	gring_close(&g);
}

static void t_zero_length(void)
{
	struct v4v_addr a = addr_of(3);
	struct iovec nul = { NULL, 0 };
	struct iovec two[2] = { { NULL, 0 }, { NULL, 0 } };
	struct v4v_ring_msg m;
	struct gring g;
	uint8_t byte = 0x11;
	struct iovec out = { &byte, 1 };
	bool kick;
	int n;

	gring_open(&g, 256, AT_END);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 3, NULL, 0, &kick), 0);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 3, &nul, 1, &kick), 0);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 3, two, 2, &kick), 0);
	CHECK_EQ(v4v_ring_used(&g.c), 3 * MHDR);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(v4v_ring_peek(&g.c, &m), 1);
		CHECK_EQ(m.payload_len, 0);
		CHECK_EQ(m.message_type, 3);
		CHECK_EQ(v4v_ring_readv(&g.c, &m, 0, &out, 1), 0);
		CHECK_EQ(byte, 0x11);
		v4v_ring_consume(&g.c, &m);
	}
	CHECK_EQ(v4v_ring_peek(&g.c, &m), 0);

	/* Header-only messages fill the ring one slot at a time, minus the
	 * slot that always stays free. */
	for (n = 0; n < 1000; n++)
		if (v4v_ring_insert(&g.p, &a, 3, NULL, 0, &kick))
			break;
	CHECK_EQ(n, 256 / SLOT - 1);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 3, NULL, 0, &kick), -EAGAIN);
	CHECK_EQ(v4v_ring_used(&g.c), 256 - SLOT);
	gring_close(&g);
}

static void t_exact_fit(void)
{
	uint32_t size = 256, max = v4v_ring_max_payload(size);
	struct gring g;

	/* Empty ring: the largest message leaves exactly one free slot. */
	gring_open(&g, size, AT_END);
	CHECK_EQ(put(&g, max, 1, NULL), 0);
	CHECK_EQ(v4v_ring_used(&g.c), size - SLOT);
	CHECK_EQ(v4v_ring_space(&g.p), 0);
	CHECK_EQ(put(&g, 0, 2, NULL), -EAGAIN);
	CHECK(get(&g, max, 1));
	CHECK_EQ(v4v_ring_space(&g.p), max);
	gring_close(&g);

	/* Partly used ring: space() bytes fit, one byte more does not. */
	gring_open(&g, size, AT_START);
	CHECK_EQ(put(&g, 0, 1, NULL), 0);
	CHECK_EQ(v4v_ring_space(&g.p), max - SLOT);
	CHECK_EQ(put(&g, max - SLOT + 1, 2, NULL), -EAGAIN);
	CHECK_EQ(put(&g, max - SLOT, 3, NULL), 0);
	CHECK_EQ(v4v_ring_used(&g.c), size - SLOT);
	CHECK_EQ(put(&g, 0, 4, NULL), -EAGAIN);
	/* Freeing one header slot makes room for exactly a header. */
	CHECK(get(&g, 0, 1));
	CHECK_EQ(v4v_ring_space(&g.p), 0);
	CHECK_EQ(put(&g, 1, 5, NULL), -EAGAIN);
	CHECK_EQ(put(&g, 0, 6, NULL), 0);
	CHECK(get(&g, max - SLOT, 3));
	CHECK(get(&g, 0, 6));
	CHECK_EQ(v4v_ring_used(&g.c), 0);
	gring_close(&g);
}

static void t_msgsize(void)
{
	uint32_t size = 256, max = v4v_ring_max_payload(size);
	struct v4v_addr a = addr_of(1);
	static uint8_t buf[4096];
	struct iovec iov[3];
	struct gring g;
	bool kick;

	gring_open(&g, size, AT_END);
	/* Checked before space: -EMSGSIZE on a full ring too (below). */
	CHECK_EQ(put(&g, max + 1, 1, NULL), -EMSGSIZE);
	CHECK_EQ(put(&g, size, 1, NULL), -EMSGSIZE);
	CHECK_EQ(put(&g, 4000, 1, NULL), -EMSGSIZE);

	/* The sum of several iovecs counts, each one being small. */
	iov[0] = (struct iovec){ buf, 100 };
	iov[1] = (struct iovec){ buf, 100 };
	iov[2] = (struct iovec){ buf, max - 200 + 1 };
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, iov, 3, &kick), -EMSGSIZE);
	iov[2].iov_len = max - 200;
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, iov, 3, &kick), 0);
	CHECK_EQ(put(&g, 0, 1, NULL), -EAGAIN);

	/* Sizes that would overflow a naive sum: still -EMSGSIZE. */
	iov[0] = (struct iovec){ buf, (size_t)-1 };
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, iov, 1, &kick), -EMSGSIZE);
	iov[0] = (struct iovec){ buf, max };
	iov[1] = (struct iovec){ buf, (size_t)-1 - max + 1 };
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, iov, 2, &kick), -EMSGSIZE);
	iov[0] = (struct iovec){ buf, (size_t)1 << 32 };
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, iov, 1, &kick), -EMSGSIZE);
	CHECK_EQ(v4v_ring_used(&g.c), size - SLOT);
	gring_close(&g);
}

static void t_bad_iov(void)
{
	struct v4v_addr a = addr_of(1);
	struct gring g;
	bool kick;

	gring_open(&g, 256, AT_END);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, NULL, 1, &kick), -EINVAL);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, NULL, -1, &kick), -EINVAL);
	CHECK_EQ(v4v_ring_used(&g.c), 0);
	CHECK_EQ(sh_of(&g)->tx_ptr, 0);
	gring_close(&g);
}

/* The payload starts near the end of the data area and wraps to 0. */
static void wrap_payload(enum place where)
{
	uint32_t size = 256;
	struct gring g;

	gring_open(&g, size, where);
	advance_to(&g, size - 3 * SLOT);
	CHECK_EQ(put(&g, 64, 42, NULL), 0);
	/* header at 208, payload 224..255 then 0..31 */
	CHECK_EQ(raw_hdr(&g, size - 3 * SLOT).len, MHDR + 64);
	CHECK(check_pat(g.r.data + size - 2 * SLOT, 42, 0, 2 * SLOT));
	CHECK(check_pat(g.r.data, 42, 2 * SLOT, 64 - 2 * SLOT));
	CHECK_EQ(g.p.tx, 64 - 2 * SLOT);
	CHECK(get(&g, 64, 42));

	/* An unpadded payload wrapping mid-slot. */
	advance_to(&g, size - 2 * SLOT);
	CHECK_EQ(put(&g, 37, 43, NULL), 0);
	CHECK(check_pat(g.r.data + size - SLOT, 43, 0, SLOT));
	CHECK(check_pat(g.r.data, 43, SLOT, 37 - SLOT));
	CHECK(get(&g, 37, 43));

	/* The largest message, starting mid-ring, wraps too. */
	advance_to(&g, 128);
	CHECK_EQ(put(&g, v4v_ring_max_payload(size), 44, NULL), 0);
	CHECK(get(&g, v4v_ring_max_payload(size), 44));
	gring_close(&g);
}

static void t_wrap_payload(void)
{
	wrap_payload(AT_END);
	wrap_payload(AT_START);
}

/*
 * A 16-byte header in 16-byte slots, with a data area a multiple of 16,
 * always starts on a slot boundary and so can never straddle the end: the
 * last place it can go is the last slot, and then the payload starts at
 * offset 0.  The copy code handles a split header anyway; check the last
 * slot is read correctly, in both placements.
 */
static void hdr_last_slot(enum place where)
{
	uint32_t size = 256;
	struct v4v_ring_msghdr h;
	struct gring g;

	gring_open(&g, size, where);
	advance_to(&g, size - SLOT);
	CHECK_EQ(put(&g, 40, 77, NULL), 0);
	h = raw_hdr(&g, size - SLOT);
	CHECK_EQ(h.len, MHDR + 40);
	CHECK_EQ(h.message_type, 77);
	CHECK(check_pat(g.r.data, 77, 0, 40));
	CHECK_EQ(g.p.tx, round_slot(40));
	CHECK(get(&g, 40, 77));

	/* And a header-only message in the last slot. */
	advance_to(&g, size - SLOT);
	CHECK_EQ(put(&g, 0, 78, NULL), 0);
	CHECK_EQ(g.p.tx, 0);
	CHECK(get(&g, 0, 78));
	gring_close(&g);
}

static void t_hdr_last_slot(void)
{
	hdr_last_slot(AT_END);
	hdr_last_slot(AT_START);
}

static void t_readv_partial(void)
{
	uint32_t size = 512, len = 200;
	struct v4v_ring_msg m;
	uint8_t a[7], b[50], c[300];
	struct iovec iov[4];
	struct gring g;

	gring_open(&g, size, AT_END);
	advance_to(&g, size - 4 * SLOT); /* make the payload wrap, too */
	CHECK_EQ(put(&g, len, 9, NULL), 0);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);

	/* Several iovecs, one of them empty, larger than the payload. */
	memset(c, 0, sizeof(c));
	iov[0] = (struct iovec){ a, sizeof(a) };
	iov[1] = (struct iovec){ NULL, 0 };
	iov[2] = (struct iovec){ b, sizeof(b) };
	iov[3] = (struct iovec){ c, sizeof(c) };
	CHECK_EQ(v4v_ring_readv(&g.c, &m, 0, iov, 4), len);
	CHECK(check_pat(a, 9, 0, sizeof(a)));
	CHECK(check_pat(b, 9, 7, sizeof(b)));
	CHECK(check_pat(c, 9, 57, len - 57));
	CHECK(all_byte(c + len - 57, sizeof(c) - (len - 57), 0));

	/* From an offset, into less room than is left. */
	CHECK_EQ(v4v_ring_readv(&g.c, &m, 33, &iov[2], 1), sizeof(b));
	CHECK(check_pat(b, 9, 33, sizeof(b)));
	/* From an offset, reaching the end exactly and beyond. */
	CHECK_EQ(v4v_ring_readv(&g.c, &m, len - 7, iov, 1), 7);
	CHECK(check_pat(a, 9, len - 7, 7));
	memset(a, 0, sizeof(a));
	CHECK_EQ(v4v_ring_readv(&g.c, &m, len - 3, iov, 1), 3);
	CHECK(check_pat(a, 9, len - 3, 3));
	CHECK(all_byte(a + 3, 4, 0));
	/* At or past the end: nothing, nothing written. */
	CHECK_EQ(v4v_ring_readv(&g.c, &m, len, iov, 1), 0);
	CHECK_EQ(v4v_ring_readv(&g.c, &m, 0xffffffffu, iov, 1), 0);
	CHECK_EQ(v4v_ring_readv(&g.c, &m, 0, iov, 0), 0);
	CHECK(all_byte(a + 3, 4, 0));

	/* The plain read at an offset. */
	v4v_ring_read(&g.c, 150, b, 50);
	CHECK(check_pat(b, 9, 150, 50));
	/* Peeking again gives the same message: peek does not consume. */
	CHECK(get(&g, len, 9));
	gring_close(&g);
}

/* Spans: contiguous pieces of a payload, split only at the wrap. */
static void t_span(void)
{
	uint32_t size = 512, len = 200;
	struct v4v_ring_msg m;
	const void *at = NULL;
	struct gring g;

	gring_open(&g, size, AT_END);
	advance_to(&g, size - 4 * SLOT); /* payload 464..511, then 0..151 */
	CHECK_EQ(put(&g, len, 9, NULL), 0);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK_EQ(v4v_ring_span(&g.c, &m, 0, &at), 3 * SLOT);
	CHECK(at == g.r.data + size - 3 * SLOT);
	CHECK(check_pat(at, 9, 0, 3 * SLOT));
	CHECK_EQ(v4v_ring_span(&g.c, &m, 5, &at), 3 * SLOT - 5);
	CHECK(check_pat(at, 9, 5, 3 * SLOT - 5));
	CHECK_EQ(v4v_ring_span(&g.c, &m, 3 * SLOT, &at), len - 3 * SLOT);
	CHECK(at == g.r.data);
	CHECK(check_pat(at, 9, 3 * SLOT, len - 3 * SLOT));
	CHECK_EQ(v4v_ring_span(&g.c, &m, len - 1, &at), 1);
	CHECK(check_pat(at, 9, len - 1, 1));
	at = NULL;
	CHECK_EQ(v4v_ring_span(&g.c, &m, len, &at), 0);
	CHECK_EQ(v4v_ring_span(&g.c, &m, 0xffffffffu, &at), 0);
	CHECK(at == NULL);
	CHECK(get(&g, len, 9));

	/* Not wrapping: the whole payload in one span. */
	CHECK_EQ(put(&g, 100, 10, NULL), 0);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK_EQ(v4v_ring_span(&g.c, &m, 0, &at), 100);
	CHECK(check_pat(at, 10, 0, 100));
	CHECK(get(&g, 100, 10));
	gring_close(&g);
}

static void t_source_pad(void)
{
	struct v4v_addr a = { .port = 5, .domid = 6, .pad = 0xbeef };
	struct v4v_ring_msghdr h;
	struct v4v_ring_msg m;
	struct gring g;
	bool kick;

	gring_open(&g, 256, AT_END);
	CHECK_EQ(v4v_ring_insert(&g.p, &a, 1, NULL, 0, &kick), 0);
	h = raw_hdr(&g, 0);
	CHECK_EQ(h.source.pad, 0);
	CHECK_EQ(h.source.port, 5);
	CHECK_EQ(h.source.domid, 6);
	CHECK_EQ(a.pad, 0xbeef); /* the caller's copy is left alone */

	/* A pad the producer left dirty is not passed up either. */
	h.source.pad = 0x1234;
	memcpy(g.r.data, &h, sizeof(h));
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK_EQ(m.source.pad, 0);
	CHECK_EQ(m.source.port, 5);
	CHECK_EQ(m.source.domid, 6);
	gring_close(&g);
}

/* ---- model-based random test ------------------------------------------ */

#define MQ 512

struct qmsg {
	uint32_t len, seed;
};

struct model {
	struct qmsg q[MQ];
	unsigned head, n;
	uint32_t used;
};

static uint32_t model_space(const struct model *md, uint32_t size)
{
	uint32_t free = size - md->used - SLOT;

	return free > MHDR ? free - MHDR : 0;
}

static uint32_t random_len(uint64_t *rs, uint32_t max)
{
	switch (rnd_below(rs, 8)) {
	case 0: return 0;
	case 1: return rnd_below(rs, max + 40); /* sometimes too big */
	case 2: return max - rnd_below(rs, 4);
	default: return rnd_below(rs, 80);
	}
}

/* Cut `len` bytes of buf into 1..max pieces, some possibly empty. */
static int split_iov(struct iovec *iov, int max, uint8_t *buf, size_t len,
		     uint64_t *rs)
{
	int n = 1 + (int)rnd_below(rs, (uint32_t)max);
	size_t at = 0;

	for (int i = 0; i < n; i++) {
		size_t k = i == n - 1 ? len - at
				      : rnd_below(rs, (uint32_t)(len - at + 1));

		iov[i].iov_base = buf + at;
		iov[i].iov_len = k;
		at += k;
	}
	return n;
}

static void model_insert(struct gring *g, struct model *md, uint64_t *rs,
			 uint8_t *buf, uint32_t seed)
{
	uint32_t max = v4v_ring_max_payload(g->size);
	uint32_t len = random_len(rs, max);
	struct v4v_addr a = addr_of(seed);
	struct iovec iov[5];
	int n, rc, want;
	bool kick;

	if (len > max)
		want = -EMSGSIZE;
	else if (round_slot(MHDR + len) > g->size - SLOT - md->used)
		want = -EAGAIN;
	else
		want = 0;
	fill_pat(buf, seed, 0, len);
	n = split_iov(iov, 5, buf, len, rs);
	a.pad = (uint16_t)seed; /* must never show up */
	rc = v4v_ring_insert(&g->p, &a, seed, iov, n, &kick);
	CHECK_EQ(rc, want);
	CHECK(!kick);
	if (rc)
		return;
	REQUIRE(md->n < MQ);
	md->q[(md->head + md->n++) % MQ] = (struct qmsg){ len, seed };
	md->used += round_slot(MHDR + len);
}

static void model_consume(struct gring *g, struct model *md, uint64_t *rs,
			  uint8_t *buf)
{
	struct v4v_ring_msg m;
	struct iovec iov[5];
	struct qmsg *q;
	uint32_t off, room, want;
	int rc, n;

	rc = v4v_ring_peek(&g->c, &m);
	if (!md->n) {
		CHECK_EQ(rc, 0);
		return;
	}
	q = &md->q[md->head];
	CHECK_EQ(rc, 1);
	if (rc != 1)
		return;
	CHECK_EQ(m.payload_len, q->len);
	CHECK_EQ(m.message_type, q->seed);
	CHECK_EQ(m.source.port, q->seed);
	CHECK_EQ(m.source.pad, 0);
	if (m.payload_len != q->len)
		return;

	/* Read all or part of it, from 0 or from an offset, scattered. */
	off = rnd_below(rs, 3) ? 0 : rnd_below(rs, q->len + 2);
	room = rnd_below(rs, 3) ? q->len + 5 : rnd_below(rs, q->len + 1);
	want = off >= q->len ? 0 : q->len - off < room ? q->len - off : room;
	memset(buf, 0, room);
	n = split_iov(iov, 5, buf, room, rs);
	CHECK_EQ(v4v_ring_readv(&g->c, &m, off, iov, n), want);
	CHECK(check_pat(buf, q->seed, off, want));
	CHECK(all_byte(buf + want, room - want, 0));

	CHECK(!v4v_ring_consume(&g->c, &m));
	md->used -= round_slot(MHDR + q->len);
	md->head = (md->head + 1) % MQ;
	md->n--;
}

static void model_run(uint32_t size, enum place where, uint64_t seed, int ops)
{
	uint8_t *buf = malloc(size + 64);
	struct model *md = calloc(1, sizeof(*md));
	uint64_t rs = seed;
	struct gring g;
	int bias = 50;

	REQUIRE(buf && md);
	gring_open(&g, size, where);
	for (int i = 0; i < ops; i++) {
		/* Drift between mostly-full and mostly-empty phases. */
		if (i % 1000 == 0)
			bias = 20 + (int)rnd_below(&rs, 61);
		if ((int)rnd_below(&rs, 100) < bias)
			model_insert(&g, md, &rs, buf, (uint32_t)i);
		else
			model_consume(&g, md, &rs, buf);
		CHECK_EQ(v4v_ring_used(&g.c), md->used);
		CHECK_EQ(v4v_ring_space(&g.p), model_space(md, size));
		CHECK_EQ(sh_of(&g)->tx_ptr, g.p.tx);
		CHECK_EQ(sh_of(&g)->rx_ptr, g.c.rx);
		if (t_failed > 20)
			break; /* one bug, not a million lines */
	}
	while (md->n)
		model_consume(&g, md, &rs, buf);
	CHECK_EQ(v4v_ring_used(&g.c), 0);
	gring_close(&g);
	free(md);
	free(buf);
}

static void t_model_random(void)
{
	model_run(256, AT_END, 1, 60000);
	model_run(256, AT_START, 2, 60000);
	model_run(272, AT_END, 3, 60000);
	model_run(512, AT_START, 4, 60000);
	model_run(4096 - V4V_RING_HDR_SIZE, AT_END, 5, 60000);
}

/* ---- hostile shared memory -------------------------------------------- */

static const uint32_t bad_ptrs[] = {
	1, 8, 15, 17, 248, 255, 256, 257, 272, 512, 4096,
	0x7ffffff0u, 0x80000000u, 0xfffffff0u, 0xffffffffu,
};

static void bad_tx_ptr(enum place where)
{
	struct v4v_ring_msg m;
	struct gring g;

	gring_open(&g, 256, where);
	CHECK_EQ(put(&g, 30, 1, NULL), 0);
	for (unsigned i = 0; i < sizeof(bad_ptrs) / sizeof(bad_ptrs[0]); i++) {
		sh_of(&g)->tx_ptr = bad_ptrs[i];
		CHECK_EQ(v4v_ring_peek(&g.c, &m), -EBADMSG);
		CHECK_EQ(v4v_ring_used(&g.c), 0);
		CHECK(!v4v_ring_arm(&g.c));
		CHECK_EQ(sh_of(&g)->rx_flags, 0);
	}
	/* In range and aligned but behind a header: the length must fit the
	 * bytes tx_ptr claims are there. */
	sh_of(&g)->tx_ptr = SLOT;
	CHECK_EQ(v4v_ring_peek(&g.c, &m), -EBADMSG);
	/* tx_ptr behind rx_ptr means "wrapped": nearly the whole ring is
	 * claimed, and garbage after the first message is not our problem,
	 * but the first message is still read correctly. */
	sh_of(&g)->tx_ptr = 256 - SLOT;
	CHECK_EQ(v4v_ring_peek(&g.c, &m), 1);
	CHECK_EQ(m.payload_len, 30);
	sh_of(&g)->tx_ptr = g.p.tx;
	CHECK(get(&g, 30, 1));
	gring_close(&g);
}

static void t_bad_tx_ptr(void)
{
	bad_tx_ptr(AT_END);
	bad_tx_ptr(AT_START);
}

static void bad_len(enum place where, uint32_t at)
{
	static const uint32_t bad[] = {
		0, 1, 8, 15, MHDR + 32 + 1, MHDR + 32 + 16, 64, 255, 256,
		4096, 0x7fffffffu, 0x80000000u, 0xfffffff1u, 0xffffffffu,
	};
	struct v4v_ring_msghdr h;
	struct v4v_ring_msg m;
	struct gring g;

	gring_open(&g, 256, where);
	advance_to(&g, at);
	CHECK_EQ(put(&g, 32, 1, NULL), 0); /* used: 48 bytes */
	h = raw_hdr(&g, at);
	CHECK_EQ(h.len, MHDR + 32);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h.len = bad[i];
		memcpy(g.r.data + at, &h, sizeof(h));
		CHECK_EQ(v4v_ring_peek(&g.c, &m), -EBADMSG);
	}
	/* Shorter lengths are the producer's business: still in bounds. */
	h.len = MHDR;
	memcpy(g.r.data + at, &h, sizeof(h));
	CHECK_EQ(v4v_ring_peek(&g.c, &m), 1);
	CHECK_EQ(m.payload_len, 0);
	/* The largest that fits the 48 bytes, padding included. */
	h.len = MHDR + 32;
	memcpy(g.r.data + at, &h, sizeof(h));
	CHECK_EQ(v4v_ring_peek(&g.c, &m), 1);
	CHECK_EQ(m.payload_len, 32);
	CHECK(get(&g, 32, 1));

	/* A bad second message is found after the first is consumed. */
	CHECK_EQ(put(&g, 10, 2, NULL), 0);
	CHECK_EQ(put(&g, 10, 3, NULL), 0);
	h = raw_hdr(&g, (at + 48 + 32) % 256);
	h.len = 0xffffffffu;
	memcpy(g.r.data + (at + 48 + 32) % 256, &h, sizeof(h));
	CHECK(get(&g, 10, 2));
	CHECK_EQ(v4v_ring_peek(&g.c, &m), -EBADMSG);
	gring_close(&g);
}

static void t_bad_len(void)
{
	bad_len(AT_END, 0);
	bad_len(AT_START, 0);
	bad_len(AT_END, 256 - SLOT); /* header in the last slot */
	bad_len(AT_START, 256 - 2 * SLOT);
}

static void bad_rx_ptr(enum place where, uint32_t at)
{
	uint32_t size = 256, max = v4v_ring_max_payload(size);
	struct gring g;

	gring_open(&g, size, where);
	advance_to(&g, at);
	CHECK_EQ(put(&g, 50, 1, NULL), 0);
	for (unsigned i = 0; i < sizeof(bad_ptrs) / sizeof(bad_ptrs[0]); i++) {
		sh_of(&g)->rx_ptr = bad_ptrs[i];
		/* Treated as empty from the producer's own position. */
		CHECK_EQ(v4v_ring_space(&g.p), max);
		CHECK(v4v_ring_want_space(&g.p, max));
		CHECK_EQ(put(&g, max + 1, 2, NULL), -EMSGSIZE);
		CHECK_EQ(put(&g, max, 2, NULL), 0);
		CHECK(g.p.tx < size && g.p.tx % SLOT == 0);
		CHECK_EQ(sh_of(&g)->tx_ptr, g.p.tx);
	}
	/* A valid but wrong rx_ptr only changes how full the ring looks. */
	sh_of(&g)->rx_ptr = (g.p.tx + SLOT) % size;
	CHECK_EQ(v4v_ring_space(&g.p), 0);
	CHECK_EQ(put(&g, 0, 3, NULL), -EAGAIN);
	CHECK(!v4v_ring_want_space(&g.p, 0));
	gring_close(&g);
}

static void t_bad_rx_ptr(void)
{
	bad_rx_ptr(AT_END, 0);
	bad_rx_ptr(AT_START, 0);
	bad_rx_ptr(AT_END, 128);
	bad_rx_ptr(AT_START, 256 - SLOT);
}

/* ---- flags ------------------------------------------------------------ */

static void t_arm_kick(void)
{
	struct v4v_ring_msg m;
	struct gring g;
	bool kick;

	gring_open(&g, 256, AT_END);
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(rxf(&g), V4V_RING_RX_ARMED);
	CHECK_EQ(put(&g, 5, 1, &kick), 0);
	CHECK(kick);
	CHECK_EQ(rxf(&g), 0);
	CHECK_EQ(put(&g, 5, 2, &kick), 0);
	CHECK(!kick);

	/* Data present: arming is refused and the flag withdrawn. */
	CHECK(!v4v_ring_arm(&g.c));
	CHECK_EQ(rxf(&g), 0);
	CHECK_EQ(put(&g, 5, 3, &kick), 0);
	CHECK(!kick);

	/* A message peeked but not consumed is still data. */
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(!v4v_ring_arm(&g.c));
	CHECK(get(&g, 5, 1));
	CHECK(get(&g, 5, 2));
	CHECK(get(&g, 5, 3));
	CHECK(v4v_ring_arm(&g.c));
	CHECK(v4v_ring_arm(&g.c)); /* arming twice is harmless */
	CHECK_EQ(put(&g, 0, 4, &kick), 0);
	CHECK(kick);
	CHECK_EQ(put(&g, 0, 5, &kick), 0);
	CHECK(!kick);

	/* A failed insert never kicks, and leaves the flag for the next. */
	CHECK(get(&g, 0, 4));
	CHECK(get(&g, 0, 5));
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(put(&g, 1000, 6, &kick), -EMSGSIZE);
	CHECK(!kick);
	CHECK_EQ(rxf(&g), V4V_RING_RX_ARMED);
	CHECK_EQ(put(&g, 1, 7, &kick), 0);
	CHECK(kick);
	gring_close(&g);
}

/* A producer rings only for a message at the position the consumer armed
 * at: what the consumer took by polling gets no late doorbell. */
static void t_arm_position(void)
{
	struct gring g;
	bool kick, rung;

	gring_open(&g, 256, AT_END);
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(sh_of(&g)->rx_flags & ~V4V_RING_RX_FLAG_BITS, g.c.rx);

	/* A producer that published while we polled (SPINNING) left ARMED
	 * at the old position, as one that has not looked yet would. */
	v4v_ring_spin_begin(&g.c);
	CHECK_EQ(put(&g, 8, 1, &kick), 0);
	CHECK(!kick);
	v4v_ring_spin_end(&g.c);
	CHECK(get(&g, 8, 1));
	/* Took it while armed: the arm moves to our position ... */
	CHECK_EQ(v4v_ring_arm_move(&g.c, &rung), 1);
	CHECK_EQ(rxf(&g), V4V_RING_RX_ARMED);
	CHECK_EQ(sh_of(&g)->rx_flags & ~V4V_RING_RX_FLAG_BITS, g.c.rx);
	CHECK_EQ(v4v_ring_arm_move(&g.c, &rung), 1); /* idempotent */
	/* ... where the next message rings. */
	CHECK_EQ(put(&g, 8, 2, &kick), 0);
	CHECK(kick);
	CHECK_EQ(rxf(&g), 0);

	/* The producer took ARMED first: it owes a token, nothing moves. */
	CHECK(get(&g, 8, 2));
	CHECK_EQ(v4v_ring_arm_move(&g.c, &rung), -1);
	CHECK_EQ(rxf(&g), 0);

	/* Data raced in behind what we took: ARMED withdrawn by us, so we
	 * owe ourselves the token. */
	CHECK(v4v_ring_arm(&g.c));
	v4v_ring_spin_begin(&g.c);
	CHECK_EQ(put(&g, 8, 3, &kick), 0);
	CHECK_EQ(put(&g, 8, 4, &kick), 0);
	CHECK(!kick);
	v4v_ring_spin_end(&g.c);
	CHECK(get(&g, 8, 3));
	CHECK_EQ(v4v_ring_arm_move(&g.c, &rung), 0);
	CHECK(!rung);
	CHECK_EQ(rxf(&g), 0);
	CHECK(get(&g, 8, 4));

	/* A stale arm position (a consumer that never moved it) gets no
	 * doorbell for a message elsewhere: why every consumer that takes
	 * messages while armed must move the arm or drop it. */
	CHECK(v4v_ring_arm(&g.c));
	sh_of(&g)->rx_flags = V4V_RING_RX_ARMED |
			      ((g.c.rx + 16) % 256);
	CHECK_EQ(put(&g, 8, 5, &kick), 0);
	CHECK(!kick);
	gring_close(&g);
}

/* A hostile producer that rewrites rx_flags without pause must not keep
 * the consumer's arm spinning: every call returns. */
static volatile bool flip_stop;

static void *flipper(void *arg)
{
	struct v4v_ring_shared *sh = arg;
	uint32_t v = 0;

	while (!flip_stop)
		__atomic_store_n(&sh->rx_flags, v++ * 0x10001u, __ATOMIC_RELAXED);
	return NULL;
}

static void t_arm_hostile_flags(void)
{
	struct gring g;
	pthread_t t;
	bool rung;

	gring_open(&g, 256, AT_START);
	flip_stop = false;
	REQUIRE(pthread_create(&t, NULL, flipper, sh_of(&g)) == 0);
	for (int i = 0; i < 20000; i++) {
		int r = v4v_ring_arm_move(&g.c, &rung);

		CHECK(r >= -1 && r <= 1);
		(void)v4v_ring_arm_rung(&g.c, &rung);
	}
	flip_stop = true;
	pthread_join(t, NULL);
	/* Alone again (and the flags as the flipper left them cleared), the
	 * ring arms as usual. */
	sh_of(&g)->rx_flags = 0;
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(rxf(&g), V4V_RING_RX_ARMED);
	gring_close(&g);
}

static void t_want_space(void)
{
	uint32_t size = 256, max = v4v_ring_max_payload(size);
	struct v4v_ring_msg m;
	struct gring g;

	gring_open(&g, size, AT_END);
	CHECK_EQ(put(&g, 80, 1, NULL), 0); /* 96 bytes */
	CHECK_EQ(put(&g, 80, 2, NULL), 0); /* 96 bytes: 48 left */
	CHECK_EQ(put(&g, 80, 3, NULL), -EAGAIN);
	/* A failed insert alone does not ask for a notification. */
	CHECK_EQ(sh_of(&g)->tx_flags, 0);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(!v4v_ring_consume(&g.c, &m));
	CHECK_EQ(put(&g, 80, 3, NULL), 0);

	CHECK(!v4v_ring_want_space(&g.p, 80));
	CHECK_EQ(sh_of(&g)->tx_flags, V4V_RING_TX_WAITING);
	CHECK(v4v_ring_want_space(&g.p, 16)); /* what is left: 48 - 16 */
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(v4v_ring_consume(&g.c, &m)); /* notify, once */
	CHECK_EQ(sh_of(&g)->tx_flags, 0);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(!v4v_ring_consume(&g.c, &m));
	CHECK_EQ(v4v_ring_used(&g.c), 0);

	/* Space already there: true, no need to wait. */
	CHECK(v4v_ring_want_space(&g.p, max));
	CHECK(v4v_ring_want_space(&g.p, 0));
	CHECK_EQ(put(&g, max, 4, NULL), 0);
	CHECK(!v4v_ring_want_space(&g.p, 0));
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(v4v_ring_consume(&g.c, &m));
	CHECK_EQ(sh_of(&g)->tx_flags, 0);

	/* A size that can never fit must not wait for space that never
	 * comes, and need + header must not wrap around to a small number:
	 * the insert reports -EMSGSIZE instead. */
	CHECK_EQ(put(&g, 10, 5, NULL), 0);
	CHECK(v4v_ring_want_space(&g.p, max + 1));
	CHECK(v4v_ring_want_space(&g.p, 0xffffffe0u));
	CHECK(v4v_ring_want_space(&g.p, 0xfffffff0u));
	CHECK(v4v_ring_want_space(&g.p, 0xffffffffu));
	CHECK_EQ(sh_of(&g)->tx_flags, 0);
	CHECK(get(&g, 10, 5));
	gring_close(&g);
}

static void t_space_values(void)
{
	uint32_t size = 512;
	struct gring g;

	gring_open(&g, size, AT_START);
	CHECK_EQ(v4v_ring_space(&g.p), size - 2 * SLOT);
	CHECK_EQ(put(&g, 1, 1, NULL), 0); /* 32 bytes */
	CHECK_EQ(v4v_ring_space(&g.p), size - 2 * SLOT - 32);
	CHECK_EQ(put(&g, 16, 2, NULL), 0); /* 32 bytes */
	CHECK_EQ(v4v_ring_space(&g.p), size - 2 * SLOT - 64);
	CHECK_EQ(put(&g, 17, 3, NULL), 0); /* 48 bytes */
	CHECK_EQ(v4v_ring_space(&g.p), size - 2 * SLOT - 112);
	/* space() is what fits: exactly that, and not one byte more. */
	CHECK_EQ(put(&g, v4v_ring_space(&g.p) + 1, 4, NULL), -EAGAIN);
	CHECK_EQ(put(&g, v4v_ring_space(&g.p), 4, NULL), 0);
	CHECK_EQ(v4v_ring_space(&g.p), 0);
	CHECK(get(&g, 1, 1));
	CHECK_EQ(v4v_ring_space(&g.p), 16);
	CHECK_EQ(put(&g, 17, 5, NULL), -EAGAIN);
	CHECK_EQ(put(&g, 16, 5, NULL), 0);
	CHECK(get(&g, 16, 2));
	CHECK(get(&g, 17, 3));
	CHECK(get(&g, size - 2 * SLOT - 112, 4));
	CHECK(get(&g, 16, 5));
	CHECK_EQ(v4v_ring_space(&g.p), size - 2 * SLOT);
	gring_close(&g);
}

/* The one-way flags share words with the doorbell and notification bits:
 * setting one must not lose the other, in either order. */
static void t_oneway_flags(void)
{
	uint32_t max = v4v_ring_max_payload(256);
	struct v4v_ring_msg m;
	struct gring g;
	bool kick;

	gring_open(&g, 256, AT_END);
	CHECK_EQ(rxf(&g), 0);
	CHECK_EQ(v4v_ring_tx_flags(&g.r), 0);

	/* Consumer closes while armed: the producer gets EPIPE, no kick, and
	 * the ARMED bit is still there for whoever looks. */
	CHECK(v4v_ring_arm(&g.c));
	v4v_ring_set_rx_flag(&g.r, V4V_RING_RX_CLOSED);
	CHECK_EQ(rxf(&g),
		 V4V_RING_RX_ARMED | V4V_RING_RX_CLOSED);
	CHECK_EQ(put(&g, 10, 1, &kick), -EPIPE);
	CHECK(!kick);
	CHECK_EQ(put(&g, 0, 1, &kick), -EPIPE);
	/* Can never fit is still the first answer. */
	CHECK_EQ(put(&g, max + 1, 1, &kick), -EMSGSIZE);
	CHECK_EQ(v4v_ring_used(&g.c), 0);
	CHECK_EQ(sh_of(&g)->tx_ptr, 0);
	gring_close(&g);

	/* Closed after data: the data stays readable, the kick logic keeps
	 * CLOSED set. */
	gring_open(&g, 256, AT_START);
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(put(&g, 10, 2, &kick), 0);
	CHECK(kick);
	v4v_ring_set_rx_flag(&g.r, V4V_RING_RX_CLOSED);
	CHECK(!v4v_ring_arm(&g.c)); /* withdraws ARMED only */
	CHECK_EQ(rxf(&g), V4V_RING_RX_CLOSED);
	CHECK(get(&g, 10, 2));
	CHECK(v4v_ring_arm(&g.c));
	CHECK_EQ(rxf(&g),
		 V4V_RING_RX_ARMED | V4V_RING_RX_CLOSED);
	gring_close(&g);

	/* FIN and RST on the producer's word survive want_space/consume. */
	gring_open(&g, 256, AT_END);
	CHECK_EQ(put(&g, max, 3, NULL), 0);
	v4v_ring_set_tx_flag(&g.r, V4V_RING_TX_FIN);
	CHECK(!v4v_ring_want_space(&g.p, 1));
	CHECK_EQ(v4v_ring_tx_flags(&g.r),
		 V4V_RING_TX_FIN | V4V_RING_TX_WAITING);
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(v4v_ring_consume(&g.c, &m));
	CHECK_EQ(v4v_ring_tx_flags(&g.r), V4V_RING_TX_FIN);
	v4v_ring_set_tx_flag(&g.r, V4V_RING_TX_RST);
	CHECK_EQ(v4v_ring_tx_flags(&g.r), V4V_RING_TX_FIN | V4V_RING_TX_RST);
	/* Neither stops the ring itself: that is the transport's call. */
	CHECK_EQ(put(&g, 5, 4, NULL), 0);
	CHECK(get(&g, 5, 4));
	CHECK_EQ(v4v_ring_tx_flags(&g.r), V4V_RING_TX_FIN | V4V_RING_TX_RST);
	CHECK_EQ(rxf(&g), 0);
	gring_close(&g);
}

static void t_prod_start(void)
{
	struct gring g;
	struct v4v_ring_prod p2;

	gring_open(&g, 256, AT_END);
	advance_to(&g, 96);
	/* A second producer taking over from the first one's position. */
	v4v_ring_prod_init(&p2, &g.r);
	CHECK_EQ(p2.tx, 0);
	for (unsigned i = 0; i < sizeof(bad_ptrs) / sizeof(bad_ptrs[0]); i++) {
		CHECK_EQ(v4v_ring_prod_start(&p2, bad_ptrs[i]), -EINVAL);
		CHECK_EQ(p2.tx, 0);
	}
	CHECK_EQ(v4v_ring_prod_start(&p2, 256 - SLOT), 0);
	CHECK_EQ(p2.tx, 256 - SLOT);
	CHECK_EQ(v4v_ring_prod_start(&p2, sh_of(&g)->tx_ptr), 0);
	CHECK_EQ(p2.tx, 96);
	g.p = p2;
	CHECK_EQ(put(&g, 20, 5, NULL), 0);
	CHECK(get(&g, 20, 5));
	gring_close(&g);
}

static void t_prod_empty(void)
{
	struct v4v_ring_msg m;
	struct gring g;

	gring_open(&g, 256, AT_START);
	CHECK(v4v_ring_prod_empty(&g.p));
	CHECK_EQ(put(&g, 0, 1, NULL), 0);
	CHECK(!v4v_ring_prod_empty(&g.p));
	/* Peeked is not consumed. */
	REQUIRE(v4v_ring_peek(&g.c, &m) == 1);
	CHECK(!v4v_ring_prod_empty(&g.p));
	v4v_ring_consume(&g.c, &m);
	CHECK(v4v_ring_prod_empty(&g.p));
	/* A nonsense rx_ptr reads as empty, like everywhere else. */
	CHECK_EQ(put(&g, 0, 2, NULL), 0);
	sh_of(&g)->rx_ptr = 7;
	CHECK(v4v_ring_prod_empty(&g.p));
	sh_of(&g)->rx_ptr = g.c.rx;
	CHECK(!v4v_ring_prod_empty(&g.p));
	CHECK(get(&g, 0, 2));
	gring_close(&g);
}

/* Two processes of a fork tree using one ring in turns: each takes up
 * the published positions before it goes on; nonsense ones are refused
 * and change nothing. */
static void t_resync_turns(void)
{
	struct v4v_ring_prod p1, p2;
	struct v4v_ring_cons c1, c2;
	struct gring g;

	gring_open(&g, 256, AT_END);
	p1 = p2 = g.p;
	c1 = c2 = g.c;
	/* The first of each pair moves... */
	CHECK_EQ(put(&g, 20, 1, NULL), 0);
	CHECK(get(&g, 20, 1));
	p1 = g.p;
	c1 = g.c;
	/* ...the second takes over where the first left off. */
	CHECK(v4v_ring_prod_resync(&p2));
	CHECK_EQ(p2.tx, p1.tx);
	CHECK(v4v_ring_cons_resync(&c2));
	CHECK_EQ(c2.rx, c1.rx);
	g.p = p2;
	g.c = c2;
	CHECK_EQ(put(&g, 30, 2, NULL), 0);
	CHECK(get(&g, 30, 2));
	for (unsigned i = 0; i < sizeof(bad_ptrs) / sizeof(bad_ptrs[0]); i++) {
		uint32_t tx = sh_of(&g)->tx_ptr, rx = sh_of(&g)->rx_ptr;

		p2 = g.p;
		c2 = g.c;
		sh_of(&g)->tx_ptr = bad_ptrs[i];
		sh_of(&g)->rx_ptr = bad_ptrs[i];
		CHECK(!v4v_ring_prod_resync(&p2));
		CHECK_EQ(p2.tx, g.p.tx);
		CHECK(!v4v_ring_cons_resync(&c2));
		CHECK_EQ(c2.rx, g.c.rx);
		sh_of(&g)->tx_ptr = tx;
		sh_of(&g)->rx_ptr = rx;
	}
	CHECK_EQ(put(&g, 40, 3, NULL), 0);
	CHECK(get(&g, 40, 3));
	gring_close(&g);
}

/* ---- two threads ------------------------------------------------------ */

#define STRESS_MSGS 400000u
#define STRESS_RING 1024u
#define STRESS_WAIT_S 10

struct stress {
	struct gring g;
	unsigned rx_bell, tx_bell; /* doorbells: bumped by the other side */
	int stop; /* set by a side that failed, so the other gives up */
	/* results, each written by one thread, read by main after join */
	unsigned long kicks, tx_sleeps, tx_bad, tx_lost; /* producer */
	unsigned long notifies, rx_sleeps, rx_bad, rx_lost; /* consumer */
};

static uint32_t stress_len(uint64_t *rs)
{
	uint32_t r = rnd_below(rs, 16);

	if (r == 0)
		return 0;
	if (r == 1)
		return rnd_below(rs, v4v_ring_max_payload(STRESS_RING) + 1);
	return rnd_below(rs, 200);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/*
 * Wait for the other side to ring `bell`, without looking at the ring: if
 * the flag protocol ever lost a wakeup we would wait here for good, so
 * give up after a while and count it as lost.
 */
static bool wait_bell(struct stress *s, unsigned *bell, unsigned *seen)
{
	double t0 = now_s();

	for (unsigned long i = 0;; i++) {
		unsigned b = __atomic_load_n(bell, __ATOMIC_ACQUIRE);

		if (b != *seen) {
			*seen = b;
			return true;
		}
		if (__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
			return false;
		if (i < 200)
			continue;
		sched_yield();
		if (i % 256 == 0 && now_s() - t0 > STRESS_WAIT_S)
			return false;
	}
}

static void nap(void)
{
	struct timespec ts = { 0, 200000 };

	nanosleep(&ts, NULL);
}

static void *stress_producer(void *arg)
{
	struct stress *s = arg;
	static uint8_t buf[STRESS_RING];
	uint64_t rs = 0x1234567;
	unsigned seen = 0;

	for (uint32_t seq = 0; seq < STRESS_MSGS; seq++) {
		uint32_t len = stress_len(&rs);
		struct v4v_addr a = addr_of(seq);
		struct iovec iov[2];
		bool kick;
		int rc;

		fill_pat(buf, seq, 0, len);
		iov[0] = (struct iovec){ buf, len / 3 };
		iov[1] = (struct iovec){ buf + len / 3, len - len / 3 };
		if (seq % 4096 == 2048)
			nap(); /* let the consumer drain and sleep */
		for (;;) {
			rc = v4v_ring_insert(&s->g.p, &a, seq, iov, 2, &kick);
			if (rc == 0)
				break;
			if (rc != -EAGAIN) {
				s->tx_bad++;
				goto out;
			}
			if (v4v_ring_want_space(&s->g.p, len))
				continue;
			s->tx_sleeps++;
			if (!wait_bell(s, &s->tx_bell, &seen)) {
				s->tx_lost++;
				goto out;
			}
		}
		if (kick) {
			s->kicks++;
			__atomic_fetch_add(&s->rx_bell, 1, __ATOMIC_RELEASE);
		}
	}
	return NULL;
out:
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *s = arg;
	static uint8_t buf[STRESS_RING];
	uint64_t rs = 0x1234567;
	unsigned seen = 0;
	uint32_t seq = 0;

	while (seq < STRESS_MSGS) {
		uint32_t len;
		struct v4v_ring_msg m;
		struct iovec iov[2];
		int rc = v4v_ring_peek(&s->g.c, &m);

		if (rc == 0) {
			if (!v4v_ring_arm(&s->g.c))
				continue;
			s->rx_sleeps++;
			if (!wait_bell(s, &s->rx_bell, &seen)) {
				s->rx_lost++;
				break;
			}
			continue;
		}
		len = stress_len(&rs);
		if (rc != 1 || m.payload_len != len || m.message_type != seq ||
		    m.source.port != seq) {
			fprintf(stderr,
				"stress: seq %u: rc %d len %u/%u type %u\n",
				seq, rc, m.payload_len, len, m.message_type);
			s->rx_bad++;
			break;
		}
		iov[0] = (struct iovec){ buf, len / 2 };
		iov[1] = (struct iovec){ buf + len / 2, sizeof(buf) - len / 2 };
		if (v4v_ring_readv(&s->g.c, &m, 0, iov, 2) != len ||
		    !check_pat(buf, seq, 0, len)) {
			fprintf(stderr, "stress: seq %u: bad payload\n", seq);
			s->rx_bad++;
			break;
		}
		if (v4v_ring_consume(&s->g.c, &m)) {
			s->notifies++;
			__atomic_fetch_add(&s->tx_bell, 1, __ATOMIC_RELEASE);
		}
		seq++;
		if (seq % 4096 == 0)
			nap(); /* let the producer fill the ring and sleep */
	}
	if (seq != STRESS_MSGS) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "stress: consumer stopped at %u\n", seq);
	}
	return NULL;
}

static void t_stress_threads(void)
{
	struct stress *s = calloc(1, sizeof(*s));
	pthread_t pt, ct;

	REQUIRE(s);
	gring_open(&s->g, STRESS_RING, AT_END);
	REQUIRE(pthread_create(&ct, NULL, stress_consumer, s) == 0);
	REQUIRE(pthread_create(&pt, NULL, stress_producer, s) == 0);
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);
	CHECK_EQ(s->tx_bad + s->rx_bad, 0);
	/* A side that waited STRESS_WAIT_S for a doorbell lost a wakeup. */
	CHECK_EQ(s->tx_lost, 0);
	CHECK_EQ(s->rx_lost, 0);
	/* Both the empty and the full path must have been taken. */
	CHECK(s->kicks > 0 && s->rx_sleeps > 0);
	CHECK(s->notifies > 0 && s->tx_sleeps > 0);
	CHECK_EQ(v4v_ring_used(&s->g.c), 0);
	printf("# stress: %u msgs, %lu kicks, %lu rx sleeps, %lu notifies, "
	       "%lu tx sleeps\n", STRESS_MSGS, s->kicks, s->rx_sleeps,
	       s->notifies, s->tx_sleeps);
	gring_close(&s->g);
	free(s);
}

static const struct t_case cases[] = {
	{ "size_check", t_size_check },
	{ "view_format", t_view_format },
	{ "empty", t_empty },
	{ "roundtrip", t_roundtrip },
	{ "zero_length", t_zero_length },
	{ "exact_fit", t_exact_fit },
	{ "msgsize", t_msgsize },
	{ "bad_iov", t_bad_iov },
	{ "wrap_payload", t_wrap_payload },
	{ "hdr_last_slot", t_hdr_last_slot },
	{ "readv_partial", t_readv_partial },
	{ "span", t_span },
	{ "source_pad", t_source_pad },
	{ "model_random", t_model_random },
	{ "bad_tx_ptr", t_bad_tx_ptr },
	{ "bad_len", t_bad_len },
	{ "bad_rx_ptr", t_bad_rx_ptr },
	{ "arm_kick", t_arm_kick },
	{ "arm_position", t_arm_position },
	{ "arm_hostile_flags", t_arm_hostile_flags },
	{ "want_space", t_want_space },
	{ "space_values", t_space_values },
	{ "oneway_flags", t_oneway_flags },
	{ "prod_start", t_prod_start },
	{ "prod_empty", t_prod_empty },
	{ "resync_turns", t_resync_turns },
	{ "stress_threads", t_stress_threads },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	return t_run(cases, argc, argv);
}
