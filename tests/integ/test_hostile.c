/* SPDX-License-Identifier: MIT */
/*
 * Hostile control traffic and hostile rings against a private v4vd.
 *
 * Malformed packets get a clean error (or the connection is dropped when
 * the packet cannot even be framed), descriptors that come with them are
 * closed, a client that floods without reading is dropped, and a ring its
 * owner scribbles over hurts nobody else.  Through all of it v4vd stays up
 * and other domains keep talking.
 */
#include "harness.h"
#include "raw.h"
#include "../unit/t.h"
#include "ring/ring.h"
#include "v4v/link.h"
#include "v4v/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

/* v4vd runs with this limit, so a larger ring is refused. */
#define MAX_RING (1u << 20)

static struct sockaddr_v4v addr(v4v_domid_t d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V, .v4v_domid = d,
				  .v4v_port = port };
	return a;
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* ---- the control protocol spoken by hand ---- */

/* What libv4v's datagram sockets read (V4V_MT_DGRAM, src/lib/sock.h). */
#define MT_DGRAM 0x44475231u


/* A sealed, sized memfd for a ring of `size` data bytes. */
/* Strict mode gives connections a transmit queue after the ring. */
static bool strict(void)
{
	const char *s = getenv("V4V_TEST_STRICT");

	return s && *s && strcmp(s, "0");
}

static int ring_memfd_n(uint32_t size, unsigned seals, unsigned n)
{
	int fd = memfd_create("raw-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	size_t one = v4v_ring_mem_size(size);

	struct v4v_ring_shared hdr;

	if (fd < 0 || ftruncate(fd, (off_t)(n * one)))
		return -1;
	/* Formatted as its owner would: v4vd checks the headers. */
	v4v_ring_format(&hdr, size);
	for (unsigned i = 0; i < n; i++)
		if (pwrite(fd, &hdr, sizeof(hdr), (off_t)(i * one)) !=
		    (ssize_t)sizeof(hdr))
			return -1;
	if (seals && fcntl(fd, F_ADD_SEALS, seals))
		return -1;
	return fd;
}

static int ring_memfd(uint32_t size, unsigned seals)
{
	return ring_memfd_n(size, seals, 1);
}

struct raw_ring {
	void *mem;
	uint32_t size;
	int app;	/* our end of the doorbell: the ring lives with it */
	uint32_t handle;
	uint32_t port;
};

static int raw_register(struct raw *r, uint32_t port, uint32_t size,
			v4v_domid_t partner, uint32_t flags, int memfd,
			int bell, struct v4vp_register_reply *rep)
{
	struct v4vp_register req = { .port = port, .partner = partner,
				     .size = size, .flags = flags };
	int fds[2] = { memfd, bell };

	return raw_call(r, V4VP_REGISTER, &req, sizeof(req), fds, 2, rep,
			sizeof(*rep));
}

/* A ring registered with `flags` (V4VP_REG_TXQ: and its transmit queue,
 * formatted after it). */
static int raw_ring_flags(struct raw *r, struct raw_ring *g, uint32_t port,
			  uint32_t size, v4v_domid_t partner, uint32_t flags)
{
	struct v4vp_register_reply rep = { 0 };
	unsigned n = flags & V4VP_REG_TXQ ? 2 : 1;
	int memfd = ring_memfd_n(size, F_SEAL_SHRINK | F_SEAL_GROW, n);
	int sv[2], rc;

	g->handle = 0;
	g->port = 0;
	if (memfd < 0)
		return -errno;
	g->mem = mmap(NULL, n * v4v_ring_mem_size(size),
		      PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (g->mem == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	v4v_ring_format(g->mem, size);
	g->size = size;
	g->app = sv[0];
	rc = raw_register(r, port, size, partner, flags, memfd, sv[1], &rep);
	close(memfd);
	close(sv[1]);
	g->handle = rep.handle;
	g->port = rep.port;
	return rc;
}

/* Strict mode gives a connection's ring its transmit queue. */
static int raw_ring_new(struct raw *r, struct raw_ring *g, uint32_t port,
			uint32_t size, v4v_domid_t partner)
{
	return raw_ring_flags(r, g, port, size, partner,
			      strict() && partner != V4V_DOMID_ANY
				      ? V4VP_REG_TXQ : 0);
}

/* A raw connection that is a new domain. */
static int raw_domain(struct raw *r, v4v_domid_t *domid)
{
	int rc = raw_dial(r);

	return rc ? rc : raw_hello(r, V4VP_HELLO_NEW, NULL, 0, domid, NULL);
}

/* Did v4vd drop every copy of the descriptors we passed?  Our last copy
 * of the write end of `p` is closed here: the read end must see EOF. */
static bool pipe_released(int p[2])
{
	struct pollfd pfd = { .fd = p[0], .events = POLLIN };
	char c;

	close(p[1]);
	for (int i = 0; i < 100; i++) {
		if (poll(&pfd, 1, 20) == 1 && read(p[0], &c, 1) == 0) {
			close(p[0]);
			return true;
		}
	}
	close(p[0]);
	return false;
}

/* ---- the hypervisor's own state ---- */

/* Wait for v4vd to have no domains and no rings left, then (want >= 0)
 * for its descriptor count to come back to `want`; the count it has. */
static int settle(int want)
{
	struct v4vp_rec_hv h;
	int n = -1;

	for (int i = 0; i < 200; i++) {
		if (hv_counters(&h) && h.ndomains == 0 && h.nrings == 0)
			break;
		usleep(10000);
	}
	/* The control connection hv_counters used closes asynchronously. */
	for (int i = 0; i < 200; i++) {
		usleep(10000);
		n = proc_fds(hv.pid);
		if (n == want || (want < 0 && n == proc_fds(hv.pid)))
			break;
	}
	return n;
}

/* ---- ping-pong: other domains keep working ---- */

struct pp {
	struct gate ready;
	int rounds;
	int server_pid;
};

static int pp_server(void *arg)
{
	struct pp *p = arg;
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, 77);
	struct timeval tv = { 10, 0 };
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0), one = 64 << 10;
	char buf[2048];

	if (fd < 0 ||
	    v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)) ||
	    v4v_bind(fd, SA(me), sizeof(me))) {
		/* Do not leave the client waiting for us. */
		gate_open(&p->ready, V4V_DOMID_INVALID);
		return 1;
	}
	/* A client that died must not leave us waiting for good. */
	v4v_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	gate_open(&p->ready, (uint32_t)v4v_domid());
	for (int i = 0; i < p->rounds; i++) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		ssize_t n = v4v_recvfrom(fd, buf, sizeof(buf), 0, SA(from),
					 &flen);

		EXPECT(n >= 0, 4);
		EXPECT(v4v_sendto(fd, buf, (size_t)n, 0, SA(from), flen) == n,
		       5);
	}
	return 0;
}

static int pp_client(void *arg)
{
	struct pp *p = arg;
	struct sockaddr_v4v to = addr((v4v_domid_t)gate_wait(&p->ready), 77);
	struct timeval tv = { 10, 0 };
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0), one = 64 << 10;
	char out[1024], in[2048];

	EXPECT(to.v4v_domid <= V4V_DOMID_MAX, 15);
	EXPECT(fd >= 0, 10);
	EXPECT(!v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)),
	       11);
	v4v_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < p->rounds; i++) {
		size_t len = (size_t)(i * 37) % sizeof(out);

		memset(out, i, len);
		EXPECT(v4v_sendto(fd, out, len, 0, SA(to), sizeof(to)) ==
		       (ssize_t)len, 12);
		EXPECT(v4v_recv(fd, in, sizeof(in), 0) == (ssize_t)len, 13);
		EXPECT(!memcmp(in, out, len), 14);
	}
	return 0;
}

/* Start a ping-pong of `rounds` between two new domains. */
static void pp_start(struct pp *p, int rounds, pid_t pids[2])
{
	p->rounds = rounds;
	gate_init(&p->ready);
	pids[0] = dom_spawn(pp_server, p);
	pids[1] = dom_spawn(pp_client, p);
}

static void pp_finish(struct pp *p, pid_t pids[2])
{
	CHECK_EQ(dom_wait(pids[1]), 0);
	CHECK_EQ(dom_wait(pids[0]), 0);
	close(p->ready.fd[0]);
	close(p->ready.fd[1]);
}

static void pp_check(int rounds)
{
	struct pp p;
	pid_t pids[2];

	pp_start(&p, rounds, pids);
	pp_finish(&p, pids);
}

/* ---- packets that cannot be framed: the connection is dropped ---- */

