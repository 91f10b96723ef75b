/* SPDX-License-Identifier: MIT */
/*
 * viptables: ordering, positions, counters, name and port matching, the
 * size limit, and vipt_rule_check against every malformed field a client
 * could send.
 */
#include <errno.h>
#include <stdint.h>

#include "hv/viptables.h"
#include "t.h"

#define ACCEPT V4VP_VIPT_ACCEPT
#define REJECT V4VP_VIPT_REJECT

/* Match builders: a domid, a name or any domain, with a port or any. */
static struct v4vp_match m_any(void)
{
	return (struct v4vp_match){
		.flags = V4VP_MATCH_ANY_DOM | V4VP_MATCH_ANY_PORT };
}

static struct v4vp_match m_dom(v4v_domid_t d)
{
	return (struct v4vp_match){ .flags = V4VP_MATCH_ANY_PORT, .domid = d };
}

static struct v4vp_match m_domp(v4v_domid_t d, uint32_t port)
{
	return (struct v4vp_match){ .domid = d, .port = port };
}

static struct v4vp_match m_anyp(uint32_t port)
{
	return (struct v4vp_match){ .flags = V4VP_MATCH_ANY_DOM,
				    .port = port };
}

static struct v4vp_match m_name(const char *name)
{
	struct v4vp_match m = { .flags = V4VP_MATCH_BY_NAME |
					 V4VP_MATCH_ANY_PORT };

	strcpy(m.name, name);
	return m;
}

static struct v4vp_rule rule(struct v4vp_match src, struct v4vp_match dst,
			     uint32_t action)
{
	return (struct v4vp_rule){ .src = src, .dst = dst, .action = action };
}

static struct v4v_addr addr(v4v_domid_t d, uint32_t port)
{
	return (struct v4v_addr){ .domid = d, .port = port };
}

/* Decide on (s, sport) -> (d, dport) between unnamed domains. */
static uint32_t chk(struct vipt_table *t, v4v_domid_t s, uint32_t sport,
		    v4v_domid_t d, uint32_t dport)
{
	struct v4v_addr a = addr(s, sport), b = addr(d, dport);

	return vipt_check(t, &a, NULL, &b, NULL);
}

static uint32_t chk_named(struct vipt_table *t, v4v_domid_t s,
			  const char *sname, v4v_domid_t d, const char *dname)
{
	struct v4v_addr a = addr(s, 1), b = addr(d, 2);

	return vipt_check(t, &a, sname, &b, dname);
}

static struct vipt_table *new_table(uint32_t policy)
{
	struct vipt_table *t = vipt_new(policy);

	REQUIRE(t);
	return t;
}

/* Append a rule that matches source domain `tag` only, to tell rules
 * apart by position. */
static int add_tagged(struct vipt_table *t, uint32_t pos, v4v_domid_t tag)
{
	struct v4vp_rule r = rule(m_dom(tag), m_any(), ACCEPT);

	return vipt_insert(t, pos, &r);
}

static uint64_t matches_at(struct vipt_table *t, uint32_t pos)
{
	struct v4vp_rec_rule rec;

	if (vipt_get(t, pos, &rec))
		return UINT64_MAX;
	return rec.matches;
}

/* The table holds exactly the tagged rules `want`, in order. */
static void check_order(struct vipt_table *t, const v4v_domid_t *want,
			size_t n)
{
	struct v4vp_rec_rule rec;

	CHECK_EQ(vipt_count(t), n);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(vipt_get(t, (uint32_t)i + 1, &rec), 0);
		CHECK_EQ(rec.pos, i + 1);
		CHECK_EQ(rec.rule.src.domid, want[i]);
	}
}

static void t_policy(void)
{
	struct vipt_table *t = new_table(ACCEPT);

	CHECK_EQ(vipt_policy(t), ACCEPT);
	CHECK_EQ(vipt_count(t), 0);
	CHECK_EQ(chk(t, 1, 1, 2, 2), ACCEPT);

	CHECK_EQ(vipt_set_policy(t, REJECT), 0);
	CHECK_EQ(vipt_policy(t), REJECT);
	CHECK_EQ(chk(t, 1, 1, 2, 2), REJECT);

	CHECK_EQ(vipt_set_policy(t, 2), -EINVAL);
	CHECK_EQ(vipt_set_policy(t, UINT32_MAX), -EINVAL);
	CHECK_EQ(vipt_policy(t), REJECT);

	CHECK_EQ(vipt_set_policy(t, ACCEPT), 0);
	CHECK_EQ(chk(t, 1, 1, 2, 2), ACCEPT);
	vipt_free(t);

	t = new_table(REJECT);
	CHECK_EQ(vipt_policy(t), REJECT);
	CHECK_EQ(chk(t, 1, 1, 2, 2), REJECT);
	vipt_free(t);

	errno = 0;
	CHECK(vipt_new(2) == NULL);
	CHECK_EQ(errno, EINVAL);
	vipt_free(NULL);
}

