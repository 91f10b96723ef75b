/* SPDX-License-Identifier: MIT */
/*
 * The v4v tool's viptables syntax: what parses, what does not, the
 * canonical printed form, and that every parsed match is one v4vd accepts.
 */
#include <errno.h>
#include <stdint.h>

#include "hv/viptables.h"
#include "t.h"
#include "tools/vipt_spec.h"

#define ANY_DOM V4VP_MATCH_ANY_DOM
#define ANY_PORT V4VP_MATCH_ANY_PORT
#define BY_NAME V4VP_MATCH_BY_NAME

struct good {
	const char *in;
	uint32_t flags;
	v4v_domid_t domid;
	uint32_t port;
	const char *name;
	const char *canon; /* printed form */
};

static const struct good goods[] = {
	{ "*", ANY_DOM | ANY_PORT, 0, 0, "", "*" },
	{ "*:*", ANY_DOM | ANY_PORT, 0, 0, "", "*" },
	{ "*:80", ANY_DOM, 0, 80, "", "*:80" },
	{ "*:0", ANY_DOM, 0, 0, "", "*:0" },
	{ "*:4294967295", ANY_DOM, 0, UINT32_MAX, "", "*:4294967295" },
	{ "5", ANY_PORT, 5, 0, "", "5" },
	{ "5:*", ANY_PORT, 5, 0, "", "5" },
	{ "5:80", 0, 5, 80, "", "5:80" },
	{ "0", ANY_PORT, 0, 0, "", "0" },
	{ "0:0", 0, 0, 0, "", "0:0" },
	{ "32751", ANY_PORT, V4V_DOMID_MAX, 0, "", "32751" },
	{ "007:0080", 0, 7, 80, "", "7:80" },
	{ "00000000000000000000001", ANY_PORT, 1, 0, "", "1" },
	{ "web", BY_NAME | ANY_PORT, 0, 0, "web", "web" },
	{ "web:*", BY_NAME | ANY_PORT, 0, 0, "web", "web" },
	{ "web:443", BY_NAME, 0, 443, "web", "web:443" },
	{ "a", BY_NAME | ANY_PORT, 0, 0, "a", "a" },
	{ "Db_1.x-y", BY_NAME | ANY_PORT, 0, 0, "Db_1.x-y", "Db_1.x-y" },
	{ "_0", BY_NAME | ANY_PORT, 0, 0, "_0", "_0" },
	{ ".x:1", BY_NAME, 0, 1, ".x", ".x:1" },
	/* Not a number but a name: only a leading digit means a domid. */
	{ "-1:5", BY_NAME, 0, 5, "-1", "-1:5" },
	{ "abcdefghijklmnopqrstuvwxyz01234:4294967295", BY_NAME, 0,
	  UINT32_MAX, "abcdefghijklmnopqrstuvwxyz01234",
	  "abcdefghijklmnopqrstuvwxyz01234:4294967295" },
	{ NULL },
};

static const char *const bads[] = {
	"", ":", "::", ":80", ":*", "5:", "*:", "web:",
	"5:80:1", "5::80", "*:*:*", "5:*:", "**", "*x", "x*", "*5", "5*",
	"32752", "32767", "65535", "65536", "99999999999999999999",
	"5:4294967296", "5:99999999999999999999999", "5:18446744073709551616",
	"5:-1", "+5", "5:+80", " 5", "5 ", "5: 80", "5:8 0", "\t",
	"0x10", "5:0x10", "1e3", "5a", "1web", "9:web",
	"web!", "we b", "web/1", "w\xc3\xa9", "web\n", "*:web",
	"abcdefghijklmnopqrstuvwxyz012345",		/* 32 chars */
	"abcdefghijklmnopqrstuvwxyz012345:80",
	NULL,
};

static void t_parse_good(void)
{
	for (const struct good *g = goods; g->in; g++) {
		struct v4vp_match m, want = { .flags = g->flags,
					      .domid = g->domid,
					      .port = g->port };
		int rc;

		strcpy(want.name, g->name);
		memset(&m, 0xa5, sizeof(m));
		rc = vipt_parse_match(g->in, &m);
		if (rc || memcmp(&m, &want, sizeof(m)))
			fprintf(stderr, "  wrong parse of \"%s\"\n", g->in);
		CHECK_EQ(rc, 0);
		/* Byte-equal: every unused field and pad zeroed. */
		CHECK(memcmp(&m, &want, sizeof(m)) == 0);
	}
}

static void t_parse_bad(void)
{
	for (const char *const *b = bads; *b; b++) {
		struct v4vp_match m, orig;
		int rc;

		memset(&m, 0x5a, sizeof(m));
		orig = m;
		rc = vipt_parse_match(*b, &m);
		if (rc != -EINVAL)
			fprintf(stderr, "  accepted \"%s\"\n", *b);
		CHECK_EQ(rc, -EINVAL);
		CHECK(memcmp(&m, &orig, sizeof(m)) == 0);
	}
	{
		struct v4vp_match m;

		CHECK_EQ(vipt_parse_match(NULL, &m), -EINVAL);
	}
}

/* format(parse(x)) is canonical, and the canonical form parses back to
 * the same bytes. */
