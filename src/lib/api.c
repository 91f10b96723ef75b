/* SPDX-License-Identifier: MIT */
/* The BSD-shaped entry points that move data, and address helpers. */
#include "sock.h"
#include "v4v/link.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>

ssize_t v4v_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct v4v_sock *s = sock_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	if (s->type != SOCK_STREAM) {
		n = dgram_sendmsg(s, msg, flags);
		sock_put(s);
		return n;
	}
	n = stream_sendmsg(s, msg, flags);
	sock_put(s);
	if (n == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE); /* what the kernel would do */
	return n < 0 ? v4v_fail((int)n) : n;
}

ssize_t v4v_sendto(int fd, const void *buf, size_t len, int flags,
		   const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_name = (void *)addr, .msg_namelen = alen,
			      .msg_iov = &iov, .msg_iovlen = 1 };

	return v4v_sendmsg(fd, &msg, flags);
}

ssize_t v4v_send(int fd, const void *buf, size_t len, int flags)
{
	return v4v_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t v4v_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct v4v_sock *s = sock_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	if (s->type != SOCK_STREAM) {
		n = dgram_recvmsg(s, msg, flags);
		sock_put(s);
		return n;
	}
	n = stream_recvmsg(s, msg, flags);
	sock_put(s);
	return n < 0 ? v4v_fail((int)n) : n;
}

ssize_t v4v_recvfrom(int fd, void *buf, size_t len, int flags,
		     struct sockaddr *addr, socklen_t *alen)
{
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_name = addr,
			      .msg_namelen = alen ? *alen : 0,
			      .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (addr && !alen)
		return v4v_fail(-EFAULT);
	n = v4v_recvmsg(fd, &msg, flags);
	if (n >= 0 && alen)
		*alen = msg.msg_namelen;
	return n;
}

ssize_t v4v_recv(int fd, void *buf, size_t len, int flags)
{
	return v4v_recvfrom(fd, buf, len, flags, NULL, NULL);
}

int v4v_domid(void)
{
	struct v4v_link_info info;
	int rc = v4v_link_info(&info);

	return rc ? (int)v4v_fail(rc) : info.domid;
}

int v4v_lookup(const char *name)
{
	v4v_domid_t id;
	int rc = v4v_link_lookup(name, &id);

	return rc ? (int)v4v_fail(rc) : id;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int v4v_parse_addr(const char *s, struct sockaddr_v4v *out)
{
	char dom[V4V_NAME_MAX];
	const char *colon = strrchr(s, ':');
	uint32_t port, id;
	int rc;

	if (!colon || (size_t)(colon - s) >= sizeof(dom) || colon == s)
		return (int)v4v_fail(-EINVAL);
	memcpy(dom, s, (size_t)(colon - s));
	dom[colon - s] = '\0';
	if (parse_u32(colon + 1, &port))
		return (int)v4v_fail(-EINVAL);
	if (parse_u32(dom, &id) == 0) {
		if (id > V4V_DOMID_MAX)
			return (int)v4v_fail(-EINVAL);
	} else {
		rc = v4v_lookup(dom);
		if (rc < 0)
			return -1;
		id = (uint32_t)rc;
	}
	memset(out, 0, sizeof(*out));
	out->v4v_family = AF_V4V;
	out->v4v_domid = (v4v_domid_t)id;
	out->v4v_port = port;
	return 0;
}

/* Run fn on a stream socket; -1/errno for other types and failures. */
static int on_stream(int fd, int (*fn)(struct v4v_sock *, long), long arg)
{
	struct v4v_sock *s = sock_get(fd);
	int rc;

	if (!s)
		return -1;
	rc = s->type == SOCK_STREAM ? fn(s, arg) : -EOPNOTSUPP;
	sock_put(s);
	return rc < 0 ? (int)v4v_fail(rc) : rc;
}

static int do_listen(struct v4v_sock *s, long backlog)
{
	return stream_listen(s, (int)backlog);
}

static int do_shutdown(struct v4v_sock *s, long how)
{
	return stream_shutdown(s, (int)how);
}

int v4v_listen(int fd, int backlog)
{
	return on_stream(fd, do_listen, backlog);
}

int v4v_shutdown(int fd, int how)
{
	return on_stream(fd, do_shutdown, how);
}

int v4v_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct v4v_sock *s = sock_get(fd);
	int rc;

	if (!s)
		return -1;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		rc = -EINVAL;
	else if (s->type != SOCK_STREAM)
		rc = -EOPNOTSUPP;
	else
		rc = stream_accept(s, addr, len, flags);
	sock_put(s);
	return rc < 0 ? (int)v4v_fail(rc) : rc;
}

int v4v_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return v4v_accept4(fd, addr, len, 0);
}

int v4v_ioctl(int fd, unsigned long req, void *arg)
{
	struct v4v_sock *s = sock_get(fd);
	int rc = 0, v;

	if (!s)
		return -1;
	if (req == FIONREAD) {
		/* As the kernel: bytes queued on a stream, the size of the
		 * next datagram on a datagram socket (whose ring a bind in
		 * another thread may be making: handle says it is done). */
		if (s->type == SOCK_STREAM)
			v = stream_fionread(s);
		else if (!__atomic_load_n(&s->handle, __ATOMIC_ACQUIRE))
			v = 0;
		else
			v = dgram_next_size(s);
		memcpy(arg, &v, sizeof(v));
	} else if (req == FIONBIO) {
		int fl = fcntl(fd, F_GETFL);

		memcpy(&v, arg, sizeof(v));
		rc = fcntl(fd, F_SETFL, v ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
		rc = rc ? -errno : 0;
		if (!rc)
			sock_nonblock_changed(s);
	} else {
		rc = -ENOTTY;
	}
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

/* The zero-copy calls: stream sockets only. */
static struct v4v_sock *stream_get(int fd)
{
	struct v4v_sock *s = sock_get(fd);

	if (s && s->type != SOCK_STREAM) {
		sock_put(s);
		errno = EOPNOTSUPP;
		return NULL;
	}
	return s;
}

ssize_t v4v_recv_zc(int fd, const void **data, size_t max, int flags)
{
	struct v4v_sock *s = stream_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	n = stream_recv_zc(s, data, max, flags);
	sock_put(s);
	return n < 0 ? v4v_fail((int)n) : n;
}

int v4v_recv_zc_done(int fd, size_t n)
{
	struct v4v_sock *s = stream_get(fd);
	int rc;

	if (!s)
		return -1;
	rc = stream_recv_zc_done(s, n);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

ssize_t v4v_send_zc(int fd, void **data, size_t max, int flags)
{
	struct v4v_sock *s = stream_get(fd);
	ssize_t n;

	if (!s)
		return -1;
	n = stream_send_zc(s, data, max, flags);
	sock_put(s);
	if (n == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return n < 0 ? v4v_fail((int)n) : n;
}

int v4v_send_zc_done(int fd, size_t n)
{
	struct v4v_sock *s = stream_get(fd);
	int rc;

	if (!s)
		return -1;
	rc = stream_send_zc_done(s, n);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

int v4v_zc_areas(int fd, struct v4v_zc_area *rx, struct v4v_zc_area *tx)
{
	struct v4v_sock *s = stream_get(fd);
	int rc;

	if (!s)
		return -1;
	rc = stream_zc_areas(s, rx, tx);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}
