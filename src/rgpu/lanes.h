/* SPDX-License-Identifier: MIT */
/*
 * Lanes: more connections of one client that share its session's device
 * context, so that one large copy crosses several rings, CPUs and device
 * streams at once.  The session offers a token (LANES); each further
 * connection of the same client presents it (JOIN) and from then on may
 * only copy (HTOD, DTOH) into and out of the session's allocations.
 *
 * The shared context is reference counted (the session and each joined
 * lane) and guarded by a read-write lock: copies hold it shared for their
 * whole length, everything that changes or uses the allocations otherwise
 * (free, launch, ...) holds it exclusively, so that no memory is freed
 * under a lane's copy.
 */
#ifndef RGPU_LANES_H
#define RGPU_LANES_H

#include <stdbool.h>
#include <stdint.h>

#include "rgpu/devctx.h"

struct sctx;

/* Wrap a session's own context (the wrapper owns it from now on). */
struct sctx *sctx_new(struct devctx *ctx, const char *peer);
struct devctx *sctx_ctx(const struct sctx *s);
/* Free a wrapper never offered nor joined, leaving its context open. */
void sctx_unwrap(struct sctx *s);
/* Allow `extra` more connections from the same peer (domain or host) to
 * join; returns the token they must present, 0 if it cannot. */
uint64_t sctx_offer(struct sctx *s, unsigned extra);
/* The session offering `token` to `peer`, with a reference taken; NULL
 * if there is none, it is full, or the peer is another one. */
struct sctx *sctx_join(uint64_t token, const char *peer);
/* The session ends: no more joins; drop its reference. */
void sctx_close(struct sctx *s);
/* A lane ends: drop its reference.  The last one frees the context. */
void sctx_put(struct sctx *s);

void sctx_lock(struct sctx *s, bool exclusive);
void sctx_unlock(struct sctx *s);

#endif
