/* SPDX-License-Identifier: MIT */
/*
 * Rings as the hypervisor sees them: registered by their receiving domain
 * as a sealed memfd, mapped here, and written only through the ring code.
 *
 * A ring lives exactly as long as its socket: the domain hands us one end
 * of the socket's doorbell (an AF_UNIX stream pair) and when every copy of
 * the other end is closed, in whatever process and however it died, the
 * kernel reports a hang-up on ours and the ring goes.  That is what makes
 * fork, close and kill -9 behave as they do for kernel sockets.
 */
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t addr_key(v4v_domid_t domid, uint32_t port)
{
	return (uint64_t)domid << 32 | port;
}

struct hv_ring *hv_ring_by_handle(struct hv *hv, uint32_t handle)
{
	struct hnode *n = htab_find(&hv->rings_by_handle, handle);

	return n ? container_of(n, struct hv_ring, by_handle) : NULL;
}

static struct hv_ring *find_exact(struct hv *hv, v4v_domid_t domid,
				  uint32_t port, v4v_domid_t partner)
{
	struct hnode *n = htab_find(&hv->rings_by_addr, addr_key(domid, port));

	for (; n; n = htab_next(n)) {
		struct hv_ring *r = container_of(n, struct hv_ring, by_addr);

		if (r->partner == partner)
			return r;
	}
	return NULL;
}

static bool port_in_use(struct hv *hv, v4v_domid_t domid, uint32_t port)
{
	return htab_find(&hv->rings_by_addr, addr_key(domid, port)) != NULL;
}

struct hv_ring *hv_ring_route(struct hv *hv, const struct v4v_addr *dst,
			      v4v_domid_t src)
{
	struct hv_ring *r = find_exact(hv, dst->domid, dst->port, src);

	return r ? r : find_exact(hv, dst->domid, dst->port, V4V_DOMID_ANY);
}

