// CUDA forward of the fused recurrence (float32): g_t = wx_t + R h_{t-1} + b and the cell's pointwise update.
// Contract: hybridseq.h "Fused recurrence" and ops/rnn.h; reference: the CPU twin native/src/cpu/rnn_cpu.cpp.
// Indexing, step order under lengths / reverse and the cell math are in rnn_common.cuh.
//
// Which path runs:
//  - persistent (DH <= kPersistentMaxHeadDim and the shared memory fits the device): one launch for the whole
//    sequence, grid (NH, ceil(Bt / kPersistentRows)). A CTA copies its head's R (G*DH x DH) and bias into shared
//    memory once, keeps h_{t-1} (double-buffered) and the other states of its rows in shared memory, and loops over
//    time inside the kernel. Heads are independent, so no grid-wide barrier is needed.
//  - per-step (any DH, e.g. dense H = 256): per step one launch of a tiled kernel, grid (NH * ceil(DH / kStepUnits),
//    ceil(Bt / kStepRows)); a CTA owns all G gates of kStepUnits units for kStepRows rows, computes R h_{t-1} with R
//    streamed from global memory / L2 in (G*kStepUnits x kStepChunk) tiles and does the pointwise update in place.
//    h ping-pongs between two buffers and the other states are carried between launches, all in the caller's
//    workspace (ops/rnn.h; nothing is allocated here). Its size (forward_workspace_elements) must not depend on the
//    GPU, so it is asked for whenever the persistent path might not fit (above kGuaranteedSharedBytes); a device with
//    more shared memory then still takes the persistent path and leaves the workspace untouched.
// allow_tf32 is accepted and ignored: both paths compute R h in full fp32 FMA.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

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

// The outputs of one processing index k for one (b, u), whose state after the step is `state`:
// a real step (k < length) writes y, states[pos + 1] and the cache; a padding step writes y = 0, the cache = 0 and
// into states[pos + 1] the frozen final state (forward order) or s0 (reverse: nothing processed yet at padding),
// read back from states[0], which the same thread (persistent kernel) or an earlier launch (per-step init) wrote.
__device__ inline void write_step_outputs(const RnnParams<float>& p, const RnnCellShape& n, int64_t pos, int64_t b,
                                          int64_t u, bool real_step, const float* state, const float* cache) {
    const int64_t Bt = p.batch;
    const int64_t H = p.hidden;
    p.y[(pos * Bt + b) * H + u] = real_step ? state[0] : 0.0f;
    if (p.states != nullptr) {
        const bool initial = !real_step && p.reverse;
        for (int s = 0; s < n.states; ++s) {
            const float value = initial ? p.states[(s * Bt + b) * H + u] : state[s];
            p.states[(((pos + 1) * n.states + s) * Bt + b) * H + u] = value;
        }
    }
    if (p.cache != nullptr) {
        const int64_t base = (pos * Bt + b) * n.cache_gates * H + u;
        for (int c = 0; c < n.cache_gates; ++c) p.cache[base + c * H] = real_step ? cache[c] : 0.0f;
    }
}

// Reads the initial state of (b, u) (zeros when s0 is null) and stores it into states[0].
__device__ inline void load_initial_state(const RnnParams<float>& p, const RnnCellShape& n, int64_t b, int64_t u,
                                          float* state) {
    for (int s = 0; s < kMaxStates; ++s) {
        state[s] = (s < n.states && p.s0 != nullptr) ? p.s0[(s * p.batch + b) * p.hidden + u] : 0.0f;
    }
    if (p.states != nullptr) {
        for (int s = 0; s < n.states; ++s) p.states[(s * p.batch + b) * p.hidden + u] = state[s];
    }
}

__device__ inline void store_last_state(const RnnParams<float>& p, const RnnCellShape& n, int64_t b, int64_t u,
                                        const float* state) {
    if (p.s_last == nullptr) return;
    for (int s = 0; s < n.states; ++s) p.s_last[(s * p.batch + b) * p.hidden + u] = state[s];
}

