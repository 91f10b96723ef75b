/* SPDX-License-Identifier: MIT */
/*
 * A plain TCP program, written against the BSD socket API only: every
 * check must give the same answer over the kernel's TCP and through the
 * interposer (test_conform.sh runs it both ways and compares).  It prints
 * one "ok NAME" or "FAIL NAME" per check, and "bytes N" for what it moved.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int fails;
static unsigned long long moved;

#define CHECK(name, cond)                                                    \
	do {                                                                 \
		if (cond) {                                                  \
			printf("ok   %s\n", name);                           \
		} else {                                                     \
			printf("FAIL %s (%s:%d, errno %s)\n", name, __FILE__, \
			       __LINE__, strerror(errno));                   \
			fails++;                                             \
		}                                                            \
		fflush(stdout);                                              \
	} while (0)

static struct sockaddr_in listen_addr;

static int listener(int backlog)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, backlog))
		return -1;
	getsockname(fd, (struct sockaddr *)&listen_addr, &len);
	return fd;
}

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)))
		return -1;
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		moved += (unsigned long long)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A server child that echoes every connection it accepts, forking one
 * child per connection (as inetd and sshd do). */
static pid_t echo_server(int lfd, int conns)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	for (int i = 0; i < conns; i++) {
		int c = accept(lfd, NULL, NULL);
		char buf[65536];
		ssize_t n;

		if (c < 0)
			_exit(1);
		if (fork() == 0) {
			close(lfd);
			while ((n = read(c, buf, sizeof(buf))) > 0) {
				if (buf[0] == 'd')
					usleep(500); /* see ask_late */
				if (write_all(c, buf, (size_t)n))
					break;
			}
			_exit(0);
		}
		close(c);
	}
	while (wait(NULL) > 0)
		;
	_exit(0);
}

static void t_echo(void)
{
	size_t len = 4 << 20;
	char *out = malloc(len), *in = malloc(len);
	int fd = dial();

	for (size_t i = 0; i < len; i++)
		out[i] = (char)(i * 2654435761u >> 13);
	CHECK("connect", fd >= 0);
	/* Chunk by chunk: neither side may count on the other's buffers
	 * holding more than a chunk. */
	bool same = true;
	for (size_t off = 0; off < len && same; off += 65536)
		same = !write_all(fd, out + off, 65536) &&
		       !read_all(fd, in + off, 65536);
	CHECK("echo 4 MiB", same && !memcmp(in, out, len));
	shutdown(fd, SHUT_WR);
	CHECK("EOF after the peer saw our FIN", read(fd, in, 1) == 0);
	close(fd);
	free(out);
	free(in);
}

static void t_names(void)
{
	struct sockaddr_in me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	int fd = dial(), v = 0;
	socklen_t vl = sizeof(v);

	CHECK("getpeername is the listener",
	      !getpeername(fd, (struct sockaddr *)&peer, &pl) &&
		      pl == sizeof(peer) && peer.sin_family == AF_INET &&
		      peer.sin_port == listen_addr.sin_port &&
		      peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	CHECK("getsockname is loopback",
	      !getsockname(fd, (struct sockaddr *)&me, &ml) &&
		      me.sin_family == AF_INET &&
		      me.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		      me.sin_port != 0);
	CHECK("SO_TYPE", !getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) &&
				 v == SOCK_STREAM);
	vl = sizeof(v);
	CHECK("SO_DOMAIN", !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &vl) &&
				   v == AF_INET);
	vl = sizeof(v);
	CHECK("SO_ERROR 0", !getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &vl) &&
				    v == 0);
	v = 1;
	CHECK("TCP_NODELAY set", !setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					     &v, sizeof(v)));
	v = 0;
	vl = sizeof(v);
	CHECK("TCP_NODELAY reads back",
	      !getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) && v == 1);
	v = 1;
	CHECK("SO_KEEPALIVE", !setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v,
					  sizeof(v)));
	vl = sizeof(v);
	CHECK("SO_RCVBUF readable",
	      !getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &vl) && v > 0);
	close(fd);
}

static void t_nonblocking(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), rc, err = -1;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t el = sizeof(err);
	char c;

	rc = connect(fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr));
	CHECK("non-blocking connect", rc == 0 || errno == EINPROGRESS);
	CHECK("POLLOUT when connected", poll(&p, 1, 5000) == 1 &&
						(p.revents & POLLOUT));
	CHECK("SO_ERROR after connect",
	      !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) && err == 0);
	CHECK("EAGAIN with nothing to read",
	      read(fd, &c, 1) < 0 && errno == EAGAIN);
	CHECK("write, then readable",
	      write_all(fd, "ping", 4) == 0 &&
		      (p.events = POLLIN, poll(&p, 1, 5000) == 1));
	int n = -1;
	CHECK("FIONREAD", ioctl(fd, FIONREAD, &n) == 0 && n >= 1);
	char buf[8];
	CHECK("MSG_PEEK leaves data",
	      recv(fd, buf, 4, MSG_PEEK | MSG_WAITALL) == 4 &&
		      recv(fd, buf, 4, MSG_WAITALL) == 4 &&
		      !memcmp(buf, "ping", 4));
	int off = 0;
	CHECK("FIONBIO off, fcntl says blocking",
	      ioctl(fd, FIONBIO, &off) == 0 &&
		      !(fcntl(fd, F_GETFL) & O_NONBLOCK));
	close(fd);
}

