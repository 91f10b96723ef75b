/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets between real domains, direct or (with V4V_TEST_STRICT=1)
 * mediated by a strict v4vd: handshake, byte-stream integrity under
 * random chunking, half-close, close with data in flight, resets,
 * refused connections, non-blocking connect, peek/waitall/FIONREAD,
 * EPIPE, accept-then-fork, threads, a peer killed mid-stream, and the
 * zero-copy calls.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/link.h"
#include "v4v/socket.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

static struct sockaddr_v4v addr(int d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = (v4v_domid_t)d,
				  .v4v_port = port };
	return a;
}

static int listener(uint32_t port)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, port);
	int fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0 || v4v_bind(fd, SA(me), sizeof(me)) || v4v_listen(fd, 16))
		return -1;
	return fd;
}

static int dial(int domid, uint32_t port)
{
	struct sockaddr_v4v to = addr(domid, port);
	int fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0 || v4v_connect(fd, SA(to), sizeof(to)))
		return -1;
	return fd;
}

/* A deterministic byte stream: byte i of stream `seed`. */
static uint8_t sbyte(uint32_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull + seed;

	return (uint8_t)((x ^ (x >> 29)) >> ((i & 7) * 8));
}

static int send_stream(int fd, uint32_t seed, uint64_t total)
{
	static __thread uint8_t buf[200000];
	uint64_t sent = 0;
	unsigned r = seed;

	while (sent < total) {
		size_t n = (size_t)(rand_r(&r) % sizeof(buf)) + 1;
		ssize_t k;

		if (n > total - sent)
			n = (size_t)(total - sent);
		for (size_t i = 0; i < n; i++)
			buf[i] = sbyte(seed, sent + i);
		k = v4v_send(fd, buf, n, 0);
		if (k <= 0)
			return -1;
		sent += (uint64_t)k;
	}
	return 0;
}

/* Read exactly `total` bytes (then optionally expect EOF). */
static int recv_stream(int fd, uint32_t seed, uint64_t total, bool eof)
{
	static __thread uint8_t buf[150000];
	uint64_t got = 0;
	unsigned r = seed * 7;

	while (got < total) {
		size_t n = (size_t)(rand_r(&r) % sizeof(buf)) + 1;
		ssize_t k = v4v_recv(fd, buf, n, 0);

		if (k <= 0)
			return -1;
		for (ssize_t i = 0; i < k; i++)
			if (buf[i] != sbyte(seed, got + (uint64_t)i))
				return -2;
		got += (uint64_t)k;
	}
	if (eof && v4v_recv(fd, buf, 1, 0) != 0)
		return -3;
	return 0;
}

struct pair {
	struct gate ready, done;
	uint64_t bytes;
};

/* ---- echo: both directions at once, half-close, EOF ---- */

static int echo_srv(void *arg)
{
	struct pair *p = arg;
	struct sockaddr_v4v peer, me;
	socklen_t plen = sizeof(peer), mlen = sizeof(me);
	static uint8_t buf[65536];
	int l = listener(300), c;
	ssize_t n;

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, SA(peer), &plen);
	EXPECT(c >= 0, 11);
	EXPECT(!v4v_getsockname(c, SA(me), &mlen) && me.v4v_port == 300, 12);
	EXPECT(peer.v4v_domid != me.v4v_domid, 13);
	while ((n = v4v_recv(c, buf, sizeof(buf), 0)) > 0) {
		ssize_t k = v4v_send(c, buf, (size_t)n, 0);

		if (k != n) {
			fprintf(stderr, "echo_srv: send %zd of %zd: %s\n", k,
				n, strerror(errno));
			return 14;
		}
	}
	if (n != 0)
		fprintf(stderr, "echo_srv: recv: %s\n", strerror(errno));
	EXPECT(n == 0, 15);
	/* Our end of the stream, then the peer reads EOF. */
	v4v_close(c);
	return 0;
}

static void *echo_writer(void *arg)
{
	int fd = *(int *)arg;

	if (send_stream(fd, 42, 20u << 20) || v4v_shutdown(fd, SHUT_WR))
		return (void *)1;
	return NULL;
}

