/* SPDX-License-Identifier: MIT */
/*
 * strictcopy: how should strict mode's copy engine move a stream's bytes?
 *
 * In strict mode no memory is shared between two domains, so a third
 * party (v4vd's copy engine) carries every byte.  Issue 16 asks to
 * measure the two ways it can, and keep the faster:
 *
 *   queue  what v4vd does: the sender copies into its own transmit queue
 *          (memory it shares with the engine only), the engine copies
 *          from that queue into the receiver's ring, the receiver copies
 *          out: three copies, all three parties pipelined.
 *   pvm    the sender posts {address, length} of its buffer; the engine
 *          copies straight from the sender's memory into the receiver's
 *          ring with process_vm_readv and publishes the completion, and
 *          only then may the sender reuse its buffer: two copies, but
 *          the sender waits for each message.
 *
 * and, in the same run, for scale:
 *
 *   direct the sender copies into the receiver's ring itself (direct
 *          mode, which shares the ring): two copies, no engine.
 *   unix   write() and read() on an AF_UNIX socketpair.
 *
 * One engine process serves all pairs in turn, 64 KiB a turn, as v4vd's
 * engine does without copy threads; every waiter spins on shared memory
 * and yields every 64 looks, as the strict receivers do.  Rings are
 * 256 KiB, the default.  The figure is the bytes received per second by
 * all receivers, the median of REPS runs.
 *
 *   strictcopy [-p PAIRS] [-s SECONDS] [-r REPS] SIZE...
 */
#include "copytool.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define RING (256u << 10)
#define TURN (64u << 10)
#define MAX_PAIRS 16

enum mode { QUEUE, PVM, DIRECT, UNIX_SOCK, NMODES };
static const char *const names[NMODES] = { "queue", "pvm", "direct", "unix" };

/* A byte ring: head and tail count bytes ever produced and consumed. */
struct ring {
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) uint8_t data[RING];
};

/* A pvm sender's post: the engine sets done = seq when all is copied. */
struct post {
	_Alignas(64) _Atomic uint64_t seq;
	pid_t pid;
	uint8_t *addr;
	size_t len;
	_Alignas(64) _Atomic uint64_t done;
};

struct pair {
	struct ring txq, rx;
	struct post post;
	uint64_t copied; /* pvm: of the current post (the engine's own) */
};

struct shared {
	_Atomic int stop;
	struct pair pairs[MAX_PAIRS];
};

/* Set when the run is over: whoever waits gives up. */
static _Atomic int *stopping;

static bool stopped(void)
{
	return atomic_load_explicit(stopping, memory_order_relaxed);
}

