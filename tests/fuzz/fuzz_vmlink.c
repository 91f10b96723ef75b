/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the host's end of a VM link (src/hv/vm_chan.c):
 * what v4vd reads from a guest's region, which the guest may write at any
 * time, in any way.  The region is one heap block of exactly its size, so
 * AddressSanitizer reports any access past it.  The control connections
 * the link opens are stubs here that record what they were given, and
 * answer some packets so that the host-to-guest ring is written too.
 *
 * Input: operations, one byte each plus their arguments (missing bytes
 * read as 0):
 *   0  the guest asks to attach (a nonce)
 *   1  the guest sends a message (type, channel, payload); one v4vd
 *      cannot take (a bad type or channel) makes the guest hostile
 *   2  the guest scribbles bytes anywhere in its region (hostile from
 *      then on)
 *   3  v4vd is rung: hv_vm_link_input
 *   4  the guest reads what v4vd sent it
 *
 * Always: v4vd never touches memory outside the region, never hands ctl
 * a packet larger than a packet can be or a channel past 255, keeps its
 * channel count true, and after it finds the ring corrupt has no channel
 * open and says so (attach_ack 0).  Until the guest scribbles: v4vd
 * never resets the link, and what it writes to the guest is well formed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hv/hv.h"
#include "vm/region.h"

#define REGION V4V_VM_MIN_REGION

static struct hv hv;
static struct hv_domain dom = { .domid = 5, .name = "g" };
static struct hv_vm vm;
static unsigned opened, closed;

/* ---- what vm_chan.c calls outside itself ---- */

void hv_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

struct hv_conn *hv_ctl_vm_open(struct hv *h, struct hv_vm *v, uint32_t chan)
{
	struct hv_conn *c = calloc(1, sizeof(*c));

	ASSERT(h == &hv && v == &vm && chan < V4V_VM_MAX_CHANS);
	c->vm = v;
	c->chan = chan;
	opened++;
	return c;
}

void hv_ctl_close(struct hv *h, struct hv_conn *c, const char *why)
{
	(void)why;
	ASSERT(h == &hv && c->vm == &vm && vm.chans[c->chan] == c);
	hv_vm_chan_rings_gone(h, c);
	hv_vm_chan_closed(c);
	closed++;
	free(c);
}

void hv_vm_guest_bell(struct hv_vm *v, uint32_t chan, uint32_t handle)
{
	(void)handle;
	ASSERT(v == &vm && chan < V4V_VM_MAX_CHANS);
}

void hv_vm_chan_rings_gone(struct hv *h, struct hv_conn *c)
{
	(void)h;
	(void)c;
}

static uint8_t ctl_buf[V4VP_MAX_PACKET];

void *hv_ctl_buf(void)
{
	return ctl_buf;
}

/* Answer with the packet's first bytes, as a reply would go back. */
void hv_ctl_packet(struct hv *h, struct hv_conn *c, size_t n)
{
	struct iovec iov = { ctl_buf, n < 64 ? n : 64 };

	ASSERT(h == &hv && c->vm == &vm && c->chan < V4V_VM_MAX_CHANS);
	ASSERT(vm.chans[c->chan] == c);
	ASSERT(n <= V4VP_MAX_PACKET);
	if (n % 3 == 0 && hv_vm_reply(c, &iov, 1))
		hv_ctl_close(h, c, "full");
}

/* ---- the guest ---- */

static uint8_t *region;
static struct v4v_ring_prod g2h;
static struct v4v_ring_cons h2g;
static bool views, hostile;

static void guest_views(void)
{
	struct v4v_vm_region *hd = (void *)region;
	size_t one = v4v_ring_mem_size(V4V_VM_CTL_SIZE);
	struct v4v_ring a, b;

	/* The honest guest's view of the header v4vd wrote. */
	ASSERT(hd->g2h_off + one <= REGION && hd->h2g_off + one <= REGION);
	v4v_ring_view(&a, region + hd->g2h_off, one, V4V_VM_CTL_SIZE);
	v4v_ring_view(&b, region + hd->h2g_off, one, V4V_VM_CTL_SIZE);
	v4v_ring_prod_init(&g2h, &a);
	v4v_ring_cons_init(&h2g, &b);
	views = true;
}

static void check_chans(void)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < V4V_VM_MAX_CHANS; i++)
		n += vm.chans[i] != NULL;
	ASSERT(n == vm.nchans && opened - closed == n);
}

static void link_input(void)
{
	struct v4v_vm_region *hd = (void *)region;
	uint64_t resets = vm.link_resets;

	hv_vm_link_input(&hv, &vm);
	check_chans();
	if (vm.link_resets != resets) {
		ASSERT(hostile);
		ASSERT(vm.nchans == 0 && hd->attach_ack == 0 && !vm.attached);
		views = false;
	}
	if (vm.attached && hd->attach_ack == vm.attach && !hostile && !views)
		guest_views();
}

static void guest_send(struct input *in)
{
	uint8_t buf[2048];
	uint32_t type = in_u8(in) % 6;
	struct v4v_addr src = { .port = in_u16(in) % 300 };
	struct iovec iov = { buf, in_u16(in) % sizeof(buf) };
	bool kick;

	for (size_t i = 0; i < iov.iov_len; i++)
		buf[i] = in_u8(in);
	/* A message v4vd cannot take breaks the link: the guest's doing. */
	if (type < V4V_VMC_OPEN || type > V4V_VMC_BELL ||
	    src.port >= V4V_VM_MAX_CHANS)
		hostile = true;
	if (views)
		v4v_ring_insert(&g2h, &src, type, &iov, 1, &kick);
}

static void guest_read(void)
{
	struct v4v_ring_msg m;
	int rc;

	while (views && (rc = v4v_ring_peek(&h2g, &m)) != 0) {
		if (rc < 0) {
			ASSERT(hostile);
			views = false;
			return;
		}
		ASSERT(hostile || m.source.port < V4V_VM_MAX_CHANS);
		ASSERT(hostile || (m.message_type >= V4V_VMC_PKT &&
				   m.message_type <= V4V_VMC_ROOM));
		v4v_ring_consume(&h2g, &m);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct v4v_vm_region *hd;

	region = malloc(REGION);
	hv = (struct hv){ 0 };
	vm = (struct hv_vm){ .mem = region, .size = REGION, .dom = &dom,
			     .bell_in = -1, .memfd = -1 };
	list_init(&vm.rings);
	opened = closed = 0;
	views = hostile = false;
	hv_vm_link_reset(&hv, &vm, "fuzz");
	hd = (void *)region;
	for (int ops = 0; in.n && ops < 256; ops++) {
		switch (in_u8(&in) % 5) {
		case 0: {
			/* A new attach (a nonce the host has not seen): the
			 * guest starts over once it is acknowledged. */
			uint32_t n = in_u32(&in);

			if (!n || n == hd->attach_req || n == vm.attach)
				break;
			hd->attach_req = n;
			views = false;
			break;
		}
		case 1:
			guest_send(&in);
			break;
		case 2: {
			uint32_t off = in_u32(&in) % REGION;
			uint32_t n = in_u8(&in);

			for (uint32_t i = 0; i < n && off + i < REGION; i++)
				region[off + i] = in_u8(&in);
			hostile = true;
			break;
		}
		case 3:
			link_input();
			break;
		default:
			guest_read();
			break;
		}
	}
	for (uint32_t i = 0; i < V4V_VM_MAX_CHANS; i++)
		if (vm.chans[i])
			hv_ctl_close(&hv, vm.chans[i], "end");
	check_chans();
	free(region);
	return 0;
}
