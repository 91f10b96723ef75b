/* SPDX-License-Identifier: MIT */
/*
 * TCP's semantics, pinned: each case is what Linux does with a TCP socket
 * on loopback (checked with the kernel when it was written), done over
 * V4V stream sockets, direct or (with V4V_TEST_STRICT=1) strict.
 *
 *  - a listener's queue is TCP's accept queue: a connection is made when
 *    it is queued, and what its client sent, its end and its reset wait
 *    there for accept, also after the client has closed;
 *  - a client sends before it is accepted, and does not wait for it;
 *  - after the peer's close, the first send is taken and the second fails
 *    with EPIPE; a reset is reported once, then end of file;
 *  - processes that share a listener after fork: one closing its copy
 *    leaves the others' readiness exact;
 *  - a client's TCP port (the interposer's): held by the kernel socket
 *    v4vd keeps while the connection lives, told to the server.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"
#include "lib/interposer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

/* A listener of this domain at a port v4vd picks; *me is its address. */
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

static int dial(const struct sockaddr_v4v *to, int flags)
{
	int fd = v4v_socket(AF_V4V, SOCK_STREAM | flags, 0);

	if (fd < 0 || (v4v_connect(fd, (const struct sockaddr *)to,
				   sizeof(*to)) && errno != EINPROGRESS))
		return -1;
	return fd;
}

static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static int so_error(int fd)
{
	int err = -1;
	socklen_t len = sizeof(err);

	return v4v_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) ? -1
								   : err;
}

/* ---- the accept queue ---- */

/* The client sends and closes before the server looks: accept (blocking
 * and not) still returns the connection, with the data, then the end. */
static int closed_before_accept(void *arg)
{
	struct sockaddr_v4v me;
	int l = listener(&me), c, s;
	char buf[8];

	(void)arg;
	EXPECT(l >= 0, 1);
	c = dial(&me, 0);
	EXPECT(c >= 0 && v4v_send(c, "hi", 2, 0) == 2, 2);
	EXPECT(v4v_close(c) == 0, 3);
	usleep(50000); /* v4vd sees the close before the accept */
	EXPECT(readable(l, 1000), 4);
	s = v4v_accept4(l, NULL, NULL, SOCK_NONBLOCK);
	EXPECT(s >= 0, 5);
	EXPECT(readable(s, 1000), 6);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 2 && !memcmp(buf, "hi", 2),
	       7);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 0, 8);
	/* Nothing else queued: a non-blocking accept says so. */
	EXPECT(!readable(l, 0), 9);
	EXPECT(!fcntl(l, F_SETFL, O_NONBLOCK), 10);
	EXPECT(v4v_accept(l, NULL, NULL) < 0 && errno == EAGAIN, 10);
	/* The first send to the gone client is taken, the next fails. */
	EXPECT(v4v_send(s, "x", 1, MSG_NOSIGNAL) == 1, 11);
	EXPECT(v4v_send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 12);
	return 0;
}

/* A reset before accept: accept still returns it; its data comes first,
 * then ECONNRESET, once. */
static int reset_before_accept(void *arg)
{
	struct sockaddr_v4v me;
	struct linger lg = { 1, 0 };
	int l = listener(&me), c, s;
	char buf[8];

	(void)arg;
	EXPECT(l >= 0, 1);
	c = dial(&me, 0);
	EXPECT(c >= 0 && v4v_send(c, "abc", 3, 0) == 3, 2);
	EXPECT(!v4v_setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 3);
	EXPECT(v4v_close(c) == 0, 4);
	usleep(50000);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 5);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 3 &&
	       !memcmp(buf, "abc", 3), 6);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET,
	       7);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 0, 8);
	EXPECT(v4v_send(s, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 9);
	return 0;
}

/* One thread connects, sends more than a message and only then accepts:
 * over TCP the data waits in the socket buffers; it must not deadlock. */
