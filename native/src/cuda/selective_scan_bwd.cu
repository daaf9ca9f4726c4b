// CUDA backward of the selective scan (float32). Same contract and formulas as the CPU twin
// (native/src/cpu/selective_scan_cpu.cpp); thread layout as in selective_scan_layout.cuh.
//
// Per block (b, g, run of channels), chunks of HS_SELECTIVE_SCAN_CHUNK steps are walked from the last one that
// holds valid steps (t < lengths[b]) to the first. Per chunk:
//   pass 1: from the forward's checkpoint, run the chunk forward and keep the state at the start of every tile of
//           kTile steps in shared memory (s_tile_start);
//   pass 2: walk the tiles backwards; recompute the tile's states h[t-1] into shared memory (s_history), then run
//           the reverse recurrence dh[t] = C[t] g[t] + a[t+1] dh[t+1] in registers.
// So every step's exp2 is evaluated three times (pass 1, recompute, reverse); memory stays O(tile) per block.
//
// Per step and state (dt = softplus(delta + bias) or delta + bias, a = exp(dt A), g = dout * silu(z) or dout):
//   dC[t] += g h[t];  dB[t] += dh dt u;  du += dh dt B (+ D g);  ddt += dh (B u + A a h[t-1]);  dA += dh dt a h[t-1];
//   dD += g u;  dz = dout y silu'(z) with y including D u;  ddelta = ddt * sigmoid(delta + bias) under softplus;
//   ddelta_bias += ddelta;  dh0 = a[0] dh[0].
//
// Reductions over channels and batch (dA, dD, ddelta_bias; constant dB / dC over batch; time-varying dB / dC over
// the channels of a group): with deterministic == false they are float atomicAdds into zeroed outputs; with
// deterministic == true every block writes its own partial into the workspace (time-varying dB / dC are first
// summed over the block's channels in a fixed order) and sum_partials_kernel adds the partials in a fixed order.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "cuda/cuda_check.h"
#include "cuda/selective_scan_layout.cuh"
#include "ops/selective_scan.h"

