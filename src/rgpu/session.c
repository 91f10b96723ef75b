/* SPDX-License-Identifier: MIT */
#include "rgpu/session.h"
#include "rgpu/devctx.h"
#include "rgpu/lanes.h"
#include "rgpu/log.h"
#include "rgpu/pipeline.h"
#include "rgpu/wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session {
	unsigned id;
	char peer[64];
	struct rgpu_conn conn;
	const struct server_cfg *cfg;
	struct devctx *own; /* its backend session drives our copies */
	struct sctx *sh;    /* the context we work in: ours, or, for a
			     * lane, the session's that it joined */
	bool lane;
	struct pipeline pl;
	uint64_t requests, bytes_in, bytes_out;
};

static struct devctx *ctx(const struct session *s)
{
	return sctx_ctx(s->sh);
}

/* What a request handler tells the loop. */
enum { KEEP = 0, DROP = 1 };

#define SLOG(s, fmt, ...)                                                      \
	rgpu_log("session %u (%s): " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static int reply(struct session *s, const struct rgpu_hdr *req, int status,
		 const void *body, uint64_t len)
{
	struct rgpu_hdr h = { RGPU_MAGIC, RGPU_PROTO_VERSION,
			      (uint16_t)(req->op | RGPU_REPLY), req->id,
			      status, len };
	uint8_t buf[RGPU_HDR_SIZE + 128];
	size_t inl = body && len <= 128 ? (size_t)len : 0;
	int rc;

	rgpu_hdr_encode(buf, &h);
	/* Header and a small body in one write: one message, one wakeup. */
	if (inl)
		memcpy(buf + RGPU_HDR_SIZE, body, inl);
	rc = conn_write(&s->conn, buf, RGPU_HDR_SIZE + inl);
	if (!rc && body && !inl)
		rc = conn_write(&s->conn, body, (size_t)len);
	if (rc) {
		SLOG(s, "%s: cannot answer: %s", rgpu_op_name(req->op),
		     strerror(-rc));
		return DROP;
	}
	s->bytes_out += RGPU_HDR_SIZE + (body ? len : 0);
	return KEEP;
}

/* Answer, then decide: a client that names memory or modules that are
 * not its own is hostile or broken, and is dropped. */
static int finish(struct session *s, const struct rgpu_hdr *h, int status,
		  uint64_t ptr)
{
	if (reply(s, h, status, NULL, 0))
		return DROP;
	if (!rgpu_err_is_forgery(status))
		return KEEP;
	SLOG(s, "%s: %s 0x%016" PRIx64 " is not one of this session's: "
	     "dropping session", rgpu_op_name(h->op),
	     status == RGPU_ERR_INVALID_HANDLE ? "module" : "device pointer",
	     ptr);
	return DROP;
}

static int io_failed(struct session *s, const struct rgpu_hdr *h,
		     const struct pipe_io *io, uint64_t n)
{
	SLOG(s, "%s: connection failed after %" PRIu64 " of %" PRIu64
	     " bytes (%s): dropping session", rgpu_op_name(h->op), io->done, n,
	     io->err == EPIPE ? "peer disconnected mid-copy"
			      : strerror(io->err));
	return DROP;
}

static int op_hello(struct session *s, const struct rgpu_hdr *h,
		    const uint8_t *b)
{
	uint32_t chunk = le32_get(b + 4);
	uint8_t r[RGPU_HELLO_REPLY_LEN] = { 0 };

	if (chunk) {
		/* Staging buffers already made keep their size. */
		if (chunk < RGPU_MIN_CHUNK || chunk > RGPU_MAX_CHUNK ||
		    s->pl.buf[0])
			return reply(s, h, RGPU_ERR_INVALID_VALUE, NULL, 0);
		s->pl.chunk = chunk;
	}
	le32_put(r, RGPU_PROTO_VERSION);
	le32_put(r + 4, (uint32_t)s->cfg->be->device_count());
	le32_put(r + 8, (uint32_t)s->pl.chunk);
	memcpy(r + 16, s->cfg->be->name, strnlen(s->cfg->be->name, 15));
	return reply(s, h, 0, r, sizeof(r));
}

static int op_props(struct session *s, const struct rgpu_hdr *h,
		    const uint8_t *b)
{
	struct rgpu_device_prop p;
	uint8_t r[RGPU_PROPS_REPLY_LEN];
	uint32_t dev = le32_get(b);
	int rc = dev > 255 ? RGPU_ERR_INVALID_DEVICE
			   : s->cfg->be->props((int)dev, &p);

	if (rc)
		return reply(s, h, rc, NULL, 0);
	rgpu_props_encode(r, &p);
	return reply(s, h, 0, r, sizeof(r));
}

static int op_malloc(struct session *s, const struct rgpu_hdr *h,
		     const uint8_t *b)
{
	rgpu_devptr_t p = 0;
	uint8_t r[8];
	int rc = devctx_malloc(ctx(s), le64_get(b), &p);

	if (rc)
		return reply(s, h, rc, NULL, 0);
	le64_put(r, p);
	return reply(s, h, 0, r, 8);
}

static int op_free(struct session *s, const struct rgpu_hdr *h,
		   const uint8_t *b)
{
	return finish(s, h, devctx_free(ctx(s), le64_get(b)), le64_get(b));
}

static int op_memset(struct session *s, const struct rgpu_hdr *h,
		     const uint8_t *b)
{
	uint64_t p = le64_get(b), n = le64_get(b + 8);
	int rc = n > RGPU_MAX_COPY ? RGPU_ERR_INVALID_VALUE
				   : devctx_memset(ctx(s), p, (int)le32_get(b + 16), n);

	return finish(s, h, rc, p);
}

/* The body is the 8-byte destination, then the data: it is checked
 * before a byte of data is read, and streamed through the pipeline. */
static int op_htod(struct session *s, const struct rgpu_hdr *h,
		   const uint8_t *b)
{
	uint64_t dst = le64_get(b), n = h->len - RGPU_HTOD_FIXED, addr, avail;
	struct pipe_io io;
	int rc = devctx_resolve(ctx(s), dst, n, &addr, &avail);

	if (rgpu_err_is_forgery(rc))
		return finish(s, h, rc, dst);
	if (rc)
		pipeline_discard(&s->pl, n, &s->conn, &io);
	else
		rc = pipeline_htod(&s->pl, addr, n, &s->conn, &io);
	s->bytes_in += io.done;
	if (io.done != n)
		return io_failed(s, h, &io, n);
	return finish(s, h, rc, dst);
}

static int op_dtoh(struct session *s, const struct rgpu_hdr *h,
		   const uint8_t *b)
{
	uint64_t src = le64_get(b), n = le64_get(b + 8), addr, avail;
	struct pipe_io io;
	int rc = n > RGPU_MAX_COPY ? RGPU_ERR_INVALID_VALUE
				   : devctx_resolve(ctx(s), src, n, &addr, &avail);
	struct rgpu_hdr ok = *h;

	if (rc)
		return finish(s, h, rc, src);
	ok.len = n;
	if (reply(s, &ok, 0, NULL, n))
		return DROP;
	rc = pipeline_dtoh(&s->pl, addr, n, &s->conn, &io);
	s->bytes_out += io.done;
	if (io.err)
		return io_failed(s, h, &io, n);
	if (rc) {
		SLOG(s, "DTOH: device error after the reply started (%s): "
		     "dropping session", rgpu_error_name(rc));
		return DROP;
	}
	return KEEP;
}

static int op_sync(struct session *s, const struct rgpu_hdr *h,
		   const uint8_t *b)
{
	(void)b;
	return reply(s, h, devctx_sync(ctx(s)), NULL, 0);
}

static int op_module_load(struct session *s, const struct rgpu_hdr *h,
			  const uint8_t *b)
{
	char log[RGPU_MAX_LOG];
	rgpu_module_t m = 0;
	uint8_t r[8];
	int rc;

	/* b holds len + 1 bytes; the text may not hide a NUL. */
	if (memchr(b, 0, h->len)) {
		snprintf(log, sizeof(log), "module text contains a NUL byte");
		rc = RGPU_ERR_INVALID_PTX;
	} else {
		rc = devctx_module_load(ctx(s), (const char *)b, &m, log,
					sizeof(log));
	}
	if (rc) {
		SLOG(s, "MODULE_LOAD refused (%s): %.200s", rgpu_error_name(rc),
		     log);
		return reply(s, h, rc, log, strlen(log));
	}
	le64_put(r, m);
	return reply(s, h, 0, r, 8);
}

static int op_module_unload(struct session *s, const struct rgpu_hdr *h,
			    const uint8_t *b)
{
	return finish(s, h, devctx_module_unload(ctx(s), le64_get(b)),
		      le64_get(b));
}

static int op_launch(struct session *s, const struct rgpu_hdr *h,
		     const uint8_t *b)
{
	struct rgpu_launch_req r = { 0 };
	int rc = rgpu_launch_decode(&r, b, (size_t)h->len);
	uint64_t bad = r.module;

	if (rc) {
		SLOG(s, "LAUNCH: malformed request: dropping session");
		reply(s, h, rc, NULL, 0);
		return DROP;
	}
	rc = devctx_launch(ctx(s), &r);
	/* Name the pointer argument that failed, for the log. */
	for (unsigned i = 0; rc == RGPU_ERR_INVALID_DEVICE_POINTER &&
			     i < r.nargs; i++)
		if (r.args[i].kind == RGPU_ARG_DEVPTR) {
			uint64_t a, v;

			if (devctx_resolve(ctx(s), r.args[i].value, 0, &a, &v))
				bad = r.args[i].value;
		}
	if (rc && !rgpu_err_is_forgery(rc))
		SLOG(s, "LAUNCH %s refused: %s", r.name, rgpu_error_name(rc));
	return finish(s, h, rc, bad);
}

/* Offer lanes: more connections of this client that share its memory. */
static int op_lanes(struct session *s, const struct rgpu_hdr *h,
		    const uint8_t *b)
{
	uint32_t want = le32_get(b);
	unsigned grant = want < s->cfg->max_lanes ? want : s->cfg->max_lanes;
	uint8_t r[RGPU_LANES_REPLY_LEN] = { 0 };
	uint64_t token = 0;

	if (!want)
		return reply(s, h, RGPU_ERR_INVALID_VALUE, NULL, 0);
	if (grant > 1) {
		token = sctx_offer(s->sh, grant - 1);
		if (!token) /* asked twice */
			return reply(s, h, RGPU_ERR_INVALID_VALUE, NULL, 0);
		SLOG(s, "offers %u more connections (lanes)", grant - 1);
	} else {
		grant = 1;
	}
	le32_put(r, grant);
	le64_put(r + 8, token);
	return reply(s, h, 0, r, sizeof(r));
}

/* Become a lane of the session that offered the token. */
static int op_join(struct session *s, const struct rgpu_hdr *h,
		   const uint8_t *b)
{
	struct sctx *o;

	if (s->requests != 1) {
		SLOG(s, "JOIN after other requests: dropping session");
		reply(s, h, RGPU_ERR_PROTOCOL, NULL, 0);
		return DROP;
	}
	o = sctx_join(le64_get(b), s->peer);
	if (!o) {
		SLOG(s, "JOIN with a token no session of this peer offers: "
		     "dropping session");
		reply(s, h, RGPU_ERR_INVALID_VALUE, NULL, 0);
		return DROP;
	}
	/* Our own context stays, for its backend session (a stream of our
	 * own); its memory is the other session's. */
	sctx_unwrap(s->sh);
	s->sh = o;
	s->lane = true;
	SLOG(s, "joined as a lane");
	return reply(s, h, 0, NULL, 0);
}

typedef int (*op_fn)(struct session *, const struct rgpu_hdr *,
		     const uint8_t *);

static const op_fn ops[RGPU_OP_END_] = {
	[RGPU_OP_HELLO] = op_hello,
	[RGPU_OP_DEVICE_PROPS] = op_props,
	[RGPU_OP_MALLOC] = op_malloc,
	[RGPU_OP_FREE] = op_free,
	[RGPU_OP_MEMSET] = op_memset,
	[RGPU_OP_HTOD] = op_htod,
	[RGPU_OP_DTOH] = op_dtoh,
	[RGPU_OP_SYNC] = op_sync,
	[RGPU_OP_MODULE_LOAD] = op_module_load,
	[RGPU_OP_MODULE_UNLOAD] = op_module_unload,
	[RGPU_OP_LAUNCH] = op_launch,
	[RGPU_OP_LANES] = op_lanes,
	[RGPU_OP_JOIN] = op_join,
};

/* Copies share the context with the lanes' copies; whatever else uses
 * the allocations has it alone; the rest needs no lock. */
enum { UNLOCKED, SHARED, EXCLUSIVE };

static int op_lock_mode(unsigned op)
{
	switch (op) {
	case RGPU_OP_HTOD:
	case RGPU_OP_DTOH:
		return SHARED;
	case RGPU_OP_HELLO:
	case RGPU_OP_DEVICE_PROPS:
	case RGPU_OP_LANES:
	case RGPU_OP_JOIN:
		return UNLOCKED;
	default:
		return EXCLUSIVE;
	}
}

static int dispatch(struct session *s, const struct rgpu_hdr *h,
		    const uint8_t *b)
{
	int mode = op_lock_mode(h->op), rc;
	struct sctx *sh = s->sh; /* JOIN changes it */

	/* A lane only copies. */
	if (s->lane && mode != SHARED)
		return reply(s, h, RGPU_ERR_INVALID_VALUE, NULL, 0);
	if (mode != UNLOCKED)
		sctx_lock(sh, mode == EXCLUSIVE);
	rc = ops[h->op](s, h, b);
	if (mode != UNLOCKED)
		sctx_unlock(sh);
	return rc;
}

/* Read the next header.  Waiting for the first byte may take forever (an
 * idle client); once a request has started, a stall ends the session. */
static int read_header(struct session *s, struct rgpu_hdr *h)
{
	uint8_t buf[RGPU_HDR_SIZE];
	size_t got = 0;
	int err;

	for (;;) {
		got += conn_read(&s->conn, buf + got, sizeof(buf) - got, &err);
		if (got == sizeof(buf))
			break;
		if (got == 0 && err == EAGAIN)
			continue;
		if (got == 0 && err == 0)
			SLOG(s, "closed by the client");
		else if (got == 0)
			SLOG(s, "connection error: %s", strerror(err));
		else
			SLOG(s, "truncated header (%zu of %d bytes, %s): "
			     "dropping session", got, RGPU_HDR_SIZE,
			     err ? strerror(err) : "end of stream");
		return DROP;
	}
	rgpu_hdr_decode(h, buf);
	s->bytes_in += sizeof(buf);
	return KEEP;
}

/* The body of a request, except HTOD's data: at most RGPU_MAX_PTX
 * bytes (a module), by the header check.  One byte more for a NUL. */
static uint8_t *read_body(struct session *s, const struct rgpu_hdr *h,
			  uint8_t *small, size_t smallsz)
{
	size_t n = h->op == RGPU_OP_HTOD ? RGPU_HTOD_FIXED : (size_t)h->len;
	uint8_t *b = n < smallsz ? small : malloc(n + 1);
	int err;

	if (!b) {
		SLOG(s, "%s: out of memory for a %zu-byte body: dropping "
		     "session", rgpu_op_name(h->op), n);
		return NULL;
	}
	if (conn_read(&s->conn, b, n, &err) != n) {
		SLOG(s, "%s: body cut short (%s): dropping session",
		     rgpu_op_name(h->op),
		     err ? strerror(err) : "end of stream");
		if (b != small)
			free(b);
		return NULL;
	}
	b[n] = 0;
	s->bytes_in += n;
	return b;
}

static int serve_one(struct session *s)
{
	uint8_t small[1024];
	struct rgpu_hdr h;
	const char *why;
	uint8_t *body;
	int rc;

	if (read_header(s, &h))
		return DROP;
	rc = rgpu_hdr_check_request(&h, &why);
	if (rc) {
		SLOG(s, "bad request header: %s (magic 0x%08x, version %u, "
		     "op %u, length %" PRIu64 "): dropping session", why,
		     h.magic, h.version, h.op, h.len);
		reply(s, &h, rc, NULL, 0);
		return DROP;
	}
	body = read_body(s, &h, small, sizeof(small));
	if (!body)
		return DROP;
	s->requests++;
	rgpu_debug("session %u: %s id %u len %" PRIu64, s->id,
		   rgpu_op_name(h.op), h.id, h.len);
	rc = dispatch(s, &h, body);
	if (body != small)
		free(body);
	return rc;
}

void session_serve(unsigned id, struct rgpu_conn c, const char *peer,
		   const struct server_cfg *cfg)
{
	struct session s = { .id = id, .conn = c, .cfg = cfg };
	int rc;

	snprintf(s.peer, sizeof(s.peer), "%s", peer);
	conn_set_timeout(&s.conn, cfg->timeout_ms);
	rc = devctx_open(cfg->be, cfg->allow_ptx, &s.own);
	s.sh = rc ? NULL : sctx_new(s.own, s.peer);
	if (!s.sh) {
		SLOG(&s, "cannot open a device context: %s",
		     rgpu_error_name(rc ? rc : RGPU_ERR_MEMORY_ALLOCATION));
		if (!rc)
			devctx_close(s.own);
		conn_close(&s.conn);
		return;
	}
	pipeline_init(&s.pl, cfg->be, devctx_bsess(s.own), cfg->chunk,
		      cfg->nslots, cfg->staged, cfg->zero_copy);
	SLOG(&s, "opened");
	while (serve_one(&s) == KEEP)
		;
	/* The rings go with the connection: unregister them first.  Then
	 * close: a client blocked on us fails now, not after the frees. */
	pipeline_release(&s.pl);
	conn_linger_close(&s.conn);
	if (s.lane) {
		devctx_close(s.own);
		sctx_put(s.sh);
	} else {
		sctx_close(s.sh); /* the memory goes with the last lane */
	}
	SLOG(&s, "ended after %" PRIu64 " requests (%.1f MiB in, %.1f MiB "
	     "out; copies: %u zero-copy, %u staged)%s", s.requests,
	     (double)s.bytes_in / 1048576.0, (double)s.bytes_out / 1048576.0,
	     s.pl.zc_copies, s.pl.staged_copies,
	     s.lane ? "" : "; its memory is freed");
}
