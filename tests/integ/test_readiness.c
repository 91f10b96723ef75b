/* SPDX-License-Identifier: MIT */
/*
 * Readiness under stress: no lost wakeup, no spurious busy loop, every
 * byte delivered.
 *
 * Two domains (forked children) move a sequence-numbered, checksummed
 * byte stream through a V4V stream socket whose rings are tiny (SO_RCVBUF
 * 4096 on both ends), so the receiver's ring goes empty <-> non-empty and
 * the sender's peer ring full <-> not full all the time.  The receiver and
 * the sender each wait with one of six APIs (blocking calls, poll,
 * select, epoll level-triggered, epoll edge-triggered, and the
 * interposer's polling wait: its ring polled with v4v_poll_rings, data
 * reported from the ring alone, else epoll level-triggered), all 36
 * pairs; then datagram sockets with a tiny
 * ring, through poll/select/epoll.
 *
 *  - A lost wakeup is a hang: every wait is unbounded and each child arms
 *    a watchdog (alarm) that fails the test with what it was doing.
 *  - Readiness must be exact: a wakeup whose first operation returns
 *    EAGAIN is "empty", and "stale" if the operation before the wait had
 *    found no data / no room either (the descriptor said ready although
 *    nothing had changed for us: the stuff of busy loops).  More than 10%
 *    stale wakeups of a level-triggered wait is a failure; edge-triggered
 *    ones are loosely bounded.  Level-triggered applications do one
 *    operation per wakeup half the time, the rest until EAGAIN.
 *  - Who is faster changes all the time (slow phases of tiny reads or
 *    writes, and pauses where v4vd mediates the sends), so both
 *    transitions happen on every phase change.
 *  - The receiver checks every byte against its sequence position, and
 *    both ends' checksums and byte counts must agree.
 *  - Transitions are counted: EAGAINs (and, for blocking calls, empty
 *    rings / full rings seen by a probe just before blocking) on both
 *    sides, and the number of times a wait had to sleep.
 *
 * Run with V4V_TEST_STRICT=1 for a strict v4vd (every send mediated).
 * V4V_READINESS_SECONDS sets the time budget of the data phases
 * (default 50); each run also stops at a byte limit.  For debugging:
 * V4V_READINESS_PAIR=RX,TX runs one stream pair (e.g. "poll,epoll-et"),
 * V4V_READINESS_WATCHDOG=S sets the watchdog.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"
#include "lib/interposer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <unistd.h>

static struct hv_proc hv;
/* v4vd --strict: every send is a round trip through v4vd. */
static bool strict;

#define SA(a) ((struct sockaddr *)&(a))

/* The rings: as small as SO_RCVBUF makes sensible, so they fill at once. */
#define RING 4096
/* Largest single send and receive of the applications. */
#define TX_MAX 12000
#define RX_MAX 9000
/* Datagram payloads (header included). */
#define DG_MIN 16
#define DG_MAX 1500
/* Level-triggered waits: at most this percentage of stale wakeups (see
 * got_eagain). */
#define LT_STALE_PCT 10
/* Edge-triggered waits may see some (a token whose data was already
 * read makes an edge), but a majority would be a busy loop. */
#define ET_STALE_PCT 50
/* Every run must have made at least this many transitions per side and
 * second of its time cap (at least one).  A strict-mode sender blocks
 * only when its 1 MiB kernel buffer is full: under ASan on a busy 2-core
 * machine that is 10 to 20 times in 1.6 s, so 10 per second was a coin
 * toss there (seen in CI). */
#define MIN_TRANSITIONS_PER_S 5

enum api { API_BLOCK, API_POLL, API_SELECT, API_EPOLL_LT, API_EPOLL_ET,
	   API_SPIN, API_N };
static const char *const api_name[API_N] = { "block", "poll", "select",
					     "epoll-lt", "epoll-et", "spin" };

static bool api_lt(enum api a)
{
	return a == API_POLL || a == API_SELECT || a == API_EPOLL_LT ||
	       a == API_SPIN;
}

static bool api_epoll(enum api a)
{
	return a == API_EPOLL_LT || a == API_EPOLL_ET || a == API_SPIN;
}

