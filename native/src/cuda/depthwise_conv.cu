// CUDA float32 kernels of the depthwise causal convolution: forward (also the step), backward. Same contract as the
// CPU twin (native/src/cpu/depthwise_conv_cpu.cpp), see hybridseq.h and ops/depthwise_conv.h.
//
// Forward: one thread per output (row = (b, d), t), consecutive threads on consecutive t, so the K tap reads of a
// warp are K coalesced, mostly L1-resident loads. The final state is a second kernel with one block per row, which
// copies in rounds separated by barriers: that is what lets the step overwrite the state it reads (element i comes
// from position len + i > i, read in an earlier round or the same round before the barrier).
// Backward: with SiLU, a first kernel stores g = dy * silu'(a) in the workspace (so that a is computed once per
// position, not once per tap); then one thread per position of the extended sequence [state, x] gathers its input
// gradient, and one block per (d, k) sums dweight[d, k] (k = K: dbias[d]) over batch and time in a fixed order
// (strided per thread, then a shared-memory tree), so the result is bitwise repeatable.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/cuda_common.cuh"
#include "ops/depthwise_conv.h"

namespace hs {
namespace {

constexpr int kThreads = 256;

// S = (K-1) * dilation (the params' state_length() is host code).
__device__ inline int64_t state_of(const DepthwiseConvParams<float>& p) { return (p.width - 1) * p.dilation; }

// input(s) of a row: x[s] for s >= 0, the state's position S + s (or 0) for s < 0; callers keep s < len.
__device__ inline float row_input(const float* x, const float* state, int64_t S, int64_t s) {
    if (s >= 0) return x[s];
    return state != nullptr ? state[S + s] : 0.0f;
}

// a[t] of row (b, d): bias[d] + sum_k weight[d, k] * input(t - (K-1-k) * dilation).
__device__ inline float row_preactivation(const DepthwiseConvParams<float>& p, const float* x, const float* state,
                                          int64_t d, int64_t t) {
    const int64_t S = state_of(p);
    const float* w = p.weight + d * p.width;
    float a = p.bias != nullptr ? p.bias[d] : 0.0f;
    for (int64_t k = 0; k < p.width; ++k) a += w[k] * row_input(x, state, S, t - (p.width - 1 - k) * p.dilation);
    return a;
}

// grid (rows, ceil(L / kThreads)).
__global__ void __launch_bounds__(kThreads) depthwise_conv_forward_kernel(DepthwiseConvParams<float> p) {
    const int64_t row = blockIdx.x;
    const int64_t t = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
    if (t >= p.length) return;
    const int64_t b = row / p.channels, d = row % p.channels, S = state_of(p);
    const int64_t len = cuda_common::clamped_length(p.lengths, b, p.length);
    float y = 0.0f;
    if (t < len) {
        const float* x = p.x + row * p.length;
        const float* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
        const float a = row_preactivation(p, x, state, d, t);
        y = p.silu ? cuda_common::silu(a) : a;
    }
    p.y[row * p.length + t] = y;
}

// grid (rows), block kThreads: final_state[i] = input(len - S + i); may overwrite initial_state (the step).
__global__ void __launch_bounds__(kThreads) depthwise_conv_final_state_kernel(DepthwiseConvParams<float> p) {
    const int64_t row = blockIdx.x;
    const int64_t b = row / p.channels, S = state_of(p);
    const int64_t len = cuda_common::clamped_length(p.lengths, b, p.length);
    const float* x = p.x + row * p.length;
    const float* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
    float* out = p.final_state + row * S;
    for (int64_t base = 0; base < S; base += kThreads) {
        const int64_t i = base + threadIdx.x;
        const int64_t s = len - S + i;
        float value = 0.0f;
        if (i < S) value = s >= 0 ? x[s] : (state != nullptr ? state[len + i] : 0.0f);
        __syncthreads();  // every read of this round happens before any write of it
        if (i < S) out[i] = value;
        __syncthreads();
    }
}

// grid (rows, ceil(L / kThreads)): g = dy * silu'(a) for t < len, 0 beyond.
__global__ void __launch_bounds__(kThreads) depthwise_conv_gate_gradient_kernel(DepthwiseConvBackwardParams<float> q) {
    const DepthwiseConvParams<float>& p = q.fwd;
    const int64_t row = blockIdx.x;
    const int64_t t = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
    if (t >= p.length) return;
    const int64_t b = row / p.channels, d = row % p.channels, S = state_of(p);
    const int64_t len = cuda_common::clamped_length(p.lengths, b, p.length);
    float g = 0.0f;
    if (t < len) {
        const float* x = p.x + row * p.length;
        const float* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
        const float a = row_preactivation(p, x, state, d, t);
        g = q.dy[row * p.length + t] * cuda_common::silu_derivative(a);
    }
    q.workspace[row * p.length + t] = g;
}

// The gradient of the pre-activation at t of a row: the workspace with SiLU, else dy (0 at t >= len either way).
__device__ inline float pre_gradient(const DepthwiseConvBackwardParams<float>& q, int64_t row, int64_t len,
                                     int64_t t) {
    if (t < 0 || t >= len) return 0.0f;
    const int64_t index = row * q.fwd.length + t;
    return q.workspace != nullptr ? q.workspace[index] : q.dy[index];
}

// grid (rows, ceil((S + L) / kThreads)): one thread per position j of the extended sequence (input time j - S).
__global__ void __launch_bounds__(kThreads) depthwise_conv_input_gradient_kernel(DepthwiseConvBackwardParams<float> q) {
    const DepthwiseConvParams<float>& p = q.fwd;
    const int64_t row = blockIdx.x;
    const int64_t S = state_of(p);
    const int64_t j = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
    if (j >= S + p.length) return;
    if (j < S && q.d_initial_state == nullptr) return;
    const int64_t b = row / p.channels, d = row % p.channels;
    const int64_t len = cuda_common::clamped_length(p.lengths, b, p.length);
    const int64_t s = j - S;
    const float* w = p.weight + d * p.width;
    float sum = 0.0f;
    if (s < len) {
        for (int64_t k = 0; k < p.width; ++k) sum += w[k] * pre_gradient(q, row, len, s + (p.width - 1 - k) * p.dilation);
        // The final state holds extended positions len .. len + S - 1.
        if (q.d_final_state != nullptr && j >= len && j < len + S) sum += q.d_final_state[row * S + j - len];
    }
    if (j < S) {
        q.d_initial_state[row * S + j] = sum;
    } else {
        q.dx[row * p.length + s] = sum;
    }
}

// grid (D, K + 1): block (d, k) sums dweight[d, k] (k == K: dbias[d]) over batch and time.
__global__ void __launch_bounds__(kThreads) depthwise_conv_weight_gradient_kernel(DepthwiseConvBackwardParams<float> q) {
    HS_SHARED_ARRAY(float, partial, kThreads);
    const DepthwiseConvParams<float>& p = q.fwd;
    const int64_t d = blockIdx.x, k = blockIdx.y;
    if (k == p.width && q.dbias == nullptr) return;  // uniform over the block: no barrier is skipped by some only
    const int64_t S = state_of(p), L = p.length;
    const int64_t off = (p.width - 1 - k) * p.dilation;
    float sum = 0.0f;
    for (int64_t b = 0; b < p.batch; ++b) {
        const int64_t row = b * p.channels + d;
        const int64_t len = cuda_common::clamped_length(p.lengths, b, L);
        const float* x = p.x + row * L;
        const float* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
        for (int64_t t = threadIdx.x; t < len; t += kThreads) {
            const float g = pre_gradient(q, row, len, t);
            sum += k == p.width ? g : g * row_input(x, state, S, t - off);
        }
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned int stride = kThreads / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        if (k == p.width) {
            q.dbias[d] = partial[0];
        } else {
            q.dweight[d * p.width + k] = partial[0];
        }
    }
}

unsigned int tiles(int64_t count, const char* kernel) {
    return cuda_common::grid_extent_yz((count + kThreads - 1) / kThreads, kernel, "time tiles");
}

}  // namespace

void depthwise_conv_forward_cuda(const DepthwiseConvParams<float>& p, void* stream) {
    const int64_t rows = p.batch * p.channels;
    if (rows == 0 || p.length == 0) return;
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const dim3 grid(cuda_common::grid_extent_x(rows, "depthwise_conv_forward_kernel"),
                    tiles(p.length, "depthwise_conv_forward_kernel"));
    HS_CUDA_LAUNCH(depthwise_conv_forward_kernel, grid, kThreads, 0, s)(p);
    HS_CUDA_CHECK_LAUNCH("depthwise_conv_forward_kernel launch");
    if (p.final_state != nullptr && p.state_length() > 0) {
        const unsigned int blocks = cuda_common::grid_extent_x(rows, "depthwise_conv_final_state_kernel");
        HS_CUDA_LAUNCH(depthwise_conv_final_state_kernel, blocks, kThreads, 0, s)(p);
        HS_CUDA_CHECK_LAUNCH("depthwise_conv_final_state_kernel launch");
    }
}

void depthwise_conv_backward_cuda(const DepthwiseConvBackwardParams<float>& given, void* stream) {
    const DepthwiseConvParams<float>& p = given.fwd;
    const int64_t rows = p.batch * p.channels;
    if (rows == 0 || p.length == 0) return;
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    DepthwiseConvBackwardParams<float> q = given;
    if (!p.silu) q.workspace = nullptr;  // pre_gradient reads dy then
    const unsigned int row_blocks = cuda_common::grid_extent_x(rows, "depthwise_conv_backward");
    if (p.silu) {
        if (q.workspace == nullptr) throw Error(HS_ERR_INTERNAL, "depthwise conv backward: SiLU without a workspace");
        const dim3 grid(row_blocks, tiles(p.length, "depthwise_conv_gate_gradient_kernel"));
        HS_CUDA_LAUNCH(depthwise_conv_gate_gradient_kernel, grid, kThreads, 0, s)(q);
        HS_CUDA_CHECK_LAUNCH("depthwise_conv_gate_gradient_kernel launch");
    }
    const dim3 input_grid(row_blocks, tiles(p.state_length() + p.length, "depthwise_conv_input_gradient_kernel"));
    HS_CUDA_LAUNCH(depthwise_conv_input_gradient_kernel, input_grid, kThreads, 0, s)(q);
    HS_CUDA_CHECK_LAUNCH("depthwise_conv_input_gradient_kernel launch");
    const dim3 weight_grid(cuda_common::grid_extent_x(p.channels, "depthwise_conv_weight_gradient_kernel"),
                           cuda_common::grid_extent_yz(p.width + 1, "depthwise_conv_weight_gradient_kernel",
                                                       "taps + bias"));
    HS_CUDA_LAUNCH(depthwise_conv_weight_gradient_kernel, weight_grid, kThreads, 0, s)(q);
    HS_CUDA_CHECK_LAUNCH("depthwise_conv_weight_gradient_kernel launch");
}

}  // namespace hs
