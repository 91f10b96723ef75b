/* SPDX-License-Identifier: MIT */
/*
 * The data path: every call that moves bytes, and glibc's fortified
 * variants of them.  A V4V socket mapped from TCP behaves as a connected
 * TCP socket: addresses given with a send are ignored and none is
 * returned with a receive, as Linux does for TCP.
 */
#include "preload.h"
#include "lib/interposer.h"
#include "v4v/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#define NEED() (real.socket ? (void)0 : real_init())

/* The V4V socket behind fd, or NULL for the kernel's. */
static struct pfd *v4v_of(int fd)
{
	struct pfd *p = pfd_at(fd, false);

	return pfd_kind_of(p) == PFD_V4V ? p : NULL;
}

/* Mapped from TCP: no addresses and no ancillary data. */
static struct msghdr bare(const struct msghdr *msg)
{
	struct msghdr m = *msg;

	m.msg_name = NULL;
	m.msg_namelen = 0;
	m.msg_control = NULL;
	m.msg_controllen = 0;
	return m;
}

static ssize_t v4v_recvmsg_tcp(int fd, struct pfd *p, struct msghdr *msg,
			       int flags)
{
	struct msghdr m;
	ssize_t n;

	if (p->family == AF_V4V)
		return v4v_recvmsg(fd, msg, flags);
	m = bare(msg);
	do {
		pl_sig_arm();
		n = v4v_recvmsg(fd, &m, flags);
	} while (n < 0 && pl_sig_restart(p, SO_RCVTIMEO));
	if (n >= 0) {
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
		msg->msg_flags = m.msg_flags;
	}
	return n;
}

static ssize_t v4v_sendmsg_tcp(int fd, struct pfd *p,
			       const struct msghdr *msg, int flags)
{
	struct msghdr m;
	ssize_t n;

	if (p->family == AF_V4V)
		return v4v_sendmsg(fd, msg, flags);
	m = bare(msg);
	do {
		pl_sig_arm();
		n = v4v_sendmsg(fd, &m, flags);
	} while (n < 0 && pl_sig_restart(p, SO_SNDTIMEO));
	return n;
}

static ssize_t v4v_recv1(int fd, struct pfd *p, void *buf, size_t len,
			 int flags)
{
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return v4v_recvmsg_tcp(fd, p, &m, flags);
}

static ssize_t v4v_send1(int fd, struct pfd *p, const void *buf, size_t len,
			 int flags)
{
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	return v4v_sendmsg_tcp(fd, p, &m, flags);
}

ssize_t read(int fd, void *buf, size_t len)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	return p ? v4v_recv1(fd, p, buf, len, 0) : real.read(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	return p ? v4v_send1(fd, p, buf, len, 0) : real.write(fd, buf, len);
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	struct pfd *p = v4v_of(fd);
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)n };

	NEED();
	if (!p)
		return real.readv(fd, iov, n);
	if (n < 0 || n > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	return v4v_recvmsg_tcp(fd, p, &m, 0);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	struct pfd *p = v4v_of(fd);
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)n };

	NEED();
	if (!p)
		return real.writev(fd, iov, n);
	if (n < 0 || n > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	return v4v_sendmsg_tcp(fd, p, &m, 0);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	return p ? v4v_recv1(fd, p, buf, len, flags)
		 : real.recv(fd, buf, len, flags);
}

ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
		 struct sockaddr *addr, socklen_t *alen)
{
	struct pfd *p = v4v_of(fd);
	ssize_t n;

	NEED();
	if (!p)
		return real.recvfrom(fd, buf, len, flags, addr, alen);
	if (p->family == AF_V4V)
		return v4v_recvfrom(fd, buf, len, flags, addr, alen);
	n = v4v_recv1(fd, p, buf, len, flags);
	if (n >= 0 && alen)
		*alen = 0;
	return n;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	return p ? v4v_recvmsg_tcp(fd, p, msg, flags)
		 : real.recvmsg(fd, msg, flags);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	return p ? v4v_send1(fd, p, buf, len, flags)
		 : real.send(fd, buf, len, flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *addr, socklen_t alen)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	if (!p)
		return real.sendto(fd, buf, len, flags, addr, alen);
	if (p->family == AF_V4V)
		return v4v_sendto(fd, buf, len, flags, addr, alen);
	return v4v_send1(fd, p, buf, len, flags);
}