static int echo_cli(void *arg)
{
	struct pair *p = arg;
	int srv = (int)gate_wait(&p->ready);
	int fd = dial(srv, 300);
	struct sockaddr_v4v peer;
	socklen_t plen = sizeof(peer);
	pthread_t w;
	void *wr;
	int rc;

	EXPECT(fd >= 0, 20);
	EXPECT(!v4v_getpeername(fd, SA(peer), &plen) &&
	       peer.v4v_domid == srv && peer.v4v_port == 300, 21);
	pthread_create(&w, NULL, echo_writer, &fd);
	rc = recv_stream(fd, 42, 20u << 20, true);
	pthread_join(w, &wr);
	EXPECT(rc == 0, 22 - rc);
	EXPECT(wr == NULL, 26);
	return 0;
}

static void test_echo(void)
{
	struct pair p;
	pid_t s, c;

	gate_init(&p.ready);
	s = dom_spawn(echo_srv, &p);
	c = dom_spawn(echo_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- close with data in flight: everything, then EOF ---- */

static int burst_srv(void *arg)
{
	struct pair *p = arg;
	int l = listener(301), c;

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, NULL, NULL);
	EXPECT(c >= 0, 11);
	/* Let the client finish and close before we read a byte. */
	EXPECT(gate_wait(&p->done) == 1, 12);
	EXPECT(recv_stream(c, 7, p->bytes, true) == 0, 13);
	return 0;
}

static int burst_cli(void *arg)
{
	struct pair *p = arg;
	int fd = dial((int)gate_wait(&p->ready), 301);

	EXPECT(fd >= 0, 20);
	EXPECT(send_stream(fd, 7, p->bytes) == 0, 21);
	EXPECT(v4v_close(fd) == 0, 22);
	gate_open(&p->done, 1);
	return 0;
}

static void test_close_in_flight(void)
{
	struct pair p = { .bytes = 200000 };
	pid_t s, c;

	gate_init(&p.ready);
	gate_init(&p.done);
	s = dom_spawn(burst_srv, &p);
	c = dom_spawn(burst_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- errors, flags, non-blocking connect, SO_LINGER 0 ---- */

static int local_misc(void *arg)
{
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	struct linger lg = { 1, 0 };
	struct pollfd pfd;
	int l = listener(0), c, s, err, n;
	char buf[16];

	(void)arg;
	EXPECT(l >= 0 && !v4v_getsockname(l, SA(me), &len), 1);
	EXPECT(dial(v4v_domid(), 4321) < 0 && errno == ECONNREFUSED, 2);
	/* Non-blocking connect: in progress as the kernel says, but
	 * queued is made (TCP's handshake completes before accept):
	 * writable at once, and what is sent waits for the server. */
	c = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_NONBLOCK, 0);
	EXPECT(v4v_connect(c, SA(me), sizeof(me)) < 0 &&
	       errno == EINPROGRESS, 3);
	pfd = (struct pollfd){ .fd = c, .events = POLLOUT };
	EXPECT(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLOUT), 4);
	len = sizeof(err);
	EXPECT(!v4v_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) &&
	       err == 0, 8);
	/* Peek, waitall, FIONREAD. */
	EXPECT(v4v_send(c, "hello", 5, 0) == 5, 9);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 6);
	EXPECT(v4v_send(c, " world", 6, 0) == 6, 10);
	pfd = (struct pollfd){ .fd = s, .events = POLLIN };
	EXPECT(poll(&pfd, 1, 1000) == 1, 11);
	/* Strict mode moves the two sends separately, in its own time. */
	for (int i = 0; i < 1000; i++)
		if (!v4v_ioctl(s, FIONREAD, &n) && n == 11)
			break;
		else
			usleep(1000);
	EXPECT(!v4v_ioctl(s, FIONREAD, &n) && n == 11, 12);
	EXPECT(v4v_recv(s, buf, 3, MSG_PEEK) == 3 && !memcmp(buf, "hel", 3),
	       13);
	EXPECT(v4v_recv(s, buf, 8, MSG_WAITALL) == 8 &&
	       !memcmp(buf, "hello wo", 8), 14);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 3, 15);
	EXPECT(v4v_recv(s, buf, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, 16);
	EXPECT(poll(&pfd, 1, 0) == 0, 17);
	/* Abortive close: the peer sees a reset, and later sends EPIPE. */
	EXPECT(!v4v_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 18);
	v4v_close(c);
	EXPECT(poll(&pfd, 1, 1000) == 1, 19);
	EXPECT(v4v_recv(s, buf, 1, 0) < 0 && errno == ECONNRESET, 20);
	for (int i = 0; i < 100; i++)
		if (v4v_send(s, "x", 1, MSG_NOSIGNAL) < 0)
			break;
	EXPECT(errno == EPIPE, 21);
	return 0;
}

