/* SPDX-License-Identifier: MIT */
/*
 * v4v bench aggregate: 1 to N pairs of domains at once, every pair
 * moving data in both directions over one connection, against the
 * machine's memcpy rate measured in the same run.
 *
 * Each domain is its own process (so its own V4V domain), forked once per
 * transport and kept for every point.  A domain runs one thread: a loop
 * of non-blocking sends and receives on its one connection, sleeping in
 * poll() when neither can progress, so both directions flow at once
 * without a second thread, and a domain that cannot progress gives its
 * core to the others (on this 2-core machine 16 domains share 2 cores).
 *
 * Every message is `size` bytes and carries a header {magic, kind, seq}
 * and a trailer (seq) that the receiver checks: messages arrive whole, in
 * order, none lost.  A point: the coordinator sends each domain a start
 * time; they all begin then, warm up, count the bytes they receive in a
 * fixed window, stop sending at its end, finish the message in hand, send
 * NOMORE, and drain until the peer's NOMORE (and, in ping-pong, the last
 * answers) so that the connection is quiet for the next point.
 */
#include "agg.h"
#include "sbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "v4v/socket.h"

#define MAX_PAIRS 16
#define MAX_POINTS 4096
#define MIN_SIZE 64

static const char usage[] =
"Usage: v4v bench aggregate [OPTION]...\n"
"1 to 8 pairs of domains (2 to 16 processes), every pair streaming (and,\n"
"separately, ping-ponging) in both directions at once over one connection,\n"
"for message sizes 4 KiB to 4 MiB, over V4V (direct and strict), AF_UNIX,\n"
"TCP loopback and the generic path (one network namespace per domain on a\n"
"bridge), against the memcpy rate of this machine measured in the same run.\n"
"\n"
"  --pairs LIST        comma-separated pair counts (default 1,2,4,8; max 16)\n"
"  --sizes MIN:MAX     message sizes, x4 steps (default 4K:4M)\n"
"  --step N            size multiplier (default 4)\n"
"  --seconds S         counted window per point (default 0.3)\n"
"  --warmup S          uncounted start of each point (default 0.1)\n"
"  --transports LIST   v4v,v4v-strict,unix,tcp,generic (default all)\n"
"  --modes LIST        stream,pingpong (default both)\n"
"  --buf BYTES         ring size / socket buffers, K or M suffix (default 2M)\n"
"  --pin MODE          best (default: each point under both of the next two,\n"
"                      the better kept), spread (the two sides of pair i on\n"
"                      cores 2i and 2i+1 mod cores), pair (both sides of\n"
"                      pair i on core i mod cores) or none\n"
"  --spin US           spin this long before poll() (default: 50 when\n"
"                      2 x pairs <= cores, else 0)\n"
"  --netns             put each V4V domain in its own empty network namespace\n"
"  --llc BYTES         last-level cache size for the memcpy reference\n"
"  --memref-seconds S  time per memcpy measurement (default 1)\n"
"  --no-memref         skip the memcpy reference\n"
"  --json FILE         write results as a JSON array\n"
"  --plot FILE.png     plot aggregate against pairs with the memcpy lines\n"
"  --quick             1,2 pairs, 4K:16K, 0.05 s windows, --pin spread,\n"
"                      memcpy reference with a 4 MiB LLC (for tests)\n"
"  -q, --quiet         no progress line\n";

enum { AM_STREAM = 1, AM_PINGPONG = 2 };
enum { PIN_NONE, PIN_SPREAD, PIN_PAIR, PIN_BEST };

struct atrans {
	const char *name;
	const struct stransport *st;
	bool v4v, gen;
};

static const struct atrans all_trans[] = {
	{ "v4v", &st_v4v, true, false },
	{ "v4v-strict", &st_v4v_strict, true, false },
	{ "unix", &st_unix, false, false },
	{ "tcp", &st_tcp, false, false },
	{ "generic", &st_generic, false, true },
	{ NULL, NULL, false, false }
};

struct aopts {
	int pairs[MAX_PAIRS], npairs, maxpairs;
	size_t min, max;
	unsigned step;
	double seconds, warm, memref_seconds;
	int modes, pin, spin, buf;
	size_t llc;
	bool netns, quiet, memref;
	const char *transports, *json, *plot;
};

