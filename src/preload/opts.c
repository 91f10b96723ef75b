/* SPDX-License-Identifier: MIT */
/*
 * Socket options and names of V4V sockets mapped from TCP.  Options that
 * shape the ring or the waits (SO_RCVBUF, SO_RCVTIMEO, SO_SNDTIMEO,
 * SO_LINGER) are V4V's own; TCP and IP options, which tune a network V4V
 * does not use (Nagle, keepalive probes, congestion control), are
 * accepted and read back as set.  docs/preload.md lists each.
 */
#include "preload.h"
#include "v4v/socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define NEED() (real.socket ? (void)0 : real_init())

static void remember(struct pfd *p, int level, int name, const void *val,
		     socklen_t len)
{
	struct pfd_opt *o;

	pthread_mutex_lock(&p->lock);
	o = pfd_opt(p, level, name, true);
	if (o) {
		o->len = len < sizeof(o->val) ? len : sizeof(o->val);
		memcpy(o->val, val, o->len);
	}
	pthread_mutex_unlock(&p->lock);
}

static bool recall(struct pfd *p, int level, int name, void *val,
		   socklen_t *len)
{
	struct pfd_opt *o;
	bool found;

	pthread_mutex_lock(&p->lock);
	o = pfd_opt(p, level, name, false);
	found = o != NULL;
	if (found) {
		socklen_t n = *len < o->len ? *len : o->len;

		/* As the kernel: truncate, and say how much was written. */
		memcpy(val, o->val, n);
		*len = n;
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

/* The options V4V itself honours. */
static bool v4v_owns(int level, int name)
{
	return level == SOL_SOCKET &&
	       (name == SO_RCVBUF || name == SO_RCVTIMEO ||
		name == SO_SNDTIMEO || name == SO_LINGER);
}

/* SOL_SOCKET options accepted with no effect on V4V. */
static bool harmless(int level, int name)
{
	if (level == IPPROTO_TCP || level == IPPROTO_IP ||
	    level == IPPROTO_IPV6)
		return true;
	return level == SOL_SOCKET &&
	       (name == SO_SNDBUF || name == SO_KEEPALIVE ||
		name == SO_REUSEADDR || name == SO_REUSEPORT ||
		name == SO_PRIORITY || name == SO_RCVLOWAT ||
		name == SO_OOBINLINE || name == SO_SNDBUFFORCE ||
		name == SO_RCVBUFFORCE || name == SO_BUSY_POLL);
}

void pl_opts_apply(struct pfd *p, int vfd)
{
	pthread_mutex_lock(&p->lock);
	for (uint32_t i = 0; i < p->nopts; i++) {
		struct pfd_opt *o = &p->opts[i];

		if (v4v_owns(o->level, o->name))
			v4v_setsockopt(vfd, o->level, o->name, o->val, o->len);
	}
	pthread_mutex_unlock(&p->lock);
}

static int set_mapped(int fd, struct pfd *p, int level, int name,
		      const void *val, socklen_t len)
{
	if (!val) {
		errno = EFAULT;
		return -1;
	}
	if (v4v_owns(level, name)) {
		/* A ring is sized once, at connect: later SO_RCVBUF is
		 * accepted, and getsockopt tells the size in force. */
		if (v4v_setsockopt(fd, level, name, val, len) &&
		    !(name == SO_RCVBUF && errno == EISCONN))
			return -1;
		remember(p, level, name, val, len);
		return 0;
	}
	if (!harmless(level, name)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	remember(p, level, name, val, len);
	return 0;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), rc;

	NEED();
	if (kind == PFD_V4V && p->family == AF_V4V)
		return v4v_setsockopt(fd, level, name, val, len);
	if (kind == PFD_V4V)
		return set_mapped(fd, p, level, name, val, len);
	rc = real.setsockopt(kind == PFD_LISTEN ? p->kfd : fd, level, name,
			     val, len);
	/* Kept for the V4V socket this one may become, or accept. */
	if (rc == 0 && (kind == PFD_TCP || kind == PFD_LISTEN))
		remember(p, level, name, val, len);
	return rc;
}

static int put_int(void *val, socklen_t *len, int v)
{
	if (*len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int get_mapped(int fd, struct pfd *p, int level, int name, void *val,
		      socklen_t *len)
{
	if (!val || !len) {
		errno = EFAULT;
		return -1;
	}
	if (level == SOL_SOCKET &&
	    (name == SO_ERROR || name == SO_TYPE || name == SO_RCVBUF ||
	     name == SO_SNDBUF || name == SO_RCVTIMEO || name == SO_SNDTIMEO))
		return v4v_getsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET && name == SO_DOMAIN)
		return put_int(val, len, p->family);
	if (level == SOL_SOCKET && name == SO_PROTOCOL)
		return put_int(val, len, IPPROTO_TCP);
	if (level == SOL_SOCKET && name == SO_ACCEPTCONN)
		return put_int(val, len, 0);
	if (recall(p, level, name, val, len))
		return 0;
	if (level == IPPROTO_TCP && name == TCP_INFO) {
		/* No retransmissions, windows or round-trip times to tell:
		 * an established connection with zero counters. */
		struct tcp_info ti = { .tcpi_state = TCP_ESTABLISHED };
		socklen_t n = *len < sizeof(ti) ? *len : sizeof(ti);

		memcpy(val, &ti, n);
		*len = n;
		return 0;
	}
	if (level == IPPROTO_TCP && name == TCP_MAXSEG)
		return put_int(val, len, 65483); /* loopback's MSS */
	if (harmless(level, name) && level != IPPROTO_IP &&
	    level != IPPROTO_IPV6 &&
	    !(level == IPPROTO_TCP && name == TCP_CONGESTION))
		return put_int(val, len, 0); /* never set: the default */
	errno = ENOPROTOOPT;
	return -1;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p);

	NEED();
	if (kind == PFD_V4V && p->family == AF_V4V)
		return v4v_getsockopt(fd, level, name, val, len);
	if (kind == PFD_V4V)
		return get_mapped(fd, p, level, name, val, len);
	return real.getsockopt(kind == PFD_LISTEN ? p->kfd : fd, level, name,
			       val, len);
}

static int name_of(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p);

	NEED();
	if (kind == PFD_V4V && p->family == AF_V4V)
		return peer ? v4v_getpeername(fd, addr, len)
			    : v4v_getsockname(fd, addr, len);
	if (kind == PFD_V4V) {
		struct sockaddr_v4v v;
		socklen_t vlen = sizeof(v);

		if (!len) {
			errno = EFAULT;
			return -1;
		}
		/* Reset: no peer any more (ENOTCONN), as TCP says. */
		if (peer && v4v_getpeername(fd, (struct sockaddr *)&v, &vlen))
			return -1;
		pthread_mutex_lock(&p->lock);
		pl_addr_out(peer ? &p->peer : &p->local,
			    peer ? p->peer_len : p->local_len, addr, len);
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	if (kind == PFD_LISTEN)
		fd = p->kfd;
	return peer ? real.getpeername(fd, addr, len)
		    : real.getsockname(fd, addr, len);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return name_of(fd, addr, len, false);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return name_of(fd, addr, len, true);
}