static void test_misc(void)
{
	CHECK_EQ(dom_wait(dom_spawn(local_misc, NULL)), 0);
}

/* ---- accept, then fork: the child serves, the parent closes ---- */

static int forking_srv(void *arg)
{
	struct pair *p = arg;
	int l = listener(302);

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	for (int i = 0; i < 3; i++) {
		int c = v4v_accept(l, NULL, NULL);
		pid_t pid;

		EXPECT(c >= 0, 11);
		pid = fork();
		if (pid == 0) {
			char buf[4096];
			ssize_t n;

			v4v_close(l);
			while ((n = v4v_recv(c, buf, sizeof(buf), 0)) > 0)
				if (v4v_send(c, buf, (size_t)n, 0) != n)
					_exit(1);
			_exit(n == 0 ? 0 : 2);
		}
		v4v_close(c);
	}
	for (int i = 0; i < 3; i++) {
		int st;

		wait(&st);
		EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, 12);
	}
	return 0;
}

static int forking_cli(void *arg)
{
	struct pair *p = arg;
	int srv = (int)gate_wait(&p->ready);

	for (int i = 0; i < 3; i++) {
		int fd = dial(srv, 302);

		EXPECT(fd >= 0, 20);
		EXPECT(send_stream(fd, (uint32_t)i, 100000) == 0, 21);
		EXPECT(v4v_shutdown(fd, SHUT_WR) == 0, 22);
		EXPECT(recv_stream(fd, (uint32_t)i, 100000, true) == 0, 23);
		v4v_close(fd);
	}
	return 0;
}

