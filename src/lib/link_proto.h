/* SPDX-License-Identifier: MIT */
/*
 * The stream handshake's link calls, which take the control protocol's
 * structures (proto.h): libv4v's own, for its stream layer.  Not
 * installed, as proto.h is not.  (The one such call the interposer
 * needs, v4v_link_inet, is in interposer.h.)
 */
#ifndef V4V_LIB_LINK_PROTO_H
#define V4V_LIB_LINK_PROTO_H

#include <stdbool.h>

#include "v4v/link.h"
#include "proto/proto.h"

/* A grant's fds land in fds[0] (the peer ring's memfd) and fds[1] (its
 * doorbell), -1 when absent.  CONNECT sends inet_fd, a bound TCP socket
 * whose port the server is to see as the client's, if it is not -1.
 * ACCEPT names the SYN's ring (`ring`, a raw handle from the SYN, taken
 * in the listener's connection) and sends `bell`, the accepting socket's
 * doorbell; its ring's memfd lands in fds[0], the grant's in fds[1..2]. */
int v4v_link_connect(v4v_handle_t handle, uint32_t conid,
		     const struct v4v_addr *dst, int inet_fd,
		     struct v4vp_grant *g, int fds[2]);
int v4v_link_accept(uint32_t ring, v4v_handle_t listener,
		    const struct v4v_addr *peer, uint32_t conid, int bell,
		    struct v4vp_accept_reply *rep, v4v_handle_t *handle,
		    int fds[3]);
int v4v_link_grant(v4v_handle_t handle, struct v4vp_grant *g, int fds[2]);
/* v4v_link_sendv with SEND's reply: rep->max, the largest datagram the
 * destination takes. */
long v4v_link_send(v4v_handle_t handle, const struct v4v_addr *dst,
		   uint32_t message_type, const struct iovec *iov, int iovcnt,
		   struct v4vp_send_reply *rep);

/* Where the hypervisor put a ring it registered: in a VM, memory of the
 * VM's region (fd, offset: the guest agent's answer), not the memfd the
 * domain offered; fd is -1 on a host. */
struct v4v_link_mem {
	int fd;
	uint64_t off;
};
int v4v_link_register_mem(uint32_t port, v4v_domid_t partner, uint32_t size,
			  uint32_t flags, uint32_t accept_size, int memfd,
			  int bell, v4v_handle_t *handle, uint32_t *port_out,
			  struct v4v_link_mem *at);

/* In a VM: ring v4vd through the V4V device's doorbell register, which
 * the guest agent hands out with HELLO's reply, for a strict transmit
 * queue v4vd may have stopped watching (v4vd then looks at every queue
 * of the VM).  False on a host: ring the queue's doorbell socket. */
bool v4v_link_kick(void);

#endif
