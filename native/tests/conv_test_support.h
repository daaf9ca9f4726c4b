// Shared helpers of the depthwise causal convolution tests (test_depthwise_conv*.cpp): random problems held in
// double, a plain reference forward and backward written straight from the formulas of hybridseq.h, and typed CPU
// runs of the C API. Header-only, so that the CUDA test can use it without a CUDA-only source in the glob.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace hs_test {

struct ConvConfig {
    int64_t batch = 2, channels = 3, length = 7, width = 4, dilation = 1;
    bool has_bias = false, silu = false, has_state = false, has_lengths = false;

    int64_t state() const { return (width - 1) * dilation; }
    std::string describe() const {
        return "Bt" + std::to_string(batch) + "_D" + std::to_string(channels) + "_L" + std::to_string(length) + "_K" +
               std::to_string(width) + "_dil" + std::to_string(dilation) + (has_bias ? "_bias" : "") +
               (silu ? "_silu" : "") + (has_state ? "_state" : "") + (has_lengths ? "_lengths" : "");
    }
};

inline void PrintTo(const ConvConfig& config, std::ostream* os) { *os << config.describe(); }

struct ConvProblem {
    ConvConfig config;
    std::vector<double> x, weight, bias, state;  // bias / state empty when absent
    std::vector<int64_t> lengths;                // empty when absent

    std::vector<int64_t> sequence_shape() const { return {config.batch, config.channels, config.length}; }
    std::vector<int64_t> state_shape() const { return {config.batch, config.channels, config.state()}; }
    std::vector<int64_t> weight_shape() const { return {config.channels, config.width}; }
    int64_t len(int64_t b) const { return lengths.empty() ? config.length : lengths[static_cast<size_t>(b)]; }

    ConvProblem rounded_to_float() const {
        ConvProblem r = *this;
        for (auto* v : {&r.x, &r.weight, &r.bias, &r.state})
            for (double& e : *v) e = static_cast<float>(e);
        return r;
    }
};

inline std::vector<double> random_values(size_t count, std::mt19937& rng, double scale = 1.0) {
    std::normal_distribution<double> normal(0.0, scale);
    std::vector<double> v(count);
    for (double& e : v) e = normal(rng);
    return v;
}

inline std::vector<double> round_to_float(std::vector<double> v) {
    for (double& e : v) e = static_cast<float>(e);
    return v;
}

// Lengths (when asked) are L, (L + 1) / 2, 0, L, ... over the batch.
inline ConvProblem make_conv_problem(const ConvConfig& c, uint32_t seed) {
    std::mt19937 rng(seed);
    ConvProblem p;
    p.config = c;
    const size_t rows = static_cast<size_t>(c.batch * c.channels);
    p.x = random_values(rows * static_cast<size_t>(c.length), rng);
    p.weight = random_values(static_cast<size_t>(c.channels * c.width), rng, 1.0 / std::sqrt(double(c.width)));
    if (c.has_bias) p.bias = random_values(static_cast<size_t>(c.channels), rng);
    if (c.has_state) p.state = random_values(rows * static_cast<size_t>(c.state()), rng);
    if (c.has_lengths) {
        for (int64_t b = 0; b < c.batch; ++b) {
            const int64_t pattern[3] = {c.length, (c.length + 1) / 2, 0};
            p.lengths.push_back(pattern[b % 3]);
        }
    }
    return p;
}

struct ConvForwardResult {
    std::vector<double> y, final_state;
};

struct ConvGradients {
    std::vector<double> dx, dweight, dbias, d_state;
};

// input(b, d, s): x for 0 <= s < len, the state's position S + s (or 0) for s < 0, 0 for s >= len.
inline double conv_input(const ConvProblem& p, int64_t b, int64_t d, int64_t s) {
    const ConvConfig& c = p.config;
    const int64_t S = c.state();
    const size_t row = static_cast<size_t>(b * c.channels + d);
    if (s < 0) return p.state.empty() ? 0.0 : p.state[row * S + static_cast<size_t>(S + s)];
    if (s >= p.len(b)) return 0.0;
    return p.x[row * static_cast<size_t>(c.length) + static_cast<size_t>(s)];
}

