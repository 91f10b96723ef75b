/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the control-packet tables and validation
 * (src/proto/proto.c): every packet v4vd or libv4v acts on has passed
 * v4vp_check_request or v4vp_check_reply, so these are the bounds checks
 * of the whole control plane.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proto/proto.h"
#include "t.h"

#define HDR sizeof(struct v4vp_hdr)
#define NO_OP ((size_t)-1)
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Room for the largest packet and more, for the oversized cases. */
static union {
	struct v4vp_hdr h;
	uint8_t b[V4VP_MAX_PACKET + 256];
} pkt;

static const uint16_t req_ops[] = {
	V4VP_HELLO, V4VP_REGISTER, V4VP_UNREGISTER, V4VP_SEND, V4VP_NOTIFY,
	V4VP_LOOKUP, V4VP_LIST, V4VP_VIPT_ADD, V4VP_VIPT_DEL,
	V4VP_VIPT_FLUSH, V4VP_VIPT_POLICY, V4VP_CONNECT, V4VP_ACCEPT,
	V4VP_GRANT, V4VP_SHUTDOWN, V4VP_INET, V4VP_VM,
};

/* Every op that is answered: all requests but NOTIFY. */
static const uint16_t rep_ops[] = {
	V4VP_HELLO, V4VP_REGISTER, V4VP_UNREGISTER, V4VP_SEND, V4VP_LOOKUP,
	V4VP_LIST, V4VP_VIPT_ADD, V4VP_VIPT_DEL, V4VP_VIPT_FLUSH,
	V4VP_VIPT_POLICY, V4VP_CONNECT, V4VP_ACCEPT, V4VP_GRANT,
	V4VP_SHUTDOWN, V4VP_INET, V4VP_VM,
};

/* Ops nobody defines (t_every_op covers the whole 16-bit range). */
static const uint16_t bad_ops[] = { 0, 63, 64, 65, 66, 67, 100, 0x100,
				    0x8004, 0xffff };

/*
 * The checks see a copy of the packet that ends right at a PROT_NONE page,
 * so reading one byte past the received length crashes the test instead
 * of quietly reading the rest of pkt.
 */
static uint8_t *guarded;
static size_t guarded_room;

static void guard_init(void)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *m;

	guarded_room = (sizeof(pkt.b) + pg - 1) / pg * pg;
	m = mmap(NULL, guarded_room + pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(m != MAP_FAILED);
	REQUIRE(mprotect(m + guarded_room, pg, PROT_NONE) == 0);
	guarded = m;
}

static const void *at_guard(size_t len)
{
	uint8_t *p;

	if (!guarded)
		guard_init();
	REQUIRE(len <= guarded_room);
	p = guarded + guarded_room - len;
	memcpy(p, pkt.b, len);
	return p;
}

static int req(size_t len)
{
	return v4vp_check_request(at_guard(len), len);
}

static int rep(size_t len)
{
	return v4vp_check_reply(at_guard(len), len);
}

static const uint32_t list_kinds[] = {
	V4VP_LIST_HV, V4VP_LIST_DOMAINS, V4VP_LIST_RINGS, V4VP_LIST_RULES,
	V4VP_LIST_ENGINE,
};

/* A header for `op` followed by a body of `body` bytes of filler. */
static size_t mk(uint16_t op, int32_t status, size_t body)
{
	memset(pkt.b, 0x5c, HDR + body);
	v4vp_hdr_init(&pkt.h, op, 0x01020304u, status);
	return HDR + body;
}

/* A SEND request claiming `claim` payload bytes and carrying `have`. */
static size_t mk_send(uint32_t claim, size_t have)
{
	struct v4vp_send s = { .handle = 1, .message_type = 2,
			       .dst = { .port = 3, .domid = 4 }, .len = claim };
	size_t len = mk(V4VP_SEND, 0, sizeof(s) + have);

	memcpy(pkt.b + HDR, &s, sizeof(s));
	return len;
}