static void t_vectors(void)
{
	int fd = dial();
	char a[3] = "abc", b[5] = "defgh", r1[4], r2[4];
	struct iovec iov[2] = { { a, 3 }, { b, 5 } }, rv[2] = { { r1, 4 },
								{ r2, 4 } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	struct mmsghdr mm[2];

	CHECK("writev+readv",
	      writev(fd, iov, 2) == 8 &&
		      recv(fd, r1, 1, MSG_PEEK | MSG_WAITALL) == 1 &&
		      (usleep(20000), readv(fd, rv, 2)) == 8 &&
		      !memcmp(r1, "abcd", 4) && !memcmp(r2, "efgh", 4));
	CHECK("sendmsg", sendmsg(fd, &m, 0) == 8);
	m.msg_iov = rv;
	CHECK("recvmsg MSG_WAITALL",
	      recvmsg(fd, &m, MSG_WAITALL) == 8 && !memcmp(r1, "abcd", 4));
	memset(mm, 0, sizeof(mm));
	mm[0].msg_hdr.msg_iov = &iov[0];
	mm[0].msg_hdr.msg_iovlen = 1;
	mm[1].msg_hdr.msg_iov = &iov[1];
	mm[1].msg_hdr.msg_iovlen = 1;
	CHECK("sendmmsg", sendmmsg(fd, mm, 2, 0) == 2);
	CHECK("recv MSG_WAITALL after sendmmsg",
	      recv(fd, r1, 4, MSG_WAITALL) == 4 &&
		      recv(fd, r2, 4, MSG_WAITALL) == 4 &&
		      !memcmp(r2, "efgh", 4));
	moved += 24;
	close(fd);
}

struct reader {
	int fd;
	char *buf;
	size_t len;
	int rc;
};

static void *read_back(void *arg)
{
	struct reader *r = arg;

	r->rc = read_all(r->fd, r->buf, r->len);
	return NULL;
}

/* More than a ring holds, echoed back while it goes: from the file's
 * position (which moves), then from an offset (which does not move it),
 * past the end of the file. */
static void t_sendfile_big(int fd)
{
	char path[] = "/tmp/conform.XXXXXX";
	const size_t n = 700001;
	char *data = malloc(n), *back = malloc(n);
	struct reader r = { fd, back, n, -1 };
	int f = mkstemp(path);
	off_t off = 300000;
	pthread_t t;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7 + (i >> 12));
	write_all(f, data, n);
	lseek(f, 0, SEEK_SET);
	pthread_create(&t, NULL, read_back, &r);
	CHECK("sendfile from the file position",
	      sendfile(fd, f, NULL, 300000) == 300000 &&
		      lseek(f, 0, SEEK_CUR) == 300000);
	CHECK("sendfile from an offset, past the end",
	      sendfile(fd, f, &off, 1000000) == (ssize_t)(n - 300000) &&
		      off == (off_t)n && lseek(f, 0, SEEK_CUR) == 300000);
	CHECK("sendfile at the end sends nothing",
	      sendfile(fd, f, &off, 10) == 0);
	pthread_join(t, NULL);
	CHECK("sendfile's 700001 bytes echo back",
	      r.rc == 0 && !memcmp(data, back, n));
	moved += n;
	close(f);
	unlink(path);
	free(data);
	free(back);
}

/* Through pipes both ways, in the pieces pipes take. */
static void t_splice_big(int fd)
{
	const size_t n = 50000;
	char *data = malloc(n), *back = malloc(n);
	size_t sent = 0, got = 0;
	int in[2], out[2];
	ssize_t k = 1;

	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 13);
	pipe(in);
	pipe(out);
	write_all(in[1], data, n);
	while (sent < n && k > 0)
		sent += (size_t)(k = splice(in[0], NULL, fd, NULL, n - sent, 0));
	CHECK("splice 50000 bytes pipe -> socket", sent == n);
	while (got < n && k > 0) {
		k = splice(fd, NULL, out[1], NULL, n - got, 0);
		if (k > 0 && read_all(out[0], back + got, (size_t)k))
			k = -1;
		got += k > 0 ? (size_t)k : 0;
	}
	CHECK("splice 50000 bytes socket -> pipe", got == n &&
						    !memcmp(data, back, n));
	moved += n;
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(out[1]);
	free(data);
	free(back);
}

static void t_sendfile_splice(void)
{
	char path[] = "/tmp/conform.XXXXXX", buf[10000], back[10000];
	int f = mkstemp(path), fd = dial(), pp[2];
	off_t off = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)i;
	write(f, buf, sizeof(buf));
	CHECK("sendfile", sendfile(fd, f, &off, sizeof(buf)) ==
				  (ssize_t)sizeof(buf) &&
				  off == (off_t)sizeof(buf));
	CHECK("sendfile's bytes echo back",
	      !read_all(fd, back, sizeof(back)) &&
		      !memcmp(buf, back, sizeof(buf)));
	pipe(pp);
	write(pp[1], "spliced", 7);
	CHECK("splice pipe -> socket",
	      splice(pp[0], NULL, fd, NULL, 7, 0) == 7);
	CHECK("splice socket -> pipe",
	      splice(fd, NULL, pp[1], NULL, 7, 0) == 7 &&
		      read(pp[0], back, 7) == 7 && !memcmp(back, "spliced", 7));
	moved += sizeof(buf) + 7;
	close(pp[0]);
	close(pp[1]);
	close(f);
	unlink(path);
	t_sendfile_big(fd);
	t_splice_big(fd);
	close(fd);
}

static void t_dup_high(void)
{
	int fd = dial(), hi = dup2(fd, 1500), d3 = dup3(fd, 1501, O_CLOEXEC);
	char buf[5];

	CHECK("dup2 to fd 1500", hi == 1500);
	CHECK("dup3 O_CLOEXEC", d3 == 1501 &&
					(fcntl(d3, F_GETFD) & FD_CLOEXEC));
	close(fd);
	close(d3);
	CHECK("the dup works after the original is closed",
	      write_all(hi, "hello", 5) == 0 && read_all(hi, buf, 5) == 0 &&
		      !memcmp(buf, "hello", 5));
	int d = fcntl(hi, F_DUPFD, 1600);
	CHECK("F_DUPFD", d >= 1600);
	close(hi);
	CHECK("F_DUPFD copy works",
	      write_all(d, "x", 1) == 0 && read_all(d, buf, 1) == 0);
	shutdown(d, SHUT_WR);
	CHECK("EOF when the last copy half-closes", read(d, buf, 1) == 0);
	close(d);
}

/* A number freed by close and reused by a file must be that file. */
static void t_reuse(void)
{
	int fd = dial(), n;
	char c;

	close(fd);
	n = open("/dev/zero", O_RDONLY);
	CHECK("reused number reads the file", n == fd && read(n, &c, 1) == 1 &&
						      c == 0);
	close(n);
}

static void *thread_echo(void *arg)
{
	char out[100000], in[100000];
	int fd = dial();

	(void)arg;
	memset(out, 'T', sizeof(out));
	if (fd < 0 || write_all(fd, out, sizeof(out)) ||
	    read_all(fd, in, sizeof(in)) || memcmp(in, out, sizeof(in)))
		return (void *)1;
	close(fd);
	return NULL;
}