static int send_before_accept(void *arg)
{
	static char out[100000], in[sizeof(out)];
	struct sockaddr_v4v me;
	int l = listener(&me), c, s;
	size_t got = 0;

	(void)arg;
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + 3);
	EXPECT(l >= 0, 1);
	c = dial(&me, 0);
	EXPECT(c >= 0, 2);
	EXPECT(v4v_send(c, out, sizeof(out), MSG_DONTWAIT) ==
	       (ssize_t)sizeof(out), 3);
	EXPECT(v4v_shutdown(c, SHUT_WR) == 0, 4);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 5);
	while (got < sizeof(in)) {
		ssize_t n = v4v_recv(s, in + got, sizeof(in) - got, 0);

		EXPECT(n > 0, 6);
		got += (size_t)n;
	}
	EXPECT(!memcmp(in, out, sizeof(in)), 7);
	EXPECT(v4v_recv(s, in, 1, 0) == 0, 8);
	/* The other way round, now that both are there. */
	EXPECT(v4v_send(s, "ok", 2, 0) == 2, 9);
	EXPECT(v4v_recv(c, in, sizeof(in), 0) == 2, 10);
	return 0;
}

/* ---- after the peer's close ---- */

/* A listener, a client and the server's side of their connection. */
static int accepted_pair(int *c, int *s)
{
	struct sockaddr_v4v me;
	int l = listener(&me);

	*c = l < 0 ? -1 : dial(&me, 0);
	*s = *c < 0 ? -1 : v4v_accept(l, NULL, NULL);
	return *s < 0 ? -1 : 0;
}

/* The server closes an accepted connection with nothing unread. */
static int epipe_sequence(void *arg)
{
	int c, s;
	char buf[4];

	(void)arg;
	EXPECT(accepted_pair(&c, &s) == 0, 2);
	EXPECT(v4v_close(s) == 0, 3);
	EXPECT(readable(c, 1000), 4);
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) == 0, 5);
	/* An empty send sends nothing, so it draws no reset. */
	EXPECT(v4v_send(c, "", 0, MSG_NOSIGNAL) == 0, 12);
	EXPECT(v4v_send(c, "a", 1, MSG_NOSIGNAL) == 1, 6);
	/* The reset the send drew: EPIPE pending, end of file stays. */
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) == 0, 7);
	EXPECT(so_error(c) == EPIPE, 8);
	EXPECT(so_error(c) == 0, 9);
	EXPECT(v4v_send(c, "a", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 10);
	EXPECT(v4v_send(c, "a", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 11);
	return 0;
}

/* The server closes with data unread: a reset; the first call to look
 * (here a send) reports ECONNRESET, later ones EPIPE and end of file. */
static int reset_sequence(void *arg)
{
	int c, s;
	char buf[4];

	(void)arg;
	EXPECT(accepted_pair(&c, &s) == 0, 2);
	EXPECT(v4v_send(c, "zz", 2, 0) == 2, 3);
	usleep(50000); /* strict: v4vd has moved it */
	EXPECT(v4v_close(s) == 0, 4);
	EXPECT(readable(c, 1000), 5);
	EXPECT(v4v_send(c, "a", 1, MSG_NOSIGNAL) < 0 && errno == ECONNRESET,
	       6);
	EXPECT(v4v_send(c, "a", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, 7);
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) == 0, 8);
	return 0;
}

/* The peer only shut its writing side: sends go on working. */
static int half_close(void *arg)
{
	int c, s;
	char buf[4];

	(void)arg;
	EXPECT(accepted_pair(&c, &s) == 0, 2);
	EXPECT(v4v_shutdown(s, SHUT_WR) == 0, 3);
	EXPECT(v4v_recv(c, buf, sizeof(buf), 0) == 0, 4);
	EXPECT(v4v_send(c, "a", 1, 0) == 1 && v4v_send(c, "b", 1, 0) == 1, 5);
	EXPECT(v4v_recv(s, buf, 2, MSG_WAITALL) == 2 && !memcmp(buf, "ab", 2),
	       6);
	return 0;
}

