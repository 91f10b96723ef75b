/* SPDX-License-Identifier: MIT */
/* Sizes on command lines: "4096", "64K", "1M", "2G" (powers of 1024). */
#ifndef RGPU_SIZE_ARG_H
#define RGPU_SIZE_ARG_H

#include <stdint.h>

/* 0, or -1 if `s` is not a size. */
int rgpu_parse_size(const char *s, uint64_t *out);

#endif