static void t_threads(void)
{
	pthread_t t[4];
	void *r;
	int bad = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_echo, NULL);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	CHECK("four threads, four connections", bad == 0);
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void t_eintr(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	int fd = dial();
	char c;
	ssize_t n;

	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	n = read(fd, &c, 1);
	CHECK("a signal interrupts a blocking read: EINTR",
	      n < 0 && errno == EINTR);
	/* With SA_RESTART the read goes on and gets what a child sends
	 * (and the echo server returns) after the signal. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	if (fork() == 0) {
		usleep(1500000);
		write(fd, "z", 1);
		_exit(0);
	}
	alarm(1);
	n = read(fd, &c, 1);
	CHECK("SA_RESTART: the read resumes after the signal",
	      n == 1 && c == 'z');
	wait(NULL);
	close(fd);
}

/* O_NONBLOCK belongs to the open file, which another process may hold:
 * a child after fork, or one the descriptor was passed to. */
static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static void in_child(int fd, bool on)
{
	pid_t kid = fork();

	if (kid == 0) {
		set_nonblock(fd, on);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
}

/* A child, forked before the descriptors it will be sent exist: it takes
 * each one passed with SCM_RIGHTS, sets O_NONBLOCK as the byte with it
 * says, closes its copy and answers. */
static int rights_setter(pid_t *kid)
{
	int sp[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	if ((*kid = fork()) == 0) {
		char c, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &c, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf };
		struct cmsghdr *cm;
		int got;

		close(sp[0]);
		for (;;) {
			m.msg_controllen = sizeof(cbuf);
			if (recvmsg(sp[1], &m, 0) != 1)
				_exit(0);
			cm = CMSG_FIRSTHDR(&m);
			if (cm && cm->cmsg_type == SCM_RIGHTS) {
				memcpy(&got, CMSG_DATA(cm), sizeof(int));
				set_nonblock(got, c);
				close(got);
			}
			write(sp[1], "k", 1);
		}
	}
	close(sp[1]);
	return sp[0];
}

static void by_rights(int setter, int fd, bool on)
{
	char c = on, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(setter, &m, 0) == 1)
		read(setter, &c, 1);
}

/* A read after another process changed O_NONBLOCK: EAGAIN at once if it
 * set it (alarm: EINTR instead of a hang if we still block), the late
 * echo of 'd' if it cleared it. */
static bool reads_as(int fd, bool nonblock)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	char c;
	ssize_t n;

	if (nonblock) {
		sigaction(SIGALRM, &sa, NULL);
		alarm(2);
		n = read(fd, &c, 1);
		alarm(0);
		return n < 0 && errno == EAGAIN;
	}
	return write(fd, "d", 1) == 1 && read(fd, &c, 1) == 1 && c == 'd';
}

static void t_nonblock_elsewhere(void)
{
	pid_t kid;
	int setter = rights_setter(&kid), a = dial(), b;

	in_child(a, true);
	CHECK("O_NONBLOCK set by a forked child: EAGAIN", reads_as(a, true));
	in_child(a, false);
	CHECK("O_NONBLOCK cleared by a forked child: blocks",
	      reads_as(a, false));
	close(a);
	b = dial();
	set_nonblock(b, true);
	CHECK("non-blocking: EAGAIN", reads_as(b, true));
	by_rights(setter, b, false);
	CHECK("O_NONBLOCK cleared where SCM_RIGHTS took it: blocks",
	      reads_as(b, false));
	by_rights(setter, b, true);
	CHECK("O_NONBLOCK set where SCM_RIGHTS took it: EAGAIN",
	      reads_as(b, true));
	close(b);
	close(setter); /* its recvmsg sees the end: it exits */
	waitpid(kid, NULL, 0);
}

/* Control data that lies about its length is the kernel's to refuse:
 * the interposer looks into it for passed sockets, within its buffer. */
static void t_bad_control(void)
{
	int sp[2];
	char c = 'x';
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	memset(&u, 0, sizeof(u));
	u.h.cmsg_level = SOL_SOCKET;
	u.h.cmsg_type = SCM_RIGHTS;
	u.h.cmsg_len = 1u << 30;
	CHECK("SCM_RIGHTS longer than its buffer: EINVAL",
	      sendmsg(sp[0], &m, 0) < 0 && errno == EINVAL);
	u.h.cmsg_len = 1;
	CHECK("SCM_RIGHTS shorter than its header: EINVAL",
	      sendmsg(sp[0], &m, 0) < 0 && errno == EINVAL);
	close(sp[0]);
	close(sp[1]);
}

/* The listener: poll, epoll (with EPOLLEXCLUSIVE, as nginx asks),
 * non-blocking accept. */
static void t_listener(void)
{
	int l = listener(16), ep = epoll_create1(0), c, a;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };
	struct pollfd p = { .fd = l, .events = POLLIN };

	fcntl(l, F_SETFL, O_NONBLOCK);
	CHECK("accept with none pending: EAGAIN",
	      accept(l, NULL, NULL) < 0 && errno == EAGAIN);
	CHECK("epoll_ctl EPOLLEXCLUSIVE on a listener",
	      epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev) == 0);
	c = dial();
	CHECK("listener readable (poll)", poll(&p, 1, 5000) == 1);
	CHECK("listener readable (epoll)", epoll_wait(ep, &ev, 1, 5000) == 1);
	a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK("accept4 flags", a >= 0 && (fcntl(a, F_GETFL) & O_NONBLOCK) &&
				       (fcntl(a, F_GETFD) & FD_CLOEXEC));
	int v = 0;
	socklen_t vl = sizeof(v);
	CHECK("SO_ACCEPTCONN on the listener",
	      !getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) && v == 1);
	close(a);
	close(c);
	close(ep);
	close(l);
}

/* Pre-forked server: three children accept on one inherited listener,
 * at the same time, as nginx's workers and Apache's prefork do. */
static void t_prefork(void)
{
	int l = listener(64), ok = 0;
	pid_t kids[3];

	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			for (;;) {
				int c = accept(l, NULL, NULL);
				char b[16];
				ssize_t n;

				if (c < 0)
					_exit(1);
				n = read(c, b, sizeof(b));
				if (n > 0)
					write_all(c, b, (size_t)n);
				close(c);
			}
		}
	}
	for (int i = 0; i < 60; i++) {
		int fd = dial();
		char b[4];

		int w = -9, r = -9;

		if (fd >= 0 && (w = write_all(fd, "pre", 3)) == 0 &&
		    (r = read_all(fd, b, 3)) == 0 && !memcmp(b, "pre", 3))
			ok++;
		else
			fprintf(stderr, "prefork: connection %d: fd %d write %d "
				"read %d: %s\n", i, fd, w, r, strerror(errno));
		close(fd);
	}
	CHECK("60 connections to a listener three processes accept on",
	      ok == 60);
	for (int k = 0; k < 3; k++) {
		kill(kids[k], SIGTERM);
		waitpid(kids[k], NULL, 0);
	}
	close(l);
}

