// The CPU twin of the depthwise causal convolution against the oracle of conv_test_support.h over the issue's
// matrix (L = 1, 2, 7, 129, 1031; D not a multiple of the vector width; K = 1, 2, 3, 4, 5, 31; dilation 1, 2, 7, 64;
// every optional input on and off), float64 finite differences of every input, full == step by step == chunked
// streaming, thread-count independence, and the validation of every argument.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "conv_test_support.h"

namespace hs_test {
namespace {

std::vector<ConvConfig> matrix_configs() {
    std::vector<ConvConfig> configs;
    const int64_t lengths[] = {1, 2, 7, 129, 1031};
    const int64_t widths[] = {1, 2, 3, 4, 5, 31};
    const int64_t dilations[] = {1, 2, 7, 64};
    const int64_t channels[] = {3, 9, 17};  // never a multiple of 8 (float) or 4 (double) lanes
    int k = 0;
    for (int64_t L : lengths)
        for (int64_t K : widths)
            for (int64_t dil : dilations) {
                if (K == 1 && dil != 1) continue;  // dilation means nothing for one tap
                const int bits = (k * 7 + 5) % 16;
                for (int pattern : {bits, 15 - bits}) {
                    ConvConfig c;
                    c.batch = 2 + k % 2;
                    c.channels = channels[k % 3];
                    c.length = L;
                    c.width = K;
                    c.dilation = dil;
                    c.has_bias = (pattern & 1) != 0;
                    c.silu = (pattern & 2) != 0;
                    c.has_state = (pattern & 4) != 0;
                    c.has_lengths = (pattern & 8) != 0;
                    configs.push_back(c);
                }
                ++k;
            }
    return configs;
}

class DepthwiseConvMatrix : public ::testing::TestWithParam<ConvConfig> {};

TEST_P(DepthwiseConvMatrix, ForwardAndBackwardMatchTheOracle) {
    const ConvConfig c = GetParam();
    const ConvProblem problem = make_conv_problem(c, 1234u + static_cast<uint32_t>(c.length * 31 + c.width));
    std::mt19937 rng(99);
    const std::vector<double> dy = random_values(problem.x.size(), rng);
    const std::vector<double> dfs = random_values(static_cast<size_t>(c.batch * c.channels * c.state()), rng);

    // float64: the same math in another order, so only rounding differs.
    {
        const ConvForwardResult expected = reference_conv_forward(problem);
        const ConvForwardResult actual = run_conv_forward<double>(problem);
        EXPECT_LE(conv_error_ratio(actual.y, expected.y, 1e-12, 1e-11), 1.0) << "y, float64";
        EXPECT_EQ(actual.final_state, expected.final_state) << "final state (a copy), float64";
        const ConvGradients eg = reference_conv_backward(problem, dy, dfs);
        const ConvGradients ag = run_conv_backward<double>(problem, dy, dfs);
        EXPECT_LE(conv_error_ratio(ag.dx, eg.dx, 1e-11, 1e-10), 1.0) << "dx, float64";
        EXPECT_LE(conv_error_ratio(ag.dweight, eg.dweight, 1e-10, 1e-10), 1.0) << "dweight, float64";
        if (c.has_bias) {
            EXPECT_LE(conv_error_ratio(ag.dbias, eg.dbias, 1e-10, 1e-10), 1.0) << "dbias, float64";
        }
        EXPECT_LE(conv_error_ratio(ag.d_state, eg.d_state, 1e-11, 1e-10), 1.0) << "d_initial_state, float64";
    }
    // float32 against the oracle run on the rounded inputs.
    {
        const ConvProblem rounded = problem.rounded_to_float();
        const ConvForwardResult expected = reference_conv_forward(rounded);
        const ConvForwardResult actual = run_conv_forward<float>(rounded);
        EXPECT_LE(conv_error_ratio(actual.y, expected.y, 1e-5, 1e-4), 1.0) << "y, float32";
        EXPECT_EQ(actual.final_state, expected.final_state) << "final state (a copy), float32";
        const ConvGradients eg = reference_conv_backward(rounded, dy, dfs);
        const ConvGradients ag = run_conv_backward<float>(rounded, dy, dfs);
        // dweight sums Bt * L products.
        const double sum_scale = std::sqrt(double(c.batch * c.length));
        EXPECT_LE(conv_error_ratio(ag.dx, eg.dx, 1e-5, 1e-4), 1.0) << "dx, float32";
        EXPECT_LE(conv_error_ratio(ag.dweight, eg.dweight, 1e-5 * sum_scale, 1e-4), 1.0) << "dweight, float32";
        if (c.has_bias) {
            EXPECT_LE(conv_error_ratio(ag.dbias, eg.dbias, 1e-5 * sum_scale, 1e-4), 1.0) << "dbias, float32";
        }
        EXPECT_LE(conv_error_ratio(ag.d_state, eg.d_state, 1e-5, 1e-4), 1.0) << "d_initial_state, float32";
    }
}

INSTANTIATE_TEST_SUITE_P(Matrix, DepthwiseConvMatrix, ::testing::ValuesIn(matrix_configs()),
                         [](const ::testing::TestParamInfo<ConvConfig>& info) { return info.param.describe(); });

// loss = sum(y * wy) + sum(final_state * ws) through the C API in float64.
double conv_loss(const ConvProblem& p, const std::vector<double>& wy, const std::vector<double>& ws) {
    const ConvForwardResult r = run_conv_forward<double>(p);
    double loss = 0;
    for (size_t i = 0; i < wy.size(); ++i) loss += r.y[i] * wy[i];
    for (size_t i = 0; i < ws.size(); ++i) loss += r.final_state[i] * ws[i];
    return loss;
}

class DepthwiseConvFiniteDifferences : public ::testing::TestWithParam<ConvConfig> {};

TEST_P(DepthwiseConvFiniteDifferences, EveryInputIncludingTheInitialState) {
    const ConvConfig c = GetParam();
    ConvProblem p = make_conv_problem(c, 77u);
    std::mt19937 rng(5);
    const std::vector<double> wy = random_values(p.x.size(), rng);
    const std::vector<double> ws = random_values(static_cast<size_t>(c.batch * c.channels * c.state()), rng);
    const ConvGradients g = run_conv_backward<double>(p, wy, ws);
    const double eps = 1e-6;
    auto check = [&](std::vector<double>& values, const std::vector<double>& analytic, const char* name) {
        ASSERT_EQ(values.size(), analytic.size()) << name;
        for (size_t i = 0; i < values.size(); ++i) {
            const double original = values[i];
            values[i] = original + eps;
            const double plus = conv_loss(p, wy, ws);
            values[i] = original - eps;
            const double minus = conv_loss(p, wy, ws);
            values[i] = original;
            const double numeric = (plus - minus) / (2 * eps);
            EXPECT_NEAR(analytic[i], numeric, 1e-7 + 1e-6 * std::abs(numeric)) << name << "[" << i << "]";
        }
    };
    check(p.x, g.dx, "dx");
    check(p.weight, g.dweight, "dweight");
    if (c.has_bias) check(p.bias, g.dbias, "dbias");
    if (c.has_state) check(p.state, g.d_state, "d_initial_state");
}

ConvConfig fd_config(int64_t batch, int64_t channels, int64_t length, int64_t width, int64_t dilation, bool bias,
                     bool silu, bool state, bool lengths) {
    ConvConfig c;
    c.batch = batch;
    c.channels = channels;
    c.length = length;
    c.width = width;
    c.dilation = dilation;
    c.has_bias = bias;
    c.silu = silu;
    c.has_state = state;
    c.has_lengths = lengths;
    return c;
}

INSTANTIATE_TEST_SUITE_P(
    Small, DepthwiseConvFiniteDifferences,
    ::testing::Values(fd_config(3, 3, 7, 3, 2, true, true, true, true), fd_config(2, 2, 5, 4, 1, false, true, true, false),
                      fd_config(3, 2, 6, 2, 7, true, false, true, true), fd_config(1, 3, 1, 1, 1, true, true, false, false),
                      fd_config(3, 2, 9, 5, 3, false, false, true, true)),
    [](const ::testing::TestParamInfo<ConvConfig>& info) { return info.param.describe(); });

// Streams a batch of different lengths through hs_depthwise_conv_step in chunks cut at `cuts` (0 and L included):
// y of every chunk, and the state after the chunk that ends at lengths[b] for row b.
template <typename T>
void expect_streaming_matches_full(const ConvProblem& p, const std::vector<int64_t>& cuts, const char* what) {
    const ConvConfig& c = p.config;
    const int64_t S = c.state(), L = c.length;
    const ConvForwardResult full = run_conv_forward<T>(p);
    std::vector<T> state(p.state.begin(), p.state.end());
    const int32_t dt = conv_dtype<T>();
    std::vector<double> streamed(p.x.size(), 0.0);
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        const int64_t t0 = cuts[i], n = cuts[i + 1] - cuts[i];
        std::vector<T> x(static_cast<size_t>(c.batch * c.channels * n)), y(x.size(), T(-7));
        for (int64_t r = 0; r < c.batch * c.channels; ++r)
            for (int64_t t = 0; t < n; ++t) x[static_cast<size_t>(r * n + t)] = static_cast<T>(p.x[r * L + t0 + t]);
        std::vector<T> weight(p.weight.begin(), p.weight.end()), bias(p.bias.begin(), p.bias.end());
        const hs_tensor x_v = conv_cpu_view(x.data(), dt, {c.batch, c.channels, n});
        const hs_tensor y_v = conv_cpu_view(y.data(), dt, {c.batch, c.channels, n});
        const hs_tensor w_v = conv_cpu_view(weight.data(), dt, p.weight_shape());
        const hs_tensor b_v = conv_cpu_view(bias.data(), dt, {c.channels});
        const hs_tensor s_v = conv_cpu_view(state.data(), dt, p.state_shape());
        hs_depthwise_conv_inputs in{&x_v, &w_v, p.bias.empty() ? nullptr : &b_v, nullptr, nullptr, c.dilation,
                                    c.silu ? 1 : 0, 0};
        ASSERT_EQ(hs_depthwise_conv_step(&in, &s_v, &y_v, nullptr), HS_OK) << hs_last_error();
        for (int64_t r = 0; r < c.batch * c.channels; ++r)
            for (int64_t t = 0; t < n; ++t) streamed[r * L + t0 + t] = y[static_cast<size_t>(r * n + t)];
        for (int64_t b = 0; b < c.batch; ++b) {
            if (p.len(b) != cuts[i + 1]) continue;
            for (int64_t d = 0; d < c.channels; ++d)
                for (int64_t j = 0; j < S; ++j) {
                    const size_t at = static_cast<size_t>((b * c.channels + d) * S + j);
                    ASSERT_EQ(static_cast<double>(state[at]), full.final_state[at])
                        << what << ": state of row " << b << " after " << p.len(b) << " tokens";
                }
        }
    }
    for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t d = 0; d < c.channels; ++d)
            for (int64_t t = 0; t < p.len(b); ++t) {
                const size_t at = static_cast<size_t>((b * c.channels + d) * L + t);
                // The same products in the same order: bitwise equal.
                ASSERT_EQ(streamed[at], full.y[at]) << what << ": y at b " << b << " d " << d << " t " << t;
            }
}

