/* SPDX-License-Identifier: MIT */
/*
 * The stream transports the benchmark compares: V4V direct and strict,
 * AF_UNIX, TCP over loopback and TCP across the generic (bridged) path.
 * Every transport gets 4 MiB socket buffers (rings for V4V) so that no one
 * is measured with a handicap.
 */
#include "sbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "v4v/socket.h"

/* Socket buffers and V4V rings of every transport (the aggregate
 * benchmark may change it before it opens any socket). */
int sbench_buf_bytes = 4 << 20;
#define BUF_BYTES sbench_buf_bytes

/* ---- V4V ---- */

static int v4v_listen_(struct bench_addr *a)
{
	struct sockaddr_v4v me = { .v4v_family = AF_V4V,
				   .v4v_domid = V4V_DOMID_ANY };
	socklen_t len = sizeof(me);
	int rb = BUF_BYTES, fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0 || v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) ||
	    v4v_bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
	    v4v_listen(fd, 8) ||
	    v4v_getsockname(fd, (struct sockaddr *)&me, &len))
		return -1;
	memcpy(&a->sa, &me, sizeof(me));
	a->len = sizeof(me);
	return fd;
}

static int v4v_accept_(int l)
{
	return v4v_accept(l, NULL, NULL);
}

static int v4v_dial_(const struct bench_addr *a)
{
	int rb = BUF_BYTES, fd = v4v_socket(AF_V4V, SOCK_STREAM, 0);

	if (fd < 0 || v4v_setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) ||
	    v4v_connect(fd, (const struct sockaddr *)&a->sa, a->len))
		return -1;
	return fd;
}

static ssize_t v4v_send_(int fd, const void *b, size_t n)
{
	return v4v_send(fd, b, n, MSG_NOSIGNAL);
}

static ssize_t v4v_recv_(int fd, void *b, size_t n)
{
	return v4v_recv(fd, b, n, 0);
}

static int v4v_enter(char side)
{
	(void)side;
	return 0;
}

const struct stransport st_v4v = {
	.name = "v4v", .what = "V4V streams, direct (granted rings)",
	.enter = v4v_enter, .listen = v4v_listen_, .accept = v4v_accept_,
	.dial = v4v_dial_, .send = v4v_send_, .recv = v4v_recv_,
};

/* The strict transport runs its own v4vd --strict for the run. */
static pid_t strict_pid;
static char strict_sock[64];

static const char *v4vd_path(void)
{
	static char path[PATH_MAX + 16];
	const char *env = getenv("V4VD");
	char self[PATH_MAX];
	ssize_t n;

	if (env && env[0])
		return env;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/../hv/v4vd", self);
			if (!access(path, X_OK))
				return path;
			snprintf(path, sizeof(path), "%s/v4vd", self);
			if (!access(path, X_OK))
				return path;
		}
	}
	return "v4vd";
}

static int strict_prepare(void)
{
	snprintf(strict_sock, sizeof(strict_sock), "/tmp/v4vbench-strict-%d.sock",
		 (int)getpid());
	strict_pid = fork();
	if (strict_pid == 0) {
		int log = open("/tmp/v4vbench-strict.log",
			       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (log >= 0)
			dup2(log, 2);
		execlp(v4vd_path(), "v4vd", "--foreground", "--strict",
		       "--socket", strict_sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		int rc;

		strcpy(sa.sun_path, strict_sock);
		rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (!rc)
			return 0;
		if (waitpid(strict_pid, NULL, WNOHANG) == strict_pid)
			break;
		usleep(10000);
	}
	fprintf(stderr, "v4v bench: cannot start '%s --strict'\n",
		v4vd_path());
	return -1;
}

pid_t st_strict_pid(void)
{
	return strict_pid;
}

static void strict_cleanup(void)
{
	if (strict_pid > 0) {
		kill(strict_pid, SIGTERM);
		waitpid(strict_pid, NULL, 0);
	}
	strict_pid = 0;
}

static int strict_enter(char side)
{
	(void)side;
	return setenv("V4V_SOCKET", strict_sock, 1);
}

const struct stransport st_v4v_strict = {
	.name = "v4v-strict", .what = "V4V streams, every message via v4vd",
	.prepare = strict_prepare, .cleanup = strict_cleanup,
	.enter = strict_enter, .listen = v4v_listen_, .accept = v4v_accept_,
	.dial = v4v_dial_, .send = v4v_send_, .recv = v4v_recv_,
};

/* ---- kernel sockets ---- */

static void big_buffers(int fd)
{
	int v = BUF_BYTES, one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int k_listen(int fd, struct sockaddr *sa, socklen_t len,
		    struct bench_addr *a)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	big_buffers(fd);
	if (bind(fd, sa, len) || listen(fd, 8))
		return -1;
	a->len = sizeof(a->sa);
	if (getsockname(fd, (struct sockaddr *)&a->sa, &a->len))
		return -1;
	return fd;
}

static int k_accept(int l)
{
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);

	if (fd >= 0)
		big_buffers(fd);
	return fd;
}

static int k_dial(const struct bench_addr *a)
{
	for (int i = 0; i < 40; i++) {
		int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		big_buffers(fd);
		if (!connect(fd, (const struct sockaddr *)&a->sa, a->len))
			return fd;
		close(fd);
		usleep(50000); /* the generic path's links may still settle */
	}
	return -1;
}

static ssize_t k_send(int fd, const void *b, size_t n)
{
	return send(fd, b, n, MSG_NOSIGNAL);
}

static ssize_t k_recv(int fd, void *b, size_t n)
{
	return recv(fd, b, n, 0);
}

static int tcp_listen(struct bench_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	return k_listen(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
			(struct sockaddr *)&sin, sizeof(sin), a);
}

const struct stransport st_tcp = {
	.name = "tcp", .what = "TCP over loopback, TCP_NODELAY",
	.enter = v4v_enter, .listen = tcp_listen, .accept = k_accept,
	.dial = k_dial, .send = k_send, .recv = k_recv,
};

static int unix_listen(struct bench_addr *a)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;

	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		 "v4v-sbench-%d", (int)getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			  strlen(sun.sun_path + 1));
	return k_listen(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
			(struct sockaddr *)&sun, len, a);
}

const struct stransport st_unix = {
	.name = "unix", .what = "AF_UNIX stream sockets",
	.enter = v4v_enter, .listen = unix_listen, .accept = k_accept,
	.dial = k_dial, .send = k_send, .recv = k_recv,
};

static int generic_listen(struct bench_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, generic_server_addr(), &sin.sin_addr);
	return k_listen(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
			(struct sockaddr *)&sin, sizeof(sin), a);
}

/* Any address of this namespace, an ephemeral port (the aggregate's
 * generic path: one namespace per domain). */
int st_inet_listen_any(struct bench_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	return k_listen(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
			(struct sockaddr *)&sin, sizeof(sin), a);
}

const struct stransport st_generic = {
	.name = "generic",
	.what = "TCP between two netns via veth pairs and a bridge",
	.prepare = generic_setup, .cleanup = generic_teardown,
	.enter = generic_enter, .listen = generic_listen, .accept = k_accept,
	.dial = k_dial, .send = k_send, .recv = k_recv,
};
