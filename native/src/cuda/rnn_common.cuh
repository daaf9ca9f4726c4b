// Device helpers shared by the CUDA fused recurrence (rnn_fwd.cu, rnn_bwd.cu): tensor indexing, the per-sequence
// step order (lengths, reverse), and the pointwise cell updates with their derivatives. The math follows the CPU twin
// (native/src/cpu/rnn_cpu.cpp), the reference; the contract is hybridseq.h "Fused recurrence" and ops/rnn.h.
//
// Notation used by both directions (all tensors row-major contiguous, see ops/rnn.h):
//   G gates, S states, C cache slots, H = NH * DH, unit u = head * DH + j.
//   wx / dwx (T, Bt, G*H) [(pos * Bt + b) * G*H + q*H + u]      R (NH, G*DH, DH) [(head * G*DH + q*DH + j) * DH + l]
//   states (T+1, S, Bt, H) [((slot * S + s) * Bt + b) * H + u]    cache (T, Bt, C*H) [(pos * Bt + b) * C*H + c*H + u]
// Processing index k runs 0..T-1 in the order the recurrence consumes steps. For a sequence of (clamped) length L:
//   k < L  -> a real step at position pos = k (forward order) or L-1-k (reverse);
//   k >= L -> the padding position pos = k (positions L..T-1, each exactly once), where y = 0, the cache is 0 and
//             the saved state is the one the sequence has there in processing order: the final state in forward
//             order, s0 under reverse (ops/rnn.h); backward writes zero gradients there.
// Saved states: states[0] = s0; a real step at position pos writes states[pos + 1] (also under reverse). So the state
// a real step consumed is states[pos] in forward order, and under reverse states[pos + 2], or s0 = states[0] for the
// first processed step (pos = L-1).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "common/error.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_common.cuh"
#include "ops/rnn.h"