/* Coordinator to domain. */
struct ctl {
	uint32_t op; /* 0 quit, 1 run */
	uint32_t mode;
	uint64_t size;
	double go_us, count_us, end_us;
	int32_t spin_us;
	int32_t pin; /* PIN_NONE, PIN_SPREAD or PIN_PAIR */
};

/* Domain to coordinator (one atomic pipe write). */
struct rep {
	int32_t pair, side, err, ready;
	uint64_t rx_bytes, rx_msgs, rtts;
	double cpu_us;
	char why[64];
};

struct aresult {
	const struct atrans *t;
	int mode, pairs;
	size_t size;
	double mbps, msgs, min_pair, max_pair, cpu_s_per_gb;
	uint64_t rtts;
	int pin;
};

/* ---- one domain ---- */

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

static void sleep_until(double us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1e6) };

	ts.tv_nsec = (long)((us - (double)ts.tv_sec * 1e6) * 1e3);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
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
	sleep_until(c->go_us);
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
static void domain(const struct aopts *o, const struct atrans *t, int pair,
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

/* ---- the coordinator ---- */

struct fleet {
	int n; /* pairs forked */
	pid_t pid[MAX_PAIRS][2];
	int ctl_w[MAX_PAIRS][2];
	int rep_r;
};

/* In a new domain: drop the coordinator's ends of every pipe, so that a
 * dead coordinator means end of file. */
static void fleet_forget(const struct fleet *f, int rep_r)
{
	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++)
			if (f->ctl_w[i][s] >= 0)
				close(f->ctl_w[i][s]);
	close(rep_r);
}

/* Read `want` reports (or fail after `timeout_ms`). */
static int collect(struct fleet *f, struct rep *out, int want, int timeout_ms,
		   const char *tname)
{
	for (int got = 0; got < want;) {
		struct pollfd p = { .fd = f->rep_r, .events = POLLIN };
		struct rep r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			fprintf(stderr, "\nv4v bench aggregate: %s: domains "
				"did not answer in time\n", tname);
			return -1;
		}
		if (read(f->rep_r, &r, sizeof(r)) != sizeof(r)) {
			fprintf(stderr, "\nv4v bench aggregate: %s: a domain "
				"died\n", tname);
			return -1;
		}
		if (r.err) {
			fprintf(stderr, "\nv4v bench aggregate: %s: pair %d "
				"side %c: %s: %s\n", tname, r.pair,
				r.side ? 'b' : 'a', r.why, strerror(r.err));
			return -1;
		}
		if (out)
			out[got] = r;
		got++;
	}
	return 0;
}

static void fleet_end(struct fleet *f, bool force)
{
	struct ctl quit = { .op = 0 };

	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++) {
			if (f->ctl_w[i][s] >= 0) {
				if (!force && write(f->ctl_w[i][s], &quit,
						    sizeof(quit)) < 0)
					force = true;
				close(f->ctl_w[i][s]);
			}
			if (force && f->pid[i][s] > 0)
				kill(f->pid[i][s], SIGKILL);
		}
	for (int i = 0; i < f->n; i++)
		for (int s = 0; s < 2; s++)
			if (f->pid[i][s] > 0)
				waitpid(f->pid[i][s], NULL, 0);
	if (f->rep_r >= 0)
		close(f->rep_r);
	f->n = 0;
}

static int fleet_start(struct fleet *f, const struct aopts *o,
		       const struct atrans *t)
{
	int rp[2];

	memset(f, 0, sizeof(*f));
	f->rep_r = -1;
	if (pipe2(rp, O_CLOEXEC))
		return -1;
	f->rep_r = rp[0];
	for (int i = 0; i < o->maxpairs; i++) {
		struct bench_addr a;
		int cp[2][2], ap[2];

		if (pipe2(cp[0], O_CLOEXEC) || pipe2(cp[1], O_CLOEXEC) ||
		    pipe2(ap, O_CLOEXEC))
			goto fail;
		f->ctl_w[i][0] = cp[0][1];
		f->ctl_w[i][1] = cp[1][1];
		f->n = i + 1;
		f->pid[i][1] = fork();
		if (f->pid[i][1] == 0) {
			fleet_forget(f, rp[0]);
			close(cp[0][0]);
			domain(o, t, i, 1, cp[1][0], rp[1], ap[1], NULL);
		}
		close(ap[1]);
		if (read(ap[0], &a, sizeof(a)) != sizeof(a) || !a.len) {
			close(ap[0]);
			close(cp[0][0]);
			close(cp[1][0]);
			goto fail;
		}
		close(ap[0]);
		if (t->gen) {
			char ip[32];
			struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;

			generic_multi_addr(2 * i + 1, ip, sizeof(ip));
			inet_pton(AF_INET, ip, &sin->sin_addr);
		}
		f->pid[i][0] = fork();
		if (f->pid[i][0] == 0) {
			fleet_forget(f, rp[0]);
			close(cp[1][0]);
			domain(o, t, i, 0, cp[0][0], rp[1], -1, &a);
		}
		close(cp[0][0]);
		close(cp[1][0]);
	}
	close(rp[1]);
	rp[1] = -1;
	if (collect(f, NULL, 2 * o->maxpairs, 30000, t->name))
		goto fail;
	return 0;
fail:
	if (rp[1] >= 0)
		close(rp[1]);
	fleet_end(f, true);
	return -1;
}

