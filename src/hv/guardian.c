/* SPDX-License-Identifier: MIT */
/*
 * The guardian: a child process of v4vd that outlives it, so that a
 * v4vd killed outright (SIGKILL, a crash) still ends every connection
 * and wakes every socket, as a clean exit does (hv_shutdown).
 *
 * Why a process: the domains cannot see v4vd die.  Each socket's
 * doorbell has other holders (the socket itself, its peers), so v4vd's
 * end closing is no event, and a process asleep in poll on a listener
 * would wait for ever.  The guardian holds what hv_shutdown needs: each
 * ring's doorbell and, for stream rings, the ring's shared header.  It
 * reads v4vd's reports of them from a socket pair; when the pair ends
 * (v4vd is gone, whatever the reason), it sets the reset flags of every
 * linked ring, shuts every doorbell down, and exits.
 *
 * v4vd reports before it answers the domain, so no ring is ever live
 * without the guardian knowing it.  The guardian never writes to v4vd:
 * v4vd's sends to it are the only coupling, and if it dies v4vd logs it
 * and goes on unguarded.
 */
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum { G_WATCH = 1, G_FORGET = 2 };
enum { G_BELL = 1, G_MEM = 2 }; /* which descriptors come with a WATCH */

struct g_msg {
	uint32_t op;
	uint32_t handle;
	uint32_t linked;
	uint32_t fds;
};

struct g_ring {
	struct hnode by_handle;
	int bell;
	struct v4v_ring_shared *sh;
	bool linked;
};

static struct htab rings;

static struct g_ring *find(uint32_t handle)
{
	struct hnode *n = htab_find(&rings, handle);

	return n ? container_of(n, struct g_ring, by_handle) : NULL;
}

static void drop(struct g_ring *g)
{
	htab_del(&rings, &g->by_handle);
	if (g->bell >= 0)
		close(g->bell);
	if (g->sh)
		munmap(g->sh, sizeof(*g->sh));
	free(g);
}

static void watch(const struct g_msg *m, const int *fds, int nfds)
{
	struct g_ring *g = find(m->handle);
	int i = 0;

	if (!g) {
		g = calloc(1, sizeof(*g));
		if (!g) {
			hv_log(HV_LOG_ERR, "guardian: out of memory: ring %u "
			       "unguarded", m->handle);
			goto out;
		}
		g->bell = -1;
		htab_add(&rings, &g->by_handle, m->handle);
	}
	g->linked = m->linked;
	if ((m->fds & G_BELL) && i < nfds) {
		if (g->bell >= 0)
			close(g->bell);
		g->bell = fds[i++];
	}
	if ((m->fds & G_MEM) && i < nfds) {
		/* The header is all we write; the memfd itself is not kept. */
		void *p = mmap(NULL, sizeof(*g->sh), PROT_READ | PROT_WRITE,
			       MAP_SHARED, fds[i], 0);

		close(fds[i++]);
		if (p != MAP_FAILED) {
			if (g->sh)
				munmap(g->sh, sizeof(*g->sh));
			g->sh = p;
		}
	}
out:
	while (i < nfds)
		close(fds[i++]);
}

/* What hv_shutdown does, for what v4vd left behind. */
static void v4vd_gone(void)
{
	unsigned n = 0;

	for (size_t b = 0; b < rings.nbuckets; b++)
		for (struct hnode *h = rings.b[b]; h; h = h->next) {
			struct g_ring *g =
				container_of(h, struct g_ring, by_handle);

			if (g->linked && g->sh) {
				__atomic_fetch_or(&g->sh->rx_flags,
						  V4V_RING_RX_CLOSED,
						  __ATOMIC_SEQ_CST);
				__atomic_fetch_or(&g->sh->tx_flags,
						  V4V_RING_TX_RST |
							  V4V_RING_TX_GONE,
						  __ATOMIC_SEQ_CST);
			}
			if (g->bell >= 0)
				shutdown(g->bell, SHUT_RDWR);
			n++;
		}
	if (n)
		hv_log(HV_LOG_WARN, "guardian: v4vd ended without releasing "
		       "%u rings: their sockets are reset", n);
}

__attribute__((noreturn)) static void guardian_main(int fd)
{
	struct g_msg m;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;

	/* Only the end of v4vd ends the guardian: a ^C to the terminal's
	 * process group must not take it before v4vd's clean exit. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	prctl(PR_SET_NAME, "v4vd-guardian");
	if (htab_init(&rings, 1024))
		_exit(1);
	for (;;) {
		struct iovec iov = { &m, sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cm.buf,
				     .msg_controllen = sizeof(cm.buf) };
		int fds[2], nfds = 0;
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		struct cmsghdr *c;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS) {
				nfds = (int)((c->cmsg_len - CMSG_LEN(0)) /
					     sizeof(int));
				memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
			}
		if (mh.msg_flags & MSG_CTRUNC)
			hv_log(HV_LOG_ERR, "guardian: out of descriptors: "
			       "ring %u unguarded", m.handle);
		if (n == sizeof(m) && m.op == G_WATCH) {
			watch(&m, fds, nfds);
		} else {
			struct g_ring *g = find(m.handle);

			while (nfds)
				close(fds[--nfds]);
			if (n == sizeof(m) && m.op == G_FORGET && g)
				drop(g);
		}
	}
	v4vd_gone();
	_exit(0);
}

int hv_guardian_start(struct hv *hv)
{
	int sv[2];
	pid_t pid;

	hv->guardian = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		/* Nothing of v4vd's but the pair and a foreground v4vd's
		 * standard error: a start-up pipe or a terminal held here
		 * would outlive v4vd. */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (dup2(sv[1], 3) < 0)
			_exit(1);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			if (!hv->cfg.foreground || hv->cfg.use_syslog)
				dup2(null, 2);
		}
		close_range(4, ~0u, 0);
		guardian_main(3);
	}
	close(sv[1]);
	hv->guardian = sv[0];
	return 0;
}

static void send_to_guardian(struct hv *hv, const struct g_msg *m,
			     const int *fds, int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (hv->guardian < 0)
		return;
	if (nfds) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	/* Blocking: the guardian only ever reads, so this waits at most for
	 * it to take the previous reports. */
	while (sendmsg(hv->guardian, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		hv_log(HV_LOG_ERR, "guardian gone (%s): a killed v4vd will not "
		       "reset its domains' sockets", strerror(errno));
		close(hv->guardian);
		hv->guardian = -1;
		return;
	}
}

void hv_guardian_watch(struct hv *hv, struct hv_ring *r)
{
	struct g_msg m = { G_WATCH, r->handle,
			   r->state == HV_RING_LINKED, 0 };
	int fds[2], n = 0;

	if (r->bell >= 0 && !r->guarded_bell) {
		fds[n++] = r->bell;
		m.fds |= G_BELL;
		r->guarded_bell = true;
	}
	if (r->memfd >= 0 && !r->guarded_mem) {
		fds[n++] = r->memfd;
		m.fds |= G_MEM;
		r->guarded_mem = true;
	}
	send_to_guardian(hv, &m, fds, n);
}

void hv_guardian_forget(struct hv *hv, struct hv_ring *r)
{
	struct g_msg m = { G_FORGET, r->handle, 0, 0 };

	send_to_guardian(hv, &m, NULL, 0);
}