static int framing(void *arg)
{
	static uint8_t big[70000];
	struct v4vp_hdr h;
	struct v4vp_list l = { .what = V4VP_LIST_HV };
	uint8_t pkt[sizeof(h) + sizeof(l)];
	struct raw r;
	int p[2], fds[2];

	(void)arg;
	/* Shorter than a header. */
	EXPECT(raw_dial(&r) == 0, 1);
	v4vp_hdr_init(&h, V4VP_LIST, 1, 0);
	EXPECT(raw_bytes(&r, &h, 8, NULL, 0) == 0, 2);
	EXPECT(raw_reply(&r, NULL, 0, NULL) == RAW_EOF, 3);
	close(r.fd);
	/* Bad magic, then bad version, on an otherwise valid LIST. */
	for (int i = 0; i < 2; i++) {
		EXPECT(raw_dial(&r) == 0, 4);
		v4vp_hdr_init(&h, V4VP_LIST, 1, 0);
		if (i == 0)
			h.magic = 0x12345678;
		else
			h.version = V4VP_VERSION + 1;
		memcpy(pkt, &h, sizeof(h));
		memcpy(pkt + sizeof(h), &l, sizeof(l));
		EXPECT(raw_bytes(&r, pkt, sizeof(pkt), NULL, 0) == 0, 5);
		EXPECT(raw_reply(&r, NULL, 0, NULL) == RAW_EOF, 6 + i);
		close(r.fd);
	}
	/* An empty packet reads as the end of the connection; whatever
	 * descriptors came with it must not stay behind in v4vd. */
	EXPECT(raw_dial(&r) == 0 && !pipe(p), 8);
	fds[0] = p[1];
	fds[1] = p[1];
	EXPECT(raw_bytes(&r, "", 0, fds, 2) == 0, 9);
	EXPECT(raw_reply(&r, NULL, 0, NULL) == RAW_EOF, 10);
	close(r.fd);
	EXPECT(pipe_released(p), 14);
	/* One larger than any request can be. */
	EXPECT(raw_dial(&r) == 0, 11);
	v4vp_hdr_init(&h, V4VP_LIST, 1, 0);
	memcpy(big, &h, sizeof(h));
	EXPECT(raw_bytes(&r, big, sizeof(big), NULL, 0) == 0, 12);
	EXPECT(raw_reply(&r, NULL, 0, NULL) == RAW_EOF, 13);
	close(r.fd);
	return 0;
}

static void test_framing(void)
{
	int fds0 = settle(-1);

	CHECK_EQ(dom_wait(dom_spawn(framing, NULL)), 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
}

/* ---- malformed requests: a clean error each, connection kept ---- */

static int bad_requests(void *arg)
{
	static uint8_t payload[V4VP_MAX_DGRAM + 1];
	struct v4vp_list l = { .what = V4VP_LIST_HV };
	struct v4vp_hello hello = { .flags = V4VP_HELLO_NEW };
	struct v4vp_send s = { 0 };
	struct v4vp_lookup lk;
	struct v4vp_vipt_del del = { .pos = 4000 };
	struct v4vp_vipt_policy pol = { .action = 7 };
	struct v4vp_vipt_add add = { 0 };
	struct raw_ring g;
	uint8_t body[512] = { 0 };
	struct raw r;
	v4v_domid_t me;

	(void)arg;
	EXPECT(raw_dial(&r) == 0, 1);
	/* Nothing but HELLO before HELLO. */
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l), NULL, 0, NULL, 0) ==
	       -ENOTCONN, 2);
	EXPECT(raw_send_msg(&r, 1, 1, 1, "x", 1) == -ENOTCONN, 3);
	EXPECT(raw_call(&r, V4VP_VIPT_FLUSH, NULL, 0, NULL, 0, NULL, 0) ==
	       -ENOTCONN, 4);
	/* Unknown ops. */
	EXPECT(raw_call(&r, 0, NULL, 0, NULL, 0, NULL, 0) == -EPROTO, 5);
	EXPECT(raw_call(&r, 200, body, 8, NULL, 0, NULL, 0) == -EPROTO, 6);
	EXPECT(raw_call(&r, 0xffff, NULL, 0, NULL, 0, NULL, 0) == -EPROTO, 7);
	/* HELLO one byte short, one byte long; bad flags, bad names. */
	EXPECT(raw_call(&r, V4VP_HELLO, &hello, sizeof(hello) - 1, NULL, 0,
			NULL, 0) == -EPROTO, 8);
	memcpy(body, &hello, sizeof(hello));
	EXPECT(raw_call(&r, V4VP_HELLO, body, sizeof(hello) + 1, NULL, 0, NULL,
			0) == -EPROTO, 9);
	hello.flags = 7;
	EXPECT(raw_call(&r, V4VP_HELLO, &hello, sizeof(hello), NULL, 0, NULL,
			0) == -EINVAL, 10);
	hello.flags = V4VP_HELLO_NEW;
	memset(hello.name, 'a', sizeof(hello.name));
	EXPECT(raw_call(&r, V4VP_HELLO, &hello, sizeof(hello), NULL, 0, NULL,
			0) == -EINVAL, 11);
	strcpy(hello.name, "no spaces");
	EXPECT(raw_call(&r, V4VP_HELLO, &hello, sizeof(hello), NULL, 0, NULL,
			0) == -EINVAL, 12);
	/* Now a domain; a second HELLO of any kind is refused. */
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, &me, NULL) == 0, 13);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, NULL, NULL) == -EISCONN, 14);
	EXPECT(raw_hello(&r, V4VP_HELLO_CONTROL, NULL, 0, NULL, NULL) == -EISCONN, 15);
	/* Bodies of the wrong size. */
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l) - 4, NULL, 0, NULL, 0) ==
	       -EPROTO, 16);
	EXPECT(raw_call(&r, V4VP_LIST, body, sizeof(l) + 4, NULL, 0, NULL, 0) ==
	       -EPROTO, 17);
	EXPECT(raw_call(&r, V4VP_VIPT_FLUSH, body, 4, NULL, 0, NULL, 0) ==
	       -EPROTO, 18);
	l.what = 99;
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l), NULL, 0, NULL, 0) ==
	       -EINVAL, 19);
	/* SEND whose len disagrees with the packet, or is too large. */
	EXPECT(raw_ring_new(&r, &g, 0, 128 << 10, V4V_DOMID_ANY) == 0, 20);
	s = (struct v4vp_send){ .handle = g.handle, .len = 10,
				.dst = { .port = g.port, .domid = me } };
	EXPECT(raw_send(&r, V4VP_SEND, &s, sizeof(s), payload, 5, NULL, 0) ==
	       0 && raw_reply(&r, NULL, 0, NULL) == -EPROTO, 21);
	s.len = 5;
	EXPECT(raw_send(&r, V4VP_SEND, &s, sizeof(s), payload, 10, NULL, 0) ==
	       0 && raw_reply(&r, NULL, 0, NULL) == -EPROTO, 22);
	s.len = V4VP_MAX_DGRAM + 1;
	EXPECT(raw_send(&r, V4VP_SEND, &s, sizeof(s), payload, s.len, NULL,
			0) == 0 && raw_reply(&r, NULL, 0, NULL) == -EPROTO, 23);
	s.len = 0xffffffffu;
	EXPECT(raw_send(&r, V4VP_SEND, &s, sizeof(s), payload, 16, NULL, 0) ==
	       0 && raw_reply(&r, NULL, 0, NULL) == -EPROTO, 24);
	EXPECT(raw_send(&r, V4VP_SEND, &s, sizeof(s) - 1, NULL, 0, NULL, 0) ==
	       0 && raw_reply(&r, NULL, 0, NULL) == -EPROTO, 25);
	/* The largest datagram is fine; a bad destination domid is not. */
	EXPECT(raw_send_msg(&r, g.handle, me, g.port, payload,
			    V4VP_MAX_DGRAM) == 0, 26);
	EXPECT(raw_send_msg(&r, g.handle, 0x7ff0, 1, "x", 1) == -EINVAL, 27);
	EXPECT(raw_send_msg(&r, g.handle, V4V_DOMID_ANY, 1, "x", 1) ==
	       -EINVAL, 28);
	EXPECT(raw_send_msg(&r, g.handle, me, 4242, "x", 1) == -ECONNREFUSED,
	       29);
	/* Bad fields in well-sized bodies. */
	memset(lk.name, 'x', sizeof(lk.name));
	EXPECT(raw_call(&r, V4VP_LOOKUP, &lk, sizeof(lk), NULL, 0, NULL, 0) ==
	       -EINVAL, 30);
	EXPECT(raw_call(&r, V4VP_VIPT_DEL, &del, sizeof(del), NULL, 0, NULL,
			0) == -ENOENT, 31);
	EXPECT(raw_call(&r, V4VP_VIPT_POLICY, &pol, sizeof(pol), NULL, 0, NULL,
			0) == -EINVAL, 32);
	memset(&add, 0xff, sizeof(add));
	add.pos = 0;
	EXPECT(raw_call(&r, V4VP_VIPT_ADD, &add, sizeof(add), NULL, 0, NULL,
			0) == -EINVAL, 33);
	/* And after all that the connection still works. */
	l.what = V4VP_LIST_HV;
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l), NULL, 0, NULL, 0) == 0,
	       34);
	return 0;
}

