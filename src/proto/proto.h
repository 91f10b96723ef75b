/* SPDX-License-Identifier: MIT */
/*
 * Control messages between libv4v (and the v4v tool) and v4vd.
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET connection per process.  Each
 * message is one packet: a struct v4vp_hdr, then the fixed-size body of its
 * operation; SEND alone is followed by its payload.  File descriptors ride
 * along as SCM_RIGHTS.  Every request gets exactly one reply with the same
 * op and seq, except NOTIFY, which gets none.  LIST replies carry a page
 * of fixed-size records after the reply body; the client asks again from
 * the returned cursor until it is 0, so no reply ever needs more than one
 * packet and the hypervisor never blocks on a slow reader.
 * All integers are little-endian (the host order on every machine v4vd
 * runs on; both ends are on one host).  docs/protocol.md is the byte-level
 * description.
 */
#ifndef V4V_PROTO_H
#define V4V_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "v4v/addr.h"

#define V4VP_MAGIC 0x50563456u /* "V4VP" */
/* 4: the SYN carries the client's addresses (section 5.3 of protocol.md);
 * a libv4v of version 3 would drop every SYN of a version 4 v4vd, so the
 * two refuse each other at HELLO instead.  5: a strict v4vd takes a
 * datagram socket's transmit queue (V4VP_REG_TXQ on an ANY ring), which a
 * version 4 v4vd refuses, so that every datagram socket's bind would
 * fail. */
#define V4VP_VERSION 5u

/* Default control socket; overridden by `v4vd --socket` and V4V_SOCKET. */
#define V4VP_DEFAULT_SOCKET "/run/v4v/v4vd.sock"
#define V4VP_SOCKET_ENV "V4V_SOCKET"

/* The largest datagram payload a SEND may carry. */
#define V4VP_MAX_DGRAM 65536u
/* The largest control packet: header, SEND body, payload. */
#define V4VP_MAX_PACKET (V4VP_MAX_DGRAM + 64u)

enum v4vp_op {
	V4VP_HELLO = 1,
	V4VP_REGISTER = 2,
	V4VP_UNREGISTER = 3,
	V4VP_SEND = 4,
	V4VP_NOTIFY = 5,
	V4VP_LOOKUP = 6,
	V4VP_LIST = 7,
	V4VP_VIPT_ADD = 8,
	V4VP_VIPT_DEL = 9,
	V4VP_VIPT_FLUSH = 10,
	V4VP_VIPT_POLICY = 11,
	V4VP_CONNECT = 12,
	V4VP_ACCEPT = 13,
	V4VP_GRANT = 14,
	V4VP_SHUTDOWN = 15,
	V4VP_INET = 16,
	V4VP_VM = 17,
};

struct v4vp_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t op;
	uint32_t seq;	 /* chosen by the client, echoed in the reply */
	int32_t status;	 /* replies: 0 or a negative errno */
};

/* HELLO flags: what the connection becomes. */
#define V4VP_HELLO_NEW 0u     /* a new domain */
#define V4VP_HELLO_JOIN 1u    /* join the domain of the SCM_RIGHTS capability */
#define V4VP_HELLO_CONTROL 2u /* no domain: status and viptables only */

struct v4vp_hello {
	uint32_t flags;
	uint32_t pad;
	char name[V4V_NAME_MAX]; /* optional, NUL-terminated; NEW only */
};

/* Reply to HELLO; a NEW domain also gets its capability fd. */
struct v4vp_hello_reply {
	v4v_domid_t domid;
	uint16_t pad;
	uint32_t max_dgram;
	uint32_t flags; /* V4VP_HV_STRICT ... */
	uint32_t pad2;
	char name[V4V_NAME_MAX];
};

#define V4VP_HV_STRICT 1u

/* REGISTER carries two fds: the ring memfd (sealed against shrinking) and
 * the hypervisor's end of the socket's doorbell. */
struct v4vp_register {
	uint32_t port;		/* 0: the hypervisor picks one */
	v4v_domid_t partner;	/* V4V_DOMID_ANY for any sender */
	uint16_t pad;
	uint32_t size;		/* data bytes; memfd is HDR + size */
	uint32_t flags;
	uint32_t accept_size;	/* V4VP_REG_LISTEN: the data size of the
				 * receive ring v4vd makes for each connection
				 * it queues on this listener; else 0 */
	uint32_t pad2;
};

/* REGISTER flags: the ring is a stream listener's (CONNECT only targets
 * those); partner must be V4V_DOMID_ANY. */
#define V4VP_REG_LISTEN 1u
/* REGISTER flags (strict mode, a ring for one partner): the memfd holds a
 * second ring of the same size right after this one, the domain's
 * transmit queue for the connection: the domain produces into it, v4vd's
 * copy engine consumes it (src/hv/engine.c). */
#define V4VP_REG_TXQ 2u