/* A LIST reply saying `count` records of kind `what`, carrying `nrec`. */
static size_t mk_list(uint32_t what, uint32_t count, size_t nrec,
		      size_t extra)
{
	struct v4vp_list_reply r = { .what = what, .count = count, .next = 9 };
	size_t rec = v4vp_record_size(what);
	size_t len = mk(V4VP_LIST, 0, sizeof(r) + nrec * rec + extra);

	memcpy(pkt.b + HDR, &r, sizeof(r));
	return len;
}

/* A correct request of op `op`. */
static size_t good_req(uint16_t op)
{
	if (op == V4VP_SEND)
		return mk_send(13, 13);
	return mk(op, 0, v4vp_request_size(op));
}

/* A correct successful reply of op `op`. */
static size_t good_rep(uint16_t op)
{
	if (op == V4VP_LIST)
		return mk_list(V4VP_LIST_RINGS, 2, 2, 0);
	return mk(op, 0, v4vp_reply_size(op));
}

static void t_hdr_init(void)
{
	struct v4vp_hdr h;

	memset(&h, 0xff, sizeof(h));
	v4vp_hdr_init(&h, V4VP_SEND, 77, -EAGAIN);
	CHECK_EQ(h.magic, V4VP_MAGIC);
	CHECK_EQ(h.version, V4VP_VERSION);
	CHECK_EQ(h.op, V4VP_SEND);
	CHECK_EQ(h.seq, 77);
	CHECK_EQ(h.status, -EAGAIN);
	CHECK_EQ(sizeof(h), 16);
}

static void t_sizes(void)
{
	CHECK_EQ(v4vp_request_size(V4VP_HELLO), sizeof(struct v4vp_hello));
	CHECK_EQ(v4vp_request_size(V4VP_REGISTER),
		 sizeof(struct v4vp_register));
	CHECK_EQ(v4vp_request_size(V4VP_UNREGISTER),
		 sizeof(struct v4vp_handle));
	CHECK_EQ(v4vp_request_size(V4VP_SEND), sizeof(struct v4vp_send));
	CHECK_EQ(v4vp_request_size(V4VP_NOTIFY), sizeof(struct v4vp_handle));
	CHECK_EQ(v4vp_request_size(V4VP_LOOKUP), sizeof(struct v4vp_lookup));
	CHECK_EQ(v4vp_request_size(V4VP_LIST), sizeof(struct v4vp_list));
	CHECK_EQ(v4vp_request_size(V4VP_VIPT_ADD),
		 sizeof(struct v4vp_vipt_add));
	CHECK_EQ(v4vp_request_size(V4VP_VIPT_DEL),
		 sizeof(struct v4vp_vipt_del));
	CHECK_EQ(v4vp_request_size(V4VP_VIPT_FLUSH), 0);
	CHECK_EQ(v4vp_request_size(V4VP_VIPT_POLICY),
		 sizeof(struct v4vp_vipt_policy));
	CHECK_EQ(v4vp_request_size(V4VP_CONNECT), sizeof(struct v4vp_connect));
	CHECK_EQ(v4vp_request_size(V4VP_ACCEPT), sizeof(struct v4vp_accept));
	CHECK_EQ(v4vp_request_size(V4VP_GRANT), sizeof(struct v4vp_handle));
	CHECK_EQ(v4vp_request_size(V4VP_SHUTDOWN),
		 sizeof(struct v4vp_shutdown));
	for (unsigned i = 0; i < N(bad_ops); i++)
		CHECK(v4vp_request_size(bad_ops[i]) == NO_OP);

	CHECK_EQ(v4vp_reply_size(V4VP_HELLO), sizeof(struct v4vp_hello_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_REGISTER),
		 sizeof(struct v4vp_register_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_SEND), sizeof(struct v4vp_send_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_LOOKUP),
		 sizeof(struct v4vp_lookup_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_LIST), sizeof(struct v4vp_list_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_UNREGISTER), 0);
	CHECK_EQ(v4vp_reply_size(V4VP_VIPT_ADD), 0);
	CHECK_EQ(v4vp_reply_size(V4VP_VIPT_DEL), 0);
	CHECK_EQ(v4vp_reply_size(V4VP_VIPT_FLUSH), 0);
	CHECK_EQ(v4vp_reply_size(V4VP_VIPT_POLICY), 0);
	CHECK_EQ(v4vp_reply_size(V4VP_CONNECT), sizeof(struct v4vp_grant));
	CHECK_EQ(v4vp_reply_size(V4VP_ACCEPT),
		 sizeof(struct v4vp_accept_reply));
	CHECK_EQ(v4vp_reply_size(V4VP_GRANT), sizeof(struct v4vp_grant));
	CHECK_EQ(v4vp_reply_size(V4VP_SHUTDOWN), 0);
	/* NOTIFY is never answered. */
	CHECK(v4vp_reply_size(V4VP_NOTIFY) == NO_OP);
	for (unsigned i = 0; i < N(bad_ops); i++)
		CHECK(v4vp_reply_size(bad_ops[i]) == NO_OP);

	CHECK_EQ(v4vp_record_size(V4VP_LIST_HV), sizeof(struct v4vp_rec_hv));
	CHECK_EQ(v4vp_record_size(V4VP_LIST_DOMAINS),
		 sizeof(struct v4vp_rec_domain));
	CHECK_EQ(v4vp_record_size(V4VP_LIST_RINGS),
		 sizeof(struct v4vp_rec_ring));
	CHECK_EQ(v4vp_record_size(V4VP_LIST_RULES),
		 sizeof(struct v4vp_rec_rule));
	CHECK_EQ(v4vp_record_size(V4VP_LIST_ENGINE),
		 sizeof(struct v4vp_rec_engine));
	CHECK_EQ(v4vp_record_size(0), 0);
	CHECK_EQ(v4vp_record_size(6), 0);
	CHECK_EQ(v4vp_record_size(0xffffffffu), 0);

	/* The largest packet fits the advertised bound. */
	CHECK(HDR + sizeof(struct v4vp_send) + V4VP_MAX_DGRAM <=
	      V4VP_MAX_PACKET);
}

