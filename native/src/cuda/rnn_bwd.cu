// CUDA backward of the fused recurrence (float32). Contract: hybridseq.h "Fused recurrence" and ops/rnn.h; reference:
// the CPU twin native/src/cpu/rnn_cpu.cpp. Indexing, step order and the cell derivatives are in rnn_common.cuh.
//
// The time loop runs the processing indices backwards (k = T-1 .. 0). Per (b, u) and real step it forms
//   dh_t = dy_t + (carried dL/dh_t) + (R^T dg_rec of the step processed after this one),
// runs the cell derivative, writes dwx at the step's position, and records dg_rec and h_{t-1} of processing index k
// in the workspace (zeros for padding). AFTER the loop, deterministically (fixed summation order, no atomics):
//   dR[head][q*DH + j][l] = sum over (k, b) of dg_rec[k][b][q*H + head*DH + j] * h_prev[k][b][head*DH + l]
//   db[q*H + u]           = sum over (k, b) of dg_rec[k][b][q*H + u]
// Paths (same rule as the forward, see rnn_fwd.cu):
//  - persistent (DH <= kPersistentMaxHeadDim, shared memory fits): one launch, grid (NH, ceil(Bt / kPersistentRows));
//    R, the last step's dg_rec (double-buffered) and the carried state gradients stay in shared memory.
//  - per-step (any DH): per processing index one launch of a tiled kernel that reads the later step's dg_rec from the
//    workspace and streams R^T in tiles; carried state gradients live in the workspace.
//
// Workspace (floats, in this order): dg_rec (T, Bt, G*H), h_prev (T, Bt, H), carried state gradients (S, Bt, H).
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "cuda/cuda_check.h"
#include "cuda/rnn_common.cuh"
#include "ops/rnn.h"

