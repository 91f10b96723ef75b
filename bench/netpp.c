/* SPDX-License-Identifier: MIT */
/*
 * netpp: a TCP ping-pong and stream over plain sockets, so that the same
 * program measures two machines' (or two VMs') kernel network path and,
 * under `v4v run`, V4V.  bench/vm-net.sh runs it between two guests.
 *
 *   netpp server PORT
 *   netpp client HOST PORT [SIZE...]      (default sizes 1 64 1024 16384)
 *   netpp probe HOST PORT                 (one round trip: is it up?)
 *   netpp quit HOST PORT                  (the server exits)
 *
 * Each client connection starts with a request {op, size, count} (three
 * u32, host order: both ends are one machine's build).  Ping-pong: count
 * round trips of size bytes.  Stream: count bytes in size-byte writes,
 * then a one-byte acknowledgement.  The client prints, per size,
 *   pingpong SIZE p50_us p99_us       (half round trip)
 *   stream SIZE MB_per_s
 * Ping-pong runs for about a second per size (at least 50 round trips),
 * the stream moves 64 MiB in 64 KiB writes once, after the sizes.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { OP_PINGPONG = 1, OP_STREAM = 2, OP_QUIT = 3 };
#define MAX_SIZE (1u << 20)
#define STREAM_BYTES (64u << 20)
#define STREAM_CHUNK (64u << 10)

struct req {
	uint32_t op, size, count;
};

static uint8_t buf[MAX_SIZE];

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int io_all(int fd, void *p, size_t n, int writing)
{
	uint8_t *b = p;

	while (n) {
		ssize_t k = writing ? write(fd, b, n) : read(fd, b, n);

		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int serve_one(int c)
{
	struct req r;
	uint8_t ack = 1;

	if (io_all(c, &r, sizeof(r), 0) || r.size == 0 || r.size > MAX_SIZE)
		return 0;
	if (r.op == OP_QUIT)
		return 1;
	if (r.op == OP_PINGPONG) {
		for (uint32_t i = 0; i < r.count; i++)
			if (io_all(c, buf, r.size, 0) || io_all(c, buf, r.size, 1))
				return 0;
	} else if (r.op == OP_STREAM) {
		for (uint64_t left = r.count; left;) {
			size_t n = left < r.size ? (size_t)left : r.size;
			ssize_t k = read(c, buf, n);

			if (k <= 0)
				return 0;
			left -= (uint64_t)k;
		}
		io_all(c, &ack, 1, 1);
	}
	return 0;
}

static int server(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)atoi(port)) };
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), quit = 0;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(l, 8)) {
		perror("netpp: listen");
		return 1;
	}
	while (!quit) {
		int c = accept(l, NULL, NULL);

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		quit = serve_one(c);
		close(c);
	}
	return 0;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM }, *ai;
	int fd, one = 1;

	if (getaddrinfo(host, port, &hints, &ai))
		return -1;
	fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int pingpong(const char *host, const char *port, uint32_t size)
{
	enum { MAX_RT = 200000 };
	static double rt[MAX_RT];
	struct req r = { OP_PINGPONG, size, MAX_RT };
	double t0 = now_us(), t;
	int fd = dial(host, port);
	uint32_t n = 0;

	if (fd < 0 || io_all(fd, &r, sizeof(r), 1))
		return -1;
	/* About a second, at least 50 round trips; the server is told a
	 * count up front, so the rest are done without timing. */
	for (; n < MAX_RT && (n < 50 || now_us() - t0 < 1e6); n++) {
		t = now_us();
		if (io_all(fd, buf, size, 1) || io_all(fd, buf, size, 0))
			return -1;
		rt[n] = (now_us() - t) / 2;
	}
	close(fd); /* the server sees the end and stops */
	qsort(rt, n, sizeof(rt[0]), cmp_double);
	printf("pingpong %u %.1f %.1f\n", size, rt[n / 2], rt[n * 99 / 100]);
	return 0;
}

static int stream(const char *host, const char *port)
{
	struct req r = { OP_STREAM, STREAM_CHUNK, STREAM_BYTES };
	int fd = dial(host, port);
	uint8_t ack;
	double t0;

	if (fd < 0 || io_all(fd, &r, sizeof(r), 1))
		return -1;
	t0 = now_us();
	for (uint32_t sent = 0; sent < STREAM_BYTES; sent += STREAM_CHUNK)
		if (io_all(fd, buf, STREAM_CHUNK, 1))
			return -1;
	if (io_all(fd, &ack, 1, 0))
		return -1;
	printf("stream %u %.0f\n", STREAM_CHUNK,
	       STREAM_BYTES / (now_us() - t0));
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1, 64, 1024, 16384 };

	if (argc == 3 && !strcmp(argv[1], "server"))
		return server(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "probe")) {
		struct req r = { OP_PINGPONG, 1, 1 };
		int fd = dial(argv[2], argv[3]);

		return fd < 0 || io_all(fd, &r, sizeof(r), 1) ||
		       io_all(fd, buf, 1, 1) || io_all(fd, buf, 1, 0);
	}
	if (argc == 4 && !strcmp(argv[1], "quit")) {
		struct req r = { OP_QUIT, 1, 0 };
		int fd = dial(argv[2], argv[3]);

		return fd < 0 || io_all(fd, &r, sizeof(r), 1);
	}
	if (argc >= 4 && !strcmp(argv[1], "client")) {
		for (int i = 4; i < argc || (argc == 4 && i < 8); i++) {
			uint32_t s = argc > 4 ? (uint32_t)atoi(argv[i]) :
						sizes[i - 4];

			if (s == 0 || s > MAX_SIZE ||
			    pingpong(argv[2], argv[3], s)) {
				fprintf(stderr, "netpp: ping-pong of %u B "
					"failed\n", s);
				return 1;
			}
			fflush(stdout);
		}
		if (stream(argv[2], argv[3])) {
			fprintf(stderr, "netpp: stream failed\n");
			return 1;
		}
		return 0;
	}
	fputs("usage: netpp server PORT | netpp client HOST PORT [SIZE...] |"
	      " netpp probe|quit HOST PORT\n", stderr);
	return 2;
}