/* ---- a listener shared after fork ---- */

/* A child that closes its copy of the listener (a forked backend, as
 * PostgreSQL's) leaves the parent's listener not readable; a client
 * makes it readable and accept takes it at once. */
static int shared_listener(void *arg)
{
	struct sockaddr_v4v me;
	int l = listener(&me), c, s, st;
	pid_t kid;

	(void)arg;
	EXPECT(l >= 0, 1);
	for (int round = 0; round < 3; round++) {
		kid = fork();
		if (kid == 0)
			_exit(v4v_close(l) == 0 ? 0 : 1);
		EXPECT(kid > 0 && waitpid(kid, &st, 0) == kid && st == 0, 2);
		EXPECT(!readable(l, 100), 3);
		c = dial(&me, 0);
		EXPECT(c >= 0 && readable(l, 1000), 4);
		s = v4v_accept4(l, NULL, NULL, SOCK_NONBLOCK);
		EXPECT(s >= 0, 5);
		EXPECT(!readable(l, 0), 6);
		v4v_close(s);
		v4v_close(c);
	}
	return 0;
}

/* ---- TCP ports ---- */

static int tcp_bound(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint16_t tcp_port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	return getsockname(fd, (struct sockaddr *)&a, &len) ? 0
							   : ntohs(a.sin_port);
}

/* The connection takes a bound TCP socket to v4vd: the server learns its
 * port, and nobody can bind that port until the connection is gone. */
static int ports(void *arg)
{
	struct sockaddr_v4v me;
	int l = listener(&me), k = tcp_bound(0), c, s, again = -1;
	uint16_t port = tcp_port_of(k);

	(void)arg;
	EXPECT(l >= 0 && k >= 0 && port, 1);
	c = v4v_socket(AF_V4V, SOCK_STREAM, 0);
	EXPECT(c >= 0 && v4v_sock_inet(c, k) == 0, 2); /* c takes k */
	EXPECT(!v4v_connect(c, (struct sockaddr *)&me, sizeof(me)), 3);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0 && v4v_sock_inet_peer_port(s) == port, 4);
	EXPECT(tcp_bound(port) < 0 && errno == EADDRINUSE, 5);
	v4v_close(c);
	v4v_close(s);
	for (int i = 0; i < 100 && again < 0; i++) {
		usleep(10000); /* v4vd sees the close, drops the socket */
		again = tcp_bound(port);
	}
	EXPECT(again >= 0, 6);
	/* A socket that is not a bound TCP stream: the connect fails. */
	c = v4v_socket(AF_V4V, SOCK_STREAM, 0);
	k = socket(AF_INET, SOCK_DGRAM, 0);
	EXPECT(c >= 0 && k >= 0 && v4v_sock_inet(c, k) == 0, 7);
	EXPECT(v4v_connect(c, (struct sockaddr *)&me, sizeof(me)) < 0 &&
	       errno == EINVAL, 8);
	return 0;
}

#define DOMAIN_CASE(fn) \
	static void test_##fn(void) \
	{ \
		CHECK_EQ(dom_wait(dom_spawn(fn, NULL)), 0); \
	}

DOMAIN_CASE(closed_before_accept)
DOMAIN_CASE(reset_before_accept)
DOMAIN_CASE(send_before_accept)
DOMAIN_CASE(epipe_sequence)
DOMAIN_CASE(reset_sequence)
DOMAIN_CASE(half_close)
DOMAIN_CASE(shared_listener)
DOMAIN_CASE(ports)

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "closed_before_accept", test_closed_before_accept },
		{ "reset_before_accept", test_reset_before_accept },
		{ "send_before_accept", test_send_before_accept },
		{ "epipe_sequence", test_epipe_sequence },
		{ "reset_sequence", test_reset_sequence },
		{ "half_close", test_half_close },
		{ "shared_listener", test_shared_listener },
		{ "ports", test_ports },
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
