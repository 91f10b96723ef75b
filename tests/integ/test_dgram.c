/* SPDX-License-Identifier: MIT */
/*
 * Datagram sockets between real domains (forked processes) through a
 * private v4vd: data integrity, stamped sources, flags, readiness under
 * poll/select/epoll, timeouts, full rings and flow control, errors.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"

#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

static struct hv_proc hv;

static struct sockaddr_v4v addr(v4v_domid_t d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V, .v4v_domid = d,
				  .v4v_port = port };
	return a;
}

#define SA(a) ((struct sockaddr *)&(a))

static int bound_socket(uint32_t port, int rcvbuf)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, port);
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf && v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
				     sizeof(rcvbuf)))
		return -1;
	if (v4v_bind(fd, SA(me), sizeof(me)))
		return -1;
	return fd;
}

static void fill_pattern(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 2654435761u + i * 31 + (i >> 8));
}

/* ---- ping-pong with data and source checks ---- */

struct pp {
	struct gate ready, peer;
	int rounds;
};

static int echo_server(void *arg)
{
	struct pp *p = arg;
	static uint8_t buf[65536];
	int fd = bound_socket(100, 1 << 20);
	uint32_t client;

	if (fd < 0)
		return 10;
	gate_open(&p->ready, (uint32_t)v4v_domid());
	client = gate_wait(&p->peer);
	for (int i = 0; i < p->rounds; i++) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		ssize_t n = v4v_recvfrom(fd, buf, sizeof(buf), 0, SA(from),
					 &flen);

		if (n < 0)
			return 11;
		/* The source is what the hypervisor stamped: the client. */
		if (from.v4v_domid != client || flen != sizeof(from))
			return 12;
		if (v4v_sendto(fd, buf, (size_t)n, 0, SA(from), flen) != n)
			return 13;
	}
	return 0;
}

static int echo_client(void *arg)
{
	struct pp *p = arg;
	static uint8_t out[65536], in[65536];
	uint32_t server = gate_wait(&p->ready);
	struct sockaddr_v4v to = addr((v4v_domid_t)server, 100);
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0)
		return 20;
	gate_open(&p->peer, (uint32_t)v4v_domid());
	for (int i = 0; i < p->rounds; i++) {
		size_t len = i % 7 == 0 ? 0 : (size_t)(i * 977) % 65537;
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);

		fill_pattern(out, len, (uint32_t)i);
		if (v4v_sendto(fd, out, len, 0, SA(to), sizeof(to)) !=
		    (ssize_t)len)
			return 21;
		if (v4v_recvfrom(fd, in, sizeof(in), 0, SA(from), &flen) !=
		    (ssize_t)len)
			return 22;
		if (memcmp(in, out, len) || from.v4v_domid != server ||
		    from.v4v_port != 100)
			return 23;
	}
	return 0;
}

static void test_pingpong(void)
{
	struct pp p = { .rounds = 2000 };
	pid_t s, c;

	gate_init(&p.ready);
	gate_init(&p.peer);
	s = dom_spawn(echo_server, &p);
	c = dom_spawn(echo_client, &p);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
}

/* ---- flags, readiness, timeouts, errors within one domain ---- */

static int readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static int writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

static int select_readable(int fd)
{
	fd_set r;
	struct timeval tv = { 0, 0 };

	FD_ZERO(&r);
	FD_SET(fd, &r);
	return select(fd + 1, &r, NULL, NULL, &tv) == 1;
}

#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

