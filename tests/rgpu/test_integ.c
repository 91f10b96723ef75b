/* SPDX-License-Identifier: MIT */
/*
 * rgpu end to end: a private v4vd, rgpu-server in a domain of its own, and
 * clients in other domains over V4V and over TCP.  Results are checked
 * against the CPU reference; several clients run at once; hostile clients
 * (truncated header, huge length, forged or foreign device pointers, a
 * disconnect in the middle of a copy) are logged and dropped while a good
 * client keeps being served.  Then the same with the CUDA backend over the
 * test double of libcuda.so.1, with small chunks so that every copy is
 * pipelined.
 */
#include "../integ/harness.h"
#include "../unit/t.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rgpu/conn.h"
#include "rgpu/kernels.h"
#include "rgpu/rgpu.h"
#include "rgpu/wire.h"

struct server {
	pid_t pid;
	char v4v[64], tcp[64], log[160];
};

static struct hv_proc hv;

static void start_server(struct server *s, const char *name,
			 const char *const *extra)
{
	const char *bin = getenv("RGPU_SERVER_BIN");
	const char *argv[24] = { bin, "--v4v", "7100", "--tcp", "127.0.0.1:0",
				 "--name", name, "--ready-fd", "3", "-v" };
	struct pollfd p;
	char line[256] = "";
	int pfd[2], n = 10;

	REQUIRE(bin && pipe(pfd) == 0);
	while (extra && *extra && n < 22)
		argv[n++] = *extra++;
	snprintf(s->log, sizeof(s->log), "%s/%s.log", hv.dir, name);
	s->pid = fork();
	if (s->pid == 0) {
		int fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		dup2(pfd[1], 3);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	REQUIRE(poll(&p, 1, 10000) == 1 && read(pfd[0], line, 255) > 0);
	close(pfd[0]);
	REQUIRE(sscanf(line, "ready v4v %40s tcp %40s", s->v4v + 4,
		       s->tcp + 4) == 2);
	memcpy(s->v4v, "v4v:", 4);
	memcpy(s->tcp, "tcp:", 4);
}

static bool server_alive(const struct server *s)
{
	return waitpid(s->pid, NULL, WNOHANG) == 0;
}

static int stop_server(struct server *s)
{
	int st;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool log_has(const struct server *s, const char *what)
{
	char buf[65536];
	int fd = open(s->log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (!strstr(buf, what))
		fprintf(stderr, "server log lacks '%s':\n%s\n", what, buf);
	return strstr(buf, what) != NULL;
}

/* For what a session logs as it ends, after its client is gone. */
static bool log_wait(const struct server *s, const char *what)
{
	char buf[65536];

	for (int i = 0; i < 500; i++) {
		int fd = open(s->log, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, what))
			return true;
		usleep(10000);
	}
	return log_has(s, what);
}

/* ---- a well-behaved client: copies, both kernels, checked ---- */

static void fill(float *m, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		m[i] = (float)(((i + seed) * 2654435761u) % 2000) / 1000.0f - 1.0f;
}

static int copies(void)
{
	static const size_t sizes[] = { 1024, 65536 + 5, (1u << 20) + 3 };
	int bad = 0;

	for (unsigned i = 0; i < 3; i++) {
		size_t n = sizes[i];
		uint8_t *a = malloc(n), *b = calloc(1, n);
		rgpu_devptr_t d;

		for (size_t k = 0; k < n; k++)
			a[k] = (uint8_t)(k * 7 + i);
		bad |= rgpu_malloc(&d, n + 100) != RGPU_SUCCESS;
		bad |= rgpu_memcpy_htod(d + 100, a, n) != RGPU_SUCCESS;
		bad |= rgpu_memcpy_dtoh(b, d + 100, n) != RGPU_SUCCESS;
		bad |= memcmp(a, b, n) != 0;
		bad |= rgpu_memset(d + 100, 0xab, 10) != RGPU_SUCCESS;
		bad |= rgpu_memcpy_dtoh(b, d + 100, n) != RGPU_SUCCESS;
		bad |= b[9] != 0xab || b[10] != a[10];
		/* Out of range is an error, not the end of the session. */
		bad |= rgpu_memcpy_htod(d + 101, a, n) != RGPU_ERR_INVALID_VALUE;
		bad |= rgpu_free(d) != RGPU_SUCCESS;
		free(a);
		free(b);
	}
	return bad;
}

static int kernels(uint32_t n)
{
	size_t bytes = (size_t)n * n * 4;
	float *a = malloc(bytes), *b = malloc(bytes), *c = malloc(bytes),
	      *ref = malloc(bytes);
	struct rgpu_dim3 g = { (n + 15) / 16, (n + 15) / 16, 1 },
			 blk = { 16, 16, 1 };
	rgpu_devptr_t da = 0, db = 0, dc = 0;
	rgpu_module_t m;
	int bad = 0;

	fill(a, (size_t)n * n, 1);
	fill(b, (size_t)n * n, 2);
	bad |= rgpu_module_load(&m, rgpu_shipped_ptx(), NULL, 0) != 0;
	bad |= rgpu_malloc(&da, bytes) || rgpu_malloc(&db, bytes) ||
	       rgpu_malloc(&dc, bytes);
	bad |= rgpu_memcpy_htod(da, a, bytes) || rgpu_memcpy_htod(db, b, bytes);
	{
		struct rgpu_arg args[4] = { rgpu_arg_ptr(da), rgpu_arg_ptr(db),
					    rgpu_arg_ptr(dc), rgpu_arg_u32(n) };

		bad |= rgpu_launch_kernel(m, RGPU_SGEMM_NAME, g, blk, 0, args, 4);
	}
	bad |= rgpu_device_synchronize() || rgpu_memcpy_dtoh(c, dc, bytes);
	rgpu_cpu_sgemm(a, b, ref, n, n, n, 1);
	for (size_t i = 0; i < (size_t)n * n; i++)
		bad |= fabsf(c[i] - ref[i]) > 1e-3f;
	{
		struct rgpu_arg args[5] = { rgpu_arg_ptr(da), rgpu_arg_ptr(dc),
					    rgpu_arg_u32(n), rgpu_arg_f32(0.5f),
					    rgpu_arg_f32(0.125f) };

		bad |= rgpu_launch_kernel(m, RGPU_STENCIL_NAME, g, blk, 0, args,
					  5);
	}
	bad |= rgpu_memcpy_dtoh(c, dc, bytes);
	rgpu_cpu_stencil5(a, ref, n, 0.5f, 0.125f, n, n);
	bad |= memcmp(c, ref, bytes) != 0;
	bad |= rgpu_free(da) || rgpu_free(db) || rgpu_free(dc);
	free(a);
	free(b);
	free(c);
	free(ref);
	return bad;
}

static int good_client(void *arg)
{
	const char *spec = arg;
	int bad;

	if (rgpu_connect(spec)) {
		fprintf(stderr, "cannot connect to %s\n", spec);
		return 2;
	}
	bad = copies() | kernels(70) | kernels(33);
	if (bad)
		fprintf(stderr, "client on %s: wrong results\n", spec);
	rgpu_disconnect();
	return bad ? 1 : 0;
}

/* ---- raw wire clients ---- */

static void raw_dial(const char *spec, struct rgpu_conn *c)
{
	char why[200];

	REQUIRE(conn_dial(spec, c, why, sizeof(why)) == 0);
}

static void raw_send(struct rgpu_conn *c, uint16_t op, uint64_t len,
		     const void *body, size_t blen)
{
	struct rgpu_hdr h = { RGPU_MAGIC, RGPU_PROTO_VERSION, op, 1, 0, len };
	uint8_t b[RGPU_HDR_SIZE + 64];

	rgpu_hdr_encode(b, &h);
	if (blen)
		memcpy(b + RGPU_HDR_SIZE, body, blen);
	conn_write(c, b, RGPU_HDR_SIZE + blen);
}

/* The reply's status, its 8-byte body into *val if any; -1 on EOF. */
static int raw_reply(struct rgpu_conn *c, uint64_t *val)
{
	uint8_t b[RGPU_HDR_SIZE], v[8];
	struct rgpu_hdr h;
	int err;

	if (conn_read(c, b, sizeof(b), &err) != sizeof(b))
		return -1;
	rgpu_hdr_decode(&h, b);
	if (h.len == 8 && conn_read(c, v, 8, &err) == 8 && val)
		*val = le64_get(v);
	return h.status;
}

static bool at_eof(struct rgpu_conn *c)
{
	uint8_t x;
	int err;

	return conn_read(c, &x, 1, &err) == 0;
}

static uint64_t raw_malloc(struct rgpu_conn *c, uint64_t n)
{
	uint8_t b[8];
	uint64_t p = 0;

	le64_put(b, n);
	raw_send(c, RGPU_OP_MALLOC, 8, b, 8);
	REQUIRE(raw_reply(c, &p) == 0);
	return p;
}

static void hostile_truncated(const char *spec)
{
	struct rgpu_conn c;

	raw_dial(spec, &c);
	conn_write(&c, "RGPU\x01\x00\x03\x00\x01\x00", 10);
	conn_close(&c);
}

static void hostile_huge_and_magic(const char *spec)
{
	struct rgpu_conn c;
	struct rgpu_hdr h = { 0x12345678, 1, RGPU_OP_SYNC, 1, 0, 0 };
	uint8_t b[RGPU_HDR_SIZE];

	raw_dial(spec, &c);
	raw_send(&c, RGPU_OP_HTOD, 1ull << 40, NULL, 0);
	CHECK_EQ(raw_reply(&c, NULL), RGPU_ERR_INVALID_VALUE);
	CHECK(at_eof(&c));
	conn_close(&c);
	raw_dial(spec, &c);
	rgpu_hdr_encode(b, &h);
	conn_write(&c, b, sizeof(b));
	CHECK_EQ(raw_reply(&c, NULL), RGPU_ERR_PROTOCOL);
	CHECK(at_eof(&c));
	conn_close(&c);
}

static void hostile_forged(const char *spec)
{
	struct rgpu_conn c;
	uint8_t b[16];
	uint64_t p;

	raw_dial(spec, &c);
	p = raw_malloc(&c, 4096);
	le64_put(b, p ^ (1ull << 53));
	raw_send(&c, RGPU_OP_FREE, 8, b, 8);
	CHECK_EQ(raw_reply(&c, NULL), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK(at_eof(&c));
	conn_close(&c);
	/* A forged copy target: refused before a byte of data is read (data
	 * sent anyway would be reset away with the answer, as in TCP). */
	raw_dial(spec, &c);
	p = raw_malloc(&c, 4096);
	le64_put(b, p + (1ull << 39));
	raw_send(&c, RGPU_OP_HTOD, 8 + (1u << 20), b, 8);
	CHECK_EQ(raw_reply(&c, NULL), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK(at_eof(&c));
	conn_close(&c);
}

/* Session B names session A's memory: refused, dropped. */
static void hostile_foreign(const char *spec)
{
	struct rgpu_conn a, b;
	uint8_t body[16];
	uint64_t p;

	raw_dial(spec, &a);
	raw_dial(spec, &b);
	p = raw_malloc(&a, 4096);
	raw_malloc(&b, 4096);
	le64_put(body, p);
	le64_put(body + 8, 16);
	raw_send(&b, RGPU_OP_DTOH, 16, body, 16);
	CHECK_EQ(raw_reply(&b, NULL), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK(at_eof(&b));
	raw_send(&a, RGPU_OP_DTOH, 16, body, 16); /* still A's */
	CHECK_EQ(raw_reply(&a, NULL), 0);
	conn_close(&a);
	conn_close(&b);
}

static void hostile_midcopy(const char *spec)
{
	static uint8_t part[1 << 20];
	struct rgpu_conn c;
	uint8_t b[8];

	raw_dial(spec, &c);
	le64_put(b, raw_malloc(&c, 64u << 20));
	raw_send(&c, RGPU_OP_HTOD, 8 + (64u << 20), b, 8);
	conn_write(&c, part, sizeof(part));
	conn_close(&c);
}

/* A kernel asked to read past its buffers: an error, the session goes on. */
static void bad_launch_keeps_session(const char *spec)
{
	struct rgpu_conn c;
	struct rgpu_launch_req r = { .grid = { 1, 1, 1 },
				     .block = { 16, 16, 1 }, .nargs = 4,
				     .name = RGPU_SGEMM_NAME };
	uint8_t body[1024];
	uint64_t p, m = 0;
	size_t len = strlen(rgpu_kernels_ptx);

	raw_dial(spec, &c);
	p = raw_malloc(&c, 4096);
	raw_send(&c, RGPU_OP_MODULE_LOAD, len, NULL, 0);
	conn_write(&c, rgpu_kernels_ptx, len);
	REQUIRE(raw_reply(&c, &m) == 0);
	r.module = m;
	r.name_len = (uint16_t)strlen(r.name);
	for (int i = 0; i < 3; i++)
		r.args[i] = (struct rgpu_arg){ RGPU_ARG_DEVPTR, 8, p };
	r.args[3] = (struct rgpu_arg){ RGPU_ARG_VALUE, 4, 1000 };
	len = rgpu_launch_encode(body, &r);
	raw_send(&c, RGPU_OP_LAUNCH, len, NULL, 0);
	conn_write(&c, body, len);
	CHECK_EQ(raw_reply(&c, NULL), RGPU_ERR_INVALID_VALUE);
	raw_send(&c, RGPU_OP_SYNC, 0, NULL, 0);
	CHECK_EQ(raw_reply(&c, NULL), 0);
	conn_close(&c);
}

static void all_hostile(const char *spec)
{
	hostile_truncated(spec);
	hostile_huge_and_magic(spec);
	hostile_forged(spec);
	hostile_foreign(spec);
	hostile_midcopy(spec);
	bad_launch_keeps_session(spec);
}

/* Children count their own failures, not the parent's before the fork. */
static int hostile_domain(void *arg)
{
	t_failed = 0;
	all_hostile(arg);
	return t_failed ? 1 : 0;
}

/* A client that connects, waits until the hostile ones are done, then
 * must still be served. */
struct patient {
	const char *spec;
	struct gate go;
};

static int patient_client(void *arg)
{
	struct patient *p = arg;
	rgpu_devptr_t d;

	if (rgpu_connect(p->spec) || rgpu_malloc(&d, 1 << 20))
		return 2;
	gate_wait(&p->go);
	return good_client((void *)p->spec);
}

static void t_cpu_backend(void)
{
	struct server s;
	struct patient pat;
	pid_t c[3], pp;
	/* Staged, as a GPU's copies; rgpu_bench covers the direct ones. */
	const char *const extra[] = { "--backend", "cpu", "--timeout", "5",
				      "--staged", NULL };

	start_server(&s, "rgpucpu", extra);
	/* Three clients at once, two over V4V, one over TCP. */
	c[0] = dom_spawn(good_client, s.v4v);
	c[1] = dom_spawn(good_client, s.v4v);
	c[2] = dom_spawn(good_client, s.tcp);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(dom_wait(c[i]), 0);
	pat.spec = s.v4v;
	gate_init(&pat.go);
	pp = dom_spawn(patient_client, &pat);
	all_hostile(s.tcp);
	CHECK_EQ(dom_wait(dom_spawn(hostile_domain, s.v4v)), 0);
	gate_open(&pat.go, 1);
	CHECK_EQ(dom_wait(pp), 0);
	CHECK(server_alive(&s));
	CHECK(log_has(&s, "backend cpu"));
	CHECK(log_has(&s, "truncated header (10 of 24 bytes"));
	CHECK(log_has(&s, "length over the operation's limit"));
	CHECK(log_has(&s, "bad magic"));
	CHECK(log_has(&s, "is not one of this session's: dropping session"));
	CHECK(log_has(&s, "peer disconnected mid-copy"));
	CHECK(log_has(&s, "LAUNCH rgpu_sgemm_tiled refused"));
	CHECK_EQ(stop_server(&s), 0);
}

static int lanes_client(void *arg);

/* Lines of the driver's trace that start with `call`. */
static int trace_count(const char *trace, const char *call)
{
	char line[128];
	int n = 0;
	FILE *f = fopen(trace, "r");

	REQUIRE(f);
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, call, strlen(call)) == 0;
	fclose(f);
	return n;
}

/* The CUDA backend over the test double: small chunks and two staging
 * buffers, so that every copy above 64 KiB is pipelined.  Over V4V the
 * device copies out of and into the rings (registered once per session:
 * no staging buffer, no CPU copy on the server); over TCP through pinned
 * staging; with --no-zero-copy through staging over V4V too. */
static void t_cuda_fake(void)
{
	struct server s;
	const char *const extra[] = { "--backend", "cuda", "--chunk-size",
				      "64K", "--staging", "2", NULL };
	const char *const nozc[] = { "--backend", "cuda", "--chunk-size",
				     "64K", "--no-zero-copy", NULL };
	char trace[200];

	snprintf(trace, sizeof(trace), "%s/cuda.trace", hv.dir);
	setenv("RGPU_FAKE_CUDA_TRACE", trace, 1);
	start_server(&s, "rgpucuda", extra);
	CHECK_EQ(dom_wait(dom_spawn(good_client, s.v4v)), 0);
	CHECK(log_wait(&s, "zero-copy, 0 staged)"));
	CHECK(trace_count(trace, "cuMemHostRegister_v2") >= 1);
	CHECK_EQ(trace_count(trace, "cuMemHostRegister_v2"),
		 trace_count(trace, "cuMemHostUnregister"));
	/* 1 MiB + 3 alone is 17 chunks, each way. */
	CHECK(trace_count(trace, "cuMemcpyHtoDAsync_v2 registered") > 17);
	CHECK(trace_count(trace, "cuMemcpyDtoHAsync_v2 registered") > 17);
	CHECK_EQ(trace_count(trace, "cuMemcpyHtoDAsync_v2 pinned"), 0);
	CHECK_EQ(trace_count(trace, "cuMemHostAlloc"), 0);
	CHECK_EQ(dom_wait(dom_spawn(good_client, s.tcp)), 0);
	CHECK(log_wait(&s, "copies: 0 zero-copy,"));
	CHECK(trace_count(trace, "cuMemcpyHtoDAsync_v2 pinned") > 17);
	CHECK(trace_count(trace, "cuMemcpyDtoHAsync_v2 pinned") > 17);
	CHECK(trace_count(trace, "cuEventSynchronize") > 20);
	/* Lanes: each its own stream and registered rings. */
	CHECK_EQ(dom_wait(dom_spawn(lanes_client, s.v4v)), 0);
	CHECK(log_wait(&s, "joined as a lane"));
	CHECK_EQ(dom_wait(dom_spawn(hostile_domain, s.v4v)), 0);
	CHECK(server_alive(&s));
	CHECK(log_has(&s, "backend cuda: Fake GPU (test double)"));
	CHECK_EQ(stop_server(&s), 0);
	CHECK_EQ(trace_count(trace, "cuMemcpyHtoDAsync_v2 pageable"), 0);
	CHECK_EQ(trace_count(trace, "cuMemcpyDtoHAsync_v2 pageable"), 0);
	CHECK_EQ(trace_count(trace, "cuMemHostRegister_v2"),
		 trace_count(trace, "cuMemHostUnregister"));
	unlink(trace);

	start_server(&s, "rgpucuda", nozc);
	CHECK_EQ(dom_wait(dom_spawn(good_client, s.v4v)), 0);
	CHECK_EQ(stop_server(&s), 0);
	CHECK_EQ(trace_count(trace, "cuMemHostRegister_v2"), 0);
	CHECK(trace_count(trace, "cuMemcpyHtoDAsync_v2 pinned") > 17);
	unlink(trace);
	unsetenv("RGPU_FAKE_CUDA_TRACE");
}
/* ---- lanes: one copy over several connections ---- */

/* A large copy split over four connections, both ways, and a kernel
 * between: exact results, and the server saw the lanes join. */
static int lanes_client(void *arg)
{
	const size_t n = (9u << 20) + 7;
	uint8_t *a = malloc(n), *b = malloc(n);
	rgpu_devptr_t d;
	int bad = 0;

	if (!a || !b)
		return 3;
	for (size_t i = 0; i < n; i++)
		a[i] = (uint8_t)(i * 2654435761u >> 13);
	rgpu_set_lanes(4);
	if (rgpu_connect(arg) || rgpu_malloc(&d, n))
		return 2;
	bad |= rgpu_memset(d, 0, n) != 0;
	bad |= rgpu_memcpy_htod(d, a, n) != 0;
	bad |= rgpu_memcpy_dtoh(b, d, n) != 0;
	bad |= memcmp(a, b, n) != 0;
	/* A copy right after other work sees it done. */
	bad |= rgpu_memset(d, 0x5a, n) != 0;
	bad |= rgpu_memcpy_dtoh(b, d, n) != 0;
	for (size_t i = 0; i < n; i++)
		bad |= b[i] != 0x5a;
	bad |= copies() | kernels(70);
	rgpu_disconnect();
	rgpu_set_lanes(0);
	free(a);
	free(b);
	if (bad)
		fprintf(stderr, "lanes client on %s: wrong results\n",
			(const char *)arg);
	return bad ? 1 : 0;
}

static uint64_t raw_lanes(struct rgpu_conn *c, uint32_t want, int *status)
{
	uint8_t b[RGPU_HDR_SIZE + RGPU_LANES_REPLY_LEN];
	struct rgpu_hdr h;
	int err;

	le32_put(b, want);
	raw_send(c, RGPU_OP_LANES, RGPU_LANES_LEN, b, RGPU_LANES_LEN);
	REQUIRE(conn_read(c, b, RGPU_HDR_SIZE, &err) == RGPU_HDR_SIZE);
	rgpu_hdr_decode(&h, b);
	*status = h.status;
	if (h.len != RGPU_LANES_REPLY_LEN)
		return 0;
	REQUIRE(conn_read(c, b, RGPU_LANES_REPLY_LEN, &err) ==
		RGPU_LANES_REPLY_LEN);
	return le64_get(b + 8);
}

static int raw_join(struct rgpu_conn *c, uint64_t token)
{
	uint8_t b[8];

	le64_put(b, token);
	raw_send(c, RGPU_OP_JOIN, 8, b, 8);
	return raw_reply(c, NULL);
}

struct stranger {
	const char *spec;
	int fd[2];	  /* the token, from the session's domain */
	struct gate done; /* the stranger tried */
};

/* Another domain with a token it did not get: refused, dropped. */
static int stranger_joins(void *arg)
{
	struct stranger *st = arg;
	struct rgpu_conn c;
	uint64_t token = 0;

	t_failed = 0;
	REQUIRE(read(st->fd[0], &token, 8) == 8);
	raw_dial(st->spec, &c);
	CHECK_EQ(raw_join(&c, token), RGPU_ERR_INVALID_VALUE);
	CHECK(at_eof(&c));
	conn_close(&c);
	gate_open(&st->done, 1);
	return t_failed ? 1 : 0;
}

/* What a lane may and may not do; tokens guessed, reused, stolen. */
static void hostile_lanes(struct stranger *st)
{
	const char *spec = st->spec;
	struct rgpu_conn c, l, l2;
	uint64_t token, p, bad;
	uint8_t b[16], data[4096];
	int status;

	raw_dial(spec, &c);
	p = raw_malloc(&c, sizeof(data));
	token = raw_lanes(&c, 3, &status);
	CHECK_EQ(status, 0);
	CHECK(token != 0);
	CHECK_EQ(raw_lanes(&c, 3, &status), 0); /* one offer a session */
	CHECK_EQ(status, RGPU_ERR_INVALID_VALUE);
	/* A guessed token, and JOIN after another request: dropped. */
	raw_dial(spec, &l);
	CHECK_EQ(raw_join(&l, token ^ 1), RGPU_ERR_INVALID_VALUE);
	CHECK(at_eof(&l));
	conn_close(&l);
	raw_dial(spec, &l);
	bad = raw_malloc(&l, 64);
	CHECK(bad != 0);
	CHECK_EQ(raw_join(&l, token), RGPU_ERR_PROTOCOL);
	CHECK(at_eof(&l));
	conn_close(&l);
	/* Another domain with the token. */
	REQUIRE(write(st->fd[1], &token, 8) == 8);
	CHECK_EQ(gate_wait(&st->done), 1);
	/* A real lane copies into the session's memory, nothing else. */
	raw_dial(spec, &l);
	CHECK_EQ(raw_join(&l, token), 0);
	le64_put(b, 64);
	raw_send(&l, RGPU_OP_MALLOC, 8, b, 8);
	CHECK_EQ(raw_reply(&l, NULL), RGPU_ERR_INVALID_VALUE);
	CHECK_EQ(raw_join(&l, token), RGPU_ERR_INVALID_VALUE);
	memset(data, 0x33, sizeof(data));
	le64_put(b, p);
	raw_send(&l, RGPU_OP_HTOD, 8 + sizeof(data), b, 8);
	conn_write(&l, data, sizeof(data));
	CHECK_EQ(raw_reply(&l, NULL), 0);
	/* The session frees it: the lane's next copy names nothing. */
	raw_send(&c, RGPU_OP_FREE, 8, b, 8);
	CHECK_EQ(raw_reply(&c, NULL), 0);
	le64_put(b + 8, sizeof(data));
	raw_send(&l, RGPU_OP_DTOH, 16, b, 16);
	CHECK_EQ(raw_reply(&l, NULL), RGPU_ERR_INVALID_DEVICE_POINTER);
	CHECK(at_eof(&l));
	conn_close(&l);
	/* The session ends: its token is gone with it. */
	conn_close(&c);
	usleep(100000);
	raw_dial(spec, &l2);
	CHECK_EQ(raw_join(&l2, token), RGPU_ERR_INVALID_VALUE);
	conn_close(&l2);
}

static int hostile_lanes_domain(void *arg)
{
	t_failed = 0;
	hostile_lanes(arg);
	return t_failed ? 1 : 0;
}

/* Domains are processes that had no V4V before: both start from here. */
static void lanes_hostile(const char *spec)
{
	struct stranger st = { .spec = spec };
	pid_t h, x;

	REQUIRE(pipe(st.fd) == 0);
	gate_init(&st.done);
	h = dom_spawn(hostile_lanes_domain, &st);
	x = dom_spawn(stranger_joins, &st);
	CHECK_EQ(dom_wait(x), 0);
	CHECK_EQ(dom_wait(h), 0);
	close(st.fd[0]);
	close(st.fd[1]);
}

static void t_lanes(void)
{
	struct server s;
	const char *const extra[] = { "--backend", "cpu", "--staged",
				      "--max-lanes", "4", NULL };

	start_server(&s, "rgpulanes", extra);
	CHECK_EQ(dom_wait(dom_spawn(lanes_client, s.v4v)), 0);
	CHECK(log_wait(&s, "offers 3 more connections (lanes)"));
	CHECK(log_wait(&s, "joined as a lane"));
	CHECK_EQ(dom_wait(dom_spawn(lanes_client, s.tcp)), 0);
	lanes_hostile(s.v4v);
	CHECK(log_wait(&s, "JOIN with a token no session of this peer "
			   "offers: dropping session"));
	CHECK(log_wait(&s, "JOIN after other requests: dropping session"));
	CHECK(server_alive(&s));
	CHECK_EQ(stop_server(&s), 0);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "cpu_backend", t_cpu_backend },
		{ "cuda_fake", t_cuda_fake },
		{ "lanes", t_lanes },
		{ NULL, NULL },
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	/* A server that consumed ring bytes before the device copied them
	 * would copy poison, and the results would be wrong. */
	setenv("V4V_ZC_POISON", "1", 1);
	hv_start(&hv, NULL);
	hv_watchdog(&hv, 240);
	rc = t_run(cases, argc, argv);
	if (!getenv("V4V_TEST_KEEP_LOG")) {
		char cmd[160];

		/* The servers' logs live beside v4vd's. */
		snprintf(cmd, sizeof(cmd), "rm -f %s/*.log", hv.dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	hv_stop(&hv);
	return rc;
}