/* One side's tally, written by the child into shared memory. */
struct side {
	uint64_t bytes;	  /* payload moved */
	uint64_t msgs;	  /* successful operations */
	uint64_t eagain;  /* EAGAIN (or, blocking, empty/full probe) */
	uint64_t sleeps;  /* waits that found the descriptor not ready */
	uint64_t wakeups; /* readiness reports */
	uint64_t empty;	  /* wakeups whose first operation got EAGAIN */
	uint64_t stale;	  /* ... although the last one before the wait
			   * had found no data / no room either */
	bool blocked;	  /* the last operation found no data / room */
	uint64_t sum_a, sum_b; /* Fletcher-style checksum of the bytes */
	uint64_t ns;	  /* time spent in the data phase */
	int fail;	  /* nonzero: what went wrong (below) */
	char why[200];
};

struct run {
	int type;	/* SOCK_STREAM or SOCK_DGRAM */
	enum api rx_api, tx_api;
	uint32_t port;
	uint32_t seed;
	uint64_t max_bytes;
	uint64_t cap_ns;
	unsigned watchdog_s;
	struct gate ready;
	struct side rx, tx;
};

/* ---- the watchdog ---- */

/* What this child is doing, for the watchdog's message. */
static const struct run *wd_run;
static const struct side *wd_side;
static const char *wd_role;

static void put_str(char **p, char *end, const char *s)
{
	while (*s && *p < end)
		*(*p)++ = *s++;
}

static void put_u64(char **p, char *end, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && *p < end)
		*(*p)++ = tmp[--n];
}

static void on_alarm(int sig)
{
	char msg[512], *p = msg, *end = msg + sizeof(msg) - 1;

	(void)sig;
	put_str(&p, end, "test_readiness: WATCHDOG: ");
	put_str(&p, end, wd_role ? wd_role : "?");
	if (wd_run) {
		put_str(&p, end, wd_run->type == SOCK_STREAM ? " stream rx="
							      : " dgram rx=");
		put_str(&p, end, api_name[wd_run->rx_api]);
		put_str(&p, end, " tx=");
		put_str(&p, end, api_name[wd_run->tx_api]);
		put_str(&p, end, " made no progress for ");
		put_u64(&p, end, wd_run->watchdog_s);
		put_str(&p, end, " s (lost wakeup?)");
	}
	if (wd_side) {
		put_str(&p, end, ": bytes=");
		put_u64(&p, end, wd_side->bytes);
		put_str(&p, end, " eagain=");
		put_u64(&p, end, wd_side->eagain);
		put_str(&p, end, " wakeups=");
		put_u64(&p, end, wd_side->wakeups);
	}
	*p++ = '\n';
	(void)!write(2, msg, (size_t)(p - msg));
	_exit(99);
}

/* Armed once, for the whole run with a generous margin (the run's time
 * cap + 20 s): a lost wakeup leaves one side asleep for good, and then
 * usually the other too. */
static void watchdog(const struct run *r, struct side *s, const char *role)
{
	struct sigaction sa = { .sa_handler = on_alarm };

	wd_run = r;
	wd_side = s;
	wd_role = role;
	sigaction(SIGALRM, &sa, NULL);
	alarm(r->watchdog_s);
}

