/* SPDX-License-Identifier: MIT */
/*
 * The rgpu wire protocol (docs/rgpu-protocol.md): a fixed 24-byte
 * little-endian header, then `len` bytes of body.  Everything here is pure:
 * encode, decode and validate, no I/O.
 */
#ifndef RGPU_WIRE_H
#define RGPU_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rgpu/rgpu.h"

#define RGPU_MAGIC 0x55504752u /* "RGPU" on the wire */
#define RGPU_PROTO_VERSION 1
#define RGPU_HDR_SIZE 24
#define RGPU_REPLY 0x8000u /* set in the op of every reply */

/* Limits checked on the header before anything is allocated. */
#define RGPU_MAX_COPY (1ull << 30)	 /* one HTOD/DTOH/MEMSET */
#define RGPU_MAX_ALLOC (16ull << 30)	 /* one allocation */
#define RGPU_MAX_PTX (4u << 20)		 /* one module's text */
#define RGPU_MAX_LOG 8192u		 /* JIT log in a reply */
#define RGPU_MAX_NAME 127u		 /* kernel name */
#define RGPU_MAX_ARGS 32u
#define RGPU_ARG_WIRE 16u		 /* kind u32, size u32, value u64 */
#define RGPU_LAUNCH_FIXED 40u
#define RGPU_MIN_CHUNK (64u << 10)
#define RGPU_MAX_CHUNK (64u << 20)
#define RGPU_MAX_LANES 16u		 /* connections of one client */

enum rgpu_op {
	RGPU_OP_HELLO = 1,
	RGPU_OP_DEVICE_PROPS = 2,
	RGPU_OP_MALLOC = 3,
	RGPU_OP_FREE = 4,
	RGPU_OP_MEMSET = 5,
	RGPU_OP_HTOD = 6,
	RGPU_OP_DTOH = 7,
	RGPU_OP_SYNC = 8,
	RGPU_OP_MODULE_LOAD = 9,
	RGPU_OP_MODULE_UNLOAD = 10,
	RGPU_OP_LAUNCH = 11,
	RGPU_OP_LANES = 12,
	RGPU_OP_JOIN = 13,
	RGPU_OP_END_
};

struct rgpu_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t op;
	uint32_t id;
	int32_t status;
	uint64_t len;
};

/* Fixed request bodies. */
#define RGPU_HELLO_LEN 8	/* u32 version, u32 chunk bytes (0: default) */
#define RGPU_HELLO_REPLY_LEN 32 /* version, devices, chunk, 0, backend[16] */
#define RGPU_PROPS_REPLY_LEN 104
#define RGPU_HTOD_FIXED 8	/* u64 dst, then the data */
#define RGPU_LANES_LEN 4	/* u32 connections wanted, this one included */
#define RGPU_LANES_REPLY_LEN 16 /* u32 granted, 0, u64 token */
#define RGPU_JOIN_LEN 8		/* u64 token */

struct rgpu_launch_req {
	uint64_t module;
	struct rgpu_dim3 grid, block;
	uint32_t shared_bytes;
	uint16_t name_len;
	uint16_t nargs;
	char name[RGPU_MAX_NAME + 1];
	struct rgpu_arg args[RGPU_MAX_ARGS];
};

static inline void le16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void le32_put(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t le16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t le64_get(const uint8_t *p)
{
	return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

void rgpu_hdr_encode(uint8_t out[RGPU_HDR_SIZE], const struct rgpu_hdr *h);
void rgpu_hdr_decode(struct rgpu_hdr *h, const uint8_t in[RGPU_HDR_SIZE]);

/* Is this a well-formed request header?  0, or the status to answer
 * with (RGPU_ERR_PROTOCOL, RGPU_ERR_INVALID_VALUE for a length over a
 * limit).  `why` gets a static explanation for the log. */
int rgpu_hdr_check_request(const struct rgpu_hdr *h, const char **why);
/* Is `h` the reply to request (op, id)?  Its length at most `max`? */
int rgpu_hdr_check_reply(const struct rgpu_hdr *h, uint16_t op, uint32_t id,
			 uint64_t max);

/* LAUNCH body: encode into `out` (at most rgpu_launch_size bytes) and
 * decode with every count checked against `len`. */
size_t rgpu_launch_size(size_t name_len, unsigned nargs);
size_t rgpu_launch_encode(uint8_t *out, const struct rgpu_launch_req *r);
int rgpu_launch_decode(struct rgpu_launch_req *r, const uint8_t *in,
		       size_t len);

/* DEVICE_PROPS reply. */
void rgpu_props_encode(uint8_t out[RGPU_PROPS_REPLY_LEN],
		       const struct rgpu_device_prop *p);
void rgpu_props_decode(struct rgpu_device_prop *p,
		       const uint8_t in[RGPU_PROPS_REPLY_LEN]);

const char *rgpu_op_name(unsigned op);

#endif
