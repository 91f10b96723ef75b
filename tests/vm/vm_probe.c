/* SPDX-License-Identifier: MIT */
/*
 * vm_probe: runs inside a test guest and talks to v4vd through the VM
 * link alone (src/vm/guest.c), no agent in between, so the VM tests
 * check the host side exactly.  Prints one line per fact; exits 0 when
 * the command did what it was asked, 1 otherwise (the errno is printed).
 *
 *   vm_probe info                    attach, HELLO: "domid N name S"
 *   vm_probe send NAME PORT TEXT N   N datagrams "TEXT i" to NAME:PORT
 *                                    (waiting up to 20 s for a receiver)
 *   vm_probe recv PORT N             N datagrams on PORT: "got S from D:P"
 *   vm_probe scribble                corrupt the guest-to-host ring, then
 *                                    the whole region; attach again and
 *                                    HELLO after each
 *   vm_probe flood SECONDS           ring v4vd's doorbell in a loop
 *   vm_probe refused NAME PORT       a send to NAME:PORT must fail with
 *                                    ECONNREFUSED
 */
#include "proto/proto.h"
#include "vm/guest.h"
#include "lib/sock.h" /* V4V_MT_DGRAM: what libv4v receives as datagrams */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CH 1
#define TIMEOUT 20000
#define RING 16384u

static struct v4v_guest g;

static int fail(const char *what, int rc)
{
	printf("vm_probe: %s: %s\n", what, strerror(-rc));
	return 1;
}

static int hello(void)
{
	struct v4vp_hello h = { .flags = V4VP_HELLO_NEW };
	struct v4vp_hello_reply r;
	struct iovec b = { &h, sizeof(h) };
	int rc = v4v_guest_put(&g, V4V_VMC_OPEN, CH, NULL, 0);

	if (!rc)
		rc = v4v_guest_call(&g, CH, V4VP_HELLO, &b, 1, &r, sizeof(r),
				    TIMEOUT, NULL);
	if (rc)
		return fail("hello", rc);
	printf("domid %u name %.*s\n", r.domid, V4V_NAME_MAX, r.name);
	return 0;
}

static int start(void)
{
	int rc = v4v_guest_open(&g, NULL);

	if (rc)
		return fail("no ivshmem device", rc);
	rc = v4v_guest_attach(&g, TIMEOUT);
	if (rc)
		return fail("attach", rc);
	return hello();
}

static int reg(uint32_t port, struct v4vp_register_reply *r)
{
	struct v4vp_register q = { .port = port, .partner = V4V_DOMID_ANY,
				   .size = RING };
	struct iovec b = { &q, sizeof(q) };

	return v4v_guest_call(&g, CH, V4VP_REGISTER, &b, 1, r, sizeof(*r),
			      TIMEOUT, NULL);
}

static int lookup(const char *name, v4v_domid_t *out)
{
	struct v4vp_lookup q = { 0 };
	struct v4vp_lookup_reply r;
	struct iovec b = { &q, sizeof(q) };
	int rc;

	snprintf(q.name, sizeof(q.name), "%s", name);
	rc = v4v_guest_call(&g, CH, V4VP_LOOKUP, &b, 1, &r, sizeof(r),
			    TIMEOUT, NULL);
	*out = r.domid;
	return rc;
}

static int send_one(uint32_t handle, v4v_domid_t dom, uint32_t port,
		    const char *text)
{
	struct v4vp_send s = { .handle = handle,
			       .message_type = V4V_MT_DGRAM,
			       .dst = { .port = port,
							  .domid = dom },
			       .len = (uint32_t)strlen(text) };
	struct v4vp_send_reply r;
	struct iovec b[2] = { { &s, sizeof(s) }, { (void *)text, s.len } };

	return v4v_guest_call(&g, CH, V4VP_SEND, b, 2, &r, sizeof(r),
			      TIMEOUT, NULL);
}

static int do_send(const char *name, uint32_t port, const char *text,
		   int n, bool want_refused)
{
	struct v4vp_register_reply r;
	v4v_domid_t dom;
	char line[256];
	int rc = lookup(name, &dom);

	if (rc)
		return fail("lookup", rc);
	rc = reg(0, &r);
	if (rc)
		return fail("register", rc);
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "%s %d\n", text, i);
		rc = send_one(r.handle, dom, port, line);
		/* The receiver may not be listening yet: wait for it. */
		for (int t = 0; !want_refused && rc == -ECONNREFUSED && t < 200;
		     t++) {
			struct timespec ts = { 0, 100000000 };

			nanosleep(&ts, NULL);
			rc = send_one(r.handle, dom, port, line);
		}
		if (want_refused) {
			printf("send: %s\n", rc ? strerror(-rc) : "accepted");
			return rc == -ECONNREFUSED ? 0 : 1;
		}
		if (rc)
			return fail("send", rc);
	}
	printf("sent %d\n", n);
	return 0;
}

