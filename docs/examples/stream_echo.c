/* SPDX-License-Identifier: MIT */
/*
 * stream_echo: a V4V stream echo server and its client, with libv4v.
 *
 *   stream_echo server PORT [COUNT]  serve COUNT connections (default:
 *                                    forever), one at a time: send back
 *                                    every byte until the client's end
 *   stream_echo client DOMAIN:PORT MESSAGE...
 *                                    send the MESSAGEs (one per line), end
 *                                    the sending side, print the echo
 *
 * Each process is its own domain; set V4V_NAME=echo for the server so the
 * client can say "echo:7".  Build and run: see docs/api.md.
 */
#include <v4v/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
	fprintf(stderr, "stream_echo: %s: %s\n", what, strerror(errno));
	return 1;
}

/* A stream send may be partial: send until everything is gone. */
static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		/* MSG_NOSIGNAL: a peer that went away gives EPIPE, not
		 * SIGPIPE. */
		ssize_t n = v4v_send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int server(uint32_t port, long count)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = port };
	static char buf[65536];
	int lfd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (lfd < 0)
		return die("socket");
	/* bind only records the port of a stream socket; listen registers
	 * the listener's ring, sized from the backlog. */
	if (v4v_bind(lfd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    v4v_listen(lfd, 16) < 0)
		return die("listen");
	printf("server: domain %d, port %u\n", v4v_domid(), port);
	fflush(stdout);
	for (long n = 0; count < 0 || n < count; n++) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		long total = 0;
		ssize_t got;
		int fd = v4v_accept(lfd, (struct sockaddr *)&from, &flen);

		if (fd < 0)
			return die("accept");
		/* 0 is the client's end of file: it shut down its side. */
		while ((got = v4v_recv(fd, buf, sizeof(buf), 0)) > 0) {
			if (send_all(fd, buf, (size_t)got) < 0)
				break;
			total += got;
		}
		if (got < 0)
			perror("stream_echo: recv");
		printf("server: %ld bytes echoed to %u:%u\n", total,
		       from.v4v_domid, from.v4v_port);
		fflush(stdout);
		/* The client then reads end of file. */
		v4v_close(fd);
	}
	v4v_close(lfd);
	return 0;
}

static int client(const char *target, char **msgs, int nmsgs)
{
	struct sockaddr_v4v to;
	char buf[4096];
	ssize_t got;
	int fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0)
		return die("socket");
	if (v4v_parse_addr(target, &to) < 0)
		return die(target);
	/* Returns once the request is in the server's backlog; the first
	 * send waits for accept if it has to. */
	if (v4v_connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		return die("connect");
	for (int i = 0; i < nmsgs; i++)
		if (send_all(fd, msgs[i], strlen(msgs[i])) < 0 ||
		    send_all(fd, "\n", 1) < 0)
			return die("send");
	/* Half-close: the server sees end of file once it has read all of
	 * this; we can still read its echo. */
	if (v4v_shutdown(fd, SHUT_WR) < 0)
		return die("shutdown");
	while ((got = v4v_recv(fd, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, (size_t)got, stdout);
	if (got < 0)
		return die("recv");
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
	fprintf(stderr, "usage: stream_echo server PORT [COUNT]\n"
			"       stream_echo client DOMAIN:PORT MESSAGE...\n");
	return 2;
}
