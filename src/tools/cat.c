/* SPDX-License-Identifier: MIT */
/* v4v cat: datagrams between standard streams and V4V, like ncat -u. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "v4v/socket.h"

static const char usage[] =
"Usage: v4v cat [-u] -l PORT [-c COUNT] [-v] [-n NAME]\n"
"       v4v cat [-u] DOMAIN:PORT [-n NAME]\n"
"Like ncat, over V4V.  DOMAIN is a domid or a domain name.\n"
"Streams (default): with -l, accept one connection on PORT; otherwise\n"
"connect to DOMAIN:PORT.  Standard input goes to the peer, the peer's data\n"
"to standard output; at the end of input the sending side is shut down,\n"
"and the command ends when the peer ends its side.\n"
"Datagrams (-u): with -l, write the payload of each datagram received on\n"
"PORT to standard output; otherwise send each line of input as one\n"
"datagram.\n"
"\n"
"  -u          datagrams instead of a stream\n"
"  -l PORT     listen on PORT of this domain\n"
"  -c COUNT    with -u -l: exit after receiving COUNT datagrams\n"
"  -v          report addresses (and datagram sizes) on stderr\n"
"  -n NAME     name this domain NAME (so that peers can address it)\n";

struct cat_args {
	bool udp, verbose;
	long listen_port;
	long count;
	const char *target;
};

static int parse(int argc, char **argv, struct cat_args *a)
{
	char *end;
	int o;

	memset(a, 0, sizeof(*a));
	a->listen_port = -1;
	a->count = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
	}
	optind = 1;
	while ((o = getopt(argc, argv, "ul:c:vn:h")) != -1) {
		switch (o) {
		case 'u': a->udp = true; break;
		case 'v': a->verbose = true; break;
		case 'n': setenv("V4V_NAME", optarg, 1); break;
		case 'l':
			a->listen_port = strtol(optarg, &end, 10);
			if (*end || !optarg[0] || a->listen_port < 0 ||
			    a->listen_port > UINT32_MAX) {
				fprintf(stderr, "v4v cat: bad port '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			a->count = strtol(optarg, &end, 10);
			if (*end || !optarg[0] || a->count < 1) {
				fprintf(stderr, "v4v cat: bad count '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': fputs(usage, stdout); exit(0);
		default: fputs(usage, stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc)
		a->target = argv[optind++];
	if (optind < argc || (a->listen_port < 0) == !a->target) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int cat_open(int type)
{
	int fd = v4v_socket(AF_V4V, type, 0);
	const char *name = getenv("V4V_NAME");

	if (fd >= 0)
		return fd;
	if (errno == EADDRINUSE || errno == EINVAL) {
		fprintf(stderr, "v4v cat: cannot name this domain '%s': %s\n",
			name ? name : "", errno == EADDRINUSE
				? "another domain has that name"
				: "names are 1-31 of [A-Za-z0-9_.-], not "
				  "starting with a digit or '-'");
		exit(EXIT_USAGE);
	}
	char what[300];

	snprintf(what, sizeof(what), "cannot reach v4vd at %s",
		 v4v_link_path());
	tool_err(what, -errno);
	exit(EXIT_NOHV);
}

static int receive(const struct cat_args *a)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY,
				   .v4v_port = (uint32_t)a->listen_port };
	static char buf[65536];
	int fd = cat_open(SOCK_DGRAM);

	if (v4v_bind(fd, (struct sockaddr *)&me, sizeof(me))) {
		tool_err("bind", -errno);
		return 1;
	}
	if (a->verbose) {
		socklen_t len = sizeof(me);

		v4v_getsockname(fd, (struct sockaddr *)&me, &len);
		fprintf(stderr, "v4v cat: listening on %u:%u\n",
			me.v4v_domid, me.v4v_port);
	}
	for (long n = 0; a->count < 0 || n < a->count; n++) {
		struct sockaddr_v4v from;
		socklen_t flen = sizeof(from);
		ssize_t got = v4v_recvfrom(fd, buf, sizeof(buf), 0,
					   (struct sockaddr *)&from, &flen);

		if (got < 0) {
			tool_err("receive", -errno);
			return 1;
		}
		if (a->verbose)
			fprintf(stderr, "v4v cat: %zd bytes from %u:%u\n", got,
				from.v4v_domid, from.v4v_port);
		if (fwrite(buf, 1, (size_t)got, stdout) != (size_t)got ||
		    fflush(stdout)) {
			tool_err("write", -errno);
			return 1;
		}
	}
	v4v_close(fd);
	return 0;
}

static int transmit(const struct cat_args *a)
{
	struct sockaddr_v4v to;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int fd = cat_open(SOCK_DGRAM), rc = 0;

	if (v4v_parse_addr(a->target, &to)) {
		fprintf(stderr, "v4v cat: bad address '%s': %s\n", a->target,
			errno == ENOENT ? "no domain of that name"
					: "expected DOMAIN:PORT");
		return EXIT_USAGE;
	}
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (v4v_sendto(fd, line, (size_t)len, 0, (struct sockaddr *)&to,
			       sizeof(to)) < 0) {
			int e = errno;

			tool_err(a->target, -e);
			if (e == ECONNREFUSED)
				fprintf(stderr, "v4v cat: nothing listens "
					"there, or viptables rejected it\n");
			rc = 1;
			break;
		}
	}
	free(line);
	v4v_close(fd);
	return rc;
}

int cmd_cat(int argc, char **argv)
{
	struct sockaddr_v4v to;
	struct cat_args a;
	int rc = parse(argc, argv, &a);

	if (rc)
		return rc;
	if (a.udp)
		return a.target ? transmit(&a) : receive(&a);
	if (!a.target)
		return cat_stream_listen((uint32_t)a.listen_port, a.verbose);
	if (v4v_parse_addr(a.target, &to)) {
		fprintf(stderr, "v4v cat: bad address '%s': %s\n", a.target,
			errno == ENOENT ? "no domain of that name"
					: "expected DOMAIN:PORT");
		return EXIT_USAGE;
	}
	return cat_stream_connect(&to);
}
