/* SPDX-License-Identifier: MIT */
/*
 * The remote transport: one request, one reply, over a V4V or TCP
 * connection to rgpu-server.  Every reply header is checked against the
 * request; a reply that does not fit ends the connection.
 */
#include "rgpu/client.h"
#include "rgpu/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RGPU_DEFAULT_PIECE (1u << 20)

struct remote {
	struct rgpu_conn conn;
	uint32_t next_id;
	uint32_t chunk; /* the server's: the pieces bulk data goes in */
	int ndev;
	bool broken;
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

int rgpu_remote_open(const char *addr, size_t chunk, void **state,
		     char backend[16], char *why, size_t whysz)
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
static int r_htod(void *t, rgpu_devptr_t dst, const void *src, uint64_t n)
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

static int r_dtoh(void *t, void *dst, rgpu_devptr_t src, uint64_t n)
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

static void r_close(void *t)
{
	struct remote *r = t;

	conn_close(&r->conn);
	free(r);
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
	.close = r_close,
};
