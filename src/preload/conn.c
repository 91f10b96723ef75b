/* SPDX-License-Identifier: MIT */
/*
 * Where each TCP socket goes: socket, bind, connect, listen and accept.
 * A connection goes over V4V when v4vd says a V4V domain listens at the
 * destination; everything else is the kernel's, untouched.
 */
#include "preload.h"
#include "v4v/socket.h"
#include "proto/proto.h"
#include "lib/interposer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NEED() (real.socket ? (void)0 : real_init())

/* A new descriptor number from the kernel: whatever we knew about an
 * earlier holder of the number is stale. */
static int fresh(int fd)
{
	if (fd >= 0)
		pfd_reset(fd);
	return fd;
}

static void track(int fd, int kind, int family)
{
	struct pfd *p = pfd_at(fd, true);

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->family = family;
	p->nopts = 0;
	p->local_len = p->peer_len = 0;
	p->kfd = p->vfd = -1;
	pfd_set_kind(p, kind);
	pthread_mutex_unlock(&p->lock);
}

int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), fd;

	NEED();
	if (domain == AF_V4V) {
		fd = fresh(v4v_socket(domain, type, protocol));
		if (fd >= 0)
			track(fd, PFD_V4V, AF_V4V);
		return fd;
	}
	fd = fresh(real.socket(domain, type, protocol));
	if (fd >= 0 && pl_inet_family(domain) && base == SOCK_STREAM &&
	    (protocol == 0 || protocol == IPPROTO_TCP) && !pl_off)
		track(fd, PFD_TCP, domain);
	return fd;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pfd *p = pfd_at(fd, false);

	NEED();
	if (pfd_kind_of(p) == PFD_V4V && p->family == AF_V4V)
		return v4v_bind(fd, addr, len);
	return real.bind(fd, addr, len);
}

/* connect on a socket already given to V4V: report progress the way the
 * kernel does for a second connect call. */
static int reconnect(int fd, struct pfd *p, const struct sockaddr *addr,
		     socklen_t len)
{
	struct sockaddr_v4v dst;
	socklen_t dlen = sizeof(dst);
	int err = 0, rc;

	if (p->family == AF_V4V)
		return v4v_connect(fd, addr, len);
	if (v4v_getpeername(fd, (struct sockaddr *)&dst, &dlen))
		return -1;
	rc = v4v_connect(fd, (struct sockaddr *)&dst, sizeof(dst));
	if (rc && errno == EALREADY) {
		/* SO_ERROR moves a finished handshake on. */
		dlen = sizeof(err);
		v4v_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &dlen);
		if (err) {
			errno = err;
			return -1;
		}
		rc = v4v_connect(fd, (struct sockaddr *)&dst, sizeof(dst));
	}
	return rc;
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)a)->sin_port = htons(port);
}

/*
 * The connection's TCP port, as the kernel gives it: the application's
 * bind, else an ephemeral port the kernel picks for the source address
 * (from ip_local_port_range, unique there).  A duplicate of the socket
 * goes to v4vd with the connect and holds the port while the connection
 * lives; v4vd tells the server the port.  Returns the duplicate, or -1
 * (then the port is a made-up one).
 */