// ---- persistent path --------------------------------------------------------------------------------------------

// Dynamic shared memory of the persistent forward, in floats:
//   R (G*DH, DH + 1; the pad makes threads of consecutive units read different banks), bias (G, DH),
//   h (2, rows, DH) double-buffered, other states (S, rows, DH) (slot 0 unused: h lives in the h buffers).
size_t persistent_forward_shared_floats(const RnnCellShape& n, int64_t head_dim) {
    const size_t dh = static_cast<size_t>(head_dim);
    const size_t rows = cuda_rnn::kPersistentRows;
    return n.gates * dh * (dh + 1) + n.gates * dh + 2 * rows * dh + n.states * rows * dh;
}

// Grid (NH, ceil(Bt / kPersistentRows)); threads loop over the CTA's (row, unit) pairs.
__global__ void __launch_bounds__(cuda_rnn::kPersistentMaxThreads)
rnn_forward_persistent_kernel(RnnParams<float> p, RnnCellShape n) {
    HS_SHARED_DYNAMIC(float, shared);
    const int DH = static_cast<int>(p.head_dim);
    const int pitch = DH + 1;
    const int G = n.gates;
    const int rows = cuda_rnn::kPersistentRows;
    const int64_t Bt = p.batch;
    const int64_t H = p.hidden;
    const int64_t head = blockIdx.x;
    const int64_t first_row = static_cast<int64_t>(blockIdx.y) * rows;
    HS_SHARED_PTR(float) const R_s = shared;
    HS_SHARED_PTR(float) const bias_s = R_s + G * DH * pitch;
    HS_SHARED_PTR(float) const h_s = bias_s + G * DH;
    HS_SHARED_PTR(float) const state_s = h_s + 2 * rows * DH;

    const float* R_head = p.R + head * G * DH * DH;
    for (int i = threadIdx.x; i < G * DH * DH; i += blockDim.x) R_s[(i / DH) * pitch + i % DH] = R_head[i];
    for (int i = threadIdx.x; i < G * DH; i += blockDim.x) bias_s[i] = p.b[(i / DH) * H + head * DH + i % DH];

    const int pairs = rows * DH;
    for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
        const int row = pair / DH;
        const int j = pair % DH;
        const int64_t b = first_row + row;
        float state[kMaxStates];
        if (b < Bt) {
            load_initial_state(p, n, b, head * DH + j, state);
        } else {
            for (int s = 0; s < kMaxStates; ++s) state[s] = 0.0f;
        }
        h_s[pair] = state[0];
        for (int s = 1; s < n.states; ++s) state_s[s * pairs + pair] = state[s];
    }
    __syncthreads();

    for (int64_t k = 0; k < p.steps; ++k) {
        HS_SHARED_PTR(const float) const h_in = h_s + (k & 1) * pairs;
        HS_SHARED_PTR(float) const h_out = h_s + ((k + 1) & 1) * pairs;
        for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
            const int row = pair / DH;
            const int j = pair % DH;
            const int64_t b = first_row + row;
            if (b >= Bt) continue;
            const int64_t u = head * DH + j;
            const int64_t length = cuda_common::clamped_length(p.lengths, b, p.steps);
            const int64_t pos = cuda_rnn::step_position(k, length, p.reverse);
            float state[kMaxStates];
            state[0] = h_in[pair];
            for (int s = 1; s < n.states; ++s) state[s] = state_s[s * pairs + pair];
            float cache[kMaxGates] = {0.0f, 0.0f, 0.0f, 0.0f};
            const bool real_step = k < length;
            if (real_step) {
                float recb[kMaxGates];
                float wx[kMaxGates];
#pragma unroll
                for (int q = 0; q < kMaxGates; ++q) {
                    recb[q] = q < G ? bias_s[q * DH + j] : 0.0f;
                    wx[q] = q < G ? p.wx[(pos * Bt + b) * G * H + q * H + u] : 0.0f;
                }
                HS_SHARED_PTR(const float) const h_row = h_in + row * DH;
                for (int l = 0; l < DH; ++l) {
                    const float h = h_row[l];
#pragma unroll
                    for (int q = 0; q < kMaxGates; ++q) {
                        if (q < G) recb[q] += R_s[(q * DH + j) * pitch + l] * h;
                    }
                }
                cuda_rnn::cell_forward(p.cell, wx, recb, state, cache);
                for (int s = 1; s < n.states; ++s) state_s[s * pairs + pair] = state[s];
            }
            h_out[pair] = state[0];
            write_step_outputs(p, n, pos, b, u, real_step, state, cache);
        }
        __syncthreads();  // h_out complete before the next step reads it; h_in free to be overwritten
    }

    HS_SHARED_PTR(const float) const h_final = h_s + (p.steps & 1) * pairs;
    for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
        const int64_t b = first_row + pair / DH;
        if (b >= Bt) continue;
        float state[kMaxStates];
        state[0] = h_final[pair];
        for (int s = 1; s < n.states; ++s) state[s] = state_s[s * pairs + pair];
        store_last_state(p, n, b, head * DH + pair % DH, state);
    }
}

