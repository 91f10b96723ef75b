/* SPDX-License-Identifier: MIT */
/*
 * A V4V connection across exec.  The new program cannot run our state (a
 * ring, a doorbell), but it can run a kernel socket: it gets one end of a
 * TCP loopback connection, and a relay process, made by fork before the
 * exec so that it holds the V4V connection, pumps bytes between the other
 * end and the connection until both directions have ended.  Ends pass
 * through as TCP passes them: a shutdown becomes a shutdown, a reset a
 * reset.  `git daemon` and inetd-style servers hand their connection to
 * the program they exec this way.
 *
 * The relay is a grandchild (its parent exits at once), so the program
 * never sees it as a child to wait for.  It does nothing until the exec
 * has happened: it waits on a gate, a pipe whose writing end the exec
 * closes (FD_CLOEXEC); if the exec fails the caller writes a byte into
 * it instead, and the relay exits without touching the connection.
 */
#include "preload.h"
#include "lib/interposer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RELAY_BUF 65536
#define MAX_KEEP 256

/* One direction of the pump. */
struct flow {
	int from, to;
	size_t off, len;
	bool eof, shut;
	char buf[RELAY_BUF];
};

static void loopback(int family, struct sockaddr_storage *a, socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)a;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)a;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*s4);
	}
}

static bool same_addr(const struct sockaddr_storage *a, socklen_t alen,
		      const struct sockaddr_storage *b, socklen_t blen)
{
	return alen == blen && !memcmp(a, b, alen);
}

/* A connected TCP loopback pair: ends[0] accepted, ends[1] connected.
 * The listener is ours for a moment only, but anyone may connect to it
 * meanwhile: an accepted stranger is dropped. */
static int tcp_pair(int family, int ends[2])
{
	struct sockaddr_storage la, mine, peer;
	socklen_t llen, mlen = sizeof(mine), plen;
	int l, c = -1, s = -1, one = 1;

	loopback(family, &la, &llen);
	l = real.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || real.bind(l, (struct sockaddr *)&la, llen) ||
	    real.listen(l, 4) ||
	    real.getsockname(l, (struct sockaddr *)&la, &llen))
		goto fail;
	c = real.socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || real.connect(c, (struct sockaddr *)&la, llen) ||
	    real.getsockname(c, (struct sockaddr *)&mine, &mlen))
		goto fail;
	for (int tries = 0; tries < 8 && s < 0; tries++) {
		plen = sizeof(peer);
		s = real.accept4(l, (struct sockaddr *)&peer, &plen,
				 SOCK_CLOEXEC);
		if (s < 0)
			goto fail;
		if (!same_addr(&peer, plen, &mine, mlen)) {
			real.close(s);
			s = -1;
		}
	}
	if (s < 0)
		goto fail;
	real.close(l);
	/* V4V has no Nagle: neither may the relay's hop. */
	real.setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	real.setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ends[0] = s;
	ends[1] = c;
	return 0;
fail:
	if (l >= 0)
		real.close(l);
	if (c >= 0)
		real.close(c);
	return -1;
}

/* Wait for the exec: true once it happened (the gate's writers are all
 * gone), false if the caller said it failed. */
static bool exec_happened(int gate)
{
	char b;
	ssize_t n;

	while ((n = real.read(gate, &b, 1)) < 0 && errno == EINTR)
		;
	return n == 0;
}

/* The program's signal handlers are the program's: not ours to run. */
static void own_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, ign = dfl;
	sigset_t none;

	ign.sa_handler = SIG_IGN;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, sig == SIGPIPE ? &ign : &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* v's other numbers go through close (they are the same connection:
 * libv4v must forget them, or closing v would not end it). */
static void close_alias(int fd, struct pfd *p, void *arg)
{
	const int *v = arg;

	if (fd != *v && pfd_kind_of(p) == PFD_V4V &&
	    v4v_sock_id(fd) == v4v_sock_id(*v))
		close(fd);
}

/* Close every descriptor but v, t and what libv4v needs for v: a listener
 * or pipe end of the program's kept here would outlive the program.  The
 * program's other sockets are only let go of, with no word to v4vd (the
 * program's exec let go of its own copies the same way): closing them
 * through libv4v could end what other processes still use (a reset for
 * SO_LINGER 0). */