/* utime + stime of a process, in µs (0 if it cannot be read). */
static double proc_cpu_us(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int run_one(struct fleet *f, const struct aopts *o,
		   const struct atrans *t, int mode, size_t size, int pairs,
		   int pin, struct aresult *res)
{
	static struct rep reps[2 * MAX_PAIRS];
	double pair_bytes[MAX_PAIRS] = { 0 }, bytes = 0, msgs = 0, cpu = 0;
	double now = bench_now_us(), hv0 = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct ctl c = { .op = 1, .mode = (uint32_t)mode, .size = size };
	pid_t hv = t->st == &st_v4v_strict ? st_strict_pid() : 0;

	c.pin = pin;
	c.spin_us = o->spin >= 0 ? o->spin : 2 * pairs <= ncpu ? 50 : 0;
	c.go_us = now + 20000 + 2000.0 * pairs;
	c.count_us = c.go_us + o->warm * 1e6;
	c.end_us = c.count_us + o->seconds * 1e6;
	for (int i = 0; i < pairs; i++)
		for (int s = 0; s < 2; s++)
			if (write(f->ctl_w[i][s], &c, sizeof(c)) != sizeof(c))
				return -1;
	/* The strict hypervisor moves every byte: its CPU counts too. */
	sleep_until(c.count_us);
	hv0 = proc_cpu_us(hv);
	sleep_until(c.end_us);
	cpu += proc_cpu_us(hv) - hv0;
	if (collect(f, reps, 2 * pairs,
		    (int)(o->seconds * 1000) + 60000, t->name))
		return -1;
	*res = (struct aresult){ .t = t, .mode = mode, .pairs = pairs,
				 .size = size, .pin = pin };
	for (int i = 0; i < 2 * pairs; i++) {
		pair_bytes[reps[i].pair] += (double)reps[i].rx_bytes;
		bytes += (double)reps[i].rx_bytes;
		msgs += (double)reps[i].rx_msgs;
		cpu += reps[i].cpu_us;
		res->rtts += reps[i].rtts;
	}
	res->mbps = bytes / (o->seconds * 1e6);
	res->msgs = msgs / o->seconds;
	res->min_pair = res->max_pair = pair_bytes[0];
	for (int i = 1; i < pairs; i++) {
		if (pair_bytes[i] < res->min_pair)
			res->min_pair = pair_bytes[i];
		if (pair_bytes[i] > res->max_pair)
			res->max_pair = pair_bytes[i];
	}
	res->min_pair /= o->seconds * 1e6;
	res->max_pair /= o->seconds * 1e6;
	res->cpu_s_per_gb = bytes > 0 ? cpu / 1e6 / (bytes / 1e9) : 0;
	return 0;
}

/* One point; with --pin best, under both pinnings, the better kept. */
static int run_best(struct fleet *f, const struct aopts *o,
		    const struct atrans *t, int mode, size_t size, int pairs,
		    struct aresult *res)
{
	struct aresult other;

	if (o->pin != PIN_BEST)
		return run_one(f, o, t, mode, size, pairs, o->pin, res);
	if (run_one(f, o, t, mode, size, pairs, PIN_PAIR, res) ||
	    run_one(f, o, t, mode, size, pairs, PIN_SPREAD, &other))
		return -1;
	if (other.mbps > res->mbps)
		*res = other;
	return 0;
}

static int nsizes(const struct aopts *o)
{
	int n = 0;

	for (size_t s = o->min; s <= o->max; s *= o->step)
		n++;
	return n;
}

static int nmodes(const struct aopts *o)
{
	return (o->modes & AM_STREAM ? 1 : 0) + (o->modes & AM_PINGPONG ? 1 : 0);
}

static const char *mode_name(int m)
{
	return m == AM_STREAM ? "stream" : "pingpong";
}

static int run_transport(const struct aopts *o, const struct atrans *t,
			 struct aresult *res, int *nres, int *step, int nsteps)
{
	struct fleet f;
	int rc = 0;

	if (t->gen ? generic_multi_setup(2 * o->maxpairs)
		   : t->st->prepare ? t->st->prepare() : 0) {
		fprintf(stderr, "v4v bench aggregate: skipping %s\n", t->name);
		*step += nsizes(o) * o->npairs * nmodes(o);
		return -1;
	}
	/* One uncounted point with every pair: connections established,
	 * rings and buffers touched, before anything is measured. */
	if (fleet_start(&f, o, t) ||
	    run_one(&f, o, t, AM_STREAM, o->min, o->maxpairs,
		    o->pin == PIN_BEST ? PIN_SPREAD : o->pin, &res[*nres])) {
		fprintf(stderr, "\nv4v bench aggregate: %s: cannot start the "
			"domains%s\n", t->name,
			t->st == &st_v4v ? " (is v4vd running?)" : "");
		*step += nsizes(o) * o->npairs * nmodes(o);
		rc = -1;
		goto out;
	}
	for (int m = AM_STREAM; m <= AM_PINGPONG && !rc; m++) {
		if (!(o->modes & m))
			continue;
		for (size_t size = o->min; size <= o->max && !rc;
		     size *= o->step)
			for (int p = 0; p < o->npairs && !rc; p++) {
				if (!o->quiet)
					fprintf(stderr, "\rv4v bench aggregate:"
						" %-10s %-8s %5zuK x %2d pairs"
						"  [%d/%d]   ", t->name,
						mode_name(m), size >> 10,
						o->pairs[p], ++*step, nsteps);
				if (*nres >= MAX_POINTS ||
				    run_best(&f, o, t, m, size, o->pairs[p],
					     &res[*nres])) {
					rc = -1;
					break;
				}
				++*nres;
			}
	}
	fleet_end(&f, rc != 0);
out:
	if (t->gen)
		generic_multi_teardown(2 * o->maxpairs);
	else if (t->st->cleanup)
		t->st->cleanup();
	return rc;
}

/* ---- output ---- */

static void fmt_size(char *b, size_t len, size_t s)
{
	/* Message sizes stay far below 4 GiB: 10 digits at most. */
	if (s >= 1 << 20 && !(s & ((1 << 20) - 1)))
		snprintf(b, len, "%uM", (unsigned)(s >> 20));
	else if (s >= 1 << 10 && !(s & ((1 << 10) - 1)))
		snprintf(b, len, "%uK", (unsigned)(s >> 10));
	else
		snprintf(b, len, "%uB", (unsigned)s);
}

static const struct aresult *find(const struct aresult *r, int n,
				  const char *t, int mode, size_t size,
				  int pairs)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t->name, t) && r[i].mode == mode &&
		    r[i].size == size && r[i].pairs == pairs)
			return &r[i];
	return NULL;
}