TEST(DepthwiseConvStreaming, FullEqualsStepByStepAndRandomChunks) {
    for (int64_t width : {1, 3, 4}) {
        for (int64_t dilation : {1, 3}) {
            ConvConfig c = fd_config(4, 9, 53, width, dilation, true, true, true, false);
            ConvProblem p = make_conv_problem(c, 2024u);
            p.lengths = {53, 20, 1, 0};
            std::vector<int64_t> one_at_a_time;
            for (int64_t t = 0; t <= c.length; ++t) one_at_a_time.push_back(t);
            expect_streaming_matches_full<double>(p, one_at_a_time, "step by step, float64");
            expect_streaming_matches_full<float>(p.rounded_to_float(), one_at_a_time, "step by step, float32");
            std::mt19937 rng(static_cast<uint32_t>(width * 10 + dilation));
            for (int trial = 0; trial < 3; ++trial) {
                std::vector<int64_t> cuts = {0, 53, 20, 1};
                std::uniform_int_distribution<int64_t> at(1, c.length - 1);
                for (int i = 0; i < 5; ++i) cuts.push_back(at(rng));
                std::sort(cuts.begin(), cuts.end());
                cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
                expect_streaming_matches_full<double>(p, cuts, "random chunks, float64");
                expect_streaming_matches_full<float>(p.rounded_to_float(), cuts, "random chunks, float32");
            }
        }
    }
}

