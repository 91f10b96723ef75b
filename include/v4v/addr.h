/* SPDX-License-Identifier: MIT */
/*
 * V4V addresses: the names of rings and endpoints.
 *
 * A domain is identified by a 16-bit domid that only the hypervisor
 * (v4vd) assigns; a ring or socket inside a domain by a 32-bit port.
 */
#ifndef V4V_ADDR_H
#define V4V_ADDR_H

#include <stdint.h>

typedef uint16_t v4v_domid_t;

/* Wildcard domain: "any partner" for rings, "any" in viptables rules. */
#define V4V_DOMID_ANY ((v4v_domid_t)0x7ff4)
/* No domain (unassigned); never the domid of a live domain. */
#define V4V_DOMID_INVALID ((v4v_domid_t)0x7fff)
/* Highest domid the hypervisor hands out. */
#define V4V_DOMID_MAX ((v4v_domid_t)0x7fef)

#define V4V_PORT_ANY 0u
/* Ports from here up are handed out by the hypervisor for auto-binding. */
#define V4V_PORT_EPHEMERAL_MIN 0x40000000u

/* Maximum length of a domain name, including the terminating NUL. */
#define V4V_NAME_MAX 32

struct v4v_addr {
	uint32_t port;
	v4v_domid_t domid;
	uint16_t pad; /* zero */
};

static inline int v4v_addr_eq(const struct v4v_addr *a,
			      const struct v4v_addr *b)
{
	return a->port == b->port && a->domid == b->domid;
}

#endif