static int local_flags(void *arg)
{
	char buf[64];
	struct sockaddr_v4v me, from;
	socklen_t len = sizeof(me);
	struct msghdr mh;
	struct iovec iov;
	int a = bound_socket(0, 0), b = bound_socket(0, 0);

	(void)arg;
	EXPECT(a >= 0 && b >= 0, 1);
	EXPECT(v4v_getsockname(b, SA(me), &len) == 0, 2);
	EXPECT(me.v4v_domid == v4v_domid() &&
	       me.v4v_port >= V4V_PORT_EPHEMERAL_MIN, 3);
	/* Empty: not readable by any API, EAGAIN without blocking. */
	EXPECT(!readable(b) && !select_readable(b), 4);
	EXPECT(v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN, 5);
	EXPECT(v4v_sendto(a, "hello world", 11, 0, SA(me), sizeof(me)) == 11,
	       6);
	EXPECT(readable(b) && select_readable(b), 7);
	/* PEEK leaves it there, TRUNC reports the real length. */
	EXPECT(v4v_recv(b, buf, 5, MSG_PEEK) == 5 && !memcmp(buf, "hello", 5),
	       8);
	EXPECT(readable(b), 9);
	EXPECT(v4v_recv(b, buf, 5, MSG_PEEK | MSG_TRUNC) == 11, 10);
	iov = (struct iovec){ buf, 5 };
	mh = (struct msghdr){ .msg_name = &from, .msg_namelen = sizeof(from),
			      .msg_iov = &iov, .msg_iovlen = 1 };
	EXPECT(v4v_recvmsg(b, &mh, 0) == 5, 11);
	EXPECT(mh.msg_flags & MSG_TRUNC, 12);
	EXPECT(from.v4v_domid == me.v4v_domid, 13);
	/* Consumed: readiness gone again. */
	EXPECT(!readable(b) && !select_readable(b), 14);
	return 0;
}

static int local_epoll(void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN }, got[2];
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	int a = bound_socket(0, 0), b = bound_socket(0, 0);
	int lt = epoll_create1(0), et = epoll_create1(0);
	char buf[16];

	(void)arg;
	EXPECT(a >= 0 && b >= 0 && !v4v_getsockname(b, SA(me), &len), 1);
	EXPECT(!epoll_ctl(lt, EPOLL_CTL_ADD, b, &ev), 2);
	ev.events = EPOLLIN | EPOLLET;
	EXPECT(!epoll_ctl(et, EPOLL_CTL_ADD, b, &ev), 3);
	EXPECT(epoll_wait(lt, got, 2, 0) == 0, 4);
	EXPECT(epoll_wait(et, got, 2, 0) == 0, 5);
	v4v_sendto(a, "x", 1, 0, SA(me), sizeof(me));
	v4v_sendto(a, "y", 1, 0, SA(me), sizeof(me));
	EXPECT(epoll_wait(lt, got, 2, 100) == 1, 6);
	EXPECT(epoll_wait(et, got, 2, 100) == 1, 7);
	/* Edge-triggered: reported once until new data comes. */
	EXPECT(epoll_wait(et, got, 2, 0) == 0, 8);
	EXPECT(v4v_recv(b, buf, sizeof(buf), 0) == 1 && buf[0] == 'x', 9);
	/* Strict: 'y' went into a's queue and may still be on its way. */
	EXPECT(epoll_wait(lt, got, 2, 100) == 1, 10);
	EXPECT(v4v_recv(b, buf, sizeof(buf), 0) == 1 && buf[0] == 'y', 11);
	/* Level-triggered: nothing left, nothing reported, no busy loop. */
	EXPECT(epoll_wait(lt, got, 2, 0) == 0, 12);
	v4v_sendto(a, "z", 1, 0, SA(me), sizeof(me));
	EXPECT(epoll_wait(et, got, 2, 100) == 1, 13);
	return 0;
}

