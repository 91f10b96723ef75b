/* SPDX-License-Identifier: MIT */
/*
 * Fairness: one domain that never stops sending must not slow the others
 * down.  A pair of domains streams (or sends datagrams) as fast as it can
 * while another pair ping-pongs one byte over its own stream connection;
 * the ping-pong's median round trip during the flood must stay within
 * twice its median alone (before or after the flood, the slower).  In
 * strict mode both connections go through the same copy engine, so this
 * is the engine's per-turn budget at work; in direct mode it shows that
 * the flood's rings and doorbells touch nobody else (a datagram flood
 * still goes through the engine there).
 *
 * On a machine with fewer cores than the busy parties (two ping-pongers,
 * two flooders, and v4vd in strict mode) the test would measure the
 * kernel's CPU scheduler, not v4vd.  There the flooders run under
 * SCHED_IDLE, so they get only what the ping-pong leaves, and in strict
 * mode every domain is pinned to CPU 0, leaving v4vd's engine the other
 * core.  The flood is then CPU-bound (tens of MB in the timed window on
 * two cores, far more where it has cores) but keeps the engine's queue
 * busy; the test insists that at least 1 MiB moved while the ping-pong
 * was timed.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"

#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

#define ROUNDS 4000
#define FLOOD_PORT 81
#define PP_PORT 82
#define CHUNK (64u << 10)

static struct sockaddr_v4v addr(v4v_domid_t d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V };

	a.v4v_domid = d;
	a.v4v_port = port;
	return a;
}

/* A listener's end of one connection, its domid sent through the gate. */
static int serve_one(struct gate *ready, uint32_t port)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, port);
	int l = v4v_socket(AF_V4V, SOCK_STREAM, 0), s;

	if (l < 0 || v4v_bind(l, SA(me), sizeof(me)) || v4v_listen(l, 1)) {
		gate_open(ready, V4V_DOMID_INVALID);
		return -1;
	}
	gate_open(ready, (uint32_t)v4v_domid());
	s = v4v_accept(l, NULL, NULL);
	v4v_close(l);
	return s;
}

static int dial(struct gate *ready, uint32_t port)
{
	struct sockaddr_v4v to = addr((v4v_domid_t)gate_wait(ready), port);
	int s = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (s < 0 || to.v4v_domid > V4V_DOMID_MAX ||
	    v4v_connect(s, SA(to), sizeof(to))) {
		if (s >= 0)
			v4v_close(s);
		return -1;
	}
	return s;
}

/* Fewer cores than busy parties: see the top of the file. */
static bool crowded(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) < 6;
}

/* Only where v4vd is a busy party (strict).  Direct receivers busy-poll
 * without yielding, so pinning two of them to one core would measure
 * that instead. */
static void share_cpu0(void)
{
	const char *strict = getenv("V4V_TEST_STRICT");
	cpu_set_t set;

	if (!crowded() || !strict || strcmp(strict, "1"))
		return;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void flooder_priority(void)
{
	struct sched_param sp = { 0 };

	if (!crowded())
		return;
	share_cpu0();
	sched_setscheduler(0, SCHED_IDLE, &sp);
}

/* ---- the flood: a sender that never stops, a reader that keeps up ---- */

struct flood {
	struct gate ready;
	uint64_t *received;	/* shared with the test process */
	bool stalled;		/* the sink never reads: a full ring */
	bool dgram;		/* datagrams, through the copy engine in both
				 * modes, instead of a stream */
};

/* A datagram flood's: large, and well under the sink's default ring. */
#define DGRAM (16u << 10)

static int dgram_sink(struct flood *f)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, FLOOD_PORT);
	int s = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	static char buf[DGRAM];
	ssize_t n;

	if (s < 0 || v4v_bind(s, SA(me), sizeof(me))) {
		gate_open(&f->ready, V4V_DOMID_INVALID);
		return 1;
	}
	gate_open(&f->ready, (uint32_t)v4v_domid());
	if (f->stalled)
		pause();
	while ((n = v4v_recv(s, buf, sizeof(buf), 0)) > 0)
		__atomic_add_fetch(f->received, (uint64_t)n, __ATOMIC_RELAXED);
	return 2;
}

static int dgram_source(struct flood *f)
{
	struct sockaddr_v4v to = addr((v4v_domid_t)gate_wait(&f->ready),
				      FLOOD_PORT);
	int s = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	static char buf[DGRAM];

	EXPECT(s >= 0 && to.v4v_domid <= V4V_DOMID_MAX, 21);
	memset(buf, 0xd1, sizeof(buf));
	/* Until the test kills us. */
	for (;;)
		EXPECT(v4v_sendto(s, buf, sizeof(buf), 0, SA(to), sizeof(to)) ==
		       (ssize_t)sizeof(buf), 22);
}

static int flood_sink(void *arg)
{
	struct flood *f = arg;
	static char buf[CHUNK];
	int s;
	ssize_t n;

	flooder_priority();
	if (f->dgram)
		return dgram_sink(f);
	s = serve_one(&f->ready, FLOOD_PORT);
	EXPECT(s >= 0, 1);
	if (f->stalled)
		pause(); /* until the test kills us */
	while ((n = v4v_recv(s, buf, sizeof(buf), 0)) > 0)
		__atomic_add_fetch(f->received, (uint64_t)n, __ATOMIC_RELAXED);
	return n == 0 ? 0 : 2;
}

static int flood_source(void *arg)
{
	struct flood *f = arg;
	static char buf[CHUNK];
	int s;

	flooder_priority();
	if (f->dgram)
		return dgram_source(f);
	s = dial(&f->ready, FLOOD_PORT);
	EXPECT(s >= 0, 11);
	memset(buf, 0xf1, sizeof(buf));
	/* Until the test kills us. */
	for (;;)
		EXPECT(v4v_send(s, buf, sizeof(buf), MSG_NOSIGNAL) > 0, 12);
}

