/* SPDX-License-Identifier: MIT */
/*
 * A chained hash table of intrusive nodes keyed by 64-bit integers.
 * Several nodes may share a key; lookups walk the chain and compare keys.
 */
#ifndef V4V_HV_HTAB_H
#define V4V_HV_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t key;
};

struct htab {
	struct hnode **b;
	size_t nbuckets; /* a power of two */
	size_t n;
};

int htab_init(struct htab *t, size_t nbuckets);
void htab_fini(struct htab *t);
/* Grows the table when it gets crowded; growing never fails the insert. */
void htab_add(struct htab *t, struct hnode *n, uint64_t key);
void htab_del(struct htab *t, struct hnode *n);
/* The first node with `key`, then the next one after `n`. */
struct hnode *htab_find(const struct htab *t, uint64_t key);
struct hnode *htab_next(const struct hnode *n);

#endif