namespace hs {
namespace {

using cuda_rnn::kMaxGates;
using cuda_rnn::kMaxStates;
using cuda_rnn::kStepChunk;
using cuda_rnn::kStepRows;
using cuda_rnn::kStepThreads;
using cuda_rnn::kStepUnits;

struct Workspace {
    float* dg_rec;  // (T, Bt, G*H), by processing index
    float* h_prev;  // (T, Bt, H), by processing index
    float* carry;   // (S, Bt, H): dL/ds of the state after the next step to process (per-step path only)
};

Workspace split_workspace(const RnnBackwardParams<float>& p, const RnnCellShape& n) {
    const int64_t rows = p.fwd.steps * p.fwd.batch;
    Workspace w;
    w.dg_rec = p.workspace;
    w.h_prev = w.dg_rec + rows * n.gates * p.fwd.hidden;
    w.carry = w.h_prev + rows * p.fwd.hidden;
    return w;
}

// What processing index k needs from global memory for one (b, u). Loaded before the recurrent R^T dg sum, so
// that the loads' latency overlaps it instead of adding to every step.
struct StepInputs {
    bool real_step;
    int64_t pos;
    float dy;
    float prev[kMaxStates];  // the state the step consumed
    float cache[kMaxGates];
};

__device__ inline StepInputs load_step_inputs(const RnnBackwardParams<float>& p, const RnnCellShape& n, int64_t k,
                                              int64_t b, int64_t u) {
    const RnnParams<float>& f = p.fwd;
    const int64_t Bt = f.batch;
    const int64_t H = f.hidden;
    const int S = n.states;
    const int64_t length = cuda_common::clamped_length(f.lengths, b, f.steps);
    StepInputs in{};
    in.pos = cuda_rnn::step_position(k, length, f.reverse);
    in.real_step = k < length;
    if (!in.real_step) return in;
    in.dy = p.dy[(in.pos * Bt + b) * H + u];
    const int64_t slot = cuda_rnn::consumed_state_slot(in.pos, length, f.reverse);
    for (int s = 0; s < S; ++s) in.prev[s] = p.states[((slot * S + s) * Bt + b) * H + u];
    const float* cache_in = p.cache + (in.pos * Bt + b) * n.cache_gates * H + u;
    for (int c = 0; c < n.cache_gates; ++c) in.cache[c] = cache_in[c * H];
    return in;
}

// The derivative of processing index k for one (b, u). dstate holds dL/ds_t with dstate[0] already summing the
// carried gradient and the R^T dg_rec term of the later step; on return it holds dL/ds_{t-1} without this step's
// R^T dg_rec term, and dgrec the step's dg_rec (zeros for padding, where dstate is left unchanged).
// Writes dwx at the step's position and dg_rec / h_prev of index k into the workspace.
__device__ inline void backward_step(const RnnBackwardParams<float>& p, const RnnCellShape& n, const Workspace& w,
                                     int64_t k, int64_t b, int64_t u, const StepInputs& in, float* dstate,
                                     float* dgrec) {
    const int64_t Bt = p.fwd.batch;
    const int64_t H = p.fwd.hidden;
    const int G = n.gates;
    float* dwx_out = p.dwx + (in.pos * Bt + b) * G * H + u;
    float* dg_out = w.dg_rec + (k * Bt + b) * G * H + u;
    float dwx[kMaxGates] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int q = 0; q < kMaxGates; ++q) dgrec[q] = 0.0f;
    if (in.real_step) {
        dstate[0] += in.dy;
        cuda_rnn::cell_backward(p.fwd.cell, in.cache, in.prev, dstate, dwx, dgrec);
    }
    for (int q = 0; q < G; ++q) {
        dwx_out[q * H] = dwx[q];
        dg_out[q * H] = dgrec[q];
    }
    w.h_prev[k * Bt * H + b * H + u] = in.real_step ? in.prev[0] : 0.0f;
}

__device__ inline void store_ds0(const RnnBackwardParams<float>& p, const RnnCellShape& n, int64_t b, int64_t u,
                                 const float* dstate) {
    if (p.ds0 == nullptr) return;
    for (int s = 0; s < n.states; ++s) p.ds0[(s * p.fwd.batch + b) * p.fwd.hidden + u] = dstate[s];
}

__device__ inline void load_ds_last(const RnnBackwardParams<float>& p, const RnnCellShape& n, int64_t b, int64_t u,
                                    float* dstate) {
    for (int s = 0; s < kMaxStates; ++s) {
        dstate[s] = (s < n.states && p.ds_last != nullptr) ? p.ds_last[(s * p.fwd.batch + b) * p.fwd.hidden + u]
                                                           : 0.0f;
    }
}

// ---- persistent path --------------------------------------------------------------------------------------------

// Dynamic shared memory in floats: R (G*DH, DH + 1), dg_rec (2, rows, G*DH), carried dL/ds (S, rows, DH).
size_t persistent_backward_shared_floats(const RnnCellShape& n, int64_t head_dim) {
    const size_t dh = static_cast<size_t>(head_dim);
    const size_t rows = cuda_rnn::kPersistentRows;
    return n.gates * dh * (dh + 1) + 2 * rows * n.gates * dh + n.states * rows * dh;
}

// Grid (NH, ceil(Bt / kPersistentRows)); threads loop over the CTA's (row, unit) pairs.
__global__ void __launch_bounds__(cuda_rnn::kPersistentMaxThreads)
rnn_backward_persistent_kernel(RnnBackwardParams<float> p, RnnCellShape n, Workspace w) {
    HS_SHARED_DYNAMIC(float, shared);
    const int DH = static_cast<int>(p.fwd.head_dim);
    const int pitch = DH + 1;
    const int G = n.gates;
    const int GDH = G * DH;
    const int rows = cuda_rnn::kPersistentRows;
    const int64_t Bt = p.fwd.batch;
    const int64_t head = blockIdx.x;
    const int64_t first_row = static_cast<int64_t>(blockIdx.y) * rows;
    HS_SHARED_PTR(float) const R_s = shared;
    HS_SHARED_PTR(float) const dg_s = R_s + GDH * pitch;
    HS_SHARED_PTR(float) const ds_s = dg_s + 2 * rows * GDH;
    const int pairs = rows * DH;

    const float* R_head = p.fwd.R + head * GDH * DH;
    for (int i = threadIdx.x; i < GDH * DH; i += blockDim.x) R_s[(i / DH) * pitch + i % DH] = R_head[i];
    for (int i = threadIdx.x; i < rows * GDH; i += blockDim.x) dg_s[i] = 0.0f;
    for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
        const int64_t b = first_row + pair / DH;
        float dstate[kMaxStates] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (b < Bt) load_ds_last(p, n, b, head * DH + pair % DH, dstate);
        for (int s = 0; s < n.states; ++s) ds_s[s * pairs + pair] = dstate[s];
    }
    __syncthreads();

    // R^T dg for (row, j): column j of the head's R against the row's dg_rec of the later step.
    auto recurrent_dh = [&](HS_SHARED_PTR(const float) dg, int row, int j) {
        HS_SHARED_PTR(const float) const dg_row = dg + row * GDH;
        float sum = 0.0f;
        for (int r = 0; r < GDH; ++r) sum += R_s[r * pitch + j] * dg_row[r];
        return sum;
    };