/* A V4V socket passed with SCM_RIGHTS is held by another process too:
 * its O_NONBLOCK may change there, unseen by us.  The program's control
 * data is read only within its buffer: a malformed one is the kernel's
 * to refuse (EINVAL), not ours to crash on. */
static void mark_passed(const struct msghdr *msg)
{
	const char *end;
	struct cmsghdr *c;

	if (!msg->msg_control || msg->msg_controllen < sizeof(*c))
		return;
	end = (const char *)msg->msg_control + msg->msg_controllen;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		size_t n;

		if (c->cmsg_len < CMSG_LEN(0) ||
		    c->cmsg_len > (size_t)(end - (const char *)c))
			return;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int pfd;

			memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (v4v_of(pfd))
				v4v_sock_passed(pfd);
		}
	}
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct pfd *p = v4v_of(fd);

	NEED();
	if (p)
		return v4v_sendmsg_tcp(fd, p, msg, flags);
	mark_passed(msg);
	return real.sendmsg(fd, msg, flags);
}

/* Several messages: as the kernel, stop at the first failure once some
 * went, and after the first with MSG_WAITFORONE. */
int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags,
	     struct timespec *timeout)
{
	struct pfd *p = v4v_of(fd);
	unsigned i;

	NEED();
	if (!p)
		return real.recvmmsg(fd, v, n, flags, timeout);
	for (i = 0; i < n; i++) {
		int f = flags & ~MSG_WAITFORONE;
		ssize_t got;

		if (i && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		got = v4v_recvmsg_tcp(fd, p, &v[i].msg_hdr, f);
		if (got < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)got;
		if (got == 0)
			return (int)i + 1;
	}
	return (int)n;
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	struct pfd *p = v4v_of(fd);
	unsigned i;

	NEED();
	if (!p) {
		for (i = 0; i < n; i++)
			mark_passed(&v[i].msg_hdr);
		return real.sendmmsg(fd, v, n, flags);
	}
	for (i = 0; i < n; i++) {
		ssize_t put = v4v_sendmsg_tcp(fd, p, &v[i].msg_hdr, flags);

		if (put < 0)
			return i ? (int)i : -1;
		v[i].msg_len = (unsigned)put;
	}
	return (int)n;
}

/* ---- sendfile and splice: straight into and out of the rings ---- */

/* A piece a file or pipe is read into: no bigger than a send's, so that
 * the reader copies one out while the next is read in. */
#define ZC_PIECE (128u * 1024u)

/* Room in the ring `fd` writes into, restarted after a handler as a send
 * would be.  EOPNOTSUPP: no ring to write (a datagram socket, or one
 * whose sends v4vd copies). */
static ssize_t zc_room(int fd, struct pfd *p, void **at, size_t max)
{
	ssize_t n;

	do {
		pl_sig_arm();
		n = v4v_send_zc(fd, at, max < ZC_PIECE ? max : ZC_PIECE,
				MSG_NOSIGNAL);
	} while (n < 0 && pl_sig_restart(p, SO_SNDTIMEO));
	return n;
}

/* No ring to write (a datagram socket), or the peer is gone (a send's
 * own rules then say whether the bytes are taken or EPIPE and SIGPIPE
 * come): go the way of a send. */
static bool by_send(ssize_t room)
{
	return room < 0 && (errno == EOPNOTSUPP || errno == EPIPE);
}

/* Read up to `room` bytes of `in` (at *off, which moves, or at its
 * position) into the ring and publish them: one copy, from the file
 * straight into the ring.  Only what was read is published, so nothing
 * read is ever lost. */
static ssize_t fill_from(int out, int in, off_t *off, void *at, size_t room)
{
	ssize_t got = off ? pread(in, at, room, *off) : real.read(in, at, room);
	int e = errno;

	v4v_send_zc_done(out, got > 0 ? (size_t)got : 0);
	if (got > 0 && off)
		*off += got;
	errno = e;
	return got;
}

/* What sendfile and splice do by_send: through a buffer. */
static ssize_t copy_through(int out, struct pfd *p, int in, off_t *off,
			    size_t count)
{
	size_t want = count < ZC_PIECE ? count : ZC_PIECE;
	char *buf = malloc(want ? want : 1);
	ssize_t got, put;

	if (!buf)
		return -1;
	got = off ? pread(in, buf, want, *off) : real.read(in, buf, want);
	put = got > 0 ? v4v_send1(out, p, buf, (size_t)got, 0) : got;
	if (got > 0 && put < got && !off) /* give unsent bytes back */
		lseek(in, (put > 0 ? put : 0) - got, SEEK_CUR);
	if (put > 0 && off)
		*off += put;
	free(buf);
	return put;
}

static ssize_t copy_file(int out, struct pfd *p, int in, off_t *off,
			 size_t count)
{
	size_t done = 0;

	while (done < count) {
		void *at;
		ssize_t room = zc_room(out, p, &at, count - done), got;

		if (by_send(room))
			got = copy_through(out, p, in, off, count - done);
		else if (room < 0)
			got = -1;
		else
			got = fill_from(out, in, off, at, (size_t)room);
		if (got <= 0) {
			if (got < 0 && !done)
				return -1;
			break;
		}
		done += (size_t)got;
	}
	return (ssize_t)done;
}

ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	struct pfd *p = v4v_of(out);