static int failf(struct side *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int failf(struct side *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->fail = code;
	return code;
}

/* ---- data: sequence-numbered bytes and a checksum ---- */

static uint64_t pat_word(uint32_t seed, uint64_t w)
{
	uint64_t x = w * 0x9e3779b97f4a7c15ull + seed;

	return x ^ (x >> 29);
}

/* Bytes [off, off + n) of stream `seed`. */
static void pattern(uint32_t seed, uint64_t off, uint8_t *dst, size_t n)
{
	while (n) {
		uint64_t w = pat_word(seed, off >> 3);
		unsigned b = (unsigned)(off & 7);
		size_t k = 8 - b < n ? 8 - b : n;

		for (size_t i = 0; i < k; i++)
			dst[i] = (uint8_t)(w >> ((b + i) * 8));
		dst += k;
		off += k;
		n -= k;
	}
}

/* Fletcher-style, modulo 2^64: order-sensitive and cheap. */
static void checksum(struct side *s, const uint8_t *p, size_t n)
{
	uint64_t a = s->sum_a, b = s->sum_b;

	for (size_t i = 0; i < n; i++) {
		a += p[i];
		b += a;
	}
	s->sum_a = a;
	s->sum_b = b;
}

/* Who is faster changes all the time: in a slow phase a side moves at
 * most 256 bytes per call, so the ring fills (slow receiver) or empties
 * (slow sender) on every phase change. */
struct pace {
	unsigned left;
	bool slow;
};

static size_t pace_len(struct pace *p, unsigned *rnd, size_t max)
{
	if (!p->left) {
		p->slow = rand_r(rnd) % 2 == 0;
		p->left = (unsigned)rand_r(rnd) % 64 + 1;
	}
	p->left--;
	return (size_t)rand_r(rnd) % (p->slow ? 256 : max) + 1;
}

/* ---- waiting: the five APIs ---- */

struct waiter {
	enum api api;
	int fd;
	int ep;
	bool out;
};

static int waiter_init(struct waiter *w, enum api api, int fd, bool out)
{
	w->api = api;
	w->fd = fd;
	w->out = out;
	w->ep = -1;
	if (api != API_BLOCK) {
		int fl = fcntl(fd, F_GETFL);

		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK))
			return -1;
	}
	if (api_epoll(api)) {
		struct epoll_event ev = { .events = out ? EPOLLOUT : EPOLLIN };

		if (api == API_EPOLL_ET)
			ev.events |= EPOLLET;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev))
			return -1;
	}
	return 0;
}

/* One readiness check: 1 ready, 0 not (timeout), -1 error. */
static int wait_once(struct waiter *w, int timeout_ms)
{
	int n;

	switch (w->api) {
	case API_POLL: {
		struct pollfd p = { .fd = w->fd,
				    .events = w->out ? POLLOUT : POLLIN };

		n = poll(&p, 1, timeout_ms);
		if (n == 1 && (p.revents & POLLNVAL))
			return -1;
		return n;
	}
	case API_SELECT: {
		fd_set set;
		struct timeval tv = { 0, 0 };

		FD_ZERO(&set);
		FD_SET(w->fd, &set);
		n = select(w->fd + 1, w->out ? NULL : &set,
			   w->out ? &set : NULL, NULL,
			   timeout_ms < 0 ? NULL : &tv);
		return n;
	}
	case API_SPIN:
		/* What src/preload/wait.c does: poll the ring (its peer does
		 * not ring meanwhile); data found is reported without the
		 * kernel, and whatever else the ring holds is made readable
		 * before the kernel is asked.  So the ring is left holding
		 * data nobody rang for, which the next wait must find. */
		if (!w->out) {
			uint8_t news;

			v4v_poll_rings(&w->fd, 1, timeout_ms ? 30 : 0, NULL,
				       NULL, &news);
			if (news == V4V_NEWS_DATA)
				return 1;
			v4v_show_rings(&w->fd, 1);
		}
		/* fall through */
	case API_EPOLL_LT:
	case API_EPOLL_ET: {
		struct epoll_event ev;

		return epoll_wait(w->ep, &ev, 1, timeout_ms);
	}
	default:
		return -1;
	}
}

/* Wait until the descriptor is reported ready; counts the sleeps. */
static int waiter_wait(struct waiter *w, struct side *s)
{
	int n;

	do {
		n = wait_once(w, 0);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		s->sleeps++;
		do {
			n = wait_once(w, -1);
		} while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		return -1;
	s->wakeups++;
	return 0;
}

static void waiter_done(struct waiter *w)
{
	if (w->ep >= 0)
		close(w->ep);
}

/* The first operation after a wakeup (`first`) or a later one found
 * nothing to do.  An empty wakeup is "stale" when the operation before
 * the wait had found nothing either: the descriptor was reported ready
 * although, for us, nothing had changed. */
static void got_eagain(struct side *s, bool first)
{
	s->eagain++;
	if (first && s->wakeups) {
		s->empty++;
		s->stale += s->blocked;
	}
	s->blocked = true;
}

/* A level-triggered application may do one operation per wakeup (the
 * pattern that exposes stale readiness) or go on until EAGAIN. */
static bool one_op(const struct waiter *w, unsigned *rnd)
{
	return api_lt(w->api) && rand_r(rnd) % 2 == 0;
}

/* ---- stream ---- */

static struct sockaddr_v4v addr(int d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V,
				  .v4v_domid = (v4v_domid_t)d,
				  .v4v_port = port };
	return a;
}

