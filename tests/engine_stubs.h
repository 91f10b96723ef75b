/* SPDX-License-Identifier: MIT */
/*
 * What the copy engine (src/hv/engine.c, dgram_q.c) calls outside itself
 * and a test of it alone need not watch: counters, the shard's thread,
 * the log.  Shared by tests/unit/test_engine.c and tests/fuzz/fuzz_engine.c,
 * each of which defines the_shard, the one shard every ring goes to.
 */
#ifndef V4V_TEST_ENGINE_STUBS_H
#define V4V_TEST_ENGINE_STUBS_H

#include "hv/hv.h"

static struct hv_shard *the_shard;

void hv_count_tx(struct hv *hv, struct hv_domain *src, struct hv_ring *dst,
		 uint32_t len)
{
	(void)hv;
	(void)src;
	(void)dst;
	(void)len;
}

struct hv_shard *hv_shard_pick(struct hv *hv, struct hv_ring *r)
{
	(void)hv;
	(void)r;
	return the_shard;
}

void hv_shard_wake(struct hv_shard *sh)
{
	(void)sh;
}

void hv_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

#endif
