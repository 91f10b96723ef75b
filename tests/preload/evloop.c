/* SPDX-License-Identifier: MIT */
/*
 * An event-driven echo server and its clients, in plain sockets code, for
 * the interposer's polling waits (src/preload/wait.c): run under `v4v
 * run` with polling on and off, and over TCP, every mode must echo every
 * byte, and nothing may be reported that is not there or be lost.
 *
 *   evloop PORT MODE CLIENTS ROUNDS
 *
 * MODE: epoll-lt, epoll-et (the server reads and writes until EAGAIN and
 * must still see every request), poll or select.  The server (a child process)
 * serves CLIENTS connections at once; each client (a thread of the parent)
 * sends ROUNDS requests of varying size and checks each echo, waiting for
 * it with poll.  A lost wake-up hangs a run (the alarm fails it); a stale
 * one shows as a read that finds nothing, counted and allowed only up to
 * a tenth of the wake-ups.  Exit 0 if all is well.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>

#define MAXC 64
#define MAXMSG 20000

static int port, nclients, rounds;
static const char *mode;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static struct sockaddr_in here(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* ---- the server ---- */

struct conn {
	int fd;
	char buf[MAXMSG];
	size_t have;		/* read, not yet echoed */
};

static long stale, wakeups;

/* Read what there is and echo it back; returns -1 when the client has
 * gone.  Edge-triggered: until EAGAIN, both ways. */
static int serve(struct conn *c)
{
	bool got = false;

	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->have,
				 sizeof(c->buf) - c->have, 0);

		if (n == 0)
			return -1;
		if (n < 0) {
			if (errno != EAGAIN)
				return -1;
			break;
		}
		got = true;
		c->have += (size_t)n;
		while (c->have) {
			ssize_t w = send(c->fd, c->buf, c->have, MSG_NOSIGNAL);

			if (w < 0) {
				if (errno != EAGAIN)
					return -1;
				/* The client reads all its echo before it
				 * sends more: room comes; wait for it. */
				struct pollfd p = { c->fd, POLLOUT, 0 };

				poll(&p, 1, 1000);
				continue;
			}
			memmove(c->buf, c->buf + w, c->have - (size_t)w);
			c->have -= (size_t)w;
		}
		if (strcmp(mode, "epoll-et"))
			break; /* level-triggered: one read per wake-up */
	}
	wakeups++;
	if (!got)
		stale++;
	return 0;
}

static void serve_epoll(int l, bool et)
{
	struct conn *cs = calloc(MAXC, sizeof(*cs));
	struct epoll_event ev = { .events = EPOLLIN }, evs[16];
	int ep = epoll_create1(0), accepted = 0, open = 0;

	if (ep < 0 || !cs)
		die("epoll_create1");
	ev.data.u32 = MAXC;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	while (accepted < nclients || open) {
		int n = epoll_wait(ep, evs, 16, 10000);

		if (n <= 0)
			die(n ? "epoll_wait" : "epoll_wait: nothing for 10 s");
		for (int i = 0; i < n; i++) {
			uint32_t k = evs[i].data.u32;

			if (k == MAXC) {
				int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);

				if (fd < 0)
					continue;
				cs[accepted].fd = fd;
				ev.events = EPOLLIN | (et ? EPOLLET : 0);
				ev.data.u32 = (uint32_t)accepted++;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				open++;
				continue;
			}
			if (serve(&cs[k]) < 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, cs[k].fd, NULL);
				close(cs[k].fd);
				open--;
			}
		}
	}
}

