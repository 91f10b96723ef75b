/* SPDX-License-Identifier: MIT */
/*
 * SA_RESTART for calls the interposer blocks in.  The kernel restarts a
 * socket call interrupted by a handler installed with SA_RESTART (unless
 * the socket has a timeout) and fails it with EINTR otherwise; our waits
 * are poll(2), which never restarts.  So each handler is called through a
 * trampoline that notes which signal ran, and an interrupted wait looks
 * up that signal's flags to decide.
 */
#include "preload.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static struct sigaction user[NSIG];	/* as the application set them */
static __thread volatile sig_atomic_t last_sig;

int sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t signal(int sig, sighandler_t handler);

static void trampoline(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *u = &user[sig];

	last_sig = sig;
	if (u->sa_flags & SA_SIGINFO)
		u->sa_sigaction(sig, si, uc);
	else if (u->sa_handler != SIG_IGN && u->sa_handler != SIG_DFL)
		u->sa_handler(sig);
}

static bool catches(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ||
	       (a->sa_handler != SIG_IGN && a->sa_handler != SIG_DFL);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction mine, was, prev;
	int rc;

	if (!real.sigaction)
		real_init();
	if (sig <= 0 || sig >= NSIG)
		return real.sigaction(sig, act, old);
	prev = user[sig];
	if (act && catches(act)) {
		mine = *act;
		mine.sa_flags |= SA_SIGINFO;
		mine.sa_sigaction = trampoline;
		user[sig] = *act;
		act = &mine;
	}
	rc = real.sigaction(sig, act, &was);
	if (rc) {
		user[sig] = prev;
		return rc;
	}
	if (old)
		*old = was.sa_sigaction == trampoline ? prev : was;
	return 0;
}

/* glibc's signal() has BSD semantics, and calls sigaction inside libc
 * where we cannot see it: so it is done here. */
sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act = { .sa_handler = handler,
				 .sa_flags = SA_RESTART }, old;

	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old))
		return SIG_ERR;
	return old.sa_handler;
}

int pl_sig_last(void)
{
	return last_sig;
}

void pl_sig_arm(void)
{
	last_sig = 0;
}

static bool has_timeout(struct pfd *p, int opt)
{
	struct timeval tv = { 0 };
	struct pfd_opt *o;

	pthread_mutex_lock(&p->lock);
	o = pfd_opt(p, SOL_SOCKET, opt, false);
	if (o)
		memcpy(&tv, o->val, o->len < sizeof(tv) ? o->len : sizeof(tv));
	pthread_mutex_unlock(&p->lock);
	return tv.tv_sec || tv.tv_usec;
}

bool pl_sig_restart(struct pfd *p, int timeo_opt)
{
	int sig = last_sig;

	if (errno != EINTR || sig <= 0 || sig >= NSIG ||
	    !(user[sig].sa_flags & SA_RESTART))
		return false;
	/* "unless a timeout has been set on the socket" (signal(7)) */
	return !(p && has_timeout(p, timeo_opt));
}