static void print_grid(const struct aresult *r, int n, const struct aopts *o,
		       const struct atrans **ts, int nts, int mode)
{
	printf("\nAggregate %s, both directions at once: MB/s received by "
	       "all domains (x: vs generic)\n%6s %5s",
	       mode == AM_STREAM ? "streaming" : "ping-pong", "size", "pairs");
	for (int i = 0; i < nts; i++)
		printf(" %17s", ts[i]->name);
	printf("\n");
	for (size_t s = o->min; s <= o->max; s *= o->step)
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *g = find(r, n, "generic", mode, s,
						       o->pairs[p]);
			char sz[16];

			fmt_size(sz, sizeof(sz), s);
			printf("%6s %5d", sz, o->pairs[p]);
			for (int i = 0; i < nts; i++) {
				const struct aresult *x = find(r, n,
					ts[i]->name, mode, s, o->pairs[p]);
				char cell[40] = "-";

				if (x && g && g != x && g->mbps > 0)
					snprintf(cell, sizeof(cell),
						 "%9.0f %6.1fx", x->mbps,
						 x->mbps / g->mbps);
				else if (x)
					snprintf(cell, sizeof(cell), "%9.0f",
						 x->mbps);
				printf(" %17s", cell);
			}
			printf("\n");
		}
}

