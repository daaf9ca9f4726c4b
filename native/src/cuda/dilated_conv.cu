// CUDA kernels of the dense dilated causal convolution (ops/dilated_conv.h), float32 with fp32 accumulation, as
// implicit GEMMs: no im2col matrix is built; each thread block stages tiles of the weight and of the padded sequence
// (gathered on the fly from the initial state / x, or from dy) in shared memory and multiplies them.
//
//   forward and dx: out(b, m, n) = sum_{d = k*Cs + c} A(m, d) * V(b, c, n + k*dilation) (see
//                   cpu/dilated_conv_cpu_kernels.h: the same formulation as the CPU twin), 64 x 64 output tiles,
//                   depth in steps of 16, 256 threads with 4 x 4 outputs each; grid (column tiles, row tiles, Bt).
//   dweight:        out(o, (k, i)) = sum_b sum_{t < len_b} dy[b, o, t] * V(b, i, t + k*dilation), 32 x 32 tiles
//                   (more blocks for the small output), depth = every (b, t), 256 threads with 2 x 2 outputs each.
//   dbias:          one block per output channel, a fixed-order tree reduction.
//   final state:    one thread per (b, channel) row, ascending positions, so that it may overwrite the initial state
//                   it reads (the step's in-place state) after the forward kernel has consumed it (stream order).
// Every output element is summed by one thread in a fixed order: no atomics, results repeat bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/cuda_common.cuh"
#include "ops/dilated_conv.h"

namespace hs {
namespace {

using cuda_common::clamped_length;

// The padded sequence V(row, v) of one (b, c) row: head (length head_length, zeros when null) then body up to
// `limit`, zeros anywhere else.
struct Sequence {
    const float* head;
    int64_t head_length;
    const float* body;
    int64_t body_length;

