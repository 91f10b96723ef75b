/* SPDX-License-Identifier: MIT */
/* v4v status: what the hypervisor holds, as a table or as JSON. */
#include "tool.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static const char usage[] =
"Usage: v4v status [--json]\n"
"Show the hypervisor's mode, its domains and rings, and the message\n"
"counters: sent, dropped for lack of space, rejected by viptables, and\n"
"refused because no ring was there.  Stream connections are listed with\n"
"the payload bytes each side has sent, whether v4vd moved them or the\n"
"peers wrote into each other's rings directly.\n";

struct snapshot {
	struct v4vp_rec_hv hv;
	struct v4vp_rec_engine *engines;
	uint32_t nengines;
	struct v4vp_rec_domain *doms;
	struct v4vp_rec_ring *rings;
	uint32_t ndoms, nrings;
};

static int take(struct snapshot *s)
{
	struct v4v_ctl *c = tool_ctl();
	struct v4vp_rec_hv *hv;
	uint32_t n;
	int rc;

	rc = tool_list(c, V4VP_LIST_HV, (void **)&hv, &n);
	if (!rc) {
		s->hv = *hv;
		free(hv);
		rc = tool_list(c, V4VP_LIST_DOMAINS, (void **)&s->doms,
			       &s->ndoms);
	}
	if (!rc)
		rc = tool_list(c, V4VP_LIST_RINGS, (void **)&s->rings,
			       &s->nrings);
	if (!rc)
		rc = tool_list(c, V4VP_LIST_ENGINE, (void **)&s->engines,
			       &s->nengines);
	v4v_ctl_close(c);
	return rc;
}

static const char *name_of(const char *name)
{
	/* The hypervisor only accepts names of a safe alphabet. */
	return name[0] ? name : "-";
}

/* The ring of the other direction of a connection, or NULL. */
static const struct v4vp_rec_ring *other_ring(const struct snapshot *s,
					      const struct v4vp_rec_ring *r)
{
	if (!(r->flags & V4VP_RING_LINKED))
		return NULL;
	for (uint32_t i = 0; i < s->nrings; i++)
		if (s->rings[i].domid == r->peer_domid &&
		    s->rings[i].port == r->peer_port)
			return &s->rings[i];
	return NULL;
}

/* Each connection once: seen from the side whose ring comes first. */
static bool conn_first(const struct snapshot *s,
		       const struct v4vp_rec_ring *r,
		       const struct v4vp_rec_ring **o)
{
	*o = other_ring(s, r);
	return *o && r < *o;
}

static void conns_json(const struct snapshot *s)
{
	bool first = true;

	printf(",\"connections\":[");
	for (uint32_t i = 0; i < s->nrings; i++) {
		const struct v4vp_rec_ring *r = &s->rings[i], *o;

		if (!conn_first(s, r, &o))
			continue;
		/* r receives what o's owner sends, and the other way. */
		printf("%s{\"conid\":%u,\"direct\":%s,\"a\":\"%u:%u\","
		       "\"b\":\"%u:%u\",\"a_to_b_bytes\":%" PRIu64
		       ",\"b_to_a_bytes\":%" PRIu64 "}",
		       first ? "" : ",", r->conid,
		       r->flags & V4VP_RING_DIRECT ? "true" : "false",
		       r->domid, r->port, o->domid, o->port, o->bytes,
		       r->bytes);
		first = false;
	}
	printf("]");
}

static void counters_json(const struct v4vp_counters *c)
{
	printf("\"tx_msgs\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
	       ",\"rx_msgs\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
	       ",\"drops\":%" PRIu64 ",\"rejects\":%" PRIu64
	       ",\"norings\":%" PRIu64 ",\"stream_bytes\":%" PRIu64,
	       c->tx_msgs, c->tx_bytes, c->rx_msgs, c->rx_bytes, c->drops,
	       c->rejects, c->norings, c->stream_bytes);
}