/* ---- TCP's semantics around accept, the end, and ports ---- */

/* A listener of its own, on a port the kernel picks; *at is its address. */
static int side_listener(struct sockaddr_in *at)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(*at);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)at, &len))
		return -1;
	return fd;
}

static int dial_to(const struct sockaddr_in *at)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (const struct sockaddr *)at, sizeof(*at))) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool ready(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, ms) == 1;
}

static uint16_t port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&a, &len))
		return 0;
	return ntohs(a.sin_port);
}

/* Sent, closed, and only then accepted: the data and the end are there. */
static void t_accept_queue(void)
{
	struct sockaddr_in at;
	int l = side_listener(&at), c, s, fl;
	char buf[8];

	c = dial_to(&at);
	CHECK("queue: send before accept", c >= 0 && send(c, "hi", 2, 0) == 2);
	close(c);
	usleep(50000);
	CHECK("queue: listener readable", ready(l, POLLIN, 1000));
	fl = fcntl(l, F_GETFL);
	fcntl(l, F_SETFL, fl | O_NONBLOCK);
	s = accept(l, NULL, NULL);
	CHECK("queue: closed client accepted", s >= 0);
	CHECK("queue: its data", recv(s, buf, sizeof(buf), 0) == 2);
	CHECK("queue: then end of file", recv(s, buf, sizeof(buf), 0) == 0);
	CHECK("queue: first send to it taken", send(s, "x", 1, 0) == 1);
	usleep(20000);
	CHECK("queue: second send EPIPE",
	      send(s, "x", 1, 0) < 0 && errno == EPIPE);
	CHECK("queue: nothing more", accept(l, NULL, NULL) < 0 &&
					     (errno == EAGAIN ||
					      errno == EWOULDBLOCK));
	close(s);
	close(l);
}

/* One thread: connect, send 64 KiB, then accept: no deadlock. */
static void t_send_first(void)
{
	static char out[65536], in[sizeof(out)];
	struct sockaddr_in at;
	int l = side_listener(&at), c = dial_to(&at), s;

	memset(out, 'q', sizeof(out));
	CHECK("send-first: 64 KiB before accept",
	      c >= 0 && write_all(c, out, sizeof(out)) == 0);
	s = accept(l, NULL, NULL);
	CHECK("send-first: all of it after",
	      s >= 0 && read_all(s, in, sizeof(in)) == 0 &&
		      !memcmp(in, out, sizeof(in)));
	close(c);
	close(s);
	close(l);
}

static bool has_peer(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	return !getpeername(fd, (struct sockaddr *)&a, &len);
}

/* The end of a connection, in the kernel's order of errors. */
static void t_after_end(void)
{
	struct sockaddr_in at;
	int l = side_listener(&at), c = dial_to(&at), s = accept(l, NULL, NULL);
	int err = -1;
	socklen_t len = sizeof(err);
	char buf[4];

	close(s);
	CHECK("end: end of file", ready(c, POLLIN, 1000) &&
					  recv(c, buf, sizeof(buf), 0) == 0);
	CHECK("end: the peer is still named", has_peer(c));
	CHECK("end: first send taken", send(c, "a", 1, 0) == 1);
	usleep(20000);
	CHECK("end: the reset it drew leaves no peer", !has_peer(c) &&
							   errno == ENOTCONN);
	CHECK("end: SO_ERROR EPIPE once",
	      !getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) &&
		      err == EPIPE);
	CHECK("end: then EPIPE", send(c, "a", 1, 0) < 0 && errno == EPIPE);
	close(c);
	c = dial_to(&at);
	s = accept(l, NULL, NULL);
	CHECK("reset: sent, unread", send(c, "zz", 2, 0) == 2);
	usleep(50000);
	close(s);
	usleep(20000);
	CHECK("reset: no peer", !has_peer(c) && errno == ENOTCONN);
	CHECK("reset: ECONNRESET once", recv(c, buf, sizeof(buf), 0) < 0 &&
						errno == ECONNRESET);
	CHECK("reset: then end of file", recv(c, buf, sizeof(buf), 0) == 0);
	CHECK("reset: then EPIPE", send(c, "a", 1, 0) < 0 && errno == EPIPE);
	close(c);
	/* An abortive close after data (SO_LINGER 0): the data is still
	 * read, but the peer is gone (Python's ssl module tells a
	 * connection reset before its handshake by this). */
	c = dial_to(&at);
	s = accept(l, NULL, NULL);
	CHECK("linger0: sent", send(c, "hi", 2, 0) == 2);
	CHECK("linger0: set", !setsockopt(c, SOL_SOCKET, SO_LINGER,
					  &(struct linger){ 1, 0 },
					  sizeof(struct linger)));
	close(c);
	usleep(20000);
	CHECK("linger0: no peer", ready(s, POLLIN, 1000) && !has_peer(s) &&
					  errno == ENOTCONN);
	CHECK("linger0: the data first", recv(s, buf, sizeof(buf), 0) == 2);
	CHECK("linger0: then ECONNRESET", recv(s, buf, sizeof(buf), 0) < 0 &&
						  errno == ECONNRESET);
	close(s);
	close(l);
}

/* Ports: an explicit bind is kept; both ends agree; an automatic port
 * is the kernel's, held while the connection lives. */
static void t_ports(void)
{
	struct sockaddr_in at, b = { .sin_family = AF_INET };
	socklen_t len = sizeof(b);
	int l = side_listener(&at), c, d, s, t, x;

	b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c = socket(AF_INET, SOCK_STREAM, 0);
	bind(c, (struct sockaddr *)&b, sizeof(b));
	getsockname(c, (struct sockaddr *)&b, &len);
	CHECK("ports: bound connect",
	      !connect(c, (struct sockaddr *)&at, sizeof(at)));
	s = accept(l, NULL, NULL);
	CHECK("ports: bound port kept", port_of(c, false) ==
						ntohs(b.sin_port));
	CHECK("ports: server sees it", port_of(s, true) == ntohs(b.sin_port));
	d = dial_to(&at);
	t = accept(l, NULL, NULL);
	CHECK("ports: automatic port agrees",
	      port_of(d, false) && port_of(d, false) == port_of(t, true));
	CHECK("ports: two clients, two ports",
	      port_of(t, true) != port_of(s, true));
	x = socket(AF_INET, SOCK_STREAM, 0);
	b.sin_port = htons(port_of(d, false));
	CHECK("ports: in use while connected",
	      bind(x, (struct sockaddr *)&b, sizeof(b)) < 0 &&
		      errno == EADDRINUSE);
	close(x);
	close(c);
	close(d);
	close(s);
	close(t);
	close(l);
}

