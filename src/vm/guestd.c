/* SPDX-License-Identifier: MIT */
/*
 * v4v-guestd: the V4V agent of a QEMU guest.  It is, for the guest's
 * processes, what v4vd is for host processes: it listens on the control
 * socket (/run/v4v/v4vd.sock) and speaks the same protocol, so libv4v,
 * `v4v cat` and `v4v run` work unchanged in the guest.  Behind it is
 * the VM link (src/vm/region.h): each process's connection becomes a
 * channel to v4vd, its packets go through the region's control rings
 * unchanged, and what cannot cross the VM boundary is translated here:
 *
 *   descriptors   a REGISTER's memfd is dropped (v4vd puts the ring in
 *                 the region and says where); its doorbell stays here;
 *                 the reply carries the region (the ivshmem BAR) for the
 *                 process to map at the offset v4vd gave
 *   doorbells     v4vd's BELL for a ring becomes a token in that
 *                 socket's doorbell; a doorbell the process hung up (its
 *                 socket is closed, in every process) unregisters the ring
 *   HELLO         every process is the VM's domain: JOIN and a name are
 *                 moot; the capability handed out is a socket of ours,
 *                 so that `v4v run` and fork work as on a host
 *
 * The agent trusts v4vd; it does not trust the guest's processes more
 * than v4vd does (it forwards, v4vd validates).  With vfio in the guest
 * (guest_irq.c) the agent arms the host-to-guest ring and sleeps until
 * v4vd's interrupt; without, it polls that ring: every millisecond while
 * traffic is recent, every 20 ms when idle.  One thread, one epoll set.
 */
#include "vm/guest.h"
#include "proto/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define AGENT_SEQ 0x80000000u	/* our own requests: replies stay here */
/* More bytes than this on a doorbell is a fill, not tokens (a token is
 * one byte, and a sender makes one per arm of its queue). */
#define FILL_MIN 64
enum { EV_LISTEN = 1, EV_CHAN, EV_BELL, EV_IRQ };

struct chan {
	int fd;			/* the process's connection; -1: free */
	int pending_bell;	/* of the REGISTER or ACCEPT in flight */
	uint32_t pending_handle; /* ACCEPT: the ring it takes */
};

struct bell {
	int fd;			/* the v4vd end of a socket's doorbell */
	uint32_t chan, handle;
	bool filled;		/* its sender's fill stays until ROOM */
	bool room_owed;		/* a ROOM came before we saw the fill */
};

static struct v4v_guest g;
static int epfd, lfd, region_fd = -1;
/* BAR0, handed to every process with HELLO's reply: libv4v rings v4vd
 * through its doorbell register itself for its transmit queues (a kick),
 * instead of through a token this agent would have to wake for. */
static int regs_fd = -1;
/* What HELLO hands out as the domain's capability (`v4v run` passes it
 * on, a child after fork comes back with it): every process here is the
 * VM's domain anyway, so it only has to be a socket. */
static int cap_give = -1;
static struct chan chans[V4V_VM_MAX_CHANS];
static struct bell *bells;
static uint32_t nbells;
static uint8_t pkt[V4VP_MAX_PACKET] __attribute__((aligned(16)));
static uint32_t agent_seq;
static int verbose;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("v4v-guestd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void watch_op(int op, int fd, uint32_t kind, uint32_t idx,
		     uint32_t events)
{
	struct epoll_event e = { .events = events,
				 .data.u64 = (uint64_t)kind << 32 | idx };

	epoll_ctl(epfd, op, fd, &e);
}

static void watch(int fd, uint32_t kind, uint32_t idx, uint32_t events)
{
	watch_op(EPOLL_CTL_ADD, fd, kind, idx, events);
}

static void watch_mod(int fd, uint32_t kind, uint32_t idx, uint32_t events)
{
	watch_op(EPOLL_CTL_MOD, fd, kind, idx, events);
}

