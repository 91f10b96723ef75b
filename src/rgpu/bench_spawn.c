/* SPDX-License-Identifier: MIT */
/*
 * rgpu-bench's own server: rgpu-server started as a child, in a domain of
 * its own, on V4V and on an ephemeral TCP port; it says where it listens
 * on a pipe once ready.
 */
#include "rgpu/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t server_pid = -1;
static char server_log[64];

/* rgpu-server next to this program, unless told otherwise. */
static const char *server_path(const struct bench_cfg *cfg, char *buf,
			       size_t sz)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (cfg->server_bin)
		return cfg->server_bin;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return "rgpu-server";
	self[n] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	if ((size_t)snprintf(buf, sz, "%.*s/rgpu-server", (int)(sz - 16),
			     self) >= sz)
		return "rgpu-server";
	return buf;
}

static void exec_server(const struct bench_cfg *cfg, const char *bin, int wfd)
{
	char fd[16], chunk[32], staging[16], name[32];
	const char *argv[24];
	int n = 0, logfd;

	snprintf(fd, sizeof(fd), "%d", wfd);
	snprintf(chunk, sizeof(chunk), "%zu", cfg->chunk);
	snprintf(staging, sizeof(staging), "%u", cfg->staging);
	snprintf(name, sizeof(name), "rgpu-bench-%d", (int)getppid());
	argv[n++] = bin;
	argv[n++] = "--v4v";
	argv[n++] = "7100";
	argv[n++] = "--tcp";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--name";
	argv[n++] = name;
	argv[n++] = "--backend";
	argv[n++] = cfg->backend;
	argv[n++] = "--ready-fd";
	argv[n++] = fd;
	argv[n++] = "--staging";
	argv[n++] = staging;
	if (cfg->staged)
		argv[n++] = "--staged";
	if (cfg->no_zero_copy)
		argv[n++] = "--no-zero-copy";
	if (cfg->chunk) {
		argv[n++] = "--chunk-size";
		argv[n++] = chunk;
	}
	argv[n] = NULL;
	/* A bench that dies (a crash, a sanitizer stop) takes its server
	 * along instead of leaving it listening. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (!cfg->verbose) {
		logfd = open(server_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (logfd >= 0)
			dup2(logfd, 2);
	}
	execv(bin, (char *const *)argv);
	fprintf(stderr, "rgpu-bench: cannot run %s: %s\n", bin,
		strerror(errno));
	_exit(127);
}

/* "ready v4v D:P tcp H:P" within 10 s, or the server failed. */
static int read_ready(int rfd, char *v4v, size_t v4vsz, char *tcp,
		      size_t tcpsz)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	char line[256], a[96], b[96];
	ssize_t n = 0;

	if (poll(&p, 1, 10000) == 1)
		n = read(rfd, line, sizeof(line) - 1);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	if (sscanf(line, "ready v4v %95s tcp %95s", a, b) != 2)
		return -1;
	snprintf(v4v, v4vsz, "v4v:%s", a);
	snprintf(tcp, tcpsz, "tcp:%s", b);
	return 0;
}

int bench_spawn_server(const struct bench_cfg *cfg, char *v4v, size_t v4vsz,
		       char *tcp, size_t tcpsz)
{
	char buf[PATH_MAX];
	const char *bin = server_path(cfg, buf, sizeof(buf));
	int pfd[2];

	snprintf(server_log, sizeof(server_log), "/tmp/rgpu-bench-server.%d.log",
		 (int)getpid());
	if (pipe2(pfd, O_CLOEXEC))
		return -1;
	server_pid = fork();
	if (server_pid == 0) {
		close(pfd[0]);
		fcntl(pfd[1], F_SETFD, 0); /* the server inherits it */
		exec_server(cfg, bin, pfd[1]);
	}
	close(pfd[1]);
	if (server_pid < 0 || read_ready(pfd[0], v4v, v4vsz, tcp, tcpsz)) {
		close(pfd[0]);
		fprintf(stderr, "rgpu-bench: %s did not start; its log is %s\n",
			bin, cfg->verbose ? "above" : server_log);
		bench_stop_server();
		return -1;
	}
	close(pfd[0]);
	return 0;
}

void bench_stop_server(void)
{
	int st;

	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &st, 0);
	server_pid = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "rgpu-bench: the server did not end cleanly; "
			"its log is %s\n", server_log);
	else
		unlink(server_log);
}