static void t_first_match(void)
{
	struct vipt_table *t = new_table(REJECT);
	struct v4vp_rule r;

	r = rule(m_dom(1), m_any(), REJECT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_any(), m_any(), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);

	CHECK_EQ(chk(t, 1, 5, 2, 80), REJECT);
	CHECK_EQ(chk(t, 2, 5, 1, 80), ACCEPT);
	CHECK_EQ(chk(t, 3, 5, 3, 80), ACCEPT);

	/* A narrower exception in front of the broad reject. */
	r = rule(m_dom(1), m_domp(2, 80), ACCEPT);
	REQUIRE(vipt_insert(t, 1, &r) == 0);
	CHECK_EQ(chk(t, 1, 5, 2, 80), ACCEPT);
	CHECK_EQ(chk(t, 1, 5, 2, 81), REJECT);
	CHECK_EQ(chk(t, 1, 5, 3, 80), REJECT);

	/* The same exception behind the reject is shadowed. */
	CHECK_EQ(vipt_delete(t, 1), 0);
	REQUIRE(vipt_insert(t, 2, &r) == 0);
	CHECK_EQ(chk(t, 1, 5, 2, 80), REJECT);
	vipt_free(t);
}

static void t_insert_positions(void)
{
	struct vipt_table *t = new_table(ACCEPT);

	CHECK_EQ(add_tagged(t, 2, 9), -EINVAL);	   /* empty: only 0, 1 */
	CHECK_EQ(vipt_count(t), 0);
	CHECK_EQ(add_tagged(t, 1, 10), 0);	   /* 1 on empty */
	CHECK_EQ(add_tagged(t, 0, 30), 0);	   /* 0 appends */
	CHECK_EQ(add_tagged(t, 2, 20), 0);	   /* middle */
	CHECK_EQ(add_tagged(t, 4, 40), 0);	   /* count + 1 appends */
	CHECK_EQ(add_tagged(t, 1, 5), 0);	   /* front */
	{
		const v4v_domid_t want[] = { 5, 10, 20, 30, 40 };

		check_order(t, want, 5);
	}
	CHECK_EQ(add_tagged(t, 7, 99), -EINVAL);   /* count + 2 */
	CHECK_EQ(add_tagged(t, UINT32_MAX, 99), -EINVAL);
	CHECK_EQ(vipt_count(t), 5);
	CHECK_EQ(add_tagged(t, 5, 35), 0);	   /* before the last */
	{
		const v4v_domid_t want[] = { 5, 10, 20, 30, 35, 40 };

		check_order(t, want, 6);
	}
	vipt_free(t);
}

static void t_delete(void)
{
	struct vipt_table *t = new_table(ACCEPT);

	CHECK_EQ(vipt_delete(t, 1), -ENOENT);
	CHECK_EQ(vipt_delete(t, 0), -ENOENT);
	for (v4v_domid_t d = 1; d <= 5; d++)
		REQUIRE(add_tagged(t, 0, d) == 0);

	CHECK_EQ(vipt_delete(t, 0), -ENOENT);
	CHECK_EQ(vipt_delete(t, 6), -ENOENT);
	CHECK_EQ(vipt_delete(t, UINT32_MAX), -ENOENT);
	CHECK_EQ(vipt_count(t), 5);

	CHECK_EQ(vipt_delete(t, 3), 0);
	{
		const v4v_domid_t want[] = { 1, 2, 4, 5 };

		check_order(t, want, 4);
	}
	CHECK_EQ(vipt_delete(t, 1), 0);
	CHECK_EQ(vipt_delete(t, 3), 0);
	{
		const v4v_domid_t want[] = { 2, 4 };

		check_order(t, want, 2);
	}
	CHECK_EQ(vipt_delete(t, 3), -ENOENT);
	CHECK_EQ(vipt_delete(t, 1), 0);
	CHECK_EQ(vipt_delete(t, 1), 0);
	CHECK_EQ(vipt_count(t), 0);
	CHECK_EQ(vipt_delete(t, 1), -ENOENT);
	vipt_free(t);
}

