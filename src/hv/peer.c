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

static int ask(int nl, ino_t ino, uint32_t seq)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg = {
		.nlh = { .nlmsg_len = sizeof(msg),
			 .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST,
			 .nlmsg_seq = seq },
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

/*
 * v4vd's own network namespace, and a sock_diag socket in it: asked about
 * every doorbell, so made once, not per registration (a path walk through
 * /proc and a netlink socket each cost v4vd about a tenth of its time per
 * connection).  The loop's thread alone asks, and it always returns home.
 */
static struct {
	bool known;
	dev_t dev;
	ino_t ino;
	int nl;
	uint32_t seq;
} here = { .nl = -1 };

static void know_home(void)
{
	struct stat st;

	if (!here.known && !stat(HOME_NS, &st)) {
		here.dev = st.st_dev;
		here.ino = st.st_ino;
		here.known = true;
	}
}

static int home_socket(void)
{
	if (here.nl < 0)
		here.nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
				 NETLINK_SOCK_DIAG);
	return here.nl;
}

/* At start: from then on v4vd holds as many descriptors idle as busy. */
void hv_peer_init(void)
{
	know_home();
	home_socket();
}

/* Is ns (a namespace descriptor) our thread's own network namespace? */
static bool at_home(int ns)
{
	struct stat st;

	know_home();
	return here.known && !fstat(ns, &st) && st.st_ino == here.ino &&
	       st.st_dev == here.dev;
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

/* A sock_diag socket in fd's network namespace; *kept: it is the home
 * one, not to be closed. */
static int diag_socket(int fd, bool *kept)
{
	int ns = ioctl(fd, SIOCGSKNS), nl, e;

	*kept = ns < 0 || at_home(ns);
	if (*kept) {
		if (ns >= 0)
			close(ns);
		return home_socket();
	}
	nl = diag_socket_in(ns);
	e = errno;
	close(ns);
	errno = e;
	return nl;
}

/* The reply to request seq (a kept socket may hold one to an earlier
 * request that failed half-way). */
static ssize_t reply(int nl, uint32_t seq, uint32_t *buf, size_t len)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = recv(nl, buf, len, 0);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		if ((size_t)n >= sizeof(struct nlmsghdr) &&
		    ((const struct nlmsghdr *)buf)->nlmsg_seq == seq)
			return n;
	}
	return -EIO;
}

int hv_unix_peer(int fd, ino_t *peer)
{
	uint32_t buf[1024], seq = ++here.seq;
	struct stat st;
	bool kept;
	ssize_t n;
	int nl, rc;

	*peer = 0;
	if (fstat(fd, &st))
		return -errno;
	nl = diag_socket(fd, &kept);
	if (nl < 0)
		return -errno;
	rc = ask(nl, st.st_ino, seq);
	if (!rc) {
		n = reply(nl, seq, buf, sizeof(buf));
		if (n < 0)
			rc = (int)n;
		else if (((const struct nlmsghdr *)buf)->nlmsg_type ==
			 NLMSG_ERROR)
			rc = -ENOENT; /* not a socket it can see */
		else
			*peer = parse(buf, n);
	}
	if (!kept || (rc && rc != -ENOENT)) {
		close(nl);
		if (kept)
			here.nl = -1; /* a fresh one next time */
	}
	return rc;
}
