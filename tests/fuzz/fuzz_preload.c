/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the interposer's option and address handling
 * (src/preload/opts.c, addr.c, fdtab.c, src/lib/inet.c): what an
 * unmodified program passes to setsockopt, getsockopt, getsockname,
 * getpeername and connect on sockets mapped from TCP, and what v4vd
 * answers about addresses.
 *
 * The input is a script of calls.  libc and libv4v below the interposer
 * are small fakes here (the kernel's rules for option lengths), so every
 * call stays in process.  Every buffer handed in is a heap block of
 * exactly the size the call is told, so ASan sees any write past it, and
 * the checks below hold the kernel's contract: a get never reports more
 * bytes than the buffer holds, and what was set reads back as set.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "preload/preload.h"
#include "proto/proto.h"
#include "lib/interposer.h"
#include "v4v/link.h"

/* ---- the input as a stream of choices ---- */

static const uint8_t *in;
static size_t in_left;

static unsigned take(unsigned bytes)
{
	unsigned v = 0;

	while (bytes-- && in_left) {
		v = v << 8 | *in++;
		in_left--;
	}
	return v;
}

static uint8_t *take_block(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)take(1);
	return b;
}

/* ---- fakes of what lies below the interposer ---- */

struct real real;
void real_init(void) {}

static int fake_int_get(void *val, socklen_t *len)
{
	int v = 0;

	if (*len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int fake_sockopt_set(int fd, int level, int name, const void *val,
			    socklen_t len)
{
	(void)fd;
	(void)level;
	(void)name;
	if (len && !val) {
		errno = EFAULT;
		return -1;
	}
	return 0;
}

static int fake_sockopt_get(int fd, int level, int name, void *val,
			    socklen_t *len)
{
	(void)fd;
	(void)level;
	(void)name;
	return fake_int_get(val, len);
}

static int fake_name(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	(void)fd;
	memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
	return 0;
}

static ssize_t fake_write(int fd, const void *b, size_t n)
{
	(void)fd;
	(void)b;
	return (ssize_t)n;
}

static int fake_socket(int a, int b, int c)
{
	(void)a;
	(void)b;
	(void)c;
	return -1;
}

/* libv4v's V4V-owned options: the lengths its setsockopt demands. */
int v4v_setsockopt(int fd, int level, int name, const void *val,
		   socklen_t len)
{
	socklen_t need = name == SO_LINGER ? sizeof(struct linger)
		       : name == SO_RCVBUF ? sizeof(int)
					   : sizeof(struct timeval);

	(void)fd;
	(void)level;
	if (!val || len < need) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int v4v_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	(void)fd;
	(void)level;
	(void)name;
	return fake_int_get(val, len);
}

int v4v_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return fake_name(fd, addr, len);
}

int v4v_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return fake_name(fd, addr, len);
}

const char *v4v_link_path(void)
{
	return "/nonexistent";
}

/* v4vd's answer about an address: as hostile as the input makes it. */
int v4v_link_inet(const struct v4vp_inet *req, struct v4vp_inet_reply *rep)
{
	(void)req;
	if (take(1) & 1)
		return -ENOENT;
	memset(rep, 0, sizeof(*rep));
	rep->domid = (uint16_t)take(2);
	rep->port = take(4);
	rep->a.family = (uint16_t)take(2);
	for (size_t i = 0; i < sizeof(rep->a.addr); i++)
		rep->a.addr[i] = (uint8_t)take(1);
	return 0;
}

/* The address a SYN carried: absent, or anything a v4vd wrote. */
bool v4v_sock_inet_peer_addr(int fd, int family, struct v4vp_inet_addr *out)
{
	(void)fd;
	if (take(1) & 1)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = (uint16_t)family;
	for (size_t i = 0; i < sizeof(out->addr); i++)
		out->addr[i] = (uint8_t)take(1);
	return true;
}

/* ---- the calls ---- */

static const int levels[] = { SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP,
			      IPPROTO_IPV6, 0x1234 };
static const int sol_names[] = {
	SO_RCVBUF, SO_SNDBUF, SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER, SO_ERROR,
	SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_KEEPALIVE,
	SO_REUSEADDR, SO_BUSY_POLL, SO_RCVLOWAT, 9999,
};
static const int tcp_names[] = { TCP_NODELAY, TCP_INFO, TCP_MAXSEG,
				 TCP_CONGESTION, TCP_KEEPIDLE, 9999 };

#define PICK(a) (a)[take(1) % (sizeof(a) / sizeof((a)[0]))]