static void test_bad_requests(void)
{
	int fds0 = settle(-1);

	CHECK_EQ(dom_wait(dom_spawn(bad_requests, NULL)), 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
}

/* ---- REGISTER with bad descriptors and bad sizes ---- */

static int reg_err(struct raw *r, uint32_t port, uint32_t size,
		   v4v_domid_t partner, uint32_t flags, const int *fds,
		   int nfds)
{
	struct v4vp_register req = { .port = port, .partner = partner,
				     .size = size, .flags = flags };
	uint8_t pkt[sizeof(struct v4vp_hdr) + sizeof(req)];
	struct v4vp_hdr h;
	int rc;

	r->op = V4VP_REGISTER;
	v4vp_hdr_init(&h, V4VP_REGISTER, ++r->seq, 0);
	memcpy(pkt, &h, sizeof(h));
	memcpy(pkt + sizeof(h), &req, sizeof(req));
	rc = raw_bytes(r, pkt, sizeof(pkt), fds, nfds);
	return rc ? rc : raw_reply(r, NULL, 0, NULL);
}

/* Every bad registration carries the write end of `p` and the doorbell
 * end `bell`: afterwards v4vd must hold neither. */
static int bad_registers(void *arg)
{
	int good = ring_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);
	int big = ring_memfd(2 * MAX_RING, F_SEAL_SHRINK);
	int loose = ring_memfd(4096, 0);
	int small = ring_memfd(2048, F_SEAL_SHRINK);
	int wsealed = ring_memfd(4096, F_SEAL_SHRINK | F_SEAL_WRITE);
	int sv[2], dg[2], sp[2], p[2], ro, file, tcp;
	char path[160], ropath[64];
	struct raw r;
	v4v_domid_t me;

	EXPECT(good >= 0 && big >= 0 && loose >= 0 && small >= 0 &&
	       wsealed >= 0, 1);
	EXPECT(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv) &&
	       !socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) &&
	       !socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) && !pipe(p), 2);
	snprintf(path, sizeof(path), "%s/plain-file", (const char *)arg);
	file = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	EXPECT(file >= 0 && !ftruncate(file, 8192), 3);
	unlink(path);
	snprintf(ropath, sizeof(ropath), "/proc/self/fd/%d", good);
	ro = open(ropath, O_RDONLY);
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT(ro >= 0 && tcp >= 0, 4);
	EXPECT(raw_domain(&r, &me) == 0, 5);

	{
		const int none[1] = { -1 };
		const int one[1] = { good };
		const int four[4] = { good, sv[1], p[1], p[1] };
		const int swapped[2] = { sv[1], good };
		const int pipe_mem[2] = { p[1], sv[1] };
		const int file_mem[2] = { file, sv[1] };
		const int loose_mem[2] = { loose, sv[1] };
		const int small_mem[2] = { small, sv[1] };
		const int ro_mem[2] = { ro, sv[1] };
		const int wsealed_mem[2] = { wsealed, sv[1] };
		const int pipe_bell[2] = { good, p[1] };
		const int dgram_bell[2] = { good, dg[1] };
		const int seqp_bell[2] = { good, sp[1] };
		const int tcp_bell[2] = { good, tcp };
		const int mem_bell[2] = { good, loose };
		const int ok[2] = { good, sv[1] };
		const int big_ok[2] = { big, sv[1] };
		const v4v_domid_t any = V4V_DOMID_ANY;
		int rc;

		EXPECT(reg_err(&r, 0, 4096, any, 0, none, 0) == -EBADF, 10);
		EXPECT(reg_err(&r, 0, 4096, any, 0, one, 1) == -EBADF, 11);
		/* Not a memfd, or not one sealed against shrinking. */
		EXPECT(reg_err(&r, 0, 4096, any, 0, swapped, 2) == -EBADF, 12);
		EXPECT(reg_err(&r, 0, 4096, any, 0, pipe_mem, 2) == -EBADF, 13);
		rc = reg_err(&r, 0, 4096, any, 0, file_mem, 2);
		EXPECT(rc == -EBADF || rc == -EPERM, 14);
		EXPECT(reg_err(&r, 0, 4096, any, 0, loose_mem, 2) == -EPERM,
		       15);
		EXPECT(reg_err(&r, 0, 4096, any, 0, small_mem, 2) == -EINVAL,
		       16);
		/* Sealed right but not mappable for writing. */
		EXPECT(reg_err(&r, 0, 4096, any, 0, ro_mem, 2) < 0, 17);
		EXPECT(reg_err(&r, 0, 4096, any, 0, wsealed_mem, 2) < 0, 18);
		/* Doorbells that are not AF_UNIX stream sockets. */
		EXPECT(reg_err(&r, 0, 4096, any, 0, pipe_bell, 2) == -ENOTSOCK,
		       20);
		EXPECT(reg_err(&r, 0, 4096, any, 0, dgram_bell, 2) == -ENOTSOCK,
		       21);
		EXPECT(reg_err(&r, 0, 4096, any, 0, seqp_bell, 2) == -ENOTSOCK,
		       22);
		EXPECT(reg_err(&r, 0, 4096, any, 0, tcp_bell, 2) == -ENOTSOCK,
		       23);
		EXPECT(reg_err(&r, 0, 4096, any, 0, mem_bell, 2) == -ENOTSOCK,
		       24);
		/* Sizes and fields. */
		EXPECT(reg_err(&r, 0, 4000 + 8, any, 0, ok, 2) == -EINVAL, 30);
		EXPECT(reg_err(&r, 0, 128, any, 0, ok, 2) == -EINVAL, 31);
		EXPECT(reg_err(&r, 0, 0, any, 0, ok, 2) == -EINVAL, 32);
		EXPECT(reg_err(&r, 0, 0xfffffff0u, any, 0, ok, 2) == -EINVAL,
		       33);
		EXPECT(reg_err(&r, 0, 2 * MAX_RING, any, 0, big_ok, 2) ==
		       -EINVAL, 34);
		EXPECT(reg_err(&r, 0, 4096, V4V_DOMID_MAX + 1, 0, ok, 2) ==
		       -EINVAL, 35);
		EXPECT(reg_err(&r, 0, 4096, V4V_DOMID_INVALID, 0, ok, 2) ==
		       -EINVAL, 36);
		EXPECT(reg_err(&r, 0, 4096, 0xffff, 0, ok, 2) == -EINVAL, 37);
		EXPECT(reg_err(&r, 0, 4096, any, 0x80, ok, 2) == -EINVAL, 38);
		/* The same good pair works, once per port. */
		EXPECT(reg_err(&r, 9, 4096, any, 0, ok, 2) == 0, 40);
		EXPECT(reg_err(&r, 9, 4096, any, 0, ok, 2) == -EADDRINUSE, 41);
		/* More descriptors than any op takes: the packet cannot be
		 * read as one request, and the connection goes. */
		EXPECT(reg_err(&r, 0, 4096, any, 0, four, 4) == RAW_EOF, 42);
	}
	close(r.fd);
	/* Every copy of the pipe's write end is gone from v4vd. */
	EXPECT(pipe_released(p), 50);
	/* The doorbell v4vd kept for ring 9 is its only one: once the
	 * connection and our end go, the ring goes too. */
	close(sv[1]);
	close(sv[0]);
	return 0;
}

