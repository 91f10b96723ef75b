/* SPDX-License-Identifier: MIT */
/*
 * The TCP/IP addresses of this domain (docs/api.md, "Addresses for
 * unmodified programs"): what the interposer and `v4v run` declare so
 * that domains of other network namespaces reach us by address.
 */
#include "sock.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

int v4v_inet_addr_in(const struct sockaddr *sa, socklen_t len,
		     struct v4vp_inet_addr *out)
{
	memset(out, 0, sizeof(*out));
	/* The length first: a caller's buffer may end inside the family. */
	if (!sa || len < sizeof(sa_family_t))
		return -EAFNOSUPPORT;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)sa;

		out->family = AF_INET;
		out->port = ntohs(in->sin_port);
		memcpy(out->addr, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		out->family = AF_INET6;
		out->port = ntohs(in6->sin6_port);
		memcpy(out->addr, &in6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int v4v_declare_addr(const struct sockaddr *sa, socklen_t len)
{
	struct v4vp_inet req = { .cmd = V4VP_INET_DECLARE };
	struct v4vp_inet_reply rep;
	int rc = v4v_inet_addr_in(sa, len, &req.a);

	if (!rc)
		rc = v4v_link_inet(&req, &rep);
	return rc ? (int)v4v_fail(rc) : 0;
}

/* Loopback and IPv6 link-local addresses name different things in every
 * network namespace: never declared. */
static bool global(const struct sockaddr *sa, unsigned flags)
{
	if (flags & IFF_LOOPBACK)
		return false;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		return !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_LOOPBACK(a);
	}
	return sa->sa_family == AF_INET;
}

int v4v_declare_netns(void)
{
	struct ifaddrs *all, *i;
	int n = 0;

	if (getifaddrs(&all))
		return -1;
	for (i = all; i; i = i->ifa_next) {
		socklen_t len;

		if (!i->ifa_addr || !global(i->ifa_addr, i->ifa_flags))
			continue;
		len = i->ifa_addr->sa_family == AF_INET
			      ? sizeof(struct sockaddr_in)
			      : sizeof(struct sockaddr_in6);
		if (v4v_declare_addr(i->ifa_addr, len) == 0)
			n++;
	}
	freeifaddrs(all);
	return n;
}