inline double preactivation(const ConvProblem& p, int64_t b, int64_t d, int64_t t) {
    const ConvConfig& c = p.config;
    double a = p.bias.empty() ? 0.0 : p.bias[static_cast<size_t>(d)];
    for (int64_t k = 0; k < c.width; ++k)
        a += p.weight[static_cast<size_t>(d * c.width + k)] * conv_input(p, b, d, t - (c.width - 1 - k) * c.dilation);
    return a;
}

// The oracle forward: one output at a time, straight from the definition.
inline ConvForwardResult reference_conv_forward(const ConvProblem& p) {
    const ConvConfig& c = p.config;
    const int64_t S = c.state();
    ConvForwardResult r;
    r.y.assign(static_cast<size_t>(c.batch * c.channels * c.length), 0.0);
    r.final_state.assign(static_cast<size_t>(c.batch * c.channels * S), 0.0);
    for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t d = 0; d < c.channels; ++d) {
            const size_t row = static_cast<size_t>(b * c.channels + d);
            for (int64_t t = 0; t < p.len(b); ++t) {
                const double a = preactivation(p, b, d, t);
                r.y[row * c.length + t] = c.silu ? a / (1.0 + std::exp(-a)) : a;
            }
            for (int64_t i = 0; i < S; ++i) r.final_state[row * S + i] = conv_input(p, b, d, p.len(b) - S + i);
        }
    return r;
}

// The oracle backward, in scatter form (each output's gradient pushed to the inputs it read), unlike the kernels'
// gather form. d_final_state may be empty (= zeros).
inline ConvGradients reference_conv_backward(const ConvProblem& p, const std::vector<double>& dy,
                                             const std::vector<double>& d_final_state) {
    const ConvConfig& c = p.config;
    const int64_t S = c.state(), L = c.length;
    ConvGradients g;
    g.dx.assign(p.x.size(), 0.0);
    g.dweight.assign(p.weight.size(), 0.0);
    g.dbias.assign(static_cast<size_t>(c.channels), 0.0);
    g.d_state.assign(static_cast<size_t>(c.batch * c.channels * S), 0.0);
    for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t d = 0; d < c.channels; ++d) {
            const size_t row = static_cast<size_t>(b * c.channels + d);
            // Pushes a gradient to input(s): x, the initial state, or nowhere (padding).
            auto push = [&](int64_t s, double grad) {
                if (s < 0) g.d_state[row * S + static_cast<size_t>(S + s)] += grad;
                else if (s < p.len(b)) g.dx[row * L + static_cast<size_t>(s)] += grad;
            };
            for (int64_t t = 0; t < p.len(b); ++t) {
                const double a = preactivation(p, b, d, t);
                const double sg = 1.0 / (1.0 + std::exp(-a));
                const double ga = dy[row * L + t] * (c.silu ? sg * (1.0 + a * (1.0 - sg)) : 1.0);
                g.dbias[static_cast<size_t>(d)] += ga;
                for (int64_t k = 0; k < c.width; ++k) {
                    const int64_t s = t - (c.width - 1 - k) * c.dilation;
                    g.dweight[static_cast<size_t>(d * c.width + k)] += ga * conv_input(p, b, d, s);
                    push(s, ga * p.weight[static_cast<size_t>(d * c.width + k)]);
                }
            }
            if (!d_final_state.empty())
                for (int64_t i = 0; i < S; ++i) push(p.len(b) - S + i, d_final_state[row * S + i]);
        }
    return g;
}

inline hs_tensor conv_cpu_view(const void* data, int32_t dtype, const std::vector<int64_t>& shape) {
    hs_tensor view{};
    view.data = const_cast<void*>(data);
    view.dtype = dtype;
    view.device_type = HS_DEVICE_CPU;
    view.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int i = view.rank - 1; i >= 0; --i) {
        view.sizes[i] = shape[static_cast<size_t>(i)];
        view.strides[i] = stride;
        stride *= std::max<int64_t>(shape[static_cast<size_t>(i)], 1);
    }
    return view;
}

template <typename T>
constexpr int32_t conv_dtype() {
    return sizeof(T) == 4 ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
}

// Typed copies of a problem and the views of them (CPU).
template <typename T>
struct CpuConv {
    std::vector<T> x, weight, bias, state;
    std::vector<int64_t> lengths;
    hs_tensor x_v{}, weight_v{}, bias_v{}, state_v{}, lengths_v{};
    hs_depthwise_conv_inputs inputs{};

