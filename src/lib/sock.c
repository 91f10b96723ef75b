/* SPDX-License-Identifier: MIT */
/*
 * V4V sockets: the descriptor table, creation, binding, options, close.
 * The data path of each socket type lives in its own file (dgram.c).
 */
#include "sock.h"
#include "v4v/link.h"
#include "proto/proto.h"
#include "link_proto.h"
#include "interposer.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/*
 * fd -> socket, two levels so that any descriptor number works and no
 * lookup ever races with a resize.  A call holds a reference for its whole
 * duration; close removes the entry at once and the last reference frees.
 */
#define CHUNK 1024
#define NCHUNKS 1024

static struct v4v_sock **table[NCHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct v4v_sock **slot(int fd, bool create)
{
	unsigned hi, lo;

	if (fd < 0 || (unsigned)fd >= CHUNK * NCHUNKS)
		return NULL;
	hi = (unsigned)fd / CHUNK;
	lo = (unsigned)fd % CHUNK;
	if (!table[hi] && create)
		table[hi] = calloc(CHUNK, sizeof(*table[hi]));
	return table[hi] ? &table[hi][lo] : NULL;
}

struct v4v_sock *sock_get(int fd)
{
	struct v4v_sock **p, *s = NULL;

	pthread_mutex_lock(&table_lock);
	p = slot(fd, false);
	if (p && *p) {
		s = *p;
		s->refs++;
	}
	pthread_mutex_unlock(&table_lock);
	if (!s)
		errno = fcntl(fd, F_GETFD) < 0 ? EBADF : ENOTSOCK;
	return s;
}

void sock_unmap_ring(struct v4v_sock *s)
{
	if (s->mem)
		munmap(s->mem, s->memlen);
	s->mem = NULL;
}

/* Whether v4vd must have let the ring go before close returns: a port
 * that may be bound again at once (a listener's, a datagram socket's)
 * must be free by then.  A connection's ring has no such port, and v4vd
 * ends it on its doorbell's hang-up, which it sees as soon as we close
 * our end: a request and its reply (a wake-up of v4vd and of us, about
 * a tenth of a short connection's cost) would only hurry that.  In a VM
 * the doorbell is the agent's: there we always ask. */
static bool unregister_on_close(const struct v4v_sock *s)
{
	return s->handle &&
	       (s->type != SOCK_STREAM || s->state != ST_CONNECTED ||
		v4v_link_in_vm());
}

/* The last reference is gone.  Closing our descriptor first lets v4vd see
 * the hang-up if no other process holds the socket; only then does the
 * ring (and a stream's connection) end. */
static void sock_free(struct v4v_sock *s)
{
	if (s->type == SOCK_STREAM)
		stream_release(s);
	close(s->fd);
	if (unregister_on_close(s))
		v4v_link_unregister(s->handle, 0);
	close(s->bell);
	if (s->inet_fd >= 0)
		close(s->inet_fd);
	sock_unmap_ring(s);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rx_lock);
	pthread_mutex_destroy(&s->tx_lock);
	free(s);
}

void sock_put(struct v4v_sock *s)
{
	int left;

	pthread_mutex_lock(&table_lock);
	left = --s->refs;
	pthread_mutex_unlock(&table_lock);
	if (!left)
		sock_free(s);
}

static void on_fork_child(void)
{
	/* Only the forking thread survives: locks other threads held will
	 * never be released, so start the child with fresh ones. */
	pthread_mutex_init(&table_lock, NULL);
	for (unsigned hi = 0; hi < NCHUNKS; hi++) {
		for (unsigned lo = 0; table[hi] && lo < CHUNK; lo++) {
			struct v4v_sock *s = table[hi][lo];

			if (!s)
				continue;
			pthread_mutex_init(&s->lock, NULL);
			pthread_mutex_init(&s->rx_lock, NULL);
			pthread_mutex_init(&s->tx_lock, NULL);
		}
	}
}

/* Before the child exists: every open socket gets its entry in the
 * tree's table of changes (forked.c), or counts as passed to strangers
 * where there is no table. */
static void on_fork_prepare(void)
{
	pthread_mutex_lock(&table_lock);
	for (unsigned hi = 0; hi < NCHUNKS; hi++) {
		for (unsigned lo = 0; table[hi] && lo < CHUNK; lo++) {
			struct v4v_sock *s = table[hi][lo];
			uint32_t slot;

			if (!s || __atomic_load_n(&s->fork_slot,
						  __ATOMIC_RELAXED))
				continue;
			slot = forked_slot_of(s->id);
			if (slot)
				__atomic_store_n(&s->fork_slot, slot,
						 __ATOMIC_RELAXED);
			else
				__atomic_store_n(&s->passed, true,
						 __ATOMIC_RELAXED);
		}
	}
}

