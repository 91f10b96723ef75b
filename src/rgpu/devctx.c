/* SPDX-License-Identifier: MIT */
#include "rgpu/devctx.h"
#include "rgpu/kernels.h"
#include "rgpu/ptx_sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SLOT_BITS 12
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
#define OFFSET_MASK ((1ull << RGPU_OFFSET_BITS) - 1)
#define MAX_ENTRIES 16

struct alloc {
	uint32_t key; /* 0: free */
	uint64_t addr, size;
};

struct module {
	uint32_t tag; /* 0: free */
	struct rgpu_bmod *bmod;
	unsigned nentries;
	struct ptx_entry entries[MAX_ENTRIES];
};

struct devctx {
	const struct rgpu_backend *be;
	struct rgpu_bsess *bs;
	bool allow_any_ptx;
	uint64_t rng;
	unsigned next_slot; /* where the search for a free slot starts */
	struct alloc allocs[RGPU_MAX_ALLOCS];
	struct module mods[RGPU_MAX_MODULES];
};

_Static_assert(RGPU_MAX_ALLOCS == 1u << SLOT_BITS, "slot field width");

/* xorshift64*: keys only need to be unpredictable enough that a stale or
 * made-up pointer does not hit a live allocation by chance. */
static uint32_t rnd(struct devctx *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (uint32_t)((c->rng * 0x2545F4914F6CDD1Dull) >> 32);
}

int devctx_open(const struct rgpu_backend *be, bool allow_any_ptx,
		struct devctx **out)
{
	struct devctx *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return RGPU_ERR_MEMORY_ALLOCATION;
	c->be = be;
	c->allow_any_ptx = allow_any_ptx;
	if (getrandom(&c->rng, sizeof(c->rng), 0) != sizeof(c->rng))
		c->rng = (uintptr_t)c ^ 0x9E3779B97F4A7C15ull;
	c->rng |= 1;
	rc = be->sess_open(&c->bs);
	if (rc) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void devctx_close(struct devctx *c)
{
	if (!c)
		return;
	c->be->sync(c->bs);
	for (unsigned i = 0; i < RGPU_MAX_MODULES; i++)
		if (c->mods[i].tag)
			c->be->module_unload(c->bs, c->mods[i].bmod);
	for (unsigned i = 0; i < RGPU_MAX_ALLOCS; i++)
		if (c->allocs[i].key)
			c->be->mem_free(c->bs, c->allocs[i].addr,
					c->allocs[i].size);
	c->be->sess_close(c->bs);
	free(c);
}

const struct rgpu_backend *devctx_backend(const struct devctx *c)
{
	return c->be;
}

struct rgpu_bsess *devctx_bsess(const struct devctx *c)
{
	return c->bs;
}

int devctx_malloc(struct devctx *c, uint64_t size, rgpu_devptr_t *out)
{
	unsigned slot = RGPU_MAX_ALLOCS;
	uint32_t key;
	int rc;

	if (size == 0 || size > RGPU_MAX_ALLOC)
		return RGPU_ERR_INVALID_VALUE;
	for (unsigned i = 0; i < RGPU_MAX_ALLOCS; i++) {
		unsigned s = (c->next_slot + i) % RGPU_MAX_ALLOCS;

		if (!c->allocs[s].key) {
			slot = s;
			break;
		}
	}
	if (slot == RGPU_MAX_ALLOCS)
		return RGPU_ERR_LIMIT;
	rc = c->be->mem_alloc(c->bs, size, &c->allocs[slot].addr);
	if (rc)
		return rc;
	/* The random half of the key is never 0, so neither is a key. */
	key = ((rnd(c) % SLOT_MASK + 1) << SLOT_BITS) | slot;
	c->allocs[slot].key = key;
	c->allocs[slot].size = size;
	c->next_slot = (slot + 1) % RGPU_MAX_ALLOCS;
	*out = (uint64_t)key << RGPU_OFFSET_BITS;
	return 0;
}

static struct alloc *find_alloc(const struct devctx *c, rgpu_devptr_t p)
{
	uint32_t key = (uint32_t)(p >> RGPU_OFFSET_BITS);
	const struct alloc *a = &c->allocs[key & SLOT_MASK];