/* Small rings, and blocking calls that sleep at once (no busy poll). */
static int small_socket(int type)
{
	int fd = v4v_socket(AF_V4V, type, 0), size = RING, busy = 0;

	if (fd < 0 ||
	    v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) ||
	    v4v_setsockopt(fd, SOL_V4V, V4V_SO_BUSY_POLL, &busy,
			   sizeof(busy)))
		return -1;
	return fd;
}

/* How much the receiver asks for next.  With a strict v4vd every send
 * is a round trip through it, so small reads alone do not make the
 * receiver the slower side: a slow phase also pauses. */
static size_t rx_len(struct pace *pace, unsigned *rnd)
{
	size_t n = pace_len(pace, rnd, RX_MAX);

	if (pace->slow && strict)
		usleep(50);
	return n;
}

/* Take what the receiver got: verify each byte's sequence position. */
static int rx_take(struct run *r, const uint8_t *buf, size_t n)
{
	static uint8_t want[RX_MAX];
	struct side *s = &r->rx;

	pattern(r->seed, s->bytes, want, n);
	if (memcmp(buf, want, n)) {
		size_t i = 0;

		while (buf[i] == want[i])
			i++;
		return failf(s, 30, "byte %llu is %u, want %u",
			     (unsigned long long)(s->bytes + i), buf[i],
			     want[i]);
	}
	checksum(s, buf, n);
	s->bytes += n;
	s->msgs++;
	return 0;
}

static int stream_receiver(void *arg)
{
	struct run *r = arg;
	struct side *s = &r->rx;
	static uint8_t buf[RX_MAX];
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, r->port);
	unsigned rnd = r->seed * 3 + 1;
	struct pace pace = { 0 };
	struct waiter w;
	uint64_t t0;
	int l = small_socket(SOCK_STREAM), fd;
	ssize_t k;

	watchdog(r, s, "receiver");
	if (l < 0 || v4v_bind(l, SA(me), sizeof(me)) || v4v_listen(l, 4))
		return failf(s, 10, "listen: %s", strerror(errno));
	gate_open(&r->ready, (uint32_t)v4v_domid());
	fd = v4v_accept(l, NULL, NULL);
	if (fd < 0)
		return failf(s, 11, "accept: %s", strerror(errno));
	v4v_close(l);
	if (waiter_init(&w, r->rx_api, fd, false))
		return failf(s, 12, "waiter: %s", strerror(errno));
	t0 = now_ns();
	for (;;) {
		bool first = true, once;

		if (w.api == API_BLOCK) {
			int pend = -1;

			/* Blocking: the transition is the empty ring the
			 * call is about to sleep on. */
			if (!v4v_ioctl(fd, FIONREAD, &pend) && pend == 0)
				s->eagain++;
			k = v4v_recv(fd, buf, rx_len(&pace, &rnd),
				     0);
			if (k == 0)
				break;
			if (k < 0)
				return failf(s, 13, "recv: %s",
					     strerror(errno));
			if (rx_take(r, buf, (size_t)k))
				return s->fail;
			continue;
		}
		if (waiter_wait(&w, s))
			return failf(s, 14, "wait: %s", strerror(errno));
		once = one_op(&w, &rnd);
		for (;;) {
			k = v4v_recv(fd, buf, rx_len(&pace, &rnd),
				     0);
			if (k < 0 && errno == EAGAIN) {
				got_eagain(s, first);
				break;
			}
			first = false;
			s->blocked = false;
			if (k <= 0)
				break;
			if (rx_take(r, buf, (size_t)k))
				return s->fail;
			if (once)
				break;
		}
		if (k == 0)
			break;
		if (k < 0 && errno != EAGAIN)
			return failf(s, 15, "recv: %s", strerror(errno));
	}
	s->ns = now_ns() - t0;
	waiter_done(&w);
	v4v_close(fd);
	return 0;
}

