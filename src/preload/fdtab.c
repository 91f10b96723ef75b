/* SPDX-License-Identifier: MIT */
/*
 * The interposer's descriptor table: one entry per descriptor number, in
 * chunks that are allocated once and never freed, so that a lookup needs
 * no lock and never races with a resize or a free.
 */
#include "preload.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK 1024
#define NCHUNKS 1024

static struct pfd *chunks[NCHUNKS];
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pfd *grow(unsigned hi)
{
	struct pfd *c;

	pthread_mutex_lock(&grow_lock);
	c = chunks[hi];
	if (!c) {
		c = calloc(CHUNK, sizeof(*c));
		for (unsigned i = 0; c && i < CHUNK; i++)
			pthread_mutex_init(&c[i].lock, NULL);
		__atomic_store_n(&chunks[hi], c, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&grow_lock);
	return c;
}

struct pfd *pfd_at(int fd, bool create)
{
	struct pfd *c;
	unsigned hi;

	if (fd < 0 || (unsigned)fd >= CHUNK * NCHUNKS)
		return NULL;
	hi = (unsigned)fd / CHUNK;
	c = __atomic_load_n(&chunks[hi], __ATOMIC_ACQUIRE);
	if (!c && create)
		c = grow(hi);
	return c ? &c[(unsigned)fd % CHUNK] : NULL;
}

int pfd_kind(int fd)
{
	return pfd_kind_of(pfd_at(fd, false));
}

void pfd_set_kind(struct pfd *p, int kind)
{
	__atomic_store_n(&p->kind, kind, __ATOMIC_RELEASE);
}

static void clear(struct pfd *p)
{
	pfd_set_kind(p, PFD_NONE);
	p->family = 0;
	p->nonblock = false;
	p->v4v_dead = false;
	p->kfd = p->vfd = -1;
	p->local_len = p->peer_len = 0;
	p->nopts = 0;
}

void pfd_reset(int fd)
{
	struct pfd *p = pfd_at(fd, false);

	if (!p || pfd_kind_of(p) == PFD_NONE)
		return;
	pthread_mutex_lock(&p->lock);
	clear(p);
	pthread_mutex_unlock(&p->lock);
}

void pfd_copy(int from, int to)
{
	struct pfd *src = pfd_at(from, false), *dst = pfd_at(to, true);
	struct pfd tmp;

	if (!src || !dst)
		return;
	pthread_mutex_lock(&src->lock);
	tmp = *src;
	pthread_mutex_unlock(&src->lock);
	pthread_mutex_lock(&dst->lock);
	dst->family = tmp.family;
	dst->nonblock = tmp.nonblock;
	dst->v4v_dead = tmp.v4v_dead;
	dst->kfd = tmp.kfd;
	dst->vfd = tmp.vfd;
	dst->local = tmp.local;
	dst->peer = tmp.peer;
	dst->local_len = tmp.local_len;
	dst->peer_len = tmp.peer_len;
	dst->nopts = tmp.nopts;
	memcpy(dst->opts, tmp.opts, sizeof(tmp.opts));
	pfd_set_kind(dst, tmp.kind);
	pthread_mutex_unlock(&dst->lock);
}

void pfd_each(void (*fn)(int fd, struct pfd *p, void *arg), void *arg)
{
	for (unsigned hi = 0; hi < NCHUNKS; hi++) {
		struct pfd *c = __atomic_load_n(&chunks[hi], __ATOMIC_ACQUIRE);

		for (unsigned lo = 0; c && lo < CHUNK; lo++)
			if (pfd_kind_of(&c[lo]) != PFD_NONE)
				fn((int)(hi * CHUNK + lo), &c[lo], arg);
	}
}

/* Called with p->lock held. */
struct pfd_opt *pfd_opt(struct pfd *p, int level, int name, bool create)
{
	for (uint32_t i = 0; i < p->nopts; i++)
		if (p->opts[i].level == level && p->opts[i].name == name)
			return &p->opts[i];
	if (!create || p->nopts == PFD_MAX_OPTS)
		return NULL;
	p->opts[p->nopts] = (struct pfd_opt){ .level = level, .name = name };
	return &p->opts[p->nopts++];
}
