// The dense dilated causal convolution hs_dilated_conv_* (CPU) against the slow reference of
// dilated_conv_test_support.h, written from hybridseq.h: forward and backward over the issue's matrix (L = 1, 2, 7,
// 129, 1031; channel counts off the vector width with C_in != C_out; K = 1, 2, 3, 4, 5, 31; dilation 1, 2, 7, 64 > L;
// with and without bias, initial state and lengths), float64 finite differences of every input including the
// initial state, full == step-by-step == chunked streaming (random chunk sizes, batch > 1 with different lengths),
// bitwise independence of the thread count, and every bad input's status and message.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dilated_conv_test_support.h"

namespace hs_test {
namespace dilated_conv {
namespace {

// The matrix: every (L, K, dilation) of the issue once, channels and flags varied by a fixed pattern so that every
// flag is on and off across each L, and the batch alternates 2 / 3 (both with different lengths).
std::vector<ConvConfig> matrix() {
    const int64_t lengths[] = {1, 2, 7, 129, 1031};
    const int64_t widths[] = {1, 2, 3, 4, 5, 31};
    const int64_t dilations[] = {1, 2, 7, 64};
    const int64_t in_channels[] = {1, 3, 9, 17};
    const int64_t out_channels[] = {2, 5, 13, 1};
    std::vector<ConvConfig> configs;
    int k = 0;
    for (int64_t L : lengths) {
        for (int64_t K : widths) {
            for (int64_t d : dilations) {
                ConvConfig c;
                c.length = L;
                c.width = K;
                c.dilation = d;
                c.batch = 2 + k % 2;
                c.in_channels = in_channels[k % 4];
                c.out_channels = out_channels[(k / 4) % 4];
                c.bias = (k & 1) != 0;
                c.state = (k & 2) != 0;
                c.lengths = (k % 3) != 0;
                // The long, wide cases cost the reference Bt*C_out*L*C_in*K: keep the channels small there.
                if (L > 1000 && K > 5) c.in_channels = std::min<int64_t>(c.in_channels, 3);
                configs.push_back(c);
                ++k;
            }
        }
    }
    // Several output strips and panels, tails on both, and a product above the kernels' parallel threshold.
    configs.push_back({3, 37, 70, 3, 4, 300, true, true, true});
    configs.push_back({2, 64, 50, 2, 1, 257, false, true, false});
    // The CPU kernels' blocking: a depth (K*C_in = 300) whose 256-deep blocks split a tap, more output rows than one
    // 96-row sub-block (110, with a tail strip), several 128-column blocks with a tail panel, 16-channel groups with a
    // tail (100 = 6*16 + 4) for dweight, and dweight's 256-position depth blocks with a tail and per-row lengths.
    configs.push_back({2, 100, 110, 3, 5, 600, true, true, true});
    configs.push_back({3, 19, 7, 2, 129, 530, true, false, false});  // dilation 129 > one 128-column block: the taps read disjoint runs
    // dilation 300 > dweight's 256-position depth blocks: each tap gets its own packed window (with and without a state).
    configs.push_back({2, 5, 4, 3, 300, 700, true, true, true});
    configs.push_back({3, 17, 4, 2, 300, 301, false, false, true});
    return configs;
}

class DilatedConvMatrix : public ::testing::TestWithParam<ConvConfig> {};

template <typename T>
void check_forward(const ConvConfig& config) {
    const ConvProblem p = make_conv_problem(config, 17, std::is_same_v<T, float>);
    const ForwardResult expected = reference_forward(p);
    const RunResult actual = run_forward<T>(p);
    expect_close("y", actual.y, expected.y, tolerance_of<T>());
    expect_close("final_state", actual.final_state, expected.final_state, 0.0);
}

template <typename T>
void check_backward(const ConvConfig& config) {
    const ConvProblem p = make_conv_problem(config, 29, std::is_same_v<T, float>);
    const Gradients expected = reference_backward(p);
    const RunGradients actual = run_backward<T>(p);
    expect_close("dx", actual.dx, expected.dx, tolerance_of<T>());
    expect_close("dweight", actual.dweight, expected.dweight, tolerance_of<T>());
    if (config.bias) expect_close("dbias", actual.dbias, expected.dbias, tolerance_of<T>());
    expect_close("d_initial_state", actual.d_state, expected.d_state, tolerance_of<T>());
}

TEST_P(DilatedConvMatrix, ForwardFloat64MatchesReference) { check_forward<double>(GetParam()); }
TEST_P(DilatedConvMatrix, ForwardFloat32MatchesReference) { check_forward<float>(GetParam()); }
TEST_P(DilatedConvMatrix, BackwardFloat64MatchesReference) { check_backward<double>(GetParam()); }
TEST_P(DilatedConvMatrix, BackwardFloat32MatchesReference) { check_backward<float>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Issue, DilatedConvMatrix, ::testing::ValuesIn(matrix()));

// The comparison can fail: a wrong weight changes y beyond the tolerance.
TEST(DilatedConvForward, ComparisonDetectsWrongAnswers) {
    ConvConfig c;
    ConvProblem p = make_conv_problem(c, 3, false);
    const ForwardResult expected = reference_forward(p);
    p.weight[4] += 1e-6;
    const RunResult actual = run_forward<double>(p);
    EXPECT_NONFATAL_FAILURE(expect_close("y", actual.y, expected.y, 1e-13), "out of tolerance");
}

// ---- finite differences (float64) -----------------------------------------------------------------------------

// loss = sum(y * dy) + sum(final_state * d_final) through the C API.
double loss_of(const ConvProblem& p) {
    const RunResult r = run_forward<double>(p);
    double loss = 0.0;
    for (size_t i = 0; i < r.y.size(); ++i) loss += r.y[i] * p.dy[i];
    for (size_t i = 0; i < r.final_state.size(); ++i) loss += r.final_state[i] * p.d_final[i];
    return loss;
}

void expect_finite_differences(ConvProblem p, std::vector<double> ConvProblem::*input, const std::vector<double>& grad,
                               const char* name) {
    const double eps = 1e-6;
    std::vector<double>& values = p.*input;
    ASSERT_EQ(values.size(), grad.size()) << name;
    for (size_t i = 0; i < values.size(); ++i) {
        const double original = values[i];
        values[i] = original + eps;
        const double plus = loss_of(p);
        values[i] = original - eps;
        const double minus = loss_of(p);
        values[i] = original;
        const double numeric = (plus - minus) / (2 * eps);
        EXPECT_NEAR(grad[i], numeric, 1e-7 * (1 + std::abs(numeric))) << name << "[" << i << "]";
    }
}

TEST(DilatedConvBackward, Float64GradientsMatchFiniteDifferencesForEveryInput) {
    const ConvConfig configs[] = {
        {2, 3, 2, 3, 2, 9, true, true, true},
        {3, 2, 3, 4, 3, 5, true, true, true},   // lengths shorter than S: the final state reaches into the state
        {2, 2, 2, 1, 1, 4, true, false, true},  // K = 1: no state at all
    };
    for (const ConvConfig& c : configs) {
        SCOPED_TRACE(c.describe());
        const ConvProblem p = make_conv_problem(c, 41, false);
        const RunGradients g = run_backward<double>(p);
        expect_finite_differences(p, &ConvProblem::x, g.dx, "dx");
        expect_finite_differences(p, &ConvProblem::weight, g.dweight, "dweight");
        expect_finite_differences(p, &ConvProblem::bias, g.dbias, "dbias");
        expect_finite_differences(p, &ConvProblem::state, g.d_state, "d_initial_state");
    }
}

// dbias is summed inside dweight's pass over dy when both are asked for, and on its own otherwise; no gradient may
// depend on which others the same call computes (bitwise: same code, same summation order).
TEST(DilatedConvBackward, EachGradientIsTheSameWhateverElseTheCallComputes) {
    const ConvConfig configs[] = {
        {2, 100, 110, 3, 5, 600, true, true, true},  // above the parallel threshold, several blocks of each kind
        {3, 3, 5, 2, 1, 9, true, false, true},       // on the calling thread
    };
    for (const ConvConfig& c : configs) {
        SCOPED_TRACE(c.describe());
        const ConvProblem p = make_conv_problem(c, 53, true);
        const RunGradients all = run_backward<float>(p);
        const RunGradients bias_only = run_backward<float>(p, {false, false, true});
        const RunGradients weight_only = run_backward<float>(p, {false, true, false});
        const RunGradients input_only = run_backward<float>(p, {true, false, false});
        ASSERT_EQ(all.dbias.size(), static_cast<size_t>(c.out_channels));
        EXPECT_EQ(all.dbias, bias_only.dbias);
        EXPECT_EQ(all.dweight, weight_only.dweight);
        EXPECT_EQ(all.dx, input_only.dx);
        EXPECT_EQ(all.d_state, input_only.d_state);
        // And the shared value is the right one.
        const Gradients expected = reference_backward(p);
        expect_close("dbias", bias_only.dbias, expected.dbias, tolerance_of<float>());
    }
}

// Padding gets exact zero gradient and its values never reach an output, NaN included.
TEST(DilatedConvBackward, PaddingIsIgnoredEvenWhenNaN) {
    ConvConfig c{3, 4, 3, 3, 2, 11, true, true, true};
    ConvProblem p = make_conv_problem(c, 5, false);
    const ForwardResult expected = reference_forward(p);
    const Gradients expected_grads = reference_backward(p);
    for (int64_t b = 0; b < c.batch; ++b) {
        for (int64_t t = p.lengths[static_cast<size_t>(b)]; t < c.length; ++t) {
            for (int64_t i = 0; i < c.in_channels; ++i) p.x[static_cast<size_t>((b * c.in_channels + i) * c.length + t)] = NAN;
            for (int64_t o = 0; o < c.out_channels; ++o) p.dy[static_cast<size_t>((b * c.out_channels + o) * c.length + t)] = NAN;
        }
    }
    const RunResult r = run_forward<double>(p);
    expect_close("y", r.y, expected.y, 1e-13);
    expect_close("final_state", r.final_state, expected.final_state, 0.0);
    const RunGradients g = run_backward<double>(p);
    expect_close("dx", g.dx, expected_grads.dx, 1e-13);
    expect_close("dweight", g.dweight, expected_grads.dweight, 1e-13);
    expect_close("dbias", g.dbias, expected_grads.dbias, 1e-13);
    expect_close("d_initial_state", g.d_state, expected_grads.d_state, 1e-13);
}

// ---- streaming ------------------------------------------------------------------------------------------------

// x[:, :, t0 : t0 + n] of a (Bt, C, L) buffer.
template <typename T>
std::vector<T> columns(const std::vector<T>& full, int64_t rows, int64_t length, int64_t t0, int64_t n) {
    std::vector<T> out(static_cast<size_t>(rows * n));
    for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(full.begin() + r * length + t0, n, out.begin() + r * n);
    }
    return out;
}

// Chunked forward: each chunk's initial state is the previous chunk's final state, its lengths
// clamp(lengths[b] - t0, 0, T), so a finished row keeps its state (final == initial for length 0).
template <typename T>
void check_chunked_forward(const ConvConfig& c, uint32_t seed) {
    const ConvProblem p = make_conv_problem(c, seed, std::is_same_v<T, float>);
    const RunResult full = run_forward<T>(p);
    TypedConv<T> in(p);
    const int64_t S = c.state_length();
    std::vector<T> state = c.state ? in.state : std::vector<T>(count(c.state_shape()), T(0));
    std::vector<double> y(count(c.output_shape()), 0.0);
    std::mt19937 rng(seed);
    for (int64_t t0 = 0; t0 < c.length;) {
        const int64_t n = std::min<int64_t>(c.length - t0, 1 + static_cast<int64_t>(rng() % 9));
        std::vector<T> x = columns(in.x, c.batch * c.in_channels, c.length, t0, n);
        std::vector<int64_t> lengths(static_cast<size_t>(c.batch));
        for (int64_t b = 0; b < c.batch; ++b) {
            lengths[static_cast<size_t>(b)] = std::clamp<int64_t>(valid_length(p, b) - t0, 0, n);
        }
        std::vector<T> y_chunk = garbage<T>(static_cast<size_t>(c.batch * c.out_channels * n));
        std::vector<T> next = garbage<T>(state.size());
        const hs_tensor x_v = cpu_view(x.data(), dtype_of<T>(), {c.batch, c.in_channels, n});
        const hs_tensor s_v = cpu_view(state.data(), dtype_of<T>(), c.state_shape());
        const hs_tensor l_v = cpu_view(lengths.data(), HS_DTYPE_INT64, {c.batch});
        const hs_tensor y_v = cpu_view(y_chunk.data(), dtype_of<T>(), {c.batch, c.out_channels, n});
        const hs_tensor f_v = cpu_view(next.data(), dtype_of<T>(), c.state_shape());
        hs_dilated_conv_inputs inputs{&x_v, &in.weight_v, c.bias ? &in.bias_v : nullptr, &s_v, &l_v, c.dilation};
        ASSERT_EQ(hs_dilated_conv_forward(&inputs, &y_v, S > 0 ? &f_v : nullptr, nullptr), HS_OK) << hs_last_error();
        for (int64_t r = 0; r < c.batch * c.out_channels; ++r) {
            for (int64_t j = 0; j < n; ++j) y[static_cast<size_t>(r * c.length + t0 + j)] = y_chunk[static_cast<size_t>(r * n + j)];
        }
        if (S > 0) state = next;
        t0 += n;
    }
    // Same sums in the same order: equal up to the last bit is not promised, a tight tolerance is.
    Values expected_y(full.y.size()), expected_state(full.final_state.size());
    expected_y.value = full.y;
    for (size_t i = 0; i < full.y.size(); ++i) expected_y.scale[i] = std::abs(full.y[i]) + 1;
    expected_state.value = full.final_state;
    expect_close("chunked y", y, expected_y, tolerance_of<T>());
    expect_close("chunked final state", widened(state), expected_state, 0.0);
}

// Steps of random sizes through hs_dilated_conv_step (no lengths: every row advances); row b's state right after
// lengths[b] tokens must equal the full forward's final state of row b, and its outputs before that must match.
template <typename T>
void check_steps(const ConvConfig& c, uint32_t seed, bool single_tokens) {
    const ConvProblem p = make_conv_problem(c, seed, std::is_same_v<T, float>);
    const RunResult full = run_forward<T>(p);
    TypedConv<T> in(p);
    const int64_t S = c.state_length();
    std::vector<T> state = c.state ? in.state : std::vector<T>(count(c.state_shape()), T(0));
    std::mt19937 rng(seed + 1);
    auto check_states_at = [&](int64_t t) {
        for (int64_t b = 0; b < c.batch; ++b) {
            if (valid_length(p, b) != t) continue;
            for (int64_t j = 0; j < c.in_channels * S; ++j) {
                const size_t at = static_cast<size_t>(b * c.in_channels * S + j);
                ASSERT_EQ(static_cast<double>(state[at]), full.final_state[at]) << "row " << b << " after " << t;
            }
        }
    };
    check_states_at(0);
    for (int64_t t0 = 0; t0 < c.length;) {
        const int64_t n = single_tokens ? 1 : std::min<int64_t>(c.length - t0, 1 + static_cast<int64_t>(rng() % 9));
        std::vector<T> x = columns(in.x, c.batch * c.in_channels, c.length, t0, n);
        std::vector<T> y = garbage<T>(static_cast<size_t>(c.batch * c.out_channels * n));
        const hs_tensor x_v = cpu_view(x.data(), dtype_of<T>(), {c.batch, c.in_channels, n});
        const hs_tensor s_v = cpu_view(state.data(), dtype_of<T>(), c.state_shape());
        const hs_tensor y_v = cpu_view(y.data(), dtype_of<T>(), {c.batch, c.out_channels, n});
        hs_dilated_conv_inputs inputs{&x_v, &in.weight_v, c.bias ? &in.bias_v : nullptr, nullptr, nullptr,
                                      c.dilation};
        ASSERT_EQ(hs_dilated_conv_step(&inputs, &s_v, &y_v, nullptr), HS_OK) << hs_last_error();
        for (int64_t b = 0; b < c.batch; ++b) {
            for (int64_t o = 0; o < c.out_channels; ++o) {
                for (int64_t j = 0; j < n && t0 + j < valid_length(p, b); ++j) {
                    const double expected = full.y[static_cast<size_t>((b * c.out_channels + o) * c.length + t0 + j)];
                    const double actual = y[static_cast<size_t>((b * c.out_channels + o) * n + j)];
                    ASSERT_NEAR(actual, expected, tolerance_of<T>() * (std::abs(expected) + 1))
                        << "b " << b << " o " << o << " t " << t0 + j;
                }
            }
        }
        t0 += n;
        for (int64_t t = t0 - n + 1; t <= t0; ++t) {
            if (t == t0) check_states_at(t);
        }
    }
}

const ConvConfig kStreamingConfigs[] = {
    {3, 5, 4, 3, 2, 40, true, true, true},
    {4, 3, 6, 5, 7, 60, false, true, true},   // S = 28 > most chunks: the state shifts within itself
    {3, 2, 3, 2, 64, 30, true, false, true},  // dilation > L
    {2, 4, 4, 1, 1, 17, true, true, true},    // K = 1: an empty state
    {3, 17, 9, 31, 1, 150, true, true, true},
};

TEST(DilatedConvStreaming, ChunkedForwardWithLengthsEqualsFullForward) {
    uint32_t seed = 60;
    for (const ConvConfig& c : kStreamingConfigs) {
        SCOPED_TRACE(c.describe());
        check_chunked_forward<double>(c, seed++);
        check_chunked_forward<float>(c, seed++);
    }
}

TEST(DilatedConvStreaming, StepByStepEqualsFullForward) {
    uint32_t seed = 80;
    for (const ConvConfig& c : kStreamingConfigs) {
        SCOPED_TRACE(c.describe());
        check_steps<double>(c, seed++, true);
        check_steps<float>(c, seed++, true);
    }
}

TEST(DilatedConvStreaming, RandomChunkStepsEqualFullForward) {
    uint32_t seed = 100;
    for (const ConvConfig& c : kStreamingConfigs) {
        SCOPED_TRACE(c.describe());
        check_steps<double>(c, seed++, false);
        check_steps<float>(c, seed++, false);
    }
}

// ---- threads --------------------------------------------------------------------------------------------------

TEST(DilatedConvThreads, ResultsAreBitwiseIndependentOfTheThreadCount) {
    // The second: several depth blocks, row sub-blocks and channel groups; 3 threads split its rows into 48-row
    // items (2 batches x 5 column blocks are too few for them), 1 thread does not.
    for (const ConvConfig& c : {ConvConfig{3, 40, 33, 3, 4, 700, true, true, true},
                                ConvConfig{2, 100, 110, 3, 5, 600, true, true, true}}) {
        SCOPED_TRACE(c.describe());
        const ConvProblem p = make_conv_problem(c, 9, true);
        ASSERT_EQ(hs_set_num_threads(1), HS_OK);
        const RunResult one = run_forward<float>(p);
        const RunGradients one_g = run_backward<float>(p);
        ASSERT_EQ(hs_set_num_threads(3), HS_OK);
        const RunResult three = run_forward<float>(p);
        const RunGradients three_g = run_backward<float>(p);
        ASSERT_EQ(hs_set_num_threads(0), HS_OK);
        EXPECT_EQ(one.y, three.y);
        EXPECT_EQ(one.final_state, three.final_state);
        EXPECT_EQ(one_g.dx, three_g.dx);
        EXPECT_EQ(one_g.dweight, three_g.dweight);
        EXPECT_EQ(one_g.dbias, three_g.dbias);
        EXPECT_EQ(one_g.d_state, three_g.d_state);
    }
}

// ---- empty sizes ----------------------------------------------------------------------------------------------

TEST(DilatedConvEmpty, ZeroLengthPassesTheStateThroughAndZeroChannelsGiveTheBias) {
    {
        ConvConfig c{2, 3, 2, 3, 2, 0, true, true, false};
        const ConvProblem p = make_conv_problem(c, 1, false);
        const RunResult r = run_forward<double>(p);
        EXPECT_EQ(r.final_state, p.state);
        const RunGradients g = run_backward<double>(p);
        EXPECT_EQ(g.d_state, p.d_final);
        for (double v : g.dweight) EXPECT_EQ(v, 0.0);
        for (double v : g.dbias) EXPECT_EQ(v, 0.0);
    }
    {
        ConvConfig c{2, 0, 3, 2, 1, 5, true, false, false};
        const ConvProblem p = make_conv_problem(c, 1, false);
        const RunResult r = run_forward<double>(p);
        for (int64_t i = 0; i < 2 * 3 * 5; ++i) EXPECT_EQ(r.y[static_cast<size_t>(i)], p.bias[static_cast<size_t>((i / 5) % 3)]);
    }
}

// ---- validation -----------------------------------------------------------------------------------------------

void expect_invalid(const std::function<hs_status()>& call, const std::vector<std::string>& all_of) {
    const hs_status status = call();
    EXPECT_EQ(status, HS_ERR_INVALID_ARGUMENT);
    const std::string message = hs_last_error();
    for (const std::string& part : all_of) EXPECT_NE(message.find(part), std::string::npos) << message;
}

struct ValidationFixture {
    ConvConfig c{2, 3, 4, 3, 2, 6, true, true, true};
    ConvProblem p = make_conv_problem(c, 2, false);
    TypedConv<double> in{p};
    std::vector<double> y = std::vector<double>(count(c.output_shape()));
    std::vector<double> f = std::vector<double>(count(c.state_shape()));
    std::vector<double> dy = std::vector<double>(count(c.output_shape()));
    std::vector<double> dx = std::vector<double>(count(c.input_shape()));
    std::vector<double> dw = std::vector<double>(count(c.weight_shape()));
    std::vector<double> db = std::vector<double>(4);
    std::vector<double> ds = std::vector<double>(count(c.state_shape()));
    std::vector<float> y32 = std::vector<float>(count(c.output_shape()));
    hs_tensor y_v = cpu_view(y.data(), HS_DTYPE_FLOAT64, c.output_shape());
    hs_tensor f_v = cpu_view(f.data(), HS_DTYPE_FLOAT64, c.state_shape());
    hs_tensor dy_v = cpu_view(dy.data(), HS_DTYPE_FLOAT64, c.output_shape());
    hs_tensor dx_v = cpu_view(dx.data(), HS_DTYPE_FLOAT64, c.input_shape());
    hs_tensor dw_v = cpu_view(dw.data(), HS_DTYPE_FLOAT64, c.weight_shape());
    hs_tensor db_v = cpu_view(db.data(), HS_DTYPE_FLOAT64, {4});
    hs_tensor ds_v = cpu_view(ds.data(), HS_DTYPE_FLOAT64, c.state_shape());
    hs_dilated_conv_inputs inputs = in.inputs(c);
    hs_dilated_conv_grads grads{&dx_v, &dw_v, &db_v, &ds_v};

