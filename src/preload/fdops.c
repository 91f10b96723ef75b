/* SPDX-License-Identifier: MIT */
/*
 * Descriptor numbers: close, dup, fcntl, ioctl, epoll_ctl, shutdown and
 * exec.  Each V4V socket or merged listener keeps its state by number, so
 * every way a number can end or be copied is caught here.
 */
#include "preload.h"
#include "v4v/socket.h"
#include "lib/interposer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NEED() (real.socket ? (void)0 : real_init())

extern char **environ;

/* End everything number fd names for us, the number included. */
static int close_entry(int fd)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), kfd = -1, vfd = -1;

	if (kind == PFD_NONE) {
		pl_wait_forget(fd);
		return real.close(fd);
	}
	if (pl_borrowed_memory())
		return real.close(fd);
	pthread_mutex_lock(&p->lock);
	kind = p->kind;
	kfd = p->kfd;
	vfd = p->vfd;
	pfd_set_kind(p, PFD_NONE);
	pthread_mutex_unlock(&p->lock);
	if (kind == PFD_V4V)
		return v4v_close(fd);
	if (kind == PFD_LISTEN) {
		real.close(kfd);
		v4v_close(vfd);
	}
	return real.close(fd);
}

int close(int fd)
{
	NEED();
	return close_entry(fd);
}

struct range { unsigned lo, hi; };

static void close_in_range(int fd, struct pfd *p, void *arg)
{
	const struct range *r = arg;

	(void)p;
	if ((unsigned)fd >= r->lo && (unsigned)fd <= r->hi)
		close_entry(fd);
}

int close_range(unsigned lo, unsigned hi, int flags)
{
	struct range r = { lo, hi };

	NEED();
	if (!(flags & CLOSE_RANGE_CLOEXEC) && !pl_borrowed_memory())
		pfd_each(close_in_range, &r);
	return real.close_range(lo, hi, flags);
}

void closefrom(int lo)
{
	NEED();
	close_range((unsigned)lo, ~0u, 0);
}

/* A second number for what fd names: `to` if >= 0 (replacing what it
 * named), else the lowest free one from `min`. */
static int dup_entry(int fd, int to, int min, int cloexec)
{
	struct pfd *p = pfd_at(fd, false), *q;
	int kind = pfd_kind_of(p), n;

	if (pl_borrowed_memory())
		return to >= 0 ? real.dup3(fd, to, cloexec ? O_CLOEXEC : 0)
			       : real.fcntl(fd, cloexec ? F_DUPFD_CLOEXEC
						       : F_DUPFD, min);
	if (to >= 0 && to != fd && pfd_kind(to) != PFD_NONE)
		close_entry(to);
	n = to >= 0 ? real.dup3(fd, to, cloexec ? O_CLOEXEC : 0)
		    : real.fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
	if (n < 0)
		return n;
	pfd_reset(n);
	if (kind == PFD_NONE)
		return n;
	if (kind == PFD_V4V && v4v_sock_alias(fd, n)) {
		real.close(n);
		errno = EMFILE;
		return -1;
	}
	pfd_copy(fd, n);
	if (kind == PFD_LISTEN) {
		/* Each number owns its listeners: either may be closed. */
		q = pfd_at(n, false);
		q->kfd = real.fcntl(p->kfd, F_DUPFD_CLOEXEC, 0);
		q->vfd = real.fcntl(p->vfd, F_DUPFD_CLOEXEC, 0);
		if (q->vfd >= 0)
			v4v_sock_alias(p->vfd, q->vfd);
	}
	return n;
}

int dup(int fd)
{
	NEED();
	return dup_entry(fd, -1, 0, 0);
}

int dup2(int fd, int to)
{
	NEED();
	if (fd == to)
		return real.fcntl(fd, F_GETFD) < 0 ? -1 : to;
	return dup_entry(fd, to, 0, 0);
}