    __device__ float at(int64_t row, int64_t v, int64_t limit) const {
        if (v < 0) return 0.0f;
        if (v < head_length) return head != nullptr ? head[row * head_length + v] : 0.0f;
        const int64_t t = v - head_length;
        return t < limit ? body[row * body_length + t] : 0.0f;
    }
};

// (K-1)*dilation in device code (DilatedConvParams::state_length is host-only).
__device__ inline int64_t state_length_of(const DilatedConvParams<float>& p) { return (p.width - 1) * p.dilation; }

enum class ColumnsMode { Forward, InputGradient };

struct ColumnsProblem {
    int64_t rows, channels, width, dilation;  // M, Cs, K, dilation
    int64_t column_begin, column_end;
    int64_t in_channels;  // C_in of the weight (C_out, C_in, K)
    Sequence source;
    bool limit_body;      // body positions from lengths[b] on read as zeros (dy)
};

constexpr int kTileRows = 64, kTileColumns = 64, kTileDepth = 16, kThreadRows = 4, kThreadColumns = 4;
constexpr int kColumnsThreads = (kTileRows / kThreadRows) * (kTileColumns / kThreadColumns);  // 256

template <ColumnsMode Mode>
__global__ void __launch_bounds__(kColumnsThreads)
    dilated_conv_columns_kernel(DilatedConvBackwardParams<float> q, ColumnsProblem g) {
    HS_SHARED_ARRAY_2D(float, a_tile, kTileDepth, kTileRows);
    HS_SHARED_ARRAY_2D(float, b_tile, kTileDepth, kTileColumns);
    const DilatedConvParams<float>& p = q.fwd;
    const int thread = static_cast<int>(threadIdx.x);
    const int64_t b = blockIdx.z;
    const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileRows;
    const int64_t n0 = g.column_begin + static_cast<int64_t>(blockIdx.x) * kTileColumns;
    const int64_t valid = clamped_length(p.lengths, b, p.length);
    const int64_t limit = g.limit_body ? valid : g.source.body_length;
    const int64_t depth = g.width * g.channels;
    const int64_t K = g.width;
    const int tx = thread % (kTileColumns / kThreadColumns), ty = thread / (kTileColumns / kThreadColumns);

    float acc[kThreadRows][kThreadColumns];
    for (int i = 0; i < kThreadRows; ++i) {
        for (int j = 0; j < kThreadColumns; ++j) acc[i][j] = 0.0f;
    }
    for (int64_t d0 = 0; d0 < depth; d0 += kTileDepth) {
        for (int e = thread; e < kTileDepth * kTileRows; e += kColumnsThreads) {
            const int kk = e % kTileDepth, mm = e / kTileDepth;
            const int64_t d = d0 + kk, m = m0 + mm;
            float value = 0.0f;
            if (d < depth && m < g.rows) {
                const int64_t k = d / g.channels, c = d % g.channels;
                // forward: A(o, (k, i)) = W[o][i][k]; dx: A(i, (k', o)) = W[o][i][K-1-k'].
                value = Mode == ColumnsMode::Forward ? p.weight[(m * g.in_channels + c) * K + k]
                                                     : p.weight[(c * g.in_channels + m) * K + (K - 1 - k)];
            }
            a_tile[kk][mm] = value;
        }
        for (int e = thread; e < kTileDepth * kTileColumns; e += kColumnsThreads) {
            const int kk = e / kTileColumns, nn = e % kTileColumns;
            const int64_t d = d0 + kk, n = n0 + nn;
            float value = 0.0f;
            if (d < depth && n < g.column_end) {
                const int64_t k = d / g.channels, c = d % g.channels;
                value = g.source.at(b * g.channels + c, n + k * g.dilation, limit);
            }
            b_tile[kk][nn] = value;
        }
        __syncthreads();
        for (int kk = 0; kk < kTileDepth; ++kk) {
            float a_values[kThreadRows], b_values[kThreadColumns];
            for (int i = 0; i < kThreadRows; ++i) a_values[i] = a_tile[kk][ty * kThreadRows + i];
            for (int j = 0; j < kThreadColumns; ++j) b_values[j] = b_tile[kk][tx * kThreadColumns + j];
            for (int i = 0; i < kThreadRows; ++i) {
                for (int j = 0; j < kThreadColumns; ++j) acc[i][j] += a_values[i] * b_values[j];
            }
        }
        __syncthreads();
    }

    const int64_t S = state_length_of(p), L = p.length;
    for (int i = 0; i < kThreadRows; ++i) {
        const int64_t m = m0 + ty * kThreadRows + i;
        if (m >= g.rows) continue;
        for (int j = 0; j < kThreadColumns; ++j) {
            const int64_t n = n0 + tx * kThreadColumns + j;
            if (n >= g.column_end) continue;
            if (Mode == ColumnsMode::Forward) {
                const float bias = p.bias != nullptr ? p.bias[m] : 0.0f;
                p.y[(b * g.rows + m) * L + n] = n < valid ? acc[i][j] + bias : 0.0f;
            } else {
                const int64_t row = b * g.rows + m;  // (b, i)
                float value = acc[i][j];
                if (q.d_final_state != nullptr && n >= valid && n < valid + S) value += q.d_final_state[row * S + n - valid];
                if (n < S) {
                    q.d_initial_state[row * S + n] = value;
                } else {
                    q.dx[row * L + (n - S)] = n - S < valid ? value : 0.0f;
                }
            }
        }
    }
}

constexpr int kWeightTile = 32, kWeightThreadTile = 2, kWeightDepth = 16;
constexpr int kWeightThreads = (kWeightTile / kWeightThreadTile) * (kWeightTile / kWeightThreadTile);  // 256

__global__ void __launch_bounds__(kWeightThreads) dilated_conv_weight_kernel(DilatedConvBackwardParams<float> q) {
    HS_SHARED_ARRAY_2D(float, a_tile, kWeightDepth, kWeightTile);
    HS_SHARED_ARRAY_2D(float, b_tile, kWeightDepth, kWeightTile);
    const DilatedConvParams<float>& p = q.fwd;
    const int64_t Cin = p.in_channels, Cout = p.out_channels, K = p.width, L = p.length, S = state_length_of(p);
    const int64_t columns = K * Cin;  // n = k * C_in + i
    const int thread = static_cast<int>(threadIdx.x);
    const int64_t o0 = static_cast<int64_t>(blockIdx.y) * kWeightTile;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kWeightTile;
    const int tx = thread % (kWeightTile / kWeightThreadTile), ty = thread / (kWeightTile / kWeightThreadTile);
    const Sequence input{p.initial_state, S, p.x, L};

    float acc[kWeightThreadTile][kWeightThreadTile];
    for (int i = 0; i < kWeightThreadTile; ++i) {
        for (int j = 0; j < kWeightThreadTile; ++j) acc[i][j] = 0.0f;
    }
    for (int64_t b = 0; b < p.batch; ++b) {
        const int64_t valid = clamped_length(p.lengths, b, L);
        for (int64_t t0 = 0; t0 < valid; t0 += kWeightDepth) {
            // Depth fastest across threads: consecutive t, coalesced reads of dy and x.
            for (int e = thread; e < kWeightDepth * kWeightTile; e += kWeightThreads) {
                const int kk = e % kWeightDepth, mm = e / kWeightDepth;
                const int64_t t = t0 + kk, o = o0 + mm;
                a_tile[kk][mm] = t < valid && o < Cout ? q.dy[(b * Cout + o) * L + t] : 0.0f;
                const int64_t n = n0 + mm;
                float value = 0.0f;
                if (t < valid && n < columns) {
                    const int64_t k = n / Cin, i = n % Cin;
                    value = input.at(b * Cin + i, t + k * p.dilation, valid);
                }
                b_tile[kk][mm] = value;
            }
            __syncthreads();
            for (int kk = 0; kk < kWeightDepth; ++kk) {
                float a_values[kWeightThreadTile], b_values[kWeightThreadTile];
                for (int i = 0; i < kWeightThreadTile; ++i) a_values[i] = a_tile[kk][ty * kWeightThreadTile + i];
                for (int j = 0; j < kWeightThreadTile; ++j) b_values[j] = b_tile[kk][tx * kWeightThreadTile + j];
                for (int i = 0; i < kWeightThreadTile; ++i) {
                    for (int j = 0; j < kWeightThreadTile; ++j) acc[i][j] += a_values[i] * b_values[j];
                }
            }
            __syncthreads();
        }
    }
    for (int i = 0; i < kWeightThreadTile; ++i) {
        const int64_t o = o0 + ty * kWeightThreadTile + i;
        if (o >= Cout) continue;
        for (int j = 0; j < kWeightThreadTile; ++j) {
            const int64_t n = n0 + tx * kWeightThreadTile + j;
            if (n >= columns) continue;
            const int64_t k = n / Cin, c = n % Cin;
            q.dweight[(o * Cin + c) * K + k] = acc[i][j];
        }
    }
}

constexpr int kBiasThreads = 256;

__global__ void __launch_bounds__(kBiasThreads) dilated_conv_bias_kernel(DilatedConvBackwardParams<float> q) {
    HS_SHARED_ARRAY(float, partial, kBiasThreads);
    const DilatedConvParams<float>& p = q.fwd;
    const int64_t o = blockIdx.x, L = p.length;
    const int thread = static_cast<int>(threadIdx.x);
    float sum = 0.0f;
    for (int64_t b = 0; b < p.batch; ++b) {
        const int64_t valid = clamped_length(p.lengths, b, L);
        const float* row = q.dy + (b * p.out_channels + o) * L;
        for (int64_t t = thread; t < valid; t += kBiasThreads) sum += row[t];
    }
    partial[thread] = sum;
    __syncthreads();
    for (int half = kBiasThreads / 2; half > 0; half /= 2) {
        if (thread < half) partial[thread] += partial[thread + half];
        __syncthreads();
    }
    if (thread == 0) q.dbias[o] = partial[0];
}

constexpr int kStateThreads = 256;

// final[row][j] = V(row, len + j): ascending j reads position len + j > j, never a value already overwritten.
__global__ void __launch_bounds__(kStateThreads) dilated_conv_final_state_kernel(DilatedConvParams<float> p) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * kStateThreads + threadIdx.x;
    if (row >= p.batch * p.in_channels) return;
    const int64_t S = state_length_of(p), L = p.length;
    const int64_t valid = clamped_length(p.lengths, row / p.in_channels, L);
    for (int64_t j = 0; j < S; ++j) {
        const int64_t v = valid + j;
        p.final_state[row * S + j] = v < S ? (p.initial_state != nullptr ? p.initial_state[row * S + v] : 0.0f)
                                           : p.x[row * L + (v - S)];
    }
}

unsigned int blocks_for(int64_t count, int64_t per_block, const char* kernel, const char* what, bool x_axis) {
    const int64_t blocks = (count + per_block - 1) / per_block;
    return x_axis ? cuda_common::grid_extent_x(blocks, kernel) : cuda_common::grid_extent_yz(blocks, kernel, what);
}

template <ColumnsMode Mode>
void launch_columns(const DilatedConvBackwardParams<float>& q, const ColumnsProblem& g, cudaStream_t stream,
                    const char* name) {
    const int64_t columns = g.column_end - g.column_begin;
    if (q.fwd.batch == 0 || g.rows == 0 || columns <= 0) return;
    const dim3 grid(blocks_for(columns, kTileColumns, name, "", true),
                    blocks_for(g.rows, kTileRows, name, "row tiles", false),
                    cuda_common::grid_extent_yz(q.fwd.batch, name, "batch"));
    HS_CUDA_LAUNCH(dilated_conv_columns_kernel<Mode>, grid, kColumnsThreads, 0, stream)(q, g);
    HS_CUDA_CHECK_LAUNCH(name);
}

void launch_final_state(const DilatedConvParams<float>& p, cudaStream_t stream) {
    const int64_t rows = p.batch * p.in_channels;
    if (p.final_state == nullptr || rows == 0 || p.state_length() == 0) return;
    HS_CUDA_LAUNCH(dilated_conv_final_state_kernel,
                   blocks_for(rows, kStateThreads, "dilated_conv_final_state_kernel", "", true), kStateThreads, 0,
                   stream)(p);
    HS_CUDA_CHECK_LAUNCH("dilated_conv_final_state_kernel launch");
}

}  // namespace