static void print_json(const struct snapshot *s)
{
	printf("{\"hypervisor\":{\"mode\":\"%s\",\"uptime_ms\":%" PRIu64
	       ",\"policy\":\"%s\",\"domains\":%u,\"rings\":%u,",
	       s->hv.flags & V4VP_HV_STRICT ? "strict" : "direct",
	       s->hv.uptime_ms,
	       s->hv.policy == V4VP_VIPT_ACCEPT ? "ACCEPT" : "REJECT",
	       s->hv.ndomains, s->hv.nrings);
	counters_json(&s->hv.c);
	printf("},\"engines\":[");
	for (uint32_t i = 0; i < s->nengines; i++) {
		const struct v4vp_rec_engine *e = &s->engines[i];

		printf("%s{\"thread\":%u,\"awake\":%s,\"queues\":%u,"
		       "\"msgs\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"wakeups\":%" PRIu64 ",\"bells\":%" PRIu64
		       ",\"busy_ns\":%" PRIu64 ",\"cpu_ns\":%" PRIu64
		       ",\"resets\":%" PRIu64 "}",
		       i ? "," : "", e->thread,
		       e->flags & V4VP_ENGINE_AWAKE ? "true" : "false",
		       e->queues, e->msgs, e->bytes, e->wakeups, e->bells,
		       e->busy_ns, e->cpu_ns, e->resets);
	}
	printf("],\"domains\":[");
	for (uint32_t i = 0; i < s->ndoms; i++) {
		const struct v4vp_rec_domain *d = &s->doms[i];

		printf("%s{\"domid\":%u,\"name\":\"%.*s\",\"vm\":%s,"
		       "\"pid\":%d,\"uid\":%u,\"conns\":%u,\"rings\":%u,"
		       "\"ring_bytes\":%" PRIu64 ",",
		       i ? "," : "", d->domid, V4V_NAME_MAX - 1, d->name,
		       d->flags & V4VP_DOM_VM ? "true" : "false",
		       d->pid, d->uid, d->nconns, d->nrings, d->ring_bytes);
		counters_json(&d->c);
		printf("}");
	}
	printf("],\"rings\":[");
	for (uint32_t i = 0; i < s->nrings; i++) {
		const struct v4vp_rec_ring *r = &s->rings[i];

		printf("%s{\"handle\":%u,\"domid\":%u,\"port\":%u,"
		       "\"partner\":%d,\"size\":%u,\"used\":%u,"
		       "\"waiters\":%u,\"bytes\":%" PRIu64 ",",
		       i ? "," : "", r->handle, r->domid, r->port,
		       r->partner == V4V_DOMID_ANY ? -1 : r->partner, r->size,
		       r->used, r->waiters, r->bytes);
		counters_json(&r->c);
		printf("}");
	}
	printf("]");
	conns_json(s);
	printf("}\n");
}

static void print_conns(const struct snapshot *s)
{
	bool any = false;

	for (uint32_t i = 0; i < s->nrings; i++) {
		const struct v4vp_rec_ring *r = &s->rings[i], *o;
		char a[32], b[32];

		if (!conn_first(s, r, &o))
			continue;
		if (!any)
			printf("\n%10s %-18s %-18s %6s %14s %14s\n", "CONID",
			       "A", "B", "MODE", "A->B BYTES", "B->A BYTES");
		any = true;
		snprintf(a, sizeof(a), "%u:%u", r->domid, r->port);
		snprintf(b, sizeof(b), "%u:%u", o->domid, o->port);
		printf("%10u %-18s %-18s %6s %14" PRIu64 " %14" PRIu64 "\n",
		       r->conid, a, b,
		       r->flags & V4VP_RING_DIRECT ? "direct" : "v4vd",
		       o->bytes, r->bytes);
	}
}

/* Strict mode: what each copy thread did; busy is the share of v4vd's
 * lifetime spent in turns that copied something. */
