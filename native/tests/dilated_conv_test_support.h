// Shared helpers of the dilated causal convolution tests (test_dilated_conv.cpp, test_dilated_conv_cuda.cpp): random
// problems held in double, a slow reference written straight from the formulas of hybridseq.h ("Dilated causal
// convolution"), and typed CPU runs through the C API. Header-only, so the CMake test glob needs no extra source.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "hybridseq.h"
#include "scan_test_support.h"

namespace hs_test {
namespace dilated_conv {

struct ConvConfig {
    int64_t batch = 2, in_channels = 3, out_channels = 5, width = 3, dilation = 1, length = 7;
    bool bias = false, state = false, lengths = false;

    int64_t state_length() const { return (width - 1) * dilation; }
    std::vector<int64_t> input_shape() const { return {batch, in_channels, length}; }
    std::vector<int64_t> output_shape() const { return {batch, out_channels, length}; }
    std::vector<int64_t> weight_shape() const { return {out_channels, in_channels, width}; }
    std::vector<int64_t> state_shape() const { return {batch, in_channels, state_length()}; }
    std::string describe() const {
        return "Bt=" + std::to_string(batch) + " C_in=" + std::to_string(in_channels) +
               " C_out=" + std::to_string(out_channels) + " K=" + std::to_string(width) +
               " dilation=" + std::to_string(dilation) + " L=" + std::to_string(length) + (bias ? " bias" : "") +
               (state ? " state" : "") + (lengths ? " lengths" : "");
    }
};

inline void PrintTo(const ConvConfig& config, std::ostream* os) { *os << config.describe(); }

inline size_t count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return static_cast<size_t>(n);
}

// Inputs in double (rounded through float for float32 runs, so the reference sees the kernel's numbers); dy and
// d_final_state are the loss weights of the backward.
struct ConvProblem {
    ConvConfig config;
    std::vector<double> x, weight, bias, state, dy, d_final;
    std::vector<int64_t> lengths;
};

inline ConvProblem make_conv_problem(const ConvConfig& c, uint32_t seed, bool round_to_float) {
    ConvProblem p;
    p.config = c;
    p.x = random_vector(count(c.input_shape()), -1.0, 1.0, seed + 1);
    p.weight = random_vector(count(c.weight_shape()), -1.0, 1.0, seed + 2);
    p.bias = random_vector(static_cast<size_t>(c.out_channels), -1.0, 1.0, seed + 3);
    p.state = random_vector(count(c.state_shape()), -1.0, 1.0, seed + 4);
    p.dy = random_vector(count(c.output_shape()), -1.0, 1.0, seed + 5);
    p.d_final = random_vector(count(c.state_shape()), -1.0, 1.0, seed + 6);
    if (round_to_float) {
        for (std::vector<double>* v : {&p.x, &p.weight, &p.bias, &p.state, &p.dy, &p.d_final}) {
            for (double& value : *v) value = static_cast<double>(static_cast<float>(value));
        }
    }
    // Different lengths per row, with 0 and L among them when the batch allows.
    for (int64_t b = 0; b < c.batch; ++b) {
        const int64_t choices[] = {c.length, c.length / 2, 0, std::max<int64_t>(c.length - 1, 0), 1};
        p.lengths.push_back(std::min<int64_t>(c.length, choices[b % 5]));
    }
    return p;
}

inline int64_t valid_length(const ConvProblem& p, int64_t b) {
    return p.config.lengths ? p.lengths[static_cast<size_t>(b)] : p.config.length;
}

// xp[b, c, v]: the initial state (or zeros) then x. Past lengths[b] the inputs never reach an output or state.
inline double padded(const ConvProblem& p, int64_t b, int64_t c, int64_t v) {
    const ConvConfig& g = p.config;
    const int64_t S = g.state_length();
    if (v < S) return g.state ? p.state[static_cast<size_t>((b * g.in_channels + c) * S + v)] : 0.0;
    return p.x[static_cast<size_t>((b * g.in_channels + c) * g.length + (v - S))];
}

// Values, and per element the sum of |terms| that a tolerance scales with.
struct Values {
    std::vector<double> value, scale;
    explicit Values(size_t n = 0) : value(n, 0.0), scale(n, 0.0) {}
};

struct ForwardResult {
    Values y, final_state;
};

inline ForwardResult reference_forward(const ConvProblem& p) {
    const ConvConfig& g = p.config;
    const int64_t S = g.state_length();
    ForwardResult r{Values(count(g.output_shape())), Values(count(g.state_shape()))};
    for (int64_t b = 0; b < g.batch; ++b) {
        const int64_t valid = valid_length(p, b);
        for (int64_t o = 0; o < g.out_channels; ++o) {
            for (int64_t t = 0; t < valid; ++t) {
                double sum = g.bias ? p.bias[static_cast<size_t>(o)] : 0.0;
                double scale = std::abs(sum);
                for (int64_t i = 0; i < g.in_channels; ++i) {
                    for (int64_t k = 0; k < g.width; ++k) {
                        const double term = p.weight[static_cast<size_t>((o * g.in_channels + i) * g.width + k)] *
                                            padded(p, b, i, t + k * g.dilation);
                        sum += term;
                        scale += std::abs(term);
                    }
                }
                const size_t at = static_cast<size_t>((b * g.out_channels + o) * g.length + t);
                r.y.value[at] = sum;
                r.y.scale[at] = scale;
            }
        }
        for (int64_t i = 0; i < g.in_channels; ++i) {
            for (int64_t j = 0; j < S; ++j) {
                r.final_state.value[static_cast<size_t>((b * g.in_channels + i) * S + j)] = padded(p, b, i, valid + j);
            }
        }
    }
    return r;
}

struct Gradients {
    Values dx, dweight, dbias, d_state;
};

// The adjoint of reference_forward for the loss sum(y * dy) + sum(final_state * d_final).
inline Gradients reference_backward(const ConvProblem& p) {
    const ConvConfig& g = p.config;
    const int64_t S = g.state_length();
    Gradients r{Values(count(g.input_shape())), Values(count(g.weight_shape())),
                Values(static_cast<size_t>(g.out_channels)), Values(count(g.state_shape()))};
    // d xp[b, i, v] lands in d_state (v < S) or dx (v >= S).
    auto add_padded = [&](int64_t b, int64_t i, int64_t v, double term) {
        Values& target = v < S ? r.d_state : r.dx;
        const size_t at = v < S ? static_cast<size_t>((b * g.in_channels + i) * S + v)
                                : static_cast<size_t>((b * g.in_channels + i) * g.length + (v - S));
        target.value[at] += term;
        target.scale[at] += std::abs(term);
    };
    for (int64_t b = 0; b < g.batch; ++b) {
        const int64_t valid = valid_length(p, b);
        for (int64_t o = 0; o < g.out_channels; ++o) {
            for (int64_t t = 0; t < valid; ++t) {
                const double d = p.dy[static_cast<size_t>((b * g.out_channels + o) * g.length + t)];
                r.dbias.value[static_cast<size_t>(o)] += d;
                r.dbias.scale[static_cast<size_t>(o)] += std::abs(d);
                for (int64_t i = 0; i < g.in_channels; ++i) {
                    for (int64_t k = 0; k < g.width; ++k) {
                        const size_t w_at = static_cast<size_t>((o * g.in_channels + i) * g.width + k);
                        const int64_t v = t + k * g.dilation;
                        const double dw_term = d * padded(p, b, i, v);
                        r.dweight.value[w_at] += dw_term;
                        r.dweight.scale[w_at] += std::abs(dw_term);
                        add_padded(b, i, v, d * p.weight[w_at]);
                    }
                }
            }
        }
        for (int64_t i = 0; i < g.in_channels; ++i) {
            for (int64_t j = 0; j < S; ++j) {
                add_padded(b, i, valid + j, p.d_final[static_cast<size_t>((b * g.in_channels + i) * S + j)]);
            }
        }
    }
    return r;
}

template <typename T>
constexpr int32_t dtype_of() {
    return std::is_same_v<T, float> ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
}

// Relative tolerance against the sum of |terms| of each element.
template <typename T>
constexpr double tolerance_of() {
    return std::is_same_v<T, float> ? 2e-6 : 1e-13;
}

// Every |actual - expected| <= tol * scale + tiny; names the worst element on failure.
inline void expect_close(const std::string& what, const std::vector<double>& actual, const Values& expected,
                         double tol) {
    ASSERT_EQ(actual.size(), expected.value.size()) << what;
    size_t bad = 0, worst = 0;
    double worst_error = -1.0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double error = std::abs(actual[i] - expected.value[i]);
        if (error <= tol * expected.scale[i] + 1e-300) continue;
        ++bad;
        if (!(error <= worst_error)) {
            worst_error = error;
            worst = i;
        }
    }
    if (bad > 0) {
        ADD_FAILURE() << what << ": " << bad << " of " << actual.size() << " elements out of tolerance; worst flat "
                      << worst << " expected " << expected.value[worst] << " got " << actual[worst] << " (scale "
                      << expected.scale[worst] << ", tol " << tol << ")";
    }
}

