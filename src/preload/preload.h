/* SPDX-License-Identifier: MIT */
/*
 * libv4v-preload: ordinary TCP programs over V4V, unmodified.
 *
 * Every descriptor the interposer cares about has an entry here, by
 * number.  A TCP socket starts as a kernel socket (PFD_TCP); connect asks
 * v4vd whether a V4V domain listens at the address and, if so, puts a V4V
 * stream socket at the same number (PFD_V4V), otherwise leaves it to the
 * kernel and forgets it.  listen keeps the kernel listener and adds a V4V
 * one; the application's number becomes an epoll instance that is ready
 * when either is (PFD_LISTEN), so poll, select and epoll keep working.
 * Descriptors without an entry go straight to libc.
 */
#ifndef V4V_PRELOAD_H
#define V4V_PRELOAD_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "v4v/socket.h"

enum pfd_kind {
	PFD_NONE,	/* not ours: libc */
	PFD_TCP,	/* a kernel TCP socket that may still become V4V */
	PFD_V4V,	/* a V4V socket (mapped from TCP, or AF_V4V) */
	PFD_LISTEN,	/* kernel + V4V listener behind an epoll instance */
};

/* An option the application set that V4V answers for itself. */
struct pfd_opt {
	int level, name;
	socklen_t len;
	uint8_t val[16];
};

#define PFD_MAX_OPTS 24

struct pfd {
	pthread_mutex_t lock;	/* state changes */
	int kind;		/* atomic */
	int family;		/* AF_INET, AF_INET6, or AF_V4V (native) */
	bool nonblock;		/* PFD_LISTEN: the application's O_NONBLOCK */
	bool v4v_dead;		/* PFD_LISTEN: kernel listener only */
	int kfd, vfd;		/* PFD_LISTEN: kernel and V4V listeners */
	struct sockaddr_storage local, peer; /* PFD_V4V: as TCP would say */
	socklen_t local_len, peer_len;
	uint32_t nopts;
	struct pfd_opt opts[PFD_MAX_OPTS];
};

/* real.c: libc's own functions, behind ours. */
struct real {
	int (*socket)(int, int, int);
	int (*bind)(int, const struct sockaddr *, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned, int,
			struct timespec *);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*splice)(int, off_t *, int, off_t *, size_t, unsigned);
	int (*shutdown)(int, int);
	int (*close)(int);
	int (*close_range)(unsigned, unsigned, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockname)(int, struct sockaddr *, socklen_t *);
	int (*getpeername)(int, struct sockaddr *, socklen_t *);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
};

extern struct real real;
void real_init(void);
/* Are we a child of vfork, in our parent's memory?  Then the interposer's
 * state is the parent's: leave it alone, pass calls to libc. */
bool pl_borrowed_memory(void);

/* wait.c: polling waits; epoll sets as epoll_ctl left them; a closed
 * descriptor is no epoll set any more. */
void pl_wait_epoll_ctl(int ep, int op, int fd, const struct epoll_event *ev);
void pl_wait_forget(int fd);

/* fdtab.c */
/* The entry of fd, created if `create`; NULL if fd is out of range. */
struct pfd *pfd_at(int fd, bool create);
static inline int pfd_kind_of(const struct pfd *p)
{
	return p ? __atomic_load_n(&p->kind, __ATOMIC_ACQUIRE) : PFD_NONE;
}
int pfd_kind(int fd);
void pfd_set_kind(struct pfd *p, int kind);
/* Forget fd (its number is about to name something else). */
void pfd_reset(int fd);
/* Copy the entry of `from` to `to` (dup). */
void pfd_copy(int from, int to);
/* Each live entry, for exec. */
void pfd_each(void (*fn)(int fd, struct pfd *p, void *arg), void *arg);
struct pfd_opt *pfd_opt(struct pfd *p, int level, int name, bool create);

/* addr.c: TCP/IP addresses and v4vd */
extern bool pl_debug;
extern bool pl_off;	/* $V4V_PRELOAD=off: leave every socket to the kernel */
void pl_log(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool pl_inet_family(int family);
/* Which V4V listener serves `sa`?  0 with *dst and the local address the
 * listener will see for us; -ENOENT (not a V4V domain) or another
 * failure, each meaning "use the kernel". */
int pl_resolve(const struct sockaddr *sa, socklen_t len,
	       struct sockaddr_v4v *dst, struct sockaddr_storage *local,
	       socklen_t *local_len);
/* The INET address of V4V peer `peer` of accepted socket `fd` as this
 * domain sees it, at TCP port `port` (0: one made from the V4V port,
 * pl_tcp_port). */
void pl_peer_addr(int fd, const struct sockaddr_v4v *peer, uint16_t port,
		  int family, struct sockaddr_storage *out, socklen_t *len);
uint16_t pl_tcp_port(uint32_t v4v_port);
uint16_t pl_port_of(const struct sockaddr *sa);
/* Copy an address out the way the kernel does (truncate, report size). */
void pl_addr_out(const struct sockaddr_storage *a, socklen_t alen,
		 struct sockaddr *addr, socklen_t *len);
/* Declare this network namespace's addresses (once per domain). */
void pl_declare_netns(void);

/* conn.c */
int pl_listen_v4v(int fd, struct pfd *p, int backlog);
int pl_accept(int fd, struct pfd *p, struct sockaddr *addr, socklen_t *len,
	      int flags);

/* signals.c: call pl_sig_arm before a blocking V4V call; after it fails,
 * pl_sig_restart says whether the kernel would have restarted it (the
 * socket's SO_RCVTIMEO or SO_SNDTIMEO is `timeo_opt`). */
void pl_sig_arm(void);
/* The signal whose handler ran since pl_sig_arm, 0 if none. */
int pl_sig_last(void);
bool pl_sig_restart(struct pfd *p, int timeo_opt);

/* relay.c: carry V4V connection fd (of `family`) across the coming exec:
 * returns the TCP end the new program gets (FD_CLOEXEC; O_NONBLOCK if
 * `nonblock`), -1 if none could be made.  The relay waits for the exec
 * to close gate[1]; a byte written there instead sends it away. */
int pl_relay(int fd, int family, int nonblock, const int gate[2]);

/* opts.c */
void pl_opts_apply(struct pfd *p, int vfd);

#endif
