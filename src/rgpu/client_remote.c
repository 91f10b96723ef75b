/* SPDX-License-Identifier: MIT */
/*
 * The remote transport: one request, one reply, over a V4V or TCP
 * connection to rgpu-server.  Every reply header is checked against the
 * request; a reply that does not fit ends the connection.  A large copy
 * may be split over lanes: more connections joined to the session, each
 * driven by a thread of its own for the copy's length.
 */
#include "rgpu/client.h"
#include "rgpu/conn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RGPU_DEFAULT_PIECE (1u << 20)
/* The smallest part of a copy worth a lane: below, one connection's
 * copy is over before the threads are started. */
#define RGPU_LANE_MIN (1u << 20)

struct remote {
	struct rgpu_conn conn;
	uint32_t next_id;
	uint32_t chunk; /* the server's: the pieces bulk data goes in */
	int ndev;
	bool broken;
	unsigned nlanes; /* more connections of this session */
	struct remote *lane[RGPU_MAX_LANES - 1];
};

/* After an I/O or framing error the stream position is unknown: close,
 * and fail every later call rather than misread a stale reply. */
static int broken(struct remote *r, int status)
{
	r->broken = true;
	conn_close(&r->conn);
	return status;
}

static int send_req(struct remote *r, uint16_t op, uint32_t id,
		    const void *body, size_t blen, uint64_t extra)
{
	struct rgpu_hdr h = { RGPU_MAGIC, RGPU_PROTO_VERSION, op, id, 0,
			      blen + extra };
	uint8_t buf[RGPU_HDR_SIZE + 1024];

	if (r->broken)
		return RGPU_ERR_CONNECTION;
	rgpu_hdr_encode(buf, &h);
	if (blen > sizeof(buf) - RGPU_HDR_SIZE)
		return RGPU_ERR_INVALID_VALUE;
	if (blen)
		memcpy(buf + RGPU_HDR_SIZE, body, blen);
	if (conn_write(&r->conn, buf, RGPU_HDR_SIZE + blen))
		return broken(r, RGPU_ERR_CONNECTION);
	return 0;
}

/* Read the reply header to (op, id), with a body of at most `max`. */
static int recv_hdr(struct remote *r, uint16_t op, uint32_t id, uint64_t max,
		    struct rgpu_hdr *h)
{
	uint8_t buf[RGPU_HDR_SIZE];
	int err;

	if (conn_read(&r->conn, buf, sizeof(buf), &err) != sizeof(buf))
		return broken(r, RGPU_ERR_CONNECTION);
	rgpu_hdr_decode(h, buf);
	if (rgpu_hdr_check_reply(h, op, id, max))
		return broken(r, RGPU_ERR_PROTOCOL);
	return 0;
}

static int recv_body(struct remote *r, void *buf, uint64_t n)
{
	int err;

	if (n && conn_read(&r->conn, buf, (size_t)n, &err) != n)
		return broken(r, RGPU_ERR_CONNECTION);
	return 0;
}

/* A request with a small body and a reply of exactly `replen` bytes on
 * success (none on failure). */
static int call(struct remote *r, uint16_t op, const void *body, size_t blen,
		void *rep, uint64_t replen)
{
	uint32_t id = r->next_id++;
	struct rgpu_hdr h;
	int rc = send_req(r, op, id, body, blen, 0);

	rc = rc ? rc : recv_hdr(r, op, id, replen, &h);
	if (rc)
		return rc;
	if (h.status == 0 && h.len != replen)
		return broken(r, RGPU_ERR_PROTOCOL);
	if (h.status != 0 && h.len != 0)
		return broken(r, RGPU_ERR_PROTOCOL);
	rc = recv_body(r, rep, h.len);
	return rc ? rc : h.status;
}

static void close_one(struct remote *r)
{
	conn_close(&r->conn);
	free(r);
}

