/* SPDX-License-Identifier: MIT */
/*
 * The copy engine's fairness, pass by pass (src/hv/engine.c, dgram_q.c):
 * a queue moves at most its turn's budget in one pass, every other queue
 * of the shard gets its turn in the same pass, and a full receiver stalls
 * only the connection that writes to it.
 *
 * integ_fairness measures the same through real domains, but on a
 * crowded two-core machine a flooder moves too little for a missing
 * budget to show; here nothing depends on timing.  The engine's clock is
 * this file's: it jumps a millisecond per reading, so a shard's turn
 * (passes while there is work, for up to 50 us) is exactly one pass.
 * The engine's calls outside its files are stubs; rings are heap blocks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include "hv/hv.h"
#include "../engine_stubs.h"
#include "t.h"

#define RING (1u << 20)
#define MSG 4096u
#define DOMID 5

/* ---- the engine's clock and its calls outside engine.c, dgram_q.c ---- */

static uint64_t fake_ns;

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	(void)clk;
	fake_ns += 1000000u;
	ts->tv_sec = (time_t)(fake_ns / 1000000000u);
	ts->tv_nsec = (long)(fake_ns % 1000000000u);
	return 0;
}

static struct hv_ring *dgram_dst;	/* where datagrams go */
static uint32_t waiting_on;		/* handle of a ring with a waiter */

void hv_bell_ring(int bell)
{
	(void)bell;
}

void hv_bell_drain(int bell)
{
	(void)bell;
}

void hv_ring_room(struct hv_ring *r)
{
	(void)r;
}

void hv_ring_add_waiter(struct hv_ring *r, uint32_t handle, uint32_t need)
{
	(void)handle;
	(void)need;
	waiting_on = r->handle;
}

void hv_ring_del_waiter(struct hv_ring *r, uint32_t handle)
{
	(void)r;
	(void)handle;
	waiting_on = 0;
}

int hv_route_msg(struct hv *hv, struct hv_ring *own, const struct v4v_addr *to,
		 uint32_t type, uint32_t len, struct hv_ring **out)
{
	(void)hv;
	(void)own;
	(void)to;
	(void)type;
	(void)len;
	*out = dgram_dst;
	return 0;
}


/* ---- a shard and its rings ---- */

static struct hv hv;
static struct hv_shard shard;
static struct hv_domain dom = { .domid = DOMID };

static void engine_new(void)
{
	memset(&hv, 0, sizeof(hv));
	memset(&shard, 0, sizeof(shard));
	hv.cfg.strict = true;
	hv.epfd = -1;
	pthread_mutex_init(&hv.engine.dgram_lock, NULL);
	shard.hv = &hv;
	shard.epfd = -1;
	list_init(&shard.active);
	the_shard = &shard;
	waiting_on = 0;
}

/* A ring of `size` bytes; its memory is the caller's to free. */
static void *ring_new(struct v4v_ring *view, uint32_t size)
{
	size_t len = v4v_ring_mem_size(size);
	void *mem = malloc(len);

	REQUIRE(mem);
	v4v_ring_format(mem, size);
	REQUIRE(!v4v_ring_view(view, mem, len, size));
	return mem;
}

struct end {
	struct hv_ring r;
	struct v4v_ring view;	/* its receive ring */
	struct v4v_ring qview;	/* its transmit queue */
	void *mem, *qmem;
	struct v4v_ring_prod app;	/* the owner writing its queue */
	struct v4v_ring_cons reader;	/* the owner reading its ring */
};

static void end_new(struct end *e, uint32_t handle, uint32_t size)
{
	memset(e, 0, sizeof(*e));
	e->mem = ring_new(&e->view, size);
	e->qmem = ring_new(&e->qview, RING);
	e->r.handle = handle;
	e->r.dom = &dom;
	e->r.port = handle;
	e->r.size = size;
	e->r.bell = -1;
	e->r.has_txq = true;
	v4v_ring_prod_init(&e->r.prod, &e->view);
	v4v_ring_cons_init(&e->r.txq, &e->qview);
	v4v_ring_prod_init(&e->app, &e->qview);
	v4v_ring_cons_init(&e->reader, &e->view);
}

static void end_free(struct end *e)
{
	free(e->mem);
	free(e->qmem);
}

static void link_pair(struct end *a, struct end *b)
{
	a->r.state = b->r.state = HV_RING_LINKED;
	a->r.peer = &b->r;
	b->r.peer = &a->r;
}

/* Two connections in the shard, the flooder's first: f (its queue) to
 * fpeer, whose ring is fsize bytes, and p to ppeer.  f is a datagram
 * socket sending to fpeer when dgram. */