int dup3(int fd, int to, int flags)
{
	NEED();
	if (fd == to || (flags & ~O_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	return dup_entry(fd, to, 0, flags & O_CLOEXEC);
}

static int do_fcntl(int fd, int cmd, void *arg)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), rc;

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_entry(fd, -1, (int)(intptr_t)arg,
				 cmd == F_DUPFD_CLOEXEC);
	rc = real.fcntl(fd, cmd, arg);
	if (rc == 0 && cmd == F_SETFL && kind == PFD_V4V)
		v4v_sock_refresh(fd);
	if (rc == 0 && cmd == F_SETFL && kind == PFD_LISTEN)
		__atomic_store_n(&p->nonblock,
				 ((intptr_t)arg & O_NONBLOCK) != 0,
				 __ATOMIC_RELAXED);
	return rc;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEED();
	return do_fcntl(fd, cmd, arg);
}

/* Programs built with large-file offsets call it by this name. */
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

int ioctl(int fd, unsigned long req, ...)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p), rc;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEED();
	if (kind == PFD_V4V && (req == FIONREAD || req == FIONBIO))
		return v4v_ioctl(fd, req, arg);
	rc = real.ioctl(fd, req, arg);
	if (rc == 0 && kind == PFD_LISTEN && req == FIONBIO)
		__atomic_store_n(&p->nonblock, *(int *)arg != 0,
				 __ATOMIC_RELAXED);
	return rc;
}

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event mine;

	NEED();
	/* The kernel refuses EPOLLEXCLUSIVE on an epoll instance, which a
	 * merged listener is; without it every waiter wakes, and all but
	 * one find EAGAIN, as they would with a plain listener. */
	if (ev && (ev->events & EPOLLEXCLUSIVE) && pfd_kind(fd) == PFD_LISTEN) {
		mine = *ev;
		mine.events &= ~EPOLLEXCLUSIVE;
		ev = &mine;
	}
	if (real.epoll_ctl(ep, op, fd, ev))
		return -1;
	pl_wait_epoll_ctl(ep, op, fd, ev);
	return 0;
}

int shutdown(int fd, int how)
{
	struct pfd *p = pfd_at(fd, false);
	int kind = pfd_kind_of(p);

	NEED();
	if (kind == PFD_V4V)
		return v4v_shutdown(fd, how);
	return real.shutdown(kind == PFD_LISTEN ? p->kfd : fd, how);
}

/*
 * exec: the new program cannot know our state.  A merged listener that
 * stays open across exec goes back to being the kernel listener alone.  A
 * V4V connection handed to the new program as its standard input, output
 * or error (inetd, git daemon, sshd's re-exec) becomes a TCP loopback
 * connection to a relay process that carries it on (relay.c), at all of
 * its numbers.  Any other V4V socket becomes an unconnected TCP socket,
 * so the new program gets ENOTCONN instead of reading the doorbell's
 * bytes: a connection at another number is most often one leaked to a
 * helper that never uses it (git's index-pack inherits the connection its
 * parent goes on reading), and a relay would take its parent's data.  If
 * exec fails, all is put back and the relays leave without a trace.
 */
#define EXEC_MAX 64

struct saved { int fd, copy, kfd; };
struct relayed { uint64_t id; int end; };
struct exec_state {
	struct saved s[EXEC_MAX];
	struct relayed r[EXEC_MAX];
	int n, nr;
	int gate[2];		/* relay.c: the exec closes [1] */
};

/* Is fd a connected stream a relay can carry on? */
static bool relayable(int fd, int family)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);
	int type = 0;
	socklen_t tlen = sizeof(type);

	return pl_inet_family(family) &&
	       !v4v_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) &&
	       type == SOCK_STREAM &&
	       !v4v_getpeername(fd, (struct sockaddr *)&a, &len);
}

/* The TCP end that takes the place of V4V connection fd: the one an
 * earlier number of the same connection got, or a new relay's for a
 * standard stream; -1 if none. */
static int relay_end(struct exec_state *st, int fd, int family)
{
	uint64_t id = v4v_sock_id(fd);
	int end;

	for (int i = 0; i < st->nr; i++)
		if (st->r[i].id == id)
			return st->r[i].end;
	if (fd > STDERR_FILENO || !relayable(fd, family))
		return -1;
	if (st->gate[0] < 0 && pipe2(st->gate, O_CLOEXEC))
		return -1;
	end = pl_relay(fd, family, real.fcntl(fd, F_GETFL) & O_NONBLOCK,
		       st->gate);
	if (end >= 0)
		st->r[st->nr++] = (struct relayed){ id, end };
	return end;
}

