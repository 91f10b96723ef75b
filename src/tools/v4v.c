/* SPDX-License-Identifier: MIT */
/* v4v: the command-line tool for V4V domains and their hypervisor. */
#include "tool.h"
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static const char usage[] =
"Usage: v4v COMMAND [ARGS]...\n"
"Talk to the V4V hypervisor (v4vd) and move data between domains.\n"
"\n"
"Commands:\n"
"  status [--json]        domains, rings, counters\n"
"  viptables ...          list and change the firewall (see -h)\n"
"  vm add|del NAME ...    declare or remove a QEMU guest's domain (see -h)\n"
"  cat [-u] ...           send or receive data, like ncat (see -h)\n"
"  run [OPTION]... CMD    run an unmodified TCP program as a V4V domain\n"
"  bench [OPTION]...      latency and bandwidth against TCP, UNIX and the\n"
"                         generic path (bench dgram: datagram ping-pong)\n"
"  help [COMMAND]         show help\n"
"\n"
"Environment: V4V_SOCKET is the control socket (default\n"
"  " V4VP_DEFAULT_SOCKET "); V4V_NAME names the domain a command creates.\n"
"Exit status: 0 success, 1 failure, 2 bad usage, 3 hypervisor unreachable.\n";

void tool_err(const char *what, int neg_errno)
{
	int e = -neg_errno;

	fprintf(stderr, "v4v: %s: %s\n", what, strerror(e));
	if (e == ECONNREFUSED && strstr(what, "v4vd"))
		fprintf(stderr, "v4v: is v4vd running? Start it with "
			"'v4vd' or set V4V_SOCKET.\n");
	else if (e == EPERM)
		fprintf(stderr, "v4v: only root or the admin group of v4vd "
			"may do this.\n");
}

struct v4v_ctl *tool_ctl(void)
{
	struct v4v_ctl *c;
	int rc = v4v_ctl_open(NULL, &c);

	if (rc) {
		char what[300];

		snprintf(what, sizeof(what), "cannot reach v4vd at %s",
			 v4v_link_path());
		tool_err(what, rc);
		exit(EXIT_NOHV);
	}
	return c;
}

int tool_list(struct v4v_ctl *c, uint32_t what, void **recs, uint32_t *n)
{
	static uint8_t buf[V4VP_MAX_PACKET];
	struct v4vp_list req = { .what = what };
	size_t rec = v4vp_record_size(what);
	uint8_t *all = NULL;

	*n = 0;
	do {
		struct v4vp_list_reply rep;
		size_t len;
		uint8_t *grown;
		int rc = v4v_ctl_call(c, V4VP_LIST, &req, sizeof(req), buf,
				      sizeof(buf), &len);

		if (rc) {
			free(all);
			return rc;
		}
		memcpy(&rep, buf, sizeof(rep));
		grown = realloc(all, (*n + rep.count) * rec + 1);
		if (!grown) {
			free(all);
			return -ENOMEM;
		}
		all = grown;
		memcpy(all + *n * rec, buf + sizeof(rep), rep.count * rec);
		*n += rep.count;
		req.cursor = rep.next;
	} while (req.cursor);
	*recs = all;
	return 0;
}

int main(int argc, char **argv)
{
	static char help[] = "--help";
	static char *h[4];
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		puts("v4v " V4V_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			fputs(usage, stdout);
			return 0;
		}
		h[0] = argv[0];
		h[1] = argv[2];
		h[2] = help;
		argc = 3;
		argv = h;
		cmd = h[1];
	}
	if (!strcmp(cmd, "status"))
		return cmd_status(argc - 1, argv + 1);
	if (!strcmp(cmd, "viptables"))
		return cmd_viptables(argc - 1, argv + 1);
	if (!strcmp(cmd, "vm"))
		return cmd_vm(argc - 1, argv + 1);
	if (!strcmp(cmd, "cat"))
		return cmd_cat(argc - 1, argv + 1);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "v4v: unknown command '%s'\n"
		"Try 'v4v --help' for the list of commands.\n", cmd);
	return EXIT_USAGE;
}