static void serve_poll(int l)
{
	struct pollfd ps[MAXC + 1];
	struct conn *cs = calloc(MAXC, sizeof(*cs));
	int accepted = 0, open = 0;

	ps[0] = (struct pollfd){ l, POLLIN, 0 };
	while (accepted < nclients || open) {
		int n = poll(ps, (nfds_t)accepted + 1, 10000);

		if (n <= 0)
			die(n ? "poll" : "poll: nothing for 10 s");
		if (ps[0].revents & POLLIN) {
			int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);

			if (fd >= 0) {
				cs[accepted].fd = fd;
				ps[++accepted] = (struct pollfd){ fd, POLLIN, 0 };
				open++;
			}
		}
		for (int i = 1; i <= accepted; i++) {
			if (!(ps[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (serve(&cs[i - 1]) < 0) {
				close(cs[i - 1].fd);
				ps[i].fd = -1;
				open--;
			}
		}
	}
}

static void serve_select(int l)
{
	struct conn *cs = calloc(MAXC, sizeof(*cs));
	int accepted = 0, open = 0, top = l;

	while (accepted < nclients || open) {
		struct timeval tv = { 10, 0 };
		fd_set r;
		int n;

		FD_ZERO(&r);
		FD_SET(l, &r);
		for (int i = 0; i < accepted; i++)
			if (cs[i].fd >= 0)
				FD_SET(cs[i].fd, &r);
		n = select(top + 1, &r, NULL, NULL, &tv);
		if (n <= 0)
			die(n ? "select" : "select: nothing for 10 s");
		if (FD_ISSET(l, &r)) {
			int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);

			if (fd >= 0 && fd < FD_SETSIZE) {
				cs[accepted++].fd = fd;
				top = fd > top ? fd : top;
				open++;
			}
		}
		for (int i = 0; i < accepted; i++) {
			if (cs[i].fd < 0 || !FD_ISSET(cs[i].fd, &r))
				continue;
			if (serve(&cs[i]) < 0) {
				close(cs[i].fd);
				cs[i].fd = -1;
				open--;
			}
		}
	}
}

static int server(int l)
{
	if (!strcmp(mode, "select"))
		serve_select(l);
	else if (!strcmp(mode, "poll"))
		serve_poll(l);
	else
		serve_epoll(l, !strcmp(mode, "epoll-et"));
	printf("server: %ld wake-ups, %ld found nothing\n", wakeups, stale);
	fflush(stdout); /* the child ends with _exit */
	return stale * 10 > wakeups ? 2 : 0;
}

/* ---- the clients ---- */

static void *client(void *arg)
{
	struct sockaddr_in a = here();
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	static __thread char out[MAXMSG], in[MAXMSG];
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	nonblock(fd);
	for (int r = 0; r < rounds; r++) {
		size_t len = 1 + rand_r(&seed) % (r % 16 ? 200 : MAXMSG);
		size_t sent = 0, got = 0;

		for (size_t i = 0; i < len; i++)
			out[i] = (char)rand_r(&seed);
		while (got < len) {
			struct pollfd p = { fd, POLLIN, 0 };
			ssize_t n;

			if (sent < len) {
				n = send(fd, out + sent, len - sent,
					 MSG_NOSIGNAL);
				if (n > 0)
					sent += (size_t)n;
				else if (errno != EAGAIN)
					die("send");
				p.events |= sent < len ? POLLOUT : 0;
			}
			if (poll(&p, 1, 10000) != 1)
				die("client poll: nothing for 10 s");
			n = recv(fd, in + got, len - got, 0);
			if (n > 0)
				got += (size_t)n;
			else if (n == 0 || errno != EAGAIN)
				die("recv");
		}
		if (memcmp(in, out, len)) {
			fprintf(stderr, "client %d: round %d: echo differs\n",
				(int)(uintptr_t)arg, r);
			exit(3);
		}
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	pthread_t t[MAXC];
	int l, one = 1, st;
	pid_t pid;

	if (argc != 5)
		return fprintf(stderr, "usage: evloop PORT MODE CLIENTS "
			       "ROUNDS\n"), 2;
	port = atoi(argv[1]);
	mode = argv[2];
	nclients = atoi(argv[3]);
	rounds = atoi(argv[4]);
	if (nclients < 1 || nclients > MAXC || rounds < 1 ||
	    (strcmp(mode, "poll") && strcmp(mode, "epoll-lt") &&
	     strcmp(mode, "epoll-et") && strcmp(mode, "select")))
		return fprintf(stderr, "evloop: bad arguments\n"), 2;
	alarm(120);
	a = here();
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, MAXC))
		die("listen");
	nonblock(l);
	pid = fork();
	if (pid == 0)
		_exit(server(l));
	close(l);
	for (int i = 0; i < nclients; i++)
		pthread_create(&t[i], NULL, client, (void *)(uintptr_t)i);
	for (int i = 0; i < nclients; i++)
		pthread_join(t[i], NULL);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return fprintf(stderr, "evloop: the server died\n"), 1;
	printf("%s: %d clients x %d rounds echoed\n", mode, nclients, rounds);
	return WEXITSTATUS(st);
}