static int alloc_port(struct hv *hv, struct hv_domain *d, uint32_t *out)
{
	for (uint32_t n = 0; n < 1u << 20; n++) {
		uint32_t p = d->next_port;

		d->next_port = p == UINT32_MAX ? V4V_PORT_EPHEMERAL_MIN : p + 1;
		if (!port_in_use(hv, d->domid, p)) {
			*out = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* The memory must be a memfd sealed against shrinking: anything else could
 * be truncated under our mapping (SIGBUS in the hypervisor) or live on a
 * file system that stalls us on a page fault. */
static int check_memfd(int memfd, size_t need)
{
	struct stat st;
	int seals = fcntl(memfd, F_GET_SEALS);

	if (seals < 0)
		return -EBADF;
	if (!(seals & F_SEAL_SHRINK))
		return -EPERM;
	if (fstat(memfd, &st) || !S_ISREG(st.st_mode))
		return -EBADF;
	if ((uint64_t)st.st_size < need)
		return -EINVAL;
	return 0;
}

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16 */
#endif

/* A hash, not a walk: registering 20,000 rings must not take minutes. */
static bool holds_bell(struct hv *hv, ino_t ino)
{
	return htab_find(&hv->rings_by_bell, ino) != NULL;
}

/*
 * The doorbell must be a unix stream socket whose other end we do not
 * already hold (else its hang-up, which ends the ring, could never come),
 * and it must not carry descriptors to us: a domain could park its own end
 * in our receive queue with the same effect.
 */
static int check_bell(struct hv *hv, int bell, ino_t *ino)
{
	static bool warned;
	struct stat st;
	ino_t peer;
	int v = 0, rc;
	socklen_t len = sizeof(v);

	if (getsockopt(bell, SOL_SOCKET, SO_DOMAIN, &v, &len) || v != AF_UNIX)
		return -ENOTSOCK;
	len = sizeof(v);
	if (getsockopt(bell, SOL_SOCKET, SO_TYPE, &v, &len) ||
	    v != SOCK_STREAM || fstat(bell, &st))
		return -ENOTSOCK;
	*ino = st.st_ino;
	/* Asked in the doorbell's network namespace (peer.c).  If the
	 * kernel will not say (no sock_diag, or no right to enter that
	 * namespace), the doorbell is taken on trust. */
	rc = hv_unix_peer(bell, &peer);
	if (rc && !warned) {
		warned = true;
		hv_log(HV_LOG_WARN, "cannot ask sock_diag about a doorbell "
		       "(%s): doorbells are taken on trust", strerror(-rc));
	}
	if (!rc && peer &&
	    (holds_bell(hv, peer) || holds_bell(hv, st.st_ino)))
		return -EINVAL;
	v = 0;
	setsockopt(bell, SOL_SOCKET, SO_PASSRIGHTS, &v, sizeof(v));
	return 0;
}

static bool quota_left(const struct hv *hv, const struct hv_domain *d,
		       uint32_t size)
{
	return d->nrings < hv->cfg.max_rings &&
	       d->ring_bytes + size <= hv->cfg.domain_quota;
}

static int check_register(struct hv *hv, struct hv_domain *d,
			  const struct v4vp_register *req)
{
	if (v4v_ring_size_check(req->size) || req->size > hv->cfg.max_ring_size)
		return -EINVAL;
	if (req->partner != V4V_DOMID_ANY && req->partner > V4V_DOMID_MAX)
		return -EINVAL;
	if (req->flags & ~(V4VP_REG_LISTEN | V4VP_REG_TXQ))
		return -EINVAL;
	/* A transmit queue is a strict connection's (one partner), or a
	 * datagram socket's (any partner, not a listener), in both modes. */
	if ((req->flags & V4VP_REG_TXQ) &&
	    (req->partner == V4V_DOMID_ANY ? req->flags & V4VP_REG_LISTEN
					   : !hv->cfg.strict))
		return -EINVAL;
	if (req->flags & V4VP_REG_LISTEN) {
		/* Its queued connections' rings come out of its quota. */
		if (req->partner != V4V_DOMID_ANY ||
		    v4v_ring_size_check(req->accept_size) ||
		    req->accept_size > hv->cfg.max_ring_size)
			return -EINVAL;
	} else if (req->accept_size) {
		return -EINVAL;
	}
	if (!quota_left(hv, d, req->flags & V4VP_REG_TXQ ? 2 * req->size
							 : req->size))
		return -EDQUOT;
	if (!hv_fds_left(hv, d->admin, d->uid, 2))
		return -EMFILE;
	if (req->port && find_exact(hv, d->domid, req->port, req->partner))
		return -EADDRINUSE;
	return 0;
}

/* A view of the i-th ring of r's memory.  The owner formats its rings
 * before registering them; a header that says otherwise is a client bug
 * worth a clear error now. */
static int view_ring(const struct hv_ring *r, unsigned i,
		     struct v4v_ring *view)
{
	size_t one = v4v_ring_mem_size(r->size);

	if (v4v_ring_view(view, (uint8_t *)r->mem + i * one, one, r->size) ||
	    view->sh->magic != V4V_RING_MAGIC ||
	    view->sh->version != V4V_RING_VERSION ||
	    view->sh->size != r->size)
		return -EINVAL;
	return 0;
}

/* The ring, and a strict connection's transmit queue after it, at `off`
 * in memfd.  `fresh`: memory of our own making, formatted here (and not
 * armed, so that a producer rings nobody until its consumer arms it). */
static int map_ring(struct hv_ring *r, int memfd, uint64_t off, bool fresh)
{
	unsigned n = r->has_txq ? 2 : 1;
	size_t one = v4v_ring_mem_size(r->size);
	struct v4v_ring view, q;

	r->memlen = n * one;
	/* Not pre-faulted: pages come as they are used (sock_ring_map). */
	r->mem = mmap(NULL, r->memlen, PROT_READ | PROT_WRITE,
		      MAP_SHARED, memfd, (off_t)off);
	if (r->mem == MAP_FAILED)
		return -errno;
	for (unsigned i = 0; fresh && i < n; i++)
		v4v_ring_format((uint8_t *)r->mem + i * one, r->size);
	if (view_ring(r, 0, &view) || (r->has_txq && view_ring(r, 1, &q))) {
		munmap(r->mem, r->memlen);
		return -EINVAL;
	}
	v4v_ring_prod_init(&r->prod, &view);
	if (r->has_txq)
		v4v_ring_cons_init(&r->txq, &q);
	return 0;
}

/* What a ring takes of its domain's quota: a strict connection's
 * transmit queue is as large as its ring. */
static uint64_t ring_bytes(const struct hv_ring *r)
{
	return r->has_txq ? 2ull * r->size : r->size;
}

/* The descriptors we hold for a ring (see limits.c). */
static unsigned ring_fds(const struct hv_ring *r)
{
	return (r->bell >= 0) + (r->memfd >= 0) + (r->inet_fd >= 0);
}

static uint32_t alloc_handle(struct hv *hv);

/* A new ring joins the tables, with a handle of its own. */
static void link_ring(struct hv *hv, struct hv_ring *r)
{
	r->handle = alloc_handle(hv);
	r->seen_ms = hv_now_ms();
	hv_fds_charge(hv, r->dom->uid, (int)ring_fds(r));
	if (r->bell >= 0)
		htab_add(&hv->rings_by_bell, &r->by_bell, r->bell_ino);
	htab_add(&hv->rings_by_addr, &r->by_addr, addr_key(r->dom->domid,
							   r->port));
	htab_add(&hv->rings_by_handle, &r->by_handle, r->handle);
	list_add_tail(&hv->rings, &r->link);
	r->dom->nrings++;
	r->dom->ring_bytes += ring_bytes(r);
	hv->nrings++;
}

static uint32_t alloc_handle(struct hv *hv)
{
	do {
		hv->next_handle++;
	} while (!hv->next_handle || hv_ring_by_handle(hv, hv->next_handle));
	return hv->next_handle;
}

/* A guest's ring is formatted here, and producers can reach it before
 * the guest's socket has mapped it: armed now, as a host socket arms its
 * ring before registering it, so that the first message rings. */
static void arm_fresh(struct hv_ring *r)
{
	struct v4v_ring_cons c;

	v4v_ring_cons_init(&c, &r->prod.r);
	v4v_ring_arm(&c);
}

/* A ring in `memfd` at `off` (a VM's: in its region, formatted here, and
 * never granted: `in_region`), its doorbell `bell`. */
static int register_ring(struct hv *hv, struct hv_domain *d,
			 const struct v4vp_register *req, int memfd,
			 uint64_t off, bool in_region, int bell,
			 struct v4vp_register_reply *out)
{
	/* Only the hang-up (always reported): a half-close (shutdown of
	 * the application's writing side) is not the end of the ring. */
	struct epoll_event ev = { .events = 0 };
	struct hv_ring *r;
	ino_t bell_ino = 0;
	int rc;

	rc = check_bell(hv, bell, &bell_ino);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kind = HV_BELL;
	r->dom = d;
	r->partner = req->partner;
	r->size = req->size;
	r->bell = bell;
	r->bell_ino = bell_ino;
	r->listening = req->flags & V4VP_REG_LISTEN;
	r->has_txq = req->flags & V4VP_REG_TXQ;
	r->accept_size = req->accept_size;
	r->memfd = -1;
	r->inet_fd = -1;
	r->port = req->port;
	r->in_region = in_region;
	rc = r->port ? 0 : alloc_port(hv, d, &r->port);
	if (!rc)
		rc = map_ring(r, memfd, off, in_region);
	if (!rc && in_region)
		arm_fresh(r);
	/* A ring for one partner may be granted to it later. */
	if (!rc && r->partner != V4V_DOMID_ANY && !in_region) {
		r->memfd = fcntl(memfd, F_DUPFD_CLOEXEC, 0);
		if (r->memfd < 0) {
			rc = -errno;
			munmap(r->mem, r->memlen);
		}
	}
	if (rc) {
		free(r);
		return rc;
	}
	ev.data.ptr = r;
	if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, bell, &ev)) {
		rc = -errno;
		munmap(r->mem, r->memlen);
		if (r->memfd >= 0)
			close(r->memfd);
		free(r);
		return rc;
	}
	link_ring(hv, r);
	hv_guardian_watch(hv, r);
	if (r->has_txq && r->partner == V4V_DOMID_ANY) {
		r->dgram_q = true;
		hv_pump_start(hv, r);
	}
	out->handle = r->handle;
	out->port = r->port;
	out->offset = off;
	hv_log(HV_LOG_DEBUG, "ring %u: %u:%u partner %u, %u bytes", r->handle,
	       d->domid, r->port, r->partner, r->size);
	return 0;
}

int hv_ring_register(struct hv *hv, struct hv_domain *d,
		     const struct v4vp_register *req, int memfd, int bell,
		     struct v4vp_register_reply *out)
{
	int rc = check_register(hv, d, req);

	if (!rc)
		rc = check_memfd(memfd, v4v_ring_mem_size(req->size) *
					  (req->flags & V4VP_REG_TXQ ? 2 : 1));
	if (rc)
		return rc;
	return register_ring(hv, d, req, memfd, 0, false, bell, out);
}

int hv_ring_register_vm(struct hv *hv, struct hv_domain *d,
			const struct v4vp_register *req, int memfd,
			uint64_t off, int bell,
			struct v4vp_register_reply *out)
{
	int rc = check_register(hv, d, req);

	return rc ? rc : register_ring(hv, d, req, memfd, off, true, bell, out);
}

/* Something on a ring's doorbell: a strict sender's token or fill (its
 * queue has data), or the hang-up that ends the ring (once a strict
 * stream has delivered all it queued). */
void hv_ring_event(struct hv *hv, struct hv_ring *r, uint32_t events)
{
	if (hv_pumps(hv, r) && !r->eof)
		hv_pump_bell(hv, r);
	if (!(events & (EPOLLHUP | EPOLLERR)))
		return;
	if (hv_pump_linger(hv, r))
		return;
	hv_ring_destroy(hv, r, "socket closed");
}

/* The fastest a producer could really have filled a ring: 100 GB/s,
 * several times a core's copy rate. */
#define MAX_BYTES_PER_MS (100ull << 20)

/*
 * Direct peers count in the ring's header themselves (so do we, when we
 * insert): we never see their data.  A peer may write anything there, so
 * the count is taken as a claim: it never goes back, and it never grows
 * faster than memory could have carried it since we last looked.  A
 * forger can inflate its own traffic by that much and no more.
 */
uint64_t hv_ring_stream_bytes(struct hv_ring *r)
{
	uint64_t now = hv_now_ms(), claim, cap;

	if (r->state != HV_RING_LINKED)
		return r->seen_bytes;
	claim = __atomic_load_n(&r->prod.r.sh->tx_bytes, __ATOMIC_RELAXED);
	cap = r->seen_bytes + (now - r->seen_ms) * MAX_BYTES_PER_MS;
	if (claim < r->seen_bytes)
		claim = r->seen_bytes;
	if (claim > cap)
		claim = cap;
	r->seen_bytes = claim;
	r->seen_ms = now;
	return claim;
}

void hv_ring_destroy(struct hv *hv, struct hv_ring *r, const char *why)
{
	struct hv_domain *d = r->dom;

	uint64_t got = hv_ring_stream_bytes(r);

	hv_log(HV_LOG_DEBUG, "ring %u (%u:%u) closed: %s", r->handle,
	       d->domid, r->port, why);
	d->c.stream_bytes += got;
	hv->c.stream_bytes += got;
	/* Unreachable first: the senders woken below must not find it. */
	htab_del(&hv->rings_by_addr, &r->by_addr);
	/* A datagram socket's last datagrams go if there is room for them;
	 * those who sent to it queue no more without asking. */
	if (r->dgram_q && !r->eof)
		hv_dgram_flush(hv, r);
	if (r->state == HV_RING_PLAIN && !r->listening)
		hv_dgram_revoke(hv, r->handle);
	hv_pump_forget(hv, r);
	/* The peer learns first, so that woken pumps stop writing here;
	 * then senders waiting for space retry and learn it is gone. */
	hv_conn_ring_gone(hv, r);
	hv_ring_wake(hv, r, true);
	hv_fds_charge(hv, r->dom->uid, -(int)ring_fds(r));
	hv_guardian_forget(hv, r);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->inet_fd >= 0)
		close(r->inet_fd);
	htab_del(&hv->rings_by_handle, &r->by_handle);
	if (r->bell >= 0)
		htab_del(&hv->rings_by_bell, &r->by_bell);
	list_del(&r->link);
	if (r->bell >= 0) {
		if (!r->dying)
			epoll_ctl(hv->epfd, EPOLL_CTL_DEL, r->bell, NULL);
		close(r->bell);
	}
	munmap(r->mem, r->memlen);
	if (r->in_region)
		hv_vm_ring_gone(hv, r);
	free(r->waiters);
	d->nrings--;
	d->ring_bytes -= ring_bytes(r);
	hv->nrings--;
	free(r);
	hv_domain_put(hv, d);
}