static void test_accept_fork(void)
{
	struct pair p;
	pid_t s, c;

	gate_init(&p.ready);
	s = dom_spawn(forking_srv, &p);
	c = dom_spawn(forking_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- the peer is killed mid-stream ---- */

static int victim_srv(void *arg)
{
	struct pair *p = arg;
	int l = listener(303), c;

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, NULL, NULL);
	EXPECT(c >= 0, 11);
	send_stream(c, 9, 1ull << 40); /* until killed */
	fprintf(stderr, "victim: send failed: %s\n", strerror(errno));
	return 12;
}

static int survivor_cli(void *arg)
{
	struct pair *p = arg;
	static uint8_t buf[65536];
	int fd = dial((int)gate_wait(&p->ready), 303);
	uint64_t got = 0, t_dead;
	ssize_t k;

	EXPECT(fd >= 0, 20);
	while (got < (4u << 20)) {
		k = v4v_recv(fd, buf, sizeof(buf), 0);
		if (k <= 0)
			fprintf(stderr, "survivor: recv %zd (%s) after %llu\n",
				k, strerror(errno), (unsigned long long)got);
		EXPECT(k > 0, 21);
		for (ssize_t i = 0; i < k; i++)
			EXPECT(buf[i] == sbyte(9, got + (uint64_t)i), 22);
		got += (uint64_t)k;
	}
	gate_open(&p->done, 1);	/* parent kills the server now */
	EXPECT(gate_wait(&p->ready) == 2, 23);
	t_dead = now_ns();
	for (;;) {
		k = v4v_recv(fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		for (ssize_t i = 0; i < k; i++)
			EXPECT(buf[i] == sbyte(9, got + (uint64_t)i), 24);
		got += (uint64_t)k;
	}
	EXPECT(k == 0 || errno == ECONNRESET, 25);
	/* Within 100 ms of the death (less what the ring held). */
	EXPECT(now_ns() - t_dead < 100000000ull, 26);
	return 0;
}

static void test_peer_killed(void)
{
	struct pair p;
	pid_t s, c;

	gate_init(&p.ready);
	gate_init(&p.done);
	s = dom_spawn(victim_srv, &p);
	c = dom_spawn(survivor_cli, &p);
	CHECK_EQ(gate_wait(&p.done), 1);
	kill(s, SIGKILL);
	CHECK_EQ(dom_wait(s), 128 + SIGKILL);
	gate_open(&p.ready, 2);
	CHECK_EQ(dom_wait(c), 0);
}

/* ---- several threads on one socket: whole calls stay whole ---- */

#define REC 1000
#define RECS_PER_THREAD 3000

struct rec_io {
	int fd;
	int id;
	int bad;
	uint32_t seen[4];
};

static void *rec_sender(void *arg)
{
	struct rec_io *io = arg;
	uint8_t rec[REC];

	for (uint32_t i = 0; i < RECS_PER_THREAD; i++) {
		memset(rec, io->id, sizeof(rec));
		memcpy(rec, &i, sizeof(i));
		if (v4v_send(io->fd, rec, sizeof(rec), 0) != REC)
			io->bad++;
	}
	return NULL;
}

/* Each record must be one sender's, intact, and each sender's records
 * must arrive in order (per receiving thread, they are increasing).  As
 * on TCP, a MSG_WAITALL receive that sleeps lets another reader in: the
 * readers take turns per record themselves. */
static pthread_mutex_t rec_turn = PTHREAD_MUTEX_INITIALIZER;

static void *rec_receiver(void *arg)
{
	struct rec_io *io = arg;
	uint32_t last[4] = { 0 };
	bool any[4] = { false };
	uint8_t rec[REC];

	for (;;) {
		ssize_t n;
		uint32_t seq;
		int who;

		pthread_mutex_lock(&rec_turn);
		n = v4v_recv(io->fd, rec, sizeof(rec), MSG_WAITALL);
		pthread_mutex_unlock(&rec_turn);

		if (n == 0)
			break;
		if (n != REC) {
			io->bad++;
			break;
		}
		memcpy(&seq, rec, sizeof(seq));
		who = rec[REC - 1];
		if (who < 1 || who > 2)
			goto bad;
		for (int k = sizeof(seq); k < REC; k++)
			if (rec[k] != who)
				goto bad;
		if (any[who] && seq <= last[who])
			goto bad;
		any[who] = true;
		last[who] = seq;
		io->seen[who]++;
		continue;
bad:
		if (!io->bad)
			fprintf(stderr, "rec_receiver: bad record: who %d seq %u "
				"(last %u)\n", who, seq,
				who >= 1 && who <= 2 ? last[who] : 0);
		io->bad++;
	}
	return NULL;
}

static int thr_srv(void *arg)
{
	struct pair *p = arg;
	int l = listener(304), c;
	struct rec_io io[2];
	pthread_t t[2];

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, NULL, NULL);
	EXPECT(c >= 0, 11);
	for (int i = 0; i < 2; i++) {
		io[i] = (struct rec_io){ .fd = c };
		pthread_create(&t[i], NULL, rec_receiver, &io[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	EXPECT(!io[0].bad && !io[1].bad, 12);
	for (int who = 1; who <= 2; who++)
		EXPECT(io[0].seen[who] + io[1].seen[who] == RECS_PER_THREAD,
		       13);
	return 0;
}

static int thr_cli(void *arg)
{
	struct pair *p = arg;
	int fd = dial((int)gate_wait(&p->ready), 304);
	struct rec_io io[2];
	pthread_t t[2];

	EXPECT(fd >= 0, 20);
	for (int i = 0; i < 2; i++) {
		io[i] = (struct rec_io){ .fd = fd, .id = i + 1 };
		pthread_create(&t[i], NULL, rec_sender, &io[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	EXPECT(!io[0].bad && !io[1].bad, 21);
	v4v_close(fd);
	return 0;
}

static void test_threads(void)
{
	struct pair p;
	pid_t s, c;

	gate_init(&p.ready);
	s = dom_spawn(thr_srv, &p);
	c = dom_spawn(thr_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- viptables refuses a connection ---- */

static int rejected(void *arg)
{
	struct v4vp_vipt_add add = { .pos = 0 };
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	struct v4v_ctl *ctl;
	int l = listener(0), rc;

	(void)arg;
	EXPECT(l >= 0 && !v4v_getsockname(l, SA(me), &len), 1);
	add.rule.src.flags = V4VP_MATCH_ANY_DOM | V4VP_MATCH_ANY_PORT;
	add.rule.dst.flags = V4VP_MATCH_ANY_PORT;
	add.rule.dst.domid = me.v4v_domid;
	add.rule.action = V4VP_VIPT_REJECT;
	EXPECT(!v4v_ctl_open(NULL, &ctl), 2);
	EXPECT(!v4v_ctl_call(ctl, V4VP_VIPT_ADD, &add, sizeof(add), NULL, 0,
			     NULL), 3);
	rc = dial(me.v4v_domid, me.v4v_port);
	EXPECT(rc < 0 && errno == ECONNREFUSED, 4);
	EXPECT(!v4v_ctl_call(ctl, V4VP_VIPT_FLUSH, NULL, 0, NULL, 0, NULL), 5);
	EXPECT(dial(me.v4v_domid, me.v4v_port) >= 0, 6);
	v4v_ctl_close(ctl);
	return 0;
}

/* The listener goes away with our connection still in its queue: reset,
 * reported once (by the first call that asks), as the kernel does. */
static int orphaned(void *arg)
{
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	struct pollfd pfd[2];
	int l = listener(0), c, d, err = 0;
	char buf[4];

	(void)arg;
	EXPECT(l >= 0 && !v4v_getsockname(l, SA(me), &len), 1);
	c = dial(me.v4v_domid, me.v4v_port);
	d = dial(me.v4v_domid, me.v4v_port);
	EXPECT(c >= 0 && d >= 0, 2); /* queued: connect returns */
	v4v_close(l);
	pfd[0] = (struct pollfd){ .fd = c, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = d, .events = POLLIN };
	EXPECT(poll(pfd, 2, 2000) == 2, 3); /* woken by the reset */
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET,
	       4);
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) == 0, 5);
	EXPECT(v4v_send(c, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 6);
	len = sizeof(err);
	EXPECT(!v4v_getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) &&
	       err == 0, 7);
	EXPECT(!v4v_getsockopt(d, SOL_SOCKET, SO_ERROR, &err, &len) &&
	       err == ECONNRESET, 8);
	EXPECT(!v4v_getsockopt(d, SOL_SOCKET, SO_ERROR, &err, &len) &&
	       err == 0, 9);
	EXPECT(v4v_recv(d, buf, sizeof(buf), 0) == 0, 10);
	return 0;
}

/* shutdown(SHUT_WR) before the server accepted: the FIN still comes. */
static int early_fin(void *arg)
{
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	int l = listener(0), c, s;
	char buf[8];

	(void)arg;
	EXPECT(l >= 0 && !v4v_getsockname(l, SA(me), &len), 1);
	c = dial(me.v4v_domid, me.v4v_port);
	EXPECT(c >= 0, 2);
	EXPECT(v4v_shutdown(c, SHUT_WR) == 0, 3);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 4);
	/* The client learns it is linked on its next call. */
	EXPECT(v4v_recv(c, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN, 5);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 0, 6);
	return 0;
}

static void test_early_fin(void)
{
	CHECK_EQ(dom_wait(dom_spawn(early_fin, NULL)), 0);
}

static void test_orphaned(void)
{
	CHECK_EQ(dom_wait(dom_spawn(orphaned, NULL)), 0);
}

static void test_rejected(void)
{
	CHECK_EQ(dom_wait(dom_spawn(rejected, NULL)), 0);
}

/* ---- a server that answers and closes before the client asks ---- */

static int greet_srv(void *arg)
{
	struct pair *p = arg;
	int l = listener(309), c;

	EXPECT(l >= 0, 10);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, NULL, NULL);
	EXPECT(c >= 0, 11);
	EXPECT(v4v_send(c, "banner", 6, 0) == 6, 12);
	EXPECT(v4v_close(c) == 0, 13);
	gate_open(&p->done, 1);
	return 0;
}

/* The client's first call after connect comes once the server is gone:
 * it must still read the banner, then end of file, as over TCP. */
static int greet_cli(void *arg)
{
	struct pair *p = arg;
	int fd = dial((int)gate_wait(&p->ready), 309);
	char buf[16];
	int err = -1;
	socklen_t len = sizeof(err);

	EXPECT(fd >= 0, 20);
	EXPECT(gate_wait(&p->done) == 1, 21);
	usleep(100000); /* v4vd handles the server's close */
	/* The connection was made, then ended in order: no error. */
	EXPECT(!v4v_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) &&
	       err == 0, 24);
	EXPECT(v4v_recv(fd, buf, sizeof(buf), MSG_WAITALL) == 6 &&
	       !memcmp(buf, "banner", 6), 22);
	EXPECT(v4v_recv(fd, buf, 1, 0) == 0, 23);
	return 0;
}

static void test_greet_and_close(void)
{
	struct pair p;
	pid_t s, c;

	gate_init(&p.ready);
	gate_init(&p.done);
	s = dom_spawn(greet_srv, &p);
	c = dom_spawn(greet_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- zero-copy: spans of the rings, partial consumes, ends ---- */

static bool in_area(const struct v4v_zc_area *a, const void *p, size_t n)
{
	const char *b = a->base, *q = p;

	return a->len && q >= b && q + n <= b + a->len;
}

/* Place n bytes from `in` with the zero-copy send, in random pieces,
 * giving up a reservation now and then. */
static int zc_echo(int c, const uint8_t *in, size_t n, unsigned *r,
		   const struct v4v_zc_area *tx)
{
	while (n) {
		size_t want = (size_t)(rand_r(r) % (unsigned)n) + 1;
		ssize_t room;
		void *out;

		if (rand_r(r) % 4 == 0) {
			if (v4v_send_zc(c, &out, 64, 0) <= 0 ||
			    v4v_send_zc_done(c, 0))
				return -1;
		}
		room = v4v_send_zc(c, &out, want, 0);
		if (room <= 0 || (size_t)room > want ||
		    !in_area(tx, out, (size_t)room))
			return -1;
		memcpy(out, in, (size_t)room);
		if (v4v_send_zc_done(c, (size_t)room))
			return -1;
		in += room;
		n -= (size_t)room;
	}
	return 0;
}

static bool zc_check(const void *p, size_t n, uint64_t at)
{
	for (size_t i = 0; i < n; i++)
		if (((const uint8_t *)p)[i] != sbyte(11, at + i))
			return false;
	return true;
}

/* Echo with the zero-copy calls: two spans out at once (the second
 * starts where the first ends), checked in place, sent back from the
 * receive ring straight into the send ring, consumed in two steps. */
static int zc_srv(void *arg)
{
	struct pair *p = arg;
	struct v4v_zc_area rx, tx;
	uint64_t got = 0;
	unsigned r = 99;
	int l = listener(310), c, d = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	const void *in, *in2;
	ssize_t n, n2;

	EXPECT(l >= 0 && d >= 0, 10);
	EXPECT(v4v_recv_zc(d, &in, 1, 0) < 0 && errno == EOPNOTSUPP, 11);
	gate_open(&p->ready, (uint32_t)v4v_domid());
	c = v4v_accept(l, NULL, NULL);
	EXPECT(c >= 0, 12);
	EXPECT(v4v_zc_areas(c, &rx, &tx) == 0 && rx.len && tx.len, 13);
	EXPECT(v4v_recv_zc(c, &in, 0, 0) < 0 && errno == EINVAL, 14);
	EXPECT(v4v_send_zc_done(c, 1) < 0 && errno == EINVAL, 15);
	while ((n = v4v_recv_zc(c, &in, (size_t)(rand_r(&r) % 300000) + 1,
				0)) > 0) {
		size_t first;

		EXPECT(in_area(&rx, in, (size_t)n), 16);
		EXPECT(zc_check(in, (size_t)n, got), 17);
		n2 = v4v_recv_zc(c, &in2, (size_t)(rand_r(&r) % 300000) + 1,
				 MSG_DONTWAIT);
		EXPECT(n2 > 0 || errno == EAGAIN, 18);
		if (n2 < 0)
			n2 = 0;
		EXPECT(zc_check(in2, (size_t)n2, got + (uint64_t)n), 19);
		EXPECT(zc_echo(c, in, (size_t)n, &r, &tx) == 0, 20);
		EXPECT(zc_echo(c, in2, (size_t)n2, &r, &tx) == 0, 21);
		first = (size_t)(rand_r(&r) % (unsigned)(n + n2)) + 1;
		EXPECT(v4v_recv_zc_done(c, first) == 0, 22);
		EXPECT(v4v_recv_zc_done(c, (size_t)(n + n2) - first) == 0, 23);
		got += (uint64_t)(n + n2);
	}
	EXPECT(n == 0 && got == p->bytes, 24);
	/* Consuming more than is queued. */
	EXPECT(v4v_recv_zc_done(c, 1) < 0 && errno == EINVAL, 25);
	v4v_close(c);
	return 0;
}

struct zc_writer {
	int fd;
	uint64_t bytes;
	int rc;
};

static void *zc_write(void *arg)
{
	struct zc_writer *w = arg;
	uint64_t sent = 0;
	unsigned r = 5;

	w->rc = 31;
	while (sent < w->bytes) {
		uint64_t want = (uint64_t)(rand_r(&r) % 200000) + 1;
		size_t fill;
		void *out;
		ssize_t room;

		if (want > w->bytes - sent)
			want = w->bytes - sent;
		room = v4v_send_zc(w->fd, &out, (size_t)want, 0);
		if (room <= 0 || (uint64_t)room > want)
			return NULL;
		fill = (size_t)(rand_r(&r) % (unsigned)room) + 1;
		for (size_t i = 0; i < fill; i++)
			((uint8_t *)out)[i] = sbyte(11, sent + i);
		if (v4v_send_zc_done(w->fd, fill))
			return NULL;
		sent += fill;
	}
	w->rc = 32;
	if (v4v_shutdown(w->fd, SHUT_WR))
		return NULL;
	w->rc = 33;
	if (v4v_send_zc(w->fd, (void **)&r, 1, MSG_NOSIGNAL) >= 0 ||
	    errno != EPIPE)
		return NULL;
	w->rc = 0;
	return NULL;
}

/* Send with the zero-copy calls from a thread (the echo comes back
 * while we send), read the echo with plain receives. */
static int zc_cli(void *arg)
{
	struct pair *p = arg;
	struct zc_writer w = { dial((int)gate_wait(&p->ready), 310), p->bytes,
			       -1 };
	pthread_t t;

	EXPECT(w.fd >= 0, 30);
	EXPECT(pthread_create(&t, NULL, zc_write, &w) == 0, 34);
	EXPECT(recv_stream(w.fd, 11, p->bytes, true) == 0, 35);
	pthread_join(t, NULL);
	EXPECT(w.rc == 0, w.rc);
	v4v_close(w.fd);
	return 0;
}

static void test_zero_copy(void)
{
	struct pair p = { .bytes = 3u << 20 };
	pid_t s, c;

	gate_init(&p.ready);
	s = dom_spawn(zc_srv, &p);
	c = dom_spawn(zc_cli, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "echo", test_echo },
		{ "close_in_flight", test_close_in_flight },
		{ "misc", test_misc },
		{ "accept_fork", test_accept_fork },
		{ "peer_killed", test_peer_killed },
		{ "threads", test_threads },
		{ "rejected", test_rejected },
		{ "orphaned", test_orphaned },
		{ "early_fin", test_early_fin },
		{ "greet_and_close", test_greet_and_close },
		{ "zero_copy", test_zero_copy },
		{ 0 }
	};
	int rc;

	/* A failed send says why instead of killing the domain. */
	signal(SIGPIPE, SIG_IGN);
	setenv("V4V_ZC_POISON", "1", 1); /* consumed zero-copy bytes: 0xdb */
	hv_start(&hv, NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
