/* SPDX-License-Identifier: MIT */
/*
 * What the other processes of our tree did to a socket we share with them
 * since fork.
 *
 * After fork a socket's open file (O_NONBLOCK) and its doorbell belong to
 * every process that holds it, and each of them could change the one or
 * write into the other unseen.  They all run libv4v (fork keeps the
 * interposer), so rather than ask the kernel on every call, they tell
 * each other: a table in memory all the processes of the tree share
 * (mapped at the first fork, inherited by every later one) holds a count
 * per shared socket, which a process bumps when it changes the socket's
 * O_NONBLOCK or writes a token into its doorbell for another reason than
 * data.  A process trusts what it knows of the socket while the count is
 * the one it saw when it last asked the kernel or drained the doorbell.
 *
 * A socket's entry is picked at the first fork that finds it open, by
 * hashing its id, which its holders share (fork copies it): no entry is
 * ever handed out or given back, so the table never fills, and two
 * sockets that share an entry only make each other ask the kernel once
 * more now and then (a change to one looks like a change to both, never
 * the other way round).  A socket that finds no table (the mapping
 * failed) is treated as shared with strangers: every call asks the
 * kernel, as before this table.
 */
#include "sock.h"

#include <sys/mman.h>

/* 256 KiB of address space, touched only where entries are used. */
#define FORKED_BITS 16
#define FORKED_SLOTS (1u << FORKED_BITS)

static uint32_t *count;	/* [1 .. FORKED_SLOTS]; 0 is "no entry" */

/* Called by the fork handler before the child exists, one thread. */
uint32_t forked_slot_of(uint64_t id)
{
	if (!count) {
		void *m = mmap(NULL, (FORKED_SLOTS + 1) * sizeof(*count),
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);

		if (m == MAP_FAILED)
			return 0;
		count = m;
	}
	/* Fibonacci hashing: consecutive ids land far apart. */
	return 1 + (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> (64 - FORKED_BITS));
}

uint32_t forked_count(uint32_t slot)
{
	return __atomic_load_n(&count[slot], __ATOMIC_ACQUIRE);
}

void forked_bump(uint32_t slot)
{
	if (slot)
		__atomic_add_fetch(&count[slot], 1, __ATOMIC_RELEASE);
}