static const char *pin_name(int pin)
{
	return pin == PIN_PAIR ? "pair" : pin == PIN_SPREAD ? "spread"
								: "none";
}

static void print_details(const struct aresult *r, int n)
{
	printf("\nEvery point: aggregate MB/s and messages/s (received, all "
	       "domains), slowest and fastest pair, CPU seconds per GB moved\n"
	       "%-10s %-8s %6s %5s %9s %10s %9s %9s %7s %8s %6s\n",
	       "transport", "mode", "size", "pairs", "MB/s", "msgs/s",
	       "min pair", "max pair", "min/max", "CPU s/GB", "pin");
	for (int i = 0; i < n; i++) {
		char sz[16];

		fmt_size(sz, sizeof(sz), r[i].size);
		printf("%-10s %-8s %6s %5d %9.0f %10.0f %9.0f %9.0f %7.2f "
		       "%8.3f %6s\n", r[i].t->name, mode_name(r[i].mode), sz,
		       r[i].pairs, r[i].mbps, r[i].msgs, r[i].min_pair,
		       r[i].max_pair,
		       r[i].max_pair > 0 ? r[i].min_pair / r[i].max_pair : 0,
		       r[i].cpu_s_per_gb, pin_name(r[i].pin));
	}
}

/* The headline: v4v streaming at the largest pair count, best size. */
static void print_summary(const struct aresult *r, int n,
			  const struct aopts *o, const struct memref *m)
{
	int maxp = o->pairs[o->npairs - 1];
	const struct aresult *best = NULL, *bestall = NULL;

	for (int i = 0; i < n; i++) {
		if (strcmp(r[i].t->name, "v4v") || r[i].mode != AM_STREAM)
			continue;
		if (r[i].pairs == maxp && (!best || r[i].mbps > best->mbps))
			best = &r[i];
		if (!bestall || r[i].mbps > bestall->mbps)
			bestall = &r[i];
	}
	if (m) {
		char a[16], b[16];

		fmt_size(a, sizeof(a), m->big_bytes);
		fmt_size(b, sizeof(b), m->small_bytes);
		printf("\nMemory-bandwidth reference (memcpy, %d threads, "
		       "bytes copied per second):\n"
		       "  buffers 4 x LLC (%s source in all, LLC %zu KiB): "
		       "%9.0f MB/s\n"
		       "  buffers in cache (%s source in all):%*s%9.0f MB/s\n",
		       m->threads, a, m->llc >> 10, m->big_mbps, b,
		       (int)(strlen(a) + 14 + 6 - strlen(b)), "", m->small_mbps);
	}
	if (!best)
		return;
	{
		char sz[16];

		fmt_size(sz, sizeof(sz), best->size);
		printf("\nv4v streaming, %d pairs, best size (%s): %.0f MB/s",
		       maxp, sz, best->mbps);
		if (m && m->big_mbps > 0)
			printf(" = %.0f %% of memcpy 4 x LLC, %.0f %% of memcpy "
			       "in cache", 100 * best->mbps / m->big_mbps,
			       100 * best->mbps / m->small_mbps);
		printf("\n  slowest pair / fastest pair: %.2f; %d pairs keep "
		       "%.0f %% of the best v4v aggregate (%.0f MB/s, %d "
		       "pairs)\n",
		       best->max_pair > 0 ? best->min_pair / best->max_pair : 0,
		       maxp, 100 * best->mbps / bestall->mbps, bestall->mbps,
		       bestall->pairs);
		for (int i = 0; i < n; i++)
			if (r[i].mode == AM_STREAM && r[i].size == best->size &&
			    r[i].pairs == maxp && r[i].t != best->t &&
			    r[i].mbps > 0)
				printf("  vs %-10s %8.0f MB/s: %5.1fx\n",
				       r[i].t->name, r[i].mbps,
				       best->mbps / r[i].mbps);
	}
}