static void test_bad_registers(void)
{
	int fds0 = settle(-1);

	CHECK_EQ(dom_wait(dom_spawn(bad_registers, hv.dir)), 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
}

/* ---- descriptors on ops that take none ---- */

static int stray_fds(void *arg)
{
	int memfd = ring_memfd(4096, F_SEAL_SHRINK), p[2];
	struct v4vp_list l = { .what = V4VP_LIST_HV };
	struct v4vp_handle h = { .handle = 1 };
	struct v4vp_lookup lk = { "nobody" };
	struct v4vp_send s = { .handle = 1, .len = 1,
			       .dst = { .port = 1, .domid = 1 } };
	struct v4vp_hello hello = { .flags = V4VP_HELLO_NEW };
	struct raw r;
	int fds[2];

	(void)arg;
	EXPECT(memfd >= 0 && !pipe(p), 1);
	fds[0] = p[1];
	fds[1] = memfd;
	EXPECT(raw_dial(&r) == 0, 2);
	/* Before HELLO: refused, descriptors closed. */
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l), fds, 2, NULL, 0) ==
	       -ENOTCONN, 3);
	/* HELLO NEW and CONTROL take none. */
	EXPECT(raw_call(&r, V4VP_HELLO, &hello, sizeof(hello), fds, 1, NULL,
			0) == -EINVAL, 4);
	EXPECT(raw_hello(&r, V4VP_HELLO_NEW, NULL, 0, NULL, NULL) == 0, 5);
	for (int i = 0; i < 200; i++) {
		int rc, want = -EBADF;

		switch (i % 7) {
		case 0:
			rc = raw_call(&r, V4VP_LIST, &l, sizeof(l), fds, 2,
				      NULL, 0);
			break;
		case 1:
			rc = raw_send(&r, V4VP_SEND, &s, sizeof(s), "x", 1, fds,
				      2);
			rc = rc ? rc : raw_reply(&r, NULL, 0, NULL);
			break;
		case 2:
			rc = raw_call(&r, V4VP_UNREGISTER, &h, sizeof(h), fds,
				      2, NULL, 0);
			break;
		case 3:
			rc = raw_call(&r, V4VP_LOOKUP, &lk, sizeof(lk), fds, 2,
				      NULL, 0);
			break;
		case 4:
			rc = raw_call(&r, V4VP_VIPT_FLUSH, NULL, 0, fds, 2,
				      NULL, 0);
			break;
		case 5: {
			/* NOTIFY answers nothing, or an error. */
			struct pollfd pf = { .fd = r.fd, .events = POLLIN };

			rc = raw_send(&r, V4VP_NOTIFY, &h, sizeof(h), NULL, 0,
				      fds, 2);
			if (!rc && poll(&pf, 1, 50) == 1)
				rc = raw_reply(&r, NULL, 0, NULL);
			else if (!rc)
				rc = want;
			break;
		}
		default:
			rc = raw_call(&r, V4VP_HELLO, &hello, sizeof(hello),
				      fds, 2, NULL, 0);
			want = -EISCONN;
			break;
		}
		if (rc != want) {
			fprintf(stderr, "stray fds: packet %d: %d\n", i, rc);
			return 10;
		}
	}
	EXPECT(raw_call(&r, V4VP_LIST, &l, sizeof(l), NULL, 0, NULL, 0) == 0,
	       11);
	EXPECT(pipe_released(p), 12);
	return 0;
}

static void test_stray_fds(void)
{
	int fds0 = settle(-1);
	int during;

	CHECK_EQ(dom_wait(dom_spawn(stray_fds, NULL)), 0);
	during = settle(fds0);
	printf("v4vd descriptors: %d before, %d after 200 packets with 2 "
	       "stray descriptors each\n", fds0, during);
	CHECK_EQ(during, fds0);
	CHECK(hv_alive(&hv));
}

/* ---- thousands of random packets with random descriptors ---- */

struct fuzz_pool {
	int fds[12];
	int n;
	int good_memfd;
	int bell;
};

static void pool_init(struct fuzz_pool *p, int own)
{
	int sv[2], dg[2], pp[2];

	p->n = 0;
	p->good_memfd = ring_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);
	/* Only one end of the doorbell pair: we hold the other, so every
	 * ring registered with it dies when we exit. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || pipe(pp))
		_exit(90);
	p->bell = sv[1];
	p->fds[p->n++] = p->good_memfd;
	p->fds[p->n++] = sv[1];
	p->fds[p->n++] = ring_memfd(4096, 0);
	p->fds[p->n++] = dg[0];
	p->fds[p->n++] = pp[0];
	p->fds[p->n++] = pp[1];
	p->fds[p->n++] = open("/dev/null", O_RDWR);
	p->fds[p->n++] = open("/", O_RDONLY | O_DIRECTORY);
	p->fds[p->n++] = eventfd(0, 0);
	p->fds[p->n++] = epoll_create1(0);
	p->fds[p->n++] = own;
}

/* A packet that is valid enough to reach each op's own checks. */
static size_t fuzz_body(uint64_t *s, uint16_t op, uint8_t *b, size_t room)
{
	size_t len = v4vp_request_size(op);
	uint32_t v[8];

	if (len == (size_t)-1 || rnd(s) % 8 == 0)
		len = rnd(s) % 96;
	for (size_t i = 0; i < room; i++)
		b[i] = (uint8_t)rnd(s);
	for (int i = 0; i < 8; i++)
		v[i] = (uint32_t)rnd(s) % 8;
	switch (op) {
	case V4VP_HELLO:
		memcpy(b, &v[0], 4); /* flags 0..7 */
		b[8 + rnd(s) % V4V_NAME_MAX] = 0;
		if (rnd(s) % 2)
			b[8] = 0;
		break;
	case V4VP_REGISTER: {
		static const uint32_t sizes[] = { 4096, 256, 1000, 0,
						  1u << 30, 2 * MAX_RING };
		struct v4vp_register r = {
			.port = v[0], .size = sizes[v[1] % 6],
			.partner = v[2] < 6 ? V4V_DOMID_ANY
					    : (v4v_domid_t)rnd(s),
			.flags = v[3] == 0 };

		memcpy(b, &r, sizeof(r));
		break;
	}
	case V4VP_SEND: {
		struct v4vp_send sd = {
			.handle = v[0] * 3, .message_type = v[1],
			.dst = { .port = v[2], .domid = (v4v_domid_t)v[3] },
			.len = (uint32_t)rnd(s) % 512 };

		if (v[4] == 0)
			sd.len = (uint32_t)rnd(s);
		memcpy(b, &sd, sizeof(sd));
		if (v[5] != 0 && sd.len <= 512)
			len = sizeof(sd) + sd.len;
		break;
	}
	case V4VP_UNREGISTER:
	case V4VP_NOTIFY:
	case V4VP_LIST:
		memcpy(b, &v[0], 4);
		memcpy(b + 4, &v[1], 4);
		break;
	default:
		break;
	}
	return len < room ? len : room;
}

static int fuzz_reconnect(struct raw *r, uint64_t *s, struct fuzz_pool *p)
{
	if (r->fd >= 0)
		close(r->fd);
	if (raw_dial(r))
		return -1;
	p->fds[p->n - 1] = r->fd;
	if (rnd(s) % 4)
		raw_hello(r, rnd(s) % 5 ? V4VP_HELLO_NEW : V4VP_HELLO_CONTROL,
			  NULL, 0, NULL, NULL);
	return 0;
}

#define FUZZ_SYNC 0xfffffff0u

/* Wait until v4vd has dealt with everything we sent: a LIST after it
 * is answered in order.  1 if it was, 0 if v4vd dropped us, -1 if it
 * did not answer at all (a hypervisor that stalls is a failure). */
static int fuzz_sync(struct raw *r)
{
	static uint8_t buf[V4VP_MAX_PACKET];
	struct v4vp_list l = { .what = V4VP_LIST_HV };
	struct v4vp_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { &l, sizeof(l) } };
	struct pollfd p = { .fd = r->fd, .events = POLLIN };

	v4vp_hdr_init(&h, V4VP_LIST, FUZZ_SYNC, 0);
	if (v4vp_sendv(r->fd, iov, 2, NULL, 0, 0))
		return 0;
	for (;;) {
		int fds[V4VP_MAX_FDS], nfds = 0;
		ssize_t n;

		if (poll(&p, 1, 5000) != 1)
			return -1;
		n = v4vp_recv(r->fd, buf, sizeof(buf), fds, &nfds, 0);
		for (int i = 0; n > 0 && i < nfds; i++)
			close(fds[i]);
		if (n <= 0 && n != -EPROTO)
			return 0;
		memcpy(&h, buf, sizeof(h));
		if (n >= (ssize_t)sizeof(h) && h.seq == FUZZ_SYNC &&
		    h.op == V4VP_LIST)
			return 1;
	}
}

struct fuzz {
	uint64_t seed;
	int packets;
};

static int fuzzer(void *arg)
{
	static uint8_t pkt[V4VP_MAX_PACKET];
	const struct fuzz *fz = arg;
	uint64_t s = fz->seed;
	struct fuzz_pool pool;
	struct raw r = { .fd = -1 };
	int drops = 0, n = fz->packets;

	pool_init(&pool, -1);
	if (fuzz_reconnect(&r, &s, &pool))
		return 1;
	for (int i = 0; i < n; i++) {
		struct v4vp_hdr h;
		int fds[5], nfds = (int)(rnd(&s) % 64), sync;
		uint16_t op = (uint16_t)(rnd(&s) % 18);
		size_t len;

		/* Mostly what ops take; rarely more than any takes. */
		nfds = nfds < 32 ? 0 : nfds < 45 ? 1 : nfds < 60 ? 2 : nfds - 59;
		for (int k = 0; k < nfds; k++)
			fds[k] = pool.fds[rnd(&s) % (uint64_t)pool.n];
		if (op == V4VP_REGISTER && rnd(&s) % 3 == 0) {
			/* Sometimes exactly right, so rings come and go. */
			fds[0] = pool.good_memfd;
			fds[1] = pool.bell;
			nfds = 2;
		}
		v4vp_hdr_init(&h, op, (uint32_t)i, (int32_t)rnd(&s));
		switch (rnd(&s) % 64) {
		case 0:
			h.magic ^= 1u << (rnd(&s) % 32);
			break;
		case 1:
			h.version = (uint16_t)rnd(&s);
			break;
		default:
			break;
		}
		memcpy(pkt, &h, sizeof(h));
		len = sizeof(h) + fuzz_body(&s, op, pkt + sizeof(h), 1024);
		if (rnd(&s) % 32 == 0)
			len = rnd(&s) % sizeof(h);
		sync = raw_bytes(&r, pkt, len, fds, nfds) ? 0 : fuzz_sync(&r);
		if (sync < 0) {
			fprintf(stderr, "fuzzer: v4vd stalled on packet %d\n",
				i);
			return 3;
		}
		if (!sync) {
			drops++;
			if (fuzz_reconnect(&r, &s, &pool))
				return 2;
		}
	}
	printf("fuzzer: %d packets, %d connections dropped\n", n, drops);
	fflush(stdout);
	return 0;
}

