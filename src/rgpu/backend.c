/* SPDX-License-Identifier: MIT */
/* Choosing a backend: CUDA when a device answers, else the CPU. */
#include "rgpu/backend.h"

#include <stdio.h>
#include <string.h>

const struct rgpu_backend *rgpu_backend_pick(const char *which, char *why,
					     size_t whysz)
{
	why[0] = '\0';
	if (strcmp(which, "cpu") == 0)
		return &rgpu_backend_cpu;
	if (strcmp(which, "cuda") == 0)
		return rgpu_cuda_init(why, whysz) ? NULL : &rgpu_backend_cuda;
	if (strcmp(which, "auto") != 0) {
		snprintf(why, whysz, "unknown backend '%s' (cpu, cuda or auto)",
			 which);
		return NULL;
	}
	return rgpu_cuda_init(why, whysz) ? &rgpu_backend_cpu
					  : &rgpu_backend_cuda;
}