namespace hs {
namespace {

using cuda_scan::kCheckpointChunk;
using cuda_scan::kLog2e;
using cuda_scan::kMaxStatesPerLane;
using cuda_scan::ScanLayout;

constexpr int kTile = 16;  // steps per tile; also the width of the per-channel shuffle sums in the output phase
constexpr int kTilesPerChunk = kCheckpointChunk / kTile;
constexpr int kBackwardMaxThreads = 256;
static_assert(kCheckpointChunk % kTile == 0, "a chunk must hold whole tiles");

// At most 256 state slots (threads * states_per_lane) per block bound s_tile_start and s_history to 33 * 256 floats;
// at most 32 channels per block bound the per-channel rows.
ScanLayout backward_layout(int64_t batch, int64_t dim, int64_t groups, int64_t dstate) {
    return cuda_scan::make_layout(batch, dim, groups, dstate, kTile, [](int states_per_lane, int lanes) {
        const int by_slots = std::max(1, 8 / states_per_lane);
        return std::max(1, std::min(by_slots, lanes));
    });
}

// Shared memory of the backward, in floats (slots = threads * states_per_lane, pitch = kTile + 1):
//   s_tile_start  (kTilesPerChunk, slots)        state at the start of each tile of the chunk
//   s_history     (kTile + 1, slots + 1)         h[t0 + s - 1] for s = 0..kTile (row kTile = state after the tile);
//                                                reused for the time-varying dB contributions of the tile
//   s_dt, s_u, s_g, s_z, s_y  (channels_per_block, pitch)   s_z / s_y are reused for ddt / du sums over n
//   s_dD, s_ddelta_bias       (channels_per_block)
//   s_B, s_C      (N, pitch) each, when time-varying
size_t backward_shared_floats(const ScanLayout& layout, int64_t dstate, bool b_varying, bool c_varying) {
    const size_t slots = static_cast<size_t>(layout.threads) * layout.states_per_lane;
    const size_t pitch = kTile + 1;
    const size_t channels = static_cast<size_t>(layout.channels_per_block);
    return kTilesPerChunk * slots + (kTile + 1) * (slots + 1) + 5 * channels * pitch + 2 * channels +
           (static_cast<size_t>(b_varying) + static_cast<size_t>(c_varying)) * static_cast<size_t>(dstate) * pitch;
}

// Deterministic mode: where each block writes its partial sums (device memory inside the caller's workspace).
// Null in the atomic mode.
struct PartialSums {
    float* dA = nullptr;           // (Bt, Dm, N)
    float* dD = nullptr;           // (Bt, Dm)
    float* ddelta_bias = nullptr;  // (Bt, Dm)
    float* dB = nullptr;           // (Bt, Dm, N) constant B, or (Bt, G, blocks_per_group, N, L) time-varying B
    float* dC = nullptr;           // as dB, for C
};

struct WorkspacePlan {
    int64_t dA = 0, dD = 0, ddelta_bias = 0, dB = 0, dC = 0;  // element counts
    int64_t total() const { return dA + dD + ddelta_bias + dB + dC; }
};

// The time-varying partials are (Bt, G, ceil((Dm/G) / channels_per_block), N, L): channels_per_block (32 for N <= 4,
// 16 for N = 16, 4 for N = 64, 1 for N = 256) times smaller than a per-channel (Bt, Dm, N, L) buffer, but still
// O(L) per block: at B4 Dm1536 N16 L1024 G1 that is 4 * 96 * 16 * 1024 floats = 25 MB for each of dB and dC.
WorkspacePlan plan_workspace(int64_t batch, int64_t dim, int64_t groups, int64_t dstate, int64_t seqlen,
                             bool b_varying, bool c_varying) {
    const int64_t effective = cuda_scan::effective_groups(groups, b_varying, c_varying);
    const ScanLayout layout = backward_layout(batch, dim, effective, dstate);
    const int64_t varying = batch * effective * layout.blocks_per_group * dstate * seqlen;
    WorkspacePlan plan;
    plan.dA = batch * dim * dstate;
    plan.dD = batch * dim;
    plan.ddelta_bias = batch * dim;
    plan.dB = b_varying ? varying : batch * dim * dstate;
    plan.dC = c_varying ? varying : batch * dim * dstate;
    return plan;
}

// Adds a per-(b, d, n) partial: atomically into grad[d * N + n] (summed over batch), or stores it in the partial row.
__device__ inline void add_per_channel(float* grad, float* partial, int64_t d, int64_t row, int dstate, int n,
                                       float value) {
    if (partial != nullptr) {
        partial[row * dstate + n] = value;
    } else {
        atomicAdd(grad + d * dstate + n, value);
    }
}

// Sum over the block's active channels of a per-(channel, state) value kept in a row of s_history, for every (n, s)
// of the tile, then into the time-varying gradient (B, G, N, L) or the block's partial (.., N, L). history_row(s)
// gives the s_history row that holds the values of step t0 + s. The sum runs over channels in a fixed order.
template <typename RowOf>
__device__ inline void reduce_varying_over_channels(const ScanLayout& layout, const cuda_scan::BlockPosition& pos,
                                                    HS_SHARED_PTR(const float) s_history, int history_pitch,
                                                    RowOf history_row, HS_SHARED_PTR(const float) channel_weight,
                                                    int weight_pitch, int dstate,
                                                    int64_t seqlen, int64_t t0, int steps, float* grad,
                                                    int64_t grad_row, float* partial, int64_t partial_row) {
    const int lanes = layout.lanes_per_channel;
    for (int i = threadIdx.x; i < dstate * kTile; i += blockDim.x) {
        const int n = i / kTile;
        const int s = i % kTile;
        if (s >= steps) continue;
        HS_SHARED_PTR(const float) const values =
            s_history + history_row(s) * history_pitch + (n / lanes) * layout.threads + n % lanes;
        float sum = 0.0f;
        for (int c = 0; c < pos.active_channels; ++c) {
            const float weight = channel_weight != nullptr ? channel_weight[c * weight_pitch + s] : 1.0f;
            sum += weight * values[c * lanes];
        }
        if (partial != nullptr) {
            partial[(partial_row + n) * seqlen + t0 + s] = sum;
        } else {
            atomicAdd(grad + (grad_row + n) * seqlen + t0 + s, sum);
        }
    }
}

// One block per (b, g, run of channels); layout.threads threads; dynamic shared memory backward_shared_floats().
// groups is the effective group count (1 unless B or C is time-varying).
__global__ void __launch_bounds__(kBackwardMaxThreads)
selective_scan_backward_kernel(SelectiveScanBackwardParams<float> p, ScanLayout layout, int64_t groups,
                               PartialSums partials) {
    HS_SHARED_DYNAMIC(float, shared);
    const SelectiveScanParams<float>& f = p.fwd;
    const int pitch = kTile + 1;
    const int channels_per_block = layout.channels_per_block;
    const int lanes = layout.lanes_per_channel;
    const int states_per_lane = layout.states_per_lane;
    const int threads = layout.threads;
    const int slots = threads * states_per_lane;
    const int history_pitch = slots + 1;  // + 1: consecutive steps of one slot fall into different banks
    const int dstate = static_cast<int>(f.dstate);
    const int64_t seqlen = f.seqlen;
    const int tid = static_cast<int>(threadIdx.x);

    HS_SHARED_PTR(float) const s_tile_start = shared;
    HS_SHARED_PTR(float) const s_history = s_tile_start + kTilesPerChunk * slots;
    HS_SHARED_PTR(float) const s_dt = s_history + (kTile + 1) * history_pitch;
    HS_SHARED_PTR(float) const s_u = s_dt + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_g = s_u + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_z = s_g + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_y = s_z + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_dD = s_y + channels_per_block * pitch;
    HS_SHARED_PTR(float) const s_ddelta_bias = s_dD + channels_per_block;
    HS_SHARED_PTR(float) const s_B = s_ddelta_bias + channels_per_block;
    HS_SHARED_PTR(float) const s_C = s_B + (f.b_varying ? dstate * pitch : 0);
    // After the gate phase of a tile, z and y are no longer needed: their rows take the sums over n of the reverse
    // loop.
    HS_SHARED_PTR(float) const s_ddt = s_z;
    HS_SHARED_PTR(float) const s_du = s_y;

    const cuda_scan::BlockPosition pos = cuda_scan::block_position(layout, f.dim, groups);
    const int64_t b = pos.batch_index;
    const int64_t d = pos.first_channel + pos.channel;  // meaningful only when pos.channel_active
    const int64_t row = b * f.dim + d;
    const int64_t first_row = b * f.dim + pos.first_channel;
    const int64_t varying_row = (b * groups + pos.group_index) * dstate;
    const int64_t partial_varying_row = ((b * groups + pos.group_index) * layout.blocks_per_group +
                                         pos.block_in_group) * dstate;
    const int64_t length = cuda_common::clamped_length(f.lengths, b, seqlen);
    const int64_t num_chunks = seqlen > 0 ? (seqlen + kCheckpointChunk - 1) / kCheckpointChunk : 1;

    // Slot j of this thread is state n = j * lanes + lane_in_channel; dead slots keep every value 0 (a = 1, h = 0,
    // dh = 0), so they contribute nothing and never touch global memory.
    float a_log2[kMaxStatesPerLane];
    float a_raw[kMaxStatesPerLane];
    float b_const[kMaxStatesPerLane];
    float c_const[kMaxStatesPerLane];
    float h[kMaxStatesPerLane];
    float dh[kMaxStatesPerLane];
    float dA_sum[kMaxStatesPerLane];
    float dB_sum[kMaxStatesPerLane];  // constant B only
    float dC_sum[kMaxStatesPerLane];  // constant C only
    bool live[kMaxStatesPerLane];
#pragma unroll
    for (int j = 0; j < kMaxStatesPerLane; ++j) {
        const int n = j * lanes + pos.lane_in_channel;
        live[j] = pos.channel_active && j < states_per_lane && n < dstate;
        a_raw[j] = live[j] ? f.A[d * dstate + n] : 0.0f;
        a_log2[j] = a_raw[j] * kLog2e;
        b_const[j] = (live[j] && !f.b_varying) ? f.B[d * dstate + n] : 0.0f;
        c_const[j] = (live[j] && !f.c_varying) ? f.C[d * dstate + n] : 0.0f;
        dh[j] = (live[j] && p.dh_last != nullptr) ? p.dh_last[row * dstate + n] : 0.0f;
        h[j] = 0.0f;
        dA_sum[j] = 0.0f;
        dB_sum[j] = 0.0f;
        dC_sum[j] = 0.0f;
    }

    // Right padding: no gradient reaches u, delta, z at t >= length, and the block's time-varying partials are 0
    // there (the atomic mode's outputs were zeroed by the launcher).
    const int64_t padding = seqlen - length;
    if (padding > 0) {
        for (int64_t i = tid; i < pos.active_channels * padding; i += blockDim.x) {
            const int64_t index = (first_row + i / padding) * seqlen + length + i % padding;
            p.du[index] = 0.0f;
            p.ddelta[index] = 0.0f;
            if (p.dz != nullptr) p.dz[index] = 0.0f;
        }
        for (int64_t i = tid; i < dstate * padding; i += blockDim.x) {
            const int64_t index = (partial_varying_row + i / padding) * seqlen + length + i % padding;
            if (f.b_varying && partials.dB != nullptr) partials.dB[index] = 0.0f;
            if (f.c_varying && partials.dC != nullptr) partials.dC[index] = 0.0f;
        }
    }
    for (int c = tid; c < channels_per_block; c += blockDim.x) {
        s_dD[c] = 0.0f;
        s_ddelta_bias[c] = 0.0f;
    }
    __syncthreads();

    const int64_t valid_chunks = (length + kCheckpointChunk - 1) / kCheckpointChunk;
    for (int64_t chunk = valid_chunks - 1; chunk >= 0; --chunk) {
        const int64_t chunk_start = chunk * kCheckpointChunk;
        const int64_t chunk_end = min(chunk_start + kCheckpointChunk, length);
        const int tiles = static_cast<int>((chunk_end - chunk_start + kTile - 1) / kTile);

        // Pass 1: the chunk forward from its checkpoint, keeping each tile's starting state.
#pragma unroll
        for (int j = 0; j < kMaxStatesPerLane; ++j) {
            const int n = j * lanes + pos.lane_in_channel;
            h[j] = live[j] ? p.checkpoints[(row * num_chunks + chunk) * dstate + n] : 0.0f;
        }
        for (int tile = 0; tile < tiles; ++tile) {
            const int64_t t0 = chunk_start + tile * kTile;
            const int steps = static_cast<int>(min(static_cast<int64_t>(kTile), chunk_end - t0));
#pragma unroll
            for (int j = 0; j < kMaxStatesPerLane; ++j) {
                if (j < states_per_lane) s_tile_start[tile * slots + j * threads + tid] = h[j];
            }
            if (tile + 1 == tiles) break;  // the state after the chunk's last tile is not needed
            __syncthreads();  // the previous users of s_dt / s_u / s_B are done
            cuda_scan::stage_dt_u(f, pos, layout, first_row, t0, steps, s_dt, s_u);
            if (f.b_varying) cuda_scan::stage_varying_slab(f.B, varying_row, dstate, seqlen, t0, steps, kTile, s_B);
            __syncthreads();
            for (int s = 0; s < steps; ++s) {
                const float dt = s_dt[pos.channel * pitch + s];
                const float dt_u = dt * s_u[pos.channel * pitch + s];
#pragma unroll
                for (int j = 0; j < kMaxStatesPerLane; ++j) {
                    if (j < states_per_lane) {
                        const int n = j * lanes + pos.lane_in_channel;
                        const float b_n = f.b_varying ? (n < dstate ? s_B[n * pitch + s] : 0.0f) : b_const[j];
                        h[j] = exp2f(dt * a_log2[j]) * h[j] + dt_u * b_n;
                    }
                }
            }
        }

        // Pass 2: tiles in reverse.
        for (int tile = tiles - 1; tile >= 0; --tile) {
            const int64_t t0 = chunk_start + tile * kTile;
            const int steps = static_cast<int>(min(static_cast<int64_t>(kTile), chunk_end - t0));
            __syncthreads();  // the previous tile (or pass 1) is done with every shared buffer
            cuda_scan::stage_dt_u(f, pos, layout, first_row, t0, steps, s_dt, s_u);
            for (int i = tid; i < channels_per_block * kTile; i += blockDim.x) {
                const int c = i / kTile;
                const int s = i % kTile;
                const bool valid = c < pos.active_channels && s < steps;
                const int64_t index = (first_row + c) * seqlen + t0 + s;
                s_g[c * pitch + s] = valid ? p.dout[index] : 0.0f;
                if (f.z != nullptr) s_z[c * pitch + s] = valid ? f.z[index] : 0.0f;
            }
            if (f.b_varying) cuda_scan::stage_varying_slab(f.B, varying_row, dstate, seqlen, t0, steps, kTile, s_B);
            if (f.c_varying) cuda_scan::stage_varying_slab(f.C, varying_row, dstate, seqlen, t0, steps, kTile, s_C);
            __syncthreads();

            // Recompute the tile: s_history row s holds h[t0 + s - 1]; y (for dz) only when there is a gate.
#pragma unroll
            for (int j = 0; j < kMaxStatesPerLane; ++j) {
                if (j < states_per_lane) h[j] = s_tile_start[tile * slots + j * threads + tid];
            }
            for (int s = 0; s < steps; ++s) {
                const float dt = s_dt[pos.channel * pitch + s];
                const float dt_u = dt * s_u[pos.channel * pitch + s];
                float partial = 0.0f;
#pragma unroll
                for (int j = 0; j < kMaxStatesPerLane; ++j) {
                    if (j < states_per_lane) {
                        const int n = j * lanes + pos.lane_in_channel;
                        const bool in_range = n < dstate;
                        const float b_n = f.b_varying ? (in_range ? s_B[n * pitch + s] : 0.0f) : b_const[j];
                        const float c_n = f.c_varying ? (in_range ? s_C[n * pitch + s] : 0.0f) : c_const[j];
                        s_history[s * history_pitch + j * threads + tid] = h[j];
                        h[j] = exp2f(dt * a_log2[j]) * h[j] + dt_u * b_n;
                        partial += c_n * h[j];
                    }
                }
                if (f.z != nullptr) {  // uniform over the block
                    const float y = cuda_common::sum_over_lane_group(partial, lanes);
                    if (pos.lane_in_channel == 0) s_y[pos.channel * pitch + s] = y;
                }
            }
#pragma unroll
            for (int j = 0; j < kMaxStatesPerLane; ++j) {
                if (j < states_per_lane) s_history[steps * history_pitch + j * threads + tid] = h[j];
            }
            __syncthreads();

            // Gate: dz = dout * y * silu'(z) with y = sum_n C h + D u, then g = dout * silu(z) replaces dout.
            if (f.z != nullptr) {
                for (int i = tid; i < channels_per_block * kTile; i += blockDim.x) {
                    const int c = i / kTile;
                    const int s = i % kTile;
                    if (c < pos.active_channels && s < steps) {
                        const float y = s_y[c * pitch + s] +
                                        (f.D != nullptr ? f.D[pos.first_channel + c] * s_u[c * pitch + s] : 0.0f);
                        const float z = s_z[c * pitch + s];
                        const float dout = s_g[c * pitch + s];
                        p.dz[(first_row + c) * seqlen + t0 + s] = dout * y * cuda_common::silu_derivative(z);
                        s_g[c * pitch + s] = dout * cuda_common::silu(z);
                    }
                }
                __syncthreads();
            }

            // Time-varying dC[t] = sum over the block's channels of g[t] h[t]; h[t0 + s] is s_history row s + 1.
            if (f.c_varying) {
                reduce_varying_over_channels(layout, pos, s_history, history_pitch, [](int s) { return s + 1; }, s_g,
                                             pitch, dstate, seqlen, t0, steps, p.dC, varying_row, partials.dC,
                                             partial_varying_row);
                __syncthreads();  // the reverse loop below overwrites s_history rows
            }

            // Reverse recurrence. Before step s, dh holds a[t+1] dh[t+1] (dh_last at the very end).
            for (int s = steps - 1; s >= 0; --s) {
                const float dt = s_dt[pos.channel * pitch + s];
                const float u = s_u[pos.channel * pitch + s];
                const float g = s_g[pos.channel * pitch + s];
                const float dt_u = dt * u;
                float du_partial = 0.0f;
                float ddt_partial = 0.0f;
#pragma unroll
                for (int j = 0; j < kMaxStatesPerLane; ++j) {
                    if (j < states_per_lane) {
                        const int n = j * lanes + pos.lane_in_channel;
                        const bool in_range = n < dstate;
                        const float b_n = f.b_varying ? (in_range ? s_B[n * pitch + s] : 0.0f) : b_const[j];
                        const float c_n = f.c_varying ? (in_range ? s_C[n * pitch + s] : 0.0f) : c_const[j];
                        HS_SHARED_PTR(float) const history = s_history + s * history_pitch + j * threads + tid;
                        const float h_prev = *history;
                        const float a = exp2f(dt * a_log2[j]);
                        dh[j] += c_n * g;  // dh[t]
                        if (!f.c_varying) dC_sum[j] += g * (a * h_prev + dt_u * b_n);
                        const float dh_dt = dh[j] * dt;
                        du_partial += dh_dt * b_n;
                        ddt_partial += dh[j] * (b_n * u + a_raw[j] * a * h_prev);
                        dA_sum[j] += dh_dt * a * h_prev;
                        if (f.b_varying) {
                            *history = dh_dt * u;  // this slot's dB[t] term, summed over channels below
                        } else {
                            dB_sum[j] += dh_dt * u;
                        }
                        dh[j] *= a;  // a[t] dh[t], the carry into step t - 1
                    }
                }
                du_partial = cuda_common::sum_over_lane_group(du_partial, lanes);
                ddt_partial = cuda_common::sum_over_lane_group(ddt_partial, lanes);
                if (pos.lane_in_channel == 0) {
                    s_du[pos.channel * pitch + s] = du_partial;
                    s_ddt[pos.channel * pitch + s] = ddt_partial;
                }
            }
            __syncthreads();

            if (f.b_varying) {
                reduce_varying_over_channels(layout, pos, s_history, history_pitch, [](int s) { return s; }, nullptr,
                                             0, dstate, seqlen, t0, steps, p.dB, varying_row, partials.dB,
                                             partial_varying_row);
            }

            // Outputs of the tile: du, ddelta; per-channel sums of dD and ddelta_bias. Items i = c * kTile + s, so a
            // channel's kTile steps sit in kTile consecutive lanes; the loop runs whole warps so that the shuffle
            // sums see all lanes.
            for (int base = 0; base < channels_per_block * kTile; base += blockDim.x) {
                const int i = base + tid;
                const int c = i / kTile;
                const int s = i % kTile;
                float dD_term = 0.0f;
                float ddelta_term = 0.0f;
                if (i < channels_per_block * kTile && c < pos.active_channels && s < steps) {
                    const int64_t index = (first_row + c) * seqlen + t0 + s;
                    const float g = s_g[c * pitch + s];
                    const float u = s_u[c * pitch + s];
                    float du = s_du[c * pitch + s];
                    if (f.D != nullptr) du += f.D[pos.first_channel + c] * g;
                    float ddelta = s_ddt[c * pitch + s];
                    if (f.delta_softplus) {
                        const float x = f.delta[index] +
                                        (f.delta_bias != nullptr ? f.delta_bias[pos.first_channel + c] : 0.0f);
                        ddelta *= cuda_common::sigmoid(x);
                    }
                    p.du[index] = du;
                    p.ddelta[index] = ddelta;
                    dD_term = g * u;
                    ddelta_term = ddelta;
                }
                dD_term = cuda_common::sum_over_lane_group(dD_term, kTile);
                ddelta_term = cuda_common::sum_over_lane_group(ddelta_term, kTile);
                if (s == 0 && i < channels_per_block * kTile) {  // one writer per channel and tile: a fixed order
                    s_dD[c] += dD_term;
                    s_ddelta_bias[c] += ddelta_term;
                }
            }
        }
    }
    __syncthreads();  // s_dD / s_ddelta_bias are complete

    // dh0 = a[0] dh[0] is what dh holds now (dh_last itself when length == 0).
#pragma unroll
    for (int j = 0; j < kMaxStatesPerLane; ++j) {
        if (!live[j]) continue;
        const int n = j * lanes + pos.lane_in_channel;
        if (p.dh0 != nullptr) p.dh0[row * dstate + n] = dh[j];
        add_per_channel(p.dA, partials.dA, d, row, dstate, n, dA_sum[j]);
        if (!f.b_varying) add_per_channel(p.dB, partials.dB, d, row, dstate, n, dB_sum[j]);
        if (!f.c_varying) add_per_channel(p.dC, partials.dC, d, row, dstate, n, dC_sum[j]);
    }
    for (int c = tid; c < pos.active_channels; c += blockDim.x) {
        const int64_t channel = pos.first_channel + c;
        if (p.dD != nullptr) add_per_channel(p.dD, partials.dD, channel, first_row + c, 1, 0, s_dD[c]);
        if (p.ddelta_bias != nullptr) {
            add_per_channel(p.ddelta_bias, partials.ddelta_bias, channel, first_row + c, 1, 0, s_ddelta_bias[c]);
        }
    }
}

// out[o * inner + r] = sum over k < terms, in increasing k, of in[(o * terms + k) * inner + r]: a fixed order, so the
// result is bitwise reproducible. out (outer, inner), in (outer, terms, inner).
__global__ void sum_partials_kernel(float* out, const float* in, int64_t outer, int64_t terms, int64_t inner) {
    const int64_t total = outer * inner;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t o = i / inner;
        const int64_t r = i % inner;
        float sum = 0.0f;
        for (int64_t k = 0; k < terms; ++k) sum += in[(o * terms + k) * inner + r];
        out[i] = sum;
    }
}

void sum_partials(float* out, const float* in, int64_t outer, int64_t terms, int64_t inner, cudaStream_t stream) {
    const int64_t total = outer * inner;
    if (total == 0) return;
    constexpr int kThreads = 256;
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535);
    HS_CUDA_LAUNCH(sum_partials_kernel, static_cast<unsigned int>(blocks), kThreads, 0, stream)(out, in, outer, terms,
                                                                                              inner);
    HS_CUDA_CHECK_LAUNCH("sum_partials_kernel launch");
}