static int local_timeout_errors(void *arg)
{
	struct timeval tv = { 0, 150000 };
	struct sockaddr_v4v me, other, nowhere;
	socklen_t len = sizeof(me);
	static char big[65537];
	char buf[8];
	uint64_t t0;
	int a = bound_socket(0, 0), b = bound_socket(0, 4096);

	(void)arg;
	EXPECT(a >= 0 && b >= 0 && !v4v_getsockname(b, SA(me), &len), 1);
	EXPECT(!v4v_setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)),
	       2);
	t0 = now_ns();
	EXPECT(v4v_recv(b, buf, sizeof(buf), 0) < 0 && errno == EAGAIN, 3);
	EXPECT(now_ns() - t0 >= 140000000ull, 4);
	EXPECT(now_ns() - t0 < 2000000000ull, 5);
	nowhere = addr(me.v4v_domid, 4242);
	EXPECT(v4v_sendto(a, "x", 1, 0, SA(nowhere), sizeof(nowhere)) < 0 &&
	       errno == ECONNREFUSED, 6);
	EXPECT(v4v_sendto(a, big, sizeof(big), 0, SA(me), sizeof(me)) < 0 &&
	       errno == EMSGSIZE, 7);
	/* Larger than the 4 KiB destination ring can ever hold. */
	EXPECT(v4v_sendto(a, big, 8000, 0, SA(me), sizeof(me)) < 0 &&
	       errno == EMSGSIZE, 8);
	/* A domain binds only its own addresses, and each port once. */
	other = addr((v4v_domid_t)(me.v4v_domid + 1), 7);
	EXPECT(v4v_bind(v4v_socket(AF_V4V, SOCK_DGRAM, 0), SA(other),
			sizeof(other)) < 0 && errno == EADDRNOTAVAIL, 9);
	EXPECT(v4v_bind(v4v_socket(AF_V4V, SOCK_DGRAM, 0), SA(me),
			sizeof(me)) < 0 && errno == EADDRINUSE, 10);
	EXPECT(v4v_send(a, "x", 1, 0) < 0 && errno == EDESTADDRREQ, 11);
	EXPECT(v4v_socket(AF_INET, SOCK_DGRAM, 0) < 0 &&
	       errno == EAFNOSUPPORT, 12);
	EXPECT(v4v_recv(0, buf, 1, 0) < 0 && errno == ENOTSOCK, 13);
	return 0;
}

/* A connected socket hears only its peer. */
static int local_connect(void *arg)
{
	struct sockaddr_v4v ma, mb;
	socklen_t la = sizeof(ma), lb = sizeof(mb);
	int a = bound_socket(0, 0), b = bound_socket(0, 0),
	    c = bound_socket(0, 0);
	char buf[8];

	(void)arg;
	EXPECT(!v4v_getsockname(a, SA(ma), &la) &&
	       !v4v_getsockname(b, SA(mb), &lb), 1);
	EXPECT(!v4v_connect(b, SA(ma), sizeof(ma)), 2);
	EXPECT(v4v_sendto(c, "c", 1, 0, SA(mb), sizeof(mb)) == 1, 3);
	EXPECT(v4v_sendto(a, "a", 1, 0, SA(mb), sizeof(mb)) == 1, 4);
	EXPECT(v4v_recv(b, buf, sizeof(buf), 0) == 1 && buf[0] == 'a', 5);
	EXPECT(v4v_send(b, "r", 1, 0) == 1, 6);
	EXPECT(v4v_recv(a, buf, sizeof(buf), 0) == 1 && buf[0] == 'r', 7);
	return 0;
}

/* A receiver that does not read holds back only what goes to itself:
 * with the sender's queue stalled behind it, datagrams to another
 * receiver still go at once, and those to the full one wait. */
