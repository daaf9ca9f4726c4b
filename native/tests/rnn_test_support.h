// Shared helpers of the fused-recurrence tests: random problems held in double, typed copies handed to the C API as
// hs_tensor views, and a plain sequential reference forward per cell written straight from the formulas of
// hybridseq.h (PyTorch's LSTM / GRU, xLSTM's sLSTM) and the states layout of ops/rnn.h.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace hs_test {

struct RnnConfig {
    int32_t cell = HS_RNN_CELL_LSTM;
    int64_t steps = 7;     // T
    int64_t batch = 2;     // Bt
    int64_t heads = 1;     // NH
    int64_t head_dim = 4;  // DH
    bool has_s0 = false;
    bool has_lengths = false;
    bool reverse = false;

    int64_t gates() const;        // G
    int64_t states() const;       // S
    int64_t cache_gates() const;  // C
    int64_t hidden() const { return heads * head_dim; }
    std::string describe() const;
};

// What GoogleTest prints for a RnnConfig (a test parameter, a failure message's value): describe(), not its raw bytes.
inline void PrintTo(const RnnConfig& config, std::ostream* os) { *os << config.describe(); }

// Inputs in double; the float tests round them once (rounded_to_float) and the reference runs on the rounded values.
struct RnnProblem {
    RnnConfig config;
    std::vector<double> wx, R, b, s0;  // s0 empty unless has_s0
    std::vector<int64_t> lengths;      // empty unless has_lengths

    std::vector<int64_t> wx_shape() const;      // (T, Bt, G*H)
    std::vector<int64_t> R_shape() const;       // (NH, G*DH, DH)
    std::vector<int64_t> y_shape() const;       // (T, Bt, H)
    std::vector<int64_t> state_shape() const;   // (S, Bt, H)
    std::vector<int64_t> states_shape() const;  // (T+1, S, Bt, H)
    std::vector<int64_t> cache_shape() const;   // (T, Bt, C*H)
    RnnProblem rounded_to_float() const;
};

// Random inputs where every cell is well conditioned (sLSTM's s0 has a positive normaliser); lengths (when asked)
// cycle through {T, T/2, 0, T-1, 1}.
RnnProblem make_rnn_problem(const RnnConfig& config, uint32_t seed);

struct RnnForwardResult {
    std::vector<double> y, s_last, states, cache;  // cache only from the kernel
};

struct RnnGradients {
    std::vector<double> dwx, dR, db, ds0;
};

// Naive double-precision forward (the oracle): y, s_last and states.
RnnForwardResult reference_rnn_forward(const RnnProblem& problem);

// hs_rnn_forward on float or double copies, with every output; fails the current test on a non-OK status.
template <typename T>
RnnForwardResult run_rnn_forward(const RnnProblem& problem);

// What run_rnn_backward hands the backward as inputs->wx: the forward's wx, NULL, or the same buffer overwritten
// with NaN after the forward (the backward must not read it).
enum class BackwardWx { Same, Null, Garbage };

// hs_rnn_forward (states and cache) then hs_rnn_backward; ds_last may be empty (= NULL).
template <typename T>
RnnGradients run_rnn_backward(const RnnProblem& problem, const std::vector<double>& dy,
                              const std::vector<double>& ds_last, BackwardWx wx_mode = BackwardWx::Same);

// hs_rnn_step, T times, from s0 (or zeros): y of every step stacked (T, Bt, H) and the final state.
template <typename T>
RnnForwardResult run_rnn_steps(const RnnProblem& problem);

size_t element_product(const std::vector<int64_t>& shape);

// hs_rnn_workspace_elements for a call of these sizes on `device_type` in `dtype`: the query takes the call's own
// inputs, so this builds wx (T, Bt, G*H) (or (Bt, G*H) for HS_RNN_PASS_STEP), R and b views of those shapes. The
// query reads no tensor data, so the views all point at one dummy buffer. Returns the query's status.
hs_status rnn_workspace_for_sizes(int32_t device_type, int32_t dtype, int32_t cell, int64_t steps, int64_t batch,
                                  int64_t hidden, int64_t heads, int32_t pass, int64_t* elements);

}  // namespace hs_test
