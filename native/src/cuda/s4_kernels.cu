// CUDA kernels of the S4 family (ops/s4_kernels.h), complex64 (float arithmetic; no fast-math intrinsics).
//
//   forward   one thread per (h, l): the terms of row h are staged through shared memory in tiles of kThreads, every
//             thread of the block sums them for its position in n order.
//   backward  one warp per (h, n): the lanes stride over l, and a warp reduction sums their partial results, so no
//             (h, n, l) intermediate is ever stored. Grid-stride over the units, so H * N has no limit of its own.
//
// The bound is the complex divide (Cauchy: one or two reciprocals per term) or the complex exp (Vandermonde: expf and
// sincosf per term) throughput: every term is a handful of flops around one of those, and the memory traffic is
// O(H (N + L)) against O(H N L) work.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/cuda_common.cuh"
#include "ops/s4_kernels.h"

namespace hs {
namespace {

constexpr int kThreads = 256;           // threads per block of every kernel here
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int64_t kMaxBlocks = 1 << 20;  // grid-stride kernels never launch more

__device__ inline float2 conj_times(float2 a, float2 b) {  // conj(a) * b
    return make_float2(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x);
}

__device__ inline float2 times(float2 a, float2 b) { return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }

__device__ inline float2 load2(const float* data, int64_t index) {
    return make_float2(data[2 * index], data[2 * index + 1]);
}

__device__ inline void store2(float* data, int64_t index, float2 value) {
    data[2 * index] = value.x;
    data[2 * index + 1] = value.y;
}

// exp(x * position), per element: expf of the real part, sincosf of the imaginary part.
__device__ inline float2 exp_at(float2 x, float position) {
    const float magnitude = expf(x.x * position);
    float s = 0.0f, c = 0.0f;
    sincosf(x.y * position, &s, &c);
    return make_float2(magnitude * c, magnitude * s);
}

// 1 / d for d = (a, b): conj(d) / |d|^2.
__device__ inline float2 reciprocal(float a, float b) {
    const float inv = 1.0f / (a * a + b * b);
    return make_float2(a * inv, -b * inv);
}

__device__ inline float warp_sum(float value) { return cuda_common::sum_over_lane_group(value, 32); }

// ---- Cauchy ---------------------------------------------------------------------------------------------------

__global__ void cauchy_forward_kernel(CauchyParams<float> p, int64_t point_blocks) {
    HS_SHARED_ARRAY(float, s_v, 2 * kThreads);
    HS_SHARED_ARRAY(float, s_w, 2 * kThreads);
    const int64_t h = blockIdx.x / point_blocks;
    const int64_t l = (blockIdx.x % point_blocks) * kThreads + threadIdx.x;
    const bool active = l < p.points;
    const float2 z = active ? load2(p.z, l) : make_float2(0.0f, 0.0f);
    float2 acc = make_float2(0.0f, 0.0f);
    for (int64_t n0 = 0; n0 < p.terms; n0 += kThreads) {
        const int64_t tile = min(static_cast<int64_t>(kThreads), p.terms - n0);
        if (threadIdx.x < tile) {
            const int64_t at = h * p.terms + n0 + threadIdx.x;
            s_v[2 * threadIdx.x] = p.v[2 * at];
            s_v[2 * threadIdx.x + 1] = p.v[2 * at + 1];
            s_w[2 * threadIdx.x] = p.w[2 * at];
            s_w[2 * threadIdx.x + 1] = p.w[2 * at + 1];
        }
        __syncthreads();
        if (active) {
            for (int k = 0; k < tile; ++k) {
                const float2 v = make_float2(s_v[2 * k], s_v[2 * k + 1]);
                const float wr = s_w[2 * k], wi = s_w[2 * k + 1];
                const float a = z.x - wr;
                const float2 term = times(v, reciprocal(a, z.y - wi));
                acc.x += term.x;
                acc.y += term.y;
                if (p.conjugate_symmetric) {
                    const float2 pair = times(make_float2(v.x, -v.y), reciprocal(a, z.y + wi));
                    acc.x += pair.x;
                    acc.y += pair.y;
                }
            }
        }
        __syncthreads();
    }
    if (active) store2(p.out, h * p.points + l, acc);
}

// dv = sum_l g conj(r) + conj(g) s, dw = conj(v) sum_l g conj(r)^2 + conj(g) s^2 (the pair's terms only when
// conjugate-symmetric), r = 1 / (z - w), s = 1 / (z - conj(w)).
__global__ void cauchy_backward_kernel(CauchyBackwardParams<float> p) {
    const int lane = threadIdx.x % 32;
    const int64_t units = p.rows * p.terms;
    for (int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; unit < units;
         unit += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
        const int64_t h = unit / p.terms;
        const float2 w = load2(p.w, unit);
        float2 dv = make_float2(0.0f, 0.0f), dw = make_float2(0.0f, 0.0f);
        for (int64_t l = lane; l < p.points; l += 32) {
            const float2 z = load2(p.z, l);
            const float2 g = load2(p.dout, h * p.points + l);
            const float a = z.x - w.x;
            const float2 r = reciprocal(a, z.y - w.y);
            const float2 gr = conj_times(r, g);               // g conj(r)
            const float2 grr = conj_times(times(r, r), g);    // g conj(r)^2
            dv.x += gr.x;
            dv.y += gr.y;
            dw.x += grr.x;
            dw.y += grr.y;
            if (p.conjugate_symmetric) {
                const float2 s = reciprocal(a, z.y + w.y);
                const float2 gs = conj_times(g, s);             // conj(g) s
                const float2 gss = conj_times(g, times(s, s));  // conj(g) s^2
                dv.x += gs.x;
                dv.y += gs.y;
                dw.x += gss.x;
                dw.y += gss.y;
            }
        }
        dv.x = warp_sum(dv.x);
        dv.y = warp_sum(dv.y);
        dw.x = warp_sum(dw.x);
        dw.y = warp_sum(dw.y);
        if (lane == 0) {
            if (p.dv != nullptr) store2(p.dv, unit, dv);
            if (p.dw != nullptr) store2(p.dw, unit, conj_times(load2(p.v, unit), dw));
        }
    }
}

// ---- Vandermonde ----------------------------------------------------------------------------------------------

__global__ void vandermonde_forward_kernel(VandermondeParams<float> p, int64_t point_blocks) {
    HS_SHARED_ARRAY(float, s_v, 2 * kThreads);
    HS_SHARED_ARRAY(float, s_x, 2 * kThreads);
    const int64_t h = blockIdx.x / point_blocks;
    const int64_t l = (blockIdx.x % point_blocks) * kThreads + threadIdx.x;
    const bool active = l < p.points;
    const float position = static_cast<float>(l);
    float2 acc = make_float2(0.0f, 0.0f);
    for (int64_t n0 = 0; n0 < p.terms; n0 += kThreads) {
        const int64_t tile = min(static_cast<int64_t>(kThreads), p.terms - n0);
        if (threadIdx.x < tile) {
            const int64_t at = h * p.terms + n0 + threadIdx.x;
            s_v[2 * threadIdx.x] = p.v[2 * at];
            s_v[2 * threadIdx.x + 1] = p.v[2 * at + 1];
            s_x[2 * threadIdx.x] = p.x[2 * at];
            s_x[2 * threadIdx.x + 1] = p.x[2 * at + 1];
        }
        __syncthreads();
        if (active) {
            for (int k = 0; k < tile; ++k) {
                const float2 term = times(make_float2(s_v[2 * k], s_v[2 * k + 1]),
                                          exp_at(make_float2(s_x[2 * k], s_x[2 * k + 1]), position));
                acc.x += term.x;
                acc.y += term.y;
            }
        }
        __syncthreads();
    }
    if (!active) return;
    if (p.conjugate_symmetric) {
        p.out[h * p.points + l] = 2.0f * acc.x;
    } else {
        store2(p.out, h * p.points + l, acc);
    }
}

// G = dout, or 2 dout (real) for the conjugate-symmetric 2 Re(S): dv = sum_l G conj(p_l), dx = conj(v) sum_l l G
// conj(p_l), p_l = exp(x l).
__global__ void vandermonde_backward_kernel(VandermondeBackwardParams<float> p) {
    const int lane = threadIdx.x % 32;
    const int64_t units = p.rows * p.terms;
    for (int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; unit < units;
         unit += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
        const int64_t h = unit / p.terms;
        const float2 x = load2(p.x, unit);
        float2 dv = make_float2(0.0f, 0.0f), dx = make_float2(0.0f, 0.0f);
        for (int64_t l = lane; l < p.points; l += 32) {
            const float position = static_cast<float>(l);
            const float2 g = p.conjugate_symmetric ? make_float2(2.0f * p.dout[h * p.points + l], 0.0f)
                                                   : load2(p.dout, h * p.points + l);
            const float2 term = conj_times(exp_at(x, position), g);  // G conj(p_l)
            dv.x += term.x;
            dv.y += term.y;
            dx.x += position * term.x;
            dx.y += position * term.y;
        }
        dv.x = warp_sum(dv.x);
        dv.y = warp_sum(dv.y);
        dx.x = warp_sum(dx.x);
        dx.y = warp_sum(dx.y);
        if (lane == 0) {
            if (p.dv != nullptr) store2(p.dv, unit, dv);
            if (p.dx != nullptr) store2(p.dx, unit, conj_times(load2(p.v, unit), dx));
        }
    }
}

unsigned int warp_grid(int64_t units, const char* kernel_name) {
    const int64_t blocks = std::min((units + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks);
    return cuda_common::grid_extent_x(blocks, kernel_name);
}

}  // namespace

void cauchy_forward_cuda(const CauchyParams<float>& p, void* stream) {
    if (p.rows == 0 || p.points == 0) return;
    const int64_t point_blocks = (p.points + kThreads - 1) / kThreads;
    const unsigned int blocks = cuda_common::grid_extent_x(p.rows * point_blocks, "cauchy_forward_kernel");
    HS_CUDA_LAUNCH(cauchy_forward_kernel, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(p, point_blocks);
    HS_CUDA_CHECK_LAUNCH("cauchy_forward_kernel launch");
}

void cauchy_backward_cuda(const CauchyBackwardParams<float>& p, void* stream) {
    if (p.rows == 0 || p.terms == 0) return;
    const unsigned int blocks = warp_grid(p.rows * p.terms, "cauchy_backward_kernel");
    HS_CUDA_LAUNCH(cauchy_backward_kernel, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(p);
    HS_CUDA_CHECK_LAUNCH("cauchy_backward_kernel launch");
}

void vandermonde_forward_cuda(const VandermondeParams<float>& p, void* stream) {
    if (p.rows == 0 || p.points == 0) return;
    const int64_t point_blocks = (p.points + kThreads - 1) / kThreads;
    const unsigned int blocks = cuda_common::grid_extent_x(p.rows * point_blocks, "vandermonde_forward_kernel");
    HS_CUDA_LAUNCH(vandermonde_forward_kernel, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(p,
                                                                                                     point_blocks);
    HS_CUDA_CHECK_LAUNCH("vandermonde_forward_kernel launch");
}

void vandermonde_backward_cuda(const VandermondeBackwardParams<float>& p, void* stream) {
    if (p.rows == 0 || p.terms == 0) return;
    const unsigned int blocks = warp_grid(p.rows * p.terms, "vandermonde_backward_kernel");
    HS_CUDA_LAUNCH(vandermonde_backward_kernel, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(p);
    HS_CUDA_CHECK_LAUNCH("vandermonde_backward_kernel launch");
}

}  // namespace hs
