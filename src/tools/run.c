/* SPDX-License-Identifier: MIT */
/*
 * v4v run: start a program as a V4V domain with the interposer, so that
 * its TCP connections to other V4V domains of this machine go over V4V.
 * v4v run creates the domain, declares its addresses, and stays as the
 * program's parent: the domain lives as long as the process tree does.
 */
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "v4v/socket.h"
#include "proto/proto.h"

#define EXIT_RUN 125	/* v4v run itself failed (as env(1) says) */

static const char usage[] =
"Usage: v4v run [OPTION]... [--] COMMAND [ARG]...\n"
"Run COMMAND as a V4V domain.  Its TCP connections to programs of other\n"
"V4V domains on this machine go over V4V; all other traffic (other hosts,\n"
"programs outside V4V) stays on the kernel's TCP/IP.  Its TCP listeners\n"
"take both.\n"
"\n"
"  -d, --domain NAME    name the domain (v4v status shows it)\n"
"  -a, --addr ADDR      declare the IPv4 or IPv6 address ADDR: domains of\n"
"                       other network namespaces reach this one's\n"
"                       listeners there (repeatable)\n"
"  -n, --no-netns-addrs do not declare the addresses of this network\n"
"                       namespace's interfaces (declared by default)\n"
"  -v, --debug          log each socket's route to stderr (V4V_DEBUG=1)\n"
"  -h, --help           show this help\n"
"\n"
"Environment: V4V_SOCKET (the hypervisor), V4V_PRELOAD_LIB (the\n"
"interposer's path, found next to v4v otherwise).\n"
"Exit status: COMMAND's; 128+N if it died of signal N; 3 if v4vd cannot\n"
"be reached; 125 if v4v run failed; 126 if COMMAND cannot be run; 127 if\n"
"it is not found.\n";

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static bool readable(const char *path)
{
	return path && access(path, R_OK) == 0;
}

/* The interposer: $V4V_PRELOAD_LIB, else beside this binary in a build
 * tree, else where it was installed. */
static const char *find_preload(void)
{
	static char path[PATH_MAX + 64];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *env = getenv("V4V_PRELOAD_LIB");
	char *slash;

	if (env && env[0])
		return readable(env) ? env : NULL;
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path),
				 "%s/../preload/libv4v-preload.so", self);
			if (readable(path))
				return path;
		}
	}
	return readable(V4V_PRELOAD_PATH) ? V4V_PRELOAD_PATH : NULL;
}

static int declare(const char *text)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	int rc;

	if (inet_pton(AF_INET, text, &in.sin_addr) == 1)
		rc = v4v_declare_addr((struct sockaddr *)&in, sizeof(in));
	else if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1)
		rc = v4v_declare_addr((struct sockaddr *)&in6, sizeof(in6));
	else {
		fprintf(stderr, "v4v run: '%s' is not an IPv4 or IPv6 "
			"address\n", text);
		return EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "v4v run: cannot declare %s: %s\n", text,
			errno == EADDRINUSE
				? "a domain of another network namespace has it"
				: strerror(errno));
		return EXIT_RUN;
	}
	return 0;
}

/* Export what the program's interposer needs; the capability makes the
 * whole process tree one domain. */
static int prepare_env(const char *lib, bool debug)
{
	const char *old = getenv("LD_PRELOAD");
	char num[16], *pre;
	int cap = v4v_link_cap(), mine;

	if (cap < 0)
		return cap;
	mine = fcntl(cap, F_DUPFD, 3); /* without FD_CLOEXEC */
	if (mine < 0)
		return -errno;
	snprintf(num, sizeof(num), "%d", mine);
	if (asprintf(&pre, "%s%s%s", lib, old && old[0] ? ":" : "",
		     old ? old : "") < 0)
		return -ENOMEM;
	setenv("LD_PRELOAD", pre, 1);
	free(pre);
	setenv("V4V_CAP_FD", num, 1);
	setenv("V4V_DECLARED", "1", 1);
	if (debug)
		setenv("V4V_DEBUG", "1", 1);
	return mine;
}

static int wait_child(void)
{
	int st;

	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return EXIT_RUN;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int launch(char **argv, int cap)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], forward);
	child = fork();
	if (child < 0) {
		perror("v4v run: fork");
		return EXIT_RUN;
	}
	if (child == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "v4v run: cannot run '%s': %s\n", argv[0],
			strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(cap);
	return wait_child();
}

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "addr", required_argument, NULL, 'a' },
		{ "no-netns-addrs", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 } };
	const char *addrs[V4VP_INET_MAX_ADDRS];
	bool netns = true, debug = false;
	struct v4v_link_info info;
	int naddrs = 0, c, rc, cap;
	const char *lib;

	while ((c = getopt_long(argc, argv, "+d:a:nvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			setenv("V4V_NAME", optarg, 1);
			break;
		case 'a':
			if (naddrs == (int)V4VP_INET_MAX_ADDRS) {
				fprintf(stderr, "v4v run: at most %u "
					"addresses\n", V4VP_INET_MAX_ADDRS);
				return EXIT_USAGE;
			}
			addrs[naddrs++] = optarg;
			break;
		case 'n':
			netns = false;
			break;
		case 'v':
			debug = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "v4v run: no command given\n%s", usage);
		return EXIT_USAGE;
	}
	lib = find_preload();
	if (!lib) {
		fprintf(stderr, "v4v run: cannot find libv4v-preload.so; set "
			"V4V_PRELOAD_LIB to its path\n");
		return EXIT_RUN;
	}
	rc = v4v_link_info(&info);
	if (rc) {
		tool_err(rc == -EADDRINUSE ? "domain name already in use"
					   : "cannot reach v4vd", rc);
		return rc == -EADDRINUSE ? EXIT_RUN : EXIT_NOHV;
	}
	for (int i = 0; i < naddrs; i++) {
		rc = declare(addrs[i]);
		if (rc)
			return rc;
	}
	if (netns)
		v4v_declare_netns();
	cap = prepare_env(lib, debug);
	if (cap < 0) {
		tool_err("run", cap);
		return EXIT_RUN;
	}
	return launch(argv + optind, cap);
}
