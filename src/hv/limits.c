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
 */
#include "hv.h"

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
	hv_log(HV_LOG_DEBUG, "descriptors for domains: %llu",
	       (unsigned long long)hv->fd_budget);
}

bool hv_fds_left(const struct hv *hv, bool admin, uint32_t n)
{
	uint64_t budget = hv->fd_budget;

	if (!admin)
		budget -= budget / 16;
	return hv->nfds + n <= budget;
}

const char *hv_conn_limit(struct hv *hv, uid_t uid, bool admin)
{
	uint32_t per_uid = hv->cfg.max_conns_uid ? hv->cfg.max_conns_uid
						 : hv->cfg.max_conns / 4;
	uint32_t reserve = hv->cfg.max_conns / 16, mine = 0;
	struct list *pos, *tmp;

	if (hv->nconns >= hv->cfg.max_conns || !hv_fds_left(hv, true, 1))
		return "too many connections";
	if (admin)
		return NULL;
	if (hv->nconns >= hv->cfg.max_conns - reserve ||
	    !hv_fds_left(hv, false, 1))
		return "the rest is kept for administrators";
	list_for_each_safe(pos, tmp, &hv->conns)
		if (container_of(pos, struct hv_conn, link)->uid == uid)
			mine++;
	return mine >= (per_uid ? per_uid : 1) ? "too many connections of "
						 "this user"
					       : NULL;
}