static void test_garbage(void)
{
	int fds0 = settle(-1);
	struct fuzz fa = { 0x9e3779b97f4a7c15ull, 10000 };
	struct fuzz fb = { 12345, 10000 };
	struct v4vp_vipt_policy pol = { .action = V4VP_VIPT_ACCEPT };
	struct v4v_ctl *c;
	pid_t a, b;

	a = dom_spawn(fuzzer, &fa);
	b = dom_spawn(fuzzer, &fb);
	CHECK_EQ(dom_wait(a), 0);
	CHECK_EQ(dom_wait(b), 0);
	CHECK(hv_alive(&hv));
	/* The fuzzers ran as root: whatever rules they made, undo. */
	REQUIRE(v4v_ctl_open(NULL, &c) == 0);
	CHECK_EQ(v4v_ctl_call(c, V4VP_VIPT_FLUSH, NULL, 0, NULL, 0, NULL), 0);
	CHECK_EQ(v4v_ctl_call(c, V4VP_VIPT_POLICY, &pol, sizeof(pol), NULL, 0,
			      NULL), 0);
	v4v_ctl_close(c);
	CHECK_EQ(settle(fds0), fds0);
	pp_check(200);
}

/* ---- a client that floods and never reads is dropped ---- */

static int flooder(void *arg)
{
	struct v4vp_list l = { .what = V4VP_LIST_HV };
	uint64_t until = now_ns() + 1500000000ull;
	long sent = 0;
	int drops = 0;

	(void)arg;
	while (now_ns() < until) {
		struct timeval tv = { 3, 0 };
		struct raw r;
		int rc;

		EXPECT(raw_dial(&r) == 0, 1);
		EXPECT(raw_hello(&r, V4VP_HELLO_CONTROL, NULL, 0, NULL, NULL) == 0, 2);
		/* A v4vd that stopped reading us without dropping us would
		 * block us for good: that is a failure too. */
		setsockopt(r.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		/* Requests only, no reads; blocks only while v4vd is busy. */
		while ((rc = raw_send(&r, V4VP_LIST, &l, sizeof(l), NULL, 0,
				      NULL, 0)) == 0) {
			/* v4vd reads on but never drops us: not good either. */
			EXPECT(++sent % 4096 || now_ns() < until + 5000000000ull,
			       4);
		}
		EXPECT(rc == RAW_EOF, 3);
		close(r.fd);
		drops++;
	}
	printf("flooder: %ld unread requests, dropped %d times\n", sent,
	       drops);
	fflush(stdout);
	return drops > 0 ? 0 : 5;
}

static void test_flood(void)
{
	int fds0 = settle(-1);
	uint64_t t0, quiet;
	struct pp p;
	pid_t f, pids[2];

	t0 = now_ns();
	pp_check(3000);
	quiet = now_ns() - t0;
	t0 = now_ns();
	f = dom_spawn(flooder, NULL);
	pp_start(&p, 3000, pids);
	pp_finish(&p, pids);
	printf("ping-pong, 3000 rounds: %.0f ms alone, %.0f ms during the "
	       "flood\n", (double)quiet / 1e6, (double)(now_ns() - t0) / 1e6);
	CHECK_EQ(dom_wait(f), 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
}

/* ---- a ring whose owner scribbles over its shared header ---- */

struct scribble {
	struct gate ready;
	struct gate stop;
	uint64_t seed;
};

static int scribbler(void *arg)
{
	struct scribble *sc = arg;
	struct pollfd p = { .fd = sc->stop.fd[0], .events = POLLIN };
	struct raw r;
	struct raw_ring g;
	v4v_domid_t me;
	uint64_t s = sc->seed;

	if (raw_domain(&r, &me) || raw_ring_new(&r, &g, 50, 4096, V4V_DOMID_ANY)) {
		gate_open(&sc->ready, V4V_DOMID_INVALID);
		return 1;
	}
	gate_open(&sc->ready, me);
	for (long i = 0; poll(&p, 1, 0) == 0; i++) {
		volatile struct v4v_ring_shared *sh = g.mem;
		uint32_t v = (uint32_t)rnd(&s);

		switch (v % 8) {
		case 0: sh->rx_ptr = (uint32_t)rnd(&s); break;
		case 1: sh->rx_ptr = (uint32_t)rnd(&s) % 4096 & ~15u; break;
		case 2: sh->tx_ptr = (uint32_t)rnd(&s); break;
		case 3: sh->rx_flags = (uint32_t)rnd(&s); break;
		case 4: sh->tx_flags = (uint32_t)rnd(&s); break;
		case 5: sh->size = (uint32_t)rnd(&s); sh->magic = v; break;
		case 6:
			((volatile uint8_t *)g.mem)[V4V_RING_HDR_SIZE +
						     rnd(&s) % 4096] = (uint8_t)v;
			break;
		default: {
			/* Ask v4vd to wake senders against this mess. */
			struct v4vp_handle h = { .handle = g.handle };

			if (i % 64 == 7)
				raw_send(&r, V4VP_NOTIFY, &h, sizeof(h), NULL,
					 0, NULL, 0);
			break;
		}
		}
	}
	return 0;
}

struct hammer {
	v4v_domid_t dst;
	long counts[4]; /* sent, EAGAIN, EPIPE, total */
	int res[2];
};

/* Send to the scribbled ring, blocking and not: only clean results. */
static int hammer(void *arg)
{
	struct hammer *hm = arg;
	struct sockaddr_v4v to = addr(hm->dst, 50);
	struct timeval tv = { 0, 20000 };
	uint64_t until = now_ns() + 1000000000ull, s = 7;
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	static char buf[3000];

	EXPECT(fd >= 0, 1);
	v4v_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (now_ns() < until) {
		size_t len = rnd(&s) % sizeof(buf);
		int flags = rnd(&s) % 2 ? MSG_DONTWAIT : 0;
		ssize_t n = v4v_sendto(fd, buf, len, flags, SA(to), sizeof(to));

		hm->counts[3]++;
		if (n == (ssize_t)len) {
			hm->counts[0]++;
		} else if (n < 0 && errno == EAGAIN) {
			hm->counts[1]++;
		} else if (n < 0 && errno == EPIPE) {
			/* The owner set the "closed" flag itself. */
			hm->counts[2]++;
		} else {
			fprintf(stderr, "hammer: send of %zu: %zd (%s)\n", len,
				n, strerror(errno));
			return 2;
		}
	}
	EXPECT(write(hm->res[1], hm->counts, sizeof(hm->counts)) ==
	       sizeof(hm->counts), 3);
	return 0;
}

static void test_scribbled_ring(void)
{
	int fds0 = settle(-1);
	struct scribble sc = { .seed = 0x1234567 };
	struct hammer hm = { 0 };
	struct pp p;
	pid_t s, h, pids[2];

	gate_init(&sc.ready);
	gate_init(&sc.stop);
	REQUIRE(!pipe(hm.res));
	s = dom_spawn(scribbler, &sc);
	hm.dst = (v4v_domid_t)gate_wait(&sc.ready);
	h = dom_spawn(hammer, &hm);
	close(hm.res[1]);
	/* Bystanders talk all along. */
	pp_start(&p, 1000, pids);
	CHECK_EQ(dom_wait(h), 0);
	pp_finish(&p, pids);
	gate_open(&sc.stop, 1);
	CHECK_EQ(dom_wait(s), 0);
	CHECK(read(hm.res[0], hm.counts, sizeof(hm.counts)) ==
	      sizeof(hm.counts));
	printf("sends into a scribbled ring: %ld, %ld ok, %ld EAGAIN, "
	       "%ld EPIPE\n", hm.counts[3], hm.counts[0], hm.counts[1],
	       hm.counts[2]);
	CHECK(hm.counts[0] > 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
	close(hm.res[0]);
}

/* ---- the consumer side: a corrupt ring is reported, not followed ---- */

struct consumer {
	struct gate ready;	/* consumer -> sender: my domid */
	struct gate sent;	/* sender -> consumer: messages are in */
	struct gate next;	/* consumer -> sender: send more */
};

/* A message in `cons` within 2 s: a strict sender's queued datagrams
 * reach the ring after its send returned (until then a scribbled
 * tx_ptr stays scribbled). */
static int peek_wait(struct v4v_ring_cons *cons, struct v4v_ring_msg *m)
{
	int rc = 0;

	for (int i = 0; i < 200 && (rc = v4v_ring_peek(cons, m)) != 1; i++)
		usleep(10000);
	return rc;
}

static int corrupt_consumer(void *arg)
{
	static const uint32_t bad_tx[] = { 4096, 4096 + 16, 8, 0xfffffff0u,
					   0x80000000u, 4095 };
	struct consumer *c = arg;
	struct v4v_ring_cons cons;
	struct v4v_ring view;
	struct v4v_ring_msg m;
	struct v4v_ring_msghdr mh;
	struct raw r;
	struct raw_ring g;
	v4v_domid_t me;
	uint32_t tx, sender;
	uint8_t *data;
	char buf[64];

	EXPECT(raw_domain(&r, &me) == 0, 1);
	EXPECT(raw_ring_new(&r, &g, 60, 4096, V4V_DOMID_ANY) == 0, 2);
	EXPECT(v4v_ring_view(&view, g.mem, v4v_ring_mem_size(4096), 4096) ==
	       0, 3);
	v4v_ring_cons_init(&cons, &view);
	data = (uint8_t *)g.mem + V4V_RING_HDR_SIZE;
	gate_open(&c->ready, me);
	sender = gate_wait(&c->sent);
	/* Three messages from the sender, read with the ring code. */
	EXPECT(peek_wait(&cons, &m) == 1, 4);
	for (int i = 0; i < 200 && v4v_ring_used(&cons) < 3 * 32; i++)
		usleep(10000);
	EXPECT(m.payload_len == 5 && m.source.domid == sender, 5);
	v4v_ring_read(&cons, 0, buf, 5);
	EXPECT(!memcmp(buf, "msg-0", 5), 6);
	v4v_ring_consume(&cons, &m);
	/* A tx_ptr out of range or misaligned. */
	tx = ((struct v4v_ring_shared *)g.mem)->tx_ptr;
	for (unsigned i = 0; i < sizeof(bad_tx) / sizeof(bad_tx[0]); i++) {
		((struct v4v_ring_shared *)g.mem)->tx_ptr = bad_tx[i];
		EXPECT(v4v_ring_peek(&cons, &m) == -EBADMSG, 10 + (int)i);
		EXPECT(v4v_ring_used(&cons) == 0, 20);
	}
	((struct v4v_ring_shared *)g.mem)->tx_ptr = tx;
	/* A message header whose length lies: too short, past tx, huge. */
	memcpy(&mh, data + cons.rx, sizeof(mh));
	for (uint32_t bad = 0; bad < 3; bad++) {
		struct v4v_ring_msghdr lie = mh;

		lie.len = bad == 0 ? 8 : bad == 1 ? 4096 : 0xffffffffu;
		memcpy(data + cons.rx, &lie, sizeof(lie));
		EXPECT(v4v_ring_peek(&cons, &m) == -EBADMSG, 30 + (int)bad);
	}
	memcpy(data + cons.rx, &mh, sizeof(mh));
	/* Repaired, the rest reads normally. */
	for (int i = 1; i < 3; i++) {
		char want[8];

		snprintf(want, sizeof(want), "msg-%d", i);
		EXPECT(v4v_ring_peek(&cons, &m) == 1, 40);
		v4v_ring_read(&cons, 0, buf, m.payload_len);
		EXPECT(m.payload_len == 5 && !memcmp(buf, want, 5), 41);
		v4v_ring_consume(&cons, &m);
	}
	EXPECT(v4v_ring_peek(&cons, &m) == 0, 42);
	/* The hypervisor's own tx position is private: after we scribble
	 * tx_ptr it still inserts where it should. */
	((struct v4v_ring_shared *)g.mem)->tx_ptr = 0x12345;
	gate_open(&c->next, 1);
	gate_wait(&c->sent);
	EXPECT(peek_wait(&cons, &m) == 1 && m.payload_len == 5, 43);
	v4v_ring_read(&cons, 0, buf, 5);
	EXPECT(!memcmp(buf, "again", 5), 44);
	return 0;
}

static int corrupt_sender(void *arg)
{
	struct consumer *c = arg;
	struct sockaddr_v4v to = addr((v4v_domid_t)gate_wait(&c->ready), 60);
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	EXPECT(fd >= 0, 1);
	for (int i = 0; i < 3; i++) {
		char msg[8];

		snprintf(msg, sizeof(msg), "msg-%d", i);
		EXPECT(v4v_sendto(fd, msg, 5, 0, SA(to), sizeof(to)) == 5, 2);
	}
	gate_open(&c->sent, (uint32_t)v4v_domid());
	gate_wait(&c->next);
	EXPECT(v4v_sendto(fd, "again", 5, 0, SA(to), sizeof(to)) == 5, 3);
	gate_open(&c->sent, 1);
	return 0;
}

/* The library's own ring, found through /proc/self/maps. */
static struct v4v_ring_shared *find_lib_ring(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	struct v4v_ring_shared *found = NULL;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long lo;
		struct v4v_ring_shared *sh;

		if (!strstr(line, "memfd:v4v-ring") ||
		    sscanf(line, "%lx-", &lo) != 1)
			continue;
		sh = (struct v4v_ring_shared *)lo;
		/* The receiving socket's ring is the one with data. */
		if (sh->magic == V4V_RING_MAGIC && sh->tx_ptr != 0)
			found = sh;
	}
	if (f)
		fclose(f);
	return found;
}

static int lib_corrupt(void *arg)
{
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, 61);
	int b = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	int a = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	struct v4v_ring_shared *sh;
	uint32_t tx;
	char buf[16];

	(void)arg;
	EXPECT(a >= 0 && b >= 0 && !v4v_bind(b, SA(me), sizeof(me)), 1);
	me.v4v_domid = (v4v_domid_t)v4v_domid();
	EXPECT(v4v_sendto(a, "hello", 5, 0, SA(me), sizeof(me)) == 5, 2);
	sh = find_lib_ring();
	EXPECT(sh, 3);
	tx = sh->tx_ptr;
	sh->tx_ptr = 0x7ffffff0u;
	EXPECT(v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == EPROTO, 4);
	sh->tx_ptr = 24;
	EXPECT(v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	       errno == EPROTO, 5);
	sh->tx_ptr = tx;
	EXPECT(v4v_recv(b, buf, sizeof(buf), MSG_DONTWAIT) == 5 &&
	       !memcmp(buf, "hello", 5), 6);
	return 0;
}

static void test_corrupt_consumer(void)
{
	int fds0 = settle(-1);
	struct consumer c;
	pid_t rcv, snd;
	int rc;

	gate_init(&c.ready);
	gate_init(&c.sent);
	gate_init(&c.next);
	rcv = dom_spawn(corrupt_consumer, &c);
	snd = dom_spawn(corrupt_sender, &c);
	rc = dom_wait(rcv);
	CHECK_EQ(rc, 0);
	/* A consumer that failed half way leaves the sender waiting. */
	if (rc)
		kill(snd, SIGKILL);
	CHECK_EQ(dom_wait(snd), rc ? 128 + SIGKILL : 0);
	CHECK_EQ(dom_wait(dom_spawn(lib_corrupt, NULL)), 0);
	CHECK(hv_alive(&hv));
	CHECK_EQ(settle(fds0), fds0);
}

/* ---- a domain that tries to outlive itself through its doorbells ---- */

static int pinner(void *arg)
{
	struct v4vp_register_reply rep;
	struct raw r = { .fd = -1 };
	v4v_domid_t me;
	int sv[2], m1, m2, rc;

	/* In a network namespace of its own: v4vd's sock_diag cannot see
	 * its sockets there. */
	if (arg && unshare(CLONE_NEWNET))
		return 77;
	EXPECT(raw_domain(&r, &me) == 0, 1);
	EXPECT(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 2);
	m1 = ring_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);
	m2 = ring_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW);
	EXPECT(raw_register(&r, 0, 4096, V4V_DOMID_ANY, 0, m1, sv[1], &rep) == 0, 3);
	/* Both ends of one pair: its hang-up could never come. */
	rc = raw_register(&r, 0, 4096, V4V_DOMID_ANY, 0, m2, sv[0], &rep);
	EXPECT(rc == -EINVAL, 4);
	/* Our end parked in v4vd's receive queue: refused by the kernel. */
	{
		struct iovec iov = { "x", 1 };

		rc = v4vp_sendv(sv[0], &iov, 1, &sv[0], 1, MSG_DONTWAIT);
		EXPECT(rc == -EPERM || rc == -EINVAL, 5);
	}
	return 0; /* exiting must end the domain and its ring */
}

