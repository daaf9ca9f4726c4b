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

// A complex64 value (re = x, im = y) in registers: our own type rather than CUDA's float2, which the emulated backend
// does not provide.
struct C32 {
    float x, y;
};

__device__ inline C32 c32(float re, float im) { return C32{re, im}; }

__device__ inline C32 conj_times(C32 a, C32 b) {  // conj(a) * b
    return c32(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x);
}

__device__ inline C32 times(C32 a, C32 b) { return c32(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x); }

__device__ inline C32 load2(const float* data, int64_t index) {
    return c32(data[2 * index], data[2 * index + 1]);
}

__device__ inline void store2(float* data, int64_t index, C32 value) {
    data[2 * index] = value.x;
    data[2 * index + 1] = value.y;
}

// exp(x * position), per element: expf of the real part, sincosf of the imaginary part.
__device__ inline C32 exp_at(C32 x, float position) {
    const float magnitude = expf(x.x * position);
    float s = 0.0f, c = 0.0f;
    sincosf(x.y * position, &s, &c);
    return c32(magnitude * c, magnitude * s);
}

// 1 / d for d = (a, b): conj(d) / |d|^2.
__device__ inline C32 reciprocal(float a, float b) {
    const float inv = 1.0f / (a * a + b * b);
    return c32(a * inv, -b * inv);
}

__device__ inline float warp_sum(float value) { return cuda_common::sum_over_lane_group(value, 32); }

// ---- the two drivers --------------------------------------------------------------------------------------------
//
// Both kernels are sums over the terms n of row h: Cauchy's v / (z_l - w) and Vandermonde's v exp(x l). A driver owns
// the loop structure (the forward's shared-memory tiles of terms, the backward's warp per (h, n) with its lane stride
// and reduction) and asks a per-kernel op (CauchyOp, VandermondeOp below) for what differs:
//   Point                        what a forward thread knows of its position l (z_l, or l itself)
//   nodes()                      the (H, N) complex nodes the terms depend on besides v ('w' or 'x')
//   point(l)                     that position's Point
//   add_terms(acc, v, node, pt)  adds the term(s) of (v, node) at pt to acc, in the op's order
//   store(h, l, acc)             writes out[h, l]
//   add_gradients(dv, dnode, node, h, l)
//                                adds position l's share to the backward's sums: dv = sum_l G conj(term / v), and
//                                dnode, of which the gradient with respect to the node is conj(v) * dnode.

template <typename Op>
__global__ void s4_forward_kernel(Op op, int64_t point_blocks) {
    HS_SHARED_ARRAY(float, s_v, 2 * kThreads);
    HS_SHARED_ARRAY(float, s_nodes, 2 * kThreads);
    const auto& p = op.p;
    const float* nodes = op.nodes();
    const int64_t h = blockIdx.x / point_blocks;
    const int64_t l = (blockIdx.x % point_blocks) * kThreads + threadIdx.x;
    const bool active = l < p.points;
    const typename Op::Point point = op.point(active ? l : 0);
    C32 acc = c32(0.0f, 0.0f);
    for (int64_t n0 = 0; n0 < p.terms; n0 += kThreads) {
        const int64_t tile = min(static_cast<int64_t>(kThreads), p.terms - n0);
        if (threadIdx.x < tile) {
            const int64_t at = h * p.terms + n0 + threadIdx.x;
            s_v[2 * threadIdx.x] = p.v[2 * at];
            s_v[2 * threadIdx.x + 1] = p.v[2 * at + 1];
            s_nodes[2 * threadIdx.x] = nodes[2 * at];
            s_nodes[2 * threadIdx.x + 1] = nodes[2 * at + 1];
        }
        __syncthreads();
        if (active) {
            for (int k = 0; k < tile; ++k) {
                op.add_terms(acc, c32(s_v[2 * k], s_v[2 * k + 1]), c32(s_nodes[2 * k], s_nodes[2 * k + 1]), point);
            }
        }
        __syncthreads();
    }
    if (active) op.store(h, l, acc);
}

template <typename Op>
__global__ void s4_backward_kernel(Op op, float* dv_out, float* dnode_out) {
    const auto& p = op.p;
    const float* nodes = op.nodes();
    const int lane = threadIdx.x % 32;
    const int64_t units = p.rows * p.terms;
    for (int64_t unit = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; unit < units;
         unit += static_cast<int64_t>(gridDim.x) * kWarpsPerBlock) {
        const int64_t h = unit / p.terms;
        const C32 node = load2(nodes, unit);
        C32 dv = c32(0.0f, 0.0f), dnode = c32(0.0f, 0.0f);
        for (int64_t l = lane; l < p.points; l += 32) op.add_gradients(dv, dnode, node, h, l);
        dv.x = warp_sum(dv.x);
        dv.y = warp_sum(dv.y);
        dnode.x = warp_sum(dnode.x);
        dnode.y = warp_sum(dnode.y);
        if (lane == 0) {
            if (dv_out != nullptr) store2(dv_out, unit, dv);
            if (dnode_out != nullptr) store2(dnode_out, unit, conj_times(load2(p.v, unit), dnode));
        }
    }
}

__device__ inline void add_to(C32& acc, C32 value) {
    acc.x += value.x;
    acc.y += value.y;
}

// ---- Cauchy: v / (z - w), and + conj(v) / (z - conj(w)) when conjugate-symmetric ---------------------------------