/* The owner closed its socket; the ring goes only if no other process
 * still holds the socket (after fork), exactly like a kernel socket. */
int hv_ring_unregister(struct hv *hv, struct hv_domain *d, uint32_t handle,
		       uint32_t flags)
{
	struct hv_ring *r = hv_ring_by_handle(hv, handle);
	struct pollfd p;

	if (!r || r->dom != d || (flags & ~V4VP_UNREG_NOW))
		return -EBADF;
	if (flags & V4VP_UNREG_NOW) {
		hv_ring_destroy(hv, r, "released by its domain");
		return 0;
	}
	p.fd = r->bell;
	p.events = POLLRDHUP;
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
		hv_ring_event(hv, r, EPOLLHUP);
	return 0;
}

void hv_ring_add_waiter(struct hv_ring *r, uint32_t handle, uint32_t need)
{
	for (uint32_t i = 0; i < r->nwaiters; i++) {
		if (r->waiters[i].handle == handle) {
			if (need < r->waiters[i].need)
				r->waiters[i].need = need;
			return;
		}
	}
	if (r->nwaiters == r->capwaiters) {
		uint32_t cap = r->capwaiters ? r->capwaiters * 2 : 4;
		struct hv_waiter *w = realloc(r->waiters, cap * sizeof(*w));

		if (!w)
			return; /* the sender can still poll with a timeout */
		r->waiters = w;
		r->capwaiters = cap;
	}
	r->waiters[r->nwaiters++] = (struct hv_waiter){ handle, need };
}