// ---- per-step path ----------------------------------------------------------------------------------------------

// The scratch of the per-step path, inside the caller's workspace of (S + 1) * Bt*H floats: h ping-pong (2, Bt, H)
// followed by the carried states 1..S-1 (Bt, H) each. `carry` points one (Bt, H) slab before the first of them, so
// that state s sits at carry + s*Bt*H as in every other state tensor (slot 0, the h, is never touched through it).
struct StepScratch {
    float* h[2];
    float* carry;
};

int64_t step_scratch_elements(const RnnCellShape& n, int64_t batch, int64_t hidden) {
    return (n.states + 1) * batch * hidden;
}

StepScratch split_step_scratch(float* workspace, int64_t batch, int64_t hidden) {
    const int64_t BH = batch * hidden;
    return StepScratch{{workspace, workspace + BH}, workspace + BH};
}

// One thread per (b, u): s0 (or zeros) into h[0], the carry and states[0].
__global__ void rnn_forward_step_init_kernel(RnnParams<float> p, RnnCellShape n, StepScratch scratch) {
    const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index >= p.batch * p.hidden) return;
    const int64_t b = index / p.hidden;
    const int64_t u = index % p.hidden;
    float state[kMaxStates];
    load_initial_state(p, n, b, u, state);
    scratch.h[0][index] = state[0];
    for (int s = 1; s < n.states; ++s) scratch.carry[s * p.batch * p.hidden + index] = state[s];
}