static void hand_over(int fd, struct pfd *p, void *arg)
{
	struct exec_state *st = arg;
	int kind = pfd_kind_of(p), copy, repl = -1;
	bool relayed = false;

	if (kind == PFD_TCP || st->n == EXEC_MAX ||
	    (real.fcntl(fd, F_GETFD) & FD_CLOEXEC))
		return;
	copy = real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return;
	if (kind == PFD_LISTEN) {
		/* Ours is always non-blocking; the program's may not be. */
		int fl = real.fcntl(p->kfd, F_GETFL);

		real.fcntl(p->kfd, F_SETFL,
			   p->nonblock ? fl : fl & ~O_NONBLOCK);
		repl = real.dup3(p->kfd, fd, 0);
	} else if (kind == PFD_V4V) {
		repl = relay_end(st, fd, p->family);
		relayed = repl >= 0;
	}
	if (repl < 0 && kind == PFD_V4V && pl_inet_family(p->family))
		repl = real.socket(p->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (repl >= 0 && repl != fd) {
		real.dup3(repl, fd, 0);
		if (!relayed)
			real.close(repl);
	}
	st->s[st->n++] = (struct saved){ fd, copy,
					 kind == PFD_LISTEN ? p->kfd : -1 };
}

static struct exec_state *exec_prepare(struct exec_state *st)
{
	st->n = st->nr = 0;
	st->gate[0] = st->gate[1] = -1;
	/* A child of vfork: our table names its parent's descriptors. */
	if (pl_borrowed_memory())
		return st;
	pfd_each(hand_over, st);
	if (st->gate[0] >= 0)
		real.close(st->gate[0]);
	return st;
}

static void exec_failed(struct exec_state *st)
{
	int e = errno;

	for (int i = 0; i < st->n; i++) {
		struct saved *v = &st->s[i];

		real.dup3(v->copy, v->fd, 0);
		real.close(v->copy);
		if (v->kfd >= 0)
			real.fcntl(v->kfd, F_SETFL,
				   real.fcntl(v->kfd, F_GETFL) | O_NONBLOCK);
	}
	/* A byte for each relay: it leaves at once. */
	for (int i = 0; i < st->nr; i++) {
		real.write(st->gate[1], "x", 1);
		real.close(st->r[i].end);
	}
	if (st->gate[1] >= 0)
		real.close(st->gate[1]);
	errno = e;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	struct exec_state st;

	NEED();
	exec_prepare(&st);
	real.execve(path, argv, envp);
	exec_failed(&st);
	return -1;
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
	struct exec_state st;

	NEED();
	exec_prepare(&st);
	real.execvpe(file, argv, envp);
	exec_failed(&st);
	return -1;
}

int fexecve(int fd, char *const argv[], char *const envp[])
{
	struct exec_state st;

	NEED();
	exec_prepare(&st);
	real.fexecve(fd, argv, envp);
	exec_failed(&st);
	return -1;
}

int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* The list forms: gather the arguments (and, for execle, the
 * environment after the NULL), then as above. */
static char **gather(const char *first, va_list *ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **argv = malloc(cap * sizeof(*argv)), **grown;

	if (!argv)
		return NULL;
	argv[0] = (char *)first;
	do {
		if (n == cap) {
			grown = realloc(argv, (cap *= 2) * sizeof(*argv));
			if (!grown) {
				free(argv);
				return NULL;
			}
			argv = grown;
		}
		argv[n] = va_arg(*ap, char *);
	} while (argv[n++]);
	if (envp)
		*envp = va_arg(*ap, char **);
	return argv;
}

static int exec_list(const char *prog, const char *arg, va_list *ap,
		     bool path_search, bool with_env)
{
	char **envp = environ, **argv;

	argv = gather(arg, ap, with_env ? &envp : NULL);
	if (!argv) {
		errno = ENOMEM;
		return -1;
	}
	if (path_search)
		execvpe(prog, argv, envp);
	else
		execve(prog, argv, envp);
	free(argv);
	return -1;
}

int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(path, arg, &ap, false, false);
	va_end(ap);
	return rc;
}

int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(file, arg, &ap, true, false);
	va_end(ap);
	return rc;
}

int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(path, arg, &ap, false, true);
	va_end(ap);
	return rc;
}