TEST(DepthwiseConvThreads, BackwardIsBitwiseIndependentOfTheThreadCount) {
    const ConvConfig c = fd_config(3, 37, 301, 4, 2, true, true, true, true);
    const ConvProblem p = make_conv_problem(c, 8u).rounded_to_float();
    std::mt19937 rng(3);
    const std::vector<double> dy = random_values(p.x.size(), rng);
    const std::vector<double> dfs = random_values(static_cast<size_t>(c.batch * c.channels * c.state()), rng);
    ASSERT_EQ(hs_set_num_threads(1), HS_OK);
    const ConvGradients one = run_conv_backward<float>(p, dy, dfs);
    ASSERT_EQ(hs_set_num_threads(2), HS_OK);
    const ConvGradients two = run_conv_backward<float>(p, dy, dfs);
    ASSERT_EQ(hs_set_num_threads(0), HS_OK);
    EXPECT_EQ(one.dx, two.dx);
    EXPECT_EQ(one.dweight, two.dweight);
    EXPECT_EQ(one.dbias, two.dbias);
    EXPECT_EQ(one.d_state, two.d_state);
}

// ---- validation -----------------------------------------------------------------------------------------------

struct ValidConv {
    ConvProblem problem = make_conv_problem(fd_config(2, 3, 5, 3, 2, true, true, true, true), 1u);
    CpuConv<float> in{problem};
    std::vector<float> y = std::vector<float>(problem.x.size()), fs = std::vector<float>(2 * 3 * 4);
    std::vector<float> dy = std::vector<float>(problem.x.size(), 1.0f), dx = dy, dw = std::vector<float>(9),
                       db = std::vector<float>(3), ds = fs, workspace = std::vector<float>(64);
    hs_tensor y_v = conv_cpu_view(y.data(), HS_DTYPE_FLOAT32, {2, 3, 5});
    hs_tensor fs_v = conv_cpu_view(fs.data(), HS_DTYPE_FLOAT32, {2, 3, 4});
    hs_tensor dy_v = conv_cpu_view(dy.data(), HS_DTYPE_FLOAT32, {2, 3, 5});
    hs_tensor dx_v = conv_cpu_view(dx.data(), HS_DTYPE_FLOAT32, {2, 3, 5});
    hs_tensor dw_v = conv_cpu_view(dw.data(), HS_DTYPE_FLOAT32, {3, 3});
    hs_tensor db_v = conv_cpu_view(db.data(), HS_DTYPE_FLOAT32, {3});
    hs_tensor ds_v = conv_cpu_view(ds.data(), HS_DTYPE_FLOAT32, {2, 3, 4});
    hs_depthwise_conv_grads grads{&dx_v, &dw_v, &db_v, &ds_v};