// Processing index k. Grid (NH * ceil(DH / kStepUnits), ceil(Bt / kStepRows)), kStepThreads threads: thread
// (row = tid / kStepUnits, unit jj = tid % kStepUnits) owns (b, u). Reads h_{t-1} from h_in, writes h_t to h_out.
__global__ void __launch_bounds__(kStepThreads)
rnn_forward_step_kernel(RnnParams<float> p, RnnCellShape n, int64_t k, const float* h_in, float* h_out, float* carry) {
    HS_SHARED_ARRAY_2D(float, R_tile, kMaxGates * kStepUnits, kStepChunk + 1);
    HS_SHARED_ARRAY_2D(float, h_tile, kStepRows, kStepChunk + 1);
    const int64_t DH = p.head_dim;
    const int64_t H = p.hidden;
    const int64_t Bt = p.batch;
    const int G = n.gates;
    const int64_t tiles_per_head = (DH + kStepUnits - 1) / kStepUnits;
    const int64_t head = blockIdx.x / tiles_per_head;
    const int64_t first_unit = (blockIdx.x % tiles_per_head) * kStepUnits;
    const int64_t first_row = static_cast<int64_t>(blockIdx.y) * kStepRows;
    const int jj = threadIdx.x % kStepUnits;
    const int row = threadIdx.x / kStepUnits;
    const int64_t j = first_unit + jj;
    const int64_t b = first_row + row;

    float recb[kMaxGates] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t l0 = 0; l0 < DH; l0 += kStepChunk) {
        for (int i = threadIdx.x; i < G * kStepUnits * kStepChunk; i += blockDim.x) {
            const int tile_row = i / kStepChunk;
            const int c = i % kStepChunk;
            const int q = tile_row / kStepUnits;
            const int64_t unit = first_unit + tile_row % kStepUnits;
            const int64_t l = l0 + c;
            R_tile[tile_row][c] = (unit < DH && l < DH) ? p.R[((head * G + q) * DH + unit) * DH + l] : 0.0f;
        }
        for (int i = threadIdx.x; i < kStepRows * kStepChunk; i += blockDim.x) {
            const int tile_row = i / kStepChunk;
            const int c = i % kStepChunk;
            const int64_t batch_row = first_row + tile_row;
            const int64_t l = l0 + c;
            h_tile[tile_row][c] = (batch_row < Bt && l < DH) ? h_in[batch_row * H + head * DH + l] : 0.0f;
        }
        __syncthreads();
        for (int c = 0; c < kStepChunk; ++c) {
            const float h = h_tile[row][c];
#pragma unroll
            for (int q = 0; q < kMaxGates; ++q) {
                if (q < G) recb[q] += R_tile[q * kStepUnits + jj][c] * h;
            }
        }
        __syncthreads();  // the tiles are refilled by the next chunk
    }
    if (j >= DH || b >= Bt) return;

    const int64_t u = head * DH + j;
    const int64_t BH = Bt * H;
    const int64_t length = cuda_common::clamped_length(p.lengths, b, p.steps);
    const int64_t pos = cuda_rnn::step_position(k, length, p.reverse);
    float state[kMaxStates];
    state[0] = h_in[b * H + u];
    for (int s = 1; s < n.states; ++s) state[s] = carry[s * BH + b * H + u];
    float cache[kMaxGates] = {0.0f, 0.0f, 0.0f, 0.0f};
    const bool real_step = k < length;
    if (real_step) {
        float wx[kMaxGates];
#pragma unroll
        for (int q = 0; q < kMaxGates; ++q) {
            if (q < G) recb[q] += p.b[q * H + u];
            wx[q] = q < G ? p.wx[(pos * Bt + b) * G * H + q * H + u] : 0.0f;
        }
        cuda_rnn::cell_forward(p.cell, wx, recb, state, cache);
        for (int s = 1; s < n.states; ++s) carry[s * BH + b * H + u] = state[s];
    }
    h_out[b * H + u] = state[0];
    write_step_outputs(p, n, pos, b, u, real_step, state, cache);
}

// One thread per (b, u): the final state into s_last.
__global__ void rnn_forward_step_finish_kernel(RnnParams<float> p, RnnCellShape n, const float* h_final,
                                               const float* carry) {
    const int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (index >= p.batch * p.hidden) return;
    float state[kMaxStates];
    state[0] = h_final[index];
    for (int s = 1; s < n.states; ++s) state[s] = carry[s * p.batch * p.hidden + index];
    store_last_state(p, n, index / p.hidden, index % p.hidden, state);
}