/* A full page of records fits one packet; one record more would not. */
static void t_list_page(void)
{
	size_t room = V4VP_MAX_PACKET - HDR - sizeof(struct v4vp_list_reply);

	for (unsigned i = 0; i < N(list_kinds); i++) {
		uint32_t what = list_kinds[i];
		size_t rec = v4vp_record_size(what);
		uint32_t page = v4vp_list_page(what);

		CHECK(page > 0);
		CHECK(page * rec <= room);
		CHECK((page + 1) * rec > room);
	}
	CHECK_EQ(v4vp_list_page(0), 0);
	CHECK_EQ(v4vp_list_page(6), 0);
	CHECK_EQ(v4vp_list_page(0xffffffffu), 0);
}

static void t_good_requests(void)
{
	for (unsigned i = 0; i < N(req_ops); i++) {
		size_t len = good_req(req_ops[i]);

		CHECK_EQ(req(len), 0);
		/* NOTIFY is never answered: no reply can carry its op. */
		if (req_ops[i] == V4VP_NOTIFY)
			CHECK_EQ(rep(len), -EPROTO);
	}
	CHECK_EQ(req(mk_send(0, 0)), 0);
	CHECK_EQ(req(mk_send(1, 1)), 0);
	CHECK_EQ(req(mk_send(V4VP_MAX_DGRAM, V4VP_MAX_DGRAM)), 0);
	CHECK(mk_send(V4VP_MAX_DGRAM, V4VP_MAX_DGRAM) <= V4VP_MAX_PACKET);
	/* seq and status are the caller's business. */
	good_req(V4VP_VIPT_FLUSH);
	pkt.h.seq = 0xffffffffu;
	pkt.h.status = -1;
	CHECK_EQ(req(HDR), 0);
}

