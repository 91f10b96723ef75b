/* SPDX-License-Identifier: MIT */
/* An intrusive doubly-linked circular list. */
#ifndef V4V_HV_LIST_H
#define V4V_HV_LIST_H

#include <stddef.h>

struct list {
	struct list *prev, *next;
};

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

static inline void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline void list_add_tail(struct list *l, struct list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); \
	     pos = tmp, tmp = pos->next)

#endif