struct v4vp_register_reply {
	uint32_t handle;
	uint32_t port;
	uint64_t offset;	/* a VM's ring: where it is in the region */
};

struct v4vp_handle {
	uint32_t handle;
	uint32_t flags; /* UNREGISTER: V4VP_UNREG_NOW; else 0 */
};

/* Destroy the ring even if another process still holds its socket: for a
 * ring its owner never handed out (a failed connect). */
#define V4VP_UNREG_NOW 1u

/* SEND: mediated sendv.  The source is (caller's domid, port of the
 * caller's ring `handle`); whatever else the caller believes is ignored. */
struct v4vp_send {
	uint32_t handle;
	uint32_t message_type;
	struct v4v_addr dst;
	uint32_t len; /* payload bytes that follow this struct */
	uint32_t pad;
};

struct v4vp_send_reply {
	uint32_t len;
	uint32_t max;	/* the largest datagram the destination takes */
};

/*
 * Stream connections, established as TCP's are before accept: the client
 * registers its receive ring for the server's domain; CONNECT makes the
 * server's receive ring for this connection (memory of the hypervisor's
 * making, charged to the server's domain, like a socket in the kernel's
 * accept queue), links the two and queues a SYN naming it in the
 * listener's ring (a message of type V4VP_MT_SYN whose source the
 * hypervisor stamps).  The client may send at once, and close: what it
 * sent and its end wait in that ring.  The server ACCEPTs the SYN with a
 * doorbell of its own and receives the ring's memory and, unless strict,
 * a grant of the client's ring (memfd, then doorbell, as SCM_RIGHTS).
 * The client, granted the server's ring by CONNECT, fetches its doorbell
 * with GRANT once it needs it (the server exists only after accept).
 */
#define V4VP_MT_SYN 0x4e595331u	  /* "1SYN" */
#define V4VP_MT_STREAM 0x4d525453u /* "STRM" */

/* CONNECT may carry one descriptor: the caller's TCP socket, bound, whose
 * port the server sees as the client's (the interposer's connections).
 * v4vd keeps it while the connection lives, so the kernel's port stays
 * reserved. */
struct v4vp_connect {
	uint32_t handle;	/* the caller's receive ring */
	uint32_t conid;		/* chosen by the caller */
	struct v4v_addr dst;	/* the listener */
	uint32_t filler;	/* 0 (version 1's filler count) */
	uint32_t pad;
};

/* The payload of a SYN message in the listener's ring. */
/* A TCP/IP address (INET below, and the SYN). */
struct v4vp_inet_addr {
	uint16_t family;	/* AF_INET or AF_INET6 */
	uint16_t port;		/* host order */
	uint32_t pad;
	uint8_t addr[16];	/* network order; IPv4 in the first 4 bytes */
};

struct v4vp_syn {
	uint32_t conid;
	uint32_t ring_size;	/* of the client's receive ring */
	uint32_t handle;	/* the connection's ring in the listener's
				 * domain, to name in ACCEPT */
	uint16_t inet_port;	/* the client's TCP source port, read by v4vd
				 * off the socket CONNECT came with; 0 if none */
	uint16_t pad;
	/* The client's domain's TCP/IP address as the listener's domain
	 * sees it, IPv4 and IPv6 (what INET PEER answers), so that accept
	 * needs no request to v4vd for it. */
	struct v4vp_inet_addr peer_in;
	struct v4vp_inet_addr peer_in6;
};

struct v4vp_accept {
	uint32_t handle;	/* the SYN's handle: the connection's ring */
	uint32_t listener;	/* the listener ring the SYN came through */
	struct v4v_addr peer;	/* the SYN's source: the client's ring */
	uint32_t conid;
	uint32_t pad;
};

/* The grant of a peer's ring: the reply body of CONNECT and GRANT, the
 * start of ACCEPT's.  With V4VP_GRANT_DIRECT the ring's memfd comes
 * attached and the caller produces into that ring from position `tx`;
 * with V4VP_GRANT_BELL the ring's doorbell follows the memfd.  Without
 * DIRECT the hypervisor moves the data (strict mode).  V4VP_GRANT_GONE
 * (ACCEPT only): the peer's socket is already closed; nothing attached. */
#define V4VP_GRANT_DIRECT 1u
#define V4VP_GRANT_BELL 2u
#define V4VP_GRANT_GONE 4u
/* Strict mode: nothing attached; the caller writes into its own transmit
 * queue, the second ring of its receive ring's memory, and rings v4vd
 * through its own doorbell (its socket) when v4vd has armed the queue. */
#define V4VP_GRANT_TXQ 8u

struct v4vp_grant {
	uint32_t flags;
	uint32_t peer_port;	/* the peer's receive ring */
	uint32_t peer_size;
	uint32_t tx;
};

