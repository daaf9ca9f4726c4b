// Thread layout and small device helpers shared by the CUDA selective scan forward and backward kernels.
//
// Mapping (both kernels): one thread block serves one batch b, one group g and a run of channels_per_block
// consecutive channels of that group (so every channel of a block reads the same time-varying B / C rows, which are
// staged once in shared memory and reused by all its channels). Inside a block, lanes_per_channel consecutive
// threads serve one channel d; each of them owns states_per_lane states n = j * lanes_per_channel + lane_in_channel
// (j < states_per_lane) and keeps their h in registers. Time runs sequentially inside the block; the per-step sum
// over n is a butterfly shuffle over the lanes of the channel (they sit in one warp because lanes_per_channel
// divides 32).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_common.cuh"
#include "hybridseq.h"
#include "ops/selective_scan.h"

namespace hs {
namespace cuda_scan {

// The register arrays of a thread hold at most this many states; with 32 lanes that caps N at 256.
constexpr int kMaxStatesPerLane = 8;
constexpr int kMaxDstate = 32 * kMaxStatesPerLane;
constexpr int kCheckpointChunk = HS_SELECTIVE_SCAN_CHUNK;
constexpr float kLog2e = 1.4426950408889634f;

struct ScanLayout {
    int lanes_per_channel = 1;   // power of two in [1, 32]
    int states_per_lane = 1;     // ceil(N / lanes_per_channel), <= kMaxStatesPerLane
    int threads = 32;            // multiple of 32
    int channels_per_block = 1;  // threads / lanes_per_channel
    int tile = 16;               // time steps staged in shared memory at once; divides kCheckpointChunk
    int64_t blocks_per_group = 1;  // ceil((Dm / G) / channels_per_block)
    int64_t blocks = 0;            // Bt * G * blocks_per_group
};

inline int next_power_of_two(int value) {
    int result = 1;
    while (result < value) result *= 2;
    return result;
}

// Four states per lane where N allows it: that amortises the shuffle reduction over n (log2(lanes) shuffles per
// step per lane) across four exp2/FMA chains, which also gives each thread independent work to hide latency.
inline int lanes_per_channel_for(int64_t dstate) {
    const int wanted = static_cast<int>((dstate + 3) / 4);
    return next_power_of_two(wanted < 1 ? 1 : (wanted > 32 ? 32 : wanted));
}

inline void check_dstate_supported(int64_t dstate) {
    if (dstate < 1 || dstate > kMaxDstate) {
        throw_unsupported("selective scan on CUDA: dstate (N) must be in [1, " + std::to_string(kMaxDstate) +
                          "], got " + std::to_string(dstate));
    }
}

// warps_for(states_per_lane, lanes_per_channel) picks the warps per block; the two kernels differ in how much shared
// memory a state slot costs, so each passes its own rule.
template <typename WarpRule>
ScanLayout make_layout(int64_t batch, int64_t dim, int64_t groups, int64_t dstate, int tile, WarpRule warps_for) {
    check_dstate_supported(dstate);
    ScanLayout layout;
    layout.lanes_per_channel = lanes_per_channel_for(dstate);
    layout.states_per_lane = static_cast<int>((dstate + layout.lanes_per_channel - 1) / layout.lanes_per_channel);
    const int warps = warps_for(layout.states_per_lane, layout.lanes_per_channel);
    layout.threads = 32 * warps;
    layout.channels_per_block = layout.threads / layout.lanes_per_channel;
    layout.tile = tile;
    const int64_t channels_per_group = dim / groups;
    layout.blocks_per_group = (channels_per_group + layout.channels_per_block - 1) / layout.channels_per_block;
    layout.blocks = batch * groups * layout.blocks_per_group;
    return layout;
}

// B / C are grouped only when time-varying; constant (Dm, N) B / C are per channel, so one group covers all.
inline int64_t effective_groups(int64_t groups, bool b_varying, bool c_varying) {
    return (b_varying || c_varying) ? (groups < 1 ? 1 : groups) : 1;
}

// Where a thread block and a thread sit in (b, g, channel, state).
struct BlockPosition {
    int64_t batch_index;
    int64_t group_index;
    int64_t block_in_group;  // which run of channels_per_block channels inside the group
    int64_t first_channel;   // global d of the block's channel 0
    int active_channels;     // channels of this block that exist (the last block of a group may be partial)
    int channel;             // this thread's channel inside the block
    int lane_in_channel;
    bool channel_active;
};

__device__ inline BlockPosition block_position(const ScanLayout& layout, int64_t dim, int64_t groups) {
    BlockPosition pos;
    const int64_t block = blockIdx.x;
    const int64_t block_in_group = block % layout.blocks_per_group;
    const int64_t batch_group = block / layout.blocks_per_group;
    pos.group_index = batch_group % groups;
    pos.batch_index = batch_group / groups;
    const int64_t channels_per_group = dim / groups;
    pos.block_in_group = block_in_group;
    const int64_t first_in_group = block_in_group * layout.channels_per_block;
    pos.first_channel = pos.group_index * channels_per_group + first_in_group;
    const int64_t remaining = channels_per_group - first_in_group;
    pos.active_channels = static_cast<int>(remaining < layout.channels_per_block ? remaining
                                                                                 : layout.channels_per_block);
    pos.channel = static_cast<int>(threadIdx.x) / layout.lanes_per_channel;
    pos.lane_in_channel = static_cast<int>(threadIdx.x) % layout.lanes_per_channel;
    pos.channel_active = pos.channel < pos.active_channels;
    return pos;
}

// Stages dt = softplus(delta + delta_bias) (or delta + delta_bias) and u for steps [t0, t0 + steps) of the block's
// channels into rows of `pitch` floats: s_dt / s_u (channels_per_block, pitch). Channels past the group's end and
// steps past `steps` get 0, so that their (dead) lanes compute zeros. first_row = b * Dm + first channel.
__device__ inline void stage_dt_u(const SelectiveScanParams<float>& p, const BlockPosition& pos,
                                  const ScanLayout& layout, int64_t first_row, int64_t t0, int steps,
                                  HS_SHARED_PTR(float) s_dt, HS_SHARED_PTR(float) s_u) {
    const int pitch = layout.tile + 1;
    for (int i = threadIdx.x; i < layout.channels_per_block * layout.tile; i += blockDim.x) {
        const int c = i / layout.tile;
        const int s = i % layout.tile;
        float dt = 0.0f;
        float u = 0.0f;
        if (c < pos.active_channels && s < steps) {
            const int64_t index = (first_row + c) * p.seqlen + t0 + s;
            const float x = p.delta[index] + (p.delta_bias != nullptr ? p.delta_bias[pos.first_channel + c] : 0.0f);
            dt = p.delta_softplus ? cuda_common::softplus(x) : x;
            u = p.u[index];
        }
        s_dt[c * pitch + s] = dt;
        s_u[c * pitch + s] = u;
    }
}

// Stages the (N, tile) slab of a time-varying B or C, steps [t0, t0 + steps), into s_slab (N, tile + 1); steps past
// `steps` get 0. varying_row = (b * G + g) * N, so that row n of the slab is src[(varying_row + n) * L + t].
__device__ inline void stage_varying_slab(const float* src, int64_t varying_row, int dstate, int64_t seqlen, int64_t t0,
                                          int steps, int tile, HS_SHARED_PTR(float) s_slab) {
    const int pitch = tile + 1;
    for (int i = threadIdx.x; i < dstate * tile; i += blockDim.x) {
        const int n = i / tile;
        const int s = i % tile;
        s_slab[n * pitch + s] = s < steps ? src[(varying_row + n) * seqlen + t0 + s] : 0.0f;
    }
}

}  // namespace cuda_scan
}  // namespace hs
