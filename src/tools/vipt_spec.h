/* SPDX-License-Identifier: MIT */
/*
 * The v4v tool's viptables syntax, in the spirit of iptables.
 *
 * A match is written
 *
 *   *           any domain, any port
 *   DOM         one domain, any port
 *   DOM:PORT    one domain, one port
 *   *:PORT      any domain, one port
 *   DOM:*       one domain, any port (printed as DOM)
 *
 * DOM is a decimal domid (0..V4V_DOMID_MAX) or a domain name: 1..31 of
 * [A-Za-z0-9_.-], not starting with a digit, so a name never reads as a
 * domid.  PORT is decimal, 0..4294967295.  No signs, spaces or hex.
 * Printing gives the canonical form: "*:*" prints as "*", "DOM:*" as
 * "DOM", "007" as "7".  An action is ACCEPT or REJECT, in any case.
 */
#ifndef V4V_TOOLS_VIPT_SPEC_H
#define V4V_TOOLS_VIPT_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Room for the longest printed match, with its NUL:
 * 31-byte name, ':', 10-digit port. */
#define VIPT_MATCH_STRLEN 48

/* Parse a match; 0, or -EINVAL leaving *m untouched.  A parsed match has
 * every field it does not use zeroed, and passes vipt_rule_check. */
int vipt_parse_match(const char *s, struct v4vp_match *m);
/* ACCEPT or REJECT, case-insensitive; 0, or -EINVAL leaving *action. */
int vipt_parse_action(const char *s, uint32_t *action);

/* Print a match in canonical form, truncated to fit `len` (always
 * terminated when len > 0).  Safe on matches straight off the wire: a name
 * is read at most to V4V_NAME_MAX - 1 bytes and any byte outside the name
 * alphabet prints as '?'. */
void vipt_format_match(const struct v4vp_match *m, char *buf, size_t len);
/* "ACCEPT", "REJECT", or "?" for anything else. */
const char *vipt_action_name(uint32_t action);

#endif
