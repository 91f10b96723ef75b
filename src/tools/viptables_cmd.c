/* SPDX-License-Identifier: MIT */
/* v4v viptables: list and change the hypervisor's firewall. */
#include "tool.h"
#include "vipt_spec.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
"Usage: v4v viptables -L [-v]\n"
"       v4v viptables -A [-s SRC] [-d DST] -j ACTION\n"
"       v4v viptables -I N [-s SRC] [-d DST] -j ACTION\n"
"       v4v viptables -D N\n"
"       v4v viptables -F\n"
"       v4v viptables -P ACTION\n"
"List, append, insert before rule N (1 is the first), delete rule N,\n"
"flush all rules, or set the default policy.  The first rule that matches\n"
"a message decides; if none does, the policy does.\n"
"\n"
"SRC and DST are '*', DOM, DOM:PORT or *:PORT, where DOM is a domid or a\n"
"domain name; both default to '*'.  ACTION is ACCEPT or REJECT.\n"
"Changing rules needs root or v4vd's --admin-group.\n";

struct vipt_args {
	char cmd;
	uint32_t pos;
	bool verbose;
	struct v4vp_rule rule;
	bool have_action;
};

static int parse_pos(const char *s, uint32_t *pos)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !s[0] || s[0] == '-' || v == 0 || v > UINT32_MAX)
		return -1;
	*pos = (uint32_t)v;
	return 0;
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "v4v viptables: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'v4v viptables -h' for more information.\n");
	return EXIT_USAGE;
}

static int set_cmd(struct vipt_args *a, char c)
{
	if (a->cmd) {
		char both[3] = { a->cmd, c, 0 };

		return bad("only one of -L -A -I -D -F -P at a time (got %s)",
			   both);
	}
	a->cmd = c;
	return 0;
}

static int parse(int argc, char **argv, struct vipt_args *a)
{
	int o, rc = 0;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			exit(0);
		}
	}
	a->rule.src.flags = V4VP_MATCH_ANY_DOM | V4VP_MATCH_ANY_PORT;
	a->rule.dst.flags = V4VP_MATCH_ANY_DOM | V4VP_MATCH_ANY_PORT;
	optind = 1;
	while (!rc && (o = getopt(argc, argv, "LAI:D:FP:s:d:j:vh")) != -1) {
		switch (o) {
		case 'L': case 'A': case 'F':
			rc = set_cmd(a, (char)o);
			break;
		case 'I': case 'D':
			rc = set_cmd(a, (char)o);
			if (!rc && parse_pos(optarg, &a->pos))
				rc = bad("bad rule number '%s'", optarg);
			break;
		case 'P':
			rc = set_cmd(a, 'P');
			if (!rc && vipt_parse_action(optarg, &a->rule.action))
				rc = bad("bad policy '%s'", optarg);
			break;
		case 's': case 'd':
			if (vipt_parse_match(optarg, o == 's' ? &a->rule.src
							      : &a->rule.dst))
				rc = bad("bad address '%s'", optarg);
			break;
		case 'j':
			if (vipt_parse_action(optarg, &a->rule.action))
				rc = bad("bad action '%s'", optarg);
			a->have_action = true;
			break;
		case 'v': a->verbose = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		default: return bad("%s", "bad option");
		}
	}
	if (rc)
		return rc;
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!a->cmd)
		return bad("%s", "say what to do: -L, -A, -I, -D, -F or -P");
	if ((a->cmd == 'A' || a->cmd == 'I') && !a->have_action)
		return bad("%s", "a rule needs an action: -j ACCEPT|REJECT");
	return 0;
}

static int list(struct v4v_ctl *c, bool verbose)
{
	struct v4vp_rec_rule *rules;
	struct v4vp_rec_hv *hv;
	uint32_t n, one;
	int rc = tool_list(c, V4VP_LIST_HV, (void **)&hv, &one);

	if (rc)
		return rc;
	printf("Policy: %s\n", vipt_action_name(hv->policy));
	free(hv);
	rc = tool_list(c, V4VP_LIST_RULES, (void **)&rules, &n);
	if (rc)
		return rc;
	printf("%4s %-7s %-24s %-24s%s\n", "NUM", "ACTION", "SOURCE",
	       "DESTINATION", verbose ? "  MATCHES" : "");
	for (uint32_t i = 0; i < n; i++) {
		char src[VIPT_MATCH_STRLEN], dst[VIPT_MATCH_STRLEN];

		vipt_format_match(&rules[i].rule.src, src, sizeof(src));
		vipt_format_match(&rules[i].rule.dst, dst, sizeof(dst));
		printf("%4u %-7s %-24s %-24s", rules[i].pos,
		       vipt_action_name(rules[i].rule.action), src, dst);
		if (verbose)
			printf("  %" PRIu64, rules[i].matches);
		printf("\n");
	}
	free(rules);
	return 0;
}

static int change(struct v4v_ctl *c, const struct vipt_args *a)
{
	struct v4vp_vipt_add add = { .pos = a->pos, .rule = a->rule };
	struct v4vp_vipt_del del = { .pos = a->pos };
	struct v4vp_vipt_policy pol = { .action = a->rule.action };

	switch (a->cmd) {
	case 'A':
		add.pos = 0;
		/* fall through */
	case 'I':
		return v4v_ctl_call(c, V4VP_VIPT_ADD, &add, sizeof(add), NULL,
				    0, NULL);
	case 'D':
		return v4v_ctl_call(c, V4VP_VIPT_DEL, &del, sizeof(del), NULL,
				    0, NULL);
	case 'F':
		return v4v_ctl_call(c, V4VP_VIPT_FLUSH, NULL, 0, NULL, 0, NULL);
	default:
		return v4v_ctl_call(c, V4VP_VIPT_POLICY, &pol, sizeof(pol),
				    NULL, 0, NULL);
	}
}

int cmd_viptables(int argc, char **argv)
{
	struct vipt_args a;
	struct v4v_ctl *c;
	int rc = parse(argc, argv, &a);

	if (rc)
		return rc;
	c = tool_ctl();
	rc = a.cmd == 'L' ? list(c, a.verbose) : change(c, &a);
	v4v_ctl_close(c);
	if (rc == -ENOENT && a.cmd == 'D')
		fprintf(stderr, "v4v viptables: no rule number %u\n", a.pos);
	else if (rc == -EINVAL && a.cmd == 'I')
		fprintf(stderr, "v4v viptables: cannot insert at %u: there "
			"are fewer rules\n", a.pos);
	else if (rc)
		tool_err("viptables", rc);
	return rc ? 1 : 0;
}