static void on_fork_parent(void)
{
	pthread_mutex_unlock(&table_lock);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_init(void)
{
	pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

/*
 * A system call costs over a microsecond on these machines, as much as a
 * whole message: so O_NONBLOCK, which the application may set on the
 * descriptor behind our back, is cached and only checked with the kernel
 * when a call is about to block or to fail with EAGAIN.  Where every
 * F_SETFL and FIONBIO of this process passes through us (the interposer
 * says so: v4v_sock_track_nonblock), the cache is the truth and a
 * non-blocking call that finds nothing fails without asking (a
 * request/response client that reads until EAGAIN saves a system call
 * per request), unless another process may have changed it: after fork
 * we know from the tree's count (forked.c); a socket passed with
 * SCM_RIGHTS asks every time.
 */
static bool nonblock_tracked;

void v4v_sock_track_nonblock(void)
{
	__atomic_store_n(&nonblock_tracked, true, __ATOMIC_RELAXED);
}

bool sock_nonblock_hint(const struct v4v_sock *s, int flags)
{
	return (flags & MSG_DONTWAIT) ||
	       __atomic_load_n(&s->nonblock, __ATOMIC_RELAXED);
}

#define NB_VALID (1ull << 33)

static uint64_t nb_known(uint32_t count, bool nb)
{
	return NB_VALID | (uint64_t)count << 1 | nb;
}

/* Ask the kernel; `count`: the entry's count read before asking. */
static bool nonblock_ask(struct v4v_sock *s, uint32_t count)
{
	bool nb = fcntl(s->fd, F_GETFL) & O_NONBLOCK;

	__atomic_store_n(&s->nonblock, nb, __ATOMIC_RELAXED);
	__atomic_store_n(&s->nb_known, nb_known(count, nb), __ATOMIC_RELEASE);
	return nb;
}

bool sock_nonblock(struct v4v_sock *s, int flags)
{
	uint32_t slot = __atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED);
	uint32_t count = slot ? forked_count(slot) : 0;
	uint64_t known;

	if (flags & MSG_DONTWAIT)
		return true;
	if (!__atomic_load_n(&nonblock_tracked, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&s->passed, __ATOMIC_RELAXED))
		return nonblock_ask(s, count);
	if (!slot)
		return __atomic_load_n(&s->nonblock, __ATOMIC_RELAXED);
	/* The flag and the count it was seen at, in one word: two threads
	 * asking at once must not pair one's flag with the other's count. */
	known = __atomic_load_n(&s->nb_known, __ATOMIC_ACQUIRE);
	if ((known & ~1ull) == (nb_known(count, false)))
		return known & 1;
	return nonblock_ask(s, count);
}

void sock_nonblock_changed(struct v4v_sock *s)
{
	uint32_t slot = __atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED);

	forked_bump(slot);
	nonblock_ask(s, slot ? forked_count(slot) : 0);
}

void sock_bell_touched(struct v4v_sock *s)
{
	forked_bump(__atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED));
}

bool sock_maybe_shared(const struct v4v_sock *s)
{
	return __atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&s->passed, __ATOMIC_RELAXED);
}

/*
 * Processes of a fork tree (or sharing a passed socket) may use one
 * connection in turns, as they may a kernel socket: a parent writes a
 * request and its child the rest (git push's pack-objects), or a child
 * reads what its parent did not.  Each keeps its positions privately, so
 * before each receive or send a process that may share the connection
 * takes them from the rings, where the last user published them.  (At the
 * same time, two processes would still race: that is not supported.)  A
 * message another process read in part is read again from its start: its
 * progress inside the message was its own.
 */
void sock_resync_rx(struct v4v_sock *s)
{
	uint32_t was = s->cons.rx;

	if (v4v_ring_cons_resync(&s->cons) && s->cons.rx != was)
		s->rx_off = 0;
}

void sock_resync_tx(struct v4v_sock *s)
{
	v4v_ring_prod_resync(&s->tx.prod);
}

bool sock_others_moved(struct v4v_sock *s, uint32_t *seen)
{
	uint32_t slot = __atomic_load_n(&s->fork_slot, __ATOMIC_RELAXED), c;

	if (__atomic_load_n(&s->passed, __ATOMIC_RELAXED))
		return true;
	if (!slot)
		return false;
	/* Holders of a listener take turns on its ring, each making the
	 * doorbell tell the truth for what it took: any token may be
	 * another's. */
	if (s->type == SOCK_STREAM &&
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == ST_LISTEN)
		return true;
	c = forked_count(slot);
	if (c == *seen)
		return false;
	*seen = c;
	return true;
}