static int do_recv(uint32_t port, int n)
{
	struct v4vp_register_reply r;
	struct v4v_ring_cons c;
	struct v4v_ring view;
	size_t one = v4v_ring_mem_size(RING);
	void *mem;
	int rc = reg(port, &r), got = 0;
	unsigned idle = 0;

	if (rc)
		return fail("register", rc);
	mem = v4v_guest_at(&g, r.offset, one);
	if (!mem || v4v_ring_view(&view, mem, one, RING))
		return fail("ring outside the region", -EPROTO);
	v4v_ring_cons_init(&c, &view);
	printf("listening on %u\n", r.port);
	fflush(stdout);
	while (got < n) {
		struct v4v_ring_msg m;
		char buf[512];

		rc = v4v_ring_peek(&c, &m);
		if (rc < 0)
			return fail("ring", rc);
		if (rc == 0) {
			struct timespec ts = { 0, 200000 };

			if (++idle > 150000) /* 30 s */
				return fail("waiting", -ETIMEDOUT);
			nanosleep(&ts, NULL);
			continue;
		}
		idle = 0;
		v4v_ring_read(&c, 0, buf, m.payload_len < sizeof(buf) - 1
						 ? m.payload_len : sizeof(buf) - 1);
		buf[m.payload_len < sizeof(buf) - 1 ? m.payload_len
						    : sizeof(buf) - 1] = 0;
		buf[strcspn(buf, "\n")] = 0;
		printf("got %s from %u:%u\n", buf, m.source.domid,
		       m.source.port);
		fflush(stdout);
		v4v_ring_consume(&c, &m);
		got++;
	}
	return 0;
}

/* First garbage in the guest-to-host ring alone: v4vd must see it
 * corrupt and reset the link (attach_ack goes to 0); then garbage over
 * the whole region.  Either way the guest attaches again and goes on. */
static int do_scribble(void)
{
	unsigned seed = (unsigned)time(NULL);
	struct v4v_vm_region h;
	uint8_t *ring;
	int rc;

	memcpy(&h, g.hdr, sizeof(h));
	ring = v4v_guest_at(&g, h.g2h_off, v4v_ring_mem_size(h.ctl_size));
	if (!ring)
		return fail("header", -EPROTO);
	/* A producer position no ring can have. */
	memset(ring + 64, 0xa5, 4);
	g.regs[V4V_VM_REG_DOORBELL / 4] = V4V_VM_HOST_PEER << 16;
	for (int i = 0; i < 200 && g.hdr->attach_ack; i++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	printf("corrupt ring: %s\n", g.hdr->attach_ack ? "not noticed"
						       : "link reset");
	if (g.hdr->attach_ack)
		return 1;
	rc = start();
	if (rc)
		return rc;
	for (size_t i = 0; i < g.size; i += 4) {
		uint32_t v = (uint32_t)rand_r(&seed);

		memcpy(g.mem + i, &v, 4);
	}
	g.regs[V4V_VM_REG_DOORBELL / 4] = V4V_VM_HOST_PEER << 16;
	printf("scribbled %zu bytes\n", g.size);
	return start();
}

/* A guest that rings v4vd as fast as it can, for `secs` seconds. */
static int do_flood(int secs)
{
	time_t end = time(NULL) + secs;
	unsigned long n = 0;

	while (time(NULL) < end) {
		for (int i = 0; i < 1000; i++)
			g.regs[V4V_VM_REG_DOORBELL / 4] = V4V_VM_HOST_PEER << 16;
		n += 1000;
	}
	printf("rang %lu times\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: see the head of tests/vm/vm_probe.c\n");
		return 2;
	}
	if (start())
		return 1;
	if (!strcmp(argv[1], "info"))
		return 0;
	if (!strcmp(argv[1], "send") && argc == 6)
		return do_send(argv[2], (uint32_t)atoi(argv[3]), argv[4],
			       atoi(argv[5]), false);
	if (!strcmp(argv[1], "refused") && argc == 4)
		return do_send(argv[2], (uint32_t)atoi(argv[3]), "x", 1, true);
	if (!strcmp(argv[1], "recv") && argc == 4)
		return do_recv((uint32_t)atoi(argv[2]), atoi(argv[3]));
	if (!strcmp(argv[1], "scribble"))
		return do_scribble();
	if (!strcmp(argv[1], "flood") && argc == 3)
		return do_flood(atoi(argv[2]));
	fprintf(stderr, "vm_probe: bad command\n");
	return 2;
}
