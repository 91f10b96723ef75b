/* SPDX-License-Identifier: MIT */
/*
 * What every libFuzzer target here shares: the entry point, a check that
 * aborts (so libFuzzer keeps the input), and a reader of the input that
 * reads missing bytes as 0.
 */
#ifndef V4V_FUZZ_H
#define V4V_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                                                         \
	do {                                                              \
		if (!(c)) {                                               \
			fprintf(stderr, "%s:%d: ASSERT failed: %s\n",     \
				__FILE__, __LINE__, #c);                  \
			abort();                                          \
		}                                                         \
	} while (0)

struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in_u8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t in_u16(struct input *in)
{
	return (uint16_t)(in_u8(in) | in_u8(in) << 8);
}

static inline uint32_t in_u32(struct input *in)
{
	return (uint32_t)in_u16(in) | (uint32_t)in_u16(in) << 16;
}

#endif