/* One more connection, joined to the session that offered `token`. */
static struct remote *join_lane(const char *addr, uint64_t token,
				uint32_t chunk)
{
	struct remote *l = calloc(1, sizeof(*l));
	uint8_t body[RGPU_JOIN_LEN];
	char why[256];

	if (!l)
		return NULL;
	l->next_id = 1;
	l->chunk = chunk;
	if (conn_dial(addr, &l->conn, why, sizeof(why))) {
		fprintf(stderr, "librgpu: lane: %s\n", why);
		free(l);
		return NULL;
	}
	le64_put(body, token);
	if (call(l, RGPU_OP_JOIN, body, sizeof(body), NULL, 0)) {
		close_one(l);
		return NULL;
	}
	return l;
}

/* Ask for `want` connections in all; fewer (or none) is no error. */
static void open_lanes(struct remote *r, const char *addr, unsigned want)
{
	uint8_t body[RGPU_LANES_LEN], rep[RGPU_LANES_REPLY_LEN];
	unsigned grant;
	uint64_t token;

	if (want > RGPU_MAX_LANES)
		want = RGPU_MAX_LANES;
	le32_put(body, want);
	if (want < 2 || call(r, RGPU_OP_LANES, body, sizeof(body), rep,
			     sizeof(rep)))
		return;
	grant = le32_get(rep);
	token = le64_get(rep + 8);
	while (r->nlanes + 1 < grant && r->nlanes + 1 < RGPU_MAX_LANES) {
		struct remote *l = join_lane(addr, token, r->chunk);

		if (!l)
			break;
		r->lane[r->nlanes++] = l;
	}
}

int rgpu_remote_open(const char *addr, size_t chunk, unsigned lanes,
		     void **state, char backend[16], char *why, size_t whysz)
{
	struct remote *r = calloc(1, sizeof(*r));
	uint8_t body[RGPU_HELLO_LEN], rep[RGPU_HELLO_REPLY_LEN];
	int rc;

	if (!r)
		return RGPU_ERR_MEMORY_ALLOCATION;
	r->next_id = 1;
	if (conn_dial(addr, &r->conn, why, whysz)) {
		free(r);
		return RGPU_ERR_CONNECTION;
	}
	le32_put(body, RGPU_PROTO_VERSION);
	le32_put(body + 4, (uint32_t)chunk);
	rc = call(r, RGPU_OP_HELLO, body, sizeof(body), rep, sizeof(rep));
	if (rc) {
		snprintf(why, whysz, "%s: HELLO failed: %s", addr,
			 rgpu_error_string(rc));
		conn_close(&r->conn);
		free(r);
		return rc;
	}
	r->ndev = (int)le32_get(rep + 4);
	r->chunk = le32_get(rep + 8);
	if (r->chunk < RGPU_MIN_CHUNK || r->chunk > RGPU_MAX_CHUNK)
		r->chunk = RGPU_DEFAULT_PIECE;
	open_lanes(r, addr, lanes);
	memcpy(backend, rep + 16, 15);
	backend[15] = '\0';
	*state = r;
	return 0;
}

static int r_count(void *t, int *n)
{
	struct remote *r = t;

	*n = r->ndev;
	return 0;
}

static int r_props(void *t, int dev, struct rgpu_device_prop *p)
{
	uint8_t body[4], rep[RGPU_PROPS_REPLY_LEN];
	int rc;

	le32_put(body, (uint32_t)dev);
	rc = call(t, RGPU_OP_DEVICE_PROPS, body, 4, rep, sizeof(rep));
	if (rc == 0)
		rgpu_props_decode(p, rep);
	return rc;
}

static int r_malloc(void *t, uint64_t size, rgpu_devptr_t *p)
{
	uint8_t body[8], rep[8];
	int rc;

	le64_put(body, size);
	rc = call(t, RGPU_OP_MALLOC, body, 8, rep, 8);
	if (rc == 0)
		*p = le64_get(rep);
	return rc;
}

static int r_free(void *t, rgpu_devptr_t p)
{
	uint8_t body[8];

	le64_put(body, p);
	return call(t, RGPU_OP_FREE, body, 8, NULL, 0);
}