static void test_pinned_netns(void)
{
	static int yes = 1;
	int rc = dom_wait(dom_spawn(pinner, &yes));

	if (rc == 77) {
		printf("skip: unshare(CLONE_NEWNET) is not permitted here\n");
		return;
	}
	CHECK_EQ(rc, 0);
	CHECK(settle(-1) >= 0);
	{
		struct v4vp_rec_hv h;

		CHECK(hv_counters(&h) && h.ndomains == 0 && h.nrings == 0);
	}
}

static void test_pinned(void)
{
	CHECK_EQ(dom_wait(dom_spawn(pinner, NULL)), 0);
	/* Nothing of it may stay behind. */
	CHECK(settle(-1) >= 0);
	{
		struct v4vp_rec_hv h;

		CHECK(hv_counters(&h) && h.ndomains == 0 && h.nrings == 0);
	}
}

/* ---- the handshake spoken by hand ---- */

static struct v4vp_grant granted;

static int raw_connect(struct raw *r, uint32_t handle, v4v_domid_t domid,
		       uint32_t port, const int *fds, int nfds, int *memfd)
{
	struct v4vp_connect req = { .handle = handle, .conid = 7,
				    .dst = { .port = port, .domid = domid } };
	int rc = raw_send(r, V4VP_CONNECT, &req, sizeof(req), NULL, 0, fds,
			  nfds);

	return rc ? rc : raw_reply(r, &granted, sizeof(granted), memfd);
}

