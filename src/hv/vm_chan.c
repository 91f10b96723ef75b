/* SPDX-License-Identifier: MIT */
/*
 * A VM's control link: the two control rings of its region
 * (src/vm/region.h).  Each channel the guest opens is a control
 * connection of the VM's domain (ctl.c serves it as it serves a socket,
 * without descriptors); replies go back on the host-to-guest ring.  The
 * guest owns everything in its region: whatever it writes there is read
 * through the ring code, and a ring found corrupt ends the link (every
 * channel closed, the rings formatted afresh) until the guest attaches
 * again.  Nothing the guest does reaches another domain's state.
 */
#include "hv.h"
#include "vm/region.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static struct v4v_vm_region *hdr(struct hv_vm *vm)
{
	return vm->mem;
}

static void close_chans(struct hv *hv, struct hv_vm *vm, const char *why)
{
	vm->resetting = true;
	for (uint32_t i = 0; i < V4V_VM_MAX_CHANS; i++)
		if (vm->chans[i])
			hv_ctl_close(hv, vm->chans[i], why);
	vm->resetting = false;
}

/* Both control rings empty and fresh; the host side armed, so the
 * guest's first message rings us. */
static void format_rings(struct hv_vm *vm)
{
	uint8_t *m = vm->mem;
	struct v4v_ring r;

	v4v_ring_format(m + V4V_VM_HDR_SIZE, V4V_VM_CTL_SIZE);
	v4v_ring_view(&r, m + V4V_VM_HDR_SIZE,
		      v4v_ring_mem_size(V4V_VM_CTL_SIZE), V4V_VM_CTL_SIZE);
	v4v_ring_cons_init(&vm->g2h, &r);
	v4v_ring_arm(&vm->g2h);
	v4v_ring_format(m + vm->h2g_off, V4V_VM_CTL_SIZE);
	v4v_ring_view(&r, m + vm->h2g_off,
		      v4v_ring_mem_size(V4V_VM_CTL_SIZE), V4V_VM_CTL_SIZE);
	v4v_ring_prod_init(&vm->h2g, &r);
}

/* What v4vd says in the header, written again at every attach: the
 * guest may have scribbled over it. */
static void write_header(struct hv_vm *vm)
{
	struct v4v_vm_region *h = hdr(vm);

	h->magic = V4V_VM_MAGIC;
	h->version = V4V_VM_VERSION;
	h->size = vm->size;
	h->g2h_off = V4V_VM_HDR_SIZE;
	h->h2g_off = vm->h2g_off;
	h->ctl_size = V4V_VM_CTL_SIZE;
	h->heap_off = vm->heap_off;
	h->domid = vm->dom->domid;
	memcpy(h->name, vm->dom->name, sizeof(h->name));
}

/* A new guest finds nothing of the last one.  Holes, not zeros: the
 * region's memory is taken only where a guest uses it, so a large region
 * costs nothing until its guest opens many connections. */
static void region_clear(struct hv_vm *vm)
{
	if (vm->memfd < 0 ||
	    fallocate(vm->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)vm->size))
		memset(vm->mem, 0, vm->size);
}

void hv_vm_link_reset(struct hv *hv, struct hv_vm *vm, const char *why)
{
	size_t ring = v4v_ring_mem_size(V4V_VM_CTL_SIZE);

	close_chans(hv, vm, why);
	region_clear(vm);
	vm->h2g_off = (uint32_t)((V4V_VM_HDR_SIZE + ring + 4095) & ~4095ul);
	vm->heap_off = (uint32_t)((vm->h2g_off + ring + 4095) & ~4095ul);
	write_header(vm);
	format_rings(vm);
	vm->attach = 0;
	vm->attached = false;
}

/* The guest asked to start over (its agent started, or it rebooted). */
static void attach(struct hv *hv, struct hv_vm *vm, uint32_t req)
{
	close_chans(hv, vm, "guest attached again");
	write_header(vm);
	format_rings(vm);
	vm->attach = req;
	vm->attached = true;
	vm->attaches++;
	__atomic_store_n(&hdr(vm)->attach_ack, req, __ATOMIC_RELEASE);
	hv_log(HV_LOG_DEBUG, "vm %s: guest attached", vm->name);
}

/* A corrupt ring: the link is over until the guest attaches again. */
static void broken(struct hv *hv, struct hv_vm *vm, const char *what)
{
	hv_log(HV_LOG_WARN, "vm %s: %s: link reset, waiting for the guest "
	       "to attach again", vm->name, what);
	close_chans(hv, vm, what);
	format_rings(vm);
	vm->attached = false;
	vm->link_resets++;
	__atomic_store_n(&hdr(vm)->attach_ack, 0, __ATOMIC_RELEASE);
	/* An agent asleep on our interrupt notices the reset now. */
	if (vm->bell_out >= 0)
		(void)eventfd_write(vm->bell_out, 1);
}