    for (int64_t iteration = 0; iteration < p.fwd.steps; ++iteration) {
        const int64_t k = p.fwd.steps - 1 - iteration;
        HS_SHARED_PTR(const float) const dg_in = dg_s + (iteration & 1) * rows * GDH;
        HS_SHARED_PTR(float) const dg_out = dg_s + ((iteration + 1) & 1) * rows * GDH;
        for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
            const int row = pair / DH;
            const int j = pair % DH;
            const int64_t b = first_row + row;
            if (b >= Bt) continue;
            const int64_t u = head * DH + j;
            const StepInputs in = load_step_inputs(p, n, k, b, u);
            float dstate[kMaxStates];
            for (int s = 0; s < kMaxStates; ++s) dstate[s] = s < n.states ? ds_s[s * pairs + pair] : 0.0f;
            dstate[0] += recurrent_dh(dg_in, row, j);
            float dgrec[kMaxGates];
            backward_step(p, n, w, k, b, u, in, dstate, dgrec);
            // At padding, dg_in of this row is zero (every later index of the row is padding too), so the carry
            // passes through unchanged until the row's last real step.
            for (int s = 0; s < n.states; ++s) ds_s[s * pairs + pair] = dstate[s];
            for (int q = 0; q < G; ++q) dg_out[row * GDH + q * DH + j] = dgrec[q];
        }
        __syncthreads();  // dg_out complete before the next index reads it
    }

    HS_SHARED_PTR(const float) const dg_final = dg_s + (p.fwd.steps & 1) * rows * GDH;
    for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
        const int row = pair / DH;
        const int j = pair % DH;
        const int64_t b = first_row + row;
        if (b >= Bt) continue;
        float dstate[kMaxStates];
        for (int s = 0; s < kMaxStates; ++s) dstate[s] = s < n.states ? ds_s[s * pairs + pair] : 0.0f;
        dstate[0] += recurrent_dh(dg_final, row, j);
        store_ds0(p, n, b, head * DH + j, dstate);
    }
}

// ---- per-step path ----------------------------------------------------------------------------------------------

// One thread per (b, u): ds_last (or zeros) into the carry.
__global__ void rnn_backward_step_init_kernel(RnnBackwardParams<float> p, RnnCellShape n, Workspace w) {
    const int64_t BH = p.fwd.batch * p.fwd.hidden;
    const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index >= BH) return;
    float dstate[kMaxStates];
    load_ds_last(p, n, index / p.fwd.hidden, index % p.fwd.hidden, dstate);
    for (int s = 0; s < n.states; ++s) w.carry[s * BH + index] = dstate[s];
}

// (R^T dg_later)[b][head*DH + j] for the calling thread's (row, jj) of a per-step CTA; dg_later (Bt, G*H) may be
// null (no later step: zero). Every thread of the CTA must call it (it synchronises).
__device__ inline float tiled_recurrent_dh(const RnnBackwardParams<float>& p, const RnnCellShape& n,
                                           const float* dg_later, int64_t head, int64_t first_unit,
                                           int64_t first_row, int row, int jj) {
    HS_SHARED_ARRAY_2D(float, R_tile, kStepChunk, kStepUnits + 1);
    HS_SHARED_ARRAY_2D(float, dg_tile, kStepRows, kStepChunk + 1);
    if (dg_later == nullptr) return 0.0f;
    const int64_t DH = p.fwd.head_dim;
    const int64_t H = p.fwd.hidden;
    const int64_t Bt = p.fwd.batch;
    const int64_t GDH = n.gates * DH;
    float sum = 0.0f;
    for (int64_t r0 = 0; r0 < GDH; r0 += kStepChunk) {
        for (int i = threadIdx.x; i < kStepChunk * kStepUnits; i += blockDim.x) {
            const int c = i / kStepUnits;
            const int64_t unit = first_unit + i % kStepUnits;
            const int64_t r = r0 + c;
            R_tile[c][i % kStepUnits] = (r < GDH && unit < DH) ? p.fwd.R[(head * GDH + r) * DH + unit] : 0.0f;
        }
        for (int i = threadIdx.x; i < kStepRows * kStepChunk; i += blockDim.x) {
            const int tile_row = i / kStepChunk;
            const int c = i % kStepChunk;
            const int64_t batch_row = first_row + tile_row;
            const int64_t r = r0 + c;
            dg_tile[tile_row][c] = (batch_row < Bt && r < GDH)
                                       ? dg_later[batch_row * n.gates * H + (r / DH) * H + head * DH + r % DH]
                                       : 0.0f;
        }
        __syncthreads();
        for (int c = 0; c < kStepChunk; ++c) sum += R_tile[c][jj] * dg_tile[row][c];
        __syncthreads();
    }
    return sum;
}