uint64_t sock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Milliseconds left of a timeout that started at `t0`; -1 is forever. */
int sock_time_left(int timeout_ms, uint64_t t0)
{
	uint64_t spent;

	if (timeout_ms < 0)
		return -1;
	spent = (sock_now_us() - t0) / 1000;
	return spent >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)spent;
}

/* What the ring holds for its reader. */
static uint8_t ring_news(struct v4v_sock *s)
{
	/* Another holder may have read since we did: the ring's published
	 * positions say what is left, not ours. */
	if (sock_maybe_shared(s) ? !v4v_ring_looks_empty(&s->cons.r)
				 : v4v_ring_used(&s->cons) != 0)
		return V4V_NEWS_DATA;
	return v4v_ring_tx_flags(&s->cons.r) &
			       (V4V_RING_TX_FIN | V4V_RING_TX_RST)
		       ? V4V_NEWS_END
		       : 0;
}

/* Data, or the end of the stream, or a reset: what a waiter wakes for. */
static bool ring_has_news(struct v4v_sock *s)
{
	return ring_news(s) != 0;
}

/* The budget of a socket nobody set one for (BUSY_DEFAULT): 50 us in
 * both modes on a host.  Strict, and datagrams in both modes: nothing
 * arrives unless v4vd's copy engine runs, so such a receiver yields the
 * CPU between looks
 * (sock_busy_wait): on two cores, with both ends of a ping-pong pinned,
 * a pure spin starved the engine (46 us half round trip), a yielding one
 * lets it copy (13 us, TCP 14 us; 7 us unpinned).  In a VM, none: a
 * spinning vCPU is time taken from the host's other guests and v4vd,
 * which must run for the message to come (two TCG guests on two cores:
 * 380 us half round trip with 50, 325 without). */
static int busy_budget(const struct v4v_sock *s)
{
	int v = __atomic_load_n(&s->busy_us, __ATOMIC_RELAXED);

	if (v != BUSY_DEFAULT)
		return v;
	return v4v_link_in_vm() ? 0 : 50;
}

/* Spin on the ring for up to the busy-poll budget: a message due within
 * microseconds is cheaper to wait for than a sleep and a wakeup. */
bool sock_busy_wait(struct v4v_sock *s)
{
	int busy_us = busy_budget(s);
	uint64_t until;

	if (!busy_us || !s->mem)
		return false;
	until = sock_now_us() + (uint64_t)busy_us;
	/* While we poll, producers need not ring (RX_SPINNING). */
	v4v_ring_spin_begin(&s->cons);
	do {
		for (int i = 0; i < 64; i++) {
			if (ring_has_news(s))
				goto found;
			__builtin_ia32_pause();
		}
		if (s->strict || s->type == SOCK_DGRAM)
			sched_yield(); /* see busy_budget */
	} while (sock_now_us() < until);
found:
	v4v_ring_spin_end(&s->cons);
	return ring_has_news(s);
}

/* The sockets of fds that have a receive ring, referenced; at[k] is the
 * index in fds of ss[k]. */
static int take_socks(const int *fds, int n, struct v4v_sock **ss, int *at)
{
	int m = 0;

	for (int i = 0; i < n && m < V4V_POLL_RINGS_MAX; i++) {
		struct v4v_sock *s = sock_get(fds[i]);

		if (!s)
			continue;
		if (!__atomic_load_n(&s->mem, __ATOMIC_ACQUIRE)) {
			sock_put(s);
			continue;
		}
		at[m] = i;
		ss[m++] = s;
	}
	return m;
}

static bool any_news(struct v4v_sock **ss, int m)
{
	for (int i = 0; i < m; i++)
		if (ring_has_news(ss[i]))
			return true;
	return false;
}

/* The rings are looked at every few pauses (a pause is about 30 ns on
 * the EPYC we measure on), the scheduler only every 10 us: a sched_yield
 * costs 1.2 us there even with nothing else to run, and one after every
 * 64 pauses made a found message wait 1.5 us on average.  The kernel
 * callback comes first, as soon as the peers stopped ringing, then after
 * each yield. */
#define POLL_YIELD_US 10

