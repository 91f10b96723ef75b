/* SPDX-License-Identifier: MIT */
/*
 * libv4v: V4V sockets with the BSD socket calls' shape.
 *
 * Every V4V socket is a real kernel file descriptor: poll, select and epoll
 * work on it directly, and fork passes it on.  Close it with v4v_close:
 * close(2) would end the connection but leave the library's state for
 * that descriptor number behind.  Errors are reported as the BSD calls
 * do: -1 and errno.  See docs/api.md.
 */
#ifndef V4V_SOCKET_H
#define V4V_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "v4v/addr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Not a kernel address family: the kernel answers EAFNOSUPPORT if a V4V
 * address ever reaches it, instead of misreading it. */
#define AF_V4V 0x5634
#define PF_V4V AF_V4V

struct sockaddr_v4v {
	sa_family_t v4v_family; /* AF_V4V */
	v4v_domid_t v4v_domid;	/* V4V_DOMID_ANY in bind: this domain */
	uint32_t v4v_port;	/* V4V_PORT_ANY in bind: pick one */
	uint8_t v4v_zero[8];
};

/* Options at level SOL_V4V. */
#define SOL_V4V 0x5634
/* Busy-poll budget of blocking calls, in microseconds (int).  Default from
 * $V4V_BUSY_POLL_US, else 50. */
#define V4V_SO_BUSY_POLL 1

/* Default and largest receive ring sizes (SO_RCVBUF sets the size before
 * bind, listen or connect; larger requests are clamped, as the kernel
 * clamps buffer sizes). */
#define V4V_DEFAULT_RING_SIZE (256u * 1024u)
#define V4V_MAX_RING_SIZE (16u * 1024u * 1024u)

int v4v_socket(int domain, int type, int protocol);
int v4v_bind(int fd, const struct sockaddr *addr, socklen_t len);
int v4v_connect(int fd, const struct sockaddr *addr, socklen_t len);
int v4v_listen(int fd, int backlog);
int v4v_accept(int fd, struct sockaddr *addr, socklen_t *len);
int v4v_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int v4v_shutdown(int fd, int how);
/* FIONREAD (int *: bytes ready) and FIONBIO (int *: non-blocking). */
int v4v_ioctl(int fd, unsigned long req, void *arg);
ssize_t v4v_send(int fd, const void *buf, size_t len, int flags);
ssize_t v4v_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen);
ssize_t v4v_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t v4v_recv(int fd, void *buf, size_t len, int flags);
ssize_t v4v_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen);
ssize_t v4v_recvmsg(int fd, struct msghdr *msg, int flags);
int v4v_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int v4v_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int v4v_setsockopt(int fd, int level, int name, const void *val,
		   socklen_t len);
int v4v_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int v4v_close(int fd);

/*
 * Zero-copy stream I/O, for a program that hands the bytes to a DMA
 * engine (a GPU's copy engine) instead of copying them (docs/api.md).
 *
 * v4v_recv_zc points *data at the next received bytes, in the socket's
 * receive ring, and returns how many of them (at most max) lie there
 * contiguously; 0 at end of stream; -1 and errno as recv.  The bytes stay
 * in the ring until v4v_recv_zc_done(fd, n) consumes the first n bytes
 * handed out; a v4v_recv_zc before that returns the bytes after those it
 * handed out (so that several can be in a DMA engine's hands at once).
 * It waits as recv does, but only while nothing is handed out: with bytes
 * out and nothing after them it fails with EAGAIN (MSG_DONTWAIT: always
 * EAGAIN instead of waiting).  MSG_PEEK: the bytes are not counted as
 * handed out (the next call returns them again); v4v_recv_zc_done then
 * consumes what the caller took.  Do not mix with recv on the same
 * socket.
 * A peer can only write the bytes it sent, but it can rewrite them while
 * they are read: treat them as its input, no more trusted.
 *
 * v4v_send_zc points *data at free space in the ring this socket writes
 * into and returns how many bytes (at most max) may be placed there,
 * waiting for room as send does; v4v_send_zc_done(fd, n) then publishes
 * the first n of them as sent (0: nothing).  Between the two, the calling
 * thread owns the socket's sending side: other sends wait, and the same
 * thread must call v4v_send_zc_done.  EOPNOTSUPP if this socket's sends
 * are copied by v4vd from the caller's buffer (no ring to write).
 *
 * v4v_zc_areas gives the mappings the spans lie in (page-aligned, fixed
 * for the connection's life), for registering them once with a DMA
 * engine (cuMemHostRegister); a len of 0 means none.
 */
struct v4v_zc_area {
	void *base;
	size_t len;
};
ssize_t v4v_recv_zc(int fd, const void **data, size_t max, int flags);
int v4v_recv_zc_done(int fd, size_t n);
ssize_t v4v_send_zc(int fd, void **data, size_t max, int flags);
int v4v_send_zc_done(int fd, size_t n);
int v4v_zc_areas(int fd, struct v4v_zc_area *rx, struct v4v_zc_area *tx);

/* Is fd a V4V socket of this process? */
int v4v_is_socket(int fd);

/* This process's domain id, connecting to v4vd if needed; -1 and errno on
 * failure. */
int v4v_domid(void);
/* The domid of the domain called `name`, or -1 and errno (ENOENT). */
int v4v_lookup(const char *name);
/* Parse "DOMAIN:PORT" (DOMAIN a domid or a name) into an address. */
int v4v_parse_addr(const char *s, struct sockaddr_v4v *out);

/*
 * TCP/IP addresses of this domain, for programs that reach each other by
 * INET address through the interposer (docs/api.md).  declare_addr claims
 * one address (AF_INET or AF_INET6, port ignored): domains of other
 * network namespaces then reach this domain's listeners there.
 * declare_netns claims every global address of this network namespace's
 * interfaces and returns how many it declared.  -1 and errno on failure
 * (EADDRINUSE: a domain of another namespace has it).
 */
int v4v_declare_addr(const struct sockaddr *addr, socklen_t len);
int v4v_declare_netns(void);

#ifdef __cplusplus
}
#endif

#endif
