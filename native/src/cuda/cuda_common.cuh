// Helpers every CUDA kernel file shares (the selective scan and the fused recurrence alike): launch limits, the
// dynamic shared-memory opt-in, the clamping of caller-given lengths, the pointwise activations and warp reductions.
// Errors go through cuda/cuda_check.h. The activations follow the CPU twins (native/src/cpu/cpu_math.h) in what
// they compute, not in how: CUDA's expf / log1pf / tanhf are accurate to a few ulp, and no --use_fast_math is used.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "cuda/cuda_check.h"

// ---- launches and shared memory: one spelling for nvcc and for the emulated backend -------------------------------
// Every kernel launch and every __shared__ declaration goes through these, so that the emulated build
// (HYBRIDSEQ_CUDA=EMULATED, cuda/emulation/include/cuda_runtime.h defines them there) can run the grid and check
// every shared-memory access; under nvcc they are the plain CUDA syntax.
//   HS_CUDA_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...)   kernel<<<grid, block, shared_bytes, stream>>>
//   HS_SHARED_DYNAMIC(float, name);                                      extern __shared__ float name[];
//   HS_SHARED_ARRAY_2D(float, name, rows, columns);                      __shared__ float name[rows][columns];
//   HS_SHARED_PTR(float) / HS_SHARED_PTR(const float)                    a pointer into shared memory
#if !defined(HYBRIDSEQ_CUDA_EMULATION)
#define HS_CUDA_LAUNCH(kernel, grid, block, shared_bytes, stream) kernel<<<(grid), (block), (shared_bytes), (stream)>>>
#define HS_SHARED_DYNAMIC(type, name) extern __shared__ type name[]
#define HS_SHARED_ARRAY_2D(type, name, rows, columns) __shared__ type name[rows][columns]
#define HS_SHARED_ARRAY(type, name, count) __shared__ type name[count]
#define HS_SHARED_PTR(type) type*
#endif

namespace hs {
namespace cuda_common {

// ---- launch limits (host) -----------------------------------------------------------------------------------

constexpr int64_t kMaxGridX = 2147483647LL;
constexpr int64_t kMaxGridYZ = 65535;

// The x extent of a grid, or HS_ERR_UNSUPPORTED naming the kernel when the problem needs more blocks than CUDA has.
inline unsigned int grid_extent_x(int64_t extent, const char* kernel_name) {
    if (extent > kMaxGridX) {
        throw_unsupported(std::string(kernel_name) + ": needs " + std::to_string(extent) +
                          " thread blocks (grid x), at most " + std::to_string(kMaxGridX) + " supported");
    }
    return static_cast<unsigned int>(extent);
}

// The y or z extent of a grid (what the kernel maps there, e.g. the batch, names `what`).
inline unsigned int grid_extent_yz(int64_t extent, const char* kernel_name, const char* what) {
    if (extent > kMaxGridYZ) {
        throw_unsupported(std::string(kernel_name) + ": needs " + std::to_string(extent) + " thread-block rows (" +
                          what + "), at most " + std::to_string(kMaxGridYZ) + " supported");
    }
    return static_cast<unsigned int>(extent);
}

// ---- dynamic shared memory (host) ---------------------------------------------------------------------------

// Dynamic shared memory every CUDA device grants a block without opting in. A workspace size must not depend on the
// GPU model (hybridseq.h), so size queries treat only kernels below this as sure to fit.
constexpr size_t kGuaranteedSharedBytes = 48 * 1024;

// The most dynamic shared memory a block of the current device may opt into.
inline size_t max_optin_shared_bytes() {
    int device = 0;
    HS_CUDA_CHECK(cudaGetDevice(&device), "cudaGetDevice");
    int limit = 0;
    HS_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
                  "cudaDeviceGetAttribute(MaxSharedMemoryPerBlockOptin)");
    return static_cast<size_t>(limit);
}

// Lets `kernel` launch with `bytes` of dynamic shared memory: above kGuaranteedSharedBytes a kernel must opt in per
// function; more than the device allows is HS_ERR_UNSUPPORTED naming the kernel.
template <typename Kernel>
void allow_dynamic_shared_memory(Kernel kernel, size_t bytes, const char* kernel_name) {
    if (bytes <= kGuaranteedSharedBytes) return;
    const size_t limit = max_optin_shared_bytes();
    if (bytes > limit) {
        throw_unsupported(std::string(kernel_name) + ": needs " + std::to_string(bytes) +
                          " bytes of shared memory per block, the device allows " + std::to_string(limit));
    }
    HS_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
                  (std::string("cudaFuncSetAttribute(MaxDynamicSharedMemorySize) for ") + kernel_name).c_str());
}

// ---- device helpers -----------------------------------------------------------------------------------------

// lengths[b] clamped to [0, steps] (all `steps` when lengths is null): the host cannot check values in device memory
// without a sync, so the kernels clamp (hybridseq.h).
__device__ inline int64_t clamped_length(const int64_t* lengths, int64_t b, int64_t steps) {
    if (lengths == nullptr) return steps;
    const int64_t value = lengths[b];
    return value < 0 ? 0 : (value > steps ? steps : value);
}

__device__ inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// log(sigmoid(x)) without overflow for either sign.
__device__ inline float log_sigmoid(float x) { return x >= 0.0f ? -log1pf(expf(-x)) : x - log1pf(expf(x)); }

// Same threshold as torch.nn.functional.softplus (beta 1, threshold 20), which the CPU twin follows.
__device__ inline float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

__device__ inline float silu(float x) { return x * sigmoid(x); }

// d silu / dx = sigmoid(x) * (1 + x * (1 - sigmoid(x)))
__device__ inline float silu_derivative(float x) {
    const float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
}

// Sum over aligned groups of `width` consecutive lanes (width a power of two <= 32), e.g. the lanes of one channel;
// every lane gets its group's total. All 32 lanes of the warp must call it (full mask); offsets below width keep the
// exchange inside the group.
__device__ inline float sum_over_lane_group(float value, int width) {
    for (int offset = width / 2; offset > 0; offset /= 2) {
        value += __shfl_xor_sync(0xffffffffu, value, offset);
    }
    return value;
}

}  // namespace cuda_common
}  // namespace hs
