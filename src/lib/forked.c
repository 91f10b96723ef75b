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
 * A socket gets its entry at the first fork that finds it open; entries
 * are never reused (the table cannot know when the last holder is gone),
 * and a socket that finds the table full or missing is treated as shared
 * with strangers: every call asks the kernel, as before this table.
 */
#include "sock.h"

#include <sys/mman.h>

/* 4 MiB of address space, touched only as entries are handed out: a
 * million sockets open at some fork of the tree. */
#define FORKED_SLOTS (1u << 20)

struct forked_table {
	uint32_t next;		 /* the next free entry */
	uint32_t count[];	 /* [0] unused: 0 is "no entry" */
};

static struct forked_table *tab;

/* Called by the fork handler before the child exists, one thread. */
uint32_t forked_slot_new(void)
{
	uint32_t slot;

	if (!tab) {
		void *m = mmap(NULL, sizeof(*tab) + FORKED_SLOTS * 4,
			       PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);

		if (m == MAP_FAILED)
			return 0;
		tab = m;
		tab->next = 1;
	}
	slot = __atomic_fetch_add(&tab->next, 1, __ATOMIC_RELAXED);
	return slot < FORKED_SLOTS ? slot : 0;
}

uint32_t forked_count(uint32_t slot)
{
	return __atomic_load_n(&tab->count[slot], __ATOMIC_ACQUIRE);
}

void forked_bump(uint32_t slot)
{
	if (slot)
		__atomic_add_fetch(&tab->count[slot], 1, __ATOMIC_RELEASE);
}
