/* SPDX-License-Identifier: MIT */
/*
 * Who holds the other end of a doorbell?  A ring lives until its socket's
 * other end hangs up, so a domain that handed us *both* ends of one pair
 * (as the doorbells of two rings) would keep its rings alive forever.  The
 * kernel's sock_diag interface names a unix socket's peer by inode; we
 * refuse a doorbell whose peer is one we already hold.
 *
 * sock_diag answers only about sockets of its own network namespace, so
 * the question is asked in the doorbell's (SIOCGSKNS): a domain in a
 * namespace of its own could otherwise hand us both ends of a pair
 * unseen.
 */
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

#define HOME_NS "/proc/thread-self/ns/net"

/* Is ns (a namespace descriptor) our thread's own network namespace? */
static bool at_home(int ns)
{
	struct stat st, home;

	return !fstat(ns, &st) && !stat(HOME_NS, &home) &&
	       st.st_ino == home.st_ino && st.st_dev == home.st_dev;
}

/* A sock_diag socket made in namespace ns, then back home. */
static int diag_socket_in(int ns)
{
	int home = open(HOME_NS, O_RDONLY | O_CLOEXEC), nl, e;

	if (home < 0)
		return -1;
	if (setns(ns, CLONE_NEWNET)) {
		e = errno;
		close(home);
		errno = e;
		return -1;
	}
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	e = errno;
	/* Every later socket of this thread would be made over there. */
	if (setns(home, CLONE_NEWNET)) {
		hv_log(HV_LOG_ERR, "cannot return to v4vd's network "
		       "namespace: %s", strerror(errno));
		abort();
	}
	close(home);
	errno = e;
	return nl;
}

/* A sock_diag socket in fd's network namespace. */
static int diag_socket(int fd)
{
	int ns = ioctl(fd, SIOCGSKNS), nl, e;

	if (ns < 0 || at_home(ns)) {
		if (ns >= 0)
			close(ns);
		return socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
			      NETLINK_SOCK_DIAG);
	}
	nl = diag_socket_in(ns);
	e = errno;
	close(ns);
	errno = e;
	return nl;
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
	nl = diag_socket(fd);
	if (nl < 0)
		return -errno;
	rc = ask(nl, st.st_ino);
	if (!rc) {
		n = recv(nl, buf, sizeof(buf), 0);
		if (n <= 0)
			rc = n < 0 ? -errno : -EIO;
		else if (((const struct nlmsghdr *)buf)->nlmsg_type ==
			 NLMSG_ERROR)
			rc = -ENOENT; /* not a socket it can see */
		else
			*peer = parse(buf, n);
	}
	close(nl);
	return rc;
}
