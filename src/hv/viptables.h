/* SPDX-License-Identifier: MIT */
/*
 * viptables: the hypervisor's firewall for V4V traffic.
 *
 * An ordered list of rules {src match, dst match, ACCEPT|REJECT}; the first
 * rule that matches a (source, destination) pair decides, else the default
 * policy.  A match is a domain (by domid, by name, or any) and a port (or
 * any).  Pure logic: no I/O, no knowledge of domains beyond what the caller
 * passes in; the caller checks who may change the table.
 */
#ifndef V4V_HV_VIPTABLES_H
#define V4V_HV_VIPTABLES_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Most rules a table holds; more is -ENOSPC. */
#define VIPT_MAX_RULES 4096u

struct vipt_table;

struct vipt_table *vipt_new(uint32_t policy);
void vipt_free(struct vipt_table *t);

/* 0 if a rule is well-formed (known flags and action, terminated names,
 * a name given iff BY_NAME, no domid with ANY_DOM), else -EINVAL. */
int vipt_rule_check(const struct v4vp_rule *r);

/* Insert before 1-based `pos`; pos 0 or count+1 appends.  -EINVAL for a
 * bad rule or position, -ENOSPC when full. */
int vipt_insert(struct vipt_table *t, uint32_t pos, const struct v4vp_rule *r);
/* Delete 1-based `pos`; -ENOENT if there is no such rule. */
int vipt_delete(struct vipt_table *t, uint32_t pos);
void vipt_flush(struct vipt_table *t);
/* -EINVAL for an unknown action. */
int vipt_set_policy(struct vipt_table *t, uint32_t action);
uint32_t vipt_policy(const struct vipt_table *t);
size_t vipt_count(const struct vipt_table *t);
/* Copy out rule `pos` (1-based) with its match counter; -ENOENT. */
int vipt_get(const struct vipt_table *t, uint32_t pos,
	     struct v4vp_rec_rule *out);

/* Decide on a message.  Names may be NULL or "" for unnamed domains.
 * Counts the match on the deciding rule.  Returns V4VP_VIPT_ACCEPT or
 * V4VP_VIPT_REJECT. */
uint32_t vipt_check(struct vipt_table *t, const struct v4v_addr *src,
		    const char *src_name, const struct v4v_addr *dst,
		    const char *dst_name);

#endif
