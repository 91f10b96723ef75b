/* SPDX-License-Identifier: MIT */
/*
 * One domain of v4v bench aggregate: its own process (so its own V4V
 * domain), forked once per transport and kept for every point.  It runs
 * one thread: a loop of non-blocking sends and receives on its one
 * connection, sleeping in poll() when neither can progress, so both
 * directions flow at once without a second thread, and a domain that
 * cannot progress gives its core to the others (on a 2-core machine 16
 * domains share 2 cores).
 *
 * Every message is `size` bytes and carries a header {magic, kind, seq}
 * and a trailer (seq) that the receiver checks: messages arrive whole, in
 * order, none lost.
 */
#include "aggregate.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "v4v/socket.h"

#define HMAGIC 0x56344147u /* "GA4V" */
#define TMAGIC 0x9e3779b97f4a7c15ull
enum { K_DATA = 1, K_PING, K_ECHO, K_NOMORE };

struct mhdr {
	uint32_t magic;
	uint32_t kind;
	uint64_t seq;
};

struct dom {
	const struct atrans *t;
	int fd, pair, side; /* side 0: client ('a'), 1: server ('b') */
	uint8_t *tx, *rx;
	struct rep r;
};

static ssize_t a_send(const struct dom *d, const void *b, size_t n)
{
	return d->t->v4v ? v4v_send(d->fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL)
			 : send(d->fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static ssize_t a_recv(const struct dom *d, void *b, size_t n)
{
	return d->t->v4v ? v4v_recv(d->fd, b, n, MSG_DONTWAIT)
			 : recv(d->fd, b, n, MSG_DONTWAIT);
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int fail(struct dom *d, const char *why, int err)
{
	d->r.err = err ? err : EPROTO;
	snprintf(d->r.why, sizeof(d->r.why), "%s", why);
	return -1;
}

/* Put a message of `kind` in the send buffer: header and trailer. */
static void stamp(uint8_t *buf, size_t size, uint32_t kind, uint64_t seq)
{
	struct mhdr h = { HMAGIC, kind, seq };
	uint64_t tr = seq ^ TMAGIC;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + size - sizeof(tr), &tr, sizeof(tr));
}

static int run_point(struct dom *d, const struct ctl *c)
{
	const size_t size = (size_t)c->size;
	const bool pp = c->mode == AM_PINGPONG;
	/* sending */
	bool tx_active = false, stopped = false, nomore_sent = false;
	bool ping_out = false, counting = false;
	size_t tx_off = 0;
	uint64_t next_seq = 0, out_seq = 0, echo_q[8];
	int echo_n = 0;
	/* receiving */
	bool got_nomore = false;
	size_t rx_off = 0;
	uint64_t exp_seq = 0;
	double cpu0 = 0, last_progress = 0, now;

	memset(&d->r, 0, sizeof(d->r));
	d->r.pair = d->pair;
	d->r.side = d->side;
	bench_sleep_until(c->go_us);
	d->r.late = bench_now_us() >= c->count_us;
	for (;;) {
		bool progress = false, want_out = false, want_in = false;
		bool rx_done, tx_done;
		ssize_t n;

		now = bench_now_us();
		if (!counting && now >= c->count_us) {
			counting = true;
			cpu0 = cpu_us();
		}
		if (!stopped && now >= c->end_us) {
			stopped = true;
			d->r.cpu_us = counting ? cpu_us() - cpu0 : 0;
		}
		if (!tx_active) {
			uint32_t kind = 0;
			uint64_t seq = 0;

			if (echo_n) {
				kind = K_ECHO;
				seq = echo_q[0];
				memmove(echo_q, echo_q + 1,
					(size_t)--echo_n * sizeof(echo_q[0]));
			} else if (!stopped && !ping_out) {
				kind = pp ? K_PING : K_DATA;
				seq = next_seq++;
				ping_out = pp;
				out_seq = seq;
			} else if (stopped && !nomore_sent) {
				kind = K_NOMORE;
				nomore_sent = true;
			}
			if (kind) {
				stamp(d->tx, size, kind, seq);
				tx_active = true;
				tx_off = 0;
			}
		}
		if (tx_active) {
			n = a_send(d, d->tx + tx_off, size - tx_off);
			if (n > 0) {
				tx_off += (size_t)n;
				tx_active = tx_off < size;
				progress = true;
			} else if (n < 0 && (errno == EAGAIN ||
					     errno == EWOULDBLOCK)) {
				want_out = true;
			} else if (n < 0 && errno != EINTR) {
				return fail(d, "send", errno);
			}
		}
		rx_done = got_nomore && !ping_out;
		if (!rx_done) {
			n = a_recv(d, d->rx + rx_off, size - rx_off);
			if (n > 0) {
				double t = bench_now_us();
				bool in = counting && t < c->end_us;
				struct mhdr h;
				uint64_t tr;

				if (in)
					d->r.rx_bytes += (uint64_t)n;
				rx_off += (size_t)n;
				progress = true;
				if (rx_off < size)
					goto check_done;
				rx_off = 0;
				memcpy(&h, d->rx, sizeof(h));
				memcpy(&tr, d->rx + size - sizeof(tr), sizeof(tr));
				if (h.magic != HMAGIC)
					return fail(d, "bad message header", 0);
				if (h.kind != K_NOMORE && tr != (h.seq ^ TMAGIC))
					return fail(d, "bad message trailer", 0);
				switch (h.kind) {
				case K_DATA:
				case K_PING:
					if (h.kind != (pp ? K_PING : K_DATA) ||
					    h.seq != exp_seq++ || got_nomore)
						return fail(d, "message out of "
							    "order", 0);
					if (h.kind == K_PING) {
						if (echo_n == 8)
							return fail(d, "ping "
								"flood", 0);
						echo_q[echo_n++] = h.seq;
					}
					break;
				case K_ECHO:
					if (!ping_out || h.seq != out_seq)
						return fail(d, "unexpected "
							    "answer", 0);
					ping_out = false;
					if (in)
						d->r.rtts++;
					break;
				case K_NOMORE:
					if (got_nomore)
						return fail(d, "second NOMORE",
							    0);
					got_nomore = true;
					break;
				default:
					return fail(d, "bad message kind", 0);
				}
				if (in && h.kind != K_NOMORE)
					d->r.rx_msgs++;
			} else if (n == 0) {
				return fail(d, "unexpected end of stream", 0);
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				want_in = true;
			} else if (errno != EINTR) {
				return fail(d, "recv", errno);
			}
		}
check_done:
		rx_done = got_nomore && !ping_out;
		tx_done = nomore_sent && !tx_active && !echo_n &&
			  (!pp || got_nomore);
		if (rx_done && tx_done)
			break;
		if (progress) {
			last_progress = now;
			continue;
		}
		if (c->spin_us > 0 && now - last_progress < c->spin_us)
			continue;
		if (want_in || want_out) {
			struct pollfd p = { .fd = d->fd,
					    .events = (short)((want_in ? POLLIN : 0) |
							      (want_out ? POLLOUT : 0)) };
			double left = stopped ? c->end_us + 30e6 - now
					      : c->end_us - now;
			int ms = (int)(left / 1e3) + 1;

			if (stopped && left <= 0)
				return fail(d, "peer stalled (30 s)",
					    ETIMEDOUT);
			if (ms < 1)
				ms = 1;
			if (poll(&p, 1, ms) < 0 && errno != EINTR)
				return fail(d, "poll", errno);
		}
	}
	return 0;
}

static void *big_buffer(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Pin a domain as `pin` says (PIN_NONE: any CPU). */
static void dom_pin(int pin, int pair, int side)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n < 2)
		return;
	if (pin == PIN_PAIR || pin == PIN_SPREAD) {
		bench_pin(pin == PIN_PAIR ? pair % (int)n
					  : (2 * pair + side) % (int)n);
		return;
	}
	CPU_ZERO(&set);
	for (int i = 0; i < n && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int dom_enter(const struct aopts *o, const struct atrans *t, int pair,
		     int side)
{
	dom_pin(o->pin == PIN_BEST ? PIN_SPREAD : o->pin, pair, side);
	if (t->gen)
		return generic_multi_enter(2 * pair + side);
	if (t->v4v && o->netns && unshare(CLONE_NEWNET))
		return -1;
	return t->st->enter(side ? 'b' : 'a');
}

/* A domain's life: connect, say ready, run points until told to quit. */
_Noreturn void agg_domain(const struct aopts *o, const struct atrans *t, int pair,
		   int side, int ctl_r, int rep_w, int addr_w,
		   struct bench_addr *peer)
{
	struct dom d = { .t = t, .pair = pair, .side = side };
	struct ctl c;

	d.r.pair = pair;
	d.r.side = side;
	d.r.ready = 1;
	d.tx = big_buffer(o->max);
	d.rx = big_buffer(o->max);
	if (!d.tx || !d.rx || dom_enter(o, t, pair, side)) {
		fail(&d, "cannot set up the domain", errno);
		if (side) {
			struct bench_addr none = { .len = 0 };

			if (write(addr_w, &none, sizeof(none)) < 0)
				_exit(1);
		}
		goto report;
	}
	memset(d.tx, 0x5a, o->max);
	if (side) {
		struct bench_addr a = { .len = 0 };
		int l = t->gen ? st_inet_listen_any(&a) : t->st->listen(&a);

		if (l < 0)
			a.len = 0;
		if (write(addr_w, &a, sizeof(a)) != sizeof(a) || l < 0) {
			fail(&d, "cannot listen", errno);
			goto report;
		}
		d.fd = t->st->accept(l);
		if (d.fd < 0)
			fail(&d, "accept", errno);
	} else {
		d.fd = t->st->dial(peer);
		if (d.fd < 0)
			fail(&d, "connect", errno);
	}
	if (d.fd >= 0 && t->v4v) {
		int zero = 0; /* the loop below never blocks in recv */

		v4v_setsockopt(d.fd, SOL_V4V, V4V_SO_BUSY_POLL, &zero,
			       sizeof(zero));
	}
report:
	if (write(rep_w, &d.r, sizeof(d.r)) != sizeof(d.r) || d.r.err)
		_exit(1);
	while (read(ctl_r, &c, sizeof(c)) == sizeof(c) && c.op) {
		d.r.ready = 0;
		dom_pin(c.pin, pair, side);
		run_point(&d, &c);
		if (write(rep_w, &d.r, sizeof(d.r)) != sizeof(d.r) || d.r.err)
			_exit(1);
	}
	_exit(0);
}