    explicit CpuConv(const ConvProblem& p)
        : x(p.x.begin(), p.x.end()), weight(p.weight.begin(), p.weight.end()), bias(p.bias.begin(), p.bias.end()),
          state(p.state.begin(), p.state.end()), lengths(p.lengths) {
        const int32_t dt = conv_dtype<T>();
        x_v = conv_cpu_view(x.data(), dt, p.sequence_shape());
        weight_v = conv_cpu_view(weight.data(), dt, p.weight_shape());
        bias_v = conv_cpu_view(bias.data(), dt, {p.config.channels});
        state_v = conv_cpu_view(state.data(), dt, p.state_shape());
        lengths_v = conv_cpu_view(lengths.data(), HS_DTYPE_INT64, {p.config.batch});
        inputs.x = &x_v;
        inputs.weight = &weight_v;
        inputs.bias = p.bias.empty() ? nullptr : &bias_v;
        inputs.initial_state = p.state.empty() ? nullptr : &state_v;
        inputs.lengths = p.lengths.empty() ? nullptr : &lengths_v;
        inputs.dilation = p.config.dilation;
        inputs.silu = p.config.silu ? 1 : 0;
    }
    CpuConv(const CpuConv&) = delete;
    CpuConv& operator=(const CpuConv&) = delete;
};

template <typename T>
std::vector<double> widen(const std::vector<T>& v) {
    return std::vector<double>(v.begin(), v.end());
}

template <typename T>
ConvForwardResult run_conv_forward(const ConvProblem& p) {
    CpuConv<T> in(p);
    std::vector<T> y(p.x.size(), T(-7)), fs(static_cast<size_t>(p.config.batch * p.config.channels * p.config.state()), T(-7));
    const hs_tensor y_v = conv_cpu_view(y.data(), conv_dtype<T>(), p.sequence_shape());
    const hs_tensor fs_v = conv_cpu_view(fs.data(), conv_dtype<T>(), p.state_shape());
    EXPECT_EQ(hs_depthwise_conv_forward(&in.inputs, &y_v, &fs_v, nullptr), HS_OK) << hs_last_error();
    return {widen(y), widen(fs)};
}

template <typename T>
ConvGradients run_conv_backward(const ConvProblem& p, const std::vector<double>& dy,
                                const std::vector<double>& d_final_state) {
    CpuConv<T> in(p);
    const int32_t dt = conv_dtype<T>();
    std::vector<T> dy_t(dy.begin(), dy.end()), dfs_t(d_final_state.begin(), d_final_state.end());
    std::vector<T> dx(p.x.size(), T(-7)), dw(p.weight.size(), T(-7)), db(static_cast<size_t>(p.config.channels), T(-7)),
        ds(static_cast<size_t>(p.config.batch * p.config.channels * p.config.state()), T(-7));
    const hs_tensor dy_v = conv_cpu_view(dy_t.data(), dt, p.sequence_shape());
    const hs_tensor dfs_v = conv_cpu_view(dfs_t.data(), dt, p.state_shape());
    const hs_tensor dx_v = conv_cpu_view(dx.data(), dt, p.sequence_shape());
    const hs_tensor dw_v = conv_cpu_view(dw.data(), dt, p.weight_shape());
    const hs_tensor db_v = conv_cpu_view(db.data(), dt, {p.config.channels});
    const hs_tensor ds_v = conv_cpu_view(ds.data(), dt, p.state_shape());
    hs_depthwise_conv_grads grads{&dx_v, &dw_v, p.bias.empty() ? nullptr : &db_v, &ds_v};
    EXPECT_EQ(hs_depthwise_conv_backward(&in.inputs, &dy_v, d_final_state.empty() ? nullptr : &dfs_v, &grads,
                                         nullptr, nullptr),
              HS_OK)
        << hs_last_error();
    ConvGradients g{widen(dx), widen(dw), p.bias.empty() ? std::vector<double>{} : widen(db), widen(ds)};
    return g;
}

// Largest |a - e| / (atol + rtol * |e|); <= 1 means within tolerance.
inline double conv_error_ratio(const std::vector<double>& actual, const std::vector<double>& expected, double atol,
                               double rtol) {
    EXPECT_EQ(actual.size(), expected.size());
    double worst = 0;
    for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
        const double ratio = std::abs(actual[i] - expected[i]) / (atol + rtol * std::abs(expected[i]));
        if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio;
    }
    return worst;
}

}  // namespace hs_test
