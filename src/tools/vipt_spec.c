/* SPDX-License-Identifier: MIT */
/*
 * Parsing and printing of viptables matches and actions; the syntax is
 * described in vipt_spec.h.  The parser is strict (no strtoul: it accepts
 * signs, spaces and wraps on overflow) so that what the user typed is
 * exactly what v4vd receives, and the printer's output parses back to the
 * same match.
 */
#include "vipt_spec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ASCII only: <ctype.h> depends on the locale. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}

/* The n bytes at s as a decimal number no larger than max. */
static int parse_num(const char *s, size_t n, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		/* Stop early: v stays below 2^36, far from wrapping. */
		if (v > max)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_dom(const char *s, size_t n, struct v4vp_match *m)
{
	uint32_t id;

	if (n == 1 && s[0] == '*') {
		m->flags |= V4VP_MATCH_ANY_DOM;
		return 0;
	}
	if (n > 0 && is_digit(s[0])) {
		if (parse_num(s, n, V4V_DOMID_MAX, &id))
			return -EINVAL;
		m->domid = (v4v_domid_t)id;
		return 0;
	}
	if (n == 0 || n >= V4V_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return -EINVAL;
	m->flags |= V4VP_MATCH_BY_NAME;
	memcpy(m->name, s, n);
	return 0;
}

static int parse_port(const char *s, struct v4vp_match *m)
{
	if (strcmp(s, "*") == 0) {
		m->flags |= V4VP_MATCH_ANY_PORT;
		return 0;
	}
	return parse_num(s, strlen(s), UINT32_MAX, &m->port);
}

int vipt_parse_match(const char *s, struct v4vp_match *m)
{
	struct v4vp_match r;
	const char *colon;

	if (!s)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	colon = strchr(s, ':');
	if (!colon) {
		if (parse_dom(s, strlen(s), &r))
			return -EINVAL;
		r.flags |= V4VP_MATCH_ANY_PORT;
	} else {
		/* A second colon fails in parse_port as a non-digit. */
		if (parse_dom(s, (size_t)(colon - s), &r) ||
		    parse_port(colon + 1, &r))
			return -EINVAL;
	}
	*m = r;
	return 0;
}

int vipt_parse_action(const char *s, uint32_t *action)
{
	if (!s)
		return -EINVAL;
	if (strcasecmp(s, "ACCEPT") == 0)
		*action = V4VP_VIPT_ACCEPT;
	else if (strcasecmp(s, "REJECT") == 0)
		*action = V4VP_VIPT_REJECT;
	else
		return -EINVAL;
	return 0;
}

/* Copy a name off the wire into dom, bounded, with odd bytes masked so a
 * hostile name cannot put escape sequences on the user's terminal. */
static void format_name(const char *name, char dom[V4V_NAME_MAX])
{
	size_t n = strnlen(name, V4V_NAME_MAX - 1);

	if (n == 0) {
		strcpy(dom, "?");
		return;
	}
	for (size_t i = 0; i < n; i++)
		dom[i] = is_name_char(name[i]) ? name[i] : '?';
	dom[n] = '\0';
}

void vipt_format_match(const struct v4vp_match *m, char *buf, size_t len)
{
	char dom[V4V_NAME_MAX];

	if (m->flags & V4VP_MATCH_ANY_DOM)
		strcpy(dom, "*");
	else if (m->flags & V4VP_MATCH_BY_NAME)
		format_name(m->name, dom);
	else
		snprintf(dom, sizeof(dom), "%u", (unsigned int)m->domid);

	if (m->flags & V4VP_MATCH_ANY_PORT)
		snprintf(buf, len, "%s", dom);
	else
		snprintf(buf, len, "%s:%u", dom, (unsigned int)m->port);
}

const char *vipt_action_name(uint32_t action)
{
	switch (action) {
	case V4VP_VIPT_ACCEPT:
		return "ACCEPT";
	case V4VP_VIPT_REJECT:
		return "REJECT";
	default:
		return "?";
	}
}