static int write_json(const char *path, const struct aresult *r, int n,
		      const struct memref *m)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "[\n");
	if (m) {
		fprintf(f, "  {\"transport\": \"memcpy\", \"mode\": "
			"\"aggregate\", \"buffer\": \"4xLLC\", \"threads\": %d, "
			"\"size\": %zu, \"llc\": %zu, \"mbps\": %.1f},\n",
			m->threads, m->big_bytes, m->llc, m->big_mbps);
		fprintf(f, "  {\"transport\": \"memcpy\", \"mode\": "
			"\"aggregate\", \"buffer\": \"cache\", \"threads\": %d, "
			"\"size\": %zu, \"llc\": %zu, \"mbps\": %.1f}%s\n",
			m->threads, m->small_bytes, m->llc, m->small_mbps,
			n ? "," : "");
	}
	for (int i = 0; i < n; i++)
		fprintf(f, "  {\"transport\": \"%s\", \"mode\": \"aggregate\", "
			"\"traffic\": \"%s\", \"pairs\": %d, \"size\": %zu, "
			"\"mbps\": %.1f, \"msgs_per_s\": %.1f, "
			"\"min_pair_mbps\": %.1f, \"max_pair_mbps\": %.1f, "
			"\"cpu_s_per_gb\": %.4f, \"round_trips\": %llu, "
			"\"pin\": \"%s\"}%s\n",
			r[i].t->name, mode_name(r[i].mode), r[i].pairs,
			r[i].size, r[i].mbps, r[i].msgs, r[i].min_pair,
			r[i].max_pair, r[i].cpu_s_per_gb,
			(unsigned long long)r[i].rtts, pin_name(r[i].pin),
			i + 1 < n ? "," : "");
	fprintf(f, "]\n");
	return fclose(f);
}

/* Left: streaming aggregate against pairs, every transport, at the size
 * where v4v does best with the most pairs; right: v4v at every size.
 * Both with the two memcpy rates as horizontal lines. */
static int write_plot(const char *png, const struct aresult *r, int n,
		      const struct aopts *o, const struct atrans **ts, int nts,
		      const struct memref *m)
{
	char data[] = "/tmp/v4vagg-plot.XXXXXX", sz[16];
	int fd = mkstemp(data), maxp = o->pairs[o->npairs - 1], idx = 0, rc;
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL, *g;
	const struct aresult *best = NULL;
	int blocks[64];
	const char *title[64];
	static char titles[64][32];

	if (!f)
		return -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(r[i].t->name, "v4v") && r[i].mode == AM_STREAM &&
		    r[i].pairs == maxp && (!best || r[i].mbps > best->mbps))
			best = &r[i];
	if (!best)
		for (int i = 0; i < n; i++)
			if (r[i].mode == AM_STREAM && r[i].pairs == maxp &&
			    (!best || r[i].mbps > best->mbps))
				best = &r[i];
	if (!best) {
		fclose(f);
		unlink(data);
		return -1;
	}
	fmt_size(sz, sizeof(sz), best->size);
	for (int i = 0; i < nts; i++) {
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *x = find(r, n, ts[i]->name,
				AM_STREAM, best->size, o->pairs[p]);

			if (x)
				fprintf(f, "%d %f\n", x->pairs, x->mbps);
		}
		fprintf(f, "\n\n");
		blocks[idx] = idx;
		title[idx++] = ts[i]->name;
	}
	for (size_t s = o->min; s <= o->max && idx < 64; s *= o->step) {
		for (int p = 0; p < o->npairs; p++) {
			const struct aresult *x = find(r, n, "v4v", AM_STREAM,
						       s, o->pairs[p]);

			if (x)
				fprintf(f, "%d %f\n", x->pairs, x->mbps);
		}
		fprintf(f, "\n\n");
		fmt_size(titles[idx], sizeof(titles[idx]), s);
		blocks[idx] = idx;
		title[idx] = titles[idx];
		idx++;
	}
	fclose(f);
	g = popen("gnuplot", "w");
	if (!g) {
		unlink(data);
		return -1;
	}
	fprintf(g, "set terminal pngcairo size 1400,560 noenhanced\n"
		   "set output '%s'\nset multiplot layout 1,2\nset grid\n"
		   "set xlabel 'pairs of domains'\nset ylabel 'MB/s'\n"
		   "set logscale y\nset key outside right\n"
		   "set xrange [0.8:%d]\nset logscale x 2\n", png, maxp + 1);
	for (int panel = 0; panel < 2; panel++) {
		if (panel == 0)
			fprintf(g, "set title 'Aggregate streaming, %s "
				   "messages, both directions'\nplot ", sz);
		else
			fprintf(g, "set title 'v4v aggregate streaming by "
				   "message size'\nplot ");
		for (int i = panel ? nts : 0; i < (panel ? idx : nts); i++)
			fprintf(g, "'%s' index %d with linespoints title '%s', ",
				data, blocks[i], title[i]);
		if (m)
			fprintf(g, "%f with lines dt 2 lw 2 title 'memcpy "
				   "4xLLC', %f with lines dt 3 lw 2 title "
				   "'memcpy in cache'\n",
				m->big_mbps, m->small_mbps);
		else
			fprintf(g, "1/0 notitle\n");
	}
	fprintf(g, "unset multiplot\n");
	rc = pclose(g);
	unlink(data);
	return rc;
}

