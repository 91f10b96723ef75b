/* SPDX-License-Identifier: MIT */
/*
 * Kernel signatures read from PTX text: which .entry functions a module
 * has and the size of each parameter.  The server checks every launch's
 * arguments against them, so that the driver never reads a parameter the
 * client did not send.
 */
#ifndef RGPU_PTX_SIG_H
#define RGPU_PTX_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "rgpu/wire.h"

struct ptx_entry {
	char name[RGPU_MAX_NAME + 1];
	unsigned nparams;
	uint8_t size[RGPU_MAX_ARGS]; /* bytes: 1, 2, 4 or 8 */
};

/* Read every .entry of `ptx` (NUL-terminated) into out[0..max).  Returns
 * the count, or -RGPU_ERR_INVALID_PTX for a signature it cannot read (an
 * aggregate parameter, more than RGPU_MAX_ARGS, a name used twice) or
 * more than `max` entries.  Comments are skipped, so an .entry in a
 * comment does not count. */
int ptx_entries(const char *ptx, struct ptx_entry *out, unsigned max);

/* The entry called `name` among e[0..n), or NULL. */
const struct ptx_entry *ptx_entry_lookup(const struct ptx_entry *e,
					 unsigned n, const char *name);

#endif
