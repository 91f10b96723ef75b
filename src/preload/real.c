/* SPDX-License-Identifier: MIT */
/*
 * libc's functions behind ours, and the names the V4V library calls them
 * by inside the interposer: its archive is linked with close, send, fcntl
 * and the rest renamed to v4v_sys_* (see meson.build), so that the
 * library working on its own descriptors never comes back through the
 * wrappers meant for the application's.
 */
#include "preload.h"
#include "lib/interposer.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct real real;

#define RESOLVE(name)                                                        \
	do {                                                                 \
		void *f = dlsym(RTLD_NEXT, #name);                           \
		__atomic_store_n((void **)&real.name, f, __ATOMIC_RELEASE);  \
	} while (0)

/*
 * A child of vfork (or of clone with CLONE_VM: CPython's subprocess, some
 * posix_spawn implementations) runs in its parent's memory until it execs
 * or exits, and no fork handler runs for it: what it changes in our tables
 * (a close of a V4V number, a dup onto one) the parent would wake up to.
 * It is told from its pid, which is not the one this memory belongs to.
 */
static pid_t memory_owner;

static void new_owner(void)
{
	__atomic_store_n(&memory_owner, getpid(), __ATOMIC_RELAXED);
}

static void atfork_owner(void)
{
	pthread_atfork(NULL, NULL, new_owner);
}

bool pl_borrowed_memory(void)
{
	return getpid() != __atomic_load_n(&memory_owner, __ATOMIC_RELAXED);
}

__attribute__((constructor)) void real_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	new_owner();
	pthread_once(&once, atfork_owner);
	RESOLVE(bind);
	RESOLVE(listen);
	RESOLVE(accept4);
	RESOLVE(connect);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(readv);
	RESOLVE(writev);
	RESOLVE(recv);
	RESOLVE(recvfrom);
	RESOLVE(recvmsg);
	RESOLVE(recvmmsg);
	RESOLVE(send);
	RESOLVE(sendto);
	RESOLVE(sendmsg);
	RESOLVE(sendmmsg);
	RESOLVE(sendfile);
	RESOLVE(splice);
	RESOLVE(shutdown);
	RESOLVE(close);
	RESOLVE(close_range);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(ioctl);
	RESOLVE(getsockopt);
	RESOLVE(setsockopt);
	RESOLVE(getsockname);
	RESOLVE(getpeername);
	RESOLVE(epoll_ctl);
	RESOLVE(epoll_pwait);
	RESOLVE(ppoll);
	RESOLVE(pselect);
	RESOLVE(execve);
	RESOLVE(execvpe);
	RESOLVE(fexecve);
	RESOLVE(sigaction);
	/* Last: the wrappers test it to know the table is complete. */
	RESOLVE(socket);
	if (!real.socket) {
		fputs("libv4v-preload: cannot find libc's socket()\n", stderr);
		abort();
	}
	/* fcntl and ioctl are ours: a socket's O_NONBLOCK cannot change
	 * unseen (fdops.c, and io.c for descriptors passed away). */
	v4v_sock_track_nonblock();
}

/* The V4V library's system calls (see above). */
int v4v_sys_close(int fd);
int v4v_sys_poll(struct pollfd *fds, nfds_t n, int timeout);
int v4v_sys_connect(int fd, const struct sockaddr *a, socklen_t l);
int v4v_sys_dup3(int a, int b, int f);
int v4v_sys_fcntl64(int fd, int cmd, ...);
ssize_t v4v_sys_recv(int fd, void *b, size_t n, int f);
ssize_t v4v_sys_recvmsg(int fd, struct msghdr *m, int f);
ssize_t v4v_sys_send(int fd, const void *b, size_t n, int f);
ssize_t v4v_sys_sendmsg(int fd, const struct msghdr *m, int f);
int v4v_sys_setsockopt(int fd, int l, int n, const void *v, socklen_t len);
int v4v_sys_shutdown(int fd, int how);
int v4v_sys_socket(int d, int t, int p);

#define NEED(name) (real.socket ? (void)0 : real_init())

int v4v_sys_close(int fd)
{
	NEED();
	return real.close(fd);
}

int v4v_sys_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };

	NEED();
	return real.ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

int v4v_sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	NEED();
	return real.connect(fd, a, l);
}

int v4v_sys_dup3(int a, int b, int f)
{
	NEED();
	return real.dup3(a, b, f);
}

int v4v_sys_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	NEED();
	return real.fcntl(fd, cmd, arg);
}

ssize_t v4v_sys_recv(int fd, void *b, size_t n, int f)
{
	NEED();
	return real.recv(fd, b, n, f);
}

ssize_t v4v_sys_recvmsg(int fd, struct msghdr *m, int f)
{
	NEED();
	return real.recvmsg(fd, m, f);
}

ssize_t v4v_sys_send(int fd, const void *b, size_t n, int f)
{
	NEED();
	return real.send(fd, b, n, f);
}

ssize_t v4v_sys_sendmsg(int fd, const struct msghdr *m, int f)
{
	NEED();
	return real.sendmsg(fd, m, f);
}

int v4v_sys_setsockopt(int fd, int l, int n, const void *v, socklen_t len)
{
	NEED();
	return real.setsockopt(fd, l, n, v, len);
}

int v4v_sys_shutdown(int fd, int how)
{
	NEED();
	return real.shutdown(fd, how);
}

int v4v_sys_socket(int d, int t, int p)
{
	NEED();
	return real.socket(d, t, p);
}