static int stream_sender(void *arg)
{
	struct run *r = arg;
	struct side *s = &r->tx;
	static uint8_t buf[TX_MAX];
	unsigned rnd = r->seed * 5 + 2;
	uint64_t boff = 0, blen = 0, t0;
	struct pace pace = { 0 };
	struct sockaddr_v4v to;
	struct waiter w;
	bool stop = false;
	int fd, fl;
	char c;

	watchdog(r, s, "sender");
	to = addr((int)gate_wait(&r->ready), r->port);
	fd = small_socket(SOCK_STREAM);
	if (fd < 0 || v4v_connect(fd, SA(to), sizeof(to)))
		return failf(s, 20, "connect: %s", strerror(errno));
	if (waiter_init(&w, r->tx_api, fd, true))
		return failf(s, 21, "waiter: %s", strerror(errno));
	t0 = now_ns();
	while (!stop) {
		bool first = true, once, partial = false;

		if (w.api != API_BLOCK) {
			if (waiter_wait(&w, s))
				return failf(s, 22, "wait: %s",
					     strerror(errno));
		}
		once = one_op(&w, &rnd);
		for (;;) {
			const uint8_t *p;
			ssize_t k;
			size_t n;

			/* The next piece of the stream, made once. */
			if (s->bytes == boff + blen) {
				if (s->bytes >= r->max_bytes ||
				    now_ns() - t0 >= r->cap_ns) {
					stop = true;
					break;
				}
				boff = s->bytes;
				blen = pace_len(&pace, &rnd, TX_MAX);
				if (blen > r->max_bytes - boff)
					blen = r->max_bytes - boff;
				pattern(r->seed, boff, buf, (size_t)blen);
			}
			n = (size_t)(boff + blen - s->bytes);
			p = buf + (s->bytes - boff);
			/* Blocking: a non-blocking probe first, to count the
			 * full rings the blocking call then sleeps on. */
			k = v4v_send(fd, p, n,
				     MSG_NOSIGNAL | (w.api == API_BLOCK
							     ? MSG_DONTWAIT
							     : 0));
			if (k < 0 && errno == EAGAIN) {
				/* A partial send just before saw the same
				 * full ring: count it once. */
				if (partial)
					s->eagain--;
				got_eagain(s, first);
				if (w.api != API_BLOCK)
					break;
				k = v4v_send(fd, p, n, MSG_NOSIGNAL);
			}
			if (k < 0)
				return failf(s, 23, "send: %s",
					     strerror(errno));
			first = false;
			/* Partial: it stopped for lack of room. */
			partial = (size_t)k < n;
			s->blocked = partial;
			s->eagain += partial;
			checksum(s, p, (size_t)k);
			s->bytes += (uint64_t)k;
			s->msgs++;
			if (once)
				break;
		}
	}
	s->ns = now_ns() - t0;
	waiter_done(&w);
	if (v4v_shutdown(fd, SHUT_WR))
		return failf(s, 24, "shutdown: %s", strerror(errno));
	/* The receiver closes once it has read our end of file. */
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (v4v_recv(fd, &c, 1, 0) != 0)
		return failf(s, 25, "no end of file from the receiver: %s",
			     strerror(errno));
	v4v_close(fd);
	return 0;
}

/* ---- datagrams ---- */

/* Datagram `seq`: its length, and its bytes (a header, then the
 * pattern of stream `seed + seq`). */
struct dg_hdr {
	uint64_t seq; /* top bit: the last one */
	uint32_t len;
	uint32_t pad;
};

#define DG_LAST (1ull << 63)

static size_t dg_len(uint32_t seed, uint64_t seq)
{
	return DG_MIN + (size_t)(pat_word(seed, seq) % (DG_MAX - DG_MIN + 1));
}

static void dg_make(uint32_t seed, uint64_t seq, bool last, uint8_t *buf,
		    size_t len)
{
	struct dg_hdr h = { .seq = seq | (last ? DG_LAST : 0),
			    .len = (uint32_t)len };

	memcpy(buf, &h, sizeof(h));
	pattern(seed + (uint32_t)seq, 0, buf + sizeof(h), len - sizeof(h));
}

