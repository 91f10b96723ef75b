/* SPDX-License-Identifier: MIT */
/*
 * INET addresses of domains, for the interposer: which domain listens at
 * the TCP/IP address a client dials, and how two domains see each other's
 * address.  A domain answers at the loopback addresses for the domains of
 * its own network namespace (as the kernel's loopback would), and at the
 * addresses it declared for everyone (as a VM answers at its address on a
 * host-only network).  A declaration is a claim: the first domain to
 * declare an address owns it until it ends, and a domain of another
 * network namespace cannot take it over.
 */
#include "hv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

ino_t hv_netns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

/* One spelling per address: an IPv4-mapped IPv6 address is IPv4.  Returns
 * false for a family we do not map. */
static bool normalize(struct v4vp_inet_addr *a)
{
	a->pad = 0;
	if (a->family == AF_INET6 && !memcmp(a->addr, v4mapped, 12)) {
		memmove(a->addr, a->addr + 12, 4);
		a->family = AF_INET;
	}
	if (a->family == AF_INET)
		memset(a->addr + 4, 0, 12);
	return a->family == AF_INET || a->family == AF_INET6;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Addresses the kernel delivers to its own namespace: 127/8, ::1 and the
 * unspecified address (connect to 0.0.0.0 reaches the local host). */
static bool is_local(const struct v4vp_inet_addr *a)
{
	if (a->family == AF_INET)
		return a->addr[0] == 127 || is_zero(a->addr, 4);
	return is_zero(a->addr, 16) ||
	       (is_zero(a->addr, 15) && a->addr[15] == 1);
}

static bool same(const struct v4vp_inet_addr *a,
		 const struct v4vp_inet_addr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, 16);
}

static bool declared(const struct hv_domain *d,
		     const struct v4vp_inet_addr *a)
{
	for (uint32_t i = 0; i < d->naddrs; i++)
		if (same(&d->addrs[i], a))
			return true;
	return false;
}

static void fmt(const struct v4vp_inet_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static int declare(struct hv *hv, struct hv_domain *d,
		   struct v4vp_inet_addr *a)
{
	char s[INET6_ADDRSTRLEN];

	if (!normalize(a))
		return -EAFNOSUPPORT;
	if (is_local(a))
		return -EINVAL;
	if (declared(d, a))
		return 0;
	fmt(a, s, sizeof(s));
	for (unsigned i = 1; i <= V4V_DOMID_MAX; i++) {
		struct hv_domain *e = hv->domains[i];

		if (e && e != d && e->netns != d->netns && declared(e, a)) {
			hv_log(HV_LOG_WARN, "domain %u may not declare %s: "
			       "domain %u of another network namespace has it",
			       d->domid, s, e->domid);
			return -EADDRINUSE;
		}
	}
	if (d->naddrs == V4VP_INET_MAX_ADDRS)
		return -ENOSPC;
	d->addrs[d->naddrs++] = *a;
	hv_log(HV_LOG_INFO, "domain %u declared address %s", d->domid, s);
	return 0;
}

/* The address `of` has as seen by `by`, in `family` where it can be. */
void hv_inet_view(const struct hv_domain *of, const struct hv_domain *by,
		  uint16_t family, struct v4vp_inet_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = family;
	if (of->netns && of->netns == by->netns) {
		if (family == AF_INET) {
			out->addr[0] = 127;
			out->addr[3] = 1;
		} else {
			out->addr[15] = 1;
		}
		return;
	}
	for (uint32_t i = 0; i < of->naddrs; i++) {
		const struct v4vp_inet_addr *a = &of->addrs[i];

		if (a->family == family) {
			*out = *a;
			return;
		}
		if (a->family == AF_INET && family == AF_INET6) {
			memcpy(out->addr, v4mapped, 12);
			memcpy(out->addr + 12, a->addr, 4);
		}
	}
	/* Nothing declared: the unspecified address says "unknown". */
}

static bool listens(struct hv *hv, const struct hv_domain *d, uint16_t port,
		    v4v_domid_t client)
{
	struct v4v_addr a = { .domid = d->domid, .port = V4VP_INET_PORT(port) };
	struct hv_ring *r = hv_ring_route(hv, &a, client);

	return r && r->listening;
}

static int resolve(struct hv *hv, const struct hv_conn *c,
		   struct v4vp_inet_addr *a, struct v4vp_inet_reply *rep)
{
	uint16_t family = a->family;

	if (!normalize(a))
		return -EAFNOSUPPORT;
	for (unsigned i = 1; i <= V4V_DOMID_MAX; i++) {
		struct hv_domain *e = hv->domains[i];
		bool here;

		if (!e)
			continue;
		here = is_local(a) ? e->netns && e->netns == c->netns
				   : declared(e, a);
		if (!here || !listens(hv, e, a->port, c->dom->domid))
			continue;
		rep->domid = e->domid;
		rep->port = V4VP_INET_PORT(a->port);
		hv_inet_view(c->dom, e, family, &rep->a);
		return 0;
	}
	return -ENOENT;
}

int hv_inet(struct hv *hv, struct hv_conn *c, const struct v4vp_inet *req,
	    struct v4vp_inet_reply *rep)
{
	struct v4vp_inet_addr a = req->a;
	struct hv_domain *e;

	memset(rep, 0, sizeof(*rep));
	if (!c->dom)
		return -ENOTCONN;
	switch (req->cmd) {
	case V4VP_INET_DECLARE:
		return declare(hv, c->dom, &a);
	case V4VP_INET_RESOLVE:
		return resolve(hv, c, &a, rep);
	case V4VP_INET_PEER:
		if (a.family != AF_INET && a.family != AF_INET6)
			return -EAFNOSUPPORT;
		e = hv_domain_by_id(hv, req->domid);
		if (!e)
			return -ENOENT;
		hv_inet_view(e, c->dom, a.family, &rep->a);
		rep->domid = e->domid;
		return 0;
	default:
		return -EINVAL;
	}
}
