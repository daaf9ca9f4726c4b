// Internal contract of the fused recurrence (hs_rnn_*) between the validating shim (native/src/api/rnn_api.cpp) and
// the backends (native/src/cpu/rnn_cpu.cpp, native/src/cuda/rnn_*.cu). See hybridseq.h for the public contract.
//
// The shim has checked shapes, dtypes, devices and strides: every tensor is row-major contiguous, so pointers and
// sizes suffice. Backends throw hs::Error on failure and never return a status.
//
// hs_rnn_step is the forward with steps == 1, s0 == s_last == the state buffer, no lengths and no saved
// states/cache (its workspace is the forward's for steps == 1), so backends must tolerate s0 and s_last aliasing
// (read a (state, b, unit) before writing it).
//
// Position and processing order. Step t of wx / y / cache / dwx is the position in the sequence. A forward sequence
// (reverse == false) processes positions 0, 1, ..., lengths[b]-1; a reverse one lengths[b]-1, ..., 0. Positions
// t >= lengths[b] are padding in both directions: y = 0, dwx = 0, cache unspecified.
//
// Saved states (T+1, S, Bt, H), the same in every backend: states[0] = s0 (zeros when null) and states[t+1] = the
// states right after the step at position t. So the states a step at position t starts from are states[t]
// (forward) or, in reverse, states[t+2] (states[0] for the first processed position t = lengths[b]-1). At padding
// positions t >= lengths[b], states[t+1] holds the state the sequence has there in processing order: s_last in
// forward (frozen after the last step), s0 in reverse (nothing processed yet).
//
// Saved cache content per cell (C gate slots per step, each H wide, slot-major: cache[t][b][slot*H + unit]):
//   LSTM  C = 4: i, f, g, o after their nonlinearities (sigmoid, sigmoid, tanh, sigmoid)
//   GRU   C = 4: r, z, n after their nonlinearities, and (R_n h_{t-1} + b_n), the recurrent part of n before reset
//   sLSTM C = 4: the pre-activations i~ and f~ as they are (i~ = Wx_i + R_i h + b_i, f~ likewise), tanh(z~) and
//                sigmoid(o~). The backward recomputes from i~, f~ and m_{t-1} (states) exactly what the forward did:
//                logsig(f~), m_t = max(logsig(f~) + m_{t-1}, i~) and which side of that max won, i' = exp(i~ - m_t),
//                f' = exp(logsig(f~) + m_{t-1} - m_t) and sigmoid(-f~) = d logsig(f~) / d f~, none of which the
//                post-activation gates alone give to full precision. Gradients flow through m as well (exact
//                gradient of the formulas, so that ds_last of c, n and m is honoured).
//
// The CPU backward keeps in its workspace the gradient of the recurrent pre-activation of every processed step,
// dg_rec (= dwx except GRU's n gate, where it is dwx_n * r), as rows (T, Bt, NH, round_up(G*DH, 16)); after the time
// loop dR and db are one reduction over those rows in a fixed order (independent of the thread count).
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"

namespace hs {

enum class RnnCell : int32_t { Lstm = 0, Gru = 1, Slstm = 2 };

struct RnnCellShape {
    int32_t gates;        // G
    int32_t states;       // S
    int32_t cache_gates;  // C
};

// G, S, C of a cell (throws hs::Error for an unknown cell). Inline here, next to the cell list, because every backend
// (CPU, CUDA) and the shim need these facts and none of them owns them.
inline RnnCellShape rnn_cell_shape(RnnCell cell) {
    switch (cell) {
        case RnnCell::Lstm: return {4, 2, 4};
        case RnnCell::Gru: return {3, 1, 4};
        case RnnCell::Slstm: return {4, 4, 4};
    }
    throw_invalid("unknown recurrent cell " + std::to_string(static_cast<int32_t>(cell)) +
                  ": expected HS_RNN_CELL_LSTM (0), HS_RNN_CELL_GRU (1) or HS_RNN_CELL_SLSTM (2)");
}

template <typename T>
struct RnnParams {
    RnnCell cell = RnnCell::Lstm;
    bool reverse = false;
    bool allow_tf32 = false;
    int64_t steps = 0;      // T
    int64_t batch = 0;      // Bt
    int64_t heads = 1;      // NH
    int64_t head_dim = 0;   // DH
    int64_t hidden = 0;     // H = NH * DH

    const T* wx = nullptr;          // (T, Bt, G*H); null in a backward (which never reads it)
    const T* R = nullptr;           // (NH, G*DH, DH)
    const T* b = nullptr;           // (G*H)
    const T* s0 = nullptr;          // (S, Bt, H) or null
    const int64_t* lengths = nullptr;  // (Bt) or null; CPU validated, CUDA clamps to [0, T]

    // Forward outputs.
    T* y = nullptr;        // (T, Bt, H)
    T* s_last = nullptr;   // (S, Bt, H) or null; may alias s0
    T* states = nullptr;   // (T+1, S, Bt, H) or null
    T* cache = nullptr;    // (T, Bt, C*H) or null

    // Caller-owned scratch of at least rnn_workspace_elements_*(..., RnnPass::Forward) elements (the shim checked
    // that); null when that is 0. Only the CUDA per-step path uses it (see rnn_fwd.cu).
    T* workspace = nullptr;
    int64_t workspace_elements = 0;
};

template <typename T>
struct RnnBackwardParams {
    RnnParams<T> fwd;              // the forward inputs (fwd.y / s_last / states / cache / workspace unused)
    const T* states = nullptr;     // (T+1, S, Bt, H) written by the forward
    const T* cache = nullptr;      // (T, Bt, C*H) written by the forward
    const T* dy = nullptr;         // (T, Bt, H)
    const T* ds_last = nullptr;    // (S, Bt, H) or null

    T* dwx = nullptr;   // (T, Bt, G*H)
    T* dR = nullptr;    // (NH, G*DH, DH)
    T* db = nullptr;    // (G*H)
    T* ds0 = nullptr;   // (S, Bt, H) or null
    T* workspace = nullptr;
    int64_t workspace_elements = 0;
};

// Which pass a workspace size is asked for (hs_rnn_workspace_elements' `backward` argument).
enum class RnnPass : int32_t { Forward = 0, Backward = 1 };

template <typename T>
void rnn_forward_cpu(const RnnParams<T>& p);
template <typename T>
void rnn_backward_cpu(const RnnBackwardParams<T>& p);
// Elements of scratch a pass needs; a function of the sizes only (never of the CPU or GPU model).
int64_t rnn_workspace_elements_cpu(RnnPass pass, RnnCell cell, int64_t steps, int64_t batch, int64_t hidden,
                                   int64_t heads);

#if defined(HYBRIDSEQ_WITH_CUDA)
void rnn_forward_cuda(const RnnParams<float>& p, void* stream);
void rnn_backward_cuda(const RnnBackwardParams<float>& p, void* stream);
int64_t rnn_workspace_elements_cuda(RnnPass pass, RnnCell cell, int64_t steps, int64_t batch, int64_t hidden,
                                    int64_t heads);
#endif

}  // namespace hs
