/* SPDX-License-Identifier: MIT */
/*
 * A VM's rings live in its region: v4vd hands out the memory (pages of
 * the region's heap, first fit) and formats it, so a guest can never
 * name memory outside its own region, nor two rings the same pages.  A
 * host process's ring comes with its socket's doorbell; a guest has no
 * socket we can hold, so v4vd makes the pair itself, gives the ring one
 * end as any doorbell, and passes what rings on the other to the guest
 * as a BELL message on the channel that registered the ring.  The ring
 * goes with that channel (the guest process's link), when the guest
 * unregisters it, or when the link resets.
 *
 * Streams: only under --strict, where v4vd copies every byte (a ring
 * in a region is never granted); a connection queued on a guest's
 * listener gets its ring in the guest's region (hv_ring_make).
 */
#include "hv.h"
#include "vm/region.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAGE 4096u

static int heap_init(struct hv_vm *vm)
{
	if (vm->page_used)
		return 0;
	vm->npages = (uint32_t)((vm->size - vm->heap_off) / PAGE);
	vm->page_used = calloc(vm->npages, 1);
	return vm->page_used ? 0 : -ENOMEM;
}

/* First fit; returns the region offset or 0 (the header is at 0). */
static uint64_t heap_alloc(struct hv_vm *vm, uint32_t pages)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < vm->npages; i++) {
		run = vm->page_used[i] ? 0 : run + 1;
		if (run == pages) {
			uint32_t first = i + 1 - pages;

			memset(vm->page_used + first, 1, pages);
			return vm->heap_off + (uint64_t)first * PAGE;
		}
	}
	return 0;
}

static void heap_free(struct hv_vm *vm, uint64_t off, uint32_t pages)
{
	memset(vm->page_used + (off - vm->heap_off) / PAGE, 0, pages);
}

static struct hv_vm_ring *find(struct hv_vm *vm, uint32_t handle)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &vm->rings) {
		struct hv_vm_ring *g = container_of(pos, struct hv_vm_ring,
						    link);

		if (g->handle == handle)
			return g;
	}
	return NULL;
}

struct hv_vm_ring *hv_vm_ring_alloc(struct hv_vm *vm, size_t len)
{
	struct hv_vm_ring *g;

	if (heap_init(vm))
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->pages = (uint32_t)((len + PAGE - 1) / PAGE);
	g->off = heap_alloc(vm, g->pages);
	if (!g->off) {
		free(g);
		return NULL; /* the region is full */
	}
	g->ep = (struct hv_vm_ep){ HV_VM, HV_VM_RING, vm };
	g->fd = -1;
	g->chan = UINT32_MAX;
	list_add_tail(&vm->rings, &g->link);
	return g;
}

void hv_vm_ring_unalloc(struct hv_vm *vm, struct hv_vm_ring *g)
{
	list_del(&g->link);
	heap_free(vm, g->off, g->pages);
	free(g);
}

/* Our pair for a ring of channel `chan`: one end is the ring's doorbell,
 * the other ours (g->fd), watched.  Returns the ring's end or -errno. */
static int bell_pair(struct hv *hv, struct hv_vm_ring *g, uint32_t chan)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
				  .data.ptr = &g->ep };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv))
		return -errno;
	g->fd = sv[1];
	g->chan = chan;
	epoll_ctl(hv->epfd, EPOLL_CTL_ADD, g->fd, &ev);
	return sv[0];
}

static void bell_unpair(struct hv *hv, struct hv_vm_ring *g, int ring_end)
{
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
	close(g->fd);
	close(ring_end);
	g->fd = -1;
}

int hv_vm_register(struct hv *hv, struct hv_conn *c,
		   const struct v4vp_register *req,
		   struct v4vp_register_reply *out)
{
	struct hv_vm *vm = c->vm;
	struct hv_vm_ring *g;
	unsigned n = req->flags & V4VP_REG_TXQ ? 2 : 1;
	int bell, rc;