static void pick_opt(int *level, int *name)
{
	*level = PICK(levels);
	if (*level == SOL_SOCKET)
		*name = PICK(sol_names);
	else if (*level == IPPROTO_TCP)
		*name = PICK(tcp_names);
	else
		*name = (int)take(1);
}

/* Which options read back exactly what was set (the others are
 * answered by libv4v or made up as the kernel would). */
static bool echoes(int level, int name)
{
	if (level == SOL_SOCKET)
		return name == SO_KEEPALIVE || name == SO_REUSEADDR ||
		       name == SO_BUSY_POLL || name == SO_RCVLOWAT;
	return level == IPPROTO_TCP && name != TCP_INFO && name != TCP_MAXSEG;
}

static void do_set_get(int fd)
{
	struct pfd *p = pfd_at(fd, true);
	socklen_t len = take(1) % 40, glen = take(1) % 40, asked = glen;
	uint8_t *val = take_block(len), *got = take_block(glen);
	bool mapped, room;
	int level, name, set;

	pick_opt(&level, &name);
	mapped = pfd_kind(fd) == PFD_V4V && p->family != AF_V4V;
	/* A full table forgets new options (docs/preload.md). */
	room = p->nopts < PFD_MAX_OPTS || pfd_opt(p, level, name, false);
	set = setsockopt(fd, level, name, val, len);
	if (getsockopt(fd, level, name, got, &glen) == 0) {
		ASSERT(glen <= asked);
		if (set == 0 && mapped && room && echoes(level, name))
			ASSERT(!memcmp(got, val, glen < len ? glen : len));
	}
	free(val);
	free(got);
}

static void do_name(int fd)
{
	socklen_t len = take(1) % 40, asked = len;
	uint8_t *b = take_block(len);

	if ((take(1) & 1 ? getsockname(fd, (void *)b, &len)
			 : getpeername(fd, (void *)b, &len)) == 0)
		ASSERT(len <= sizeof(struct sockaddr_storage));
	(void)asked;
	free(b);
}

static void do_kind(int fd)
{
	struct pfd *p = pfd_at(fd, true);
	static const int kinds[] = { PFD_NONE, PFD_TCP, PFD_V4V, PFD_LISTEN };
	static const int families[] = { AF_INET, AF_INET6, AF_V4V };

	p->family = PICK(families);
	p->kfd = fd;
	pfd_set_kind(p, PICK(kinds));
}

/* The interposer's view of a connect: the application's address, and
 * v4vd's answers about it and about the peer. */
static void do_resolve(void)
{
	socklen_t len = take(1) % 40;
	uint8_t *sa = take_block(len);
	struct sockaddr_v4v dst;
	struct sockaddr_storage local, peer;
	socklen_t local_len = 0, peer_len = 0;

	if (len >= sizeof(sa_family_t)) {
		sa_family_t f = PICK(((const sa_family_t[]){ AF_INET, AF_INET6,
							    AF_UNIX }));

		memcpy(sa, &f, sizeof(f));
	}
	if (pl_resolve((void *)sa, len, &dst, &local, &local_len) == 0) {
		ASSERT(len >= sizeof(struct sockaddr_in));
		ASSERT(local_len <= sizeof(local));
		ASSERT(dst.v4v_family == AF_V4V);
	}
	dst.v4v_domid = (uint16_t)take(2);
	dst.v4v_port = take(4);
	pl_peer_addr(-1, &dst, (uint16_t)take(2),
		     take(1) & 1 ? AF_INET6 : AF_INET, &peer, &peer_len);
	ASSERT(peer_len == sizeof(struct sockaddr_in) ||
	       peer_len == sizeof(struct sockaddr_in6));
	free(sa);
}

static void setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	real.socket = fake_socket;
	real.write = fake_write;
	real.setsockopt = fake_sockopt_set;
	real.getsockopt = fake_sockopt_get;
	real.getsockname = fake_name;
	real.getpeername = fake_name;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	in = data;
	in_left = size;
	/* A fresh table entry per input: descriptors 3 to 6 start empty. */
	for (int fd = 3; fd < 7; fd++)
		pfd_reset(fd);
	while (in_left) {
		int fd = 3 + (int)(take(1) % 4);

		switch (take(1) % 4) {
		case 0: do_kind(fd); break;
		case 1: do_set_get(fd); break;
		case 2: do_name(fd); break;
		default: do_resolve(); break;
		}
	}
	return 0;
}