/* ACCEPT's reply: the memfd of the caller's new receive ring comes first,
 * then the grant's descriptors. */
struct v4vp_accept_reply {
	struct v4vp_grant grant;	/* of the client's ring */
	uint32_t ring_port;		/* the caller's new ring */
	uint32_t ring_size;
	uint64_t offset;		/* a VM's: where it is in the region */
};

/* SHUTDOWN: end the caller's sending direction (strict mode; a direct
 * producer sets the flag in the peer's ring itself). */
#define V4VP_SHUT_FIN 1u
#define V4VP_SHUT_RST 2u

struct v4vp_shutdown {
	uint32_t handle;	/* the caller's receive ring */
	uint32_t how;
};

struct v4vp_lookup {
	char name[V4V_NAME_MAX];
};

struct v4vp_lookup_reply {
	v4v_domid_t domid;
	uint16_t pad;
	uint32_t pad2;
};

/*
 * INET: how the interposer maps TCP/IP addresses to domains.  A domain is
 * reachable at the loopback addresses by domains of its own network
 * namespace, and at the addresses it DECLAREs by every domain.  A TCP
 * port P of a domain is its V4V stream listener at V4VP_INET_PORT(P).
 */
#define V4VP_INET_DECLARE 1u	/* add `a` to the caller's addresses */
#define V4VP_INET_RESOLVE 2u	/* which domain listens at `a`? */
#define V4VP_INET_PEER 3u	/* `domid`'s address as the caller sees it */
#define V4VP_INET_MAX_ADDRS 8u	/* declared addresses per domain */
#define V4VP_INET_PORT_BASE 0x20000000u
#define V4VP_INET_PORT(p) (V4VP_INET_PORT_BASE | (uint32_t)(uint16_t)(p))

struct v4vp_inet {
	uint32_t cmd;
	v4v_domid_t domid;	/* PEER only */
	uint16_t pad;
	struct v4vp_inet_addr a;
};

struct v4vp_inet_reply {
	v4v_domid_t domid;	/* RESOLVE: the listener's domain */
	uint16_t pad;
	uint32_t port;		/* RESOLVE: its V4V listener port */
	/* RESOLVE: the caller's address as the listener sees it; PEER: the
	 * asked domain's address as the caller sees it (port 0). */
	struct v4vp_inet_addr a;
};

/*
 * VM: declare a QEMU guest as a domain while v4vd runs, as `--vm` does
 * at start-up, or remove one no QEMU is connected to.  Administrators
 * only.  ADD's reply says the domain and the socket QEMU connects to.
 */
#define V4VP_VM_ADD 1u
#define V4VP_VM_DEL 2u

struct v4vp_vm {
	uint32_t cmd;
	uint32_t pad;
	uint64_t size;		/* ADD: the region, bytes; 0: the default */
	char name[V4V_NAME_MAX];
};

struct v4vp_vm_reply {
	v4v_domid_t domid;
	uint16_t pad;
	uint32_t pad2;
	char path[108];		/* the QEMU socket, NUL-terminated */
};

struct v4vp_counters {
	uint64_t tx_msgs, tx_bytes;
	uint64_t rx_msgs, rx_bytes;
	uint64_t drops;	  /* refused for lack of space (EAGAIN) */
	uint64_t rejects; /* refused by viptables */
	uint64_t norings; /* refused: no such ring (ECONNREFUSED) */
	/* Stream payload bytes received, however they moved (direct or
	 * through v4vd); rings that ended included. */
	uint64_t stream_bytes;
};

/* LIST: what to list, from which cursor (0 = the start). */
#define V4VP_LIST_HV 1u
#define V4VP_LIST_DOMAINS 2u
#define V4VP_LIST_RINGS 3u
#define V4VP_LIST_RULES 4u
#define V4VP_LIST_ENGINE 5u

struct v4vp_list {
	uint32_t what;
	uint32_t cursor;
};

/* Followed by `count` records of the type `what` lists. */
struct v4vp_list_reply {
	uint32_t what;
	uint32_t count;
	uint32_t next; /* cursor for the next page; 0 when done */
	uint32_t pad;
};

struct v4vp_rec_hv {
	uint32_t flags;
	uint32_t ndomains;
	uint32_t nrings;
	uint32_t policy;
	uint64_t uptime_ms;
	struct v4vp_counters c;
};

/* The strict-mode copy engine, one record per copy thread. */
struct v4vp_rec_engine {
	uint32_t thread;
	uint32_t queues;	/* connections whose queues it drains */
	uint32_t flags;		/* V4VP_ENGINE_AWAKE */
	uint32_t pad;
	uint64_t msgs;		/* messages (or pieces) copied */
	uint64_t bytes;
	uint64_t wakeups;	/* from sleep */
	uint64_t bells;		/* receivers' doorbells it rang */
	uint64_t busy_ns;	/* in turns that copied something */
	uint64_t cpu_ns;	/* all the CPU time of its thread */
	uint64_t resets;	/* connections reset for a corrupt queue */
};

