// The CUDA runtime API of the emulated CUDA backend (HYBRIDSEQ_CUDA=EMULATED): the subset of cuda_runtime_api.h
// that HybridSeq and its tests call, over host memory, with the real API's names, error codes and error semantics
// (a failing call returns its error and records it for cudaGetLastError / cudaPeekAtLastError, per host thread).
// The emulated build puts this folder first on the include path, so `#include <cuda_runtime_api.h>` finds it; the
// nvcc build never sees it. Implemented in ../cuda_emulation.cpp (library hybridseq_cuda_emulation). See
// docs/cuda-emulation.md.
#pragma once

#include <cstddef>

// Exported from libhybridseq_cuda_emulation, which the library and the tests share (one device, one set of
// allocations, one last error per host thread), whatever visibility the including target compiles with.
#define HS_EMU_API __attribute__((visibility("default")))

#define CUDART_VERSION 12000

enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchTimeout = 702,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxBlockDimX = 2,
    cudaDevAttrMaxGridDimX = 5,
    cudaDevAttrMaxGridDimY = 6,
    cudaDevAttrMaxGridDimZ = 7,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    size_t sharedMemPerMultiprocessor;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int maxThreadsPerMultiProcessor;
    int multiProcessorCount;
    int major;
    int minor;
    int clockRate;
    int l2CacheSize;
};

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

extern "C" {
HS_EMU_API cudaError_t cudaGetDeviceCount(int* count);
HS_EMU_API cudaError_t cudaGetDevice(int* device);
HS_EMU_API cudaError_t cudaSetDevice(int device);
HS_EMU_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device);
HS_EMU_API cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device);
HS_EMU_API cudaError_t cudaDeviceSynchronize(void);
HS_EMU_API cudaError_t cudaDeviceReset(void);
HS_EMU_API cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

HS_EMU_API cudaError_t cudaGetLastError(void);
HS_EMU_API cudaError_t cudaPeekAtLastError(void);
HS_EMU_API const char* cudaGetErrorName(cudaError_t error);
HS_EMU_API const char* cudaGetErrorString(cudaError_t error);

HS_EMU_API cudaError_t cudaMalloc(void** pointer, size_t bytes);
HS_EMU_API cudaError_t cudaFree(void* pointer);
HS_EMU_API cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind);
HS_EMU_API cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind,
                                       cudaStream_t stream);
HS_EMU_API cudaError_t cudaMemset(void* pointer, int value, size_t bytes);
HS_EMU_API cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream);

HS_EMU_API cudaError_t cudaStreamCreate(cudaStream_t* stream);
HS_EMU_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
HS_EMU_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
HS_EMU_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
HS_EMU_API cudaError_t cudaStreamQuery(cudaStream_t stream);
HS_EMU_API cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags);

HS_EMU_API cudaError_t cudaEventCreate(cudaEvent_t* event);
HS_EMU_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
HS_EMU_API cudaError_t cudaEventDestroy(cudaEvent_t event);
HS_EMU_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
HS_EMU_API cudaError_t cudaEventSynchronize(cudaEvent_t event);
HS_EMU_API cudaError_t cudaEventQuery(cudaEvent_t event);
HS_EMU_API cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end);

HS_EMU_API cudaError_t cudaFuncSetAttribute(const void* function, cudaFuncAttribute attribute, int value);
}

// The C++ overload the real runtime has, so that a kernel can be passed as itself.
template <typename Function>
inline cudaError_t cudaFuncSetAttribute(Function* function, cudaFuncAttribute attribute, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void*>(function), attribute, value);
}