static int r_memset(void *t, rgpu_devptr_t p, int v, uint64_t n)
{
	uint8_t body[24] = { 0 };

	le64_put(body, p);
	le64_put(body + 8, n);
	le32_put(body + 16, (uint32_t)v);
	return call(t, RGPU_OP_MEMSET, body, 24, NULL, 0);
}

/* The data goes straight from the caller's buffer into the connection
 * (over V4V, into the server's ring in pieces of its chunk size, which
 * its device copies out whole); the server streams it to the device as
 * it arrives. */
static int one_htod(void *t, rgpu_devptr_t dst, const void *src, uint64_t n)
{
	struct remote *r = t;
	uint32_t id = r->next_id++;
	uint8_t body[RGPU_HTOD_FIXED];
	struct rgpu_hdr h;
	int rc;

	le64_put(body, dst);
	rc = send_req(r, RGPU_OP_HTOD, id, body, sizeof(body), n);
	if (rc)
		return rc;
	/* A server that refuses the pointer answers and hangs up without
	 * reading the data: its answer is still worth reading. */
	if (conn_write_bulk(&r->conn, src, (size_t)n, r->chunk)) {
		rc = recv_hdr(r, RGPU_OP_HTOD, id, 0, &h);
		broken(r, 0);
		return rc ? RGPU_ERR_CONNECTION : h.status ? h.status
							   : RGPU_ERR_CONNECTION;
	}
	rc = recv_hdr(r, RGPU_OP_HTOD, id, 0, &h);
	return rc ? rc : h.status;
}

static int one_dtoh(void *t, void *dst, rgpu_devptr_t src, uint64_t n)
{
	struct remote *r = t;
	uint32_t id = r->next_id++;
	uint8_t body[16];
	struct rgpu_hdr h;
	int rc;

	le64_put(body, src);
	le64_put(body + 8, n);
	rc = send_req(r, RGPU_OP_DTOH, id, body, sizeof(body), 0);
	rc = rc ? rc : recv_hdr(r, RGPU_OP_DTOH, id, n, &h);
	if (rc)
		return rc;
	if (h.status)
		return h.len ? broken(r, RGPU_ERR_PROTOCOL) : h.status;
	if (h.len != n)
		return broken(r, RGPU_ERR_PROTOCOL);
	return recv_body(r, dst, n);
}

static int r_sync(void *t)
{
	return call(t, RGPU_OP_SYNC, NULL, 0, NULL, 0);
}

/* ---- copies split over lanes ---- */

struct part {
	struct remote *r;
	bool htod;
	rgpu_devptr_t dev;
	char *host;
	uint64_t n;
	int rc;
};

static void *run_part(void *arg)
{
	struct part *p = arg;

	p->rc = p->htod ? one_htod(p->r, p->dev, p->host, p->n)
			: one_dtoh(p->r, p->host, p->dev, p->n);
	return NULL;
}

/* A lane that failed is dropped; the copy fails, later ones go on
 * without it. */
static void drop_broken_lanes(struct remote *r)
{
	unsigned k = 0;

	for (unsigned i = 0; i < r->nlanes; i++) {
		if (r->lane[i]->broken)
			close_one(r->lane[i]);
		else
			r->lane[k++] = r->lane[i];
	}
	r->nlanes = k;
}

static int split_copy(struct remote *r, bool htod, rgpu_devptr_t dev,
		      char *host, uint64_t n)
{
	struct part p[RGPU_MAX_LANES];
	pthread_t t[RGPU_MAX_LANES];
	bool started[RGPU_MAX_LANES] = { false };
	uint64_t k = 1 + r->nlanes, each, off = 0;
	int rc;

	if (k > n / RGPU_LANE_MIN)
		k = n / RGPU_LANE_MIN;
	if (k < 2)
		return htod ? one_htod(r, dev, host, n)
			    : one_dtoh(r, host, dev, n);
	/* The lanes copy on device streams of their own, and a copy comes
	 * after what the session queued before it: wait for that first. */
	rc = r_sync(r);
	if (rc)
		return rc;
	each = (n / k + 4095) & ~(uint64_t)4095;
	for (unsigned i = 0; i < k; i++) {
		uint64_t len = n - off < each ? n - off : each;

		p[i] = (struct part){ i ? r->lane[i - 1] : r, htod, dev + off,
				      host + off, len, 0 };
		off += len;
	}
	for (unsigned i = 1; i < k; i++)
		started[i] = !pthread_create(&t[i], NULL, run_part, &p[i]);
	run_part(&p[0]);
	rc = p[0].rc;
	for (unsigned i = 1; i < k; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		else
			run_part(&p[i]);
		rc = rc ? rc : p[i].rc;
	}
	drop_broken_lanes(r);
	return rc;
}

