/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for control-packet validation (src/proto/proto.c).
 *
 * The input is one received packet, in libFuzzer's exact-size heap buffer.
 * Whenever v4vp_check_request or v4vp_check_reply accepts it, read its body
 * the way v4vd or libv4v would (fixed body, SEND payload, LIST records,
 * names) and assert that every byte read lies inside the packet; ASan
 * catches any read the assertions miss.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto/proto.h"

#define HDR sizeof(struct v4vp_hdr)

/* Kept live so the compiler cannot drop the reads. */
static volatile uint32_t sink;

static void touch(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum = sum * 31 + p[i];
	sink = sum;
}

/* Copy `n` bytes at `off` out of a packet of `len` bytes, as a receiver
 * copies a body into its struct. */
static void take(void *dst, const uint8_t *pkt, size_t len, size_t off,
		 size_t n)
{
	ASSERT(off <= len && n <= len - off);
	memcpy(dst, pkt + off, n);
}

static void names(const char *name)
{
	/* name_valid must agree with name_check on termination. */
	if (v4vp_name_check(name))
		ASSERT(v4vp_name_valid(name) == -EINVAL);
	else
		sink = (uint32_t)v4vp_name_valid(name);
}

static void request(const uint8_t *pkt, size_t len)
{
	struct v4vp_hdr h;
	size_t body;
	union {
		struct v4vp_hello hello;
		struct v4vp_send send;
		struct v4vp_lookup lookup;
		struct v4vp_vipt_add add;
		uint8_t raw[256];
	} u;

	if (v4vp_check_request(pkt, len))
		return;
	take(&h, pkt, len, 0, HDR);
	ASSERT(h.magic == V4VP_MAGIC && h.version == V4VP_VERSION);
	body = v4vp_request_size(h.op);
	ASSERT(body != (size_t)-1 && body <= sizeof(u.raw));
	take(&u, pkt, len, HDR, body);
	switch (h.op) {
	case V4VP_SEND:
		ASSERT(u.send.len <= V4VP_MAX_DGRAM);
		ASSERT(len == HDR + sizeof(u.send) + u.send.len);
		ASSERT(len <= V4VP_MAX_PACKET);
		touch(pkt + HDR + sizeof(u.send), u.send.len);
		return;
	case V4VP_HELLO:
		names(u.hello.name);
		break;
	case V4VP_LOOKUP:
		names(u.lookup.name);
		break;
	case V4VP_VIPT_ADD:
		names(u.add.rule.src.name);
		names(u.add.rule.dst.name);
		break;
	}
	ASSERT(len == HDR + body);
}

static void records(const uint8_t *pkt, size_t len,
		    const struct v4vp_list_reply *r)
{
	size_t rec = v4vp_record_size(r->what);
	size_t off = HDR + sizeof(*r);
	union {
		struct v4vp_rec_hv hv;
		struct v4vp_rec_domain dom;
		struct v4vp_rec_ring ring;
		struct v4vp_rec_rule rule;
	} u;

	ASSERT(rec > 0 && rec <= sizeof(u));
	ASSERT(r->count <= v4vp_list_page(r->what));
	ASSERT(len == off + (size_t)r->count * rec);
	ASSERT(len <= V4VP_MAX_PACKET);
	for (uint32_t i = 0; i < r->count; i++, off += rec) {
		take(&u, pkt, len, off, rec);
		if (r->what == V4VP_LIST_DOMAINS)
			names(u.dom.name);
		else if (r->what == V4VP_LIST_RULES)
			names(u.rule.rule.src.name);
		else
			touch((const uint8_t *)&u, rec);
	}
}

static void reply(const uint8_t *pkt, size_t len)
{
	struct v4vp_hdr h;
	size_t body;
	union {
		struct v4vp_hello_reply hello;
		struct v4vp_list_reply list;
		uint8_t raw[256];
	} u;

	if (v4vp_check_reply(pkt, len))
		return;
	take(&h, pkt, len, 0, HDR);
	ASSERT(h.magic == V4VP_MAGIC && h.version == V4VP_VERSION);
	body = v4vp_reply_size(h.op);
	ASSERT(body != (size_t)-1 && body <= sizeof(u.raw));
	if (h.status < 0) {
		/* A failure has no body to read. */
		ASSERT(len == HDR);
		return;
	}
	take(&u, pkt, len, HDR, body);
	if (h.op == V4VP_LIST) {
		records(pkt, len, &u.list);
		return;
	}
	if (h.op == V4VP_HELLO)
		names(u.hello.name);
	ASSERT(len == HDR + body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	request(data, size);
	reply(data, size);
	return 0;
}