static int raw_accept(struct raw *r, uint32_t handle, uint32_t listener,
		      const int *fds, int nfds)
{
	struct v4vp_accept req = { .handle = handle, .listener = listener,
				   .conid = 7 };
	struct v4vp_accept_reply rep;

	return raw_call(r, V4VP_ACCEPT, &req, sizeof(req), fds, nfds, &rep,
			sizeof(rep));
}

/* The largest byte count v4vd reports for a ring: at most what memory
 * could carry in the test's few seconds, whatever a peer wrote. */
static uint64_t max_ring_bytes(void)
{
	struct v4vp_rec_ring *recs;
	uint64_t most = 0;
	uint32_t n;

	if (hv_fetch(V4VP_LIST_RINGS, (void **)&recs, &n))
		return UINT64_MAX;
	for (uint32_t i = 0; i < n; i++)
		if (recs[i].bytes > most)
			most = recs[i].bytes;
	free(recs);
	return most;
}

/* Produce into a granted ring, as a direct client does. */
static int insert_into(int memfd, uint32_t port, v4v_domid_t domid,
		       const char *text)
{
	size_t ml = v4v_ring_mem_size(granted.peer_size);
	void *m = mmap(NULL, ml, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	struct iovec iov = { (void *)text, strlen(text) };
	struct v4v_addr src = { .port = port, .domid = domid };
	struct v4v_ring_prod prod;
	struct v4v_ring view;
	bool kick;
	int rc;

	close(memfd);
	if (m == MAP_FAILED)
		return -errno;
	rc = v4v_ring_view(&view, m, ml, granted.peer_size);
	if (!rc) {
		v4v_ring_prod_init(&prod, &view);
		rc = v4v_ring_insert(&prod, &src, V4VP_MT_STREAM, &iov, 1,
				     &kick);
		/* And a lie about how much we sent (v4v status shows it). */
		view.sh->tx_bytes = 5461331073318824508ull;
	}
	munmap(m, ml);
	return rc ? rc : kick; /* nobody armed a queued ring: no kick */
}

/* Strict: a message into our own transmit queue (its header's address
 * `a`: a stream names itself, a datagram its destination), and the
 * token its armed state asks for.  The position is the queue's own
 * tx_ptr: a raw domain keeps none. */
static int insert_q(struct raw_ring *g, const struct v4v_addr *a,
		    uint32_t type, const char *text)
{
	size_t one = v4v_ring_mem_size(g->size);
	struct iovec iov = { (void *)text, strlen(text) };
	struct v4v_ring_prod prod;
	struct v4v_ring view;
	bool kick;
	int rc = v4v_ring_view(&view, (uint8_t *)g->mem + one, one, g->size);

	if (rc)
		return rc;
	v4v_ring_prod_init(&prod, &view);
	rc = v4v_ring_prod_start(&prod, view.sh->tx_ptr);
	if (!rc)
		rc = v4v_ring_insert(&prod, a, type, &iov, 1, &kick);
	if (!rc && kick && write(g->app, "", 1) != 1)
		rc = -errno;
	return rc;
}

static int insert_txq(struct raw_ring *g, v4v_domid_t domid,
		      const char *text)
{
	struct v4v_addr src = { .port = g->port, .domid = domid };

	return insert_q(g, &src, V4VP_MT_STREAM, text);
}

/*
 * A hostile client: CONNECT with descriptors that are not a bound TCP
 * socket, then ACCEPTs of rings that are not its to take (the queued
 * ring of another domain's listener, its own plain ring, made-up
 * handles), with and without a doorbell.  Each fails, v4vd keeps none of
 * the descriptors, and the listener's owner still accepts the one real
 * connection, with the data the client put in before.
 */
static int handshake(void *arg)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY };
	socklen_t len = sizeof(me);
	int l = v4v_socket(AF_V4V, SOCK_STREAM, 0), p[2], sv[2], udp, tcp, s;
	int two[2], memfd = -1, rc;
	struct raw_ring g;
	struct raw r;
	v4v_domid_t cli;
	char buf[8];

	(void)arg;
	EXPECT(l >= 0 && !v4v_bind(l, (struct sockaddr *)&me, sizeof(me)) &&
	       !v4v_listen(l, 4) &&
	       !v4v_getsockname(l, (struct sockaddr *)&me, &len), 1);
	EXPECT(!pipe(p) && !socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 2);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	tcp = socket(AF_INET, SOCK_STREAM, 0); /* not bound */
	EXPECT(udp >= 0 && tcp >= 0, 3);
	EXPECT(raw_domain(&r, &cli) == 0, 4);
	EXPECT(raw_ring_new(&r, &g, 0, 4096, me.v4v_domid) == 0, 5);
	/* Not a bound TCP stream socket: refused, nothing kept. */
	EXPECT(raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, &p[1], 1,
			   NULL) == -EINVAL, 10);
	EXPECT(raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, &udp, 1,
			   NULL) == -EINVAL, 11);
	EXPECT(raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, &tcp, 1,
			   NULL) == -EINVAL, 12);
	two[0] = two[1] = sv[0];
	EXPECT(raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, two, 2,
			   NULL) == -EBADF, 13);
	/* The real one, granted the queued ring at once: write into it
	 * (strict: into our transmit queue, which v4vd moves into it). */
	rc = raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, NULL, 0,
			 &memfd);
	EXPECT(rc == 0, 14);
	if (memfd < 0)
		EXPECT(insert_txq(&g, cli, "early") == 0, 15);
	else
		EXPECT(insert_into(memfd, g.port, cli, "early") == 0, 16);
	/* ACCEPT of what is not ours, or without exactly one doorbell. */
	for (uint32_t h = 1; h < 64; h++)
		EXPECT(raw_accept(&r, h, g.handle, &sv[1], 1) == -EINVAL, 20);
	EXPECT(raw_accept(&r, g.handle, g.handle, NULL, 0) == -EBADF, 21);
	EXPECT(raw_accept(&r, g.handle, g.handle, two, 2) == -EBADF, 22);
	close(r.fd);
	close(g.app); /* the client's socket is gone */
	close(p[1]);
	EXPECT(pipe_released(p), 23);
	close(udp);
	close(tcp);
	/* The listener's owner takes the connection and what came with it;
	 * its client (the raw domain) is gone: end of file after it. */
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 30);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 5 &&
	       !memcmp(buf, "early", 5), 31);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) == 0, 32);
	EXPECT(max_ring_bytes() < 1ull << 42, 33); /* the lie is clamped */
	return 0;
}

static void test_handshake(void)
{
	CHECK_EQ(dom_wait(dom_spawn(handshake, NULL)), 0);
}

/* An honest connection to listener `l` still carries a byte each way. */
static bool pair_works(int l, const struct sockaddr_v4v *at)
{
	int c = v4v_socket(AF_V4V, SOCK_STREAM, 0), s = -1;
	char b = 0;
	bool ok = c >= 0 && !v4v_connect(c, (const struct sockaddr *)at,
					 sizeof(*at)) &&
		  (s = v4v_accept(l, NULL, NULL)) >= 0 &&
		  v4v_send(c, "x", 1, 0) == 1 && v4v_recv(s, &b, 1, 0) == 1 &&
		  b == 'x' && v4v_send(s, "y", 1, 0) == 1 &&
		  v4v_recv(c, &b, 1, 0) == 1 && b == 'y';

	v4v_close(c);
	if (s >= 0)
		v4v_close(s);
	return ok;
}

