/* SPDX-License-Identifier: MIT */
#include "rgpu/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "v4v/socket.h"

size_t conn_read(struct rgpu_conn *c, void *buf, size_t n, int *err)
{
	size_t got = 0;

	*err = 0;
	while (got < n) {
		ssize_t k = c->v4v ? v4v_recv(c->fd, (char *)buf + got,
					      n - got, MSG_WAITALL)
				   : recv(c->fd, (char *)buf + got, n - got,
					  MSG_WAITALL);

		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		*err = k < 0 ? errno : 0;
		if (*err == EWOULDBLOCK)
			*err = EAGAIN;
		break;
	}
	return got;
}

int conn_write(struct rgpu_conn *c, const void *buf, size_t n)
{
	while (n) {
		ssize_t k = c->v4v ? v4v_send(c->fd, buf, n, MSG_NOSIGNAL)
				   : send(c->fd, buf, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		buf = (const char *)buf + k;
		n -= (size_t)k;
	}
	return 0;
}

int conn_write_bulk(struct rgpu_conn *c, const void *buf, size_t n,
		    size_t piece)
{
	while (n && c->v4v) {
		void *at;
		ssize_t k = v4v_send_zc(c->fd, &at, n < piece ? n : piece,
					MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EOPNOTSUPP)
			break; /* v4vd copies our sends: no ring to fill */
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		memcpy(at, buf, (size_t)k);
		if (v4v_send_zc_done(c->fd, (size_t)k))
			return -errno;
		buf = (const char *)buf + k;
		n -= (size_t)k;
	}
	return conn_write(c, buf, n);
}

void conn_close(struct rgpu_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->v4v)
		v4v_close(c->fd);
	else
		close(c->fd);
	c->fd = -1;
}

void conn_linger_close(struct rgpu_conn *c)
{
	char sink[65536];
	int err;

	if (c->fd < 0)
		return;
	if (c->v4v)
		v4v_shutdown(c->fd, SHUT_WR);
	else
		shutdown(c->fd, SHUT_WR);
	conn_set_timeout(c, 200);
	for (int i = 0; i < 64; i++)
		if (conn_read(c, sink, sizeof(sink), &err) < sizeof(sink))
			break;
	conn_close(c);
}

int conn_set_timeout(struct rgpu_conn *c, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	int rc = c->v4v ? v4v_setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
					 sizeof(tv))
			: setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				     sizeof(tv));

	return rc ? -errno : 0;
}

/* Split "HOST:PORT" at its last colon (HOST may be empty). */
static int split_host_port(const char *s, char *host, size_t hostsz,
			   char *port, size_t portsz)
{
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon) {
		snprintf(host, hostsz, "%s", "");
		snprintf(port, portsz, "%s", s);
		return 0;
	}
	hl = (size_t)(colon - s);
	if (hl >= hostsz || strlen(colon + 1) >= portsz)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	snprintf(port, portsz, "%s", colon + 1);
	return 0;
}

static void tcp_tune(int fd)
{
	int one = 1;

	/* Requests are small and answered at once: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int dial_tcp(const char *hp, struct rgpu_conn *c, char *why,
		    size_t whysz)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM }, *res, *ai;
	char host[256], port[16];
	int rc, e = ECONNREFUSED;

	if (split_host_port(hp, host, sizeof(host), port, sizeof(port)) ||
	    !*host || !*port) {
		snprintf(why, whysz, "'%s' is not HOST:PORT", hp);
		return -EINVAL;
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(why, whysz, "%s: %s", host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(why, whysz, "tcp %s: %s", hp, strerror(e));
		return -e;
	}
	c->v4v = false;
	tcp_tune(c->fd);
	return 0;
}

static int dial_v4v(const char *dp, struct rgpu_conn *c, char *why,
		    size_t whysz)
{
	struct sockaddr_v4v to;
	int ring = RGPU_V4V_RING, e;

	if (v4v_parse_addr(dp, &to)) {
		e = errno;
		snprintf(why, whysz, "v4v %s: %s%s", dp, strerror(e),
			 e == ENOENT ? " (no domain of that name)" : "");
		return -e;
	}
	c->fd = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		e = errno;
		snprintf(why, whysz, "v4v socket: %s (is v4vd running?)",
			 strerror(e));
		return -e;
	}
	/* The ring the server writes device-to-host data into. */
	v4v_setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &ring, sizeof(ring));
	if (v4v_connect(c->fd, (struct sockaddr *)&to, sizeof(to))) {
		e = errno;
		snprintf(why, whysz, "v4v %s: %s", dp, strerror(e));
		v4v_close(c->fd);
		c->fd = -1;
		return -e;
	}
	c->v4v = true;
	return 0;
}