/* To v4vd, waiting a while if its ring is full. */
static int put(uint32_t type, uint32_t ch, const struct iovec *iov, int n)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct timespec ts = { 0, 1000000 };
		int rc = v4v_guest_put(&g, type, ch, iov, n);

		if (rc != -EAGAIN)
			return rc;
		nanosleep(&ts, NULL);
	}
	return -EAGAIN;
}

/* ---- doorbells ---- */

static void bell_free(struct bell *b)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, b->fd, NULL);
	close(b->fd);
	b->fd = -1;
}

static int bell_add(int fd, uint32_t ch, uint32_t handle)
{
	uint32_t i;

	for (i = 0; i < nbells && bells[i].fd >= 0; i++)
		;
	if (i == nbells) {
		struct bell *nb = realloc(bells, (nbells + 16) * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		bells = nb;
		for (uint32_t j = nbells; j < nbells + 16; j++)
			bells[j].fd = -1;
		nbells += 16;
	}
	bells[i] = (struct bell){ fd, ch, handle, false, false };
	watch(fd, EV_BELL, i, EPOLLIN | EPOLLRDHUP);
	return 0;
}

/* One fill's worth, up to a short read, as v4vd empties a host sender's:
 * what comes after is the sender's next fill. */
static void drain_fill(struct bell *b)
{
	char buf[8192];

	while (recv(b->fd, buf, sizeof(buf), MSG_DONTWAIT) ==
	       (ssize_t)sizeof(buf))
		;
}

static struct bell *bell_find(uint32_t ch, uint32_t handle)
{
	for (uint32_t i = 0; i < nbells; i++)
		if (bells[i].fd >= 0 && bells[i].chan == ch &&
		    bells[i].handle == handle)
			return &bells[i];
	return NULL;
}

/* The process's socket is gone: so is its ring (as on a host, where
 * v4vd sees this hang-up itself). */
static void bell_event(uint32_t i, uint32_t events)
{
	struct bell *b = &bells[i];
	char tok[64];

	if (b->fd < 0)
		return;
	bool rang = false;
	int queued = 0;

	if (ioctl(b->fd, FIONREAD, &queued))
		queued = 0;
	if (b->filled && queued <= FILL_MIN) {
		/* The sender found room itself and emptied its fill. */
		b->filled = false;
		watch_mod(b->fd, EV_BELL, i, EPOLLIN | EPOLLRDHUP);
	}
	if (b->filled) {
		/* Something new behind the fill (edge-triggered): a token,
		 * for a queue the engine may have armed meanwhile. */
		rang = true;
	} else if (queued > FILL_MIN) {
		/* The fill of a sender waiting for room (more than tokens):
		 * it stays, so the sender stays unwritable until v4vd says
		 * ROOM (the room came).  Emptying it now would wake the
		 * sender with no room, again and again.  Meanwhile we hear
		 * only what comes after it. */
		if (b->room_owed) {
			b->room_owed = false;
			drain_fill(b);
		} else {
			b->filled = true;
			watch_mod(b->fd, EV_BELL, i,
				  EPOLLIN | EPOLLRDHUP | EPOLLET);
		}
		rang = true;
	} else {
		/* A strict sender's token (its queue has data): v4vd's to
		 * see, on its end of the ring's doorbell.  Many tokens are
		 * one BELL.  The descriptor is the process's and blocking: a
		 * read past the last token would stop this agent, and every
		 * guest process with it, until the next. */
		while (recv(b->fd, tok, sizeof(tok), MSG_DONTWAIT) > 0)
			rang = true;
	}
	if (rang && chans[b->chan].fd >= 0) {
		struct iovec iov = { &b->handle, sizeof(b->handle) };

		put(V4V_VMC_BELL, b->chan, &iov, 1);
	}
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		struct v4vp_hdr h;
		struct v4vp_handle u = { .handle = b->handle };
		struct iovec iov[2] = { { &h, sizeof(h) }, { &u, sizeof(u) } };

		v4vp_hdr_init(&h, V4VP_UNREGISTER, AGENT_SEQ | ++agent_seq, 0);
		if (chans[b->chan].fd >= 0)
			put(V4V_VMC_PKT, b->chan, iov, 2);
		bell_free(b);
	}
}