static void two_conns(struct end *f, struct end *fpeer, struct end *p,
		      struct end *ppeer, uint32_t fsize, bool dgram)
{
	engine_new();
	end_new(f, 1, RING);
	end_new(fpeer, 2, fsize);
	end_new(p, 3, RING);
	end_new(ppeer, 4, RING);
	if (dgram) {
		f->r.dgram_q = true;
		dgram_dst = &fpeer->r;
	} else {
		link_pair(f, fpeer);
	}
	link_pair(p, ppeer);
	hv_pump_start(&hv, &f->r);
	hv_pump_start(&hv, &p->r);
}

static void free_all(struct end *a, struct end *b, struct end *c,
		     struct end *d)
{
	end_free(a);
	end_free(b);
	end_free(c);
	end_free(d);
	dgram_dst = NULL;
}

/* `n` messages of `len` bytes into e's queue, as its owner would. */
static void queue_msgs(struct end *e, unsigned n, uint32_t len, bool dgram)
{
	static uint8_t buf[MSG];
	struct v4v_addr to = { .port = dgram_dst ? dgram_dst->port : 0,
			       .domid = DOMID };
	struct iovec iov = { buf, len };
	bool kick;

	while (n--)
		REQUIRE(!v4v_ring_insert(&e->app, &to,
					 dgram ? 0x44475231u : V4VP_MT_STREAM,
					 &iov, 1, &kick));
}

/* Bytes waiting in e's receive ring, looked at without consuming. */
static uint64_t pending(struct end *e)
{
	struct v4v_ring_msg m;
	uint64_t total = 0;
	struct v4v_ring_cons c = e->reader;

	while (v4v_ring_peek(&c, &m) > 0) {
		total += m.payload_len;
		v4v_ring_walk_next(&c, &m);
	}
	return total;
}

/* ---- the tests ---- */

/* A flooding stream goes first in the shard; one pass moves at most its
 * budget (and the rest of the message it is in), and the one-byte
 * message of the other connection goes in the same pass. */
static void test_stream_budget(void)
{
	struct end fa, fb, pa, pb;

	two_conns(&fa, &fb, &pa, &pb, RING, false);
	queue_msgs(&fa, 200, MSG, false);
	queue_msgs(&pa, 1, 1, false);
	CHECK_EQ(hv_shard_turn(&shard), 0);
	CHECK(pending(&fb) > 0);
	CHECK(pending(&fb) <= HV_TURN_BYTES + MSG);
	CHECK_EQ(pending(&pb), 1);
	/* And the flood still all arrives, in later passes. */
	for (int i = 0; i < 100 && hv_shard_turn(&shard) == 0; i++)
		;
	CHECK_EQ(pending(&fb), 200ull * MSG);
	free_all(&fa, &fb, &pa, &pb);
}

/* A receiver that does not read: its connection stalls on its full ring,
 * the other connection of the shard goes on. */
static void test_stall_own_only(void)
{
	struct end fa, fb, pa, pb;

	two_conns(&fa, &fb, &pa, &pb, 4096, false);
	queue_msgs(&fa, 10, MSG, false);
	CHECK_EQ(hv_shard_turn(&shard), 0);
	CHECK(fa.r.stalled);
	CHECK_EQ(waiting_on, fb.r.handle);
	queue_msgs(&pa, 3, 100, false);
	hv_shard_turn(&shard);
	CHECK_EQ(pending(&pb), 300);
	CHECK(fa.r.stalled);
	free_all(&fa, &fb, &pa, &pb);
}

/* A datagram socket flooding one receiver has the same budget per pass
 * as a stream. */
static void test_dgram_budget(void)
{
	struct end d, dst, pa, pb;

	two_conns(&d, &dst, &pa, &pb, RING, true);
	queue_msgs(&d, 200, MSG, true);
	queue_msgs(&pa, 1, 1, false);
	CHECK_EQ(hv_shard_turn(&shard), 0);
	CHECK(pending(&dst) > 0);
	CHECK(pending(&dst) <= HV_TURN_BYTES + MSG);
	CHECK_EQ(pending(&pb), 1);
	free_all(&d, &dst, &pa, &pb);
}

static const struct t_case cases[] = {
	{ "stream_budget", test_stream_budget },
	{ "stall_own_only", test_stall_own_only },
	{ "dgram_budget", test_dgram_budget },
	{ 0 },
};

int main(int argc, char **argv)
{
	return t_run(cases, argc, argv);
}
