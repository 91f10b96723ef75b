/* SPDX-License-Identifier: MIT */
/*
 * One server domain holding 1000 concurrent stream connections from a
 * client domain, each echoing its own checksummed byte stream through an
 * epoll loop: nothing lost, nothing reordered, no connection stalls
 * another.  Reports the memory each party used.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#define NCONN 1000
#define BYTES_PER_CONN 20000
#define RING 16384

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))

static void more_fds(void)
{
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static uint8_t cbyte(int conn, uint64_t i)
{
	return (uint8_t)(conn * 131 + i * 7 + (i >> 9));
}

struct shared {
	struct gate ready, done;
};

/* Echo every connection with one epoll loop, until all have closed. */
static int server(void *arg)
{
	struct shared *sh = arg;
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = 500 };
	int ring = RING, l, ep, open_conns = 0, accepted = 0;
	bool reported = false;
	static char buf[8192];

	more_fds();
	l = v4v_socket(AF_V4V, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (l < 0 || v4v_setsockopt(l, SOL_SOCKET, SO_RCVBUF, &ring,
				    sizeof(ring)) ||
	    v4v_bind(l, SA(me), sizeof(me)) || v4v_listen(l, 1024))
		return 10;
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &(struct epoll_event){
		.events = EPOLLIN, .data.fd = l });
	gate_open(&sh->ready, (uint32_t)v4v_domid());
	while (accepted < NCONN || open_conns) {
		struct epoll_event ev[64];
		int n = epoll_wait(ep, ev, 64, 10000);

		if (n <= 0)
			return 11; /* stalled for 10 s */
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			ssize_t k;

			if (fd == l) {
				int c;

				while ((c = v4v_accept4(l, NULL, NULL,
							SOCK_NONBLOCK)) >= 0) {
					epoll_ctl(ep, EPOLL_CTL_ADD, c,
						  &(struct epoll_event){
							  .events = EPOLLIN,
							  .data.fd = c });
					accepted++;
					open_conns++;
				}
				continue;
			}
			while ((k = v4v_recv(fd, buf, sizeof(buf), 0)) > 0) {
				/* Small echoes: the client reads as it writes,
				 * so a blocking send completes. */
				int fl = fcntl(fd, F_GETFL);

				fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
				if (v4v_send(fd, buf, (size_t)k, 0) != k)
					return 12;
				fcntl(fd, F_SETFL, fl);
			}
			if (k == 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				v4v_close(fd);
				open_conns--;
			} else if (errno != EAGAIN) {
				return 13;
			}
		}
		if (accepted == NCONN && open_conns == NCONN && !reported &&
		    (reported = true))
			fprintf(stderr, "conns: server holds %d connections, "
				"RSS %ld KiB, %d fds\n", open_conns,
				proc_rss_kb(getpid()), proc_fds(getpid()));
	}
	return 0;
}

static int client(void *arg)
{
	struct shared *sh = arg;
	struct sockaddr_v4v to = { .v4v_family = AF_V4V, .v4v_port = 500 };
	static int fds[NCONN];
	static uint64_t sent[NCONN], got[NCONN];
	int ring = RING;
	char buf[4096];

	more_fds();
	to.v4v_domid = (v4v_domid_t)gate_wait(&sh->ready);
	for (int i = 0; i < NCONN; i++) {
		fds[i] = v4v_socket(AF_V4V, SOCK_STREAM, 0);
		if (fds[i] < 0 ||
		    v4v_setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &ring,
				   sizeof(ring)) ||
		    v4v_connect(fds[i], SA(to), sizeof(to)))
			return 20;
	}
	fprintf(stderr, "conns: client holds %d connections, RSS %ld KiB, "
		"%d fds; v4vd RSS %ld KiB, %d fds\n", NCONN,
		proc_rss_kb(getpid()), proc_fds(getpid()),
		proc_rss_kb(hv.pid), proc_fds(hv.pid));
	/* Round-robin: every connection advances a little each round. */
	for (int round = 0; round < BYTES_PER_CONN / 500; round++) {
		for (int i = 0; i < NCONN; i++) {
			size_t n = 500;

			for (size_t k = 0; k < n; k++)
				buf[k] = (char)cbyte(i, sent[i] + k);
			if (v4v_send(fds[i], buf, n, 0) != (ssize_t)n)
				return 21;
			sent[i] += n;
			while (got[i] < sent[i]) {
				ssize_t k = v4v_recv(fds[i], buf, sizeof(buf),
						     0);

				if (k <= 0)
					return 22;
				for (ssize_t j = 0; j < k; j++)
					if ((uint8_t)buf[j] !=
					    cbyte(i, got[i] + (uint64_t)j))
						return 23;
				got[i] += (uint64_t)k;
			}
		}
	}
	for (int i = 0; i < NCONN; i++)
		v4v_close(fds[i]);
	/* Closing a connection asks v4vd nothing: the doorbells' hang-up
	 * alone ends the rings, at once and while we live (only the
	 * server's listener may be left). */
	for (int i = 0; i < 500; i++) {
		struct v4vp_rec_hv h;

		if (hv_counters(&h) && h.nrings <= 1)
			return 0;
		usleep(10000);
	}
	return 24;
}

static void test_thousand(void)
{
	struct shared sh;
	uint64_t t0 = now_ns();
	pid_t s, c;

	gate_init(&sh.ready);
	s = dom_spawn(server, &sh);
	c = dom_spawn(client, &sh);
	CHECK_EQ(dom_wait(c), 0);
	CHECK_EQ(dom_wait(s), 0);
	fprintf(stderr, "conns: %d connections x %d bytes echoed in %.2f s\n",
		NCONN, BYTES_PER_CONN, (double)(now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "thousand", test_thousand },
		{ 0 }
	};
	int rc;

	hv_start(&hv, NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