static void print_engines(const struct snapshot *s)
{
	double up_ns = (double)s->hv.uptime_ms * 1e6;

	printf("%6s %6s %6s %12s %14s %10s %10s %7s %9s\n", "ENGINE", "STATE",
	       "QUEUES", "MSGS", "BYTES", "WAKEUPS", "BELLS", "BUSY", "CPU-S");
	for (uint32_t i = 0; i < s->nengines; i++) {
		const struct v4vp_rec_engine *e = &s->engines[i];

		printf("%6u %6s %6u %12" PRIu64 " %14" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %6.2f%% %9.3f\n",
		       e->thread, e->flags & V4VP_ENGINE_AWAKE ? "awake"
							      : "asleep",
		       e->queues, e->msgs, e->bytes, e->wakeups, e->bells,
		       up_ns > 0 ? 100.0 * (double)e->busy_ns / up_ns : 0.0,
		       (double)e->cpu_ns / 1e9);
	}
	printf("\n");
}

static void print_table(const struct snapshot *s)
{
	const struct v4vp_counters *c = &s->hv.c;

	printf("v4vd: %s mode, up %.1f s, policy %s, %u domains, %u rings\n",
	       s->hv.flags & V4VP_HV_STRICT ? "strict" : "direct",
	       (double)s->hv.uptime_ms / 1000,
	       s->hv.policy == V4VP_VIPT_ACCEPT ? "ACCEPT" : "REJECT",
	       s->hv.ndomains, s->hv.nrings);
	printf("messages: %" PRIu64 " sent (%" PRIu64 " bytes), %" PRIu64
	       " dropped (ring full), %" PRIu64 " rejected (viptables), %"
	       PRIu64 " refused (no ring)\nstreams: %" PRIu64
	       " bytes received\n\n",
	       c->tx_msgs, c->tx_bytes, c->drops, c->rejects, c->norings,
	       c->stream_bytes);
	if (s->hv.flags & V4VP_HV_STRICT)
		print_engines(s);
	printf("%5s %-16s %7s %6s %5s %10s %10s %10s %7s %7s %12s\n",
	       "DOMID", "NAME", "PID", "UID", "RINGS", "TX-MSGS", "RX-MSGS",
	       "TX-BYTES", "DROPS", "REJECTS", "STREAM-RX");
	for (uint32_t i = 0; i < s->ndoms; i++) {
		const struct v4vp_rec_domain *d = &s->doms[i];
		char name[V4V_NAME_MAX + 8];

		/* A VM's PID is its QEMU's (0 while none is connected). */
		snprintf(name, sizeof(name), "%s%s", name_of(d->name),
			 d->flags & V4VP_DOM_VM ? " [vm]" : "");
		printf("%5u %-16.31s %7d %6u %5u %10" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %7" PRIu64 " %7" PRIu64 " %12" PRIu64
		       "\n",
		       d->domid, name, d->pid, d->uid, d->nrings,
		       d->c.tx_msgs, d->c.rx_msgs, d->c.tx_bytes, d->c.drops,
		       d->c.rejects, d->c.stream_bytes);
	}
	printf("\n%6s %-18s %7s %9s %9s %7s %10s %10s %7s\n", "RING",
	       "ADDRESS", "PARTNER", "SIZE", "USED", "WAITERS", "RX-MSGS",
	       "RX-BYTES", "DROPS");
	for (uint32_t i = 0; i < s->nrings; i++) {
		const struct v4vp_rec_ring *r = &s->rings[i];
		char addr[32], partner[16];

		snprintf(addr, sizeof(addr), "%u:%u", r->domid, r->port);
		if (r->partner == V4V_DOMID_ANY)
			strcpy(partner, "any");
		else
			snprintf(partner, sizeof(partner), "%u", r->partner);
		printf("%6u %-18s %7s %9u %9u %7u %10" PRIu64 " %10" PRIu64
		       " %7" PRIu64 "\n",
		       r->handle, addr, partner, r->size, r->used, r->waiters,
		       r->c.rx_msgs, r->bytes, r->c.drops);
	}
	print_conns(s);
}

int cmd_status(int argc, char **argv)
{
	struct snapshot s = { 0 };
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "v4v status: unknown option '%s'\n%s",
				argv[i], usage);
			return EXIT_USAGE;
		}
	}
	rc = take(&s);
	if (rc) {
		tool_err("status", rc);
		return 1;
	}
	if (json)
		print_json(&s);
	else
		print_table(&s);
	free(s.doms);
	free(s.rings);
	free(s.engines);
	return 0;
}