static void t_truncated_oversized(void)
{
	for (unsigned i = 0; i < N(req_ops); i++) {
		size_t len = good_req(req_ops[i]);

		for (size_t l = 0; l < len; l++)
			if (req(l) != -EPROTO) {
				fprintf(stderr, "op %u len %zu accepted\n",
					req_ops[i], l);
				CHECK(0);
			}
		CHECK_EQ(req(len + 1), -EPROTO);
		CHECK_EQ(req(len + 16), -EPROTO);
		CHECK_EQ(req(len + 4096), -EPROTO);
	}
	/* The header alone, for ops that need a body. */
	mk(V4VP_SEND, 0, 0);
	CHECK_EQ(req(HDR), -EPROTO);
	mk(V4VP_HELLO, 0, 0);
	CHECK_EQ(req(HDR), -EPROTO);
	mk(V4VP_LIST, 0, 0);
	CHECK_EQ(req(HDR), -EPROTO);
}

static void t_bad_header(void)
{
	size_t len = good_req(V4VP_REGISTER);

	/* Each byte of the magic matters, for requests and replies. */
	for (int i = 0; i < 4; i++) {
		pkt.b[i] ^= 0x20;
		CHECK_EQ(req(len), -EPROTO);
		pkt.b[i] ^= 0x20;
	}
	CHECK_EQ(req(len), 0);
	len = good_rep(V4VP_REGISTER);
	for (int i = 0; i < 4; i++) {
		pkt.b[i] ^= 0x01;
		CHECK_EQ(rep(len), -EPROTO);
		pkt.b[i] ^= 0x01;
	}
	CHECK_EQ(rep(len), 0);

	len = good_req(V4VP_REGISTER);
	for (unsigned v = 0; v < 4; v++) {
		pkt.h.version = (uint16_t)v;
		CHECK_EQ(req(len), v == V4VP_VERSION ? 0 : -EPROTO);
	}
	pkt.h.version = 0xffff;
	CHECK_EQ(req(len), -EPROTO);
	pkt.h.version = V4VP_VERSION | 0x100;
	CHECK_EQ(req(len), -EPROTO);
	len = good_rep(V4VP_REGISTER);
	pkt.h.version = V4VP_VERSION + 1;
	CHECK_EQ(rep(len), -EPROTO);

	/* Unknown ops, with any body length, failed or not. */
	for (unsigned i = 0; i < N(bad_ops); i++) {
		for (size_t body = 0; body <= 128; body += 8) {
			len = mk(bad_ops[i], 0, body);
			CHECK_EQ(req(len), -EPROTO);
			CHECK_EQ(rep(len), -EPROTO);
			pkt.h.status = -ENOENT;
			CHECK_EQ(rep(len), -EPROTO);
		}
	}
}

static void t_send(void)
{
	/* The claimed length must be exactly what follows. */
	CHECK_EQ(req(mk_send(10, 9)), -EPROTO);
	CHECK_EQ(req(mk_send(10, 11)), -EPROTO);
	CHECK_EQ(req(mk_send(0, 1)), -EPROTO);
	CHECK_EQ(req(mk_send(1, 0)), -EPROTO);
	/* Never more than a datagram, even when the length agrees. */
	CHECK_EQ(req(mk_send(V4VP_MAX_DGRAM + 1, V4VP_MAX_DGRAM + 1)),
		 -EPROTO);
	CHECK_EQ(req(mk_send(V4VP_MAX_DGRAM + 16, V4VP_MAX_DGRAM + 16)),
		 -EPROTO);
	/* Lengths that would overflow a 32-bit sum. */
	CHECK_EQ(req(mk_send(0xffffffffu, 0)), -EPROTO);
	CHECK_EQ(req(mk_send(0xffffffe8u, 0)), -EPROTO);
	CHECK_EQ(req(mk_send(0x80000000u, 16)), -EPROTO);
	/* The SEND body itself cut short. */
	mk_send(0, 0);
	CHECK_EQ(req(HDR + sizeof(struct v4vp_send) - 1), -EPROTO);
}

static void t_replies(void)
{
	for (unsigned i = 0; i < N(rep_ops); i++) {
		uint16_t op = rep_ops[i];
		size_t len = good_rep(op);

		CHECK_EQ(rep(len), 0);
		CHECK_EQ(rep(len + 1), -EPROTO);
		CHECK_EQ(rep(len + 8), -EPROTO);
		for (size_t l = 0; l < len; l++)
			if (rep(l) != -EPROTO) {
				fprintf(stderr,
					"reply op %u len %zu accepted\n",
					op, l);
				CHECK(0);
			}
		/* Non-negative statuses are successes: body required. */
		pkt.h.status = 1;
		CHECK_EQ(rep(len), 0);
	}
}