/* ---- options ---- */

static bool parse_bytes(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		return false;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (*end || !v)
		return false;
	*out = (size_t)v;
	return true;
}

/* MIN:MAX, each with an optional K or M; MIN a power of two. */
static bool parse_sizes(const char *s, struct aopts *o)
{
	char lo[32];
	const char *colon = strchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(lo))
		return false;
	memcpy(lo, s, (size_t)(colon - s));
	lo[colon - s] = '\0';
	if (!parse_bytes(lo, &o->min) || !parse_bytes(colon + 1, &o->max))
		return false;
	return o->min >= MIN_SIZE && o->min <= o->max &&
	       o->max <= 16u << 20 && !(o->min & (o->min - 1));
}

static bool parse_pairs(const char *s, struct aopts *o)
{
	char *end;

	o->npairs = 0;
	while (*s) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > MAX_PAIRS ||
		    o->npairs == MAX_PAIRS ||
		    (o->npairs && v <= o->pairs[o->npairs - 1]))
			return false;
		o->pairs[o->npairs++] = (int)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return false;
	}
	return o->npairs > 0;
}

static int parse(int argc, char **argv, struct aopts *o)
{
	static const struct option longopts[] = {
		{ "pairs", required_argument, NULL, 'p' },
		{ "sizes", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 'S' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "transports", required_argument, NULL, 'T' },
		{ "modes", required_argument, NULL, 'm' },
		{ "buf", required_argument, NULL, 'b' },
		{ "pin", required_argument, NULL, 'P' },
		{ "spin", required_argument, NULL, 'x' },
		{ "netns", no_argument, NULL, 'n' },
		{ "llc", required_argument, NULL, 'L' },
		{ "memref-seconds", required_argument, NULL, 'M' },
		{ "no-memref", no_argument, NULL, 'N' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'g' },
		{ "quick", no_argument, NULL, 'Q' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool quick = false, sizes = false, pairs = false, secs = false;
	bool pin = false;
	int c;
	size_t v;

	*o = (struct aopts){ .min = 4096, .max = 4u << 20, .step = 4,
			     .seconds = 0.3, .warm = 0.1, .memref_seconds = 1,
			     .modes = AM_STREAM | AM_PINGPONG, .pin = PIN_BEST,
			     .spin = -1, .buf = 2 << 20, .memref = true,
			     .npairs = 4, .pairs = { 1, 2, 4, 8 } };
	optind = 1;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_pairs(optarg, o))
				goto bad;
			pairs = true;
			break;
		case 's':
			if (!parse_sizes(optarg, o))
				goto bad;
			sizes = true;
			break;
		case 'S':
			o->step = (unsigned)atoi(optarg);
			if (o->step < 2)
				goto bad;
			break;
		case 't':
			o->seconds = atof(optarg);
			if (!(o->seconds >= 0.01 && o->seconds <= 600))
				goto bad;
			secs = true;
			break;
		case 'w':
			o->warm = atof(optarg);
			if (!(o->warm >= 0 && o->warm <= 60))
				goto bad;
			break;
		case 'T': o->transports = optarg; break;
		case 'm':
			o->modes = (strstr(optarg, "stream") ? AM_STREAM : 0) |
				   (strstr(optarg, "pingpong") ? AM_PINGPONG : 0);
			if (!o->modes)
				goto bad;
			break;
		case 'b':
			if (!parse_bytes(optarg, &v) || v < 4096 ||
			    v > V4V_MAX_RING_SIZE)
				goto bad;
			o->buf = (int)v;
			break;
		case 'P':
			pin = true;
			if (!strcmp(optarg, "best"))
				o->pin = PIN_BEST;
			else if (!strcmp(optarg, "spread"))
				o->pin = PIN_SPREAD;
			else if (!strcmp(optarg, "pair"))
				o->pin = PIN_PAIR;
			else if (!strcmp(optarg, "none"))
				o->pin = PIN_NONE;
			else
				goto bad;
			break;
		case 'x':
			o->spin = atoi(optarg);
			if (o->spin < 0)
				goto bad;
			break;
		case 'n': o->netns = true; break;
		case 'L':
			if (!parse_bytes(optarg, &o->llc))
				goto bad;
			break;
		case 'M':
			o->memref_seconds = atof(optarg);
			if (!(o->memref_seconds >= 0.01 &&
			      o->memref_seconds <= 60))
				goto bad;
			break;
		case 'N': o->memref = false; break;
		case 'j': o->json = optarg; break;
		case 'g': o->plot = optarg; break;
		case 'Q': quick = true; break;
		case 'q': o->quiet = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: goto bad;
		}
	}
	if (quick) {
		if (!pairs) {
			o->npairs = 2;
			o->pairs[0] = 1;
			o->pairs[1] = 2;
		}
		if (!sizes) {
			o->min = 4096;
			o->max = 16384;
		}
		if (!secs)
			o->seconds = 0.05;
		o->warm = o->warm < 0.02 ? o->warm : 0.02;
		if (!pin)
			o->pin = PIN_SPREAD;
		o->memref_seconds = 0.1;
		if (!o->llc)
			o->llc = 4u << 20;
	}
	o->maxpairs = o->pairs[o->npairs - 1];
	if (optind == argc)
		return 0;