// Processing index k (ds0_only: after the loop, ds0 from the carry and index 0's dg_rec). Grid
// (NH * ceil(DH / kStepUnits), ceil(Bt / kStepRows)), kStepThreads threads: thread (row, jj) owns (b, u).
// dg_later: dg_rec of index k + 1 (of index 0 when ds0_only), null when there is none.
__global__ void __launch_bounds__(kStepThreads)
rnn_backward_step_kernel(RnnBackwardParams<float> p, RnnCellShape n, Workspace w, int64_t k, const float* dg_later,
                         bool ds0_only) {
    const int64_t DH = p.fwd.head_dim;
    const int64_t H = p.fwd.hidden;
    const int64_t Bt = p.fwd.batch;
    const int64_t tiles_per_head = (DH + kStepUnits - 1) / kStepUnits;
    const int64_t head = blockIdx.x / tiles_per_head;
    const int64_t first_unit = (blockIdx.x % tiles_per_head) * kStepUnits;
    const int64_t first_row = static_cast<int64_t>(blockIdx.y) * kStepRows;
    const int jj = threadIdx.x % kStepUnits;
    const int row = threadIdx.x / kStepUnits;
    const int64_t j = first_unit + jj;
    const int64_t b = first_row + row;
    const int64_t u = head * DH + j;
    const bool owns_unit = j < DH && b < Bt;
    StepInputs in{};
    if (owns_unit && !ds0_only) in = load_step_inputs(p, n, k, b, u);
    const float dh_recurrent = tiled_recurrent_dh(p, n, dg_later, head, first_unit, first_row, row, jj);
    if (!owns_unit) return;

    const int64_t BH = Bt * H;
    float dstate[kMaxStates];
    for (int s = 0; s < kMaxStates; ++s) dstate[s] = s < n.states ? w.carry[s * BH + b * H + u] : 0.0f;
    dstate[0] += dh_recurrent;
    if (ds0_only) {
        store_ds0(p, n, b, u, dstate);
        return;
    }
    float dgrec[kMaxGates];
    backward_step(p, n, w, k, b, u, in, dstate, dgrec);
    for (int s = 0; s < n.states; ++s) w.carry[s * BH + b * H + u] = dstate[s];
}

// ---- weight gradients after the loop ----------------------------------------------------------------------------

constexpr int kGemmTile = 32;
constexpr int kGemmThreads = 256;
constexpr int kGemmRowsPerThread = kGemmTile * kGemmTile / kGemmThreads;  // 4

// dR = dg_rec^T h_prev per head over the N = T*Bt workspace rows, in a fixed order (deterministic).
// Grid (ceil(DH / 32), ceil(G*DH / 32), NH), 256 threads: thread (tx = column l, ty) computes rows ty + 8 i.
__global__ void __launch_bounds__(kGemmThreads)
rnn_weight_gradient_kernel(RnnBackwardParams<float> p, RnnCellShape n, Workspace w) {
    HS_SHARED_ARRAY_2D(float, dg_tile, kGemmTile, kGemmTile + 1);  // (n, r)
    HS_SHARED_ARRAY_2D(float, h_tile, kGemmTile, kGemmTile + 1);   // (n, l)
    const int64_t DH = p.fwd.head_dim;
    const int64_t H = p.fwd.hidden;
    const int64_t GH = n.gates * H;
    const int64_t GDH = n.gates * DH;
    const int64_t N = p.fwd.steps * p.fwd.batch;
    const int64_t head = blockIdx.z;
    const int64_t l0 = static_cast<int64_t>(blockIdx.x) * kGemmTile;
    const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kGemmTile;
    const int tx = threadIdx.x % kGemmTile;
    const int ty = threadIdx.x / kGemmTile;
    constexpr int kRowStride = kGemmThreads / kGemmTile;

    float acc[kGemmRowsPerThread] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t n0 = 0; n0 < N; n0 += kGemmTile) {
        for (int i = threadIdx.x; i < kGemmTile * kGemmTile; i += blockDim.x) {
            const int nn = i / kGemmTile;
            const int c = i % kGemmTile;
            const int64_t row = n0 + nn;
            const int64_t r = r0 + c;
            const int64_t l = l0 + c;
            dg_tile[nn][c] = (row < N && r < GDH) ? w.dg_rec[row * GH + (r / DH) * H + head * DH + r % DH] : 0.0f;
            h_tile[nn][c] = (row < N && l < DH) ? w.h_prev[row * H + head * DH + l] : 0.0f;
        }
        __syncthreads();
        for (int nn = 0; nn < kGemmTile; ++nn) {
            const float h = h_tile[nn][tx];
#pragma unroll
            for (int i = 0; i < kGemmRowsPerThread; ++i) acc[i] += dg_tile[nn][ty + kRowStride * i] * h;
        }
        __syncthreads();
    }
    const int64_t l = l0 + tx;
    if (l >= DH) return;
