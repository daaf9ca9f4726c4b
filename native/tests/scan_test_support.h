// Shared helpers of the selective-scan tests: random problems held in double, typed copies handed to the C API as
// hs_tensor views, and a plain sequential reference forward written straight from the formulas of hybridseq.h.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace hs_test {

// A contiguous CPU view of `data` with the given shape.
hs_tensor cpu_view(const void* data, int32_t dtype, const std::vector<int64_t>& shape);

struct ScanConfig {
    int64_t batch = 2;
    int64_t dim = 4;
    int64_t groups = 1;
    int64_t dstate = 5;
    int64_t seqlen = 7;
    bool b_varying = false;
    bool c_varying = false;
    bool has_D = false;
    bool has_z = false;
    bool has_delta_bias = false;
    bool softplus = false;
    bool has_h0 = false;
    bool has_lengths = false;

    std::string describe() const;
};

// What GoogleTest prints for a ScanConfig (a test parameter, a failure message's value): describe(), not its raw bytes.
inline void PrintTo(const ScanConfig& config, std::ostream* os) { *os << config.describe(); }

// Inputs in double; the float tests round them once, and the reference then runs on the rounded values.
struct ScanProblem {
    ScanConfig config;
    std::vector<double> u, delta, A, B, C, D, z, delta_bias, h0;
    std::vector<int64_t> lengths;

    std::vector<int64_t> sequence_shape() const;   // (Bt, Dm, L)
    std::vector<int64_t> state_shape() const;      // (Bt, Dm, N)
    std::vector<int64_t> b_shape() const;          // (Dm, N) or (Bt, G, N, L)
    std::vector<int64_t> c_shape() const;
    std::vector<int64_t> checkpoints_shape() const;  // (Bt, Dm, K, N)
    // Every input rounded through float (so a float run and the double reference see the same numbers).
    ScanProblem rounded_to_float() const;
};

// Random inputs in ranges where the scan is well conditioned; lengths (when asked) are {L, L / 2, 0, ...}.
ScanProblem make_problem(const ScanConfig& config, uint32_t seed);

struct ScanForwardResult {
    std::vector<double> out, h_last, checkpoints;
};

struct ScanGradients {
    std::vector<double> du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0;
};

// Naive double-precision forward (the oracle).
ScanForwardResult reference_forward(const ScanProblem& problem);

// Runs hs_selective_scan_forward with T = float or double copies; fails the current test on a non-OK status.
template <typename T>
ScanForwardResult run_forward(const ScanProblem& problem);

// Runs forward (for the checkpoints) and then hs_selective_scan_backward; dh_last may be empty (= NULL).
template <typename T>
ScanGradients run_backward(const ScanProblem& problem, const std::vector<double>& dout,
                           const std::vector<double>& dh_last);

std::vector<double> random_vector(size_t count, double low, double high, uint32_t seed);

// Largest |a - b| / (atol + rtol * |b|) over the elements; <= 1 means every element is within tolerance.
double worst_error_ratio(const std::vector<double>& actual, const std::vector<double>& expected, double atol,
                         double rtol);

}  // namespace hs_test
