/* SPDX-License-Identifier: MIT */
/*
 * The link layer: how a domain reaches the hypervisor.  Register and
 * unregister rings, send through the hypervisor, notify it of consumed
 * space, and ask it questions.  Waiting for a signal is done on the
 * socket's own doorbell descriptor, which the hypervisor (or, later, the
 * peer) rings.
 *
 * This backend: host processes talking to v4vd over a SOCK_SEQPACKET
 * socket and sharing ring memory as sealed memfds.  Nothing above this
 * header assumes the domain is a host process.
 *
 * The calls whose arguments are the control protocol's own structures
 * (the stream handshake, TCP/IP addresses) are not here: the protocol
 * is libv4v's and v4vd's business, so they are declared in libv4v's
 * private src/lib/link_proto.h.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure.  They are thread-safe; after fork the child gets its own
 * connection and joins its parent's domain through the inherited
 * capability.
 */
#ifndef V4V_LINK_H
#define V4V_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "v4v/addr.h"

/*
 * A ring as the link names it: the hypervisor's handle, tagged with the
 * connection it was registered on.  After v4vd restarts, handles of the
 * old instance fail with ECONNRESET instead of naming someone else's ring.
 */
typedef uint64_t v4v_handle_t;

/* Flags of the calls below; the same values as the wire protocol's
 * (docs/protocol.md), which libv4v checks at build time. */
#define V4V_LINK_HV_STRICT 1u	/* hv_flags: v4vd runs with --strict */
#define V4V_LINK_REG_LISTEN 1u	/* register: a stream listener */
#define V4V_LINK_REG_TXQ 2u	/* register (strict): the memfd holds the
				 * connection's transmit queue after the
				 * ring, a second ring of the same size */
#define V4V_LINK_UNREG_NOW 1u	/* unregister: do not wait for the peer */
#define V4V_LINK_SHUT_FIN 1u	/* shutdown: an orderly end of sending */
#define V4V_LINK_SHUT_RST 2u	/* shutdown: a reset */

struct v4v_link_info {
	v4v_domid_t domid;
	uint32_t max_dgram;
	uint32_t hv_flags; /* V4V_LINK_HV_STRICT */
	char name[V4V_NAME_MAX];
};

/* The control socket path: $V4V_SOCKET, else the default. */
const char *v4v_link_path(void);

/* This process's link, connected (as a new domain, or joining the
 * domain of an inherited capability) on first use. */
int v4v_link_info(struct v4v_link_info *out);

/* accept_size: for a listener (V4V_LINK_REG_LISTEN), the size of the ring
 * v4vd makes for each connection it queues; else 0. */
int v4v_link_register(uint32_t port, v4v_domid_t partner, uint32_t size,
		      uint32_t flags, uint32_t accept_size, int memfd,
		      int bell, v4v_handle_t *handle, uint32_t *port_out);
int v4v_link_unregister(v4v_handle_t handle, uint32_t flags);
/* Returns the number of bytes sent. */
long v4v_link_sendv(v4v_handle_t handle, const struct v4v_addr *dst,
		    uint32_t message_type, const struct iovec *iov,
		    int iovcnt);
void v4v_link_notify(v4v_handle_t handle);

int v4v_link_shutdown(v4v_handle_t handle, uint32_t how);
int v4v_link_lookup(const char *name, v4v_domid_t *out);
/* The capability of this process's domain (connecting first): a program
 * started with it in $V4V_CAP_FD joins the domain.  Do not close it. */
int v4v_link_cap(void);

/*
 * A separate connection for tools that administer or observe the
 * hypervisor without becoming a domain (v4v status, v4v viptables).
 */
struct v4v_ctl;
int v4v_ctl_open(const char *path, struct v4v_ctl **out);
void v4v_ctl_close(struct v4v_ctl *c);
/* One request and its reply body (at most `repmax` bytes; the length in
 * *replen).  `body` is the op's fixed request body. */
int v4v_ctl_call(struct v4v_ctl *c, uint16_t op, const void *body,
		 size_t len, void *rep, size_t repmax, size_t *replen);

#endif