int v4v_poll_rings(const int *fds, int n, int budget_us,
		   bool (*kernel)(void *arg), void *arg, uint8_t *news)
{
	struct v4v_sock *ss[V4V_POLL_RINGS_MAX];
	uint64_t now = sock_now_us(), until = now + (uint64_t)budget_us;
	uint64_t yield = now + POLL_YIELD_US;
	bool spin = false, look = true;
	int at[V4V_POLL_RINGS_MAX], ready = 0;
	int m = take_socks(fds, n, ss, at);

	for (int i = 0; i < n; i++)
		news[i] = 0;
	/* Under load something is usually there already: a look first, and
	 * the rings are flagged (RX_SPINNING, a locked write to a line
	 * their producers share, twice per ring) only for a real wait. */
	if (budget_us > 0 && m && !any_news(ss, m)) {
		spin = true;
		for (int i = 0; i < m; i++)
			v4v_ring_spin_begin(&ss[i]->cons);
	}
	while (spin && !any_news(ss, m) && now < until) {
		if (look && kernel && kernel(arg))
			break;
		look = false;
		for (int i = 0; i < 4; i++)
			__builtin_ia32_pause();
		now = sock_now_us();
		if (now < yield)
			continue;
		/* Whoever we wait for may need this core: on two cores
		 * both ends of a connection poll. */
		sched_yield();
		yield = now + POLL_YIELD_US;
		look = true;
	}
	for (int i = 0; i < m; i++) {
		if (spin)
			v4v_ring_spin_end(&ss[i]->cons);
		news[at[i]] = ring_news(ss[i]);
		ready += news[at[i]] != 0;
		sock_put(ss[i]);
	}
	return ready;
}

void v4v_show_rings(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		struct v4v_sock *s = sock_get(fds[i]);

		if (!s)
			continue;
		/* Busy: its receiver leaves it exact itself. */
		if (__atomic_load_n(&s->mem, __ATOMIC_ACQUIRE) &&
		    ring_has_news(s) && !pthread_mutex_trylock(&s->rx_lock)) {
			bell_rx_show(s);
			pthread_mutex_unlock(&s->rx_lock);
		}
		sock_put(s);
	}
}

uint64_t v4v_sock_id(int fd)
{
	struct v4v_sock *s = sock_get(fd);
	uint64_t id = s ? s->id : 0;

	if (s)
		sock_put(s);
	return id;
}

int v4v_sock_unread(int fd, uint32_t *mark)
{
	struct v4v_sock *s = sock_get(fd);
	int rc = 0;

	if (!s)
		return -errno;
	if (s->type == SOCK_STREAM &&
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == ST_CONNECTED) {
		*mark = v4v_ring_rx_mark(&s->cons.r);
		rc = ring_news(s) != 0;
	}
	sock_put(s);
	return rc;
}

/* What socket fd needs to go on working, for a child of fork that is
 * about to close every other descriptor (the interposer's relay). */
int v4v_sock_own_fds(int fd, int *out, int max)
{
	struct v4v_sock *s = sock_get(fd);
	int fds[4], n;

	if (!s)
		return -errno;
	fds[0] = s->fd;
	fds[1] = s->bell;
	fds[2] = s->type == SOCK_STREAM ? s->tx.bell : -1;
	fds[3] = s->inet_fd;
	sock_put(s);
	n = v4v_link_fds(out, max);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0 && n < max)
			out[n++] = fds[i];
	return n;
}

static int default_busy_us(void)
{
	const char *e = getenv("V4V_BUSY_POLL_US");
	long v;

	if (!e || !e[0])
		return BUSY_DEFAULT;
	v = strtol(e, NULL, 10);
	return v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v;
}

static uint64_t next_id;

struct v4v_sock *sock_alloc(int type)
{
	struct v4v_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->type = type;
	s->refs = 1;
	s->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	s->ring_size = V4V_DEFAULT_RING_SIZE;
	s->rcvtimeo_ms = -1;
	s->sndtimeo_ms = -1;
	s->busy_us = default_busy_us();
	s->local.domid = V4V_DOMID_INVALID;
	s->tx.bell = -1;
	s->inet_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->rx_lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	return s;
}

int sock_make_doorbell(struct v4v_sock *s, int type_flags)
{
	int sv[2], min = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	s->fd = sv[0];
	s->bell = sv[1];
	/* A tiny send buffer makes "fill until unwritable" cost a few
	 * bytes. */
	setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &min, sizeof(min));
	if (!(type_flags & SOCK_CLOEXEC))
		fcntl(s->fd, F_SETFD, 0);
	if (type_flags & SOCK_NONBLOCK) {
		fcntl(s->fd, F_SETFL, O_NONBLOCK);
		s->nonblock = true;
	}
	return 0;
}

int v4v_socket(int domain, int type, int protocol)
{
	struct v4v_link_info info;
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct v4v_sock *s;
	int rc, fd;

	if (domain != AF_V4V)
		return (int)v4v_fail(-EAFNOSUPPORT);
	if (base != SOCK_DGRAM && base != SOCK_STREAM)
		return (int)v4v_fail(-ESOCKTNOSUPPORT);
	if (protocol != 0)
		return (int)v4v_fail(-EPROTONOSUPPORT);
	pthread_once(&fork_once, fork_init);
	/* Fail now, not at first send, when there is no hypervisor. */
	rc = v4v_link_info(&info);
	if (rc)
		return (int)v4v_fail(rc);
	s = sock_alloc(base);
	if (!s)
		return (int)v4v_fail(-ENOMEM);
	s->strict = info.hv_flags & V4VP_HV_STRICT;
	s->busy_us = default_busy_us();
	rc = sock_make_doorbell(s, type);
	if (rc) {
		free(s);
		return (int)v4v_fail(rc);
	}
	s->local.domid = info.domid;
	s->max_dgram = info.max_dgram;
	/* Installed, the socket is the application's: a close may free it. */
	fd = s->fd;
	rc = sock_install(s);
	return rc ? (int)v4v_fail(rc) : fd;
}