static int dgram_receiver(void *arg)
{
	struct run *r = arg;
	struct side *s = &r->rx;
	static uint8_t buf[DG_MAX + 64], want[DG_MAX];
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, r->port);
	unsigned rnd = r->seed * 7 + 3;
	uint64_t seq = 0, t0;
	struct pace pace = { 0 };
	struct waiter w;
	bool last = false;
	int fd = small_socket(SOCK_DGRAM);

	watchdog(r, s, "receiver");
	if (fd < 0 || v4v_bind(fd, SA(me), sizeof(me)))
		return failf(s, 40, "bind: %s", strerror(errno));
	if (waiter_init(&w, r->rx_api, fd, false))
		return failf(s, 41, "waiter: %s", strerror(errno));
	gate_open(&r->ready, (uint32_t)v4v_domid());
	t0 = now_ns();
	while (!last) {
		bool first = true, once;

		if (w.api != API_BLOCK && waiter_wait(&w, s))
			return failf(s, 42, "wait: %s", strerror(errno));
		once = one_op(&w, &rnd);
		while (!last) {
			struct dg_hdr h;
			ssize_t k;

			/* Every send goes through v4vd, so the sender is the
			 * slower side; a slow phase here lets it fill the
			 * ring. */
			pace_len(&pace, &rnd, 1);
			if (pace.slow)
				usleep(50);
			k = v4v_recv(fd, buf, sizeof(buf), 0);

			if (k < 0 && errno == EAGAIN) {
				got_eagain(s, first);
				break;
			}
			first = false;
			s->blocked = false;
			if (k < (ssize_t)sizeof(h))
				return failf(s, 43, "recv: %zd, %s", k,
					     strerror(errno));
			memcpy(&h, buf, sizeof(h));
			last = h.seq & DG_LAST;
			if ((h.seq & ~DG_LAST) != seq)
				return failf(s, 44, "datagram %llu, want %llu",
					     (unsigned long long)(h.seq &
								  ~DG_LAST),
					     (unsigned long long)seq);
			if ((size_t)k != dg_len(r->seed, seq) || h.len != k)
				return failf(s, 45, "datagram %llu: %zd bytes",
					     (unsigned long long)seq, k);
			dg_make(r->seed, seq, last, want, (size_t)k);
			if (memcmp(buf, want, (size_t)k))
				return failf(s, 46, "datagram %llu corrupt",
					     (unsigned long long)seq);
			checksum(s, buf, (size_t)k);
			s->bytes += (uint64_t)k;
			s->msgs++;
			seq++;
			if (once)
				break;
		}
	}
	s->ns = now_ns() - t0;
	waiter_done(&w);
	v4v_close(fd);
	return 0;
}

static int dgram_sender(void *arg)
{
	struct run *r = arg;
	struct side *s = &r->tx;
	static uint8_t buf[DG_MAX];
	unsigned rnd = r->seed * 11 + 4;
	struct sockaddr_v4v to;
	uint64_t seq = 0, t0;
	struct waiter w;
	bool last = false;
	size_t len = 0;
	int fd;

	watchdog(r, s, "sender");
	to = addr((int)gate_wait(&r->ready), r->port);
	fd = small_socket(SOCK_DGRAM);
	if (fd < 0 || v4v_connect(fd, SA(to), sizeof(to)))
		return failf(s, 50, "connect: %s", strerror(errno));
	if (waiter_init(&w, r->tx_api, fd, true))
		return failf(s, 51, "waiter: %s", strerror(errno));
	t0 = now_ns();
	for (bool sent = true; !(last && sent);) {
		bool first = true, once;

		if (w.api != API_BLOCK && waiter_wait(&w, s))
			return failf(s, 52, "wait: %s", strerror(errno));
		once = one_op(&w, &rnd);
		for (;;) {
			ssize_t k;

			if (sent) {
				if (last)
					break;
				len = dg_len(r->seed, seq);
				last = s->bytes + len >= r->max_bytes ||
				       now_ns() - t0 >= r->cap_ns;
				dg_make(r->seed, seq, last, buf, len);
				sent = false;
			}
			k = v4v_send(fd, buf, len,
				     w.api == API_BLOCK ? MSG_DONTWAIT : 0);
			if (k < 0 && errno == EAGAIN) {
				got_eagain(s, first);
				if (w.api != API_BLOCK)
					break;
				k = v4v_send(fd, buf, len, 0);
			}
			if (k != (ssize_t)len)
				return failf(s, 53, "send: %zd, %s", k,
					     strerror(errno));
			first = false;
			s->blocked = false;
			sent = true;
			checksum(s, buf, len);
			s->bytes += len;
			s->msgs++;
			seq++;
			if (once)
				break;
		}
	}
	s->ns = now_ns() - t0;
	waiter_done(&w);
	/* Every datagram is in the receiver's ring already. */
	v4v_close(fd);
	return 0;
}

