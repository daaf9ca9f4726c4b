// CUDA forward of the selective scan (float32). Same contract as the CPU twin (native/src/cpu/selective_scan_cpu.cpp),
// see hybridseq.h and ops/selective_scan.h; the thread layout is described in selective_scan_layout.cuh.
//
// Per block and per time tile of layout.tile steps:
//   1. stage dt = softplus(delta + delta_bias) (or delta + delta_bias) and u of the block's channels, and the
//      (N, tile) slabs of time-varying B / C of the block's group, in shared memory with coalesced loads;
//   2. every thread advances its states through the tile (exp2 with A pre-scaled by log2 e), the lanes of a channel
//      sum C h over n by shuffles, and lane 0 keeps y[t] in shared memory;
//   3. the block writes out = (y + D u) * silu(z) coalesced.
// The state before every HS_SELECTIVE_SCAN_CHUNK-th step goes to checkpoints; past lengths[b] the state is frozen,
// so later checkpoints and h_last hold the state at the length, and out is 0 there.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda/cuda_check.h"
#include "cuda/selective_scan_layout.cuh"
#include "ops/selective_scan.h"

namespace hs {
namespace {

using cuda_scan::kCheckpointChunk;
using cuda_scan::kLog2e;
using cuda_scan::kMaxStatesPerLane;
using cuda_scan::ScanLayout;

constexpr int kForwardMaxThreads = 128;

// Shared memory of the forward, in floats, each row padded to tile + 1 so that lanes reading the same step of
// different channels (or different states) hit different banks:
//   dt, u, y: (channels_per_block, tile + 1) each;  B, C when time-varying: (N, tile + 1) each.
size_t forward_shared_floats(const ScanLayout& layout, int64_t dstate, bool b_varying, bool c_varying) {
    const size_t pitch = static_cast<size_t>(layout.tile) + 1;
    return 3 * layout.channels_per_block * pitch +
           (static_cast<size_t>(b_varying) + static_cast<size_t>(c_varying)) * static_cast<size_t>(dstate) * pitch;
}

ScanLayout forward_layout(const SelectiveScanParams<float>& p, int64_t groups) {
    // A 32-step tile keeps the B / C slabs of N <= 128 small; N > 128 uses 16 steps to stay under 48 KiB.
    const int tile = p.dstate > 128 ? 16 : 32;
    return cuda_scan::make_layout(p.batch, p.dim, groups, p.dstate, tile, [](int /*states_per_lane*/, int lanes) {
        // At most 64 channels per block bound the per-channel staging rows.
        return std::min(kForwardMaxThreads / 32, 2 * lanes);
    });
}

// One block per (b, g, run of channels); layout.threads threads; dynamic shared memory forward_shared_floats().
// groups is the effective group count (1 unless B or C is time-varying).
__global__ void __launch_bounds__(kForwardMaxThreads)
selective_scan_forward_kernel(SelectiveScanParams<float> p, ScanLayout layout, int64_t groups) {
    HS_SHARED_DYNAMIC(float, shared);
    const int pitch = layout.tile + 1;
    const int channels_per_block = layout.channels_per_block;
    const int lanes = layout.lanes_per_channel;
    const int states_per_lane = layout.states_per_lane;
    const int dstate = static_cast<int>(p.dstate);
    const int64_t seqlen = p.seqlen;
    HS_SHARED_PTR(float) const s_dt = shared;
    HS_SHARED_PTR(float) const s_u = s_dt + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_y = s_u + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_B = s_y + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_C = s_B + (p.b_varying ? dstate * pitch : 0);

    const cuda_scan::BlockPosition pos = cuda_scan::block_position(layout, p.dim, groups);
    const int64_t b = pos.batch_index;
    const int64_t d = pos.first_channel + pos.channel;  // meaningful only when pos.channel_active
    const int64_t row = b * p.dim + d;                   // (b, d) row of u / delta / z / out / h0 / h_last
    const int64_t first_row = b * p.dim + pos.first_channel;
    const int64_t varying_row = (b * groups + pos.group_index) * dstate;  // (b, g, 0) row of time-varying B / C
    const int64_t length = cuda_common::clamped_length(p.lengths, b, seqlen);
    const int64_t num_chunks = seqlen > 0 ? (seqlen + kCheckpointChunk - 1) / kCheckpointChunk : 1;

    // Per-thread state: slot j holds state n = j * lanes + lane_in_channel. Dead slots (n >= N, or a channel past
    // the group's end) keep A = B = C = h = 0, so they compute harmless zeros and never touch memory.
    float h[kMaxStatesPerLane];
    float a_log2[kMaxStatesPerLane];
    float b_const[kMaxStatesPerLane];
    float c_const[kMaxStatesPerLane];
#pragma unroll
    for (int j = 0; j < kMaxStatesPerLane; ++j) {
        const int n = j * lanes + pos.lane_in_channel;
        const bool live = pos.channel_active && j < states_per_lane && n < dstate;
        a_log2[j] = live ? p.A[d * dstate + n] * kLog2e : 0.0f;
        h[j] = (live && p.h0 != nullptr) ? p.h0[row * dstate + n] : 0.0f;
        b_const[j] = (live && !p.b_varying) ? p.B[d * dstate + n] : 0.0f;
        c_const[j] = (live && !p.c_varying) ? p.C[d * dstate + n] : 0.0f;
    }

    auto write_state = [&](float* dst) {  // dst points at state 0 of this thread's (b, d) row
#pragma unroll
        for (int j = 0; j < kMaxStatesPerLane; ++j) {
            const int n = j * lanes + pos.lane_in_channel;
            if (pos.channel_active && j < states_per_lane && n < dstate) dst[n] = h[j];
        }
    };

    const int tile_items = channels_per_block * layout.tile;
    for (int64_t t0 = 0; t0 < length; t0 += layout.tile) {
        const int steps = static_cast<int>(min(static_cast<int64_t>(layout.tile), length - t0));
        if (p.checkpoints != nullptr && t0 % kCheckpointChunk == 0) {
            write_state(p.checkpoints + (row * num_chunks + t0 / kCheckpointChunk) * dstate);
        }
        __syncthreads();  // the previous tile's output phase has finished reading s_u / s_y

        cuda_scan::stage_dt_u(p, pos, layout, first_row, t0, steps, s_dt, s_u);
        if (p.b_varying) cuda_scan::stage_varying_slab(p.B, varying_row, dstate, seqlen, t0, steps, layout.tile, s_B);
        if (p.c_varying) cuda_scan::stage_varying_slab(p.C, varying_row, dstate, seqlen, t0, steps, layout.tile, s_C);
        __syncthreads();

        // steps is uniform over the block, so every lane of a warp reaches the shuffles together.
        for (int s = 0; s < steps; ++s) {
            const float dt = s_dt[pos.channel * pitch + s];
            const float dt_u = dt * s_u[pos.channel * pitch + s];
            float partial = 0.0f;
#pragma unroll
            for (int j = 0; j < kMaxStatesPerLane; ++j) {
                if (j < states_per_lane) {
                    const int n = j * lanes + pos.lane_in_channel;
                    const bool in_range = n < dstate;
                    const float b_n = p.b_varying ? (in_range ? s_B[n * pitch + s] : 0.0f) : b_const[j];
                    const float c_n = p.c_varying ? (in_range ? s_C[n * pitch + s] : 0.0f) : c_const[j];
                    h[j] = exp2f(dt * a_log2[j]) * h[j] + dt_u * b_n;
                    partial += c_n * h[j];
                }
            }
            const float y = cuda_common::sum_over_lane_group(partial, lanes);
            if (pos.lane_in_channel == 0) s_y[pos.channel * pitch + s] = y;
        }
        __syncthreads();

        for (int i = threadIdx.x; i < tile_items; i += blockDim.x) {
            const int c = i / layout.tile;
            const int s = i % layout.tile;
            if (c < pos.active_channels && s < steps) {
                const int64_t index = (first_row + c) * seqlen + t0 + s;
                float y = s_y[c * pitch + s];
                if (p.D != nullptr) y += p.D[pos.first_channel + c] * s_u[c * pitch + s];
                if (p.z != nullptr) y *= cuda_common::silu(p.z[index]);
                p.out[index] = y;
            }
        }
    }

    // Right padding: out is 0 past the length; the frozen state fills the remaining checkpoints and h_last.
    const int64_t padding = seqlen - length;
    if (padding > 0) {
        const int64_t padded_items = pos.active_channels * padding;
        for (int64_t i = threadIdx.x; i < padded_items; i += blockDim.x) {
            const int64_t c = i / padding;
            p.out[(first_row + c) * seqlen + length + i % padding] = 0.0f;
        }
    }
    if (p.checkpoints != nullptr) {
        for (int64_t k = (length + kCheckpointChunk - 1) / kCheckpointChunk; k < num_chunks; ++k) {
            write_state(p.checkpoints + (row * num_chunks + k) * dstate);
        }
    }
    if (p.h_last != nullptr) write_state(p.h_last + row * dstate);
}

}  // namespace

void selective_scan_forward_cuda(const SelectiveScanParams<float>& p, void* stream) {
    const int64_t groups = cuda_scan::effective_groups(p.groups, p.b_varying, p.c_varying);
    const ScanLayout layout = forward_layout(p, groups);
    if (layout.blocks == 0) return;  // Bt == 0 or Dm == 0: nothing to compute, and a 0-block launch is an error
    const size_t shared_bytes = forward_shared_floats(layout, p.dstate, p.b_varying, p.c_varying) * sizeof(float);
    cuda_common::allow_dynamic_shared_memory(selective_scan_forward_kernel, shared_bytes,
                                             "selective_scan_forward_kernel");
    const unsigned int blocks = cuda_common::grid_extent_x(layout.blocks, "selective_scan_forward_kernel");
    HS_CUDA_LAUNCH(selective_scan_forward_kernel, blocks, layout.threads, shared_bytes,
                   static_cast<cudaStream_t>(stream))(p, layout, groups);
    HS_CUDA_CHECK_LAUNCH("selective_scan_forward_kernel launch");
}

}  // namespace hs