/* ---- channels ---- */

static void chan_close(uint32_t ch, bool tell)
{
	struct chan *c = &chans[ch];

	if (c->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->pending_bell >= 0)
		close(c->pending_bell);
	c->pending_bell = -1;
	for (uint32_t i = 0; i < nbells; i++)
		if (bells[i].fd >= 0 && bells[i].chan == ch)
			bell_free(&bells[i]);
	if (tell)
		put(V4V_VMC_CLOSE, ch, NULL, 0);
	if (verbose)
		say("channel %u closed", ch);
}

static void accept_one(void)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	uint32_t ch;

	if (fd < 0)
		return;
	for (ch = 0; ch < V4V_VM_MAX_CHANS && chans[ch].fd >= 0; ch++)
		;
	if (ch == V4V_VM_MAX_CHANS || put(V4V_VMC_OPEN, ch, NULL, 0)) {
		say("refusing a connection: no channel left");
		close(fd);
		return;
	}
	chans[ch] = (struct chan){ fd, -1, 0 };
	watch(fd, EV_CHAN, ch, EPOLLIN);
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* A packet from a process: its descriptors handled here, the rest on. */
static void chan_input(uint32_t ch)
{
	struct chan *c = &chans[ch];

	for (int budget = 16; budget > 0 && c->fd >= 0; budget--) {
		int fds[V4VP_MAX_FDS], nfds = 0;
		ssize_t n = v4vp_recv(c->fd, pkt, sizeof(pkt), fds, &nfds,
				      MSG_DONTWAIT);
		struct v4vp_hdr h;
		struct iovec iov;

		if (n == -EAGAIN)
			return;
		if (n <= 0 || (size_t)n < sizeof(h)) {
			close_fds(fds, nfds);
			chan_close(ch, true);
			return;
		}
		memcpy(&h, pkt, sizeof(h));
		if (h.op == V4VP_HELLO && (size_t)n == sizeof(h) +
		    sizeof(struct v4vp_hello)) {
			struct v4vp_hello *hello = (void *)(pkt + sizeof(h));

			hello->flags = V4VP_HELLO_NEW;
			memset(hello->name, 0, sizeof(hello->name));
		} else if (h.op == V4VP_REGISTER && nfds == 2) {
			if (c->pending_bell >= 0)
				close(c->pending_bell);
			c->pending_bell = fds[1];
			fds[1] = -1;
		} else if (h.op == V4VP_ACCEPT && nfds == 1 && (size_t)n ==
			   sizeof(h) + sizeof(struct v4vp_accept)) {
			struct v4vp_accept a;

			memcpy(&a, pkt + sizeof(h), sizeof(a));
			if (c->pending_bell >= 0)
				close(c->pending_bell);
			c->pending_bell = fds[0];
			c->pending_handle = a.handle;
			fds[0] = -1;
		}
		close_fds(fds, nfds);
		iov = (struct iovec){ pkt, (size_t)n };
		if (put(V4V_VMC_PKT, ch, &iov, 1)) {
			chan_close(ch, true);
			return;
		}
	}
}

/* ---- from v4vd ---- */