static int reserve_port(int fd, const struct sockaddr_storage *local,
			socklen_t llen, uint16_t *port)
{
	struct sockaddr_storage a = *local;
	socklen_t alen = sizeof(a);

	if (real.getsockname(fd, (struct sockaddr *)&a, &alen))
		return -1;
	if (!pl_port_of((struct sockaddr *)&a)) {
		a = *local;
		set_port(&a, 0);
		alen = sizeof(a);
		if (real.bind(fd, (struct sockaddr *)&a, llen) ||
		    real.getsockname(fd, (struct sockaddr *)&a, &alen))
			return -1;
	}
	*port = pl_port_of((struct sockaddr *)&a);
	return real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* Put a V4V stream connected to `dst` at number fd. */
static int connect_v4v(int fd, struct pfd *p, const struct sockaddr *addr,
		       socklen_t len, const struct sockaddr_v4v *dst,
		       const struct sockaddr_storage *local, socklen_t llen)
{
	int fdfl = real.fcntl(fd, F_GETFD), fl = real.fcntl(fd, F_GETFL);
	struct sockaddr_v4v me;
	socklen_t melen = sizeof(me);
	uint16_t port = 0;
	int vs, rc, err, kfd;

	vs = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_CLOEXEC |
				(fl & O_NONBLOCK ? SOCK_NONBLOCK : 0), 0);
	if (vs < 0)
		return -1;
	pl_opts_apply(p, vs);
	kfd = reserve_port(fd, local, llen, &port);
	if (kfd >= 0)
		v4v_sock_inet(vs, kfd);
	else
		pl_log(fd, "no kernel port for this connection: %s",
		       strerror(errno));
	rc = v4v_connect(vs, (const struct sockaddr *)dst, sizeof(*dst));
	err = errno;
	if (rc && err != EINPROGRESS) {
		pl_log(fd, "V4V connect failed: %s", strerror(err));
		v4v_close(vs);
		errno = err;
		return -1;
	}
	v4v_getsockname(vs, (struct sockaddr *)&me, &melen);
	err = v4v_sock_move(vs, fd, fdfl & FD_CLOEXEC ? O_CLOEXEC : 0);
	if (err) {
		v4v_close(vs);
		errno = -err;
		return -1;
	}
	pthread_mutex_lock(&p->lock);
	p->peer_len = len < sizeof(p->peer) ? len : sizeof(p->peer);
	memcpy(&p->peer, addr, p->peer_len);
	p->local = *local;
	p->local_len = llen;
	set_port(&p->local, port ? port : pl_tcp_port(me.v4v_port));
	pfd_set_kind(p, PFD_V4V);
	pthread_mutex_unlock(&p->lock);
	pl_log(fd, "connected over V4V%s", rc ? " (in progress)" : "");
	errno = rc ? EINPROGRESS : 0;
	return rc;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct pfd *p = pfd_at(fd, false);
	struct sockaddr_storage local;
	struct sockaddr_v4v dst;
	socklen_t llen;
	int kind = pfd_kind_of(p);

	NEED();
	if (kind == PFD_V4V)
		return reconnect(fd, p, addr, len);
	if (kind != PFD_TCP || !addr || len < sizeof(sa_family_t) ||
	    !pl_inet_family(addr->sa_family))
		return real.connect(fd, addr, len);
	if (pl_resolve(addr, len, &dst, &local, &llen)) {
		pfd_reset(fd); /* the kernel's from now on */
		return real.connect(fd, addr, len);
	}
	return connect_v4v(fd, p, addr, len, &dst, &local, llen);
}

int listen(int fd, int backlog)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), rc;

	NEED();
	if (kind == PFD_V4V && p->family == AF_V4V)
		return v4v_listen(fd, backlog);
	if (kind == PFD_LISTEN)
		return real.listen(p->kfd, backlog);
	rc = real.listen(fd, backlog);
	if (rc || kind != PFD_TCP)
		return rc;
	if (pl_listen_v4v(fd, p, backlog))
		pfd_reset(fd);
	return 0;
}

static int v4v_listener(int port, struct pfd *p, int backlog)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = V4V_DOMID_ANY,
				  .v4v_port = V4VP_INET_PORT(port) };
	int vs = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);

	if (vs < 0)
		return -1;
	pl_opts_apply(p, vs);
	if (v4v_bind(vs, (struct sockaddr *)&a, sizeof(a)) ||
	    v4v_listen(vs, backlog)) {
		int e = errno;

		v4v_close(vs);
		errno = e;
		return -1;
	}
	return vs;
}

/* The application's number becomes an epoll instance watching both
 * listeners: readable when either has a connection waiting. */
static int merge(int fd, int kfd, int vfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int cloexec = real.fcntl(fd, F_GETFD) & FD_CLOEXEC;

	if (ep < 0)
		return -1;
	ev.data.fd = kfd;
	if (real.epoll_ctl(ep, EPOLL_CTL_ADD, kfd, &ev) == 0) {
		ev.data.fd = vfd;
		if (real.epoll_ctl(ep, EPOLL_CTL_ADD, vfd, &ev) == 0 &&
		    real.dup3(ep, fd, cloexec ? O_CLOEXEC : 0) == fd) {
			real.close(ep);
			return 0;
		}
	}
	real.close(ep);
	return -1;
}