static void t_flush(void)
{
	struct vipt_table *t = new_table(REJECT);
	struct v4vp_rule r = rule(m_any(), m_any(), ACCEPT);

	for (int i = 0; i < 40; i++)
		REQUIRE(vipt_insert(t, 0, &r) == 0);
	CHECK_EQ(chk(t, 1, 1, 2, 2), ACCEPT);
	CHECK_EQ(matches_at(t, 1), 1);

	vipt_flush(t);
	CHECK_EQ(vipt_count(t), 0);
	CHECK_EQ(vipt_policy(t), REJECT);	/* kept, as in iptables -F */
	CHECK_EQ(chk(t, 1, 1, 2, 2), REJECT);
	CHECK_EQ(matches_at(t, 1), UINT64_MAX);	/* no rule 1 any more */

	/* Usable again, with fresh counters. */
	CHECK_EQ(vipt_insert(t, 0, &r), 0);
	CHECK_EQ(matches_at(t, 1), 0);
	CHECK_EQ(chk(t, 1, 1, 2, 2), ACCEPT);
	vipt_flush(t);
	vipt_flush(t);				/* flushing empty is fine */
	CHECK_EQ(vipt_count(t), 0);
	vipt_free(t);
}

static void t_counters(void)
{
	struct vipt_table *t = new_table(REJECT);
	struct v4vp_rule r;

	r = rule(m_dom(1), m_any(), REJECT);	  /* 1: domain 1 */
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_any(), m_dom(7), ACCEPT);	  /* 2: to domain 7 */
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_any(), m_any(), ACCEPT);	  /* 3: everything */
	REQUIRE(vipt_insert(t, 0, &r) == 0);

	CHECK_EQ(chk(t, 1, 0, 7, 0), REJECT);	  /* 1, though 2, 3 match */
	CHECK_EQ(chk(t, 2, 0, 7, 0), ACCEPT);	  /* 2 */
	CHECK_EQ(chk(t, 2, 0, 7, 0), ACCEPT);	  /* 2 */
	CHECK_EQ(chk(t, 3, 0, 8, 0), ACCEPT);	  /* 3 */
	CHECK_EQ(matches_at(t, 1), 1);
	CHECK_EQ(matches_at(t, 2), 2);
	CHECK_EQ(matches_at(t, 3), 1);

	/* Policy decisions count on no rule. */
	CHECK_EQ(vipt_delete(t, 3), 0);
	CHECK_EQ(chk(t, 3, 0, 8, 0), REJECT);
	CHECK_EQ(matches_at(t, 1), 1);
	CHECK_EQ(matches_at(t, 2), 2);

	/* A counter belongs to its rule, not to its position. */
	r = rule(m_dom(99), m_any(), ACCEPT);
	REQUIRE(vipt_insert(t, 1, &r) == 0);
	CHECK_EQ(matches_at(t, 1), 0);
	CHECK_EQ(matches_at(t, 2), 1);
	CHECK_EQ(matches_at(t, 3), 2);
	CHECK_EQ(vipt_delete(t, 2), 0);
	CHECK_EQ(matches_at(t, 1), 0);
	CHECK_EQ(matches_at(t, 2), 2);
	vipt_free(t);
}