static int local_no_head_of_line(void *arg)
{
	struct sockaddr_v4v ma, mb;
	socklen_t la = sizeof(ma), lb = sizeof(mb);
	int s = bound_socket(0, 8192), a = bound_socket(0, 4096),
	    b = bound_socket(0, 0);
	char msg[500] = { 0 }, buf[16];
	struct pollfd p = { .fd = b, .events = POLLIN };
	int n = 0;

	(void)arg;
	EXPECT(s >= 0 && a >= 0 && b >= 0 && !v4v_getsockname(a, SA(ma), &la) &&
	       !v4v_getsockname(b, SA(mb), &lb), 1);
	/* Until `a`'s ring and our queue are full: no room for 200 ms. */
	while (n < 100) {
		struct pollfd w = { .fd = s, .events = POLLOUT };

		if (v4v_sendto(s, msg, sizeof(msg), MSG_DONTWAIT, SA(ma),
			       sizeof(ma)) == (ssize_t)sizeof(msg))
			n++;
		else if (errno != EAGAIN || poll(&w, 1, 200) == 0)
			break;
	}
	EXPECT(n < 100 && errno == EAGAIN, 2);
	for (int i = 0; i < 3; i++) {
		EXPECT(v4v_sendto(s, "b", 1, MSG_DONTWAIT, SA(mb),
				  sizeof(mb)) == 1, 3);
		EXPECT(poll(&p, 1, 2000) == 1, 4);
		EXPECT(v4v_recv(b, buf, sizeof(buf), 0) == 1 && buf[0] == 'b',
		       5);
	}
	EXPECT(v4v_sendto(s, msg, sizeof(msg), MSG_DONTWAIT, SA(ma),
			  sizeof(ma)) < 0 && errno == EAGAIN, 6);
	/* All that went to `a` comes, in order, once it reads. */
	p.fd = a;
	for (int i = 0; i < n; i++)
		EXPECT(poll(&p, 1, 2000) == 1 &&
		       v4v_recv(a, msg, sizeof(msg), 0) == (ssize_t)sizeof(msg),
		       7);
	return 0;
}

static void test_local(void)
{
	CHECK_EQ(dom_wait(dom_spawn(local_flags, NULL)), 0);
	CHECK_EQ(dom_wait(dom_spawn(local_epoll, NULL)), 0);
	CHECK_EQ(dom_wait(dom_spawn(local_timeout_errors, NULL)), 0);
	CHECK_EQ(dom_wait(dom_spawn(local_connect, NULL)), 0);
	CHECK_EQ(dom_wait(dom_spawn(local_no_head_of_line, NULL)), 0);
}

/* ---- a full ring: EAGAIN, unwritable, then writable again ---- */

static int full_ring(void *arg)
{
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	char msg[1000] = { 0 }, buf[1000];
	/* The sender's transmit queue (as large as its receive ring) fills
	 * too before a send must wait: at most 7 of these in each. */
	int a = bound_socket(0, 8192), b = bound_socket(0, 8192);
	int sent = 0, got = 0, most = 16;
	struct pollfd pfd;

	(void)arg;
	EXPECT(a >= 0 && b >= 0 && !v4v_getsockname(b, SA(me), &len), 1);
	while (v4v_sendto(a, msg, sizeof(msg), MSG_DONTWAIT, SA(me),
			  sizeof(me)) == (ssize_t)sizeof(msg))
		sent++;
	EXPECT(errno == EAGAIN && sent > 0 && sent < most, 2);
	/* Blocked for space: the descriptor says so. */
	EXPECT(!writable(a), 3);
	EXPECT(v4v_recv(b, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf), 4);
	got++;
	pfd = (struct pollfd){ .fd = a, .events = POLLOUT };
	EXPECT(poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLOUT), 5);
	EXPECT(v4v_sendto(a, msg, sizeof(msg), MSG_DONTWAIT, SA(me),
			  sizeof(me)) == (ssize_t)sizeof(msg), 6);
	sent++;
	/* What the queue still holds comes as the receiver makes room. */
	pfd = (struct pollfd){ .fd = b, .events = POLLIN };
	while (got < sent && poll(&pfd, 1, 2000) == 1 &&
	       v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got++;
	EXPECT(got == sent, 7);
	EXPECT(v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN, 8);
	return 0;
}

struct flow {
	struct gate ready;
	int count;
};