#pragma unroll
    for (int i = 0; i < kGemmRowsPerThread; ++i) {
        const int64_t r = r0 + ty + kRowStride * i;
        if (r < GDH) p.dR[(head * GDH + r) * DH + l] = acc[i];
    }
}

constexpr int kBiasColumns = 32;
constexpr int kBiasRowGroups = 8;

// db = column sums of dg_rec (N, G*H). Grid ceil(G*H / 32), 256 threads: 8 row groups stride over N, then one
// thread adds the 8 partial sums in a fixed order (deterministic).
__global__ void __launch_bounds__(kBiasColumns * kBiasRowGroups)
rnn_bias_gradient_kernel(RnnBackwardParams<float> p, RnnCellShape n, Workspace w) {
    HS_SHARED_ARRAY_2D(float, partial, kBiasRowGroups, kBiasColumns);
    const int64_t GH = n.gates * p.fwd.hidden;
    const int64_t N = p.fwd.steps * p.fwd.batch;
    const int lane = threadIdx.x % kBiasColumns;
    const int group = threadIdx.x / kBiasColumns;
    const int64_t column = static_cast<int64_t>(blockIdx.x) * kBiasColumns + lane;
    float sum = 0.0f;
    if (column < GH) {
        for (int64_t row = group; row < N; row += kBiasRowGroups) sum += w.dg_rec[row * GH + column];
    }
    partial[group][lane] = sum;
    __syncthreads();
    if (group != 0 || column >= GH) return;
    float total = 0.0f;
    for (int g = 0; g < kBiasRowGroups; ++g) total += partial[g][lane];
    p.db[column] = total;
}

void launch_weight_gradients(const RnnBackwardParams<float>& p, const RnnCellShape& n, const Workspace& w,
                             cudaStream_t stream) {
    const int64_t DH = p.fwd.head_dim;
    const int64_t GDH = n.gates * DH;
    const dim3 grid(cuda_common::grid_extent_x((DH + kGemmTile - 1) / kGemmTile, "rnn_weight_gradient_kernel"),
                    cuda_common::grid_extent_yz((GDH + kGemmTile - 1) / kGemmTile, "rnn_weight_gradient_kernel",
                                                 "gate-row tiles, grid y"),
                    cuda_common::grid_extent_yz(p.fwd.heads, "rnn_weight_gradient_kernel", "heads, grid z"));
    HS_CUDA_LAUNCH(rnn_weight_gradient_kernel, grid, kGemmThreads, 0, stream)(p, n, w);
    HS_CUDA_CHECK_LAUNCH("rnn_weight_gradient_kernel launch");

    const int64_t GH = n.gates * p.fwd.hidden;
    const unsigned int bias_blocks =
        cuda_common::grid_extent_x((GH + kBiasColumns - 1) / kBiasColumns, "rnn_bias_gradient_kernel");
    HS_CUDA_LAUNCH(rnn_bias_gradient_kernel, bias_blocks, kBiasColumns * kBiasRowGroups, 0, stream)(p, n, w);
    HS_CUDA_CHECK_LAUNCH("rnn_bias_gradient_kernel launch");
}

