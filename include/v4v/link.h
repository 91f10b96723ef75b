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

struct v4vp_grant;
struct v4vp_inet;
struct v4vp_inet_reply;

struct v4v_link_info {
	v4v_domid_t domid;
	uint32_t max_dgram;
	uint32_t hv_flags; /* V4VP_HV_STRICT */
	char name[V4V_NAME_MAX];
};

/* The control socket path: $V4V_SOCKET, else the default. */
const char *v4v_link_path(void);

/* This process's link, connected (as a new domain, or joining the
 * domain of an inherited capability) on first use. */
int v4v_link_info(struct v4v_link_info *out);

/* accept_size: for a listener (V4VP_REG_LISTEN), the size of the ring
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

/* Stream handshake (see proto.h).  A grant's fds land in fds[0] (the
 * peer ring's memfd) and fds[1] (its doorbell), -1 when absent.  CONNECT
 * sends inet_fd, a bound TCP socket whose port the server is to see as
 * the client's, if it is not -1.  ACCEPT
 * names the SYN's ring (`ring`, a raw handle from the SYN, taken in the
 * listener's connection) and sends `bell`, the accepting socket's
 * doorbell; its ring's memfd lands in fds[0], the grant's in fds[1..2]. */
struct v4vp_grant;
struct v4vp_accept_reply;
int v4v_link_connect(v4v_handle_t handle, uint32_t conid,
		     const struct v4v_addr *dst, int inet_fd,
		     struct v4vp_grant *g, int fds[2]);
int v4v_link_accept(uint32_t ring, v4v_handle_t listener,
		    const struct v4v_addr *peer, uint32_t conid, int bell,
		    struct v4vp_accept_reply *rep, v4v_handle_t *handle,
		    int fds[3]);
int v4v_link_grant(v4v_handle_t handle, struct v4vp_grant *g, int fds[2]);
int v4v_link_shutdown(v4v_handle_t handle, uint32_t how);
int v4v_link_lookup(const char *name, v4v_domid_t *out);
/* TCP/IP addresses of domains (V4VP_INET; used by the interposer). */
int v4v_link_inet(const struct v4vp_inet *req, struct v4vp_inet_reply *rep);
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