static int slow_reader(void *arg)
{
	struct flow *f = arg;
	int fd = bound_socket(200, 4096);
	uint32_t expect = 0;
	char buf[512];

	if (fd < 0)
		return 1;
	gate_open(&f->ready, (uint32_t)v4v_domid());
	for (int i = 0; i < f->count; i++) {
		uint32_t seq;

		if (i % 500 == 0)
			usleep(20000); /* let the writer fill the ring */
		if (v4v_recv(fd, buf, sizeof(buf), 0) != 300)
			return 2;
		memcpy(&seq, buf, sizeof(seq));
		if (seq != expect++)
			return 3;
	}
	return 0;
}

static int fast_writer(void *arg)
{
	struct flow *f = arg;
	struct sockaddr_v4v to = addr((v4v_domid_t)gate_wait(&f->ready), 200);
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	char buf[300] = { 0 };

	for (uint32_t i = 0; i < (uint32_t)f->count; i++) {
		memcpy(buf, &i, sizeof(i));
		/* Blocking: waits for space instead of failing or dropping. */
		if (v4v_sendto(fd, buf, sizeof(buf), 0, SA(to), sizeof(to)) !=
		    (ssize_t)sizeof(buf))
			return 10;
	}
	return 0;
}

static void test_flow_control(void)
{
	struct flow f = { .count = 5000 };
	pid_t r, w;

	CHECK_EQ(dom_wait(dom_spawn(full_ring, NULL)), 0);
	gate_init(&f.ready);
	r = dom_spawn(slow_reader, &f);
	w = dom_spawn(fast_writer, &f);
	CHECK_EQ(dom_wait(w), 0);
	CHECK_EQ(dom_wait(r), 0);
}

/* ---- a forked child joins its parent's domain ---- */

static int forker(void *arg)
{
	int parent = v4v_domid();
	pid_t pid;

	(void)arg;
	EXPECT(parent > 0, 1);
	pid = fork();
	if (pid == 0)
		_exit(v4v_domid() == parent ? 0 : 2);
	return dom_wait(pid);
}

static void test_fork_joins(void)
{
	CHECK_EQ(dom_wait(dom_spawn(forker, NULL)), 0);
}

/* ---- the hypervisor restarts under a live domain ---- */

static int survivor(void *arg)
{
	struct restart_gates *r = arg;
	struct sockaddr_v4v me;
	socklen_t len = sizeof(me);
	int old = bound_socket(0, 0), fresh, first;
	char buf[4];

	EXPECT(old >= 0 && !v4v_getsockname(old, SA(me), &len), 1);
	first = v4v_domid();
	gate_open(&r->up, 1);
	EXPECT(gate_wait(&r->again) == 1, 2);
	/* The old ring died with the old hypervisor: a clean error, never
	 * a message sent from or to some other domain's ring. */
	EXPECT(v4v_sendto(old, "x", 1, 0, SA(me), sizeof(me)) < 0, 3);
	EXPECT(errno == ECONNRESET || errno == EPIPE, 4);
	/* New sockets work, in a new domain of the new hypervisor. */
	fresh = bound_socket(0, 0);
	EXPECT(fresh >= 0 && v4v_domid() > 0, 5);
	len = sizeof(me);
	EXPECT(!v4v_getsockname(fresh, SA(me), &len), 6);
	EXPECT(v4v_sendto(fresh, "ok", 2, 0, SA(me), sizeof(me)) == 2, 7);
	EXPECT(v4v_recv(fresh, buf, sizeof(buf), 0) == 2, 8);
	(void)first;
	return 0;
}

static void test_restart(void)
{
	CHECK_EQ(dom_across_restart(&hv, survivor, SIGTERM), 0);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "pingpong", test_pingpong },
		{ "local", test_local },
		{ "flow_control", test_flow_control },
		{ "fork_joins", test_fork_joins },
		{ "restart", test_restart },
		{ 0 }
	};
	int rc;

	hv_start(&hv, NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