static void t_list_replies(void)
{
	for (unsigned i = 0; i < N(list_kinds); i++) {
		uint32_t what = list_kinds[i];
		uint32_t page = v4vp_list_page(what);
		size_t len;

		CHECK_EQ(rep(mk_list(what, 0, 0, 0)), 0);
		CHECK_EQ(rep(mk_list(what, 1, 1, 0)), 0);
		CHECK_EQ(rep(mk_list(what, page, page, 0)), 0);
		/* The count must match the bytes, record for record. */
		CHECK_EQ(rep(mk_list(what, 1, 0, 0)), -EPROTO);
		CHECK_EQ(rep(mk_list(what, 0, 1, 0)), -EPROTO);
		CHECK_EQ(rep(mk_list(what, 2, 1, 0)), -EPROTO);
		CHECK_EQ(rep(mk_list(what, 1, 1, 1)), -EPROTO);
		len = mk_list(what, 1, 1, 0);
		CHECK_EQ(rep(len - 1), -EPROTO);
		/* Never more than a page, which is one packet. */
		CHECK_EQ(rep(mk_list(what, page + 1, page + 1, 0)), -EPROTO);
		/* A count whose byte size would overflow 32 bits. */
		CHECK_EQ(rep(mk_list(what, 0xffffffffu, 0, 0)), -EPROTO);
		CHECK_EQ(rep(mk_list(what, 0x80000000u, 0, 0)), -EPROTO);
	}
	/* Unknown kinds, whatever the count. */
	CHECK_EQ(rep(mk_list(0, 0, 0, 0)), -EPROTO);
	CHECK_EQ(rep(mk_list(6, 0, 0, 0)), -EPROTO);
	CHECK_EQ(rep(mk_list(0xffffffffu, 0, 0, 0)), -EPROTO);
	/* The header alone: no list reply body to read. */
	mk(V4VP_LIST, 0, 0);
	CHECK_EQ(rep(HDR), -EPROTO);
	CHECK_EQ(rep(HDR + sizeof(struct v4vp_list_reply) - 1), -EPROTO);
}

static void t_failed_replies(void)
{
	static const int32_t errs[] = { -1, -EPERM, -ENOENT, -EAGAIN,
					-EPROTO, INT32_MIN };

	for (unsigned i = 0; i < N(rep_ops); i++) {
		uint16_t op = rep_ops[i];

		for (unsigned e = 0; e < N(errs); e++) {
			size_t len = good_rep(op);

			/* A failure carries no body, not even a byte. */
			pkt.h.status = errs[e];
			CHECK_EQ(rep(HDR), 0);
			CHECK_EQ(rep(HDR + 1), -EPROTO);
			if (len > HDR)
				CHECK_EQ(rep(len), -EPROTO);
			CHECK_EQ(rep(HDR - 1), -EPROTO);
		}
	}
	/* NOTIFY has no reply, failed or not. */
	CHECK_EQ(rep(mk(V4VP_NOTIFY, -EBADF, 0)), -EPROTO);
	CHECK_EQ(rep(mk(V4VP_NOTIFY, 0, 0)), -EPROTO);
	CHECK_EQ(rep(mk(V4VP_NOTIFY, 0, 8)), -EPROTO);
	/* Bad magic stays bad even for a failure. */
	mk(V4VP_HELLO, -EPERM, 0);
	pkt.h.magic = 0;
	CHECK_EQ(rep(HDR), -EPROTO);
}

/*
 * Every one of the 65536 ops: the size tables and the checks agree, so an
 * op added to one table but not handled elsewhere shows up here.
 */