bad:
	fprintf(stderr, "v4v bench aggregate: bad arguments\n%s", usage);
	return 2;
}

int cmd_bench_aggregate(int argc, char **argv)
{
	static struct aresult res[MAX_POINTS];
	const struct atrans *ts[8];
	struct memref m;
	bool have_m = false;
	int nts = 0, nres = 0, step = 0, nsteps, rc;
	struct aopts o;

	rc = parse(argc, argv, &o);
	if (rc)
		return rc;
	for (int i = 0; all_trans[i].name; i++)
		if (bench_listed(o.transports, all_trans[i].name))
			ts[nts++] = &all_trans[i];
	if (!nts) {
		fprintf(stderr, "v4v bench aggregate: no known transport in "
			"'%s'\n", o.transports);
		return 2;
	}
	sbench_buf_bytes = o.buf;
	signal(SIGPIPE, SIG_IGN);
	if (o.memref) {
		if (!o.quiet)
			fprintf(stderr, "\rv4v bench aggregate: memcpy "
				"reference ...");
		have_m = !memref_measure(&m,
			(int)sysconf(_SC_NPROCESSORS_ONLN), o.llc,
			o.memref_seconds);
		if (!have_m)
			fprintf(stderr, "\nv4v bench aggregate: cannot get "
				"memory for the memcpy reference\n");
	}
	nsteps = nts * nsizes(&o) * o.npairs * nmodes(&o);
	fflush(stdout);
	for (int i = 0; i < nts; i++)
		run_transport(&o, ts[i], res, &nres, &step, nsteps);
	if (!o.quiet)
		fprintf(stderr, "\r%75s\r", "");
	{
		char buf[16];

		fmt_size(buf, sizeof(buf), (size_t)o.buf);
		printf("Aggregate benchmark: pairs %d..%d, %.2f s per point "
		       "(after %.2f s warm-up), rings and socket buffers %s, "
		       "pinning %s\n", o.pairs[0], o.maxpairs, o.seconds,
		       o.warm, buf,
		       o.pin == PIN_BEST ? "best of pair and spread, per point"
		       : o.pin == PIN_PAIR ? "pair (both sides of pair i on "
					     "core i mod cores)"
		       : o.pin == PIN_SPREAD ? "spread (the two sides of a "
					       "pair on different cores)"
					     : "none");
	}
	for (int m2 = AM_STREAM; m2 <= AM_PINGPONG; m2++)
		if (o.modes & m2)
			print_grid(res, nres, &o, ts, nts, m2);
	print_details(res, nres);
	print_summary(res, nres, &o, have_m ? &m : NULL);
	if (o.json && write_json(o.json, res, nres, have_m ? &m : NULL)) {
		fprintf(stderr, "v4v bench aggregate: cannot write %s: %s\n",
			o.json, strerror(errno));
		return 1;
	}
	if (o.plot && write_plot(o.plot, res, nres, &o, ts, nts,
				 have_m ? &m : NULL))
		fprintf(stderr, "v4v bench aggregate: plotting failed (is "
			"gnuplot installed?)\n");
	return nres ? 0 : 1;
}