/* Spin as the strict receivers do: pause, and yield every 64 looks. */
static void idle(unsigned *spins)
{
	if (++*spins % 64 == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

static size_t ring_used(struct ring *r)
{
	return (size_t)(atomic_load_explicit(&r->head, memory_order_acquire) -
			atomic_load_explicit(&r->tail, memory_order_relaxed));
}

static size_t ring_room(struct ring *r)
{
	return RING - (size_t)(atomic_load_explicit(&r->head,
						    memory_order_relaxed) -
			       atomic_load_explicit(&r->tail,
						    memory_order_acquire));
}

/* The free space at the head that is contiguous in memory. */
static size_t ring_room_run(struct ring *r, uint8_t **at)
{
	size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed) % RING;
	size_t room = ring_room(r);

	*at = r->data + pos;
	return room < RING - pos ? room : RING - pos;
}

static void ring_produced(struct ring *r, size_t n)
{
	atomic_fetch_add_explicit(&r->head, n, memory_order_release);
}

/* Up to n bytes from src; returns how many went in. */
static size_t ring_put(struct ring *r, const uint8_t *src, size_t n)
{
	size_t done = 0;

	while (done < n) {
		uint8_t *at;
		size_t k = ring_room_run(r, &at);

		if (!k)
			break;
		if (k > n - done)
			k = n - done;
		memcpy(at, src + done, k);
		ring_produced(r, k);
		done += k;
	}
	return done;
}

/* Up to n bytes into dst; returns how many came out. */
static size_t ring_get(struct ring *r, uint8_t *dst, size_t n)
{
	size_t done = 0, used;

	while (done < n && (used = ring_used(r))) {
		size_t pos = atomic_load_explicit(&r->tail,
						  memory_order_relaxed) % RING;
		size_t k = used < RING - pos ? used : RING - pos;

		if (k > n - done)
			k = n - done;
		memcpy(dst + done, r->data + pos, k);
		atomic_fetch_add_explicit(&r->tail, k, memory_order_release);
		done += k;
	}
	return done;
}

/* ---- the three parties ---- */

/* Every party of a pair shares every descriptor (they are forked from
 * one parent), so no end of file comes: wait a little at a time. */
static void sock_wait(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	poll(&p, 1, 10);
}

/* One message; false once the run is over. */
static bool send_one(enum mode m, struct pair *p, int sock, uint8_t *b,
		     size_t len, uint64_t seq)
{
	struct ring *to = m == QUEUE ? &p->txq : &p->rx;
	unsigned spins = 0;

	if (m == UNIX_SOCK) {
		for (size_t off = 0; off < len;) {
			ssize_t n = send(sock, b + off, len - off,
					 MSG_DONTWAIT);

			if (n > 0)
				off += (size_t)n;
			else if (stopped())
				return false;
			else if (errno == EAGAIN)
				sock_wait(sock, POLLOUT);
			else if (errno != EINTR)
				copy_die("send");
		}
	} else if (m == PVM) {
		p->post.pid = getpid();
		p->post.addr = b;
		p->post.len = len;
		atomic_store_explicit(&p->post.seq, seq, memory_order_release);
		while (atomic_load_explicit(&p->post.done,
					    memory_order_acquire) != seq)
			if (stopped())
				return false;
			else
				idle(&spins);
	} else {
		for (size_t off = 0; off < len;) {
			size_t k = ring_put(to, b + off, len - off);

			off += k;
			if (k)
				continue;
			if (stopped())
				return false;
			idle(&spins);
		}
	}
	return true;
}

/* One turn of the engine on one pair: whether it moved anything. */
static bool engine_turn(enum mode m, struct pair *p)
{
	uint8_t *at;
	size_t k = ring_room_run(&p->rx, &at);

	if (!k)
		return false;
	if (k > TURN)
		k = TURN;
	if (m == QUEUE) {
		k = ring_get(&p->txq, at, k);
	} else {
		uint64_t seq = atomic_load_explicit(&p->post.seq,
						    memory_order_acquire);
		struct iovec l, r;

		if (seq == atomic_load_explicit(&p->post.done,
						memory_order_relaxed))
			return false;
		if (k > p->post.len - p->copied)
			k = p->post.len - p->copied;
		l = (struct iovec){ at, k };
		r = (struct iovec){ p->post.addr + p->copied, k };
		if (process_vm_readv(p->post.pid, &l, 1, &r, 1, 0) !=
		    (ssize_t)k)
			copy_die("process_vm_readv (pvm needs ptrace rights: root)");
		p->copied += k;
		if (p->copied == p->post.len) {
			p->copied = 0;
			atomic_store_explicit(&p->post.done, seq,
					      memory_order_release);
		}
	}
	if (k)
		ring_produced(&p->rx, k);
	return k != 0;
}

static void engine(enum mode m, struct shared *sh, int pairs)
{
	unsigned spins = 0;

	while (!stopped()) {
		bool moved = false;

		for (int i = 0; i < pairs; i++)
			moved |= engine_turn(m, &sh->pairs[i]);
		if (!moved)
			idle(&spins);
	}
}

/* Receive until the sender stops; bytes per second. */
static double receive(enum mode m, struct pair *p, int sock, uint8_t *b,
		      size_t len, double until)
{
	uint64_t got = 0;
	double start = copy_now();
	unsigned spins = 0;

	while (copy_now() < until) {
		size_t k;

		if (m == UNIX_SOCK) {
			ssize_t n = recv(sock, b, len, MSG_DONTWAIT);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				copy_die("recv");
			k = n > 0 ? (size_t)n : 0;
			if (!k)
				sock_wait(sock, POLLIN);
		} else {
			k = ring_get(&p->rx, b, len);
			if (!k)
				idle(&spins);
		}
		got += k;
	}
	return (double)got / (copy_now() - start);
}

static void *shared_mem(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		copy_die("mmap");
	return m;
}

/* One timed run: MB/s received by all receivers. */
static double run(int mode, size_t len, int pairs, double secs)
{
	enum mode m = (enum mode)mode;
	struct shared *sh = shared_mem(sizeof(*sh));
	double *mbps = shared_mem(sizeof(double) * MAX_PAIRS), total = 0;
	double until = copy_now() + secs;
	stopping = &sh->stop;
	if (m == QUEUE || m == PVM) {
		if (fork() == 0) {
			engine(m, sh, pairs);
			_exit(0);
		}
	}
	for (int i = 0; i < pairs; i++) {
		struct pair *p = &sh->pairs[i];
		int sv[2] = { -1, -1 };

		if (m == UNIX_SOCK && socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			copy_die("socketpair");
		if (fork() == 0) {
			uint8_t *b = malloc(len);

			memset(b, 1, len);
			mbps[i] = receive(m, p, sv[0], b, len, until) / 1e6;
			_exit(0);
		}
		if (fork() == 0) {
			uint8_t *b = malloc(len);

			memset(b, 2, len);
			for (uint64_t seq = 1; copy_now() < until; seq++)
				if (!send_one(m, p, sv[1], b, len, seq))
					break;
			_exit(0);
		}
		if (sv[0] >= 0) {
			close(sv[0]);
			close(sv[1]);
		}
	}
	/* Everyone ends by the clock; whoever still waits for another
	 * (a sender for room or for the engine) gives up at the stop. */
	while (copy_now() < until + 0.2)
		usleep(10000);
	atomic_store(&sh->stop, 1);
	while (wait(NULL) > 0)
		;
	for (int i = 0; i < pairs; i++)
		total += mbps[i];
	munmap(sh, sizeof(*sh));
	munmap(mbps, sizeof(double) * MAX_PAIRS);
	return total;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: strictcopy [-p PAIRS] [-s SECONDS] [-r REPS] SIZE...\n"
		"Aggregate MB/s of PAIRS one-way streams (default 1, at most "
		"%d) whose bytes\na third process carries: through the "
		"sender's queue (queue) or with\nprocess_vm_readv from the "
		"sender's buffer (pvm); direct and AF_UNIX\nfor scale. "
		"Median of REPS runs (default 3) of SECONDS each (default 1).\n"
		"SIZE takes K and M suffixes.\n", MAX_PAIRS);
}

int main(int argc, char **argv)
{
	struct copy_opts o = { .pairs = 1, .reps = 3, .secs = 1 };
	int rc, first = copy_options(argc, argv, &o, MAX_PAIRS, usage, &rc);

	if (first < 0)
		return rc;
	printf("%8s", "size");
	for (int m = 0; m < NMODES; m++)
		printf(" %10s", names[m]);
	printf(" %10s %10s\n", "pvm/queue", "queue/unix");
	for (int i = first; i < argc; i++) {
		double med[NMODES];

		copy_medians(run, NMODES, copy_parse_size(argv[i]), &o, med);
		printf("%8s", argv[i]);
		for (int m = 0; m < NMODES; m++)
			printf(" %10.0f", med[m]);
		printf(" %9.2fx %9.2fx\n", med[PVM] / med[QUEUE],
		       med[QUEUE] / med[UNIX_SOCK]);
		fflush(stdout);
	}
	return 0;
}
