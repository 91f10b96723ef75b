/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for rgpu-server's side of the rgpu wire protocol
 * (src/rgpu/wire.c, session.c, devctx.c, pipeline.c): the input is
 * everything a hostile client sends on one connection.
 *
 * A real session (session_serve, CPU backend) reads it from one end of a
 * socket pair while a thread writes it into the other end, reads the
 * answers and, at the end of the input, shuts its side, as a client that
 * sends and hangs up.  The session must end by itself (end of stream or
 * a dropped client), never crash, and give every byte it allocated back.
 * Device memory is capped at 32 MiB a session, as a small GPU would be:
 * otherwise inputs that allocate gigabytes measure the machine, not the
 * parser.
 *
 * LAUNCH bodies are also decoded on their own, and whatever decodes must
 * encode to the same bytes.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "rgpu/log.h"
#include "rgpu/session.h"
#include "rgpu/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MEM_CAP (32ull << 20)

static struct rgpu_backend capped;
static atomic_uint_least64_t mem_in_use;

static int capped_alloc(struct rgpu_bsess *s, uint64_t size, uint64_t *addr)
{
	uint64_t used = atomic_fetch_add(&mem_in_use, size);
	int rc;

	if (size > MEM_CAP || used + size > MEM_CAP) {
		atomic_fetch_sub(&mem_in_use, size);
		return RGPU_ERR_MEMORY_ALLOCATION;
	}
	rc = rgpu_backend_cpu.mem_alloc(s, size, addr);
	if (rc)
		atomic_fetch_sub(&mem_in_use, size);
	return rc;
}

static int capped_free(struct rgpu_bsess *s, uint64_t addr, uint64_t size)
{
	int rc = rgpu_backend_cpu.mem_free(s, addr, size);

	if (!rc)
		atomic_fetch_sub(&mem_in_use, size);
	return rc;
}

/* The session's pointer keys come from getrandom: zeros make them the
 * same every run, so a seed (seeds_rgpu.py) can name the memory it
 * allocated, as a real client does, and a crash reproduces. */
ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	(void)flags;
	memset(buf, 0, n);
	return (ssize_t)n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	capped = rgpu_backend_cpu;
	capped.mem_alloc = capped_alloc;
	capped.mem_free = capped_free;
	/* The session logs every dropped client; the fuzzer drops millions
	 * ($FUZZ_RGPU_LOG=1 shows them, to debug a reproducer). */
	rgpu_log_init("fuzz_rgpu", getenv("FUZZ_RGPU_LOG") ? 0 : -1);
	return 0;
}

struct client {
	int fd;
	const uint8_t *data;
	size_t size;
};

/* Write the input, read (and drop) the answers, hang up, read to the
 * end: the session's replies can never fill the pair and stall it. */
static void *client_run(void *arg)
{
	struct client *c = arg;
	size_t off = 0;
	bool shut = false;
	uint8_t sink[65536];

	for (;;) {
		struct pollfd p = { c->fd, POLLIN | (shut ? 0 : POLLOUT), 0 };
		ssize_t n;

		if (!shut && off == c->size) {
			shutdown(c->fd, SHUT_WR);
			shut = true;
			continue;
		}
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(c->fd, sink, sizeof(sink));
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				break; /* the session closed */
		}
		if (!shut && (p.revents & POLLOUT)) {
			n = send(c->fd, c->data + off, c->size - off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				shut = true; /* the session hung up on us */
		}
	}
	return NULL;
}

static void launch_roundtrip(const uint8_t *data, size_t size)
{
	static struct rgpu_launch_req r, r2;
	static uint8_t out[RGPU_LAUNCH_FIXED + RGPU_MAX_NAME +
			   RGPU_MAX_ARGS * RGPU_ARG_WIRE];
	size_t n;

	if (rgpu_launch_decode(&r, data, size))
		return;
	ASSERT(r.name_len <= RGPU_MAX_NAME && r.nargs <= RGPU_MAX_ARGS);
	ASSERT(strlen(r.name) == r.name_len);
	n = rgpu_launch_size(r.name_len, r.nargs);
	ASSERT(n <= size && n <= sizeof(out));
	ASSERT(rgpu_launch_encode(out, &r) == n);
	ASSERT(rgpu_launch_decode(&r2, out, n) == 0);
	ASSERT(!memcmp(out, data, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_cfg cfg = {
		.be = &capped,
		.chunk = RGPU_MIN_CHUNK,
		.nslots = 2,
		.timeout_ms = 2000,
	};
	struct client c = { .data = data, .size = size };
	struct rgpu_conn conn = { .v4v = false };
	pthread_t t;
	int sv[2];

	launch_roundtrip(data, size);
	ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	c.fd = sv[0];
	conn.fd = sv[1];
	ASSERT(pthread_create(&t, NULL, client_run, &c) == 0);
	session_serve(1, conn, "fuzz", &cfg);
	pthread_join(t, NULL);
	close(sv[0]);
	/* Whatever the client did, the session freed all it allocated. */
	ASSERT(atomic_load(&mem_in_use) == 0);
	return 0;
}