namespace hs {
namespace cuda_rnn {

constexpr int kMaxGates = 4;
constexpr int kMaxStates = 4;

// Position of processing index k for a sequence of length `length` (see the header comment).
__device__ inline int64_t step_position(int64_t k, int64_t length, bool reverse) {
    if (k >= length) return k;
    return reverse ? length - 1 - k : k;
}

// Slot of `states` holding the state that the real step at `position` consumed.
__device__ inline int64_t consumed_state_slot(int64_t position, int64_t length, bool reverse) {
    if (!reverse) return position;
    return position == length - 1 ? 0 : position + 2;
}

// One pointwise step of a cell for one (batch row, unit).
//   wx[q]      the input projection of gate q
//   recb[q]    (R h_{t-1})[q] + b[q]: the recurrent part of gate q, bias included
//   state[s]   in: s_{t-1} (h, c, n, m as the cell has them); out: s_t
//   cache[c]   out: the saved gate values of ops/rnn.h
__device__ inline void cell_forward(RnnCell cell, const float* wx, const float* recb, float* state, float* cache) {
    if (cell == RnnCell::Lstm) {
        const float i = cuda_common::sigmoid(wx[0] + recb[0]);
        const float f = cuda_common::sigmoid(wx[1] + recb[1]);
        const float g = tanhf(wx[2] + recb[2]);
        const float o = cuda_common::sigmoid(wx[3] + recb[3]);
        const float c = f * state[1] + i * g;
        state[0] = o * tanhf(c);
        state[1] = c;
        cache[0] = i;
        cache[1] = f;
        cache[2] = g;
        cache[3] = o;
    } else if (cell == RnnCell::Gru) {
        const float r = cuda_common::sigmoid(wx[0] + recb[0]);
        const float z = cuda_common::sigmoid(wx[1] + recb[1]);
        const float n = tanhf(wx[2] + r * recb[2]);
        state[0] = (1.0f - z) * n + z * state[0];
        cache[0] = r;
        cache[1] = z;
        cache[2] = n;
        cache[3] = recb[2];
    } else {  // sLSTM
        const float i_pre = wx[0] + recb[0];
        const float f_pre = wx[1] + recb[1];
        const float z = tanhf(wx[2] + recb[2]);
        const float o = cuda_common::sigmoid(wx[3] + recb[3]);
        const float decayed = cuda_common::log_sigmoid(f_pre) + state[3];  // logsig(f~) + m_{t-1}
        // Ties go to the decay side, as in the CPU twin.
        const float m = decayed >= i_pre ? decayed : i_pre;
        const float i = expf(i_pre - m);
        const float f = expf(decayed - m);
        const float c = f * state[1] + i * z;
        const float n = f * state[2] + i;
        state[0] = o * c / n;
        state[1] = c;
        state[2] = n;
        state[3] = m;
        cache[0] = i_pre;
        cache[1] = f_pre;
        cache[2] = z;
        cache[3] = o;
    }
}

// The derivative of one cell_forward step for one (batch row, unit).
//   cache[c]     what cell_forward saved for this step
//   prev[s]      s_{t-1}, the state the step consumed
//   dstate[s]    in: dL/ds_t, where dstate[0] already holds every contribution to dL/dh_t (dy, ds_last, R^T dg of
//                the later step); out: dL/ds_{t-1} except the recurrent R^T dg term of this step, which the caller adds
//   dwx[q]       out: dL/dwx_t
//   dgrec[q]     out: dL/d(recb[q]), what R and b see (differs from dwx for GRU's n gate: the reset multiplies it)
__device__ inline void cell_backward(RnnCell cell, const float* cache, const float* prev, float* dstate, float* dwx,
                                     float* dgrec) {
    const float dh = dstate[0];
    if (cell == RnnCell::Lstm) {
        const float i = cache[0], f = cache[1], g = cache[2], o = cache[3];
        const float c = f * prev[1] + i * g;
        const float tanh_c = tanhf(c);
        const float dc = dstate[1] + dh * o * (1.0f - tanh_c * tanh_c);
        dwx[0] = dc * g * i * (1.0f - i);
        dwx[1] = dc * prev[1] * f * (1.0f - f);
        dwx[2] = dc * i * (1.0f - g * g);
        dwx[3] = dh * tanh_c * o * (1.0f - o);
        for (int q = 0; q < 4; ++q) dgrec[q] = dwx[q];
        dstate[0] = 0.0f;  // h_{t-1} reaches the step only through R h_{t-1}
        dstate[1] = dc * f;
    } else if (cell == RnnCell::Gru) {
        const float r = cache[0], z = cache[1], n = cache[2], rec_n = cache[3];
        const float dn_pre = dh * (1.0f - z) * (1.0f - n * n);
        dwx[0] = dn_pre * rec_n * r * (1.0f - r);
        dwx[1] = dh * (prev[0] - n) * z * (1.0f - z);
        dwx[2] = dn_pre;
        dgrec[0] = dwx[0];
        dgrec[1] = dwx[1];
        dgrec[2] = dn_pre * r;
        dstate[0] = dh * z;
    } else {  // sLSTM: recompute the stabiliser exactly as cell_forward did, then the exact gradient (through m too)
        const float i_pre = cache[0], f_pre = cache[1], z = cache[2], o = cache[3];
        const float decayed = cuda_common::log_sigmoid(f_pre) + prev[3];
        const bool decay_wins = decayed >= i_pre;
        const float m = decay_wins ? decayed : i_pre;
        const float i = expf(i_pre - m);
        const float f = expf(decayed - m);
        const float c = f * prev[1] + i * z;
        const float n = f * prev[2] + i;
        const float dc = dstate[1] + dh * o / n;
        const float dn = dstate[2] - dh * o * c / (n * n);
        const float d_i_gate = (dc * z + dn) * i;                  // dL/d(i~ - m)
        const float d_f_gate = (dc * prev[1] + dn * prev[2]) * f;  // dL/d(decayed - m)
        const float dm = dstate[3] - d_i_gate - d_f_gate;
        const float d_decayed = d_f_gate + (decay_wins ? dm : 0.0f);
        dwx[0] = d_i_gate + (decay_wins ? 0.0f : dm);
        dwx[1] = d_decayed * cuda_common::sigmoid(-f_pre);  // d logsig(x) / dx = sigmoid(-x)
        dwx[2] = dc * i * (1.0f - z * z);
        dwx[3] = dh * c / n * o * (1.0f - o);
        for (int q = 0; q < 4; ++q) dgrec[q] = dwx[q];
        dstate[0] = 0.0f;
        dstate[1] = dc * f;
        dstate[2] = dn * f;
        dstate[3] = d_decayed;
    }
}

// ---- host side ------------------------------------------------------------------------------------------------

// Batch rows per CTA of the persistent kernels. Small, so that B16 x NH=4 still spreads over 32 SMs; each CTA keeps
// its own copy of its head's R in shared memory.
constexpr int kPersistentRows = 2;
// The persistent kernels run when DH <= this and their shared memory fits the device (G*DH*(DH+1) floats of R:
// 66.5 KB for G = 4, DH = 64); larger heads take the per-step path.
constexpr int kPersistentMaxHeadDim = 64;
constexpr int kPersistentMaxThreads = 256;
// Per-step kernels: one CTA covers kStepRows batch rows x kStepUnits units of one head (all G gates of each unit,
// so the pointwise update happens in the same CTA) and walks the reduction dimension in chunks of kStepChunk.
constexpr int kStepUnits = 16;
constexpr int kStepRows = 16;
constexpr int kStepChunk = 64;
constexpr int kStepThreads = kStepUnits * kStepRows;

inline int round_up_to_warp(int64_t threads) {
    const int64_t capped = threads < kPersistentMaxThreads ? threads : kPersistentMaxThreads;
    return static_cast<int>((capped + 31) / 32 * 32);
}

// Elements of float scratch the forward needs for these sizes (rnn_fwd.cu; 0 when the persistent path surely runs).
int64_t forward_workspace_elements(RnnCell cell, int64_t batch, int64_t hidden, int64_t heads);

}  // namespace cuda_rnn
}  // namespace hs
