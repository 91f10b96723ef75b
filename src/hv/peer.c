/* SPDX-License-Identifier: MIT */
/*
 * Who holds the other end of a doorbell?  A ring lives until its socket's
 * other end hangs up, so a domain that handed us *both* ends of one pair
 * (as the doorbells of two rings) would keep its rings alive forever.  The
 * kernel's sock_diag interface names a unix socket's peer by inode; we
 * refuse a doorbell whose peer is one we already hold.
 */
#include "hv.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int ask(int nl, ino_t ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg),
			 .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.req = { .sdiag_family = AF_UNIX, .udiag_states = ~0u,
			 .udiag_ino = (uint32_t)ino,
			 .udiag_show = UDIAG_SHOW_PEER,
			 .udiag_cookie = { ~0u, ~0u } },
	};

	return send(nl, &msg, sizeof(msg), 0) == sizeof(msg) ? 0 : -errno;
}

/* The peer's inode from a unix_diag reply; 0 if it has none. */
static ino_t parse(const void *buf, ssize_t len)
{
	const struct nlmsghdr *h = buf;

	for (; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
		const struct unix_diag_msg *m = NLMSG_DATA(h);
		const struct rtattr *a;
		int alen;

		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			return 0;
		a = (const struct rtattr *)(m + 1);
		alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
		for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
			if (a->rta_type == UNIX_DIAG_PEER)
				return *(const uint32_t *)RTA_DATA(a);
	}
	return 0;
}

int hv_unix_peer(int fd, ino_t *peer)
{
	uint32_t buf[1024];
	struct stat st;
	ssize_t n;
	int nl, rc;

	*peer = 0;
	if (fstat(fd, &st))
		return -errno;
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	rc = ask(nl, st.st_ino);
	if (!rc) {
		n = recv(nl, buf, sizeof(buf), 0);
		if (n > 0)
			*peer = parse(buf, n);
		else
			rc = n < 0 ? -errno : -EIO;
	}
	close(nl);
	return rc;
}