// Runs the per-step path in p.workspace, which the shim checked against forward_workspace_elements.
void forward_per_step(const RnnParams<float>& p, const RnnCellShape& n, cudaStream_t stream) {
    const int64_t BH = p.batch * p.hidden;
    const int64_t needed = step_scratch_elements(n, p.batch, p.hidden);
    if (p.workspace == nullptr || p.workspace_elements < needed) {
        throw_invalid("rnn forward on CUDA: argument 'workspace' must hold at least " + std::to_string(needed) +
                      " float32 elements for the per-step path (hs_rnn_workspace_elements with backward = 0), got " +
                      std::to_string(p.workspace == nullptr ? 0 : p.workspace_elements));
    }
    const StepScratch scratch = split_step_scratch(p.workspace, p.batch, p.hidden);
    const int elementwise_threads = 256;
    const unsigned int elementwise_blocks =
        cuda_common::grid_extent_x((BH + elementwise_threads - 1) / elementwise_threads,
                                   "rnn_forward_step_init_kernel");
    HS_CUDA_LAUNCH(rnn_forward_step_init_kernel, elementwise_blocks, elementwise_threads, 0, stream)(p, n, scratch);
    HS_CUDA_CHECK_LAUNCH("rnn_forward_step_init_kernel launch");

    const int64_t tiles_per_head = (p.head_dim + kStepUnits - 1) / kStepUnits;
    const dim3 grid(cuda_common::grid_extent_x(p.heads * tiles_per_head, "rnn_forward_step_kernel"),
                    cuda_common::grid_extent_yz((p.batch + kStepRows - 1) / kStepRows, "rnn_forward_step_kernel",
                                                 "batch-row tiles, grid y"));
    for (int64_t k = 0; k < p.steps; ++k) {
        HS_CUDA_LAUNCH(rnn_forward_step_kernel, grid, kStepThreads, 0, stream)(
            p, n, k, scratch.h[k & 1], scratch.h[(k + 1) & 1], scratch.carry);
        HS_CUDA_CHECK_LAUNCH("rnn_forward_step_kernel launch");
    }
    HS_CUDA_LAUNCH(rnn_forward_step_finish_kernel, elementwise_blocks, elementwise_threads, 0, stream)(
        p, n, scratch.h[p.steps & 1], scratch.carry);
    HS_CUDA_CHECK_LAUNCH("rnn_forward_step_finish_kernel launch");
}

}  // namespace

namespace cuda_rnn {

int64_t forward_workspace_elements(RnnCell cell, int64_t batch, int64_t hidden, int64_t heads) {
    const RnnCellShape n = rnn_cell_shape(cell);
    const int64_t head_dim = hidden / heads;
    const bool persistent_surely_fits =
        head_dim <= kPersistentMaxHeadDim &&
        persistent_forward_shared_floats(n, head_dim) * sizeof(float) <= cuda_common::kGuaranteedSharedBytes;
    return persistent_surely_fits ? 0 : step_scratch_elements(n, batch, hidden);
}

}  // namespace cuda_rnn

void rnn_forward_cuda(const RnnParams<float>& p, void* stream_handle) {
    const RnnCellShape n = rnn_cell_shape(p.cell);
    if (p.batch == 0 || p.hidden == 0) return;  // no element to write, and an empty grid is a launch error
    const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);

    const size_t persistent_bytes = persistent_forward_shared_floats(n, p.head_dim) * sizeof(float);
    if (p.head_dim <= cuda_rnn::kPersistentMaxHeadDim &&
        persistent_bytes <= cuda_common::max_optin_shared_bytes()) {
        cuda_common::allow_dynamic_shared_memory(rnn_forward_persistent_kernel, persistent_bytes,
                                                 "rnn_forward_persistent_kernel");
        const int64_t row_tiles = (p.batch + cuda_rnn::kPersistentRows - 1) / cuda_rnn::kPersistentRows;
        const dim3 grid(cuda_common::grid_extent_x(p.heads, "rnn_forward_persistent_kernel"),
                        cuda_common::grid_extent_yz(row_tiles, "rnn_forward_persistent_kernel",
                                                    "batch-row tiles, grid y"));
        const int threads = cuda_rnn::round_up_to_warp(cuda_rnn::kPersistentRows * p.head_dim);
        HS_CUDA_LAUNCH(rnn_forward_persistent_kernel, grid, threads, persistent_bytes, stream)(p, n);
        HS_CUDA_CHECK_LAUNCH("rnn_forward_persistent_kernel launch");
        return;
    }
    forward_per_step(p, n, stream);
}

}  // namespace hs
