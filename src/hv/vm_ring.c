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
 * Stage one: datagram rings only (no listeners, no transmit queues, so
 * no stream connections yet).
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

int hv_vm_register(struct hv *hv, struct hv_conn *c,
		   const struct v4vp_register *req,
		   struct v4vp_register_reply *out)
{
	struct hv_vm *vm = c->vm;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct hv_vm_ring *g;
	uint32_t pages;
	int sv[2], rc;

	if (!c->dom)
		return -ENOTCONN;
	if (req->flags)
		return -EOPNOTSUPP; /* streams: not yet between VMs */
	if (v4v_ring_size_check(req->size) ||
	    req->size > hv->cfg.max_ring_size)
		return -EINVAL;
	rc = heap_init(vm);
	if (rc)
		return rc;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	pages = (uint32_t)((v4v_ring_mem_size(req->size) + PAGE - 1) / PAGE);
	g->off = heap_alloc(vm, pages);
	if (!g->off) {
		free(g);
		return -ENOSPC; /* the region is full */
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       sv)) {
		rc = -errno;
		goto fail;
	}
	g->ep = (struct hv_vm_ep){ HV_VM, HV_VM_RING, vm };
	g->fd = sv[1];
	g->chan = c->chan;
	g->pages = pages;
	list_add_tail(&vm->rings, &g->link); /* before: a failure frees it */
	rc = hv_ring_register_vm(hv, c->dom, req, vm->memfd, g->off, sv[0],
				 out);
	if (rc) {
		list_del(&g->link);
		close(sv[0]);
		close(sv[1]);
		goto fail;
	}
	g->handle = out->handle;
	ev.data.ptr = &g->ep;
	epoll_ctl(hv->epfd, EPOLL_CTL_ADD, g->fd, &ev);
	return 0;
fail:
	heap_free(vm, g->off, pages);
	free(g);
	return rc;
}

void hv_vm_ring_gone(struct hv *hv, struct hv_ring *r)
{
	struct hv_vm *vm = r->dom->vm;
	struct hv_vm_ring *g = vm ? find(vm, r->handle) : NULL;

	if (!g)
		return;
	list_del(&g->link);
	heap_free(vm, g->off, g->pages);
	if (g->fd >= 0) {
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
		close(g->fd);
	}
	free(g);
}

int hv_vm_unregister(struct hv *hv, struct hv_conn *c, uint32_t handle)
{
	struct hv_vm_ring *g = find(c->vm, handle);
	struct hv_ring *r = hv_ring_by_handle(hv, handle);

	if (!g || g->chan != c->chan || !r)
		return -EBADF;
	hv_ring_destroy(hv, r, "released by its guest");
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
		if (r)
			hv_ring_destroy(hv, r, "its guest channel closed");
	}
}

/* A token (or the end) on a ring's doorbell: tell the guest.  Tokens are
 * not counted across: one BELL says "look at this ring". */
void hv_vm_bell_event(struct hv *hv, struct hv_vm_ep *ep, uint32_t events)
{
	struct hv_vm_ring *g = (struct hv_vm_ring *)ep;
	struct iovec iov = { &g->handle, sizeof(g->handle) };
	char tok[64];

	while (read(g->fd, tok, sizeof(tok)) > 0)
		;
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, g->fd, NULL);
	hv_vm_put(ep->vm, V4V_VMC_BELL, g->chan, &iov, 1);
}