/* ---- the runs ---- */

struct total {
	uint64_t transitions, sleeps, bytes, ns;
};

static uint64_t pct(uint64_t part, uint64_t whole)
{
	return whole ? part * 100 / whole : 0;
}

static void check_side(const struct run *r, const struct side *s,
		       enum api api, const char *role)
{
	uint64_t min = r->cap_ns * MIN_TRANSITIONS_PER_S / 1000000000u;

	if (s->fail) {
		fprintf(stderr, "  %s failed (%d): %s\n", role, s->fail,
			s->why);
		t_failed++;
		return;
	}
	if (s->eagain + s->sleeps < (min ? min : 1)) {
		fprintf(stderr, "  %s %s: only %llu EAGAIN and %llu sleeps\n",
			role, api_name[api], (unsigned long long)s->eagain,
			(unsigned long long)s->sleeps);
		t_failed++;
	}
	if (api_lt(api) && s->wakeups >= 100 &&
	    pct(s->stale, s->wakeups) > LT_STALE_PCT) {
		fprintf(stderr,
			"  %s %s (level-triggered): %llu of %llu wakeups found "
			"nothing to do again: stale readiness\n",
			role, api_name[api], (unsigned long long)s->stale,
			(unsigned long long)s->wakeups);
		t_failed++;
	}
	if (api == API_EPOLL_ET && s->wakeups >= 100 &&
	    pct(s->stale, s->wakeups) > ET_STALE_PCT) {
		fprintf(stderr,
			"  %s epoll-et: %llu of %llu wakeups found nothing to "
			"do again\n", role, (unsigned long long)s->stale,
			(unsigned long long)s->wakeups);
		t_failed++;
	}
}

static void one_run(struct run *r, struct total *t)
{
	int (*rx)(void *) = r->type == SOCK_STREAM ? stream_receiver
						   : dgram_receiver;
	int (*tx)(void *) = r->type == SOCK_STREAM ? stream_sender
						   : dgram_sender;
	int before = t_failed, rc_rx, rc_tx;
	pid_t prx, ptx;

	gate_init(&r->ready);
	prx = dom_spawn(rx, r);
	ptx = dom_spawn(tx, r);
	rc_tx = dom_wait(ptx);
	rc_rx = dom_wait(prx);
	close(r->ready.fd[0]);
	close(r->ready.fd[1]);
	printf("%-6s rx %-8s tx %-8s %6.1f MB %5.2f s | rx: eagain %6llu "
	       "sleep %6llu wake %6llu empty %4llu stale %4llu | tx: eagain "
	       "%6llu sleep %6llu wake %6llu empty %4llu stale %4llu\n",
	       r->type == SOCK_STREAM ? "stream" : "dgram",
	       api_name[r->rx_api], api_name[r->tx_api], r->rx.bytes / 1e6,
	       r->rx.ns / 1e9, (unsigned long long)r->rx.eagain,
	       (unsigned long long)r->rx.sleeps,
	       (unsigned long long)r->rx.wakeups,
	       (unsigned long long)r->rx.empty,
	       (unsigned long long)r->rx.stale,
	       (unsigned long long)r->tx.eagain,
	       (unsigned long long)r->tx.sleeps,
	       (unsigned long long)r->tx.wakeups,
	       (unsigned long long)r->tx.empty,
	       (unsigned long long)r->tx.stale);
	fflush(stdout);
	CHECK_EQ(rc_rx, 0);
	CHECK_EQ(rc_tx, 0);
	check_side(r, &r->rx, r->rx_api, "receiver");
	check_side(r, &r->tx, r->tx_api, "sender");
	if (!r->rx.fail && !r->tx.fail) {
		CHECK_EQ(r->rx.bytes, r->tx.bytes);
		CHECK_EQ(r->rx.sum_a, r->tx.sum_a);
		CHECK_EQ(r->rx.sum_b, r->tx.sum_b);
		if (r->type == SOCK_DGRAM)
			CHECK_EQ(r->rx.msgs, r->tx.msgs);
	}
	if (t_failed != before)
		fprintf(stderr, "  ^ that run failed\n");
	t->transitions += r->rx.eagain + r->tx.eagain;
	t->sleeps += r->rx.sleeps + r->tx.sleeps;
	t->bytes += r->rx.bytes;
	t->ns += r->rx.ns;
}