static void t_names(void)
{
	struct vipt_table *t = new_table(REJECT);
	struct v4vp_rule r;

	r = rule(m_name("web"), m_name("db"), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);

	CHECK_EQ(chk_named(t, 3, "web", 4, "db"), ACCEPT);
	/* The domid is irrelevant to a name match. */
	CHECK_EQ(chk_named(t, 9, "web", 0, "db"), ACCEPT);
	CHECK_EQ(chk_named(t, 3, "webx", 4, "db"), REJECT);
	CHECK_EQ(chk_named(t, 3, "we", 4, "db"), REJECT);
	CHECK_EQ(chk_named(t, 3, "Web", 4, "db"), REJECT);
	CHECK_EQ(chk_named(t, 3, "web", 4, "dbx"), REJECT);
	CHECK_EQ(chk_named(t, 3, "db", 4, "web"), REJECT);
	/* Unnamed domains never match a name. */
	CHECK_EQ(chk_named(t, 3, NULL, 4, "db"), REJECT);
	CHECK_EQ(chk_named(t, 3, "", 4, "db"), REJECT);
	CHECK_EQ(chk_named(t, 3, "web", 4, NULL), REJECT);
	CHECK_EQ(chk_named(t, 3, "web", 4, ""), REJECT);
	CHECK_EQ(matches_at(t, 1), 2);

	/* A domid rule matches named and unnamed domains alike. */
	vipt_flush(t);
	r = rule(m_dom(3), m_any(), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	CHECK_EQ(chk_named(t, 3, "web", 4, NULL), ACCEPT);
	CHECK_EQ(chk_named(t, 3, NULL, 4, NULL), ACCEPT);
	CHECK_EQ(chk_named(t, 4, "web", 3, NULL), REJECT);

	/* Name and port together. */
	vipt_flush(t);
	r = rule(m_any(), m_name("db"), ACCEPT);
	r.dst.flags &= ~V4VP_MATCH_ANY_PORT;
	r.dst.port = 5432;
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	{
		struct v4v_addr a = addr(1, 1), b = addr(2, 5432);

		CHECK_EQ(vipt_check(t, &a, NULL, &b, "db"), ACCEPT);
		b.port = 5433;
		CHECK_EQ(vipt_check(t, &a, NULL, &b, "db"), REJECT);
	}
	vipt_free(t);
}

static void t_ports(void)
{
	struct vipt_table *t = new_table(REJECT);
	struct v4vp_rule r;

	/* Any domain to port 80; domain 5 from port 0 to any port of 6;
	 * any domain from the top port. */
	r = rule(m_any(), m_anyp(80), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_domp(5, 0), m_dom(6), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_anyp(UINT32_MAX), m_any(), ACCEPT);
	REQUIRE(vipt_insert(t, 0, &r) == 0);

	CHECK_EQ(chk(t, 1, 7, 2, 80), ACCEPT);
	CHECK_EQ(chk(t, 3, 7, 4, 80), ACCEPT);
	CHECK_EQ(chk(t, 1, 7, 2, 81), REJECT);
	CHECK_EQ(chk(t, 1, 80, 2, 8080), REJECT);  /* port on the wrong side */
	CHECK_EQ(chk(t, 5, 0, 6, 12345), ACCEPT);
	CHECK_EQ(chk(t, 5, 0, 6, 0), ACCEPT);
	CHECK_EQ(chk(t, 5, 1, 6, 12345), REJECT);
	CHECK_EQ(chk(t, 5, 0, 7, 12345), REJECT);
	CHECK_EQ(chk(t, 9, UINT32_MAX, 9, 1), ACCEPT);
	CHECK_EQ(chk(t, 9, UINT32_MAX - 1, 9, 1), REJECT);
	CHECK_EQ(matches_at(t, 1), 2);
	CHECK_EQ(matches_at(t, 2), 2);
	CHECK_EQ(matches_at(t, 3), 1);
	vipt_free(t);
}

static void t_limit(void)
{
	struct vipt_table *t = new_table(ACCEPT);
	struct v4vp_rule r = rule(m_dom(1), m_dom(2), REJECT);
	struct v4vp_rule last = rule(m_dom(3), m_any(), REJECT);
	int fails = 0;

	for (uint32_t i = 0; i < VIPT_MAX_RULES - 1; i++)
		fails += vipt_insert(t, 0, &r) != 0;
	CHECK_EQ(fails, 0);
	CHECK_EQ(vipt_insert(t, 0, &last), 0);
	CHECK_EQ(vipt_count(t), VIPT_MAX_RULES);

	CHECK_EQ(vipt_insert(t, 0, &r), -ENOSPC);
	CHECK_EQ(vipt_insert(t, 1, &r), -ENOSPC);
	CHECK_EQ(vipt_insert(t, VIPT_MAX_RULES + 1, &r), -ENOSPC);
	CHECK_EQ(vipt_count(t), VIPT_MAX_RULES);

	/* Still works at the limit, down to the last rule. */
	CHECK_EQ(chk(t, 3, 0, 9, 0), REJECT);
	CHECK_EQ(matches_at(t, VIPT_MAX_RULES), 1);
	CHECK_EQ(chk(t, 4, 0, 9, 0), ACCEPT);

	CHECK_EQ(vipt_delete(t, 1), 0);
	CHECK_EQ(vipt_insert(t, 1, &r), 0);
	CHECK_EQ(vipt_insert(t, 1, &r), -ENOSPC);
	vipt_free(t);
}

/* One way to spoil a match; applied to src and to dst in turn. */
struct bad_match {
	const char *what;
	void (*spoil)(struct v4vp_match *m);
};

static void bad_flag_bit(struct v4vp_match *m)
{
	m->flags |= 8;
}

static void bad_flag_top(struct v4vp_match *m)
{
	m->flags |= 0x80000000u;
}

static void bad_unterminated(struct v4vp_match *m)
{
	*m = m_name("x");
	memset(m->name, 'a', V4V_NAME_MAX);
}

static void bad_unterminated_noname(struct v4vp_match *m)
{
	memset(m->name, 'a', V4V_NAME_MAX);
}

static void bad_empty_name(struct v4vp_match *m)
{
	*m = m_dom(1);
	m->flags |= V4VP_MATCH_BY_NAME;
}

static void bad_name_and_any(struct v4vp_match *m)
{
	*m = m_name("web");
	m->flags |= V4VP_MATCH_ANY_DOM;
}

static void bad_name_without_flag(struct v4vp_match *m)
{
	*m = m_dom(1);
	strcpy(m->name, "web");
}

static void bad_domid_max1(struct v4vp_match *m)
{
	*m = m_dom(V4V_DOMID_MAX + 1);
}

static void bad_domid_any(struct v4vp_match *m)
{
	*m = m_domp(V4V_DOMID_ANY, 1);	/* the wildcard is not a domid */
}

static void bad_domid_invalid(struct v4vp_match *m)
{
	*m = m_dom(V4V_DOMID_INVALID);
}

static void bad_domid_top(struct v4vp_match *m)
{
	*m = m_dom(UINT16_MAX);
}

static void bad_domid_with_any(struct v4vp_match *m)
{
	*m = m_any();
	m->domid = 5;
}

static void bad_domid_with_name(struct v4vp_match *m)
{
	*m = m_name("web");
	m->domid = 5;
}

static const struct bad_match bad_matches[] = {
	{ "unknown flag bit", bad_flag_bit },
	{ "unknown top flag bit", bad_flag_top },
	{ "unterminated name", bad_unterminated },
	{ "unterminated name, no BY_NAME", bad_unterminated_noname },
	{ "BY_NAME, empty name", bad_empty_name },
	{ "BY_NAME with ANY_DOM", bad_name_and_any },
	{ "name without BY_NAME", bad_name_without_flag },
	{ "domid MAX + 1", bad_domid_max1 },
	{ "domid ANY by domid", bad_domid_any },
	{ "domid INVALID", bad_domid_invalid },
	{ "domid 0xffff", bad_domid_top },
	{ "domid with ANY_DOM", bad_domid_with_any },
	{ "domid with BY_NAME", bad_domid_with_name },
	{ NULL, NULL },
};

static void t_rule_check_bad(void)
{
	struct vipt_table *t = new_table(ACCEPT);
	struct v4vp_rule good = rule(m_domp(1, 2), m_name("db"), REJECT);

	REQUIRE(vipt_rule_check(&good) == 0);
	for (const struct bad_match *b = bad_matches; b->what; b++) {
		for (int side = 0; side < 2; side++) {
			struct v4vp_rule r = good;
			int rc;

			b->spoil(side ? &r.dst : &r.src);
			rc = vipt_rule_check(&r);
			if (rc != -EINVAL)
				fprintf(stderr, "  accepted: %s in %s\n",
					b->what, side ? "dst" : "src");
			CHECK_EQ(rc, -EINVAL);
			CHECK_EQ(vipt_insert(t, 0, &r), -EINVAL);
		}
	}

	{
		struct v4vp_rule r = good;

		r.action = 2;
		CHECK_EQ(vipt_rule_check(&r), -EINVAL);
		CHECK_EQ(vipt_insert(t, 0, &r), -EINVAL);
		r.action = UINT32_MAX;
		CHECK_EQ(vipt_rule_check(&r), -EINVAL);
	}
	CHECK_EQ(vipt_count(t), 0);
	/* A bad rule is -EINVAL even where the position is also bad. */
	CHECK_EQ(vipt_insert(t, 5, &good), -EINVAL);
	vipt_free(t);
}

static void t_rule_check_good(void)
{
	struct v4vp_rule r;

	r = rule(m_any(), m_any(), ACCEPT);
	CHECK_EQ(vipt_rule_check(&r), 0);
	r = rule(m_dom(0), m_dom(V4V_DOMID_MAX), REJECT);
	CHECK_EQ(vipt_rule_check(&r), 0);
	r = rule(m_domp(0, UINT32_MAX), m_anyp(0), ACCEPT);
	CHECK_EQ(vipt_rule_check(&r), 0);

	/* The wildcard domid is an accepted way to write "any". */
	r = rule(m_any(), m_anyp(9), ACCEPT);
	r.src.domid = V4V_DOMID_ANY;
	r.dst.domid = V4V_DOMID_ANY;
	CHECK_EQ(vipt_rule_check(&r), 0);

	/* Longest name; garbage after a name's NUL; nonzero pads. */
	r = rule(m_name("abcdefghijklmnopqrstuvwxyz01234"), m_name("db"),
		 ACCEPT);
	CHECK_EQ(strlen(r.src.name), V4V_NAME_MAX - 1);
	memset(r.dst.name + 3, 'x', V4V_NAME_MAX - 3);
	r.src.pad = 0xffff;
	r.src.pad2 = 0xffffffffu;
	r.dst.pad = 1;
	r.pad = 7;
	CHECK_EQ(vipt_rule_check(&r), 0);
}

static void t_get(void)
{
	struct vipt_table *t = new_table(ACCEPT);
	struct v4vp_rec_rule rec;
	struct v4vp_rule r, want;

	/* Insert with garbage in every ignored field ... */
	r = rule(m_name("web"), m_domp(4, 8080), REJECT);
	memset(r.src.name + 4, 'x', V4V_NAME_MAX - 4);
	r.src.port = 1234;		/* under ANY_PORT */
	r.src.domid = V4V_DOMID_ANY;	/* allowed with BY_NAME */
	r.src.pad = 1;
	r.src.pad2 = 2;
	r.dst.pad = 3;
	r.dst.pad2 = 4;
	r.pad = 5;
	REQUIRE(vipt_insert(t, 0, &r) == 0);
	r = rule(m_any(), m_anyp(22), ACCEPT);
	r.src.domid = V4V_DOMID_ANY;
	REQUIRE(vipt_insert(t, 0, &r) == 0);

	/* ... and get it back clean. */
	memset(&rec, 0xa5, sizeof(rec));
	CHECK_EQ(vipt_get(t, 1, &rec), 0);
	want = rule(m_name("web"), m_domp(4, 8080), REJECT);
	want.src.port = 0;
	CHECK_EQ(rec.pos, 1);
	CHECK_EQ(rec.pad, 0);
	CHECK_EQ(rec.matches, 0);
	CHECK(memcmp(&rec.rule, &want, sizeof(want)) == 0);

	CHECK_EQ(chk_named(t, 1, "web", 4, NULL), ACCEPT);  /* port 2 */
	CHECK_EQ(chk(t, 1, 0, 2, 22), ACCEPT);
	{
		struct v4v_addr a = addr(1, 1), b = addr(4, 8080);

		CHECK_EQ(vipt_check(t, &a, "web", &b, NULL), REJECT);
	}

	memset(&rec, 0xa5, sizeof(rec));
	CHECK_EQ(vipt_get(t, 2, &rec), 0);
	want = rule(m_any(), m_anyp(22), ACCEPT);
	CHECK_EQ(rec.pos, 2);
	CHECK_EQ(rec.pad, 0);
	CHECK_EQ(rec.matches, 1);
	CHECK(memcmp(&rec.rule, &want, sizeof(want)) == 0);
	CHECK_EQ(matches_at(t, 1), 1);

	CHECK_EQ(vipt_get(t, 0, &rec), -ENOENT);
	CHECK_EQ(vipt_get(t, 3, &rec), -ENOENT);
	CHECK_EQ(vipt_get(t, UINT32_MAX, &rec), -ENOENT);
	vipt_free(t);
}

static const struct t_case cases[] = {
	{ "policy", t_policy },
	{ "first_match", t_first_match },
	{ "insert_positions", t_insert_positions },
	{ "delete", t_delete },
	{ "flush", t_flush },
	{ "counters", t_counters },
	{ "names", t_names },
	{ "ports", t_ports },
	{ "limit", t_limit },
	{ "rule_check_bad", t_rule_check_bad },
	{ "rule_check_good", t_rule_check_good },
	{ "get", t_get },
	{ 0 },
};

int main(int argc, char **argv)
{
	return t_run(cases, argc, argv);
}