static void shed(int v, int t)
{
	int keep[MAX_KEEP], n;
	unsigned lo = 0;

	pfd_each(close_alias, &v);
	n = v4v_sock_own_fds(v, keep, MAX_KEEP - 2);
	if (n < 0)
		_exit(0);
	keep[n++] = v;
	keep[n++] = t;
	if (pl_debug && n < MAX_KEEP)
		keep[n++] = 2; /* V4V_DEBUG: the log goes where the program's did */
	qsort(keep, (size_t)n, sizeof(keep[0]), cmp_int);
	for (int i = 0; i < n; i++) {
		if ((unsigned)keep[i] > lo)
			real.close_range(lo, (unsigned)keep[i] - 1, 0);
		lo = (unsigned)keep[i] + 1;
	}
	real.close_range(lo, ~0u, 0);
	/* Whatever libv4v writes to stderr must not land in a socket. */
	for (int fd = 0; fd < 3; fd++)
		if (real.fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", O_RDWR) != fd)
			break;
}

/* End both: the side that failed took its own error; the other is reset,
 * as a TCP peer would be. */
static _Noreturn void reset_exit(int fd, const char *why)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	pl_log(fd, "relay: reset (%s: %s)", why, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
	_exit(0);
}

/* Does another process hold the connection's socket (inode ino)?  Asked
 * of /proc; a process we may not look into counts as not holding it. */
static bool held_elsewhere(ino_t ino)
{
	char want[48], path[32], got[48];
	int me = getpid(), pid, wlen;
	struct dirent *e, *f;
	bool held = false;
	DIR *procs = opendir("/proc"), *fds;

	if (!procs)
		return false;
	wlen = snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)ino);
	while (!held && (e = readdir(procs))) {
		pid = atoi(e->d_name);
		if (pid <= 0 || pid == me)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		while (fds && !held && (f = readdir(fds)))
			held = readlinkat(dirfd(fds), f->d_name, got,
					  sizeof(got)) == wlen &&
			       !memcmp(got, want, (size_t)wlen);
		if (fds)
			closedir(fds);
	}
	closedir(procs);
	return held;
}

/*
 * The relay and its program are one holder of the connection; the process
 * that ran exec may have had company: a parent that goes on reading while
 * the child it ran writes (git push runs pack-objects on the connection),
 * or one that only waits for its child (a CGI server forks, the script
 * reads the request's body).  As with one kernel socket in several
 * processes, what arrives is for whoever reads it.  Alone (no other
 * process holds the socket, by /proc), the relay reads at once; in
 * company it takes only what nobody else took for STALE_MS (libv4v starts
 * where the last reader left off), and the program's end of file is its
 * close, not the connection's.
 */
struct relay {
	int v, t;
	ino_t ino;
	bool sole;		/* nobody else holds the connection */
	int wait_ms;		/* before looking at /proc again */
	uint64_t next_look;	/* ms */
	uint32_t mark;		/* where the readers were ... */
	uint64_t since;		/* ... since then (ms), 0: nothing waiting */
	bool reader;		/* the last to read was us */
	struct flow out, in;	/* V4V to TCP, TCP to V4V */
};

#define LOOK_MAX_MS 1000
#define STALE_MS 20
#define NAP_MS 10	/* in company, between looks at the ring */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool look(struct relay *r)
{
	if (!r->sole)
		r->sole = !held_elsewhere(r->ino);
	return r->sole;
}

/* In company: look at /proc again, less often as time goes by (a scan
 * costs a few milliseconds on a busy machine). */
static void look_later(struct relay *r, uint64_t now)
{
	if (r->sole || now < r->next_look)
		return;
	look(r);
	if (r->wait_ms < LOOK_MAX_MS)
		r->wait_ms *= 2;
	r->next_look = now + (uint64_t)r->wait_ms;
}

/* In company: is what waits in the ring ours?  Yes if the last to read
 * was us, or once nobody has read for STALE_MS while it waited. */
static bool unclaimed(struct relay *r, uint64_t now)
{
	uint32_t mark;

	if (v4v_sock_unread(r->v, &mark) <= 0) {
		r->since = 0;
		return false;
	}
	if (mark != r->mark) {
		r->mark = mark;
		r->since = now;
		r->reader = false;
	} else if (!r->since) {
		r->since = now;
	}
	return r->reader || now - r->since >= STALE_MS;
}

/* How long poll may sleep: for ever alone; in company until what waits
 * goes stale, or a nap. */
static int nap(const struct relay *r, uint64_t now)
{
	if (r->sole)
		return -1;
	if (r->since && !r->reader && r->since + STALE_MS > now)
		return (int)(r->since + STALE_MS - now);
	return NAP_MS;
}

