/* SPDX-License-Identifier: MIT */
/*
 * v4v cat without -u: a byte stream between standard input/output and one
 * V4V stream connection, like ncat.  The V4V socket is a kernel descriptor,
 * so one poll(2) watches it and standard input together.
 */
#include "tool.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "v4v/socket.h"

static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t k = write(fd, buf, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Copy both ways until both directions have ended: input read to its
 * end (then the sending side is shut down) and the peer's side ended.
 * With a terminal on standard input, the peer's end alone ends it. */
static int relay(int fd)
{
	static char buf[65536];
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
			       { .fd = 0, .events = POLLIN } };
	bool in_open = true, peer_open = true;

	while (in_open || peer_open) {
		ssize_t k;

		p[0].fd = peer_open ? fd : -1;
		p[1].fd = in_open ? 0 : -1;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 1;
		if (p[0].revents) {
			k = v4v_recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (k == 0) {
				peer_open = false;
				if (isatty(0))
					return 0;
				continue;
			}
			if (k < 0 && errno != EAGAIN) {
				tool_err("receive", -errno);
				return 1;
			}
			if (k > 0 && write_all(1, buf, (size_t)k))
				return 1;
		}
		if (p[1].revents) {
			k = read(0, buf, sizeof(buf));
			if (k <= 0) {
				/* End of input: half-close, keep reading. */
				v4v_shutdown(fd, SHUT_WR);
				in_open = false;
			} else if (v4v_send(fd, buf, (size_t)k, MSG_NOSIGNAL) !=
				   k) {
				tool_err("send", -errno);
				return 1;
			}
		}
	}
	return 0;
}

int cat_stream_listen(uint32_t port, bool verbose)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = port }, peer;
	socklen_t len = sizeof(peer);
	int l = cat_open(SOCK_STREAM), c, rc;

	if (v4v_bind(l, (struct sockaddr *)&me, sizeof(me)) ||
	    v4v_listen(l, 1)) {
		tool_err("listen", -errno);
		return 1;
	}
	if (verbose) {
		len = sizeof(me);
		v4v_getsockname(l, (struct sockaddr *)&me, &len);
		fprintf(stderr, "v4v cat: listening on %u:%u\n", me.v4v_domid,
			me.v4v_port);
		len = sizeof(peer);
	}
	c = v4v_accept(l, (struct sockaddr *)&peer, &len);
	if (c < 0) {
		tool_err("accept", -errno);
		return 1;
	}
	if (verbose)
		fprintf(stderr, "v4v cat: connection from %u:%u\n",
			peer.v4v_domid, peer.v4v_port);
	v4v_close(l);
	rc = relay(c);
	v4v_close(c);
	return rc;
}

int cat_stream_connect(const struct sockaddr_v4v *to)
{
	int fd = cat_open(SOCK_STREAM), rc;

	if (v4v_connect(fd, (const struct sockaddr *)to, sizeof(*to))) {
		int e = errno;

		tool_err("connect", -e);
		if (e == ECONNREFUSED)
			fprintf(stderr, "v4v cat: nothing listens there, or "
				"viptables rejected it\n");
		return 1;
	}
	rc = relay(fd);
	v4v_close(fd);
	return rc;
}
