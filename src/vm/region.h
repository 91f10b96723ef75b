/* SPDX-License-Identifier: MIT */
/*
 * The VM region: how a QEMU guest and v4vd talk through the memory of
 * the guest's ivshmem-doorbell device (docs/protocol.md, "Virtual
 * machines").  Each VM has a region of its own, shared by that guest
 * and v4vd only, never by two guests.
 *
 *   offset 0          this header (one page), written by v4vd except
 *                     the guest's attach request
 *   g2h_off           ring: guest to host (the guest produces)
 *   h2g_off           ring: host to guest (v4vd produces)
 *   heap_off ...      ring memory v4vd hands out to the guest's sockets
 *
 * Both control rings are ordinary V4V rings (src/ring): every message is
 * validated by the ring code, and v4vd keeps every offset and size
 * privately, so a guest that scribbles over its region breaks only its
 * own link.  A message's type says what it is, its source port names the
 * channel: each guest process that talks to v4vd opens a channel, and
 * sends control packets (src/proto, the host protocol, without
 * descriptors) on it, one per message; the replies come back on it.
 *
 * Attaching: the guest writes a fresh nonzero value into attach_req and
 * rings v4vd (doorbell register, peer V4V_VM_HOST_PEER, vector 0); v4vd
 * closes every channel of the VM, formats both control rings afresh and
 * then publishes attach_ack = attach_req.  From then on both sides start
 * at position 0 of both rings.  A guest agent that restarts, or a guest
 * that reboots, attaches again; a region whose control ring turns out
 * corrupt is reformatted by v4vd, which waits for a new attach.
 */
#ifndef V4V_VM_REGION_H
#define V4V_VM_REGION_H

#include <stdint.h>

#include "v4v/addr.h"

#define V4V_VM_MAGIC 0x4d563456u /* "V4VM" */
#define V4V_VM_VERSION 1u
#define V4V_VM_HDR_SIZE 4096u
/* Data bytes of each control ring: a whole datagram packet fits. */
#define V4V_VM_CTL_SIZE (256u * 1024u)
/* Region sizes: a power of two (a PCI BAR's size is one). */
#define V4V_VM_MIN_REGION (1u << 20)
#define V4V_VM_MAX_REGION (1u << 30)
#define V4V_VM_DEFAULT_REGION (64u << 20)
static inline int v4v_vm_region_ok(uint64_t size)
{
	return size >= V4V_VM_MIN_REGION && size <= V4V_VM_MAX_REGION &&
	       !(size & (size - 1));
}
/* Channels a guest may have open at once. */
#define V4V_VM_MAX_CHANS 256u
/* The ivshmem peer ids: v4vd is peer 0, the guest peer 1. */
#define V4V_VM_HOST_PEER 0u
#define V4V_VM_GUEST_PEER 1u
/* ivshmem BAR0 registers. */
#define V4V_VM_REG_IVPOSITION 8u
#define V4V_VM_REG_DOORBELL 12u

/* Message types on the control rings. */
#define V4V_VMC_OPEN 1u	 /* guest: channel `port` begins */
#define V4V_VMC_PKT 2u	 /* either way: one control packet on `port` */
#define V4V_VMC_CLOSE 3u /* either way: channel `port` is over */
#define V4V_VMC_BELL 4u	 /* either way: a doorbell of a ring of channel
			  * `port` rang (host: v4vd rang the guest's
			  * socket; guest: its socket rang v4vd); the
			  * payload is the ring's handle (u32) */
#define V4V_VMC_HUP 5u	 /* host: v4vd shut that doorbell down (the
			  * peer went): the payload is the handle */
#define V4V_VMC_ROOM 6u	 /* host: the room a waiting sender of that ring
			  * waits for came (where v4vd would empty a host
			  * sender's fill): empty the fill it left on its
			  * doorbell; the payload is the handle */

struct v4v_vm_region {
	uint32_t magic;
	uint32_t version;
	uint64_t size;		/* the whole region */
	uint32_t g2h_off;
	uint32_t h2g_off;
	uint32_t ctl_size;	/* data bytes of each control ring */
	uint32_t heap_off;
	v4v_domid_t domid;	/* the VM's domain, for the guest's tools */
	uint16_t pad;
	uint32_t attach_req;	/* written by the guest */
	uint32_t attach_ack;	/* written by v4vd */
	uint32_t pad2;
	char name[V4V_NAME_MAX];
};

#endif
