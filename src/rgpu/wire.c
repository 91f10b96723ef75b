/* SPDX-License-Identifier: MIT */
/* The rgpu header and message bodies: encode, decode, validate. */
#include "rgpu/wire.h"

#include <string.h>

void rgpu_hdr_encode(uint8_t out[RGPU_HDR_SIZE], const struct rgpu_hdr *h)
{
	le32_put(out, h->magic);
	le16_put(out + 4, h->version);
	le16_put(out + 6, h->op);
	le32_put(out + 8, h->id);
	le32_put(out + 12, (uint32_t)h->status);
	le64_put(out + 16, h->len);
}

void rgpu_hdr_decode(struct rgpu_hdr *h, const uint8_t in[RGPU_HDR_SIZE])
{
	h->magic = le32_get(in);
	h->version = le16_get(in + 4);
	h->op = le16_get(in + 6);
	h->id = le32_get(in + 8);
	h->status = (int32_t)le32_get(in + 12);
	h->len = le64_get(in + 16);
}

/* The body length each request may have: [min, max]. */
static void op_len_range(unsigned op, uint64_t *min, uint64_t *max)
{
	static const uint64_t fixed[RGPU_OP_END_] = {
		[RGPU_OP_HELLO] = RGPU_HELLO_LEN,
		[RGPU_OP_DEVICE_PROPS] = 4,
		[RGPU_OP_MALLOC] = 8,
		[RGPU_OP_FREE] = 8,
		[RGPU_OP_MEMSET] = 24,
		[RGPU_OP_DTOH] = 16,
		[RGPU_OP_SYNC] = 0,
		[RGPU_OP_MODULE_UNLOAD] = 8,
		[RGPU_OP_LANES] = RGPU_LANES_LEN,
		[RGPU_OP_JOIN] = RGPU_JOIN_LEN,
	};

	switch (op) {
	case RGPU_OP_HTOD:
		*min = RGPU_HTOD_FIXED;
		*max = RGPU_HTOD_FIXED + RGPU_MAX_COPY;
		return;
	case RGPU_OP_MODULE_LOAD:
		*min = 1;
		*max = RGPU_MAX_PTX;
		return;
	case RGPU_OP_LAUNCH:
		*min = RGPU_LAUNCH_FIXED + 1;
		*max = rgpu_launch_size(RGPU_MAX_NAME, RGPU_MAX_ARGS);
		return;
	default:
		*min = *max = fixed[op];
	}
}

int rgpu_hdr_check_request(const struct rgpu_hdr *h, const char **why)
{
	uint64_t min, max;

	*why = NULL;
	if (h->magic != RGPU_MAGIC)
		*why = "bad magic";
	else if (h->version != RGPU_PROTO_VERSION)
		*why = "unsupported protocol version";
	else if (h->op == 0 || h->op >= RGPU_OP_END_)
		*why = "unknown operation";
	else if (h->status != 0)
		*why = "nonzero status in a request";
	if (*why)
		return RGPU_ERR_PROTOCOL;
	op_len_range(h->op, &min, &max);
	if (h->len > max) {
		*why = "length over the operation's limit";
		return RGPU_ERR_INVALID_VALUE;
	}
	if (h->len < min) {
		*why = "length under the operation's minimum";
		return RGPU_ERR_PROTOCOL;
	}
	return 0;
}

int rgpu_hdr_check_reply(const struct rgpu_hdr *h, uint16_t op, uint32_t id,
			 uint64_t max)
{
	if (h->magic != RGPU_MAGIC || h->version != RGPU_PROTO_VERSION ||
	    h->op != (op | RGPU_REPLY) || h->id != id || h->len > max ||
	    h->status < 0 || h->status >= RGPU_ERR_COUNT_)
		return RGPU_ERR_PROTOCOL;
	return 0;
}

size_t rgpu_launch_size(size_t name_len, unsigned nargs)
{
	return RGPU_LAUNCH_FIXED + name_len + (size_t)nargs * RGPU_ARG_WIRE;
}

static void dim3_put(uint8_t *p, const struct rgpu_dim3 *d)
{
	le32_put(p, d->x);
	le32_put(p + 4, d->y);
	le32_put(p + 8, d->z);
}

static void dim3_get(struct rgpu_dim3 *d, const uint8_t *p)
{
	d->x = le32_get(p);
	d->y = le32_get(p + 4);
	d->z = le32_get(p + 8);
}

