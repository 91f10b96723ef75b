/* SPDX-License-Identifier: MIT */
/*
 * What one user may take of v4vd: control connections, and descriptors.
 *
 * Every control connection, domain capability and ring doorbell, memfd
 * and TCP socket is a descriptor v4vd holds.  Were they to run out, v4vd
 * could accept nobody and would lose the descriptors that come with
 * packets, everyone's included.  So v4vd counts what it holds against a
 * budget below its own limit (RLIMIT_NOFILE, raised to the hard limit at
 * start), refuses the domain that would go past it with EMFILE, and keeps
 * the last sixteenth of the budget, and of the control connections, for
 * administrators: root can always look and act while somebody floods.
 * One user who is not an administrator may hold a quarter of the budget
 * (--max-fds-per-uid), so one user's flood leaves room for the others.
 */
#include "hv.h"

#include <stdlib.h>
#include <sys/resource.h>

/* What v4vd itself needs besides the domains' descriptors: its epoll,
 * listener, signalfd and log, and those a packet brings in flight. */
#define OWN_FDS 32u

void hv_limits_init(struct hv *hv)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1u << 20;
	hv->fd_budget = rl.rlim_cur > 2 * OWN_FDS ? rl.rlim_cur - OWN_FDS
						  : OWN_FDS;
	if (hv->cfg.max_fds && hv->cfg.max_fds < hv->fd_budget)
		hv->fd_budget = hv->cfg.max_fds;
	hv->fd_budget_uid = hv->cfg.max_fds_uid ? hv->cfg.max_fds_uid
						: hv->fd_budget / 4;
	hv_log(HV_LOG_DEBUG, "descriptors for domains: %llu, %llu per user",
	       (unsigned long long)hv->fd_budget,
	       (unsigned long long)hv->fd_budget_uid);
}

void hv_limits_fini(struct hv *hv)
{
	free(hv->uid_fds);
	hv->uid_fds = NULL;
	hv->nuid_fds = hv->uid_fds_cap = 0;
}

static struct hv_uid_fds *uid_fds(const struct hv *hv, uid_t uid)
{
	for (uint32_t i = 0; i < hv->nuid_fds; i++)
		if (hv->uid_fds[i].uid == uid)
			return &hv->uid_fds[i];
	return NULL;
}

/* Room in the table for one more user, so that a charge that follows a
 * yes never fails. */
static bool uid_room(struct hv *hv)
{
	struct hv_uid_fds *t;
	uint32_t cap;

	if (hv->nuid_fds < hv->uid_fds_cap)
		return true;
	cap = hv->uid_fds_cap ? 2 * hv->uid_fds_cap : 16;
	t = realloc(hv->uid_fds, cap * sizeof(*t));
	if (!t)
		return false;
	hv->uid_fds = t;
	hv->uid_fds_cap = cap;
	return true;
}

bool hv_fds_left(struct hv *hv, bool admin, uid_t uid, uint32_t n)
{
	const struct hv_uid_fds *u = uid_fds(hv, uid);
	uint64_t budget = hv->fd_budget;

	if (!u && !uid_room(hv))
		return false;
	if (admin)
		return hv->nfds + n <= budget;
	budget -= budget / 16;
	return hv->nfds + n <= budget &&
	       (u ? u->n : 0) + n <= hv->fd_budget_uid;
}

void hv_fds_charge(struct hv *hv, uid_t uid, int n)
{
	struct hv_uid_fds *u = uid_fds(hv, uid);

	hv->nfds += (uint64_t)(int64_t)n;
	if (!u) {
		/* hv_fds_left made the room; a give-back always finds its
		 * user. */
		if (n <= 0 || !uid_room(hv))
			return;
		u = &hv->uid_fds[hv->nuid_fds++];
		*u = (struct hv_uid_fds){ .uid = uid };
	}
	u->n += (uint64_t)(int64_t)n;
	if (!u->n)
		*u = hv->uid_fds[--hv->nuid_fds];
}

const char *hv_conn_limit(struct hv *hv, uid_t uid, bool admin)
{
	uint32_t per_uid = hv->cfg.max_conns_uid ? hv->cfg.max_conns_uid
						 : hv->cfg.max_conns / 4;
	uint32_t reserve = hv->cfg.max_conns / 16, mine = 0;
	struct list *pos, *tmp;

	if (hv->nconns >= hv->cfg.max_conns || !hv_fds_left(hv, true, uid, 1))
		return "too many connections";
	if (admin)
		return NULL;
	if (hv->nconns >= hv->cfg.max_conns - reserve ||
	    !hv_fds_left(hv, false, uid, 1))
		return "the rest is kept for administrators";
	list_for_each_safe(pos, tmp, &hv->conns)
		if (container_of(pos, struct hv_conn, link)->uid == uid)
			mine++;
	return mine >= (per_uid ? per_uid : 1) ? "too many connections of "
						 "this user"
					       : NULL;
}