    hs_status forward() { return hs_dilated_conv_forward(&inputs, &y_v, &f_v, nullptr); }
    hs_status backward() { return hs_dilated_conv_backward(&inputs, &dy_v, &f_v, &grads, nullptr); }
    hs_status step() {
        hs_dilated_conv_inputs s = inputs;
        s.initial_state = nullptr;
        s.lengths = nullptr;
        return hs_dilated_conv_step(&s, &ds_v, &y_v, nullptr);
    }
};

TEST(DilatedConvValidation, ValidCallsSucceed) {
    ValidationFixture v;
    EXPECT_EQ(v.forward(), HS_OK) << hs_last_error();
    EXPECT_EQ(v.backward(), HS_OK) << hs_last_error();
    EXPECT_EQ(v.step(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

TEST(DilatedConvValidation, NullArguments) {
    ValidationFixture v;
    expect_invalid([&] { return hs_dilated_conv_forward(nullptr, &v.y_v, nullptr, nullptr); },
                   {"hs_dilated_conv_forward", "argument 'inputs'"});
    expect_invalid([&] { v.inputs.x = nullptr; return v.forward(); }, {"argument 'x'", "NULL"});
    v.inputs.x = &v.in.x_v;
    expect_invalid([&] { v.inputs.weight = nullptr; return v.forward(); }, {"argument 'weight'", "NULL"});
    v.inputs.weight = &v.in.weight_v;
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, nullptr, nullptr, nullptr); }, {"argument 'y'"});
    expect_invalid([&] { return hs_dilated_conv_backward(&v.inputs, nullptr, nullptr, &v.grads, nullptr); },
                   {"argument 'dy'"});
    expect_invalid([&] { return hs_dilated_conv_backward(&v.inputs, &v.dy_v, nullptr, nullptr, nullptr); },
                   {"argument 'grads'"});
    expect_invalid([&] { return hs_dilated_conv_step(&v.inputs, nullptr, &v.y_v, nullptr); },
                   {"argument 'initial_state'", "hs_dilated_conv_step"});
}

TEST(DilatedConvValidation, ShapesValuesAndDtypesAreChecked) {
    ValidationFixture v;
    std::vector<double> spare(1000);
    hs_tensor bad;
    auto with = [&](const hs_tensor*& slot, const hs_tensor* value, const std::vector<std::string>& parts,
                    std::function<hs_status()> call) {
        const hs_tensor* saved = slot;
        slot = value;
        expect_invalid(call, parts);
        slot = saved;
    };
    auto fwd = [&] { return v.forward(); };
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 3});
    with(v.inputs.x, &bad, {"argument 'x'", "rank"}, fwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {4, 3});
    with(v.inputs.weight, &bad, {"argument 'weight'", "rank 3"}, fwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {4, 2, 3});
    with(v.inputs.weight, &bad, {"argument 'weight'", "C_in = 3"}, fwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {4, 3, 0});
    with(v.inputs.weight, &bad, {"argument 'weight'", "K >= 1"}, fwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {5});
    with(v.inputs.bias, &bad, {"argument 'bias'"}, fwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 3, 5});
    with(v.inputs.initial_state, &bad, {"argument 'initial_state'"}, fwd);
    std::vector<float> float_state(count(v.c.state_shape()));
    bad = cpu_view(float_state.data(), HS_DTYPE_FLOAT32, v.c.state_shape());
    with(v.inputs.initial_state, &bad, {"argument 'initial_state'", "float32"}, fwd);
    std::vector<int64_t> lengths = {7, 1};
    bad = cpu_view(lengths.data(), HS_DTYPE_INT64, {2});
    with(v.inputs.lengths, &bad, {"argument 'lengths'", "7"}, fwd);
    lengths = {-1, 1};
    with(v.inputs.lengths, &bad, {"argument 'lengths'", "-1"}, fwd);
    bad = cpu_view(lengths.data(), HS_DTYPE_INT32, {2});
    with(v.inputs.lengths, &bad, {"argument 'lengths'", "int64"}, fwd);
    bad = cpu_view(lengths.data(), HS_DTYPE_INT64, {1});
    with(v.inputs.lengths, &bad, {"argument 'lengths'"}, fwd);
    for (int64_t dilation : {int64_t(0), int64_t(-3)}) {
        v.inputs.dilation = dilation;
        expect_invalid(fwd, {"field 'dilation'", ">= 1", std::to_string(dilation)});
    }
    v.inputs.dilation = std::numeric_limits<int64_t>::max() / 2;
    expect_invalid(fwd, {"field 'dilation'", "int64"});
    v.inputs.dilation = v.c.dilation;
    // Outputs.
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 4, 5});
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, &bad, nullptr, nullptr); }, {"argument 'y'"});
    bad = cpu_view(v.y32.data(), HS_DTYPE_FLOAT32, v.c.output_shape());
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, &bad, nullptr, nullptr); },
                   {"argument 'y'", "float32"});
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 3, 3});
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, &v.y_v, &bad, nullptr); },
                   {"argument 'final_state'"});
    // Backward.
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 4, 5});
    expect_invalid([&] { return hs_dilated_conv_backward(&v.inputs, &bad, nullptr, &v.grads, nullptr); },
                   {"argument 'dy'"});
    expect_invalid([&] { return hs_dilated_conv_backward(&v.inputs, &v.dy_v, &bad, &v.grads, nullptr); },
                   {"argument 'd_final_state'"});
    auto bwd = [&] { return v.backward(); };
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 3, 5});
    with(v.grads.dx, &bad, {"argument 'grads->dx'"}, bwd);
    with(v.grads.dweight, &bad, {"argument 'grads->dweight'"}, bwd);
    with(v.grads.d_initial_state, &bad, {"argument 'grads->d_initial_state'"}, bwd);
    bad = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {3});
    with(v.grads.dbias, &bad, {"argument 'grads->dbias'"}, bwd);
    v.inputs.bias = nullptr;
    expect_invalid(bwd, {"argument 'grads->dbias'", "'bias' was not given"});
    v.inputs.bias = &v.in.bias_v;
    // Step.
    expect_invalid([&] {
        hs_dilated_conv_inputs s = v.inputs;
        s.initial_state = nullptr;
        return hs_dilated_conv_step(&s, &v.ds_v, &v.y_v, nullptr);
    }, {"argument 'lengths'", "hs_dilated_conv_step"});
    expect_invalid([&] {
        hs_dilated_conv_inputs s = v.inputs;
        s.initial_state = nullptr;
        s.lengths = nullptr;
        hs_tensor wrong = cpu_view(spare.data(), HS_DTYPE_FLOAT64, {2, 3, 3});
        return hs_dilated_conv_step(&s, &wrong, &v.y_v, nullptr);
    }, {"argument 'state'"});
}