/* Make a new socket visible under its descriptor number. */
int sock_install(struct v4v_sock *s)
{
	struct v4v_sock **p;

	pthread_once(&fork_once, fork_init);
	pthread_mutex_lock(&table_lock);
	p = slot(s->fd, true);
	if (p)
		*p = s;
	pthread_mutex_unlock(&table_lock);
	if (!p) {
		sock_free(s);
		return -EMFILE;
	}
	return 0;
}

/* Map a ring's memory as its consumer.  Not pre-faulted: a connection
 * that carries a few requests touches a few pages, and populating every
 * ring of every connection was most of the cost of making one. */
int sock_ring_map(struct v4v_sock *s, int memfd, uint64_t off,
		  uint32_t size, unsigned nrings)
{
	struct v4v_ring view;
	size_t len = v4v_ring_mem_size(size) * nrings;

	if (v4v_ring_size_check(size))
		return -EPROTO;
	s->mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		      MAP_SHARED, memfd, (off_t)off);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	s->memlen = len;
	if (v4v_ring_view(&view, s->mem, len, size)) {
		sock_unmap_ring(s);
		return -EPROTO;
	}
	v4v_ring_cons_init(&s->cons, &view);
	return 0;
}

int sock_ring_alloc(struct v4v_sock *s, int *memfd, unsigned nrings)
{
	uint32_t size = s->listen_ring ? s->listen_ring : s->ring_size;
	int fd = v4v_ring_memfd(size, nrings), rc;

	if (fd < 0)
		return fd;
	rc = sock_ring_map(s, fd, 0, size, nrings);
	if (rc) {
		close(fd);
		return rc;
	}
	for (unsigned i = 0; i < nrings; i++)
		v4v_ring_format((uint8_t *)s->mem +
				i * v4v_ring_mem_size(size), size);
	/* Empty and without a token: the first insert must ring. */
	v4v_ring_arm(&s->cons);
	*memfd = fd;
	return 0;
}

/* In a guest the hypervisor keeps the ring in the VM's region, not in
 * the memory we offered: use that instead (fresh, so armed as ours was). */
int sock_ring_move(struct v4v_sock *s, struct v4v_link_mem *at,
		   unsigned nrings)
{
	uint32_t size = s->cons.r.size;
	int rc;

	munmap(s->mem, s->memlen);
	s->mem = NULL;
	rc = sock_ring_map(s, at->fd, at->off, size, nrings);
	close(at->fd);
	if (!rc)
		v4v_ring_arm(&s->cons);
	return rc;
}

int sock_txq_start(struct v4v_sock *s)
{
	struct stream_tx *t = &s->tx;
	size_t one = v4v_ring_mem_size(s->cons.r.size);
	struct v4v_ring view;
	int rc;

	if (s->memlen < 2 * one)
		return -EPROTO;
	v4v_ring_view(&view, (uint8_t *)s->mem + one, one, s->cons.r.size);
	v4v_ring_prod_init(&t->prod, &view);
	rc = v4v_ring_prod_start(&t->prod, 0);
	if (rc)
		return rc;
	t->size = s->cons.r.size;
	t->direct = true;
	t->txq = true;
	return 0;
}

/* Called with s->lock held. */
int sock_bind_ring(struct v4v_sock *s, uint32_t port)
{
	v4v_handle_t handle;
	uint32_t got;
	struct v4v_link_mem at;
	int memfd = -1, rc;

	/* A datagram socket sends through a transmit queue of its own
	 * (dgram.c); a guest's go by SEND. */
	bool txq = s->type == SOCK_DGRAM && !v4v_link_in_vm();
	unsigned nrings = txq ? 2 : 1;

	if (s->handle)
		return -EINVAL;
	rc = sock_ring_alloc(s, &memfd, nrings);
	if (rc)
		return rc;
	/* A listener's queued connections get rings of the size its
	 * accepted sockets would have had (SO_RCVBUF). */
	rc = v4v_link_register_mem(port, V4V_DOMID_ANY, s->cons.r.size,
				   s->listen_ring ? V4VP_REG_LISTEN
						  : txq ? V4VP_REG_TXQ : 0,
				   s->listen_ring ? s->ring_size : 0, memfd,
				   s->bell, &handle, &got, &at);
	close(memfd);
	if (!rc && at.fd >= 0)
		rc = sock_ring_move(s, &at, nrings);
	if (!rc && txq)
		rc = sock_txq_start(s);
	if (rc) {
		if (s->mem)
			munmap(s->mem, s->memlen);
		s->mem = NULL;
		return rc;
	}
	s->local.port = got;
	/* sock_ensure_bound looks without the lock: the ring first. */
	__atomic_store_n(&s->handle, handle, __ATOMIC_RELEASE);
	return 0;
}