/* A forked child that closes the listener leaves it not readable. */
static void t_shared_listener(void)
{
	struct sockaddr_in at;
	int l = side_listener(&at), c, s;
	pid_t kid = fork();

	if (kid == 0) {
		close(l);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	CHECK("fork: listener not readable", !ready(l, POLLIN, 100));
	c = dial_to(&at);
	CHECK("fork: readable with a client", ready(l, POLLIN, 1000));
	s = accept(l, NULL, NULL);
	CHECK("fork: accepted", s >= 0);
	CHECK("fork: not readable after", !ready(l, POLLIN, 0));
	close(c);
	close(s);
	close(l);
}

/* ---- readiness an event loop can trust ---- */

/* An epoll answer of n events: the data of each, once only. */
static bool once_each(const struct epoll_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (ev[i].data.u64 == ev[j].data.u64)
				return false;
	return true;
}

/* Send `len` bytes to the echo server on fd; the answer is then on its
 * way back, and arrives while the caller waits. */
static bool ask(int fd, size_t len)
{
	char buf[256];

	memset(buf, 'e', sizeof(buf));
	return len <= sizeof(buf) && !write_all(fd, buf, len);
}

/* The same, answered 0.5 ms later: under the interposer, with polling
 * waits longer than that (test_apps.sh sets V4V_POLL_US), the answer
 * lands while the wait polls, and is reported from the ring alone,
 * the kernel not told. */
static bool ask_late(int fd, size_t len)
{
	char buf[256];

	memset(buf, 'd', sizeof(buf));
	return len <= sizeof(buf) && !write_all(fd, buf, len);
}

/* Wait on ep until `fd` is reported (data.fd), at most 5 s. */
static bool reported(int ep, int fd, uint32_t what)
{
	struct epoll_event ev[8];

	for (int tries = 0; tries < 500; tries++) {
		int n = epoll_wait(ep, ev, 8, 10);

		if (n < 0 || !once_each(ev, n))
			return false;
		for (int i = 0; i < n; i++)
			if (ev[i].data.fd == fd)
				return (ev[i].events & what) == what;
	}
	return false;
}

static int epoll_with(int fd, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.fd = fd };
	int ep = epoll_create1(0);

	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
	return ep;
}

/* Level-triggered: data is reported until it is all read, never twice in
 * one answer, and each socket with its own data. */
static void t_epoll_level(void)
{
	int a = dial(), b = dial(), ep = epoll_with(a, EPOLLIN), n, first;
	struct epoll_event e = { .events = EPOLLIN, .data.fd = b }, ev[8];
	char buf[512];

	epoll_ctl(ep, EPOLL_CTL_ADD, b, &e);
	ask_late(a, 100);
	CHECK("epoll LT: the answer is reported", reported(ep, a, EPOLLIN));
	CHECK("epoll LT: read part of it", read(a, buf, 40) == 40);
	CHECK("epoll LT: the rest is reported again", reported(ep, a, EPOLLIN));
	CHECK("epoll LT: read the rest", read_all(a, buf, 60) == 0);
	CHECK("epoll LT: nothing once all is read",
	      epoll_wait(ep, ev, 8, 50) == 0);
	ask(a, 10);
	ask(b, 20);
	usleep(20000);
	n = epoll_wait(ep, ev, 1, 1000);
	first = ev[0].data.fd;
	CHECK("epoll LT: max 1 gives one of two", n == 1);
	n = read(first, buf, sizeof(buf));
	CHECK("epoll LT: its data is its own", n == (first == a ? 10 : 20));
	n = epoll_wait(ep, ev, 8, 1000);
	CHECK("epoll LT: then the other", n == 1 &&
	      ev[0].data.fd == a + b - first &&
	      read(ev[0].data.fd, buf, sizeof(buf)) > 0);
	CHECK("epoll LT: both read, nothing left",
	      epoll_wait(ep, ev, 8, 0) == 0);
	close(ep);
	close(a);
	close(b);
}

/* Edge-triggered and one-shot registrations report once. */
static void t_epoll_edge(void)
{
	int a = dial(), b = dial(), et = epoll_with(a, EPOLLIN | EPOLLET);
	int os = epoll_with(b, EPOLLIN | EPOLLONESHOT);
	struct epoll_event ev[8], e = { .events = EPOLLIN | EPOLLONESHOT,
					.data.fd = b };
	char buf[64];

	ask(a, 10);
	CHECK("epoll ET: reported", reported(et, a, EPOLLIN));
	CHECK("epoll ET: not again without new data",
	      epoll_wait(et, ev, 8, 50) == 0);
	CHECK("epoll ET: 10 bytes there", read_all(a, buf, 10) == 0);
	/* epoll(7)'s way: wait again only once a read said EAGAIN.  (More
	 * data before that is a new edge for TCP, not for V4V: see
	 * docs/interposer.md.) */
	fcntl(a, F_SETFL, O_NONBLOCK);
	CHECK("epoll ET: then EAGAIN", read(a, buf, 1) < 0 && errno == EAGAIN);
	ask(a, 10);
	CHECK("epoll ET: new data, reported again", reported(et, a, EPOLLIN));
	CHECK("epoll ET: 10 bytes more", read(a, buf, 64) == 10);
	ask(b, 10);
	CHECK("epoll ONESHOT: reported", reported(os, b, EPOLLIN));
	CHECK("epoll ONESHOT: not again", epoll_wait(os, ev, 8, 50) == 0);
	epoll_ctl(os, EPOLL_CTL_MOD, b, &e);
	CHECK("epoll ONESHOT: again once re-armed", reported(os, b, EPOLLIN));
	CHECK("epoll ONESHOT: 10 bytes there", read_all(b, buf, 10) == 0);
	close(et);
	close(os);
	close(a);
	close(b);
}

