/* SPDX-License-Identifier: MIT */
/* The datagram transports the benchmark compares. */
#include "bench.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "v4v/socket.h"

/* ---- V4V datagrams through the hypervisor ---- */

static int v4v_serve(struct bench_addr *a)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY };
	socklen_t len = sizeof(me);
	int rcvbuf = 1 << 20;
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0 ||
	    v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) ||
	    v4v_bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
	    v4v_getsockname(fd, (struct sockaddr *)&me, &len))
		return -1;
	memcpy(&a->sa, &me, sizeof(me));
	a->len = sizeof(me);
	return fd;
}

static int v4v_dial(const struct bench_addr *a)
{
	int rcvbuf = 1 << 20;
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	(void)a;
	if (fd >= 0)
		v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			       sizeof(rcvbuf));
	return fd;
}

static ssize_t v4v_tx(int fd, const void *buf, size_t len,
		      const struct bench_addr *to)
{
	return v4v_sendto(fd, buf, len, 0, (const struct sockaddr *)&to->sa,
			  to->len);
}

static ssize_t v4v_rx(int fd, void *buf, size_t len, struct bench_addr *from)
{
	from->len = sizeof(from->sa);
	return v4v_recvfrom(fd, buf, len, 0, (struct sockaddr *)&from->sa,
			    &from->len);
}

const struct transport bench_v4v_dgram = {
	.name = "v4v-dgram",
	.what = "V4V datagrams, mediated by v4vd",
	.serve = v4v_serve, .dial = v4v_dial,
	.sendto = v4v_tx, .recvfrom = v4v_rx,
	.max_msg = 65536,
};

/* ---- kernel sockets ---- */

static ssize_t k_tx(int fd, const void *buf, size_t len,
		    const struct bench_addr *to)
{
	return sendto(fd, buf, len, 0, (const struct sockaddr *)&to->sa,
		      to->len);
}

static ssize_t k_rx(int fd, void *buf, size_t len, struct bench_addr *from)
{
	from->len = sizeof(from->sa);
	return recvfrom(fd, buf, len, 0, (struct sockaddr *)&from->sa,
			&from->len);
}

static void big_buffers(int fd)
{
	int v = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int udp_serve(struct bench_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len))
		return -1;
	big_buffers(fd);
	memcpy(&a->sa, &sin, sizeof(sin));
	a->len = sizeof(sin);
	return fd;
}

static int udp_dial(const struct bench_addr *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	(void)a;
	if (fd >= 0)
		big_buffers(fd);
	return fd;
}

const struct transport bench_udp = {
	.name = "udp",
	.what = "UDP over loopback",
	.serve = udp_serve, .dial = udp_dial,
	.sendto = k_tx, .recvfrom = k_rx,
	.max_msg = 65507,
};

static int unix_bind_tmp(struct bench_addr *a, const char *tag)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	/* Abstract names: nothing to clean up afterwards. */
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		 "v4v-bench-%s-%d", tag, (int)getpid());
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			     strlen(sun.sun_path + 1));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, a->len))
		return -1;
	big_buffers(fd);
	memcpy(&a->sa, &sun, sizeof(sun));
	return fd;
}

static int unix_serve(struct bench_addr *a)
{
	return unix_bind_tmp(a, "srv");
}

static int unix_dial(const struct bench_addr *a)
{
	struct bench_addr mine;

	(void)a;
	return unix_bind_tmp(&mine, "cli");
}

const struct transport bench_unix_dgram = {
	.name = "unix-dgram",
	.what = "AF_UNIX datagrams",
	.serve = unix_serve, .dial = unix_dial,
	.sendto = k_tx, .recvfrom = k_rx,
	.max_msg = 65536,
};
