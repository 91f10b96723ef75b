/* SPDX-License-Identifier: MIT */
/*
 * Domains with no network at all: each in its own network namespace, with
 * nothing but a loopback that is down.  The control socket is a path in
 * the file system, which network namespaces do not partition, so V4V is
 * the only way these two processes can talk, and it works.
 */
#include "harness.h"
#include "../unit/t.h"
#include "v4v/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static struct hv_proc hv;

#define SA(a) ((struct sockaddr *)&(a))
#define EXPECT(cond, code) do { if (!(cond)) return (code); } while (0)

#define ROUNDS 1000
#define SERVER_PORT 80
/* unshare refused: the test cannot run here. */
#define NO_NETNS 77

static struct sockaddr_v4v addr(v4v_domid_t d, uint32_t port)
{
	struct sockaddr_v4v a = { .v4v_family = AF_V4V, .v4v_domid = d,
				  .v4v_port = port };
	return a;
}

static uint32_t netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (uint32_t)st.st_ino;
}

/* Leave the host's network before the first V4V call.  The namespace
 * inode goes to the test so it can check that all of them differ. */
static int isolate(struct gate *ns)
{
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_port = htons(9) };
	int fd;

	if (unshare(CLONE_NEWNET)) {
		gate_open(ns, 0);
		return errno == EPERM ? NO_NETNS : 50;
	}
	gate_open(ns, netns_ino());
	/* No network: not even loopback. */
	lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT(fd >= 0, 51);
	EXPECT(connect(fd, (struct sockaddr *)&lo, sizeof(lo)) < 0, 52);
	EXPECT(errno == ENETUNREACH || errno == EADDRNOTAVAIL, 53);
	close(fd);
	return 0;
}

struct pair {
	struct gate ns_a, ns_b;
	struct gate ready;	/* server -> client: the server's domid */
	struct gate client;	/* client -> server: the client's domid */
};

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 2654435761u + i * 7);
}

static int server(void *arg)
{
	struct pair *p = arg;
	struct sockaddr_v4v me = addr(V4V_DOMID_ANY, SERVER_PORT);
	static uint8_t buf[65536];
	struct timeval tv = { 10, 0 };
	uint32_t client;
	int fd, rc = isolate(&p->ns_a);

	fd = rc ? -1 : v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	if (fd < 0 || v4v_bind(fd, SA(me), sizeof(me))) {
		/* Do not leave the client waiting for us. */
		gate_open(&p->ready, V4V_DOMID_INVALID);
		return rc ? rc : 1;
	}
	v4v_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	gate_open(&p->ready, (uint32_t)v4v_domid());
	client = gate_wait(&p->client);
	EXPECT(client <= V4V_DOMID_MAX, 5);
	for (int i = 0; i < ROUNDS; i++) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		ssize_t n = v4v_recvfrom(fd, buf, sizeof(buf), 0, SA(from),
					 &flen);

		EXPECT(n >= 0, 2);
		EXPECT(from.v4v_domid == client, 3);
		EXPECT(v4v_sendto(fd, buf, (size_t)n, 0, SA(from), flen) == n,
		       4);
	}
	return 0;
}

static int client(void *arg)
{
	struct pair *p = arg;
	static uint8_t out[65536], in[65536];
	struct timeval tv = { 10, 0 };
	struct sockaddr_v4v to;
	int fd, rc = isolate(&p->ns_b);

	fd = rc ? -1 : v4v_socket(AF_V4V, SOCK_DGRAM, 0);
	gate_open(&p->client, fd < 0 ? V4V_DOMID_INVALID
				     : (uint32_t)v4v_domid());
	if (fd < 0)
		return rc ? rc : 10;
	v4v_setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	to = addr((v4v_domid_t)gate_wait(&p->ready), SERVER_PORT);
	for (int i = 0; i < ROUNDS; i++) {
		size_t len = (size_t)(i * 4099) % 60000;
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);

		fill(out, len, (uint32_t)i);
		EXPECT(v4v_sendto(fd, out, len, 0, SA(to), sizeof(to)) ==
		       (ssize_t)len, 11);
		EXPECT(v4v_recvfrom(fd, in, sizeof(in), 0, SA(from), &flen) ==
		       (ssize_t)len, 12);
		EXPECT(!memcmp(in, out, len), 13);
		EXPECT(from.v4v_domid == to.v4v_domid &&
		       from.v4v_port == SERVER_PORT, 14);
	}
	return 0;
}

static int probe(void *arg)
{
	(void)arg;
	if (unshare(CLONE_NEWNET))
		return errno == EPERM ? NO_NETNS : 1;
	return 0;
}

static void test_two_namespaces(void)
{
	struct pair p;
	pid_t s, c;
	uint32_t ns_a, ns_b, here = netns_ino();
	int rs, rc;

	gate_init(&p.ns_a);
	gate_init(&p.ns_b);
	gate_init(&p.ready);
	gate_init(&p.client);
	s = dom_spawn(server, &p);
	c = dom_spawn(client, &p);
	ns_a = gate_wait(&p.ns_a);
	ns_b = gate_wait(&p.ns_b);
	rc = dom_wait(c);
	rs = dom_wait(s);
	CHECK_EQ(rc, 0);
	CHECK_EQ(rs, 0);
	/* Three different network namespaces: ours and one each. */
	CHECK(ns_a != 0 && ns_b != 0 && here != 0);
	CHECK(ns_a != here && ns_b != here && ns_a != ns_b);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		{ "two_namespaces", test_two_namespaces },
		{ 0 }
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (dom_wait(dom_spawn(probe, NULL)) == NO_NETNS) {
		printf("skip: unshare(CLONE_NEWNET) is not permitted here\n");
		return T_SKIP;
	}
	hv_watchdog(&hv, 120);
	hv_start(&hv, NULL);
	rc = t_run(cases, argc, argv);
	CHECK(hv_alive(&hv));
	CHECK_EQ(hv_stop(&hv), 0);
	return rc || t_failed;
}