static void reply(uint32_t ch, size_t len)
{
	struct chan *c = &chans[ch];
	struct v4vp_hdr h;
	struct iovec iov = { pkt, len };
	int fd[2] = { -1, regs_fd }, nfd = 1;

	if (c->fd < 0 || len < sizeof(h))
		return;
	memcpy(&h, pkt, sizeof(h));
	if (h.seq & AGENT_SEQ)
		return; /* our UNREGISTER's answer */
	if (h.op == V4VP_HELLO && h.status == 0) {
		fd[0] = cap_give;
		nfd = regs_fd >= 0 ? 2 : 1;
	}
	if ((h.op == V4VP_REGISTER || h.op == V4VP_ACCEPT) &&
	    c->pending_bell >= 0) {
		uint32_t handle = c->pending_handle;
		struct v4vp_register_reply r;

		if (h.op == V4VP_REGISTER && len == sizeof(h) + sizeof(r)) {
			memcpy(&r, pkt + sizeof(h), sizeof(r));
			handle = r.handle;
		}
		/* The ring's memory is the region: the reply carries it, for
		 * the process to map at the offset v4vd gave. */
		if (h.status == 0 && !bell_add(c->pending_bell, ch, handle))
			fd[0] = region_fd;
		else
			close(c->pending_bell);
		c->pending_bell = -1;
	}
	if (v4vp_sendv(c->fd, &iov, 1, fd, fd[0] >= 0 ? nfd : 0, MSG_DONTWAIT))
		chan_close(ch, true);
}

/* The bell a BELL, HUP or ROOM of v4vd's (in pkt) names, or NULL. */
static struct bell *named_bell(uint32_t ch, size_t len)
{
	uint32_t handle;

	if (len != sizeof(handle))
		return NULL;
	memcpy(&handle, pkt, sizeof(handle));
	return bell_find(ch, handle);
}

/* v4vd rang a socket's doorbell, or shut it down (its peer went).  Both
 * are a token here: the ring's flags say the rest, and the socket must
 * live on until its process closes it (its hang-up is how we learn
 * that), so we cannot shut it down as v4vd shuts a host socket. */