static void t_round_trip(void)
{
	for (const struct good *g = goods; g->in; g++) {
		struct v4vp_match m, m2;
		char buf[VIPT_MATCH_STRLEN], buf2[VIPT_MATCH_STRLEN];

		REQUIRE(vipt_parse_match(g->in, &m) == 0);
		vipt_format_match(&m, buf, sizeof(buf));
		if (strcmp(buf, g->canon))
			fprintf(stderr, "  \"%s\" printed as \"%s\"\n",
				g->in, buf);
		CHECK(strcmp(buf, g->canon) == 0);

		CHECK_EQ(vipt_parse_match(buf, &m2), 0);
		CHECK(memcmp(&m, &m2, sizeof(m)) == 0);
		vipt_format_match(&m2, buf2, sizeof(buf2));
		CHECK(strcmp(buf, buf2) == 0);
	}
}

/* Whatever the tool can express, v4vd must take. */
static void t_parsed_rules_valid(void)
{
	for (const struct good *g = goods; g->in; g++) {
		struct v4vp_rule r = { .action = V4VP_VIPT_REJECT };

		REQUIRE(vipt_parse_match(g->in, &r.src) == 0);
		REQUIRE(vipt_parse_match(g->in, &r.dst) == 0);
		if (vipt_rule_check(&r))
			fprintf(stderr, "  v4vd refuses \"%s\"\n", g->in);
		CHECK_EQ(vipt_rule_check(&r), 0);
	}
}

static void t_format_wire(void)
{
	struct v4vp_match m = { .flags = BY_NAME, .port = 7 };
	char buf[VIPT_MATCH_STRLEN];

	/* Unterminated name off the wire: bounded at 31 bytes. */
	memset(m.name, 'a', V4V_NAME_MAX);
	vipt_format_match(&m, buf, sizeof(buf));
	CHECK(strcmp(buf, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:7") == 0);

	/* Terminal escapes and other odd bytes are masked. */
	memset(m.name, 0, V4V_NAME_MAX);
	strcpy(m.name, "a\x1b[2Jb c");
	vipt_format_match(&m, buf, sizeof(buf));
	CHECK(strcmp(buf, "a??2Jb?c:7") == 0);

	/* A malformed empty name still prints something. */
	memset(m.name, 0, V4V_NAME_MAX);
	vipt_format_match(&m, buf, sizeof(buf));
	CHECK(strcmp(buf, "?:7") == 0);

	/* ANY_DOM wins over a stray domid; the domid prints unsigned. */
	m = (struct v4vp_match){ .flags = ANY_DOM | ANY_PORT, .domid = 9 };
	vipt_format_match(&m, buf, sizeof(buf));
	CHECK(strcmp(buf, "*") == 0);
	m = (struct v4vp_match){ .domid = UINT16_MAX, .port = UINT32_MAX };
	vipt_format_match(&m, buf, sizeof(buf));
	CHECK(strcmp(buf, "65535:4294967295") == 0);
}

static void t_format_truncate(void)
{
	struct v4vp_match m;
	char buf[8];

	REQUIRE(vipt_parse_match("web:8080", &m) == 0);
	memset(buf, 'z', sizeof(buf));
	vipt_format_match(&m, buf, 4);
	CHECK(strcmp(buf, "web") == 0);
	CHECK_EQ(buf[4], 'z');

	memset(buf, 'z', sizeof(buf));
	vipt_format_match(&m, buf, 1);
	CHECK_EQ(buf[0], '\0');
	CHECK_EQ(buf[1], 'z');

	memset(buf, 'z', sizeof(buf));
	vipt_format_match(&m, buf, 0);
	CHECK_EQ(buf[0], 'z');
}

static void t_action(void)
{
	static const char *const bad[] = {
		"", "DROP", "ACCEPTX", "ACCEP", " ACCEPT", "ACCEPT ", "0",
		"1", "REJECT\n", "reject-", NULL,
	};
	uint32_t a;

	a = 99;
	CHECK_EQ(vipt_parse_action("ACCEPT", &a), 0);
	CHECK_EQ(a, V4VP_VIPT_ACCEPT);
	a = 99;
	CHECK_EQ(vipt_parse_action("accept", &a), 0);
	CHECK_EQ(a, V4VP_VIPT_ACCEPT);
	a = 99;
	CHECK_EQ(vipt_parse_action("REJECT", &a), 0);
	CHECK_EQ(a, V4VP_VIPT_REJECT);
	a = 99;
	CHECK_EQ(vipt_parse_action("rEjEcT", &a), 0);
	CHECK_EQ(a, V4VP_VIPT_REJECT);

	for (const char *const *b = bad; *b; b++) {
		a = 99;
		CHECK_EQ(vipt_parse_action(*b, &a), -EINVAL);
		CHECK_EQ(a, 99);
	}
	CHECK_EQ(vipt_parse_action(NULL, &a), -EINVAL);

	CHECK(strcmp(vipt_action_name(V4VP_VIPT_ACCEPT), "ACCEPT") == 0);
	CHECK(strcmp(vipt_action_name(V4VP_VIPT_REJECT), "REJECT") == 0);
	CHECK(strcmp(vipt_action_name(2), "?") == 0);
	CHECK(strcmp(vipt_action_name(UINT32_MAX), "?") == 0);

	/* Names parse back to their actions. */
	for (uint32_t i = 0; i < 2; i++) {
		CHECK_EQ(vipt_parse_action(vipt_action_name(i), &a), 0);
		CHECK_EQ(a, i);
	}
}

static const struct t_case cases[] = {
	{ "parse_good", t_parse_good },
	{ "parse_bad", t_parse_bad },
	{ "round_trip", t_round_trip },
	{ "parsed_rules_valid", t_parsed_rules_valid },
	{ "format_wire", t_format_wire },
	{ "format_truncate", t_format_truncate },
	{ "action", t_action },
	{ 0 },
};

int main(int argc, char **argv)
{
	return t_run(cases, argc, argv);
}