    hs_status forward() { return hs_depthwise_conv_forward(&in.inputs, &y_v, &fs_v, nullptr); }
    hs_status backward() { return hs_depthwise_conv_backward(&in.inputs, &dy_v, &fs_v, &grads, nullptr, nullptr); }
};

void expect_invalid(hs_status status, const std::string& entry, const std::string& fragment) {
    EXPECT_EQ(status, HS_ERR_INVALID_ARGUMENT) << hs_last_error();
    const std::string message = hs_last_error();
    EXPECT_EQ(message.rfind(entry + ":", 0), 0u) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << message;
}

TEST(DepthwiseConvValidation, TheValidCallsSucceed) {
    ValidConv v;
    EXPECT_EQ(v.forward(), HS_OK) << hs_last_error();
    EXPECT_EQ(v.backward(), HS_OK) << hs_last_error();
    int64_t elements = -1;
    EXPECT_EQ(hs_depthwise_conv_workspace_elements(&v.in.inputs, &elements), HS_OK) << hs_last_error();
    EXPECT_EQ(elements, 0);
}

TEST(DepthwiseConvValidation, EveryBadArgumentIsNamed) {
    const std::string fwd = "hs_depthwise_conv_forward", bwd = "hs_depthwise_conv_backward",
                      step = "hs_depthwise_conv_step";
    {
        ValidConv v;
        expect_invalid(hs_depthwise_conv_forward(nullptr, &v.y_v, nullptr, nullptr), fwd, "argument 'inputs'");
    }
    {
        ValidConv v;
        v.in.inputs.x = nullptr;
        expect_invalid(v.forward(), fwd, "argument 'x' is required");
    }
    {
        ValidConv v;
        v.in.x_v.rank = 2;
        expect_invalid(v.forward(), fwd, "argument 'x'");
    }
    {
        ValidConv v;
        v.in.inputs.weight = nullptr;
        expect_invalid(v.forward(), fwd, "argument 'weight' is required");
    }
    {
        ValidConv v;  // weight (D, 0): no tap
        v.in.weight_v.sizes[1] = 0;
        expect_invalid(v.forward(), fwd, "argument 'weight' must have shape (D, K) with K >= 1");
    }
    {
        ValidConv v;  // weight of another channel count
        v.in.weight_v = conv_cpu_view(v.in.weight.data(), HS_DTYPE_FLOAT32, {1, 3});
        expect_invalid(v.forward(), fwd, "argument 'weight'");
    }
    {
        ValidConv v;
        v.in.weight_v.dtype = HS_DTYPE_FLOAT64;
        expect_invalid(v.forward(), fwd, "argument 'weight'");
    }
    {
        ValidConv v;
        v.in.bias_v.sizes[0] = 2;
        expect_invalid(v.forward(), fwd, "argument 'bias'");
    }
    {
        ValidConv v;
        v.in.inputs.dilation = 0;
        expect_invalid(v.forward(), fwd, "field 'dilation' of argument 'inputs' must be >= 1, got 0");
    }
    {
        ValidConv v;
        v.in.inputs.dilation = INT64_MAX / 2;
        expect_invalid(v.forward(), fwd, "field 'dilation' of argument 'inputs'");
    }
    {
        ValidConv v;
        v.in.inputs.silu = 2;
        expect_invalid(v.forward(), fwd, "field 'silu' of argument 'inputs'");
    }
    {
        ValidConv v;  // the state is (Bt, D, (K-1)*dilation) = (2, 3, 4)
        v.in.state_v = conv_cpu_view(v.in.state.data(), HS_DTYPE_FLOAT32, {2, 3, 3});
        expect_invalid(v.forward(), fwd, "argument 'initial_state'");
    }
    {
        ValidConv v;
        v.in.lengths[1] = 6;
        expect_invalid(v.forward(), fwd, "argument 'lengths'");
    }
    {
        ValidConv v;
        v.in.lengths[0] = -1;
        expect_invalid(v.forward(), fwd, "argument 'lengths'");
    }
    {
        ValidConv v;
        v.in.lengths_v.dtype = HS_DTYPE_INT32;
        expect_invalid(v.forward(), fwd, "argument 'lengths'");
    }
    {
        ValidConv v;
        expect_invalid(hs_depthwise_conv_forward(&v.in.inputs, nullptr, nullptr, nullptr), fwd,
                       "argument 'y' is required");
    }
    {
        ValidConv v;
        v.y_v.sizes[2] = 4;
        expect_invalid(v.forward(), fwd, "argument 'y'");
    }
    {
        ValidConv v;
        v.fs_v.sizes[2] = 3;
        expect_invalid(v.forward(), fwd, "argument 'final_state'");
    }
    {
        ValidConv v;  // an output over an input
        expect_invalid(hs_depthwise_conv_forward(&v.in.inputs, &v.in.x_v, nullptr, nullptr), fwd, "argument 'y'");
    }
    {
        ValidConv v;
        v.y_v.strides[2] = 2;
        v.y_v.strides[1] = 10;
        v.y_v.strides[0] = 30;
        expect_invalid(v.forward(), fwd, "argument 'y'");
    }
    {
        ValidConv v;
        expect_invalid(hs_depthwise_conv_backward(&v.in.inputs, nullptr, nullptr, &v.grads, nullptr, nullptr), bwd,
                       "argument 'dy' is required");
    }
    {
        ValidConv v;
        expect_invalid(hs_depthwise_conv_backward(&v.in.inputs, &v.dy_v, nullptr, nullptr, nullptr, nullptr), bwd,
                       "argument 'grads'");
    }
    {
        ValidConv v;
        v.grads.dx = nullptr;
        expect_invalid(v.backward(), bwd, "argument 'grads->dx' is required");
    }
    {
        ValidConv v;
        v.grads.dweight = nullptr;
        expect_invalid(v.backward(), bwd, "argument 'grads->dweight' is required");
    }
    {
        ValidConv v;
        v.grads.dbias = nullptr;
        expect_invalid(v.backward(), bwd, "argument 'grads->dbias' is required because 'bias' was given");
    }
    {
        ValidConv v;
        v.in.inputs.bias = nullptr;
        expect_invalid(v.backward(), bwd, "argument 'grads->dbias' must be NULL");
    }
    {
        ValidConv v;
        v.ds_v.sizes[2] = 5;
        expect_invalid(v.backward(), bwd, "argument 'grads->d_initial_state'");
    }
    {
        ValidConv v;
        v.dw_v.sizes[1] = 2;
        expect_invalid(v.backward(), bwd, "argument 'grads->dweight'");
    }
    {
        ValidConv v;  // a workspace that is given is checked
        const hs_tensor ws = conv_cpu_view(v.workspace.data(), HS_DTYPE_FLOAT64, {64});
        expect_invalid(hs_depthwise_conv_backward(&v.in.inputs, &v.dy_v, nullptr, &v.grads, &ws, nullptr), bwd,
                       "argument 'workspace'");
    }
    {
        ValidConv v;
        expect_invalid(hs_depthwise_conv_workspace_elements(&v.in.inputs, nullptr),
                       "hs_depthwise_conv_workspace_elements", "argument 'elements'");
    }
    {
        ValidConv v;  // the step takes its state as 'state'
        expect_invalid(hs_depthwise_conv_step(&v.in.inputs, &v.fs_v, &v.y_v, nullptr), step,
                       "argument 'initial_state' must be NULL");
    }
    {
        ValidConv v;
        v.in.inputs.initial_state = nullptr;
        expect_invalid(hs_depthwise_conv_step(&v.in.inputs, &v.fs_v, &v.y_v, nullptr), step,
                       "argument 'lengths' must be NULL");
    }
    {
        ValidConv v;
        v.in.inputs.initial_state = nullptr;
        v.in.inputs.lengths = nullptr;
        expect_invalid(hs_depthwise_conv_step(&v.in.inputs, nullptr, &v.y_v, nullptr), step,
                       "argument 'state' is required");
        v.fs_v.sizes[2] = 3;
        expect_invalid(hs_depthwise_conv_step(&v.in.inputs, &v.fs_v, &v.y_v, nullptr), step, "argument 'state'");
    }
    {
        ValidConv v;  // a success clears the last error
        v.in.inputs.silu = 3;
        EXPECT_EQ(v.forward(), HS_ERR_INVALID_ARGUMENT);
        v.in.inputs.silu = 1;
        EXPECT_EQ(v.forward(), HS_OK);
        EXPECT_STREQ(hs_last_error(), "");
    }
}

TEST(DepthwiseConvEmpty, ZeroLengthPassesTheStateThrough) {
    ConvConfig c = fd_config(2, 3, 0, 3, 2, true, true, true, false);
    ConvProblem p = make_conv_problem(c, 4u);
    const ConvForwardResult r = run_conv_forward<double>(p);
    EXPECT_EQ(r.final_state, p.state);
    const ConvGradients g = run_conv_backward<double>(p, {}, std::vector<double>(p.state.size(), 2.5));
    EXPECT_EQ(g.d_state, std::vector<double>(p.state.size(), 2.5));
    EXPECT_EQ(g.dweight, std::vector<double>(p.weight.size(), 0.0));
    EXPECT_EQ(g.dbias, std::vector<double>(3, 0.0));
}

}  // namespace
}  // namespace hs_test
