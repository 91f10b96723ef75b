/* SPDX-License-Identifier: MIT */
/*
 * What libv4v gives the interposer (src/preload) beyond its public API:
 * descriptor numbers of a socket, TCP ports, and TCP/IP addresses in the
 * control protocol's form.  The interposer includes this header only,
 * never the socket internals (sock.h).
 */
#ifndef V4V_LIB_INTERPOSER_H
#define V4V_LIB_INTERPOSER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* sock.c: descriptor numbers of a socket.  move puts
 * socket `from` at number `to` (replacing whatever was there, as dup3
 * does, `flags` O_CLOEXEC or 0); alias makes `newfd`, a dup of `fd`,
 * name the same socket; refresh re-reads O_NONBLOCK after an fcntl. */
int v4v_sock_move(int from, int to, int flags);
int v4v_sock_alias(int fd, int newfd);
void v4v_sock_refresh(int fd);

/* sock.c: the interposer sees every F_SETFL and FIONBIO of this process,
 * so a socket's cached O_NONBLOCK is exact; after fork the processes of
 * the tree tell each other of changes (forked.c), but a socket passed
 * with SCM_RIGHTS may be changed where we cannot hear: the interposer
 * calls v4v_sock_passed, and libv4v asks the kernel from then on. */
void v4v_sock_track_nonblock(void);
void v4v_sock_passed(int fd);

/* sock.c: poll the receive rings of the V4V sockets fds[0..n) (others
 * are skipped) for up to budget_us, their peers' doorbells suppressed
 * meanwhile (RX_SPINNING), yielding the CPU now and then; every 10 us or
 * so, stop early if kernel(arg) says a kernel descriptor is ready.
 * news[i] says what the ring of fds[i] holds (V4V_NEWS_*, 0 nothing).
 * Nothing is made readable in the kernel: a caller that does not report
 * what it found must v4v_show_rings before the kernel waits on them.
 * Returns how many rings had something. */
#define V4V_POLL_RINGS_MAX 256
#define V4V_NEWS_DATA 1	/* messages */
#define V4V_NEWS_END 2	/* no message, but the end of the stream or a reset */
int v4v_poll_rings(const int *fds, int n, int budget_us,
		   bool (*kernel)(void *arg), void *arg, uint8_t *news);

/* sock.c: make every V4V socket of fds[0..n) whose ring holds something
 * nobody rang for readable in the kernel (a token in its doorbell). */
void v4v_show_rings(const int *fds, int n);

/* sock.c: the socket at fd as a number never given to another socket,
 * 0 if fd is no V4V socket. */
uint64_t v4v_sock_id(int fd);

/* sock.c: the descriptors socket fd needs to go on working (its own and
 * the link's), up to max, for a child of fork that closes all others (the
 * interposer's relay); -errno if fd is no V4V socket. */
int v4v_sock_own_fds(int fd, int *out, int max);
/* sock.c: whether connection fd's ring holds data or its end for a reader
 * (judged by the positions published in it, whoever reads), and in *mark
 * where its readers have got to: 1, 0, or -errno.  A hint: a direct peer
 * can write these positions, and so can only slow its own connection's
 * relay; what is then read is validated as ever. */
int v4v_sock_unread(int fd, uint32_t *mark);

/* The interposer's TCP ports: `kfd`, a bound TCP socket, goes to v4vd
 * with the connect (the socket takes it; its port is what the server
 * sees); inet_peer_port is that port on the accepting side, 0 if none. */
int v4v_sock_inet(int fd, int kfd);
uint16_t v4v_sock_inet_peer_port(int fd);
/* The accepting side: the client's address as our domain sees it, in
 * `family` (AF_INET or AF_INET6), as v4vd wrote it into the SYN; false if
 * the SYN did not say (the caller asks v4vd, INET PEER). */
struct v4vp_inet_addr;
bool v4v_sock_inet_peer_addr(int fd, int family,
			     struct v4vp_inet_addr *out);

/* inet.c: a TCP/IP socket address in the protocol's form. */
struct v4vp_inet_addr;
int v4v_inet_addr_in(const struct sockaddr *sa, socklen_t len,
		     struct v4vp_inet_addr *out);

/* link.c: ask v4vd about TCP/IP addresses of domains (V4VP_INET). */
struct v4vp_inet;
struct v4vp_inet_reply;
int v4v_link_inet(const struct v4vp_inet *req, struct v4vp_inet_reply *rep);

/* link.c: are we in a VM (a guest agent answered our HELLO)?  Spinning
 * defaults differ there: a vCPU that spins takes time from the host's
 * other guests and from v4vd. */
bool v4v_link_in_vm(void);

/* link.c: the link's descriptors (for v4v_sock_own_fds). */
int v4v_link_fds(int *out, int max);

#endif