static void t_every_op(void)
{
	unsigned known_req = 0, known_rep = 0;

	for (uint32_t op = 0; op <= 0xffff; op++) {
		size_t rq = v4vp_request_size((uint16_t)op);
		size_t rp = v4vp_reply_size((uint16_t)op);
		int want;

		/* Requests: only a known op of exactly its size passes. */
		want = rq == NO_OP || op == V4VP_SEND ? -EPROTO : 0;
		if (req(mk((uint16_t)op, 0, rq == NO_OP ? 0 : rq)) != want ||
		    req(mk((uint16_t)op, 0, 8)) !=
			    (rq == 8 && op != V4VP_SEND ? 0 : -EPROTO)) {
			fprintf(stderr, "request op %u\n", op);
			CHECK(0);
		}
		/* Replies: a failure is a bare header for any known op. */
		want = rp == NO_OP ? -EPROTO : 0;
		if (rep(mk((uint16_t)op, -EIO, 0)) != want ||
		    rep(mk((uint16_t)op, -EIO, 8)) != -EPROTO) {
			fprintf(stderr, "reply op %u\n", op);
			CHECK(0);
		}
		if (rp != NO_OP && op != V4VP_LIST &&
		    rep(mk((uint16_t)op, 0, rp)) != 0) {
			fprintf(stderr, "reply op %u body %zu\n", op, rp);
			CHECK(0);
		}
		known_req += rq != NO_OP;
		known_rep += rp != NO_OP;
	}
	/* Every request is answered, but for NOTIFY. */
	CHECK_EQ(known_req, N(req_ops));
	CHECK_EQ(known_rep, N(rep_ops));
}

static void t_name_check(void)
{
	char name[V4V_NAME_MAX];

	memset(name, 0, sizeof(name));
	CHECK_EQ(v4vp_name_check(name), 0);
	strcpy(name, "web-1");
	CHECK_EQ(v4vp_name_check(name), 0);
	memset(name, 'a', sizeof(name));
	CHECK_EQ(v4vp_name_check(name), -EINVAL);
	name[V4V_NAME_MAX - 1] = '\0';
	CHECK_EQ(v4vp_name_check(name), 0);
	name[V4V_NAME_MAX - 1] = 'a';
	name[0] = '\0';
	CHECK_EQ(v4vp_name_check(name), 0);
	/* Bytes with the high bit set are not terminators. */
	memset(name, 0x80, sizeof(name));
	CHECK_EQ(v4vp_name_check(name), -EINVAL);
}

static int name_valid(const char *s)
{
	char name[V4V_NAME_MAX];

	memset(name, 0x41, sizeof(name));
	memcpy(name, s, strlen(s) + 1);
	return v4vp_name_valid(name);
}

static void t_name_valid(void)
{
	static const char *const good[] = {
		"web", "web-1", "a", "A.Z_9-", "_x", ".hidden", "db.eu_2",
		"abcdefghijklmnopqrstuvwxyz01234", /* 31 + NUL */
	};
	static const char *const bad[] = {
		"", "1web", "-web", "a b", "web:80", "a/b", "a\x1b[0m", "\t",
		"caf\xc3\xa9", "a*", "a\x7f",
	};
	char name[V4V_NAME_MAX];

	for (unsigned i = 0; i < N(good); i++)
		if (name_valid(good[i])) {
			fprintf(stderr, "refused '%s'\n", good[i]);
			CHECK(0);
		}
	for (unsigned i = 0; i < N(bad); i++)
		if (name_valid(bad[i]) != -EINVAL) {
			fprintf(stderr, "accepted '%s'\n", bad[i]);
			CHECK(0);
		}
	/* Unterminated, even if every byte is allowed. */
	memset(name, 'a', sizeof(name));
	CHECK_EQ(v4vp_name_valid(name), -EINVAL);
}

static const struct t_case cases[] = {
	{ "hdr_init", t_hdr_init },
	{ "sizes", t_sizes },
	{ "list_page", t_list_page },
	{ "good_requests", t_good_requests },
	{ "truncated_oversized", t_truncated_oversized },
	{ "bad_header", t_bad_header },
	{ "send", t_send },
	{ "replies", t_replies },
	{ "list_replies", t_list_replies },
	{ "failed_replies", t_failed_replies },
	{ "every_op", t_every_op },
	{ "name_check", t_name_check },
	{ "name_valid", t_name_valid },
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	return t_run(cases, argc, argv);
}