static double budget_s(void)
{
	const char *e = getenv("V4V_READINESS_SECONDS");
	double v = e && *e ? atof(e) : 50.0;

	return v > 0.5 ? v : 0.5;
}

static struct run *new_run(struct run *r, int type, enum api rx,
			   enum api tx, uint32_t port, double cap_s)
{
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->rx_api = rx;
	r->tx_api = tx;
	r->port = port;
	r->seed = port * 2654435761u;
	r->max_bytes = type == SOCK_STREAM ? 2000000000ull : 200000000ull;
	r->cap_ns = (uint64_t)(cap_s * 1e9);
	r->watchdog_s = (unsigned)cap_s + 20;
	if (getenv("V4V_READINESS_WATCHDOG"))
		r->watchdog_s = (unsigned)atoi(getenv("V4V_READINESS_WATCHDOG"));
	return r;
}

static struct run *shared_runs(size_t n)
{
	void *p = mmap(NULL, n * sizeof(struct run), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	REQUIRE(p != MAP_FAILED);
	return p;
}

/* Everything, for the last line. */
static struct total grand;

static void report(const char *what, const struct total *t)
{
	if (t != &grand) {
		grand.transitions += t->transitions;
		grand.sleeps += t->sleeps;
		grand.bytes += t->bytes;
		grand.ns += t->ns;
	}
	printf("%s: %llu transitions (EAGAIN/probe, both sides), %llu sleeps, "
	       "%.1f MB in %.1f s\n",
	       what, (unsigned long long)t->transitions,
	       (unsigned long long)t->sleeps, t->bytes / 1e6, t->ns / 1e9);
	fflush(stdout);
}

/* V4V_READINESS_PAIR=RX,TX (API names) runs only that pair: for
 * debugging one combination. */
static bool selected(enum api rx, enum api tx)
{
	const char *e = getenv("V4V_READINESS_PAIR");
	char want[64];

	if (!e || !*e)
		return true;
	snprintf(want, sizeof(want), "%s,%s", api_name[rx], api_name[tx]);
	return !strcmp(e, want);
}

/* Stream: every receiver API against every sender API. */
static void test_stream_matrix(void)
{
	struct run *runs = shared_runs(API_N * API_N);
	double cap = budget_s() * 0.8 / (API_N * API_N);
	struct total t = { 0 };

	for (int i = 0; i < API_N * API_N; i++) {
		enum api rx = (enum api)(i / API_N), tx = (enum api)(i % API_N);

		if (selected(rx, tx))
			one_run(new_run(&runs[i], SOCK_STREAM, rx, tx,
					(uint32_t)(1000 + i), cap),
				&t);
	}
	report("stream total", &t);
	CHECK(t.transitions > 0);
	munmap(runs, API_N * API_N * sizeof(struct run));
}

/* Datagrams through v4vd into a tiny ring. */
static void test_dgram(void)
{
	static const enum api pairs[][2] = {
		{ API_POLL, API_POLL },
		{ API_EPOLL_LT, API_EPOLL_ET },
		{ API_EPOLL_ET, API_EPOLL_LT },
		{ API_SELECT, API_BLOCK },
	};
	size_t n = sizeof(pairs) / sizeof(pairs[0]);
	struct run *runs = shared_runs(n);
	double cap = budget_s() * 0.2 / (double)n;
	struct total t = { 0 };

	for (size_t i = 0; i < n; i++)
		one_run(new_run(&runs[i], SOCK_DGRAM, pairs[i][0], pairs[i][1],
				(uint32_t)(2000 + i), cap),
			&t);
	report("dgram total", &t);
	munmap(runs, n * sizeof(struct run));
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "stream_matrix", test_stream_matrix },
		{ "dgram", test_dgram },
		{ 0 }
	};
	static const char *const strict_args[] = { "--strict", NULL };
	const char *mode = getenv("V4V_TEST_STRICT");
	uint64_t t0 = now_ns();
	int rc;

	strict = mode && mode[0] == '1';
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("v4vd %s, budget %.1f s\n", strict ? "--strict" : "direct",
	       budget_s());
	hv_start(&hv, strict ? strict_args : NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	report("all", &grand);
	printf("total time %.1f s\n", (now_ns() - t0) / 1e9);
	return rc || t_failed;
}