int sock_ensure_bound(struct v4v_sock *s)
{
	int rc = 0;

	if (__atomic_load_n(&s->handle, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&s->lock);
	if (!s->handle)
		rc = sock_bind_ring(s, V4V_PORT_ANY);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sock_addr_in(const struct sockaddr *addr, socklen_t len,
		 struct v4v_addr *out)
{
	struct sockaddr_v4v sv;

	if (!addr || len < sizeof(sv))
		return -EINVAL;
	memcpy(&sv, addr, sizeof(sv));
	if (sv.v4v_family != AF_V4V)
		return -EAFNOSUPPORT;
	out->domid = sv.v4v_domid;
	out->port = sv.v4v_port;
	out->pad = 0;
	return 0;
}

void sock_addr_out(const struct v4v_addr *a, struct sockaddr *addr,
		   socklen_t *len)
{
	struct sockaddr_v4v sv = { .v4v_family = AF_V4V,
				   .v4v_domid = a->domid,
				   .v4v_port = a->port };

	if (!addr || !len)
		return;
	memcpy(addr, &sv, *len < sizeof(sv) ? *len : sizeof(sv));
	*len = sizeof(sv);
}

int v4v_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct v4v_sock *s = sock_get(fd);
	struct v4v_addr a;
	int rc;

	if (!s)
		return -1;
	rc = sock_addr_in(addr, len, &a);
	if (!rc && a.domid != V4V_DOMID_ANY && a.domid != s->local.domid)
		rc = -EADDRNOTAVAIL; /* a domain binds only its own address */
	if (!rc) {
		pthread_mutex_lock(&s->lock);
		rc = s->type == SOCK_STREAM ? stream_bind(s, &a)
					    : sock_bind_ring(s, a.port);
		pthread_mutex_unlock(&s->lock);
	}
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

int v4v_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct v4v_sock *s = sock_get(fd);
	struct v4v_addr a;
	int rc;

	if (!s)
		return -1;
	/* A receive filters on the peer holding only rx_lock. */
	if (addr && len >= sizeof(sa_family_t) &&
	    addr->sa_family == AF_UNSPEC) {
		pthread_mutex_lock(&s->rx_lock);
		pthread_mutex_lock(&s->lock);
		s->connected = false;
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->rx_lock);
		sock_put(s);
		return 0;
	}
	rc = sock_addr_in(addr, len, &a);
	if (!rc && a.domid > V4V_DOMID_MAX)
		rc = -EINVAL;
	if (!rc && s->type == SOCK_STREAM) {
		rc = stream_connect(s, &a);
		sock_put(s);
		return rc ? (int)v4v_fail(rc) : 0;
	}
	if (!rc)
		rc = sock_ensure_bound(s);
	if (!rc) {
		pthread_mutex_lock(&s->rx_lock);
		pthread_mutex_lock(&s->lock);
		s->peer = a;
		s->connected = true;
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_unlock(&s->rx_lock);
	}
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

int v4v_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct v4v_sock *s = sock_get(fd);

	if (!s)
		return -1;
	pthread_mutex_lock(&s->lock);
	sock_addr_out(&s->local, addr, len);
	pthread_mutex_unlock(&s->lock);
	sock_put(s);
	return 0;
}

int v4v_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct v4v_sock *s = sock_get(fd);
	int rc = 0;

	if (!s)
		return -1;
	if (s->type == SOCK_STREAM && stream_was_reset(s))
		rc = -ENOTCONN;
	pthread_mutex_lock(&s->lock);
	if (!rc && (s->connected || s->state == ST_CONNECTED))
		sock_addr_out(&s->peer, addr, len);
	else
		rc = -ENOTCONN;
	pthread_mutex_unlock(&s->lock);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

/* The timeouts are read by sends and receives without the lock. */
static int timeval_ms(const void *val, socklen_t len, int *out)
{
	struct timeval tv;
	int ms;

	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
		return -EDOM;
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		ms = -1;
	else if (tv.tv_sec > INT_MAX / 1000 - 1)
		ms = INT_MAX;
	else
		ms = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
	__atomic_store_n(out, ms, __ATOMIC_RELAXED);
	return 0;
}

