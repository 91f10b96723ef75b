/* SPDX-License-Identifier: MIT */
/*
 * Size tables and validation for control packets.  Everything received on a
 * control socket goes through v4vp_check_request or v4vp_check_reply before
 * any field other than the header is read.
 */
#include "proto.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct v4vp_hdr) == 16, "wire header");
_Static_assert(sizeof(struct v4v_addr) == 8, "wire address");
_Static_assert(sizeof(struct v4vp_send) == 24, "wire send");
_Static_assert(sizeof(struct v4vp_rule) == 104, "wire rule");
_Static_assert(sizeof(struct v4vp_vm) == 48, "wire vm");
_Static_assert(sizeof(struct v4vp_syn) == 64, "wire syn (protocol.md 5.3)");
_Static_assert(sizeof(struct v4vp_vm_reply) == 116, "wire vm reply");

size_t v4vp_request_size(uint16_t op)
{
	switch (op) {
	case V4VP_HELLO: return sizeof(struct v4vp_hello);
	case V4VP_REGISTER: return sizeof(struct v4vp_register);
	case V4VP_UNREGISTER: return sizeof(struct v4vp_handle);
	case V4VP_SEND: return sizeof(struct v4vp_send);
	case V4VP_NOTIFY: return sizeof(struct v4vp_handle);
	case V4VP_LOOKUP: return sizeof(struct v4vp_lookup);
	case V4VP_LIST: return sizeof(struct v4vp_list);
	case V4VP_VIPT_ADD: return sizeof(struct v4vp_vipt_add);
	case V4VP_VIPT_DEL: return sizeof(struct v4vp_vipt_del);
	case V4VP_VIPT_FLUSH: return 0;
	case V4VP_VIPT_POLICY: return sizeof(struct v4vp_vipt_policy);
	case V4VP_CONNECT: return sizeof(struct v4vp_connect);
	case V4VP_ACCEPT: return sizeof(struct v4vp_accept);
	case V4VP_GRANT: return sizeof(struct v4vp_handle);
	case V4VP_SHUTDOWN: return sizeof(struct v4vp_shutdown);
	case V4VP_INET: return sizeof(struct v4vp_inet);
	case V4VP_VM: return sizeof(struct v4vp_vm);
	default: return (size_t)-1;
	}
}

size_t v4vp_reply_size(uint16_t op)
{
	switch (op) {
	case V4VP_HELLO: return sizeof(struct v4vp_hello_reply);
	case V4VP_REGISTER: return sizeof(struct v4vp_register_reply);
	case V4VP_SEND: return sizeof(struct v4vp_send_reply);
	case V4VP_LOOKUP: return sizeof(struct v4vp_lookup_reply);
	case V4VP_INET: return sizeof(struct v4vp_inet_reply);
	case V4VP_VM: return sizeof(struct v4vp_vm_reply);
	case V4VP_LIST: return sizeof(struct v4vp_list_reply);
	case V4VP_ACCEPT: return sizeof(struct v4vp_accept_reply);
	case V4VP_CONNECT:
	case V4VP_GRANT: return sizeof(struct v4vp_grant);
	case V4VP_SHUTDOWN:
	case V4VP_UNREGISTER:
	case V4VP_VIPT_ADD:
	case V4VP_VIPT_DEL:
	case V4VP_VIPT_FLUSH:
	case V4VP_VIPT_POLICY: return 0;
	default: return (size_t)-1;
	}
}

size_t v4vp_record_size(uint32_t what)
{
	switch (what) {
	case V4VP_LIST_HV: return sizeof(struct v4vp_rec_hv);
	case V4VP_LIST_DOMAINS: return sizeof(struct v4vp_rec_domain);
	case V4VP_LIST_RINGS: return sizeof(struct v4vp_rec_ring);
	case V4VP_LIST_RULES: return sizeof(struct v4vp_rec_rule);
	case V4VP_LIST_ENGINE: return sizeof(struct v4vp_rec_engine);
	default: return 0;
	}
}

uint32_t v4vp_list_page(uint32_t what)
{
	size_t rec = v4vp_record_size(what);
	size_t room = V4VP_MAX_PACKET - sizeof(struct v4vp_hdr) -
		      sizeof(struct v4vp_list_reply);

	return rec ? (uint32_t)(room / rec) : 0;
}

/* A LIST reply: the reply body, then whole records of the listed kind. */
static int check_list_reply(const void *buf, size_t len)
{
	struct v4vp_list_reply r;
	size_t rec;

	memcpy(&r, (const char *)buf + sizeof(struct v4vp_hdr), sizeof(r));
	rec = v4vp_record_size(r.what);
	if (!rec || r.count > v4vp_list_page(r.what))
		return -EPROTO;
	return len == sizeof(struct v4vp_hdr) + sizeof(r) + r.count * rec
		       ? 0 : -EPROTO;
}

static int check_hdr(const void *buf, size_t len, struct v4vp_hdr *h)
{
	if (len < sizeof(*h))
		return -EPROTO;
	memcpy(h, buf, sizeof(*h));
	if (h->magic != V4VP_MAGIC || h->version != V4VP_VERSION)
		return -EPROTO;
	return 0;
}

int v4vp_check_request(const void *buf, size_t len)
{
	struct v4vp_hdr h;
	size_t body;

	if (check_hdr(buf, len, &h))
		return -EPROTO;
	body = v4vp_request_size(h.op);
	if (body == (size_t)-1 || len < sizeof(h) + body)
		return -EPROTO;
	if (h.op == V4VP_SEND) {
		struct v4vp_send s;

		memcpy(&s, (const char *)buf + sizeof(h), sizeof(s));
		if (s.len > V4VP_MAX_DGRAM ||
		    len != sizeof(h) + sizeof(s) + s.len)
			return -EPROTO;
		return 0;
	}
	return len == sizeof(h) + body ? 0 : -EPROTO;
}

int v4vp_check_reply(const void *buf, size_t len)
{
	struct v4vp_hdr h;
	size_t body;

	if (check_hdr(buf, len, &h))
		return -EPROTO;
	body = v4vp_reply_size(h.op);
	if (body == (size_t)-1)
		return -EPROTO;
	/* A failed request's reply carries no body. */
	if (h.status < 0)
		return len == sizeof(h) ? 0 : -EPROTO;
	if (len < sizeof(h) + body)
		return -EPROTO;
	if (h.op == V4VP_LIST)
		return check_list_reply(buf, len);
	return len == sizeof(h) + body ? 0 : -EPROTO;
}

void v4vp_hdr_init(struct v4vp_hdr *h, uint16_t op, uint32_t seq,
		   int32_t status)
{
	h->magic = V4VP_MAGIC;
	h->version = V4VP_VERSION;
	h->op = op;
	h->seq = seq;
	h->status = status;
}

int v4vp_name_check(const char name[V4V_NAME_MAX])
{
	return memchr(name, '\0', V4V_NAME_MAX) ? 0 : -EINVAL;
}

/* Names appear in logs, rules and addresses ("web:80"): a small alphabet
 * keeps them unambiguous and free of terminal escapes. */
int v4vp_name_valid(const char name[V4V_NAME_MAX])
{
	if (v4vp_name_check(name) || !name[0])
		return -EINVAL;
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '-')
		return -EINVAL;
	for (const char *p = name; *p; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		      ch == '-'))
			return -EINVAL;
	}
	return 0;
}