static int r_htod(void *t, rgpu_devptr_t dst, const void *src, uint64_t n)
{
	return split_copy(t, true, dst, (char *)src, n);
}

static int r_dtoh(void *t, void *dst, rgpu_devptr_t src, uint64_t n)
{
	return split_copy(t, false, src, dst, n);
}

static int r_load(void *t, const char *ptx, rgpu_module_t *m, char *log,
		  size_t logsz)
{
	struct remote *r = t;
	uint32_t id = r->next_id++;
	size_t len = strlen(ptx);
	struct rgpu_hdr h;
	char text[RGPU_MAX_LOG + 1];
	uint8_t rep[8];
	int rc;

	if (len == 0 || len > RGPU_MAX_PTX)
		return RGPU_ERR_INVALID_VALUE;
	rc = send_req(r, RGPU_OP_MODULE_LOAD, id, NULL, 0, len);
	if (rc)
		return rc;
	if (conn_write(&r->conn, ptx, len))
		return broken(r, RGPU_ERR_CONNECTION);
	rc = recv_hdr(r, RGPU_OP_MODULE_LOAD, id, RGPU_MAX_LOG, &h);
	if (rc)
		return rc;
	if (h.status == 0) {
		if (h.len != 8)
			return broken(r, RGPU_ERR_PROTOCOL);
		rc = recv_body(r, rep, 8);
		if (rc == 0)
			*m = le64_get(rep);
		return rc;
	}
	/* A failure carries the JIT's log. */
	rc = recv_body(r, text, h.len);
	text[h.len] = '\0';
	if (log && logsz)
		snprintf(log, logsz, "%s", text);
	return rc ? rc : h.status;
}

static int r_unload(void *t, rgpu_module_t m)
{
	uint8_t body[8];

	le64_put(body, m);
	return call(t, RGPU_OP_MODULE_UNLOAD, body, 8, NULL, 0);
}

static int r_launch(void *t, const struct rgpu_launch_req *req)
{
	uint8_t body[RGPU_LAUNCH_FIXED + RGPU_MAX_NAME +
		     RGPU_MAX_ARGS * RGPU_ARG_WIRE];
	size_t len = rgpu_launch_encode(body, req);

	return call(t, RGPU_OP_LAUNCH, body, len, NULL, 0);
}

/* The device is in another domain: nothing to pin here.  Page-aligned,
 * as pinned memory is. */
static int r_host_alloc(void *t, size_t n, void **p,
			const struct rgpu_backend **be)
{
	(void)t;
	*be = NULL;
	return posix_memalign(p, 4096, n ? n : 1) ? RGPU_ERR_MEMORY_ALLOCATION
						  : 0;
}

static void r_close(void *t)
{
	struct remote *r = t;

	for (unsigned i = 0; i < r->nlanes; i++)
		close_one(r->lane[i]);
	close_one(r);
}

const struct rgpu_transport rgpu_remote = {
	.device_count = r_count,
	.props = r_props,
	.malloc = r_malloc,
	.free = r_free,
	.memset = r_memset,
	.htod = r_htod,
	.dtoh = r_dtoh,
	.sync = r_sync,
	.module_load = r_load,
	.module_unload = r_unload,
	.launch = r_launch,
	.host_alloc = r_host_alloc,
	.close = r_close,
};