TEST(DilatedConvValidation, StridesAndAliasingAreChecked) {
    ValidationFixture v;
    hs_tensor strided = v.in.x_v;
    strided.strides[2] = 2;
    strided.sizes[2] = 3;
    strided.strides[1] = 6;
    strided.strides[0] = 18;
    v.inputs.x = &strided;
    std::vector<double> y(2 * 4 * 3);
    hs_tensor y_v = cpu_view(y.data(), HS_DTYPE_FLOAT64, {2, 4, 3});
    v.inputs.lengths = nullptr;
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, &y_v, nullptr, nullptr); },
                   {"argument 'x'", "contiguous"});
    v.inputs.x = &v.in.x_v;
    // y written over x's memory.
    std::vector<double> shared(2 * 4 * 6 + 2 * 3 * 6);
    hs_tensor x_in = cpu_view(shared.data(), HS_DTYPE_FLOAT64, {2, 3, 6});
    hs_tensor y_over = cpu_view(shared.data() + 2, HS_DTYPE_FLOAT64, {2, 4, 6});
    v.inputs.x = &x_in;
    expect_invalid([&] { return hs_dilated_conv_forward(&v.inputs, &y_over, nullptr, nullptr); },
                   {"overlap"});
}

}  // namespace
}  // namespace dilated_conv
}  // namespace hs_test