/* Data an epoll set reported and nobody read is still readable for a
 * wait the kernel answers alone: an epoll set holding that set (added
 * after or before), poll on it, and poll, select and a blocking read on
 * the socket. */
static void t_epoll_nested(void)
{
	int a = dial(), b = dial(), in = epoll_with(a, EPOLLIN);
	int in2 = epoll_with(b, EPOLLIN), out = epoll_create1(0);
	struct epoll_event e = { .events = EPOLLIN }, ev[4];
	struct pollfd p = { .fd = in, .events = POLLIN };
	char buf[64];
	fd_set r;
	struct timeval tv = { 0, 0 };

	ask_late(a, 10);
	CHECK("epoll set: the data is reported", reported(in, a, EPOLLIN));
	e.data.fd = in;
	epoll_ctl(out, EPOLL_CTL_ADD, in, &e);
	CHECK("nested epoll (added after): the inner set is readable",
	      epoll_wait(out, ev, 4, 1000) == 1 && ev[0].data.fd == in);
	CHECK("poll on the epoll set: readable",
	      poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
	p.fd = a;
	CHECK("poll on the socket: readable",
	      poll(&p, 1, 0) == 1 && (p.revents & POLLIN));
	FD_ZERO(&r);
	FD_SET(a, &r);
	CHECK("select on the socket: readable",
	      select(a + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(a, &r));
	CHECK("the read gets it", read_all(a, buf, 10) == 0);
	e.data.fd = in2;
	epoll_ctl(out, EPOLL_CTL_ADD, in2, &e);
	ask_late(b, 10);
	CHECK("nested epoll (added before): the inner set wakes the outer",
	      epoll_wait(out, ev, 4, 5000) >= 1);
	CHECK("the inner set reports it", reported(in2, b, EPOLLIN));
	CHECK("and the outer still does",
	      epoll_wait(out, ev, 4, 1000) >= 1);
	CHECK("its read gets it", read_all(b, buf, 10) == 0);
	close(out);
	close(in);
	close(in2);
	close(a);
	close(b);
}

/* Waits that follow each other within microseconds, the data unread:
 * each answer is whole, a descriptor that is not ready (an empty pipe)
 * never in it. */
static void t_waits_back_to_back(void)
{
	int a = dial(), pp[2], ep, ok_sel = 1, ok_poll = 1, ok_ep = 1;
	struct epoll_event e = { .events = EPOLLIN }, ev[4];
	char buf[64];

	if (pipe(pp))
		return;
	ep = epoll_with(a, EPOLLIN);
	e.data.fd = pp[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &e);
	ask(a, 10);
	CHECK("back to back: the data comes", reported(ep, a, EPOLLIN));
	for (int i = 0; i < 20; i++) {
		/* revents as the caller left them: the answer replaces it */
		struct pollfd p[2] = { { pp[0], POLLIN, POLLIN },
				       { a, POLLIN, POLLOUT } };
		struct timeval tv = { 1, 0 };
		fd_set r;

		FD_ZERO(&r);
		FD_SET(pp[0], &r);
		FD_SET(a, &r);
		ok_sel &= select((pp[0] > a ? pp[0] : a) + 1, &r, NULL, NULL,
				 &tv) == 1 && FD_ISSET(a, &r) &&
			  !FD_ISSET(pp[0], &r);
		ok_poll &= poll(p, 2, 1000) == 1 && !p[0].revents &&
			   p[1].revents == POLLIN;
		ok_ep &= epoll_wait(ep, ev, 4, 1000) == 1 &&
			 ev[0].data.fd == a;
	}
	CHECK("back to back: select answers whole", ok_sel);
	CHECK("back to back: poll answers whole", ok_poll);
	CHECK("back to back: epoll answers whole", ok_ep);
	CHECK("back to back: the data is there", read_all(a, buf, 10) == 0);
	close(ep);
	close(pp[0]);
	close(pp[1]);
	close(a);
}

/* A socket whose data one set reported moves to a set that only the
 * kernel answers (it sits inside another): the data is still seen. */
static void t_epoll_moved(void)
{
	int a = dial(), own = epoll_with(a, EPOLLIN);
	int inner = epoll_create1(0), outer = epoll_create1(0);
	struct epoll_event e = { .events = EPOLLIN }, ev[4];
	char buf[64];

	e.data.fd = inner;
	epoll_ctl(outer, EPOLL_CTL_ADD, inner, &e);
	ask_late(a, 10);
	CHECK("moved: the data is reported", reported(own, a, EPOLLIN));
	epoll_ctl(own, EPOLL_CTL_DEL, a, NULL);
	e.data.fd = a;
	epoll_ctl(inner, EPOLL_CTL_ADD, a, &e);
	CHECK("moved: the set holding its new set wakes",
	      epoll_wait(outer, ev, 4, 1000) == 1 && ev[0].data.fd == inner);
	CHECK("moved: its read gets it", read_all(a, buf, 10) == 0);
	close(outer);
	close(inner);
	close(own);
	close(a);
}

/* A registered number whose socket was closed, and the number reused by
 * another socket the set does not hold: the set reports nothing for it
 * (the kernel dropped the registration with the socket). */
static void t_epoll_reused(void)
{
	int a = dial(), ep = epoll_with(a, EPOLLIN), b, n;
	struct epoll_event ev[4];
	char buf[64];

	close(a);
	b = dial();
	if (b != a) {
		n = dup2(b, a);
		close(b);
		b = n;
	}
	ask(b, 10);
	usleep(20000);
	n = epoll_wait(ep, ev, 4, 100);
	CHECK("a closed socket's number, reused: no event", n == 0);
	CHECK("the new socket has its data", read_all(b, buf, 10) == 0);
	close(ep);
	close(b);
}

/* More V4V sockets in one wait than the interposer polls (256): such a
 * wait is the kernel's alone, and must be as exact.  A byte comes to one
 * of 300 connections while each kind of wait waits. */
#define MANY 300

static void *write_late(void *arg)
{
	usleep(2000);
	if (write((int)(intptr_t)arg, "m", 1) != 1)
		perror("conform: write_late");
	return NULL;
}

static void late_byte(pthread_t *t, int fd)
{
	pthread_create(t, NULL, write_late, (void *)(intptr_t)fd);
}

static void t_many_epoll(const int *c, const int *s)
{
	struct epoll_event ev[8];
	pthread_t t;
	int ep = epoll_create1(0), n;
	char b;

	for (int i = 0; i < MANY; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.fd = c[i] };

		epoll_ctl(ep, EPOLL_CTL_ADD, c[i], &e);
	}
	late_byte(&t, s[270]);
	n = epoll_wait(ep, ev, 8, 5000);
	pthread_join(t, NULL);
	CHECK("300 in one epoll set: the one with data, alone",
	      n == 1 && ev[0].data.fd == c[270] && (ev[0].events & EPOLLIN));
	CHECK("300 in one epoll set: its byte", read(c[270], &b, 1) == 1);
	CHECK("300 in one epoll set: nothing once read",
	      epoll_wait(ep, ev, 8, 0) == 0);
	close(ep);
}

static void t_many_poll(const int *c, const int *s)
{
	struct pollfd p[MANY];
	pthread_t t;
	int n, hit = -1;
	char b;

	for (int i = 0; i < MANY; i++)
		p[i] = (struct pollfd){ .fd = c[i], .events = POLLIN };
	late_byte(&t, s[MANY - 1]);
	n = poll(p, MANY, 5000);
	pthread_join(t, NULL);
	for (int i = 0; i < MANY; i++)
		if (p[i].revents)
			hit = hit < 0 ? i : MANY; /* MANY: more than one */
	CHECK("poll on 300: the one with data, alone",
	      n == 1 && hit == MANY - 1 && (p[hit].revents & POLLIN));
	CHECK("poll on 300: its byte", read(c[MANY - 1], &b, 1) == 1);
}

static void t_many_select(const int *c, const int *s)
{
	struct timeval tv = { 5, 0 };
	fd_set r;
	pthread_t t;
	int n, top = -1, hits = 0;
	char b;

	FD_ZERO(&r);
	for (int i = 0; i < MANY; i++) {
		FD_SET(c[i], &r);
		top = c[i] > top ? c[i] : top;
	}
	late_byte(&t, s[280]);
	n = select(top + 1, &r, NULL, NULL, &tv);
	pthread_join(t, NULL);
	for (int i = 0; i < MANY; i++)
		hits += FD_ISSET(c[i], &r) != 0;
	CHECK("select on 300: the one with data, alone",
	      n == 1 && hits == 1 && FD_ISSET(c[280], &r));
	CHECK("select on 300: its byte", read(c[280], &b, 1) == 1);
}

static void t_many(void)
{
	struct sockaddr_in at;
	int l = side_listener(&at), c[MANY], s[MANY], made = 0;

	for (int i = 0; i < MANY && l >= 0; i++) {
		c[i] = dial_to(&at);
		s[i] = c[i] >= 0 ? accept(l, NULL, NULL) : -1;
		if (s[i] < 0) {
			if (c[i] >= 0)
				close(c[i]);
			break;
		}
		made++;
	}
	CHECK("300 connections", made == MANY);
	if (made == MANY) {
		t_many_epoll(c, s);
		t_many_poll(c, s);
		t_many_select(c, s);
	}
	for (int i = 0; i < made; i++) {
		close(c[i]);
		close(s[i]);
	}
	close(l);
}

static void t_readiness(void)
{
	struct sockaddr_in keep = listen_addr;
	int l = listener(16);
	pid_t srv = echo_server(l, 10);

	t_epoll_level();
	t_epoll_edge();
	t_epoll_nested();
	t_epoll_reused();
	t_epoll_moved();
	t_waits_back_to_back();
	t_many();
	close(l);
	waitpid(srv, NULL, 0);
	listen_addr = keep;
}

/* A child of vfork runs in our memory until it execs: its closes and dups
 * (CPython's subprocess makes them there) are its own, not ours. */
static void t_vfork(void)
{
	struct sockaddr_in keep = listen_addr;
	int l = listener(4), fd, st = 0;
	pid_t srv = echo_server(l, 1), pid;
	char buf[4] = { 0 };
	struct timeval tv = { .tv_sec = 10 };

	fd = dial();
	/* A broken parent must fail the check, not hang the run. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pid = vfork();
	if (pid == 0) {
		dup2(dup(fd), fd);
		close(fd);
		close_range(3, ~0u, 0);
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	CHECK("vfork: the child ran", pid > 0 && waitpid(pid, &st, 0) == pid &&
				       WIFEXITED(st) && !WEXITSTATUS(st));
	CHECK("vfork: our connection is as it was",
	      !write_all(fd, "ping", 4) && !read_all(fd, buf, 4) &&
	      !memcmp(buf, "ping", 4));
	close(fd);
	close(l);
	waitpid(srv, NULL, 0);
	listen_addr = keep;
}

/*
 * exec: servers hand a connection to a program they run, as its standard
 * input and output (inetd, git daemon, sshd), or let a child write on it
 * while they read (git push's pack-objects).  The program is this one
 * again, with a helper's name (exec_helper).
 */
static const char *self_path;

/* In the exec'd program: "echo" copies its input to its output until end
 * of file, failing if its standard input names no peer; "hello" says
 * hello and leaves. */
static int exec_helper(const char *what)
{
	struct sockaddr_storage a;
	socklen_t alen = sizeof(a);
	char buf[65536];
	ssize_t n;

	if (!strcmp(what, "hello"))
		return write_all(1, "hello\n", 6) ? 2 : 0;
	if (getpeername(0, (struct sockaddr *)&a, &alen))
		return 3;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write_all(1, buf, (size_t)n))
			return 2;
	return n ? 2 : 0;
}

/* Serve one connection on l in a child: `how` is what its child does.
 * The child's exit status is the helper's, or the serving checks'. */
static pid_t exec_server(int l, const char *how)
{
	pid_t pid = fork(), kid;
	int c, st = 0;
	char buf[16];

	if (pid)
		return pid;
	c = accept(l, NULL, NULL);
	close(l);
	if (c < 0)
		_exit(9);
	kid = fork();
	if (!kid) {
		if (strcmp(how, "hello"))
			dup2(c, 0);
		dup2(c, 1);
		close(c);
		if (!strcmp(how, "fail")) {
			/* The exec fails: the connection is still ours. */
			execl("/nonexistent/program", "program", (char *)NULL);
			if (write_all(1, "still\n", 6) || read_all(0, buf, 2) ||
			    write_all(1, buf, 2))
				_exit(4);
			_exit(0);
		}
		execl("/proc/self/exe", self_path, "--exec",
		      strcmp(how, "hello") ? "echo" : "hello", (char *)NULL);
		_exit(5);
	}
	if (!strcmp(how, "hello")) {
		/* The child wrote on the connection and left; we read and
		 * write on it after. */
		waitpid(kid, &st, 0);
		if (read_all(c, buf, 5) || memcmp(buf, "ping\n", 5) ||
		    write_all(c, "pong\n", 5))
			_exit(6);
		close(c);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
	}
	/* "wait": as CGI servers do, hold the connection until the child
	 * is done with it. */
	if (strcmp(how, "wait"))
		close(c);
	waitpid(kid, &st, 0);
	close(c);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
}

/* A broken hand-over must fail the check, not hang the run. */
static int dial_exec(void)
{
	struct timeval tv = { .tv_sec = 10 };
	int fd = dial();

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The server's verdict; a server still stuck after the client gave up
 * is killed. */
static bool exec_served(pid_t srv)
{
	int st = 0;
	pid_t r = 0;

	for (int i = 0; i < 100 && !(r = waitpid(srv, &st, WNOHANG)); i++)
		usleep(100000);
	if (!r) {
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
	}
	return r == srv && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void t_exec_stdio(int l, const char *how)
{
	size_t len = 1 << 20;
	char *out = malloc(len), *in = malloc(len);
	pid_t srv = exec_server(l, how);
	int fd = dial_exec();
	bool same = fd >= 0;
	char name[96];

	for (size_t i = 0; i < len; i++)
		out[i] = (char)(i * 2654435761u >> 11);
	for (size_t off = 0; off < len && same; off += 65536)
		same = !write_all(fd, out + off, 65536) &&
		       !read_all(fd, in + off, 65536);
	snprintf(name, sizeof(name),
		 "exec (%s): 1 MiB through a program run on the connection", how);
	CHECK(name, same && !memcmp(in, out, len));
	shutdown(fd, SHUT_WR);
	snprintf(name, sizeof(name),
		 "exec (%s): our end of file is the program's, its exit ours", how);
	CHECK(name, read(fd, in, 1) == 0);
	snprintf(name, sizeof(name),
		 "exec (%s): the program's standard input has a peer", how);
	CHECK(name, exec_served(srv));
	close(fd);
	free(out);
	free(in);
}

static void t_exec_failed(int l)
{
	pid_t srv = exec_server(l, "fail");
	int fd = dial_exec();
	char buf[8] = { 0 };

	CHECK("exec failed: the connection works as before",
	      fd >= 0 && !read_all(fd, buf, 6) && !memcmp(buf, "still\n", 6) &&
	      !write_all(fd, "x\n", 2) && !read_all(fd, buf, 2) &&
	      !memcmp(buf, "x\n", 2));
	CHECK("exec failed: then end of file", read(fd, buf, 1) == 0);
	CHECK("exec failed: served", exec_served(srv));
	close(fd);
}

static void t_exec_shared(int l)
{
	pid_t srv = exec_server(l, "hello");
	int fd = dial_exec();
	char buf[8] = { 0 };

	CHECK("exec: a child's program writes on its parent's connection",
	      fd >= 0 && !read_all(fd, buf, 6) && !memcmp(buf, "hello\n", 6));
	CHECK("exec: then the parent reads and writes on it",
	      !write_all(fd, "ping\n", 5) && !read_all(fd, buf, 5) &&
	      !memcmp(buf, "pong\n", 5));
	CHECK("exec: end of file once both let go", read(fd, buf, 1) == 0);
	CHECK("exec: shared connection served", exec_served(srv));
	close(fd);
}

/* Without exec: a parent reads and answers, then its child (forked
 * before) reads and answers what follows, as with one kernel socket. */
static pid_t turns_server(int l)
{
	pid_t pid = fork(), kid;
	int c, go[2], st = 0;
	char buf[2];

	if (pid)
		return pid;
	c = accept(l, NULL, NULL);
	if (c < 0 || pipe(go))
		_exit(9);
	kid = fork();
	if (!kid) {
		if (read_all(go[0], buf, 1) || read_all(c, buf, 2) ||
		    memcmp(buf, "b\n", 2) || write_all(c, "B\n", 2))
			_exit(4);
		_exit(0);
	}
	if (read_all(c, buf, 2) || memcmp(buf, "a\n", 2) ||
	    write_all(c, "A\n", 2) || write_all(go[1], "g", 1))
		_exit(5);
	close(c);
	waitpid(kid, &st, 0);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
}

static void t_fork_turns(int l)
{
	pid_t srv = turns_server(l);
	int fd = dial_exec();
	char buf[2] = { 0 };

	CHECK("fork: the parent reads and answers",
	      fd >= 0 && !write_all(fd, "a\n", 2) && !read_all(fd, buf, 2) &&
	      !memcmp(buf, "A\n", 2));
	CHECK("fork: then its child reads and answers what follows",
	      !write_all(fd, "b\n", 2) && !read_all(fd, buf, 2) &&
	      !memcmp(buf, "B\n", 2));
	CHECK("fork: end of file once both let go", read(fd, buf, 1) == 0);
	CHECK("fork: turns served", exec_served(srv));
	close(fd);
}

static void t_exec(void)
{
	struct sockaddr_in keep = listen_addr;
	int l = listener(4);

	t_exec_stdio(l, "echo");
	/* A parent that holds the connection but reads nothing. */
	t_exec_stdio(l, "wait");
	t_exec_failed(l);
	t_exec_shared(l);
	t_fork_turns(l);
	close(l);
	listen_addr = keep;
}

int main(int argc, char **argv)
{
	int l;
	pid_t srv;

	if (argc == 3 && !strcmp(argv[1], "--exec"))
		return exec_helper(argv[2]);
	self_path = argv[0];
	signal(SIGPIPE, SIG_IGN);
	l = listener(64);
	CHECK("listen", l >= 0);
	srv = echo_server(l, 19);
	t_echo();
	t_names();
	t_nonblocking();
	t_vectors();
	t_sendfile_splice();
	t_dup_high();
	t_reuse();
	t_threads();
	t_eintr();
	t_nonblock_elsewhere();
	t_bad_control();
	t_listener();
	t_prefork();
	t_accept_queue();
	t_send_first();
	t_after_end();
	t_ports();
	t_shared_listener();
	t_readiness();
	t_vfork();
	t_exec();
	close(l);
	/* The server has one connection left: let it end. */
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
	printf("bytes %llu\n", moved);
	return fails ? 1 : 0;
}