size_t rgpu_launch_encode(uint8_t *out, const struct rgpu_launch_req *r)
{
	uint8_t *p = out + RGPU_LAUNCH_FIXED + r->name_len;

	le64_put(out, r->module);
	dim3_put(out + 8, &r->grid);
	dim3_put(out + 20, &r->block);
	le32_put(out + 32, r->shared_bytes);
	le16_put(out + 36, r->name_len);
	le16_put(out + 38, r->nargs);
	memcpy(out + RGPU_LAUNCH_FIXED, r->name, r->name_len);
	for (unsigned i = 0; i < r->nargs; i++, p += RGPU_ARG_WIRE) {
		le32_put(p, r->args[i].kind);
		le32_put(p + 4, r->args[i].size);
		le64_put(p + 8, r->args[i].value);
	}
	return rgpu_launch_size(r->name_len, r->nargs);
}

/* Kernel names are C identifiers: anything else is a broken client, and
 * keeping them printable keeps the server's log readable. */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_' || c == '$';

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

int rgpu_launch_decode(struct rgpu_launch_req *r, const uint8_t *in,
		       size_t len)
{
	const uint8_t *p;

	if (len < RGPU_LAUNCH_FIXED)
		return RGPU_ERR_PROTOCOL;
	r->module = le64_get(in);
	dim3_get(&r->grid, in + 8);
	dim3_get(&r->block, in + 20);
	r->shared_bytes = le32_get(in + 32);
	r->name_len = le16_get(in + 36);
	r->nargs = le16_get(in + 38);
	if (r->name_len > RGPU_MAX_NAME || r->nargs > RGPU_MAX_ARGS ||
	    len != rgpu_launch_size(r->name_len, r->nargs))
		return RGPU_ERR_PROTOCOL;
	memcpy(r->name, in + RGPU_LAUNCH_FIXED, r->name_len);
	r->name[r->name_len] = '\0';
	if (!name_ok(r->name, r->name_len))
		return RGPU_ERR_INVALID_VALUE;
	p = in + RGPU_LAUNCH_FIXED + r->name_len;
	for (unsigned i = 0; i < r->nargs; i++, p += RGPU_ARG_WIRE) {
		r->args[i].kind = le32_get(p);
		r->args[i].size = le32_get(p + 4);
		r->args[i].value = le64_get(p + 8);
		if (r->args[i].kind > RGPU_ARG_DEVPTR ||
		    r->args[i].size == 0 || r->args[i].size > 8)
			return RGPU_ERR_INVALID_VALUE;
	}
	return 0;
}

static void str_put(uint8_t *out, const char *s, size_t n)
{
	size_t len = strnlen(s, n - 1);

	memset(out, 0, n);
	memcpy(out, s, len);
}

static void str_get(char *out, const uint8_t *in, size_t n)
{
	memcpy(out, in, n);
	out[n - 1] = '\0';
}

void rgpu_props_encode(uint8_t out[RGPU_PROPS_REPLY_LEN],
		       const struct rgpu_device_prop *p)
{
	str_put(out, p->name, 64);
	str_put(out + 64, p->backend, 16);
	le64_put(out + 80, p->total_mem);
	le32_put(out + 88, (uint32_t)p->multiprocessors);
	le32_put(out + 92, (uint32_t)p->cc_major);
	le32_put(out + 96, (uint32_t)p->cc_minor);
	le32_put(out + 100, (uint32_t)p->max_threads_per_block);
}

void rgpu_props_decode(struct rgpu_device_prop *p,
		       const uint8_t in[RGPU_PROPS_REPLY_LEN])
{
	str_get(p->name, in, 64);
	str_get(p->backend, in + 64, 16);
	p->total_mem = le64_get(in + 80);
	p->multiprocessors = (int)le32_get(in + 88);
	p->cc_major = (int)le32_get(in + 92);
	p->cc_minor = (int)le32_get(in + 96);
	p->max_threads_per_block = (int)le32_get(in + 100);
}

const char *rgpu_op_name(unsigned op)
{
	static const char *const names[RGPU_OP_END_] = {
		[RGPU_OP_HELLO] = "HELLO",
		[RGPU_OP_DEVICE_PROPS] = "DEVICE_PROPS",
		[RGPU_OP_MALLOC] = "MALLOC",
		[RGPU_OP_FREE] = "FREE",
		[RGPU_OP_MEMSET] = "MEMSET",
		[RGPU_OP_HTOD] = "HTOD",
		[RGPU_OP_DTOH] = "DTOH",
		[RGPU_OP_SYNC] = "SYNC",
		[RGPU_OP_MODULE_LOAD] = "MODULE_LOAD",
		[RGPU_OP_MODULE_UNLOAD] = "MODULE_UNLOAD",
		[RGPU_OP_LAUNCH] = "LAUNCH",
		[RGPU_OP_LANES] = "LANES",
		[RGPU_OP_JOIN] = "JOIN",
	};

	op &= ~RGPU_REPLY;
	return op < RGPU_OP_END_ && names[op] ? names[op] : "?";
}