void hv_ring_del_waiter(struct hv_ring *r, uint32_t handle)
{
	for (uint32_t i = 0; i < r->nwaiters; i++) {
		if (r->waiters[i].handle == handle) {
			r->waiters[i] = r->waiters[--r->nwaiters];
			return;
		}
	}
}

void hv_bell_ring(int bell)
{
	char t = 0;

	if (bell < 0)
		return; /* a queued connection's ring: nobody to wake yet */
	/* A full doorbell already holds a token: nothing to add. */
	(void)send(bell, &t, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A waiting sender made its socket unwritable by filling the doorbell
 * towards us (a few KiB); emptying it makes the socket writable again.
 * One fill's worth, up to a short read: what comes after is the sender's
 * next fill, made as soon as it woke, and taking that too would wake it
 * with no room (stale readiness). */
void hv_bell_drain(int bell)
{
	char buf[8192];
	ssize_t n;

	while ((n = recv(bell, buf, sizeof(buf), MSG_DONTWAIT)) ==
	       (ssize_t)sizeof(buf))
		;
}

void hv_ring_room(struct hv_ring *r)
{
	hv_bell_drain(r->bell);
	/* A guest's sender filled its socket towards its agent, not us. */
	if (r->dom && r->dom->vm)
		hv_vm_room(r->dom->vm, r->handle);
}

static void unblock_sender(struct hv *hv, uint32_t handle)
{
	struct hv_ring *s = hv_ring_by_handle(hv, handle);

	if (!s)
		return;
	/* A strict stream's engine resumes copying its queue, and ends a
	 * closed one once all it queued is delivered. */
	if (s->bell < 0)
		return;
	if (hv_pumps(hv, s)) {
		if (!s->dying)
			hv_pump(hv, s);
		else if (hv_pump_out(hv, s))
			hv_ring_destroy(hv, s, "socket closed, data delivered");
		return;
	}
	hv_ring_room(s);
}

void hv_ring_wake(struct hv *hv, struct hv_ring *r, bool all)
{
	struct hv_waiter *ws = r->waiters;
	uint32_t n = r->nwaiters, smallest = UINT32_MAX;

	/* Waking may queue new waiters on this very ring (a pump that
	 * fills it again): start a fresh list before waking anyone. */
	r->waiters = NULL;
	r->nwaiters = r->capwaiters = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (all || v4v_ring_space(&r->prod) >= ws[i].need) {
			unblock_sender(hv, ws[i].handle);
			continue;
		}
		hv_ring_add_waiter(r, ws[i].handle, ws[i].need);
	}
	free(ws);
	for (uint32_t i = 0; i < r->nwaiters; i++)
		if (r->waiters[i].need < smallest)
			smallest = r->waiters[i].need;
	/* Still waiting: ask the consumer to tell us again.  If space
	 * appeared meanwhile, go round once more. */
	if (r->nwaiters && !all && v4v_ring_want_space(&r->prod, smallest))
		hv_ring_wake(hv, r, false);
}

/* A queued ring of a VM's listener: in the VM's region, never granted
 * (VMs have streams only under --strict). */
static int make_in_region(struct hv *hv, struct hv_ring *r,
			  struct hv_ring **out)
{
	struct hv_vm *vm = r->dom->vm;
	struct hv_vm_ring *g;
	int rc;

	r->memfd = -1;
	g = hv_vm_ring_alloc(vm, v4v_ring_mem_size(r->size) *
				     (r->has_txq ? 2 : 1));
	if (!g) {
		free(r);
		return -EDQUOT; /* as a full quota: the client tries again */
	}
	r->in_region = true;
	rc = alloc_port(hv, r->dom, &r->port);
	if (!rc)
		rc = map_ring(r, vm->memfd, g->off, true);
	if (rc) {
		hv_vm_ring_unalloc(vm, g);
		free(r);
		return rc;
	}
	link_ring(hv, r);
	g->handle = r->handle;
	hv_guardian_watch(hv, r);
	*out = r;
	return 0;
}

int hv_ring_make(struct hv *hv, struct hv_domain *d, v4v_domid_t partner,
		 uint32_t size, struct hv_ring **out)
{
	struct hv_ring *r;
	int rc;

	if (!quota_left(hv, d, hv->cfg.strict ? 2 * size : size))
		return -EDQUOT;
	/* Its memfd, the accepting socket's doorbell, a client's socket. */
	if (!hv_fds_left(hv, d->admin, d->uid, 3))
		return -EMFILE;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kind = HV_BELL;
	r->dom = d;
	r->partner = partner;
	r->size = size;
	r->bell = -1;
	r->inet_fd = -1;
	r->queued = true;
	r->has_txq = hv->cfg.strict;
	if (d->vm)
		return make_in_region(hv, r, out);
	r->memfd = v4v_ring_memfd(size, r->has_txq ? 2 : 1);
	rc = r->memfd < 0 ? r->memfd : alloc_port(hv, d, &r->port);
	if (!rc)
		rc = map_ring(r, r->memfd, 0, true);
	if (rc) {
		if (r->memfd >= 0)
			close(r->memfd);
		free(r);
		return rc;
	}
	link_ring(hv, r);
	hv_guardian_watch(hv, r);
	*out = r;
	return 0;
}

int hv_ring_adopt_bell(struct hv *hv, struct hv_ring *r, int bell)
{
	struct epoll_event ev = { .events = 0, .data.ptr = r };
	ino_t ino;
	int rc = check_bell(hv, bell, &ino);

	if (rc)
		return rc;
	if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, bell, &ev))
		return -errno;
	r->bell = bell;
	r->bell_ino = ino;
	r->queued = false;
	hv_fds_charge(hv, r->dom->uid, 1);
	htab_add(&hv->rings_by_bell, &r->by_bell, ino);
	hv_guardian_watch(hv, r);
	return 0;
}