static void ring_bell(uint32_t ch, size_t len)
{
	struct bell *b = named_bell(ch, len);

	if (b)
		send(b->fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* v4vd's ROOM: the room a filled sender waits for came.  One that comes
 * before we saw the fill (the sender fills, then says it waits, and
 * v4vd may answer before this agent looks) is kept for the fill. */
static void room(uint32_t ch, size_t len)
{
	struct bell *b = named_bell(ch, len);

	if (!b)
		return;
	if (!b->filled) {
		b->room_owed = true;
		return;
	}
	drain_fill(b);
	b->filled = false;
	watch_mod(b->fd, EV_BELL, (uint32_t)(b - bells), EPOLLIN | EPOLLRDHUP);
}

static void reset_all(void)
{
	for (uint32_t ch = 0; ch < V4V_VM_MAX_CHANS; ch++)
		chan_close(ch, false);
}

static int attach(void)
{
	int rc;

	reset_all();
	while ((rc = v4v_guest_attach(&g, 30000)) == -ETIMEDOUT)
		say("v4vd does not answer; is this VM declared (v4vd --vm)?");
	if (rc)
		say("attach: %s", strerror(-rc));
	else
		say("attached: domain %u (%.*s)", g.hdr->domid, V4V_NAME_MAX,
		    g.hdr->name);
	return rc;
}

/* Everything v4vd has for us; true if there was anything. */
static bool host_input(void)
{
	bool any = false;

	for (;;) {
		uint32_t type, ch;
		size_t len;
		int rc = v4v_guest_get(&g, &type, &ch, pkt, sizeof(pkt), &len,
				       0);

		if (rc == 0)
			return any;
		if (rc < 0 || len > sizeof(pkt) || ch >= V4V_VM_MAX_CHANS) {
			say("the link is broken: attaching again");
			attach();
			return true;
		}
		any = true;
		if (verbose > 1)
			say("from v4vd: type %u channel %u, %zu bytes", type, ch,
			    len);
		if (type == V4V_VMC_PKT)
			reply(ch, len);
		else if (type == V4V_VMC_BELL || type == V4V_VMC_HUP)
			ring_bell(ch, len);
		else if (type == V4V_VMC_ROOM)
			room(ch, len);
		else if (type == V4V_VMC_CLOSE)
			chan_close(ch, false);
	}
}

/* Interrupts if the guest can have them, else polling: say which. */
static void irq_setup(void)
{
	const char *why;
	int rc = v4v_guest_irq_open(&g, &why);

	if (rc) {
		say("no interrupts from v4vd (%s: %s): polling every 1 to "
		    "20 ms", why, strerror(-rc));
		return;
	}
	watch(g.irq, EV_IRQ, 0, EPOLLIN);
	say("interrupts from v4vd: MSI-X through vfio-pci");
}

/* How long the main loop may sleep, `idle` ms after the last traffic. */
static int wait_ms(uint64_t idle)
{
	if (g.irq < 0)
		return idle < 200 ? 1 : 20;
	/* Armed, v4vd interrupts us on its next message; a message that
	 * raced in means no sleep.  The timeout only bounds the wait for a
	 * link reset (v4vd reformats the rings, and the arm with them). */
	return v4v_ring_arm(&g.h2g) ? 1000 : 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0666) || listen(fd, 64)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static const char usage[] =
"Usage: v4v-guestd [--socket PATH] [--device PCI-ADDRESS] [-v]\n"
"The V4V agent of a QEMU guest: serves the guest's programs (libv4v,\n"
"v4v cat, v4v run) on the control socket and carries what they ask to\n"
"v4vd through the VM's ivshmem-doorbell device (v4vd --vm on the host).\n"
"\n"
"  -s, --socket PATH   the control socket (default " V4VP_DEFAULT_SOCKET ")\n"
"  -d, --device ADDR   the ivshmem device, like 0000:00:04.0 (default: the\n"
"                      first one)\n"
"  -v, --verbose       say when channels close\n"
"  -h, --help          show this help and exit\n"
"\n"
"Runs in the foreground and logs to stderr.  Exit status 1 when there is\n"
"no device or v4vd never answers, 2 on bad usage.  See docs/vm.md.\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *path = V4VP_DEFAULT_SOCKET, *dev = NULL;
	uint64_t last = 0;
	int o, rc;

	while ((o = getopt_long(argc, argv, "s:d:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's': path = optarg; break;
		case 'd': dev = optarg; break;
		case 'v': verbose++; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs("Try 'v4v-guestd --help'.\n", stderr); return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	rc = v4v_guest_open(&g, dev);
	if (rc) {
		say("no ivshmem device (%s): start QEMU with -device "
		    "ivshmem-doorbell,chardev=... (docs/vm.md)", strerror(-rc));
		return 1;
	}
	region_fd = v4v_guest_bar_open(g.dev, 2);
	regs_fd = v4v_guest_bar_open(g.dev, 0);
	{
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)
			cap_give = sv[1]; /* sv[0] stays open: a live socket */
	}
	for (uint32_t i = 0; i < V4V_VM_MAX_CHANS; i++)
		chans[i] = (struct chan){ -1, -1, 0 };
	if (region_fd < 0 || cap_give < 0 || attach())
		return 1;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	irq_setup();
	lfd = listen_on(path);
	if (lfd < 0) {
		say("%s: %s", path, strerror(-lfd));
		return 1;
	}
	watch(lfd, EV_LISTEN, 0, EPOLLIN);
	say("serving %s", path);
	for (;;) {
		struct epoll_event ev[32];
		struct timespec ts;
		uint64_t now;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		n = epoll_wait(epfd, ev, 32, wait_ms(now - last));
		for (int i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32);
			uint32_t idx = (uint32_t)ev[i].data.u64;

			if (kind == EV_IRQ)
				(void)eventfd_read(g.irq, &(eventfd_t){ 0 });
			else if (kind == EV_LISTEN)
				accept_one();
			else if (kind == EV_CHAN)
				chan_input(idx);
			else
				bell_event(idx, ev[i].events);
		}
		if (!v4v_guest_attached(&g)) {
			say("v4vd reset the link: attaching again");
			attach();
		}
		if (host_input() || n > 0)
			last = now;
	}
}