template <typename T>
std::vector<T> typed(const std::vector<double>& v) {
    return std::vector<T>(v.begin(), v.end());
}

template <typename T>
std::vector<double> widened(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
}

// NaN / +-1e30 in every output before a call: whatever it held must not survive.
template <typename T>
std::vector<T> garbage(size_t n) {
    std::vector<T> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = i % 3 == 0 ? std::nanf("") : static_cast<T>(i % 3 == 1 ? 1e30 : -1e30);
    return v;
}

// Typed copies of a problem's inputs and their CPU views; inputs() points at the optional ones the config asks for.
template <typename T>
struct TypedConv {
    std::vector<T> x, weight, bias, state;
    std::vector<int64_t> lengths;
    hs_tensor x_v{}, weight_v{}, bias_v{}, state_v{}, lengths_v{};

    explicit TypedConv(const ConvProblem& p)
        : x(typed<T>(p.x)), weight(typed<T>(p.weight)), bias(typed<T>(p.bias)), state(typed<T>(p.state)),
          lengths(p.lengths) {
        const ConvConfig& g = p.config;
        x_v = cpu_view(x.data(), dtype_of<T>(), g.input_shape());
        weight_v = cpu_view(weight.data(), dtype_of<T>(), g.weight_shape());
        bias_v = cpu_view(bias.data(), dtype_of<T>(), {g.out_channels});
        state_v = cpu_view(state.data(), dtype_of<T>(), g.state_shape());
        lengths_v = cpu_view(lengths.data(), HS_DTYPE_INT64, {g.batch});
    }

