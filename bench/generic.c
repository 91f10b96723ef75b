/* SPDX-License-Identifier: MIT */
/*
 * The "generic path" of the V4VSockets paper, rebuilt with Linux parts:
 * two network namespaces (the guests) joined by veth pairs to a Linux
 * bridge in a third (the driver domain), so TCP between them crosses
 * two veth hops and a bridge, as Xen guest traffic crosses netback and
 * the driver domain's bridge.  Link-local addresses: nothing here can be
 * routed off the machine.
 */
#include "sbench.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NS_A "v4vbench-a"
#define NS_B "v4vbench-b"
#define NS_BR "v4vbench-br"
#define ADDR_A "169.254.77.1"
#define ADDR_B "169.254.77.2"

static int sh(const char *cmd)
{
	char full[512];

	snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
	return system(full);
}

void generic_teardown(void)
{
	sh("ip netns del " NS_A);
	sh("ip netns del " NS_B);
	sh("ip netns del " NS_BR);
}

int generic_setup(void)
{
	static const char *const cmds[] = {
		"ip netns add " NS_A,
		"ip netns add " NS_B,
		"ip netns add " NS_BR,
		"ip -n " NS_BR " link add br0 type bridge",
		"ip -n " NS_BR " link add br-a type veth peer name eth0 netns " NS_A,
		"ip -n " NS_BR " link add br-b type veth peer name eth0 netns " NS_B,
		"ip -n " NS_BR " link set br-a master br0",
		"ip -n " NS_BR " link set br-b master br0",
		"ip -n " NS_BR " link set br-a up",
		"ip -n " NS_BR " link set br-b up",
		"ip -n " NS_BR " link set br0 up",
		"ip -n " NS_A " addr add " ADDR_A "/24 dev eth0",
		"ip -n " NS_B " addr add " ADDR_B "/24 dev eth0",
		"ip -n " NS_A " link set eth0 up",
		"ip -n " NS_B " link set eth0 up",
		"ip -n " NS_A " link set lo up",
		"ip -n " NS_B " link set lo up",
		NULL
	};

	generic_teardown(); /* leftovers of an interrupted run */
	for (int i = 0; cmds[i]; i++) {
		if (sh(cmds[i])) {
			fprintf(stderr, "v4v bench: generic path: '%s' failed "
				"(needs root and iproute2)\n", cmds[i]);
			generic_teardown();
			return -1;
		}
	}
	/* Bridge ports without STP forward at once; give the links a
	 * moment anyway (the client also retries its connect). */
	usleep(200000);
	return 0;
}

/* Move the calling process into guest `side` ('a' client, 'b' server). */
int generic_enter(char side)
{
	char path[64];
	int fd, rc;

	snprintf(path, sizeof(path), "/var/run/netns/%s",
		 side == 'a' ? NS_A : NS_B);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

const char *generic_server_addr(void)
{
	return ADDR_B;
}

/*
 * The aggregate benchmark's generic path: every domain in its own
 * namespace (v4vagg-d0, v4vagg-d1, ...) with one veth into a bridge in
 * v4vagg-br, addresses 169.254.78.(N+1).
 */
#define AGG_NS "v4vagg-d"
#define AGG_BR "v4vagg-br"

void generic_multi_teardown(int ndom)
{
	char cmd[64];

	for (int i = 0; i < ndom; i++) {
		snprintf(cmd, sizeof(cmd), "ip netns del " AGG_NS "%d", i);
		sh(cmd);
	}
	sh("ip netns del " AGG_BR);
}

int generic_multi_setup(int ndom)
{
	char path[] = "/tmp/v4vagg-ip.XXXXXX", cmd[128];
	int fd, rc;
	FILE *f;

	if (ndom < 1 || ndom > 250)
		return -1;
	generic_multi_teardown(ndom);
	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		return -1;
	fprintf(f, "set -e\nip netns add " AGG_BR "\n"
		   "ip -n " AGG_BR " link add br0 type bridge\n"
		   "ip -n " AGG_BR " link set br0 up\n");
	for (int i = 0; i < ndom; i++)
		fprintf(f, "ip netns add " AGG_NS "%d\n"
			   "ip -n " AGG_BR " link add p%d type veth peer name "
			   "eth0 netns " AGG_NS "%d\n"
			   "ip -n " AGG_BR " link set p%d master br0 up\n"
			   "ip -n " AGG_NS "%d addr add 169.254.78.%d/24 dev "
			   "eth0\n"
			   "ip -n " AGG_NS "%d link set eth0 up\n"
			   "ip -n " AGG_NS "%d link set lo up\n",
			i, i, i, i, i, i + 1, i, i);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh %s", path);
	rc = sh(cmd);
	unlink(path);
	if (rc) {
		fprintf(stderr, "v4v bench: generic path for %d domains: "
			"'ip' failed (needs root and iproute2)\n", ndom);
		generic_multi_teardown(ndom);
		return -1;
	}
	usleep(200000);
	return 0;
}

int generic_multi_enter(int dom)
{
	char path[64];
	int fd, rc;

	snprintf(path, sizeof(path), "/var/run/netns/" AGG_NS "%d", dom);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = setns(fd, CLONE_NEWNET);
	close(fd);
	return rc;
}

void generic_multi_addr(int dom, char *buf, size_t len)
{
	snprintf(buf, len, "169.254.78.%d", dom + 1);
}
