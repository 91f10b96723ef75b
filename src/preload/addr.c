/* SPDX-License-Identifier: MIT */
/*
 * TCP/IP addresses as the application sees them, V4V addresses as v4vd
 * does, and the log that says which way each socket went ($V4V_DEBUG).
 */
#include "preload.h"
#include "v4v/link.h"
#include "v4v/socket.h"
#include "proto/proto.h"
#include "lib/interposer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool pl_debug;
bool pl_off;
static bool declared;

static bool env_true(const char *name)
{
	const char *e = getenv(name);

	return e && e[0] && strcmp(e, "0");
}

/* Read the environment at load time: programs clear theirs (nginx does
 * for its workers), and what their children inherit is our memory. */
__attribute__((constructor)) static void env_init(void)
{
	const char *off = getenv("V4V_PRELOAD");

	pl_debug = env_true("V4V_DEBUG");
	declared = env_true("V4V_DECLARED");
	pl_off = off && !strcmp(off, "off");
	v4v_link_path();
}

void pl_log(int fd, const char *fmt, ...)
{
	char line[512];
	int n;
	va_list ap;

	if (!pl_debug)
		return;
	n = snprintf(line, sizeof(line), "v4v-preload[%d]: fd %d: ",
		     (int)getpid(), fd);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* One write per line: lines of several processes do not mix. */
	if (real.write)
		real.write(2, line, (size_t)n);
}

bool pl_inet_family(int family)
{
	return family == AF_INET || family == AF_INET6;
}

uint16_t pl_port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
}

/* A V4V port as a TCP port, for a connection that has no kernel port:
 * INET-mapped listener ports are themselves, others land in the kernel's
 * default ephemeral range. */
uint16_t pl_tcp_port(uint32_t v4v_port)
{
	if ((v4v_port & ~0xffffu) == V4VP_INET_PORT_BASE)
		return (uint16_t)v4v_port;
	return (uint16_t)(32768 + v4v_port % 28232);
}

static void to_sockaddr(const struct v4vp_inet_addr *a, uint16_t port,
			struct sockaddr_storage *out, socklen_t *len)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)out;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, a->addr, 16);
		*len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (void *)out;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, a->addr, 4);
		*len = sizeof(*in);
	}
}

static void describe(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const void *a = sa->sa_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	inet_ntop(sa->sa_family, a, host, sizeof(host));
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
		 host, pl_port_of(sa));
}

int pl_resolve(const struct sockaddr *sa, socklen_t len,
	       struct sockaddr_v4v *dst, struct sockaddr_storage *local,
	       socklen_t *local_len)
{
	struct v4vp_inet req = { .cmd = V4VP_INET_RESOLVE };
	struct v4vp_inet_reply rep;
	char where[64];
	int rc = v4v_inet_addr_in(sa, len, &req.a);

	if (rc)
		return rc;
	describe(sa, where, sizeof(where));
	pl_declare_netns();
	rc = v4v_link_inet(&req, &rep);
	if (rc) {
		pl_log(-1, "%s: kernel TCP (%s)", where,
		       rc == -ENOENT ? "no V4V domain listens there"
				     : strerror(-rc));
		return rc;
	}
	memset(dst, 0, sizeof(*dst));
	dst->v4v_family = AF_V4V;
	dst->v4v_domid = rep.domid;
	dst->v4v_port = rep.port;
	rep.a.family = sa->sa_family;
	to_sockaddr(&rep.a, 0, local, local_len);
	pl_log(-1, "%s: V4V, domain %u port %#x", where, rep.domid, rep.port);
	return 0;
}

void pl_peer_addr(int fd, const struct sockaddr_v4v *peer, uint16_t port,
		  int family, struct sockaddr_storage *out, socklen_t *len)
{
	struct v4vp_inet req = { .cmd = V4VP_INET_PEER,
				 .domid = peer->v4v_domid,
				 .a = { .family = (uint16_t)family } };
	struct v4vp_inet_reply rep;

	/* v4vd wrote it into the SYN; ask only a v4vd that did not. */
	if (!v4v_sock_inet_peer_addr(fd, family, &rep.a) &&
	    v4v_link_inet(&req, &rep)) {
		memset(&rep, 0, sizeof(rep));
		rep.a.family = (uint16_t)family;
	}
	to_sockaddr(&rep.a, port ? port : pl_tcp_port(peer->v4v_port), out,
		    len);
}

void pl_addr_out(const struct sockaddr_storage *a, socklen_t alen,
		 struct sockaddr *addr, socklen_t *len)
{
	if (!addr || !len)
		return;
	memcpy(addr, a, *len < alen ? *len : alen);
	*len = alen;
}

static void declare_once(void)
{
	int n;

	/* `v4v run` declares for the whole tree it starts. */
	if (declared)
		return;
	n = v4v_declare_netns();
	pl_log(-1, "declared %d address(es) of this network namespace", n);
}

void pl_declare_netns(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, declare_once);
}