	if (!c->dom)
		return -ENOTCONN;
	/* Streams only where v4vd copies every byte: a ring in a region
	 * is never granted. */
	if (req->flags && !hv->cfg.strict)
		return -EOPNOTSUPP;
	if (v4v_ring_size_check(req->size) ||
	    req->size > hv->cfg.max_ring_size)
		return -EINVAL;
	g = hv_vm_ring_alloc(vm, n * v4v_ring_mem_size(req->size));
	if (!g)
		return -ENOSPC;
	bell = bell_pair(hv, g, c->chan);
	if (bell < 0) {
		hv_vm_ring_unalloc(vm, g);
		return bell;
	}
	rc = hv_ring_register_vm(hv, c->dom, req, vm->memfd, g->off, bell,
				 out);
	if (rc) {
		bell_unpair(hv, g, bell);
		hv_vm_ring_unalloc(vm, g);
		return rc;
	}
	g->handle = out->handle;
	return 0;
}

/* ACCEPT from a guest: the queued ring is already in its region (made
 * by hv_ring_make); its doorbell is a pair of ours. */
int hv_vm_accept(struct hv *hv, struct hv_conn *c,
		 const struct v4vp_accept *req, struct v4vp_accept_reply *out)
{
	struct hv_vm_ring *g = find(c->vm, req->handle);
	int fds[3], bell, rc;

	if (!c->dom)
		return -ENOTCONN;
	if (!g || g->fd >= 0)
		return -EINVAL;
	bell = bell_pair(hv, g, c->chan);
	if (bell < 0)
		return bell;
	rc = hv_accept(hv, c->dom, req, bell, out, fds);
	if (rc) {
		bell_unpair(hv, g, bell);
		return rc;
	}
	out->offset = g->off;
	return 0;
}

/* A token from the guest for a ring of this channel (a strict sender's
 * queue): as if its socket had written it. */
