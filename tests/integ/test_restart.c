/* SPDX-License-Identifier: MIT */
/*
 * v4vd goes away under live sockets, cleanly (SIGTERM) or killed
 * (SIGKILL, as a crash), and a new v4vd starts: every socket learns it,
 * nothing waits for ever, and new sockets work.  Direct, or strict with
 * V4V_TEST_STRICT=1.  (A killed v4vd is covered by its guardian,
 * src/hv/guardian.c.)
 *
 *  - idle:    a listener, both ends of a connection and a datagram
 *             socket, their owner asleep in poll: all wake; accept and
 *             the receives fail with ECONNRESET, sends with EPIPE;
 *  - blocked: threads asleep in accept, in a stream receive, in a stream
 *             send on a full ring and in a datagram receive: each returns
 *             an error within seconds;
 *  - afterwards the domain starts over: a new listener takes a
 *    connection under the new v4vd.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

static int listener(struct sockaddr_v4v *me)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = V4V_DOMID_ANY };
	socklen_t len = sizeof(*me);
	int fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0 || v4v_bind(fd, SA(a), sizeof(a)) || v4v_listen(fd, 8) ||
	    v4v_getsockname(fd, (struct sockaddr *)me, &len))
		return -1;
	return fd;
}

/* A connection within this domain: *c the client's end, *s the
 * server's. */
static int pair(int l, const struct sockaddr_v4v *at, int *c, int *s)
{
	*c = v4v_socket(AF_V4V, SOCK_STREAM, 0);
	if (*c < 0 || v4v_connect(*c, (const struct sockaddr *)at,
				  sizeof(*at)))
		return -1;
	*s = v4v_accept(l, NULL, NULL);
	return *s < 0 ? -1 : 0;
}

static int dgram(void)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = V4V_DOMID_ANY };
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0 || v4v_bind(fd, SA(a), sizeof(a)))
		return -1;
	return fd;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* The domain, with the new v4vd, makes a connection again. */
static bool starts_over(void)
{
	struct sockaddr_v4v me;
	int l = listener(&me), c, s;
	char b;

	return l >= 0 && !pair(l, &me, &c, &s) && v4v_send(c, "y", 1, 0) == 1 &&
	       v4v_recv(s, &b, 1, 0) == 1 && b == 'y';
}

/* ---- idle: asleep in poll ---- */

static int idle(void *arg)
{
	struct restart_gates *r = arg;
	struct sockaddr_v4v me;
	int l = listener(&me), c = -1, s = -1, d = dgram();
	struct pollfd p[4];
	char buf[4];

	EXPECT(l >= 0 && d >= 0 && !pair(l, &me, &c, &s), 1);
	p[0] = (struct pollfd){ .fd = l, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = c, .events = POLLIN };
	p[2] = (struct pollfd){ .fd = s, .events = POLLIN };
	p[3] = (struct pollfd){ .fd = d, .events = POLLIN };
	gate_open(&r->up, 1);
	/* One poll, asleep while v4vd goes: all four wake. */
	for (int i = 0; i < 4; i++)
		EXPECT(readable(p[i].fd, 3000), 10 + i);
	EXPECT(gate_wait(&r->again) == 1, 2);
	/* The listener says so, blocking or not, rather than wait. */
	EXPECT(v4v_accept(l, NULL, NULL) < 0 && errno == ECONNRESET, 3);
	EXPECT(!fcntl(l, F_SETFL, O_NONBLOCK), 4);
	EXPECT(v4v_accept(l, NULL, NULL) < 0 && errno == ECONNRESET, 5);
	/* Both ends of the connection learn the same thing. */
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET, 6);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET, 7);
	EXPECT(v4v_send(c, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 8);
	EXPECT(v4v_send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 9);
	EXPECT(v4v_recv(d, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET,
	       14);
	EXPECT(starts_over(), 15);
	return 0;
}

/* ---- blocked: asleep in the calls themselves ---- */

struct blocked {
	int fd;
	int what;	/* 0 accept, 1 recv, 2 send until it fails */
	int err;	/* errno it ended with */
	struct gate done;
};

static void *block_in(void *arg)
{
	struct blocked *b = arg;
	static char chunk[64 << 10];
	char buf[16];

	for (;;) {
		ssize_t n = b->what == 0 ? v4v_accept(b->fd, NULL, NULL)
			  : b->what == 1 ? v4v_recv(b->fd, buf, sizeof(buf), 0)
			  : v4v_send(b->fd, chunk, sizeof(chunk), MSG_NOSIGNAL);

		if (n < 0) {
			b->err = errno;
			break;
		}
		if (b->what != 2) {
			b->err = 0; /* woke with something: wrong */
			break;
		}
	}
	gate_open(&b->done, 1);
	return NULL;
}

static int blocked(void *arg)
{
	struct restart_gates *r = arg;
	struct sockaddr_v4v me;
	int l = listener(&me), l2 = listener(&me), c, s, c2, s2, d = dgram();
	struct blocked b[4] = {
		{ .what = 0 }, { .what = 1 }, { .what = 2 }, { .what = 1 },
	};
	pthread_t t[4];

	/* l2 made the last address: the pairs connect to it. */
	EXPECT(l >= 0 && l2 >= 0 && d >= 0, 1);
	EXPECT(!pair(l2, &me, &c, &s) && !pair(l2, &me, &c2, &s2), 2);
	b[0].fd = l;	/* accept: nobody connects */
	b[1].fd = s;	/* recv: nobody sends */
	b[2].fd = c2;	/* send: nobody reads s2, the ring fills */
	b[3].fd = d;	/* datagram recv: nobody sends */
	for (int i = 0; i < 4; i++) {
		gate_init(&b[i].done);
		EXPECT(!pthread_create(&t[i], NULL, block_in, &b[i]), 3);
	}
	usleep(300000); /* all asleep, the sender on a full ring */
	gate_open(&r->up, 1);
	for (int i = 0; i < 4; i++) {
		/* Each returns (the watchdog fails a hang), with an error. */
		EXPECT(gate_wait(&b[i].done) == 1, 4);
		pthread_join(t[i], NULL);
	}
	EXPECT(b[0].err == ECONNRESET, 10);
	EXPECT(b[1].err == ECONNRESET, 11);
	EXPECT(b[2].err == EPIPE || b[2].err == ECONNRESET, 12);
	EXPECT(b[3].err == ECONNRESET, 13);
	EXPECT(gate_wait(&r->again) == 1, 5);
	EXPECT(starts_over(), 6);
	return 0;
}

static void test_idle_term(void)
{
	CHECK_EQ(dom_across_restart(&hv, idle, SIGTERM), 0);
}

static void test_idle_kill(void)
{
	CHECK_EQ(dom_across_restart(&hv, idle, SIGKILL), 0);
}

static void test_blocked_term(void)
{
	CHECK_EQ(dom_across_restart(&hv, blocked, SIGTERM), 0);
}

static void test_blocked_kill(void)
{
	CHECK_EQ(dom_across_restart(&hv, blocked, SIGKILL), 0);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "idle_term", test_idle_term },
		{ "idle_kill", test_idle_kill },
		{ "blocked_term", test_blocked_term },
		{ "blocked_kill", test_blocked_kill },
		{ 0 }
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	hv_start(&hv, NULL);
	hv_watchdog(&hv, 60);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