void backward_per_step(const RnnBackwardParams<float>& p, const RnnCellShape& n, const Workspace& w,
                       cudaStream_t stream) {
    const int64_t BH = p.fwd.batch * p.fwd.hidden;
    const int elementwise_threads = 256;
    const unsigned int elementwise_blocks = cuda_common::grid_extent_x(
        (BH + elementwise_threads - 1) / elementwise_threads, "rnn_backward_step_init_kernel");
    HS_CUDA_LAUNCH(rnn_backward_step_init_kernel, elementwise_blocks, elementwise_threads, 0, stream)(p, n, w);
    HS_CUDA_CHECK_LAUNCH("rnn_backward_step_init_kernel launch");

    const int64_t tiles_per_head = (p.fwd.head_dim + kStepUnits - 1) / kStepUnits;
    const dim3 grid(cuda_common::grid_extent_x(p.fwd.heads * tiles_per_head, "rnn_backward_step_kernel"),
                    cuda_common::grid_extent_yz((p.fwd.batch + kStepRows - 1) / kStepRows, "rnn_backward_step_kernel",
                                                 "batch-row tiles, grid y"));
    const int64_t dg_stride = p.fwd.batch * n.gates * p.fwd.hidden;  // one processing index of dg_rec
    for (int64_t k = p.fwd.steps - 1; k >= 0; --k) {
        const float* dg_later = k + 1 < p.fwd.steps ? w.dg_rec + (k + 1) * dg_stride : nullptr;
        HS_CUDA_LAUNCH(rnn_backward_step_kernel, grid, kStepThreads, 0, stream)(p, n, w, k, dg_later, false);
        HS_CUDA_CHECK_LAUNCH("rnn_backward_step_kernel launch");
    }
    if (p.ds0 != nullptr) {
        const float* dg_first = p.fwd.steps > 0 ? w.dg_rec : nullptr;
        HS_CUDA_LAUNCH(rnn_backward_step_kernel, grid, kStepThreads, 0, stream)(p, n, w, -1, dg_first, true);
        HS_CUDA_CHECK_LAUNCH("rnn_backward_step_kernel (ds0) launch");
    }
}

}  // namespace

int64_t rnn_workspace_elements_cuda(RnnPass pass, RnnCell cell, int64_t steps, int64_t batch, int64_t hidden,
                                    int64_t heads) {
    if (pass == RnnPass::Forward) return cuda_rnn::forward_workspace_elements(cell, batch, hidden, heads);
    // The backward layout depends on H only; heads shape R, not the scratch.
    const RnnCellShape shape = rnn_cell_shape(cell);
    return steps * batch * (shape.gates + 1) * hidden + shape.states * batch * hidden;
}

void rnn_backward_cuda(const RnnBackwardParams<float>& p, void* stream_handle) {
    const RnnCellShape n = rnn_cell_shape(p.fwd.cell);
    const int64_t needed =
        rnn_workspace_elements_cuda(RnnPass::Backward, p.fwd.cell, p.fwd.steps, p.fwd.batch, p.fwd.hidden, p.fwd.heads);
    if (p.workspace_elements < needed || (needed > 0 && p.workspace == nullptr)) {
        throw_invalid("rnn backward on CUDA: workspace must hold at least " + std::to_string(needed) +
                      " float32 elements (hs_rnn_workspace_elements), got " + std::to_string(p.workspace_elements));
    }
    if (p.fwd.hidden == 0) return;  // dR, db and every other output are empty
    const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
    const Workspace w = split_workspace(p, n);

    if (p.fwd.batch > 0) {
        const size_t persistent_bytes = persistent_backward_shared_floats(n, p.fwd.head_dim) * sizeof(float);
        if (p.fwd.head_dim <= cuda_rnn::kPersistentMaxHeadDim &&
            persistent_bytes <= cuda_common::max_optin_shared_bytes()) {
            cuda_common::allow_dynamic_shared_memory(rnn_backward_persistent_kernel, persistent_bytes,
                                                     "rnn_backward_persistent_kernel");
            const int64_t row_tiles = (p.fwd.batch + cuda_rnn::kPersistentRows - 1) / cuda_rnn::kPersistentRows;
            const dim3 grid(cuda_common::grid_extent_x(p.fwd.heads, "rnn_backward_persistent_kernel"),
                            cuda_common::grid_extent_yz(row_tiles, "rnn_backward_persistent_kernel",
                                                         "batch-row tiles, grid y"));
            const int threads = cuda_rnn::round_up_to_warp(cuda_rnn::kPersistentRows * p.fwd.head_dim);
            HS_CUDA_LAUNCH(rnn_backward_persistent_kernel, grid, threads, persistent_bytes, stream)(p, n, w);
            HS_CUDA_CHECK_LAUNCH("rnn_backward_persistent_kernel launch");
        } else {
            backward_per_step(p, n, w, stream);
        }
    }
    // With Bt == 0 (or T == 0) the sums below run over no rows and write zeros, as the contract asks.
    launch_weight_gradients(p, n, w, stream);
}

}  // namespace hs