/* What f wants of poll, or-ed into its two descriptors' entries. */
static void want(const struct flow *f, struct pollfd *from,
		 struct pollfd *to)
{
	if (!f->eof && !f->len)
		from->events |= POLLIN;
	if (f->len)
		to->events |= POLLOUT;
}

static void move(struct flow *f, short from_ev, short to_ev)
{
	ssize_t n;

	if (!f->eof && !f->len && (from_ev & (POLLIN | POLLHUP | POLLERR))) {
		n = recv(f->from, f->buf, sizeof(f->buf), MSG_DONTWAIT);
		if (n > 0) {
			f->off = 0;
			f->len = (size_t)n;
		} else if (n == 0) {
			f->eof = true;
		} else if (errno != EAGAIN && errno != EINTR) {
			reset_exit(f->to, "receive");
		}
	}
	if (f->len && (to_ev & (POLLOUT | POLLHUP | POLLERR))) {
		n = send(f->to, f->buf + f->off, f->len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			f->off += (size_t)n;
			f->len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			reset_exit(f->from, "send");
		}
	}
}

static bool ended(const struct flow *f)
{
	return f->eof && !f->len;
}

/* An end of file that has gone through becomes the other side's. */
static void pass_end(struct flow *f)
{
	if (ended(f) && !f->shut) {
		shutdown(f->to, SHUT_WR);
		f->shut = true;
	}
}

static _Noreturn void pump(struct relay *r)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = r->v }, { .fd = r->t } };
		uint64_t now = now_ms();
		bool take;
		int n;

		look_later(r, now);
		/* The program let go while others hold the connection. */
		if (ended(&r->in) && !look(r))
			break;
		take = r->sole || unclaimed(r, now);
		pass_end(&r->out);
		if (r->sole)
			pass_end(&r->in);
		/* The reader waits for what comes next as it would alone;
		 * what was taken goes on in any case. */
		if (take || r->reader || r->out.len)
			want(&r->out, &p[0], &p[1]);
		want(&r->in, &p[1], &p[0]);
		if (!p[0].events && !p[1].events)
			break;
		/* A hang-up we may not act on yet must not wake us. */
		if (!p[0].events)
			p[0].fd = -1;
		n = poll(p, 2, nap(r, now));
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (take || r->out.len) {
			uint32_t was = r->mark;

			/* What was taken goes on; more only if ours. */
			move(&r->out, take ? p[0].revents : 0, p[1].revents);
			/* If what we took moved the readers' mark, we are
			 * the reader now. */
			if (!r->sole && v4v_sock_unread(r->v, &r->mark) >= 0 &&
			    r->mark != was)
				r->reader = true;
		}
		move(&r->in, p[1].revents, p[0].revents);
	}
	pl_log(r->v, "relay: %s", r->sole ? "both ways ended"
					  : "the program let go, others hold on");
	close(r->v);
	real.close(r->t);
	_exit(0);
}

static _Noreturn void relay(int v, int t, const int gate[2])
{
	static struct relay r;
	struct stat st;

	real.close(gate[1]);
	if (!exec_happened(gate[0]))
		_exit(0);
	setsid();
	prctl(PR_SET_NAME, "v4v-relay");
	own_signals();
	shed(v, t);
	if (fstat(v, &st))
		_exit(0);
	r.v = r.out.from = r.in.to = v;
	r.t = r.out.to = r.in.from = t;
	r.ino = st.st_ino;
	r.wait_ms = 1;
	look(&r);
	r.next_look = now_ms() + 1;
	v4v_sock_unread(v, &r.mark);
	pl_log(v, "relay: carries the connection for the program exec ran%s",
	       r.sole ? "" : " (other processes hold it too)");
	pump(&r);
}

int pl_relay(int fd, int family, int nonblock, const int gate[2])
{
	int ends[2];
	pid_t child;

	if (tcp_pair(family, ends) && (family == AF_INET ||
				       tcp_pair(AF_INET, ends)))
		return -1;
	child = fork();
	if (child < 0) {
		real.close(ends[0]);
		real.close(ends[1]);
		return -1;
	}
	if (!child) {
		if (!fork())
			relay(fd, ends[1], gate);
		_exit(0);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	real.close(ends[1]);
	if (nonblock)
		real.fcntl(ends[0], F_SETFL,
			   real.fcntl(ends[0], F_GETFL) | O_NONBLOCK);
	return ends[0];
}