void hv_vm_guest_bell(struct hv_vm *vm, uint32_t chan, uint32_t handle)
{
	struct hv_vm_ring *g = find(vm, handle);

	if (g && g->chan == chan && g->fd >= 0)
		send(g->fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/*
 * A guest process rings the device's doorbell itself after it wrote its
 * transmit queue (libv4v's kick: no hop through the guest's agent, whose
 * wake-up is a guest context switch).  The doorbell does not say which
 * queue: each of the VM's queues that moved since we last looked is rung
 * as a BELL would ring it.  What the guest writes there is a hint only;
 * the engine validates every message, and a token too many costs the
 * engine one look.  Returns whether any moved: a doorbell that moved
 * nothing counts towards the flood throttle (vm.c).
 */
bool hv_vm_kicked(struct hv *hv, struct hv_vm *vm)
{
	struct list *pos, *tmp;
	bool moved = false;

	list_for_each_safe(pos, tmp, &vm->rings) {
		struct hv_vm_ring *g = container_of(pos, struct hv_vm_ring,
						    link);
		struct hv_ring *r = g->fd >= 0 && !g->dead
					    ? hv_ring_by_handle(hv, g->handle)
					    : NULL;
		uint32_t tx, flags;

		if (!r || !r->has_txq || !r->pumping)
			continue;
		tx = v4v_ring_tx_mark(&r->txq.r);
		flags = v4v_ring_tx_flags(&r->txq.r);
		if (tx == g->kick_tx && flags == g->kick_flags)
			continue;
		g->kick_tx = tx;
		g->kick_flags = flags;
		send(g->fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		vm->kicks++;
		moved = true;
	}
	return moved;
}

void hv_vm_room(struct hv_vm *vm, uint32_t handle)
{
	/* 4 bytes: atomic (PIPE_BUF); the pipe holds 16384 of them. */
	if (write(vm->room[1], &handle, sizeof(handle)) != sizeof(handle))
		hv_log(HV_LOG_WARN, "vm %s: ROOM for ring %u lost (pipe full)",
		       vm->name, handle);
}

/* ROOM to the guest for each ring whose sender has room: its agent
 * empties the fill that sender left on its doorbell. */
void hv_vm_room_event(struct hv_vm *vm)
{
	uint32_t handles[256];
	ssize_t n;

	while ((n = read(vm->room[0], handles, sizeof(handles))) > 0) {
		for (size_t i = 0; i < (size_t)n / sizeof(handles[0]); i++) {
			struct hv_vm_ring *g = find(vm, handles[i]);
			struct iovec iov = { &handles[i], sizeof(handles[i]) };

			if (g && g->fd >= 0 && !g->dead)
				hv_vm_put(vm, V4V_VMC_ROOM, g->chan, &iov, 1);
		}
	}
}

static void record_free(struct hv *hv, struct hv_vm *vm, struct hv_vm_ring *g)
{
	if (g->fd >= 0) {
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
		close(g->fd);
	}
	list_del(&g->link);
	heap_free(vm, g->off, g->pages);
	free(g);
}

/*
 * v4vd is done with a ring (its peer went, or its socket did).  The
 * guest learns it now (HUP: otherwise a socket whose peer went could
 * sleep for ever); and the guest's socket may still map the memory, so
 * the pages stay the ring's until the guest lets go of it (its socket
 * closed: UNREGISTER; its channel's end; a reset of the link): memory
 * handed to a socket is never handed to another while the first can
 * still read it.
 */
void hv_vm_ring_gone(struct hv *hv, struct hv_ring *r)
{
	struct hv_vm *vm = r->dom->vm;
	struct hv_vm_ring *g = vm ? find(vm, r->handle) : NULL;

	if (!g)
		return;
	if (g->orphan || g->chan == UINT32_MAX) {
		record_free(hv, vm, g); /* no guest socket has it */
		return;
	}
	if (g->fd >= 0) {
		struct iovec iov = { &g->handle, sizeof(g->handle) };

		hv_vm_put(vm, V4V_VMC_HUP, g->chan, &iov, 1);
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
		close(g->fd);
		g->fd = -1;
	}
	g->dead = true;
}

/* The guest's socket is gone: hang up its end of the doorbell, and the
 * ring goes as a host socket's does (after a strict stream delivered
 * what it queued); a ring already gone gives its memory back now. */
static void let_go(struct hv *hv, struct hv_vm *vm, struct hv_vm_ring *g)
{
	if (g->dead) {
		record_free(hv, vm, g);
		return;
	}
	g->orphan = true;
	if (g->fd < 0)
		return;
	epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
	close(g->fd);
	g->fd = -1;
}

int hv_vm_unregister(struct hv *hv, struct hv_conn *c, uint32_t handle)
{
	struct hv_vm_ring *g = find(c->vm, handle);

	if (!g || g->chan != c->chan || g->orphan)
		return -EBADF;
	let_go(hv, c->vm, g);
	return 0;
}

void hv_vm_chan_rings_gone(struct hv *hv, struct hv_conn *c)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &c->vm->rings) {
		struct hv_vm_ring *g = container_of(pos, struct hv_vm_ring,
						    link);
		struct hv_ring *r;

		if (g->chan != c->chan)
			continue;
		r = hv_ring_by_handle(hv, g->handle);
		if (r && r->queued && !g->dead)
			hv_ring_destroy(hv, r, "its guest channel closed");
		else
			let_go(hv, c->vm, g);
	}
}

void hv_vm_rings_free(struct hv *hv, struct hv_vm *vm)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &vm->rings)
		record_free(hv, vm, container_of(pos, struct hv_vm_ring, link));
}

/* A token (or the end) on a ring's doorbell: tell the guest.  Tokens are
 * not counted across: one BELL says "look at this ring". */
void hv_vm_bell_event(struct hv *hv, struct hv_vm_ep *ep, uint32_t events)
{
	struct hv_vm_ring *g = (struct hv_vm_ring *)ep;
	struct iovec iov = { &g->handle, sizeof(g->handle) };
	char tok[64];

	bool rang = false;

	while (read(g->fd, tok, sizeof(tok)) > 0)
		rang = true;
	if (rang)
		hv_vm_put(ep->vm, V4V_VMC_BELL, g->chan, &iov, 1);
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		/* We shut the doorbell down (the peer went, or we exit): the
		 * guest's socket sees the hang-up as a host socket would. */
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
		hv_vm_put(ep->vm, V4V_VMC_HUP, g->chan, &iov, 1);
	}
}
