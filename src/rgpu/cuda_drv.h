/* SPDX-License-Identifier: MIT */
/*
 * The part of the CUDA driver API (cuda.h) that the CUDA backend uses,
 * declared here so that the project builds without the CUDA toolkit.
 * Types, values and signatures are those of cuda.h (CUDA 11 to 13); the
 * _v2 symbols are the ones cuda.h maps the plain names to.  The test
 * double of libcuda.so.1 (tests/rgpu/fake_cuda.c) implements the same
 * list.
 */
#ifndef RGPU_CUDA_DRV_H
#define RGPU_CUDA_DRV_H

#include <stddef.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef int CUjit_option;
typedef int CUdevice_attribute;

#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_OUT_OF_MEMORY 2
#define CUDA_ERROR_NOT_INITIALIZED 3
#define CUDA_ERROR_NO_DEVICE 100
#define CUDA_ERROR_INVALID_DEVICE 101
#define CUDA_ERROR_INVALID_CONTEXT 201
#define CUDA_ERROR_INVALID_PTX 218
#define CUDA_ERROR_INVALID_HANDLE 400
#define CUDA_ERROR_NOT_FOUND 500
#define CUDA_ERROR_ILLEGAL_ADDRESS 700
#define CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED 712
#define CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED 713
#define CUDA_ERROR_LAUNCH_FAILED 719

#define CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK 1
#define CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT 16
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR 75
#define CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR 76

#define CU_JIT_INFO_LOG_BUFFER 3
#define CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES 4
#define CU_JIT_ERROR_LOG_BUFFER 5
#define CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES 6

#define CU_STREAM_NON_BLOCKING 0x1
#define CU_EVENT_DISABLE_TIMING 0x2
#define CU_MEMHOSTALLOC_PORTABLE 0x01
#define CU_MEMHOSTREGISTER_PORTABLE 0x01

/* X(symbol, return, parameters): every entry point the backend loads. */
#define RGPU_CUDA_SYMBOLS(X)                                                   \
	X(cuInit, CUresult, (unsigned int flags))                              \
	X(cuGetErrorString, CUresult, (CUresult e, const char **s))            \
	X(cuDeviceGetCount, CUresult, (int *count))                            \
	X(cuDeviceGet, CUresult, (CUdevice *dev, int ordinal))                 \
	X(cuDeviceGetName, CUresult, (char *name, int len, CUdevice dev))      \
	X(cuDeviceTotalMem_v2, CUresult, (size_t *bytes, CUdevice dev))        \
	X(cuDeviceGetAttribute, CUresult,                                      \
	  (int *v, CUdevice_attribute a, CUdevice dev))                        \
	X(cuDevicePrimaryCtxRetain, CUresult, (CUcontext *ctx, CUdevice dev))  \
	X(cuDevicePrimaryCtxRelease_v2, CUresult, (CUdevice dev))              \
	X(cuCtxSetCurrent, CUresult, (CUcontext ctx))                          \
	X(cuCtxSynchronize, CUresult, (void))                                  \
	X(cuMemAlloc_v2, CUresult, (CUdeviceptr *p, size_t bytes))             \
	X(cuMemFree_v2, CUresult, (CUdeviceptr p))                             \
	X(cuMemsetD8Async, CUresult,                                           \
	  (CUdeviceptr p, unsigned char v, size_t n, CUstream st))             \
	X(cuMemcpyHtoDAsync_v2, CUresult,                                      \
	  (CUdeviceptr dst, const void *src, size_t n, CUstream st))           \
	X(cuMemcpyDtoHAsync_v2, CUresult,                                      \
	  (void *dst, CUdeviceptr src, size_t n, CUstream st))                 \
	X(cuMemHostAlloc, CUresult, (void **p, size_t bytes, unsigned flags))  \
	X(cuMemFreeHost, CUresult, (void *p))                                  \
	X(cuMemHostRegister_v2, CUresult,                                      \
	  (void *p, size_t bytes, unsigned flags))                             \
	X(cuMemHostUnregister, CUresult, (void *p))                            \
	X(cuStreamCreate, CUresult, (CUstream *st, unsigned flags))            \
	X(cuStreamDestroy_v2, CUresult, (CUstream st))                         \
	X(cuStreamSynchronize, CUresult, (CUstream st))                        \
	X(cuEventCreate, CUresult, (CUevent *ev, unsigned flags))              \
	X(cuEventRecord, CUresult, (CUevent ev, CUstream st))                  \
	X(cuEventSynchronize, CUresult, (CUevent ev))                          \
	X(cuEventDestroy_v2, CUresult, (CUevent ev))                           \
	X(cuModuleLoadDataEx, CUresult,                                        \
	  (CUmodule * m, const void *image, unsigned n, CUjit_option *opts,    \
	   void **vals))                                                       \
	X(cuModuleUnload, CUresult, (CUmodule m))                              \
	X(cuModuleGetFunction, CUresult,                                       \
	  (CUfunction * f, CUmodule m, const char *name))                      \
	X(cuLaunchKernel, CUresult,                                            \
	  (CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,   \
	   unsigned by, unsigned bz, unsigned shmem, CUstream st,              \
	   void **params, void **extra))

#endif
