/* SPDX-License-Identifier: MIT */
/*
 * dgram_echo: a V4V datagram echo server and its client, with libv4v.
 *
 *   dgram_echo server PORT [COUNT]   echo COUNT datagrams (default: forever)
 *   dgram_echo client DOMAIN:PORT MESSAGE...
 *                                    send each MESSAGE, print each echo
 *
 * Each process is its own domain; set V4V_NAME=echo for the server so the
 * client can say "echo:7".  Build and run: see docs/api.md.
 */
#include <v4v/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static int die(const char *what)
{
	fprintf(stderr, "dgram_echo: %s: %s\n", what, strerror(errno));
	return 1;
}

static int server(uint32_t port, long count)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = port };
	static char buf[65536];
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0)
		return die("socket");
	if (v4v_bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
		return die("bind");
	printf("server: domain %d, port %u\n", v4v_domid(), port);
	fflush(stdout);
	for (long n = 0; count < 0 || n < count;) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;

		/* The descriptor is a real kernel fd: poll works on it. */
		if (poll(&p, 1, -1) < 0)
			return die("poll");
		got = v4v_recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
				   (struct sockaddr *)&from, &flen);
		if (got < 0 && errno == EAGAIN)
			continue;
		if (got < 0)
			return die("recvfrom");
		/* `from` is the source v4vd stamped: it cannot be forged. */
		if (v4v_sendto(fd, buf, (size_t)got, 0,
			       (struct sockaddr *)&from, flen) < 0)
			return die("sendto");
		n++;
	}
	v4v_close(fd);
	return 0;
}

static int client(const char *target, char **msgs, int nmsgs)
{
	struct sockaddr_v4v to, from;
	struct timeval tv = { .tv_sec = 2 };
	char buf[65536];
	int fd = v4v_socket(AF_V4V, SOCK_DGRAM, 0);

	if (fd < 0)
		return die("socket");
	if (v4v_parse_addr(target, &to) < 0)
		return die(target);
	/* Do not wait forever for a reply that may never come. */
	if (v4v_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return die("setsockopt");
	for (int i = 0; i < nmsgs; i++) {
		socklen_t flen = sizeof(from);
		ssize_t got;

		if (v4v_sendto(fd, msgs[i], strlen(msgs[i]), 0,
			       (struct sockaddr *)&to, sizeof(to)) < 0)
			return die("sendto");
		got = v4v_recvfrom(fd, buf, sizeof(buf), 0,
				   (struct sockaddr *)&from, &flen);
		if (got < 0)
			return die("recvfrom");
		printf("%u:%u replied: %.*s\n", from.v4v_domid, from.v4v_port,
		       (int)got, buf);
	}
	v4v_close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		return server((uint32_t)strtoul(argv[2], NULL, 10),
			      argc > 3 ? strtol(argv[3], NULL, 10) : -1);
	if (argc >= 4 && !strcmp(argv[1], "client"))
		return client(argv[2], argv + 3, argc - 3);
	fprintf(stderr, "usage: dgram_echo server PORT [COUNT]\n"
			"       dgram_echo client DOMAIN:PORT MESSAGE...\n");
	return 2;
}