static int int_opt(const void *val, socklen_t len, int *out)
{
	if (len < sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

/* SO_RCVBUF sets the size of the receive ring: rounded to slots and
 * clamped like the kernel clamps buffer sizes; only before binding, since
 * a ring is never resized under the peers writing into it. */
static int set_rcvbuf(struct v4v_sock *s, int v)
{
	uint32_t size;

	if (s->handle)
		return -EISCONN;
	if (v < (int)V4V_RING_MIN_SIZE)
		v = V4V_RING_MIN_SIZE;
	size = ((uint32_t)v + V4V_RING_SLOT - 1) & ~(V4V_RING_SLOT - 1);
	s->ring_size = size > V4V_MAX_RING_SIZE ? V4V_MAX_RING_SIZE : size;
	return 0;
}

static int setopt_locked(struct v4v_sock *s, int level, int name,
			 const void *val, socklen_t len)
{
	int v, rc;

	if (level == SOL_V4V && name == V4V_SO_BUSY_POLL) {
		rc = int_opt(val, len, &v);
		if (!rc)
			__atomic_store_n(&s->busy_us, v < 0 ? 0 : v,
					 __ATOMIC_RELAXED);
		return rc;
	}
	if (level != SOL_SOCKET)
		return -ENOPROTOOPT;
	switch (name) {
	case SO_RCVTIMEO:
		return timeval_ms(val, len, &s->rcvtimeo_ms);
	case SO_SNDTIMEO:
		/* Strict streams send through the kernel socket itself. */
		setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, val, len);
		return timeval_ms(val, len, &s->sndtimeo_ms);
	case SO_RCVBUF:
		rc = int_opt(val, len, &v);
		return rc ? rc : set_rcvbuf(s, v);
	case SO_LINGER: {
		struct linger l;

		if (len < sizeof(l))
			return -EINVAL;
		memcpy(&l, val, sizeof(l));
		/* Only the abortive close changes anything: data already
		 * sits in the peer's ring when close is called. */
		s->linger0 = l.l_onoff && !l.l_linger;
		return 0;
	}
	default:
		return -ENOPROTOOPT;
	}
}

int v4v_setsockopt(int fd, int level, int name, const void *val,
		   socklen_t len)
{
	struct v4v_sock *s = sock_get(fd);
	int rc;

	if (!s)
		return -1;
	pthread_mutex_lock(&s->lock);
	rc = val ? setopt_locked(s, level, name, val, len) : -EFAULT;
	pthread_mutex_unlock(&s->lock);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

static void ms_timeval(int ms, struct timeval *tv)
{
	tv->tv_sec = ms < 0 ? 0 : ms / 1000;
	tv->tv_usec = ms < 0 ? 0 : (ms % 1000) * 1000;
}

static int getopt_locked(struct v4v_sock *s, int level, int name, void *val,
			 socklen_t *len)
{
	struct timeval tv;
	int v;

	if (level == SOL_V4V && name == V4V_SO_BUSY_POLL) {
		v = busy_budget(s);
	} else if (level != SOL_SOCKET) {
		return -ENOPROTOOPT;
	} else if (name == SO_RCVTIMEO || name == SO_SNDTIMEO) {
		ms_timeval(name == SO_RCVTIMEO ? s->rcvtimeo_ms
					       : s->sndtimeo_ms, &tv);
		if (*len < sizeof(tv))
			return -EINVAL;
		memcpy(val, &tv, sizeof(tv));
		*len = sizeof(tv);
		return 0;
	} else if (name == SO_TYPE) {
		v = s->type;
	} else if (name == SO_DOMAIN) {
		v = AF_V4V;
	} else if (name == SO_ERROR) {
		v = -s->err; /* streams: see v4v_getsockopt */
		s->err = 0;
	} else if (name == SO_RCVBUF) {
		v = (int)s->ring_size;
	} else if (name == SO_SNDBUF) {
		/* What one send can place at once: the peer's ring. */
		v = (int)(s->tx.size ? s->tx.size : s->max_dgram);
	} else {
		return -ENOPROTOOPT;
	}
	if (*len < sizeof(int))
		return -EINVAL;
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

int v4v_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct v4v_sock *s = sock_get(fd);
	int rc;

	if (!s)
		return -1;
	/* A reset in a stream's ring becomes its pending error first; that
	 * takes the lock itself. */
	if (level == SOL_SOCKET && name == SO_ERROR && s->type == SOCK_STREAM)
		stream_so_error(s);
	pthread_mutex_lock(&s->lock);
	rc = val && len ? getopt_locked(s, level, name, val, len) : -EFAULT;
	pthread_mutex_unlock(&s->lock);
	sock_put(s);
	return rc ? (int)v4v_fail(rc) : 0;
}

/* Take fd's entry out of the table; NULL if it names no socket. */
static struct v4v_sock *unlink_fd(int fd)
{
	struct v4v_sock **p, *s = NULL;

	pthread_mutex_lock(&table_lock);
	p = slot(fd, false);
	if (p && *p) {
		s = *p;
		*p = NULL;
		if (s->aliases)
			s->aliases--;
		else
			__atomic_store_n(&s->closing, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&table_lock);
	return s;
}

/* Is a call of this process inside the socket?  Beside the table's
 * reference, each call holds one; no call can find the socket once its
 * number is unlinked, so the count can only fall. */
static bool in_flight(struct v4v_sock *s)
{
	int refs;

	pthread_mutex_lock(&table_lock);
	refs = s->refs;
	pthread_mutex_unlock(&table_lock);
	return refs > 1;
}

int v4v_close(int fd)
{
	struct v4v_sock *s = unlink_fd(fd);

	if (!s)
		return close(fd);
	/* After a dup the socket works on a private descriptor of its own:
	 * the application's number goes now, the socket with its last. */
	if (fd != s->fd)
		close(fd);
	if (!sock_closing(s) || !in_flight(s)) {
		sock_put(s);
		return 0;
	}
	/* Wake threads of this process blocked on this socket: they see
	 * `closing`.  Only then: after fork the doorbell is shared, and a
	 * token or drain for nobody would give the other holders a
	 * readiness that is not there (a listener readable with nothing to
	 * accept).  The token first, then the word to them: see
	 * sock_bell_touched. */
	bell_token(s->bell);
	sock_bell_touched(s);
	bell_drain(s->bell);
	sock_put(s);
	return 0;
}

int v4v_sock_move(int from, int to, int flags)
{
	struct v4v_sock **p, *s;
	bool moved = false;

	if (dup3(from, to, flags & O_CLOEXEC) < 0)
		return -errno;
	pthread_mutex_lock(&table_lock);
	p = slot(from, false);
	s = p ? *p : NULL;
	if (s && !s->aliases) {
		*p = NULL;
		p = slot(to, true);
		if (p) {
			*p = s;
			s->fd = to;
			moved = true;
		}
	}
	pthread_mutex_unlock(&table_lock);
	if (!moved)
		return -EBADF;
	close(from);
	return 0;
}

int v4v_sock_alias(int fd, int newfd)
{
	struct v4v_sock *s = sock_get(fd), **p;
	int priv = -1;
	bool shared;

	if (!s)
		return -errno;
	/* Once two numbers name the socket, neither may be the one we use
	 * ourselves: the application may close either. */
	pthread_mutex_lock(&s->lock);
	if (s->fd == fd) {
		priv = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (priv >= 0)
			s->fd = priv;
	}
	shared = s->fd == fd;
	pthread_mutex_unlock(&s->lock);
	if (shared) {
		sock_put(s);
		return -errno;
	}
	pthread_mutex_lock(&table_lock);
	p = slot(newfd, true);
	if (p && !*p) {
		*p = s;
		s->aliases++;
		s = NULL; /* the reference is the new entry's */
	}
	pthread_mutex_unlock(&table_lock);
	if (s) {
		sock_put(s);
		return -EBADF;
	}
	return 0;
}

int v4v_sock_inet(int fd, int kfd)
{
	struct v4v_sock *s = sock_get(fd);

	if (!s)
		return -errno;
	pthread_mutex_lock(&s->lock);
	if (s->inet_fd >= 0)
		close(s->inet_fd);
	s->inet_fd = kfd;
	pthread_mutex_unlock(&s->lock);
	sock_put(s);
	return 0;
}

bool v4v_sock_inet_peer_addr(int fd, int family,
			     struct v4vp_inet_addr *out)
{
	struct v4v_sock *s = sock_get(fd);
	bool known;

	if (!s)
		return false;
	*out = s->peer_inet[family == AF_INET6];
	known = out->family == family;
	sock_put(s);
	return known;
}

uint16_t v4v_sock_inet_peer_port(int fd)
{
	struct v4v_sock *s = sock_get(fd);
	uint16_t port;

	if (!s)
		return 0;
	port = s->peer_inet_port;
	sock_put(s);
	return port;
}

void v4v_sock_refresh(int fd)
{
	struct v4v_sock *s = sock_get(fd);

	if (s) {
		sock_nonblock_changed(s);
		sock_put(s);
	}
}

void v4v_sock_passed(int fd)
{
	struct v4v_sock *s = sock_get(fd);

	if (s) {
		__atomic_store_n(&s->passed, true, __ATOMIC_RELAXED);
		sock_put(s);
	}
}

int v4v_is_socket(int fd)
{
	struct v4v_sock *s = sock_get(fd);

	if (!s)
		return 0;
	sock_put(s);
	return 1;
}
