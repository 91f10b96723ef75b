/* SPDX-License-Identifier: MIT */
/*
 * viptables: an ordered array of rules, each with its match counter.
 *
 * Rules arrive from the control socket, so vipt_insert runs every rule
 * through vipt_rule_check and stores a normalized copy: pads, fields a flag
 * makes meaningless, and the bytes after a name's NUL are zeroed, so
 * vipt_get hands back exactly what the table acts on.  vipt_check is on the
 * message path: a linear walk, no allocation, no system call.
 */
#include "viptables.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define VIPT_MATCH_FLAGS \
	(V4VP_MATCH_ANY_DOM | V4VP_MATCH_ANY_PORT | V4VP_MATCH_BY_NAME)

/* First allocation; the array doubles from here up to VIPT_MAX_RULES. */
#define VIPT_MIN_CAP 16u

struct vipt_entry {
	struct v4vp_rule rule;
	uint64_t matches;
};

struct vipt_table {
	struct vipt_entry *rules;
	size_t count;
	size_t cap;
	uint32_t policy;
};

static bool action_valid(uint32_t action)
{
	return action == V4VP_VIPT_ACCEPT || action == V4VP_VIPT_REJECT;
}

static int match_check(const struct v4vp_match *m)
{
	bool any_dom = m->flags & V4VP_MATCH_ANY_DOM;
	bool by_name = m->flags & V4VP_MATCH_BY_NAME;

	if (m->flags & ~VIPT_MATCH_FLAGS)
		return -EINVAL;
	if (v4vp_name_check(m->name))
		return -EINVAL;
	if (any_dom && by_name)
		return -EINVAL;
	/* A name without BY_NAME would be silently ignored: the sender
	 * surely meant something else, so refuse rather than guess. */
	if (by_name != (m->name[0] != '\0'))
		return -EINVAL;
	if (any_dom || by_name) {
		/* Same reasoning for a domid next to a wildcard or a name;
		 * the wildcard domid itself is a harmless way to say "any". */
		if (m->domid != 0 && m->domid != V4V_DOMID_ANY)
			return -EINVAL;
		return 0;
	}
	return m->domid <= V4V_DOMID_MAX ? 0 : -EINVAL;
}

int vipt_rule_check(const struct v4vp_rule *r)
{
	if (!action_valid(r->action))
		return -EINVAL;
	if (match_check(&r->src) || match_check(&r->dst))
		return -EINVAL;
	return 0;
}

/* Zero what the flags make meaningless, so equal rules are equal bytes. */
static void match_normalize(struct v4vp_match *m)
{
	size_t n = strlen(m->name); /* terminated: match_check ran */

	m->pad = 0;
	m->pad2 = 0;
	if (m->flags & (V4VP_MATCH_ANY_DOM | V4VP_MATCH_BY_NAME))
		m->domid = 0;
	if (m->flags & V4VP_MATCH_ANY_PORT)
		m->port = 0;
	memset(m->name + n, 0, V4V_NAME_MAX - n);
}

static bool match_hit(const struct v4vp_match *m, const struct v4v_addr *a,
		      const char *name)
{
	if (!(m->flags & V4VP_MATCH_ANY_PORT) && m->port != a->port)
		return false;
	if (m->flags & V4VP_MATCH_ANY_DOM)
		return true;
	/* The rule's name is never empty, so "" (unnamed) cannot match. */
	if (m->flags & V4VP_MATCH_BY_NAME)
		return name && strcmp(m->name, name) == 0;
	return m->domid == a->domid;
}

struct vipt_table *vipt_new(uint32_t policy)
{
	struct vipt_table *t;

	if (!action_valid(policy)) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t)
		t->policy = policy;
	return t;
}

void vipt_free(struct vipt_table *t)
{
	if (!t)
		return;
	free(t->rules);
	free(t);
}

/* Make room for one more rule; the caller has checked the limit. */
static int vipt_grow(struct vipt_table *t)
{
	struct vipt_entry *n;
	size_t cap;

	if (t->count < t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : VIPT_MIN_CAP;
	if (cap > VIPT_MAX_RULES)
		cap = VIPT_MAX_RULES;
	n = realloc(t->rules, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->rules = n;
	t->cap = cap;
	return 0;
}

int vipt_insert(struct vipt_table *t, uint32_t pos, const struct v4vp_rule *r)
{
	struct vipt_entry *e;
	size_t i;

	if (vipt_rule_check(r))
		return -EINVAL;
	if (pos == 0)
		pos = t->count + 1;
	if (pos > t->count + 1)
		return -EINVAL;
	if (t->count >= VIPT_MAX_RULES)
		return -ENOSPC;
	if (vipt_grow(t))
		return -ENOMEM;

	i = pos - 1;
	e = &t->rules[i];
	memmove(e + 1, e, (t->count - i) * sizeof(*e));
	e->rule = *r;
	match_normalize(&e->rule.src);
	match_normalize(&e->rule.dst);
	e->rule.pad = 0;
	e->matches = 0;
	t->count++;
	return 0;
}

int vipt_delete(struct vipt_table *t, uint32_t pos)
{
	struct vipt_entry *e;

	if (pos == 0 || pos > t->count)
		return -ENOENT;
	e = &t->rules[pos - 1];
	memmove(e, e + 1, (t->count - pos) * sizeof(*e));
	t->count--;
	return 0;
}

void vipt_flush(struct vipt_table *t)
{
	/* Give the memory back: a flush usually follows a big table. */
	free(t->rules);
	t->rules = NULL;
	t->count = 0;
	t->cap = 0;
}

int vipt_set_policy(struct vipt_table *t, uint32_t action)
{
	if (!action_valid(action))
		return -EINVAL;
	t->policy = action;
	return 0;
}

uint32_t vipt_policy(const struct vipt_table *t)
{
	return t->policy;
}

size_t vipt_count(const struct vipt_table *t)
{
	return t->count;
}

int vipt_get(const struct vipt_table *t, uint32_t pos,
	     struct v4vp_rec_rule *out)
{
	const struct vipt_entry *e;

	if (pos == 0 || pos > t->count)
		return -ENOENT;
	e = &t->rules[pos - 1];
	memset(out, 0, sizeof(*out));
	out->pos = pos;
	out->matches = e->matches;
	out->rule = e->rule;
	return 0;
}

uint32_t vipt_check(struct vipt_table *t, const struct v4v_addr *src,
		    const char *src_name, const struct v4v_addr *dst,
		    const char *dst_name)
{
	for (size_t i = 0; i < t->count; i++) {
		struct vipt_entry *e = &t->rules[i];

		if (match_hit(&e->rule.src, src, src_name) &&
		    match_hit(&e->rule.dst, dst, dst_name)) {
			e->matches++;
			return e->rule.action;
		}
	}
	return t->policy;
}