int conn_dial(const char *addr, struct rgpu_conn *c, char *why, size_t whysz)
{
	c->fd = -1;
	if (strncmp(addr, "tcp:", 4) == 0)
		return dial_tcp(addr + 4, c, why, whysz);
	if (strncmp(addr, "v4v:", 4) == 0)
		return dial_v4v(addr + 4, c, why, whysz);
	snprintf(why, whysz,
		 "'%s': expected v4v:DOMAIN:PORT, tcp:HOST:PORT or local", addr);
	return -EINVAL;
}

int conn_listen_v4v(uint32_t port, uint32_t ring, char *why, size_t whysz)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = port };
	int fd = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_CLOEXEC, 0), e;
	int rcv = (int)ring;

	if (fd < 0) {
		e = errno;
		snprintf(why, whysz, "v4v socket: %s (is v4vd running?)",
			 strerror(e));
		return -e;
	}
	/* Accepted connections take this ring size: the ring that
	 * host-to-device data lands in. */
	v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (v4v_bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
	    v4v_listen(fd, 64)) {
		e = errno;
		snprintf(why, whysz, "v4v port %u: %s", port, strerror(e));
		v4v_close(fd);
		return -e;
	}
	return fd;
}

int conn_listen_tcp(const char *tcp_addr, char *why, size_t whysz)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64], port[16];
	char *end;
	long p;
	int fd, one = 1, e;

	if (split_host_port(tcp_addr, host, sizeof(host), port, sizeof(port)))
		goto bad;
	p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		goto bad;
	if (inet_pton(AF_INET, *host ? host : "127.0.0.1", &sa.sin_addr) != 1)
		goto bad;
	sa.sin_port = htons((uint16_t)p);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		e = errno;
		snprintf(why, whysz, "tcp %s: %s", tcp_addr, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
bad:
	snprintf(why, whysz, "'%s' is not [IPV4:]PORT", tcp_addr);
	return -EINVAL;
}

int conn_accept(int lfd, bool v4v, struct rgpu_conn *c, char *peer,
		size_t peersz)
{
	if (v4v) {
		struct sockaddr_v4v from;
		socklen_t len = sizeof(from);

		c->fd = v4v_accept4(lfd, (struct sockaddr *)&from, &len,
				    SOCK_CLOEXEC);
		if (c->fd >= 0)
			snprintf(peer, peersz, "v4v %u:%u", from.v4v_domid,
				 from.v4v_port);
	} else {
		struct sockaddr_in from;
		socklen_t len = sizeof(from);
		char ip[INET_ADDRSTRLEN] = "?";

		c->fd = accept4(lfd, (struct sockaddr *)&from, &len,
				SOCK_CLOEXEC);
		if (c->fd >= 0) {
			inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
			snprintf(peer, peersz, "tcp %s:%u", ip,
				 ntohs(from.sin_port));
			tcp_tune(c->fd);
		}
	}
	c->v4v = v4v;
	return c->fd < 0 ? -errno : 0;
}

void conn_local_name(int lfd, bool v4v, char *out, size_t outsz)
{
	if (v4v) {
		struct sockaddr_v4v me;
		socklen_t len = sizeof(me);

		v4v_getsockname(lfd, (struct sockaddr *)&me, &len);
		snprintf(out, outsz, "%u:%u", me.v4v_domid, me.v4v_port);
	} else {
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		char ip[INET_ADDRSTRLEN] = "?";

		getsockname(lfd, (struct sockaddr *)&me, &len);
		inet_ntop(AF_INET, &me.sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s:%u", ip, ntohs(me.sin_port));
	}
}