int pl_listen_v4v(int fd, struct pfd *p, int backlog)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	int fl = real.fcntl(fd, F_GETFL), kfd, vfd;

	if (real.getsockname(fd, (struct sockaddr *)&a, &alen))
		return -1;
	vfd = v4v_listener(pl_port_of((struct sockaddr *)&a), p, backlog);
	if (vfd < 0) {
		pl_log(fd, "listening on kernel TCP only: V4V: %s",
		       strerror(errno));
		return -1;
	}
	pl_declare_netns();
	kfd = real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (kfd < 0 || real.fcntl(kfd, F_SETFL, fl | O_NONBLOCK) ||
	    merge(fd, kfd, vfd)) {
		pl_log(fd, "listening on kernel TCP only: %s", strerror(errno));
		if (kfd >= 0) {
			real.fcntl(kfd, F_SETFL, fl);
			real.close(kfd);
		}
		v4v_close(vfd);
		return -1;
	}
	if (fl & O_NONBLOCK)
		real.fcntl(fd, F_SETFL, O_NONBLOCK);
	pthread_mutex_lock(&p->lock);
	p->kfd = kfd;
	p->vfd = vfd;
	p->nonblock = fl & O_NONBLOCK;
	p->v4v_dead = false;
	pfd_set_kind(p, PFD_LISTEN);
	pthread_mutex_unlock(&p->lock);
	pl_log(fd, "listening on kernel TCP port %u and V4V port %#x",
	       pl_port_of((struct sockaddr *)&a),
	       V4VP_INET_PORT(pl_port_of((struct sockaddr *)&a)));
	return 0;
}

/* Describe an accepted V4V connection as TCP would. */
static void accepted(int nfd, struct pfd *lp)
{
	struct sockaddr_v4v peer;
	socklen_t plen = sizeof(peer);
	struct pfd *p = pfd_at(nfd, true);
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);

	if (!p)
		return;
	v4v_getpeername(nfd, (struct sockaddr *)&peer, &plen);
	real.getsockname(lp->kfd, (struct sockaddr *)&local, &llen);
	pthread_mutex_lock(&p->lock);
	p->family = lp->family;
	pl_peer_addr(nfd, &peer, v4v_sock_inet_peer_port(nfd), lp->family,
		     &p->peer, &p->peer_len);
	p->local = local;
	p->local_len = llen;
	/* Accepted sockets inherit the listener's options, as in TCP. */
	p->nopts = lp->nopts;
	memcpy(p->opts, lp->opts, sizeof(p->opts));
	pfd_set_kind(p, PFD_V4V);
	pthread_mutex_unlock(&p->lock);
}

static bool listener_nonblock(int fd, struct pfd *p)
{
	return __atomic_load_n(&p->nonblock, __ATOMIC_RELAXED) ||
	       (real.fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* The V4V listener failed for good (this process cannot reach v4vd,
 * say, after dropping privileges): serve the kernel listener alone rather
 * than spin on a readiness we cannot act on. */
static void drop_v4v(int fd, struct pfd *p)
{
	pl_log(fd, "V4V accept failed (%s): kernel TCP only from now on",
	       strerror(errno));
	real.epoll_ctl(fd, EPOLL_CTL_DEL, p->vfd, NULL);
	__atomic_store_n(&p->v4v_dead, true, __ATOMIC_RELAXED);
}

static int try_v4v(int fd, struct pfd *p, struct sockaddr *addr,
		   socklen_t *len, int flags)
{
	int n;

	if (__atomic_load_n(&p->v4v_dead, __ATOMIC_RELAXED))
		return -1;
	n = fresh(v4v_accept4(p->vfd, NULL, NULL, flags));
	if (n < 0) {
		if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR)
			drop_v4v(fd, p);
		return -1;
	}
	accepted(n, p);
	pl_addr_out(&pfd_at(n, false)->peer, pfd_at(n, false)->peer_len, addr,
		    len);
	pl_log(n, "accepted over V4V");
	return n;
}

int pl_accept(int fd, struct pfd *p, struct sockaddr *addr, socklen_t *len,
	      int flags)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n;

	for (;;) {
		n = try_v4v(fd, p, addr, len, flags);
		if (n >= 0)
			return n;
		n = fresh(real.accept4(p->kfd, addr, len, flags));
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
		if (listener_nonblock(fd, p))
			return -1;
		pl_sig_arm();
		if (poll(&pfd, 1, -1) < 0 && !pl_sig_restart(p, SO_RCVTIMEO))
			return -1; /* EINTR, as a blocking accept gives */
	}
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), n;

	NEED();
	if (kind == PFD_LISTEN)
		return pl_accept(fd, p, addr, len, flags);
	if (kind == PFD_V4V && p->family == AF_V4V) {
		n = fresh(v4v_accept4(fd, addr, len, flags));
		if (n >= 0)
			track(n, PFD_V4V, AF_V4V);
		return n;
	}
	return fresh(real.accept4(fd, addr, len, flags));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}
