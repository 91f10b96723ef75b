/* SPDX-License-Identifier: MIT */
/*
 * Control packets on a SOCK_SEQPACKET socket, with file descriptors passed
 * as SCM_RIGHTS.  Both ends use these two functions; the receive side closes
 * every descriptor it cannot account for, so a hostile peer cannot make us
 * leak descriptors.
 */
#include "proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMSG_ROOM CMSG_SPACE(sizeof(int) * 8)

int v4vp_sendv(int sock, const struct iovec *iov, int iovcnt, const int *fds,
	       int nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * V4VP_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_iov = (struct iovec *)iov,
		.msg_iovlen = (size_t)iovcnt,
	};
	size_t want = 0;
	ssize_t n;

	if (nfds < 0 || nfds > V4VP_MAX_FDS)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == want ? 0 : -EMSGSIZE;
}

/* Take every descriptor out of the control data: keep up to V4VP_MAX_FDS
 * in fds[], close the rest.  Returns -EPROTO if any had to be closed. */
static int take_fds(struct msghdr *mh, int *fds, int *nfds)
{
	int rc = 0;

	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (fds && *nfds < V4VP_MAX_FDS) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				rc = -EPROTO;
			}
		}
	}
	return rc;
}

static void close_fds(int *fds, int *nfds)
{
	for (int i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
}

ssize_t v4vp_recv(int sock, void *buf, size_t len, int *fds, int *nfds,
		  int flags)
{
	union {
		char buf[CMSG_ROOM];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	int dummy, rc;
	ssize_t n;

	if (!nfds)
		nfds = &dummy;
	*nfds = 0;
	do {
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rc = take_fds(&mh, fds, nfds);
	if (rc || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	/* An empty packet reads as the end of the connection, and callers
	 * stop there: descriptors sent with it would leak. */
	if (n == 0)
		close_fds(fds, nfds);
	return n;
}