    hs_dilated_conv_inputs inputs(const ConvConfig& g) const {
        hs_dilated_conv_inputs in{};
        in.x = &x_v;
        in.weight = &weight_v;
        in.bias = g.bias ? &bias_v : nullptr;
        in.initial_state = g.state ? &state_v : nullptr;
        in.lengths = g.lengths ? &lengths_v : nullptr;
        in.dilation = g.dilation;
        return in;
    }
};

struct RunResult {
    std::vector<double> y, final_state;
};

template <typename T>
RunResult run_forward(const ConvProblem& p) {
    const ConvConfig& g = p.config;
    TypedConv<T> in(p);
    std::vector<T> y = garbage<T>(count(g.output_shape()));
    std::vector<T> final_state = garbage<T>(count(g.state_shape()));
    const hs_tensor y_v = cpu_view(y.data(), dtype_of<T>(), g.output_shape());
    const hs_tensor f_v = cpu_view(final_state.data(), dtype_of<T>(), g.state_shape());
    const hs_dilated_conv_inputs inputs = in.inputs(g);
    const hs_status status = hs_dilated_conv_forward(&inputs, &y_v, &f_v, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    return {widened(y), widened(final_state)};
}

struct RunGradients {
    std::vector<double> dx, dweight, dbias, d_state;
};

// Which gradients a backward call asks for (NULL for the rest); d_initial_state rides with dx. dbias is asked for
// only when the problem has a bias.
struct WantedGradients {
    bool dx = true, dweight = true, dbias = true;
};

// The gradients the call was asked for (the others are left empty).
template <typename T>
RunGradients run_backward(const ConvProblem& p, WantedGradients want = {}) {
    const ConvConfig& g = p.config;
    TypedConv<T> in(p);
    std::vector<T> dy = typed<T>(p.dy), d_final = typed<T>(p.d_final);
    std::vector<T> dx = garbage<T>(count(g.input_shape())), dweight = garbage<T>(count(g.weight_shape()));
    std::vector<T> dbias = garbage<T>(static_cast<size_t>(g.out_channels));
    std::vector<T> d_state = garbage<T>(count(g.state_shape()));
    const hs_tensor dy_v = cpu_view(dy.data(), dtype_of<T>(), g.output_shape());
    const hs_tensor df_v = cpu_view(d_final.data(), dtype_of<T>(), g.state_shape());
    const hs_tensor dx_v = cpu_view(dx.data(), dtype_of<T>(), g.input_shape());
    const hs_tensor dw_v = cpu_view(dweight.data(), dtype_of<T>(), g.weight_shape());
    const hs_tensor db_v = cpu_view(dbias.data(), dtype_of<T>(), {g.out_channels});
    const hs_tensor ds_v = cpu_view(d_state.data(), dtype_of<T>(), g.state_shape());
    const hs_dilated_conv_inputs inputs = in.inputs(g);
    const bool want_dbias = want.dbias && g.bias;
    hs_dilated_conv_grads grads{want.dx ? &dx_v : nullptr, want.dweight ? &dw_v : nullptr,
                                want_dbias ? &db_v : nullptr, want.dx ? &ds_v : nullptr};
    const hs_status status = hs_dilated_conv_backward(&inputs, &dy_v, &df_v, &grads, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    RunGradients out;
    if (want.dx) out.dx = widened(dx), out.d_state = widened(d_state);
    if (want.dweight) out.dweight = widened(dweight);
    if (want_dbias) out.dbias = widened(dbias);
    return out;
}

}  // namespace dilated_conv
}  // namespace hs_test