	return key && a->key == key ? (struct alloc *)a : NULL;
}

int devctx_free(struct devctx *c, rgpu_devptr_t p)
{
	struct alloc *a = find_alloc(c, p);
	int rc;

	/* Only the start of an allocation can be freed, as with cudaFree. */
	if (!a || (p & OFFSET_MASK))
		return RGPU_ERR_INVALID_DEVICE_POINTER;
	rc = c->be->mem_free(c->bs, a->addr, a->size);
	memset(a, 0, sizeof(*a));
	return rc;
}

int devctx_resolve(const struct devctx *c, rgpu_devptr_t p, uint64_t n,
		   uint64_t *addr, uint64_t *avail)
{
	const struct alloc *a = find_alloc(c, p);
	uint64_t off = p & OFFSET_MASK;

	if (!a || off >= a->size)
		return RGPU_ERR_INVALID_DEVICE_POINTER;
	if (n > a->size - off)
		return RGPU_ERR_INVALID_VALUE;
	*addr = a->addr + off;
	*avail = a->size - off;
	return 0;
}

int devctx_memset(struct devctx *c, rgpu_devptr_t p, int value, uint64_t n)
{
	uint64_t addr, avail;
	int rc = devctx_resolve(c, p, n, &addr, &avail);

	return rc ? rc : c->be->memset(c->bs, addr, value, n);
}

int devctx_htod(struct devctx *c, rgpu_devptr_t dst, const void *src,
		uint64_t n)
{
	uint64_t addr, avail;
	int rc = devctx_resolve(c, dst, n, &addr, &avail);

	return rc ? rc : c->be->htod(c->bs, addr, src, n);
}

int devctx_dtoh(struct devctx *c, void *dst, rgpu_devptr_t src, uint64_t n)
{
	uint64_t addr, avail;
	int rc = devctx_resolve(c, src, n, &addr, &avail);

	return rc ? rc : c->be->dtoh(c->bs, dst, addr, n);
}

int devctx_sync(struct devctx *c)
{
	return c->be->sync(c->bs);
}

static int module_slot(struct devctx *c)
{
	for (unsigned i = 0; i < RGPU_MAX_MODULES; i++)
		if (!c->mods[i].tag)
			return (int)i;
	return -1;
}

int devctx_module_load(struct devctx *c, const char *ptx, rgpu_module_t *out,
		       char *log, size_t logsz)
{
	int slot = module_slot(c), n, rc;
	struct module *m;

	if (logsz)
		log[0] = '\0';
	if (slot < 0)
		return RGPU_ERR_LIMIT;
	m = &c->mods[slot];
	if (!c->allow_any_ptx && strcmp(ptx, rgpu_kernels_ptx) != 0) {
		snprintf(log, logsz, "this server runs only the shipped "
			 "kernels (rgpu_shipped_ptx); start it with "
			 "--allow-ptx to load others");
		return RGPU_ERR_INVALID_PTX;
	}
	n = ptx_entries(ptx, m->entries, MAX_ENTRIES);
	if (n <= 0) {
		snprintf(log, logsz, "cannot read the module's .entry "
			 "signatures (plain scalar parameters only, at most "
			 "%u entries of %u parameters)", MAX_ENTRIES,
			 RGPU_MAX_ARGS);
		return RGPU_ERR_INVALID_PTX;
	}
	rc = c->be->module_load(c->bs, ptx, &m->bmod, log, logsz);
	if (rc)
		return rc;
	m->nentries = (unsigned)n;
	m->tag = rnd(c) | 1;
	*out = (uint64_t)m->tag << 32 | (unsigned)slot;
	return 0;
}

static struct module *find_module(struct devctx *c, rgpu_module_t h)
{
	uint32_t slot = (uint32_t)h, tag = (uint32_t)(h >> 32);

	if (slot >= RGPU_MAX_MODULES || !tag || c->mods[slot].tag != tag)
		return NULL;
	return &c->mods[slot];
}

int devctx_module_unload(struct devctx *c, rgpu_module_t h)
{
	struct module *m = find_module(c, h);

	if (!m)
		return RGPU_ERR_INVALID_HANDLE;
	c->be->module_unload(c->bs, m->bmod);
	memset(m, 0, sizeof(*m));
	return 0;
}

/* The limits of current GPUs (compute capability 7 to 9). */
static bool dims_ok(const struct rgpu_launch_req *r)
{
	const struct rgpu_dim3 *g = &r->grid, *b = &r->block;

	if (!g->x || !g->y || !g->z || !b->x || !b->y || !b->z)
		return false;
	if (g->x > 0x7fffffffu || g->y > 65535 || g->z > 65535)
		return false;
	if (b->x > 1024 || b->y > 1024 || b->z > 64 ||
	    (uint64_t)b->x * b->y * b->z > 1024)
		return false;
	return r->shared_bytes <= 48u * 1024;
}

static int resolve_args(const struct devctx *c, const struct ptx_entry *e,
			const struct rgpu_launch_req *r, struct rgpu_karg *k)
{
	if (r->nargs != e->nparams)
		return RGPU_ERR_INVALID_VALUE;
	for (unsigned i = 0; i < r->nargs; i++) {
		const struct rgpu_arg *a = &r->args[i];
		int rc;

		if (a->size != e->size[i])
			return RGPU_ERR_INVALID_VALUE;
		/* Every 64-bit parameter of the shipped kernels is a
		 * pointer: a raw value there would be an address the GPU
		 * follows unchecked. */
		if (!c->allow_any_ptx && a->size == 8 &&
		    a->kind != RGPU_ARG_DEVPTR)
			return RGPU_ERR_INVALID_VALUE;
		k[i] = (struct rgpu_karg){ a->kind, a->size, a->value, 0 };
		if (a->kind != RGPU_ARG_DEVPTR)
			continue;
		if (a->size != 8)
			return RGPU_ERR_INVALID_VALUE;
		rc = devctx_resolve(c, a->value, 0, &k[i].value, &k[i].avail);
		if (rc)
			return rc;
	}
	return 0;
}

int devctx_launch(struct devctx *c, const struct rgpu_launch_req *r)
{
	struct module *m = find_module(c, r->module);
	const struct ptx_entry *e;
	struct rgpu_karg k[RGPU_MAX_ARGS];
	struct rgpu_launch_cfg cfg = { r->grid, r->block, r->shared_bytes };
	int rc;

	if (!m)
		return RGPU_ERR_INVALID_HANDLE;
	e = ptx_entry_lookup(m->entries, m->nentries, r->name);
	if (!e)
		return RGPU_ERR_NOT_FOUND;
	if (!dims_ok(r))
		return RGPU_ERR_INVALID_VALUE;
	rc = resolve_args(c, e, r, k);
	if (!rc && !c->allow_any_ptx)
		rc = rgpu_kernel_check(r->name, r->grid, r->block, k, r->nargs);
	return rc ? rc : c->be->launch(c->bs, m->bmod, r->name, &cfg, k,
				       r->nargs);
}
