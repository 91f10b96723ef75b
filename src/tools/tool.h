/* SPDX-License-Identifier: MIT */
/* The v4v tool: one file per subcommand, sharing these helpers. */
#ifndef V4V_TOOLS_TOOL_H
#define V4V_TOOLS_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "v4v/link.h"

/* Exit codes, as documented in docs/cli.md. */
#define EXIT_USAGE 2
#define EXIT_NOHV 3 /* cannot reach the hypervisor */

int cmd_status(int argc, char **argv);
int cmd_viptables(int argc, char **argv);
int cmd_vm(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* cat.c, cat_stream.c */
struct sockaddr_v4v;
int cat_open(int type);
int cat_stream_listen(uint32_t port, bool verbose);
int cat_stream_connect(const struct sockaddr_v4v *to);

/* Print "v4v: <what>: <strerror>" with advice for the common errnos. */
void tool_err(const char *what, int neg_errno);
/* Open an admin/observer connection or exit with a clear message. */
struct v4v_ctl *tool_ctl(void);
/* Fetch every record of a LIST kind: *recs is malloc'd, *n records. */
int tool_list(struct v4v_ctl *c, uint32_t what, void **recs, uint32_t *n);

#endif