int hv_vm_put(struct hv_vm *vm, uint32_t type, uint32_t chan,
	       const struct iovec *iov, int iovcnt)
{
	struct v4v_addr src = { .domid = 0, .port = chan };
	bool kick = false;
	int rc = v4v_ring_insert(&vm->h2g, &src, type, iov, iovcnt, &kick);

	/* The guest's agent armed the ring before it slept: interrupt it
	 * (QEMU turns the eventfd into its MSI-X vector 0).  An agent that
	 * polls never arms, and gets none. */
	if (!rc && kick && vm->bell_out >= 0)
		(void)eventfd_write(vm->bell_out, 1);
	return rc;
}

int hv_vm_reply(struct hv_conn *c, const struct iovec *iov, int iovcnt)
{
	return hv_vm_put(c->vm, V4V_VMC_PKT, c->chan, iov, iovcnt);
}

void hv_vm_chan_closed(struct hv_conn *c)
{
	struct hv_vm *vm = c->vm;

	vm->chans[c->chan] = NULL;
	vm->nchans--;
	if (!vm->resetting)
		hv_vm_put(vm, V4V_VMC_CLOSE, c->chan, NULL, 0); /* best effort */
}

/* One message from the guest; false if the link broke. */
static bool handle(struct hv *hv, struct hv_vm *vm,
		   const struct v4v_ring_msg *m)
{
	uint32_t ch = m->source.port;
	struct hv_conn *c = ch < V4V_VM_MAX_CHANS ? vm->chans[ch] : NULL;
	uint32_t len = m->payload_len, handle = 0;
	bool fits = len <= V4VP_MAX_PACKET;

	if (ch >= V4V_VM_MAX_CHANS) {
		v4v_ring_consume(&vm->g2h, m);
		broken(hv, vm, "channel number out of range");
		return false;
	}
	/* A packet goes straight where ctl.c reads it: one copy. */
	if (m->message_type == V4V_VMC_PKT && c && fits)
		v4v_ring_read(&vm->g2h, 0, hv_ctl_buf(), len);
	else if (m->message_type == V4V_VMC_BELL && len == sizeof(handle))
		v4v_ring_read(&vm->g2h, 0, &handle, sizeof(handle));
	v4v_ring_consume(&vm->g2h, m);
	switch (m->message_type) {
	case V4V_VMC_OPEN:
		if (c)
			hv_ctl_close(hv, c, "channel opened again");
		c = hv_ctl_vm_open(hv, vm, ch);
		if (!c) {
			hv_vm_put(vm, V4V_VMC_CLOSE, ch, NULL, 0);
			return true;
		}
		vm->chans[ch] = c;
		vm->nchans++;
		return true;
	case V4V_VMC_PKT:
		if (!c)
			return true; /* closed meanwhile: as a socket would */
		if (!fits)
			hv_ctl_close(hv, c, "packet too large");
		else
			hv_ctl_packet(hv, c, len);
		return true;
	case V4V_VMC_CLOSE:
		if (c)
			hv_ctl_close(hv, c, "closed by the guest");
		return true;
	case V4V_VMC_BELL:
		if (len == sizeof(handle))
			hv_vm_guest_bell(vm, ch, handle);
		return true;
	default:
		broken(hv, vm, "unknown message type");
		return false;
	}
}

/* Returns whether the guest had anything for us. */
bool hv_vm_link_input(struct hv *hv, struct hv_vm *vm)
{
	uint32_t req = __atomic_load_n(&hdr(vm)->attach_req,
				       __ATOMIC_ACQUIRE);
	bool any = false;

	if (req && req != vm->attach) {
		attach(hv, vm, req);
		any = true;
	}
	if (!vm->attached)
		return any;
	/* Bounded: one chatty guest cannot starve the loop. */
	for (int budget = 64; budget > 0; budget--) {
		struct v4v_ring_msg m;
		int rc = v4v_ring_peek(&vm->g2h, &m);

		if (rc < 0) {
			broken(hv, vm, "corrupt guest-to-host ring");
			return true;
		}
		if (rc == 0) {
			if (v4v_ring_arm(&vm->g2h))
				return any;
			continue;
		}
		any = true;
		if (!handle(hv, vm, &m))
			return true;
	}
	eventfd_write(vm->bell_in, 1); /* more to do: our next turn */
	return true;
}