template <typename Params>
struct CauchyOp {
    Params p;
    using Point = C32;  // z_l
    __device__ const float* nodes() const { return p.w; }
    __device__ C32 point(int64_t l) const { return load2(p.z, l); }
    __device__ void add_terms(C32& acc, C32 v, C32 w, C32 z) const {
        const float a = z.x - w.x;
        add_to(acc, times(v, reciprocal(a, z.y - w.y)));
        if (p.conjugate_symmetric) add_to(acc, times(c32(v.x, -v.y), reciprocal(a, z.y + w.y)));
    }
    __device__ void store(int64_t h, int64_t l, C32 acc) const { store2(p.out, h * p.points + l, acc); }
    // dv = sum_l g conj(r) + conj(g) s, dw = conj(v) sum_l g conj(r)^2 + conj(g) s^2 (the pair's terms only when
    // conjugate-symmetric), r = 1 / (z - w), s = 1 / (z - conj(w)).
    __device__ void add_gradients(C32& dv, C32& dw, C32 w, int64_t h, int64_t l) const {
        const C32 z = load2(p.z, l);
        const C32 g = load2(p.dout, h * p.points + l);
        const float a = z.x - w.x;
        const C32 r = reciprocal(a, z.y - w.y);
        add_to(dv, conj_times(r, g));             // g conj(r)
        add_to(dw, conj_times(times(r, r), g));   // g conj(r)^2
        if (p.conjugate_symmetric) {
            const C32 s = reciprocal(a, z.y + w.y);
            add_to(dv, conj_times(g, s));             // conj(g) s
            add_to(dw, conj_times(g, times(s, s)));   // conj(g) s^2
        }
    }
};

// ---- Vandermonde: v exp(x l); the conjugate-symmetric output is real, 2 Re(sum) --------------------------------

template <typename Params>
struct VandermondeOp {
    Params p;
    using Point = float;  // l
    __device__ const float* nodes() const { return p.x; }
    __device__ float point(int64_t l) const { return static_cast<float>(l); }
    __device__ void add_terms(C32& acc, C32 v, C32 x, float position) const {
        add_to(acc, times(v, exp_at(x, position)));
    }
    __device__ void store(int64_t h, int64_t l, C32 acc) const {
        if (p.conjugate_symmetric) {
            p.out[h * p.points + l] = 2.0f * acc.x;
        } else {
            store2(p.out, h * p.points + l, acc);
        }
    }
    // G = dout, or 2 dout (real) for the conjugate-symmetric 2 Re(S): dv = sum_l G conj(p_l), dx = conj(v) sum_l l G
    // conj(p_l), p_l = exp(x l).
    __device__ void add_gradients(C32& dv, C32& dx, C32 x, int64_t h, int64_t l) const {
        const float position = static_cast<float>(l);
        const C32 g = p.conjugate_symmetric ? c32(2.0f * p.dout[h * p.points + l], 0.0f)
                                            : load2(p.dout, h * p.points + l);
        const C32 term = conj_times(exp_at(x, position), g);  // G conj(p_l)
        add_to(dv, term);
        dx.x += position * term.x;
        dx.y += position * term.y;
    }
};

unsigned int warp_grid(int64_t units, const char* kernel_name) {
    const int64_t blocks = std::min((units + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks);
    return cuda_common::grid_extent_x(blocks, kernel_name);
}

// One thread per (h, l); `name` names the kernel in launch errors.
template <typename Op>
void launch_forward(const Op& op, const char* name, const char* launch_name, void* stream) {
    if (op.p.rows == 0 || op.p.points == 0) return;
    const int64_t point_blocks = (op.p.points + kThreads - 1) / kThreads;
    const unsigned int blocks = cuda_common::grid_extent_x(op.p.rows * point_blocks, name);
    HS_CUDA_LAUNCH(s4_forward_kernel<Op>, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(op, point_blocks);
    HS_CUDA_CHECK_LAUNCH(launch_name);
}

// One warp per (h, n), grid-stride.
template <typename Op>
void launch_backward(const Op& op, float* dv, float* dnode, const char* name, const char* launch_name,
                     void* stream) {
    if (op.p.rows == 0 || op.p.terms == 0) return;
    const unsigned int blocks = warp_grid(op.p.rows * op.p.terms, name);
    HS_CUDA_LAUNCH(s4_backward_kernel<Op>, blocks, kThreads, 0, static_cast<cudaStream_t>(stream))(op, dv, dnode);
    HS_CUDA_CHECK_LAUNCH(launch_name);
}

}  // namespace

void cauchy_forward_cuda(const CauchyParams<float>& p, void* stream) {
    launch_forward(CauchyOp<CauchyParams<float>>{p}, "cauchy_forward_kernel", "cauchy_forward_kernel launch", stream);
}

void cauchy_backward_cuda(const CauchyBackwardParams<float>& p, void* stream) {
    launch_backward(CauchyOp<CauchyBackwardParams<float>>{p}, p.dv, p.dw, "cauchy_backward_kernel",
                    "cauchy_backward_kernel launch", stream);
}

void vandermonde_forward_cuda(const VandermondeParams<float>& p, void* stream) {
    launch_forward(VandermondeOp<VandermondeParams<float>>{p}, "vandermonde_forward_kernel",
                   "vandermonde_forward_kernel launch", stream);
}

void vandermonde_backward_cuda(const VandermondeBackwardParams<float>& p, void* stream) {
    launch_backward(VandermondeOp<VandermondeBackwardParams<float>>{p}, p.dv, p.dx, "vandermonde_backward_kernel",
                    "vandermonde_backward_kernel launch", stream);
}

}  // namespace hs
