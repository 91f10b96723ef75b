/* SPDX-License-Identifier: MIT */
#include "raw.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int raw_dial(struct raw *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	r->seq = 0;
	r->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		 getenv(V4VP_SOCKET_ENV));
	return connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
}

/* Send raw bytes as one packet with any number of descriptors (the
 * library's sender refuses more than V4VP_MAX_FDS). */
int raw_bytes(struct raw *r, const void *buf, size_t len,
	      const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 8)
		return -EINVAL;
	if (nfds > 0) {
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
	n = sendmsg(r->fd, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? RAW_EOF : -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

/* A request with header `op`, any body and payload, as given. */
int raw_send(struct raw *r, uint16_t op, const void *body, size_t len,
	     const void *payload, size_t plen, const int *fds, int nfds)
{
	struct v4vp_hdr h;
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)body, len },
				{ (void *)payload, plen } };
	int rc;

	r->op = op;
	v4vp_hdr_init(&h, op, ++r->seq, 0);
	rc = v4vp_sendv(r->fd, iov, 3, fds, nfds, 0);
	return rc == -EPIPE || rc == -ECONNRESET ? RAW_EOF : rc;
}

/* The reply to the last request: its status, or one of RAW_*.  An error
 * reply is a bare header even for an op this build does not know. */
int raw_reply(struct raw *r, void *rep, size_t replen, int *rfd)
{
	uint8_t buf[V4VP_MAX_PACKET];
	struct pollfd p = { .fd = r->fd, .events = POLLIN };
	int fds[V4VP_MAX_FDS], nfds = 0;
	struct v4vp_hdr h;
	ssize_t n;

	if (rfd)
		*rfd = -1;
	if (poll(&p, 1, 3000) != 1)
		return RAW_TIMEOUT;
	n = v4vp_recv(r->fd, buf, sizeof(buf), fds, &nfds, 0);
	if (n == 0 || n == -ECONNRESET)
		return RAW_EOF;
	if (n < (ssize_t)sizeof(h))
		return RAW_BAD;
	for (int i = 0; i < nfds; i++) {
		if (rfd && *rfd < 0)
			*rfd = fds[i];
		else
			close(fds[i]);
	}
	memcpy(&h, buf, sizeof(h));
	if (h.magic != V4VP_MAGIC || h.version != V4VP_VERSION ||
	    h.op != r->op || h.seq != r->seq)
		return RAW_BAD;
	if (h.status < 0)
		return n == sizeof(h) ? h.status : RAW_BAD;
	if (v4vp_check_reply(buf, (size_t)n))
		return RAW_BAD;
	if (rep) {
		size_t body = (size_t)n - sizeof(h);

		memcpy(rep, buf + sizeof(h), body < replen ? body : replen);
	}
	return h.status;
}

int raw_call(struct raw *r, uint16_t op, const void *body, size_t len,
	     const int *fds, int nfds, void *rep, size_t replen)
{
	int rc = raw_send(r, op, body, len, NULL, 0, fds, nfds);

	return rc ? rc : raw_reply(r, rep, replen, NULL);
}

/* HELLO; a NEW domain's capability lands in *cap (if cap is not NULL). */
int raw_hello(struct raw *r, uint32_t flags, const int *fds, int nfds,
	      v4v_domid_t *domid, int *cap)
{
	struct v4vp_hello req = { .flags = flags };
	struct v4vp_hello_reply rep = { .domid = V4V_DOMID_INVALID };
	int rc = raw_send(r, V4VP_HELLO, &req, sizeof(req), NULL, 0, fds,
			  nfds);
	int got = -1;

	if (!rc)
		rc = raw_reply(r, &rep, sizeof(rep), &got);
	if (domid)
		*domid = rep.domid;
	if (cap)
		*cap = got;
	else if (got >= 0)
		close(got);
	return rc;
}

int raw_send_msg(struct raw *r, uint32_t handle, v4v_domid_t domid,
		 uint32_t port, const void *data, uint32_t len)
{
	struct v4vp_send s = { .handle = handle, .message_type = MT_DGRAM,
			       .dst = { .port = port, .domid = domid },
			       .len = len };
	int rc = raw_send(r, V4VP_SEND, &s, sizeof(s), data, len, NULL, 0);

	return rc ? rc : raw_reply(r, NULL, 0, NULL);
}