	NEED();
	return p ? copy_file(out, p, in, off, count)
		 : real.sendfile(out, in, off, count);
}

ssize_t sendfile64(int out, int in, off_t *off, size_t count)
	__attribute__((alias("sendfile")));

/* A socket with no stream ring (a datagram socket): peek into a buffer,
 * write to the pipe, then consume what the pipe took. */
static ssize_t splice_through(int in, struct pfd *p, int out, size_t len,
			      int nb)
{
	size_t want = len < ZC_PIECE ? len : ZC_PIECE;
	char *buf = malloc(want ? want : 1);
	ssize_t got, put;

	if (!buf)
		return -1;
	got = v4v_recv1(in, p, buf, want, MSG_PEEK | nb);
	put = got > 0 ? real.write(out, buf, (size_t)got) : got;
	if (put > 0)
		v4v_recv1(in, p, buf, (size_t)put, MSG_DONTWAIT);
	free(buf);
	return put;
}

/* splice from a V4V socket into a pipe: the pipe takes the bytes where
 * they lie in the ring (peeked, not handed out), and only what it took
 * is consumed, so that a short pipe write loses nothing. */
static ssize_t splice_from_v4v(int in, struct pfd *p, int out, size_t len,
			       unsigned flags)
{
	int nb = flags & SPLICE_F_NONBLOCK ? MSG_DONTWAIT : 0;
	const void *at;
	ssize_t got, put;
	int e;

	do {
		pl_sig_arm();
		got = v4v_recv_zc(in, &at, len, MSG_PEEK | nb);
	} while (got < 0 && pl_sig_restart(p, SO_RCVTIMEO));
	if (got < 0 && errno == EOPNOTSUPP)
		return splice_through(in, p, out, len, nb);
	if (got <= 0)
		return got;
	put = real.write(out, at, (size_t)got);
	e = errno;
	if (put > 0) /* peeked: consume only what the pipe took */
		v4v_recv_zc_done(in, (size_t)put);
	errno = e;
	return put;
}

/* splice from a pipe into a V4V socket: read straight into the ring.
 * Blocking on the socket: bytes taken from the pipe must not be
 * dropped, and none are taken before there is room for them. */
static ssize_t splice_to_v4v(int in, int out, struct pfd *p, size_t len,
			     unsigned flags)
{
	void *at;
	ssize_t room;

	(void)flags;
	room = zc_room(out, p, &at, len);
	if (by_send(room))
		return copy_through(out, p, in, NULL, len);
	if (room < 0)
		return -1;
	return fill_from(out, in, NULL, at, (size_t)room);
}

ssize_t splice(int in, off_t *inoff, int out, off_t *outoff, size_t len,
	       unsigned flags)
{
	struct pfd *pi = v4v_of(in), *po = v4v_of(out);

	NEED();
	if (!pi && !po)
		return real.splice(in, inoff, out, outoff, len, flags);
	if ((pi && inoff) || (po && outoff) || (pi && po)) {
		errno = ESPIPE;
		return -1;
	}
	return pi ? splice_from_v4v(in, pi, out, len, flags)
		  : splice_to_v4v(in, out, po, len, flags);
}

/* glibc's _FORTIFY_SOURCE entry points. */
extern void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
		       int flags, struct sockaddr *addr, socklen_t *alen);

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return read(fd, buf, len);
}

ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		__chk_fail();
	return recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
		       int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		__chk_fail();
	return recvfrom(fd, buf, len, flags, addr, alen);
}
