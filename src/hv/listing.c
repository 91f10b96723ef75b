/* SPDX-License-Identifier: MIT */
/*
 * LIST: the hypervisor's state as pages of fixed-size records, for
 * `v4v status` and `v4v viptables -L`.  A cursor makes each reply one
 * packet, however many domains and rings there are.
 */
#include "hv.h"
#include "viptables.h"

#include <errno.h>
#include <string.h>
#include <time.h>

uint64_t hv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Bytes of the live stream rings of `d` (all domains if NULL), on top
 * of what rings that ended have left in the counters. */
static uint64_t live_stream_bytes(struct hv *hv, const struct hv_domain *d)
{
	struct list *pos, *tmp;
	uint64_t sum = 0;

	list_for_each_safe(pos, tmp, &hv->rings) {
		struct hv_ring *g = container_of(pos, struct hv_ring, link);

		if (!d || g->dom == d)
			sum += hv_ring_stream_bytes(g);
	}
	return sum;
}

static void rec_hv(struct hv *hv, struct v4vp_rec_hv *r)
{
	memset(r, 0, sizeof(*r));
	r->flags = hv->cfg.strict ? V4VP_HV_STRICT : 0;
	r->ndomains = hv->ndomains;
	r->nrings = hv->nrings;
	r->policy = vipt_policy(hv->vipt);
	r->uptime_ms = hv_now_ms() - hv->start_ms;
	r->c = hv->c;
	r->c.stream_bytes += live_stream_bytes(hv, NULL);
}

static void rec_domain(struct hv *hv, const struct hv_domain *d,
		       struct v4vp_rec_domain *r)
{
	memset(r, 0, sizeof(*r));
	r->domid = d->domid;
	r->flags = d->vm ? V4VP_DOM_VM : 0;
	r->pid = d->pid;
	r->uid = d->uid;
	r->nconns = d->nconns;
	r->nrings = d->nrings;
	r->ring_bytes = d->ring_bytes;
	memcpy(r->name, d->name, sizeof(r->name));
	r->c = d->c;
	r->c.stream_bytes += live_stream_bytes(hv, d);
}

static void rec_ring(struct hv_ring *g, struct v4vp_rec_ring *r)
{
	memset(r, 0, sizeof(*r));
	r->handle = g->handle;
	r->port = g->port;
	r->domid = g->dom->domid;
	r->partner = g->partner;
	r->size = g->size;
	r->used = g->size - V4V_RING_SLOT - V4V_RING_MSG_HDR -
		  v4v_ring_space(&g->prod);
	r->waiters = g->nwaiters;
	r->conid = g->conid;
	r->flags = (g->listening ? V4VP_RING_LISTEN : 0) |
		   (g->state == HV_RING_LINKED ? V4VP_RING_LINKED : 0) |
		   (g->granted ? V4VP_RING_DIRECT : 0);
	if (g->state == HV_RING_LINKED && g->peer) {
		r->peer_domid = g->peer->dom->domid;
		r->peer_port = g->peer->port;
	}
	/* Direct peers write into the ring without us: the count they keep
	 * in its header is the only one there is, clamped. */
	r->bytes = hv_ring_stream_bytes(g);
	r->c = g->c;
}

/* Each filler writes records from `cursor` on into `recs` (room for
 * `max`), returns how many, and sets *next (0 when nothing is left). */
static uint32_t fill_domains(struct hv *hv, uint32_t cursor, void *recs,
			     uint32_t max, uint32_t *next)
{
	struct v4vp_rec_domain *r = recs;
	uint32_t n = 0, id = cursor ? cursor : 1;

	*next = 0;
	for (; id <= V4V_DOMID_MAX; id++) {
		if (!hv->domains[id])
			continue;
		if (n == max) {
			*next = id;
			break;
		}
		rec_domain(hv, hv->domains[id], &r[n++]);
	}
	return n;
}

static uint32_t fill_rings(struct hv *hv, uint32_t cursor, void *recs,
			   uint32_t max, uint32_t *next)
{
	struct v4vp_rec_ring *r = recs;
	struct list *pos, *tmp;
	uint32_t n = 0;

	*next = 0;
	list_for_each_safe(pos, tmp, &hv->rings) {
		struct hv_ring *g = container_of(pos, struct hv_ring, link);

		if (g->handle < cursor)
			continue;
		if (n == max) {
			*next = g->handle;
			break;
		}
		rec_ring(g, &r[n++]);
	}
	return n;
}

static uint32_t fill_rules(struct hv *hv, uint32_t cursor, void *recs,
			   uint32_t max, uint32_t *next)
{
	struct v4vp_rec_rule *r = recs;
	uint32_t n = 0, pos = cursor ? cursor : 1;

	*next = 0;
	for (; pos <= vipt_count(hv->vipt); pos++) {
		if (n == max) {
			*next = pos;
			break;
		}
		vipt_get(hv->vipt, pos, &r[n++]);
	}
	return n;
}

int hv_list(struct hv *hv, const struct v4vp_list *req, void *out,
	    size_t *outlen)
{
	struct v4vp_list_reply rep = { .what = req->what };
	uint8_t *recs = (uint8_t *)out + sizeof(rep);
	uint32_t max = v4vp_list_page(req->what);

	switch (req->what) {
	case V4VP_LIST_HV:
		rec_hv(hv, (struct v4vp_rec_hv *)recs);
		rep.count = 1;
		break;
	case V4VP_LIST_DOMAINS:
		rep.count = fill_domains(hv, req->cursor, recs, max, &rep.next);
		break;
	case V4VP_LIST_RINGS:
		rep.count = fill_rings(hv, req->cursor, recs, max, &rep.next);
		break;
	case V4VP_LIST_RULES:
		rep.count = fill_rules(hv, req->cursor, recs, max, &rep.next);
		break;
	case V4VP_LIST_ENGINE:
		rep.count = hv_engine_records(hv,
				(struct v4vp_rec_engine *)recs, max);
		break;
	default:
		return -EINVAL;
	}
	memcpy(out, &rep, sizeof(rep));
	*outlen = sizeof(rep) + rep.count * v4vp_record_size(req->what);
	return 0;
}