void zero(float* data, int64_t elements, cudaStream_t stream, const char* what) {
    if (data == nullptr || elements == 0) return;
    HS_CUDA_CHECK(cudaMemsetAsync(data, 0, static_cast<size_t>(elements) * sizeof(float), stream), what);
}

}  // namespace

int64_t selective_scan_workspace_elements_cuda(int64_t batch, int64_t dim, int64_t groups, int64_t dstate,
                                               int64_t seqlen, bool b_varying, bool c_varying, bool deterministic) {
    if (!deterministic) return 0;
    return plan_workspace(batch, dim, groups, dstate, seqlen, b_varying, c_varying).total();
}

void selective_scan_backward_cuda(const SelectiveScanBackwardParams<float>& p, void* stream_handle) {
    const SelectiveScanParams<float>& f = p.fwd;
    const cudaStream_t stream = static_cast<cudaStream_t>(stream_handle);
    const int64_t groups = cuda_scan::effective_groups(f.groups, f.b_varying, f.c_varying);
    const ScanLayout layout = backward_layout(f.batch, f.dim, groups, f.dstate);
    const int64_t b_elements = f.b_varying ? f.batch * groups * f.dstate * f.seqlen : f.dim * f.dstate;
    const int64_t c_elements = f.c_varying ? f.batch * groups * f.dstate * f.seqlen : f.dim * f.dstate;

    PartialSums partials;
    WorkspacePlan plan;
    if (p.deterministic) {
        plan = plan_workspace(f.batch, f.dim, f.groups, f.dstate, f.seqlen, f.b_varying, f.c_varying);
        if (plan.total() > 0 && (p.workspace == nullptr || p.workspace_elements < plan.total())) {
            throw_invalid("workspace: expected at least " + std::to_string(plan.total()) +
                          " float32 elements for the deterministic CUDA backward, got " +
                          std::to_string(p.workspace == nullptr ? 0 : p.workspace_elements));
        }
        float* next = p.workspace;
        partials.dA = next;
        next += plan.dA;
        partials.dD = next;
        next += plan.dD;
        partials.ddelta_bias = next;
        next += plan.ddelta_bias;
        partials.dB = next;
        next += plan.dB;
        partials.dC = next;
    } else {
        zero(p.dA, f.dim * f.dstate, stream, "cudaMemsetAsync(dA)");
        zero(p.dB, b_elements, stream, "cudaMemsetAsync(dB)");
        zero(p.dC, c_elements, stream, "cudaMemsetAsync(dC)");
        zero(p.dD, f.dim, stream, "cudaMemsetAsync(dD)");
        zero(p.ddelta_bias, f.dim, stream, "cudaMemsetAsync(ddelta_bias)");
    }

    if (layout.blocks > 0) {
        const size_t shared_bytes = backward_shared_floats(layout, f.dstate, f.b_varying, f.c_varying) * sizeof(float);
        cuda_common::allow_dynamic_shared_memory(selective_scan_backward_kernel, shared_bytes,
                                                 "selective_scan_backward_kernel");
        const unsigned int blocks = cuda_common::grid_extent_x(layout.blocks, "selective_scan_backward_kernel");
        HS_CUDA_LAUNCH(selective_scan_backward_kernel, blocks, layout.threads, shared_bytes, stream)(p, layout, groups,
                                                                                                     partials);
        HS_CUDA_CHECK_LAUNCH("selective_scan_backward_kernel launch");
    }

    if (p.deterministic) {
        sum_partials(p.dA, partials.dA, 1, f.batch, f.dim * f.dstate, stream);
        if (p.dD != nullptr) sum_partials(p.dD, partials.dD, 1, f.batch, f.dim, stream);
        if (p.ddelta_bias != nullptr) sum_partials(p.ddelta_bias, partials.ddelta_bias, 1, f.batch, f.dim, stream);
        if (f.b_varying) {
            sum_partials(p.dB, partials.dB, f.batch * groups, layout.blocks_per_group, f.dstate * f.seqlen, stream);
        } else {
            sum_partials(p.dB, partials.dB, 1, f.batch, f.dim * f.dstate, stream);
        }
        if (f.c_varying) {
            sum_partials(p.dC, partials.dC, f.batch * groups, layout.blocks_per_group, f.dstate * f.seqlen, stream);
        } else {
            sum_partials(p.dC, partials.dC, 1, f.batch, f.dim * f.dstate, stream);
        }
    }
}

}  // namespace hs