/* Write a hostile transmit queue, `how`: 0 a tx_ptr off the slot grid,
 * 1 beyond the ring, 2 a header claiming 4 GiB, 3 a header claiming
 * less than a header, 4 random bytes rewritten while v4vd reads. */
static void spoil_queue(struct raw_ring *g, int how)
{
	size_t one = v4v_ring_mem_size(g->size);
	struct v4v_ring_shared *sh = (void *)((uint8_t *)g->mem + one);
	uint8_t *data = (uint8_t *)sh + V4V_RING_HDR_SIZE;
	struct v4v_ring_msghdr *h = (void *)data;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	switch (how) {
	case 0: __atomic_store_n(&sh->tx_ptr, 8u, __ATOMIC_RELEASE); break;
	case 1: __atomic_store_n(&sh->tx_ptr, g->size + 64, __ATOMIC_RELEASE);
		break;
	case 2: h->len = 0xffffffffu;
		__atomic_store_n(&sh->tx_ptr, 64u, __ATOMIC_RELEASE); break;
	case 3: h->len = 3;
		__atomic_store_n(&sh->tx_ptr, 16u, __ATOMIC_RELEASE); break;
	default:
		for (int i = 0; i < 200000; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			data[x % g->size] = (uint8_t)x;
			if (!(i % 64))
				__atomic_store_n(&sh->tx_ptr,
						 (uint32_t)(x >> 32) % g->size &
							 ~15u,
						 __ATOMIC_RELEASE);
		}
	}
	if (write(g->app, "", 1) != 1)
		return;
}

/* Strict: a client that writes garbage into its own transmit queue
 * resets its own connection (the server gets ECONNRESET, the client's
 * ring TX_RST), and v4vd, the listener and an honest pair go on. */
static int corrupt_queue(void *arg)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY };
	socklen_t len = sizeof(me);
	int how = (int)(intptr_t)arg, l = v4v_socket(AF_V4V, SOCK_STREAM, 0);
	int memfd = -1, s;
	struct v4v_ring_shared *mine;
	struct raw_ring g;
	struct raw r;
	v4v_domid_t cli;
	char buf[8];

	EXPECT(l >= 0 && !v4v_bind(l, (struct sockaddr *)&me, sizeof(me)) &&
	       !v4v_listen(l, 4) &&
	       !v4v_getsockname(l, (struct sockaddr *)&me, &len), 1);
	EXPECT(raw_domain(&r, &cli) == 0, 2);
	EXPECT(raw_ring_new(&r, &g, 0, 4096, me.v4v_domid) == 0, 3);
	EXPECT(raw_connect(&r, g.handle, me.v4v_domid, me.v4v_port, NULL, 0,
			   &memfd) == 0 && memfd < 0, 4);
	s = v4v_accept(l, NULL, NULL);
	EXPECT(s >= 0, 5);
	spoil_queue(&g, how);
	EXPECT(v4v_recv(s, buf, sizeof(buf), 0) < 0 && errno == ECONNRESET,
	       6);
	mine = g.mem;
	EXPECT(__atomic_load_n(&mine->tx_flags, __ATOMIC_ACQUIRE) &
		       V4V_RING_TX_RST, 7);
	EXPECT(pair_works(l, &me), 8);
	v4v_close(s);
	close(r.fd);
	close(g.app);
	return 0;
}

/* libv4v's datagram type (src/lib/sock.h). */
#define MT_DGRAM 0x44475231u

static uint32_t queue_rx_flags(struct raw_ring *g)
{
	struct v4v_ring_shared *q =
		(void *)((uint8_t *)g->mem + v4v_ring_mem_size(g->size));

	return __atomic_load_n(&q->rx_flags, __ATOMIC_ACQUIRE);
}

/* The next datagram of `fd` within 2 s: its text, and who sent it. */
static bool got_dgram(int fd, const char *want, struct sockaddr_v4v *from)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	socklen_t len = sizeof(*from);
	char buf[64];
	ssize_t n;

	if (poll(&p, 1, 2000) != 1)
		return false;
	n = v4v_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)from,
			 &len);
	return n == (ssize_t)strlen(want) && !memcmp(buf, want, (size_t)n);
}

/* A datagram socket's transmit queue (both modes), written by a hostile
 * domain.  The engine stamps the true source whatever the queue holds;
 * a datagram to nowhere, or of the handshake's type, is dropped and the
 * queue told to check again (RECHECK); a spoiled queue (spoil_queue's
 * `how`) is closed to its owner (RX_CLOSED) and read no more, while the
 * receiver and an honest sender go on. */
static int dgram_queue(void *arg)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY }, from;
	socklen_t len = sizeof(me);
	int how = (int)(intptr_t)arg;
	int rcv = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	int honest = v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	struct v4v_addr to, nowhere;
	struct raw_ring g;
	struct raw r;
	v4v_domid_t cli;

	EXPECT(rcv >= 0 && honest >= 0 &&
	       !v4v_bind(rcv, (struct sockaddr *)&me, sizeof(me)) &&
	       !v4v_getsockname(rcv, (struct sockaddr *)&me, &len), 1);
	to = (struct v4v_addr){ .port = me.v4v_port, .domid = me.v4v_domid };
	nowhere = (struct v4v_addr){ .port = 4242, .domid = me.v4v_domid };
	EXPECT(raw_domain(&r, &cli) == 0, 2);
	/* A datagram ring with its transmit queue, as libv4v makes one. */
	EXPECT(raw_ring_flags(&r, &g, 0, 4096, V4V_DOMID_ANY, V4VP_REG_TXQ) ==
	       0, 3);
	EXPECT(insert_q(&g, &to, MT_DGRAM, "one") == 0, 4);
	EXPECT(got_dgram(rcv, "one", &from), 5);
	EXPECT(from.v4v_domid == cli && from.v4v_port == g.port, 6);
	EXPECT(!(queue_rx_flags(&g) & V4V_RING_RX_RECHECK), 7);
	EXPECT(insert_q(&g, &nowhere, MT_DGRAM, "lost") == 0, 8);
	EXPECT(insert_q(&g, &to, V4VP_MT_SYN, "syn") == 0, 9);
	EXPECT(insert_q(&g, &to, MT_DGRAM, "two") == 0, 10);
	EXPECT(got_dgram(rcv, "two", &from), 11);
	EXPECT(queue_rx_flags(&g) & V4V_RING_RX_RECHECK, 12);
	spoil_queue(&g, how);
	for (int i = 0; i < 200 && !(queue_rx_flags(&g) & V4V_RING_RX_CLOSED);
	     i++)
		usleep(10000);
	EXPECT(queue_rx_flags(&g) & V4V_RING_RX_CLOSED, 13);
	EXPECT(v4v_sendto(honest, "three", 5, 0, (struct sockaddr *)&me,
			  sizeof(me)) == 5, 14);
	EXPECT(got_dgram(rcv, "three", &from), 15);
	EXPECT(v4v_sendto(honest, "four", 4, 0, (struct sockaddr *)&me,
			  sizeof(me)) == 4, 16);
	EXPECT(got_dgram(rcv, "four", &from), 17);
	close(r.fd);
	close(g.app);
	return 0;
}

static void test_dgram_queue(void)
{
	for (int how = 0; how < 5; how++) {
		CHECK_EQ(dom_wait(dom_spawn(dgram_queue,
					    (void *)(intptr_t)how)), 0);
		CHECK(hv_alive(&hv));
	}
}

static void test_corrupt_queue(void)
{
	if (!strict()) {
		printf("skip corrupt_queue: strict mode only\n");
		return;
	}
	for (int how = 0; how < 5; how++) {
		CHECK_EQ(dom_wait(dom_spawn(corrupt_queue,
					    (void *)(intptr_t)how)), 0);
		CHECK(hv_alive(&hv));
	}
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "framing", test_framing },
		{ "bad_requests", test_bad_requests },
		{ "bad_registers", test_bad_registers },
		{ "stray_fds", test_stray_fds },
		{ "garbage", test_garbage },
		{ "flood", test_flood },
		{ "scribbled_ring", test_scribbled_ring },
		{ "corrupt_consumer", test_corrupt_consumer },
		{ "pinned", test_pinned },
		{ "pinned_netns", test_pinned_netns },
		{ "handshake", test_handshake },
		{ "corrupt_queue", test_corrupt_queue },
		{ "dgram_queue", test_dgram_queue },
		{ 0 }
	};
	const char *args[] = { "--max-ring-size", "1M", NULL };
	int rc;

	signal(SIGPIPE, SIG_IGN);
	hv_watchdog(&hv, 200);
	hv_start(&hv, args);
	rc = t_run(cases, argc, argv);
	pp_check(100);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
