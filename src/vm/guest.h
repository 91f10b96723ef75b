/* SPDX-License-Identifier: MIT */
/*
 * The guest's end of a VM link (src/vm/region.h): find the ivshmem
 * device in sysfs (no driver needed), map its registers and region,
 * attach, and exchange messages on the control rings.  Interrupts from
 * the host need vfio in the guest (guest_irq.c); the agent's main loop
 * waits on them when it has them.  The calls here wait by polling the
 * host-to-guest ring with a back-off that sleeps, so as never to spin a
 * vCPU without bound.
 */
#ifndef V4V_VM_GUEST_H
#define V4V_VM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ring/ring.h"
#include "vm/region.h"

struct v4v_guest {
	volatile uint32_t *regs;	/* BAR0 */
	uint8_t *mem;			/* BAR2: the region */
	size_t size;
	struct v4v_vm_region *hdr;
	struct v4v_ring_prod g2h;
	struct v4v_ring_cons h2g;
	uint32_t seq;
	uint32_t attach;		/* our last attach request */
	int vfio;			/* the vfio device, or -1 */
	int irq;			/* eventfd of MSI-X vector 0, or -1 */
	char dev[64];			/* the PCI address */
};

/* Map the first ivshmem device (or the one at sysfs `dev`, like
 * 0000:00:04.0).  0, -ENODEV (none), or a negative errno. */
int v4v_guest_open(struct v4v_guest *g, const char *dev);
/* A descriptor of the device's BAR `bar` (sysfs resourceN), to map or to
 * pass on; -1 and errno if it cannot be opened. */
int v4v_guest_bar_open(const char *dev, int bar);
/* Interrupts from v4vd (guest_irq.c): bind the device to vfio-pci and
 * route its MSI-X vector 0 to g->irq.  0, or a negative errno with *why
 * saying what the guest lacks (then the agent polls). */
int v4v_guest_irq_open(struct v4v_guest *g, const char **why);
/* Ask v4vd to start the link afresh; waits for it up to timeout_ms.
 * Every channel this guest had is closed. */
int v4v_guest_attach(struct v4v_guest *g, int timeout_ms);
/* One message to v4vd (V4V_VMC_*, channel). */
int v4v_guest_put(struct v4v_guest *g, uint32_t type, uint32_t chan,
		  const struct iovec *iov, int iovcnt);
/* The next message from v4vd: 1 (and its type, channel, payload copied
 * up to cap, its whole length in *len), 0 if none came in timeout_ms
 * (-1: wait for ever), -EBADMSG if the ring is corrupt. */
int v4v_guest_get(struct v4v_guest *g, uint32_t *type, uint32_t *chan,
		  void *buf, size_t cap, size_t *len, int timeout_ms);
/* A control request on `chan` and its reply's status (0 or a negative
 * errno) with its body in rep (replen bytes expected).  Doorbell
 * messages that come meanwhile are handed to on_bell (may be NULL). */
int v4v_guest_call(struct v4v_guest *g, uint32_t chan, uint16_t op,
		   const struct iovec *body, int nbody, void *rep,
		   size_t replen, int timeout_ms,
		   void (*on_bell)(uint32_t chan, uint32_t handle));
/* Is the link still the one we attached?  (v4vd resets a link whose
 * ring it found corrupt, and a new QEMU starts a new one.) */
bool v4v_guest_attached(const struct v4v_guest *g);
/* Region memory [off, off + len), or NULL if outside it. */
void *v4v_guest_at(struct v4v_guest *g, uint64_t off, size_t len);

#endif