void dilated_conv_forward_cuda(const DilatedConvParams<float>& p, void* stream) {
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    DilatedConvBackwardParams<float> q;
    q.fwd = p;
    const ColumnsProblem g{p.out_channels, p.in_channels, p.width, p.dilation, 0, p.length, p.in_channels,
                           {p.initial_state, p.state_length(), p.x, p.length}, false};
    launch_columns<ColumnsMode::Forward>(q, g, s, "dilated_conv_columns_kernel (forward) launch");
    // After y: the final state may be the initial state's own buffer (the step).
    launch_final_state(p, s);
}

void dilated_conv_backward_cuda(const DilatedConvBackwardParams<float>& q, void* stream) {
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const DilatedConvParams<float>& p = q.fwd;
    const int64_t S = p.state_length();
    if (q.dx != nullptr || q.d_initial_state != nullptr) {
        const ColumnsProblem g{p.in_channels, p.out_channels, p.width, p.dilation,
                               q.d_initial_state != nullptr ? 0 : S, q.dx != nullptr ? S + p.length : S,
                               p.in_channels, {nullptr, S, q.dy, p.length}, true};
        launch_columns<ColumnsMode::InputGradient>(q, g, s, "dilated_conv_columns_kernel (dx) launch");
    }
    if (q.dweight != nullptr && p.out_channels > 0 && p.in_channels > 0) {
        const char* name = "dilated_conv_weight_kernel launch";
        const dim3 grid(blocks_for(p.width * p.in_channels, kWeightTile, name, "", true),
                        blocks_for(p.out_channels, kWeightTile, name, "output-channel tiles", false));
        HS_CUDA_LAUNCH(dilated_conv_weight_kernel, grid, kWeightThreads, 0, s)(q);
        HS_CUDA_CHECK_LAUNCH(name);
    }
    if (q.dbias != nullptr && p.out_channels > 0) {
        HS_CUDA_LAUNCH(dilated_conv_bias_kernel,
                       cuda_common::grid_extent_x(p.out_channels, "dilated_conv_bias_kernel"), kBiasThreads, 0, s)(q);
        HS_CUDA_CHECK_LAUNCH("dilated_conv_bias_kernel launch");
    }
}

}  // namespace hs
