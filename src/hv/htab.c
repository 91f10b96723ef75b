/* SPDX-License-Identifier: MIT */
#include "htab.h"

#include <errno.h>
#include <stdlib.h>

static size_t bucket(const struct htab *t, uint64_t key)
{
	/* Fibonacci hashing spreads sequential domids and ports. */
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) &
	       (t->nbuckets - 1);
}

int htab_init(struct htab *t, size_t nbuckets)
{
	t->b = calloc(nbuckets, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->nbuckets = nbuckets;
	t->n = 0;
	return 0;
}

void htab_fini(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nbuckets = t->n = 0;
}

static void grow(struct htab *t)
{
	struct htab bigger;

	if (htab_init(&bigger, t->nbuckets * 2))
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct hnode *n = t->b[i], *next;

		for (; n; n = next) {
			size_t j = bucket(&bigger, n->key);

			next = n->next;
			n->next = bigger.b[j];
			bigger.b[j] = n;
		}
	}
	bigger.n = t->n;
	free(t->b);
	*t = bigger;
}

void htab_add(struct htab *t, struct hnode *n, uint64_t key)
{
	size_t i;

	if (t->n >= t->nbuckets)
		grow(t);
	i = bucket(t, key);
	n->key = key;
	n->next = t->b[i];
	t->b[i] = n;
	t->n++;
}

void htab_del(struct htab *t, struct hnode *n)
{
	struct hnode **pp = &t->b[bucket(t, n->key)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			t->n--;
			return;
		}
	}
}

struct hnode *htab_find(const struct htab *t, uint64_t key)
{
	struct hnode *n = t->b[bucket(t, key)];

	while (n && n->key != key)
		n = n->next;
	return n;
}

struct hnode *htab_next(const struct hnode *n)
{
	uint64_t key = n->key;

	for (n = n->next; n && n->key != key; n = n->next)
		;
	return (struct hnode *)n;
}