#define V4VP_ENGINE_AWAKE 1u

#define V4VP_DOM_VM 1u	/* a QEMU guest (v4vd --vm) */

struct v4vp_rec_domain {
	v4v_domid_t domid;
	uint16_t flags;		/* V4VP_DOM_VM */
	int32_t pid;
	uint32_t uid;
	uint32_t nconns;
	uint32_t nrings;
	uint32_t pad2;
	uint64_t ring_bytes;
	char name[V4V_NAME_MAX];
	struct v4vp_counters c;
};

struct v4vp_rec_ring {
	uint32_t handle;
	uint32_t port;
	v4v_domid_t domid;
	v4v_domid_t partner;
	uint32_t size;
	uint32_t used;
	uint32_t waiters;
	uint32_t conid;		/* stream connection rings; else 0 */
	uint32_t flags;		/* V4VP_RING_* */
	v4v_domid_t peer_domid;	/* linked: the other direction's ring */
	uint16_t pad2;
	uint32_t peer_port;
	/* Payload bytes received: counted by v4vd for what it delivers, and
	 * read from the ring header (tx_bytes) for stream rings. */
	uint64_t bytes;
	struct v4vp_counters c;
};

#define V4VP_RING_LISTEN 1u
#define V4VP_RING_LINKED 2u
#define V4VP_RING_DIRECT 4u	/* the peer produces into it itself */

/* viptables */
#define V4VP_VIPT_ACCEPT 0u
#define V4VP_VIPT_REJECT 1u

#define V4VP_MATCH_ANY_DOM 1u
#define V4VP_MATCH_ANY_PORT 2u
#define V4VP_MATCH_BY_NAME 4u

struct v4vp_match {
	uint32_t flags;
	uint32_t port;
	v4v_domid_t domid;
	uint16_t pad;
	uint32_t pad2;
	char name[V4V_NAME_MAX];
};

struct v4vp_rule {
	struct v4vp_match src;
	struct v4vp_match dst;
	uint32_t action;
	uint32_t pad;
};

/* VIPT_ADD: insert `rule` before position `pos` (1-based); 0 appends. */
struct v4vp_vipt_add {
	uint32_t pos;
	uint32_t pad;
	struct v4vp_rule rule;
};

struct v4vp_vipt_del {
	uint32_t pos; /* 1-based */
	uint32_t pad;
};

struct v4vp_vipt_policy {
	uint32_t action;
	uint32_t pad;
};

struct v4vp_rec_rule {
	uint32_t pos;
	uint32_t pad;
	uint64_t matches;
	struct v4vp_rule rule;
};

/* Body size of each request op; (size_t)-1 for an unknown op. */
size_t v4vp_request_size(uint16_t op);
/* Body size of each successful reply; (size_t)-1 for an unknown op. */
size_t v4vp_reply_size(uint16_t op);
/* Size of one LIST record of kind `what`; 0 for an unknown kind. */
size_t v4vp_record_size(uint32_t what);
/* Records of kind `what` that fit in one reply packet. */
uint32_t v4vp_list_page(uint32_t what);

/* Check a received packet's header and exact size against its op.
 * Returns 0 or -EPROTO (bad magic, version, op or length). */
int v4vp_check_request(const void *buf, size_t len);
int v4vp_check_reply(const void *buf, size_t len);

/* Fill in a header. */
void v4vp_hdr_init(struct v4vp_hdr *h, uint16_t op, uint32_t seq,
		   int32_t status);

/* 0 if a fixed name field is NUL-terminated, else -EINVAL. */
int v4vp_name_check(const char name[V4V_NAME_MAX]);
/* 0 if a terminated, non-empty name of [A-Za-z0-9_.-] not starting with a
 * digit or '-'; else -EINVAL. */
int v4vp_name_valid(const char name[V4V_NAME_MAX]);

/* Most file descriptors one packet carries. */
#define V4VP_MAX_FDS 3

/* Send one packet made of `iov`, with `nfds` descriptors attached.
 * Never raises SIGPIPE.  Returns 0 or a negative errno; a short send is
 * -EMSGSIZE. */
int v4vp_sendv(int sock, const struct iovec *iov, int iovcnt,
	       const int *fds, int nfds, int flags);

/* Receive one packet into buf.  Descriptors attached to it land in fds[]
 * (*nfds of them, at most V4VP_MAX_FDS; any beyond that, or any attached
 * to a truncated packet, are closed and the call fails with -EPROTO).
 * Returns the packet length, 0 at end of connection (an empty packet,
 * whose descriptors are closed), or a negative errno. */
ssize_t v4vp_recv(int sock, void *buf, size_t len, int *fds, int *nfds,
		  int flags);

#endif