/* ---- the victim: a one-byte ping-pong, timed ---- */

struct pp {
	struct gate ready;
	struct gate done;	/* the client's median, in ns */
};

static int pp_echo(void *arg)
{
	struct pp *p = arg;
	int s;
	char c;

	share_cpu0();
	s = serve_one(&p->ready, PP_PORT);
	ssize_t n;

	EXPECT(s >= 0, 21);
	while ((n = v4v_recv(s, &c, 1, 0)) == 1)
		EXPECT(v4v_send(s, &c, 1, MSG_NOSIGNAL) == 1, 22);
	return n == 0 ? 0 : 23;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int pp_client(void *arg)
{
	struct pp *p = arg;
	static uint64_t rtt[ROUNDS];
	int s;

	share_cpu0();
	s = dial(&p->ready, PP_PORT);

	EXPECT(s >= 0, 31);
	for (int i = 0; i < ROUNDS; i++) {
		char c = (char)i, back;
		uint64_t t0 = now_ns();

		EXPECT(v4v_send(s, &c, 1, MSG_NOSIGNAL) == 1, 32);
		EXPECT(v4v_recv(s, &back, 1, 0) == 1, 33);
		EXPECT(back == c, 34);
		rtt[i] = now_ns() - t0;
	}
	v4v_close(s);
	qsort(rtt, ROUNDS, sizeof(rtt[0]), cmp_u64);
	gate_open(&p->done, (uint32_t)rtt[ROUNDS / 2]);
	return 0;
}

/* The median round trip of one ping-pong run, in ns. */
static uint64_t ping_pong(void)
{
	struct pp p;
	pid_t echo, client;
	uint64_t median;

	gate_init(&p.ready);
	gate_init(&p.done);
	echo = dom_spawn(pp_echo, &p);
	client = dom_spawn(pp_client, &p);
	median = gate_wait(&p.done);
	CHECK_EQ(dom_wait(client), 0);
	CHECK_EQ(dom_wait(echo), 0);
	return median;
}

/* The idle figure: the middle of three runs.  A sub-microsecond round
 * trip on a shared two-core machine moves with whatever else runs there
 * (0.5 us in one run, 1.3 us in the next), and one lucky run alone
 * would make the 2x bound a test of that luck. */
static uint64_t ping_pong_alone(void)
{
	uint64_t r[3];

	for (int i = 0; i < 3; i++)
		r[i] = ping_pong();
	qsort(r, 3, sizeof(r[0]), cmp_u64);
	return r[1];
}

static void flood_run(bool stalled, bool dgram)
{
	uint64_t alone, during, after, moved;
	struct flood f = { .stalled = stalled, .dgram = dgram };
	pid_t sink, source;

	ping_pong(); /* warm up: first domains, first rings */
	alone = ping_pong_alone();
	f.received = mmap(NULL, sizeof(*f.received), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(f.received != MAP_FAILED);
	gate_init(&f.ready);
	sink = dom_spawn(flood_sink, &f);
	source = dom_spawn(flood_source, &f);
	usleep(200000);
	moved = __atomic_load_n(f.received, __ATOMIC_RELAXED);
	during = ping_pong();
	moved = __atomic_load_n(f.received, __ATOMIC_RELAXED) - moved;
	kill(source, SIGKILL);
	CHECK_EQ(dom_wait(source), 128 + SIGKILL);
	/* Datagrams have no end: their sink is killed too. */
	if (stalled || dgram)
		kill(sink, SIGKILL);
	/* The sink sees the end of its stream (a reset is also fine: the
	 * source died with data queued). */
	dom_wait(sink);
	/* Alone again, after: the machine's own speed moves by 3x from one
	 * second to the next (0.4 us, then 1.4 us for minutes), and the
	 * flood is to blame only if the ping-pong is slow during it but
	 * not on both sides of it. */
	after = ping_pong_alone();
	printf("ping-pong median round trip: %.1f us alone, %.1f us during "
	       "a %s (%.1f MB of it received meanwhile), %.1f us alone "
	       "after\n", alone / 1e3, during / 1e3,
	       stalled ? "sender stalled on a full ring"
	       : dgram ? "datagram flood" : "flood",
	       moved / 1e6, after / 1e3);
	fflush(stdout);
	CHECK(stalled || moved >= (1u << 20));
	CHECK(during <= 2 * (alone > after ? alone : after));
	CHECK(hv_alive(&hv));
	munmap(f.received, sizeof(*f.received));
}

static void test_stream_flood(void)
{
	flood_run(false, false);
}

/* A sender whose receiver never reads stalls only its own connection. */
static void test_stalled_flood(void)
{
	flood_run(true, false);
}

/* Datagrams share the copy engine with strict streams.  In direct mode
 * on a crowded machine the engine copying the flood is one more busy
 * party beside two spinning ping-pongers (a run took 113 us against
 * 0.3): the kernel's scheduler, not v4vd, is measured; skipped. */
static void test_dgram_flood(void)
{
	const char *strict = getenv("V4V_TEST_STRICT");

	if (crowded() && (!strict || strcmp(strict, "1"))) {
		printf("skip dgram_flood: direct mode on %ld cores\n",
		       sysconf(_SC_NPROCESSORS_ONLN));
		return;
	}
	flood_run(false, true);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "stream_flood", test_stream_flood },
		{ "stalled_flood", test_stalled_flood },
		{ "dgram_flood", test_dgram_flood },
		{ 0 }
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	hv_watchdog(&hv, 120);
	hv_start(&hv, NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
