/* SPDX-License-Identifier: MIT */
#include "rgpu/lanes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct sctx {
	struct devctx *ctx;
	pthread_rwlock_t lock;
	unsigned refs;	       /* offered: under `table` */
	uint64_t token;	       /* 0 until offered */
	unsigned room;	       /* lanes that may still join */
	char who[64];	       /* the peer without its port */
	struct sctx *next;     /* in `offers` */
};

/* Sessions with an open offer. */
static pthread_mutex_t table = PTHREAD_MUTEX_INITIALIZER;
static struct sctx *offers;

/* "v4v 5:1234" -> "v4v 5", "tcp 127.0.0.1:40312" -> "tcp 127.0.0.1": a
 * lane must come from the session's domain or host. */
static void peer_identity(const char *peer, char *out, size_t outsz)
{
	const char *colon = strrchr(peer, ':');
	size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

	snprintf(out, outsz, "%.*s", (int)n, peer);
}

struct sctx *sctx_new(struct devctx *ctx, const char *peer)
{
	struct sctx *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ctx = ctx;
	s->refs = 1;
	pthread_rwlock_init(&s->lock, NULL);
	peer_identity(peer, s->who, sizeof(s->who));
	return s;
}

struct devctx *sctx_ctx(const struct sctx *s)
{
	return s->ctx;
}

void sctx_unwrap(struct sctx *s)
{
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

uint64_t sctx_offer(struct sctx *s, unsigned extra)
{
	uint64_t t = 0;

	/* Unguessable: a token is all a lane shows. */
	while (!t)
		if (getrandom(&t, sizeof(t), 0) != sizeof(t))
			return 0;
	pthread_mutex_lock(&table);
	if (s->token) {
		t = 0; /* one offer per session */
	} else {
		s->token = t;
		s->room = extra;
		s->next = offers;
		offers = s;
	}
	pthread_mutex_unlock(&table);
	return t;
}

static void unlist(struct sctx *s)
{
	for (struct sctx **p = &offers; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

struct sctx *sctx_join(uint64_t token, const char *peer)
{
	char who[64];
	struct sctx *found = NULL;

	peer_identity(peer, who, sizeof(who));
	pthread_mutex_lock(&table);
	for (struct sctx *s = offers; s && token; s = s->next)
		if (s->token == token && s->room && !strcmp(s->who, who)) {
			s->room--;
			s->refs++;
			found = s;
			break;
		}
	pthread_mutex_unlock(&table);
	return found;
}

void sctx_put(struct sctx *s)
{
	bool last;

	pthread_mutex_lock(&table);
	last = --s->refs == 0;
	pthread_mutex_unlock(&table);
	if (!last)
		return;
	devctx_close(s->ctx);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

void sctx_close(struct sctx *s)
{
	pthread_mutex_lock(&table);
	unlist(s);
	s->room = 0;
	pthread_mutex_unlock(&table);
	sctx_put(s);
}

void sctx_lock(struct sctx *s, bool exclusive)
{
	if (exclusive)
		pthread_rwlock_wrlock(&s->lock);
	else
		pthread_rwlock_rdlock(&s->lock);
}

void sctx_unlock(struct sctx *s)
{
	pthread_rwlock_unlock(&s->lock);
}
