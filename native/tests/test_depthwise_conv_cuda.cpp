// CUDA depthwise causal convolution against the CPU twin, both through the public C API with hs_tensor views on
// device memory allocated here: forward, backward (every gradient, bitwise repeatable), step (the in-place state),
// and lengths values out of range (clamped). Without a CUDA device every test reports skipped, never passed.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "conv_test_support.h"
#include "cuda_test_support.h"
#include "hybridseq.h"

namespace {

using hs_test::ConvConfig;
using hs_test::ConvProblem;
using hs_test::DeviceTensor;

// Device copies of a problem (rounded to float32) and the inputs struct pointing at them.
struct DeviceConv {
    DeviceTensor x, weight, bias, state, lengths;
    hs_depthwise_conv_inputs inputs{};

    explicit DeviceConv(const ConvProblem& p)
        : x(DeviceTensor::upload(p.x, p.sequence_shape())),
          weight(DeviceTensor::upload(p.weight, p.weight_shape())),
          bias(DeviceTensor::upload(p.bias.empty() ? std::vector<double>(1) : p.bias,
                                    {p.bias.empty() ? 1 : p.config.channels})),
          state(DeviceTensor::upload(p.state.empty() ? std::vector<double>(1) : p.state,
                                     p.state.empty() ? std::vector<int64_t>{1} : p.state_shape())),
          lengths(DeviceTensor::upload_int64(p.lengths.empty() ? std::vector<int64_t>{0} : p.lengths)) {
        inputs.x = x.view();
        inputs.weight = weight.view();
        inputs.bias = p.bias.empty() ? nullptr : bias.view();
        inputs.initial_state = p.state.empty() ? nullptr : state.view();
        inputs.lengths = p.lengths.empty() ? nullptr : lengths.view();
        inputs.dilation = p.config.dilation;
        inputs.silu = p.config.silu ? 1 : 0;
    }
};

double scaled_ratio(const std::vector<double>& actual, const std::vector<double>& expected, double tolerance) {
    double magnitude = 1;
    for (double e : expected) magnitude = std::max(magnitude, std::abs(e));
    return hs_test::conv_error_ratio(actual, expected, tolerance * magnitude, tolerance);
}

ConvConfig config(int64_t batch, int64_t channels, int64_t length, int64_t width, int64_t dilation, bool bias,
                  bool silu, bool state, bool lengths) {
    ConvConfig c;
    c.batch = batch;
    c.channels = channels;
    c.length = hs_test::cuda_emulated() ? std::min<int64_t>(length, 300) : length;
    c.width = width;
    c.dilation = dilation;
    c.has_bias = bias;
    c.silu = silu;
    c.has_state = state;
    c.has_lengths = lengths;
    return c;
}

class DepthwiseConvCuda : public ::testing::TestWithParam<ConvConfig> {};

TEST_P(DepthwiseConvCuda, ForwardBackwardAndStepMatchTheCpuTwin) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const ConvConfig c = GetParam();
    const ConvProblem p = hs_test::make_conv_problem(c, 31u).rounded_to_float();
    std::mt19937 rng(4);
    const std::vector<double> dy = hs_test::round_to_float(hs_test::random_values(p.x.size(), rng));
    const std::vector<double> dfs = hs_test::round_to_float(
        hs_test::random_values(static_cast<size_t>(c.batch * c.channels * c.state()), rng));
    const hs_test::ConvForwardResult cpu = hs_test::run_conv_forward<float>(p);
    const hs_test::ConvGradients cpu_grads = hs_test::run_conv_backward<float>(p, dy, dfs);

    DeviceConv in(p);
    DeviceTensor y(p.sequence_shape(), HS_DTYPE_FLOAT32), fs(p.state_shape(), HS_DTYPE_FLOAT32);
    ASSERT_EQ(hs_depthwise_conv_forward(&in.inputs, y.view(), fs.view(), nullptr), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error();
    EXPECT_LE(scaled_ratio(y.download(), cpu.y, 1e-5), 1.0) << "y";
    EXPECT_EQ(fs.download(), cpu.final_state) << "final state (a copy)";

    int64_t elements = -1;
    ASSERT_EQ(hs_depthwise_conv_workspace_elements(&in.inputs, &elements), HS_OK) << hs_last_error();
    EXPECT_EQ(elements, c.silu ? c.batch * c.channels * c.length : 0);
    DeviceTensor workspace({std::max<int64_t>(elements, 1)}, HS_DTYPE_FLOAT32);
    DeviceTensor dy_d = DeviceTensor::upload(dy, p.sequence_shape());
    DeviceTensor dfs_d = DeviceTensor::upload(dfs, p.state_shape());
    std::vector<std::vector<double>> runs[2];
    for (auto& run : runs) {
        DeviceTensor dx(p.sequence_shape(), HS_DTYPE_FLOAT32), dw(p.weight_shape(), HS_DTYPE_FLOAT32),
            db({c.channels}, HS_DTYPE_FLOAT32), ds(p.state_shape(), HS_DTYPE_FLOAT32);
        hs_depthwise_conv_grads grads{dx.view(), dw.view(), c.has_bias ? db.view() : nullptr, ds.view()};
        ASSERT_EQ(hs_depthwise_conv_backward(&in.inputs, dy_d.view(), dfs_d.view(), &grads,
                                             elements > 0 ? workspace.view() : nullptr, nullptr),
                  HS_OK)
            << hs_last_error();
        ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error();
        run = {dx.download(), dw.download(), c.has_bias ? db.download() : std::vector<double>{}, ds.download()};
    }
    EXPECT_EQ(runs[0], runs[1]) << "the backward is bitwise repeatable";
    EXPECT_LE(scaled_ratio(runs[0][0], cpu_grads.dx, 1e-5), 1.0) << "dx";
    EXPECT_LE(scaled_ratio(runs[0][1], cpu_grads.dweight, 1e-5), 1.0) << "dweight";
    if (c.has_bias) {
        EXPECT_LE(scaled_ratio(runs[0][2], cpu_grads.dbias, 1e-5), 1.0) << "dbias";
    }
    EXPECT_LE(scaled_ratio(runs[0][3], cpu_grads.d_state, 1e-5), 1.0) << "d_initial_state";

    // The step: the same inputs as one chunk, then token by token, the state advanced in place.
    if (c.has_lengths) return;  // the step takes no lengths; the forward above covered them
    for (int64_t chunk : {c.length, int64_t(1)}) {
        DeviceTensor state = DeviceTensor::upload(
            p.state.empty() ? std::vector<double>(static_cast<size_t>(c.batch * c.channels * c.state()), 0.0)
                            : p.state,
            p.state_shape());
        std::vector<double> streamed(p.x.size());
        for (int64_t t0 = 0; t0 < c.length; t0 += chunk) {
            std::vector<double> piece(static_cast<size_t>(c.batch * c.channels * chunk));
            for (int64_t r = 0; r < c.batch * c.channels; ++r)
                for (int64_t t = 0; t < chunk; ++t) piece[r * chunk + t] = p.x[r * c.length + t0 + t];
            DeviceTensor x_d = DeviceTensor::upload(piece, {c.batch, c.channels, chunk});
            DeviceTensor y_d({c.batch, c.channels, chunk}, HS_DTYPE_FLOAT32);
            hs_depthwise_conv_inputs step = in.inputs;
            step.x = x_d.view();
            step.initial_state = nullptr;
            step.lengths = nullptr;
            ASSERT_EQ(hs_depthwise_conv_step(&step, state.view(), y_d.view(), nullptr), HS_OK) << hs_last_error();
            const std::vector<double> y_h = y_d.download();
            for (int64_t r = 0; r < c.batch * c.channels; ++r)
                for (int64_t t = 0; t < chunk; ++t) streamed[r * c.length + t0 + t] = y_h[r * chunk + t];
        }
        EXPECT_LE(scaled_ratio(streamed, cpu.y, 1e-5), 1.0) << "step y, chunk " << chunk;
        EXPECT_EQ(state.download(), cpu.final_state) << "stepped state, chunk " << chunk;
    }
}

INSTANTIATE_TEST_SUITE_P(Configs, DepthwiseConvCuda,
                         ::testing::Values(config(3, 9, 1031, 4, 1, true, true, true, true),
                                           config(2, 5, 7, 31, 2, false, false, true, true),
                                           config(2, 17, 129, 3, 64, true, false, true, false),
                                           config(2, 3, 300, 2, 7, false, true, false, false),
                                           config(1, 3, 1, 1, 1, true, true, false, false),
                                           config(2, 4, 2, 5, 1, true, true, true, false)),
                         [](const ::testing::TestParamInfo<ConvConfig>& info) { return info.param.describe(); });

TEST(DepthwiseConvCudaLengths, OutOfRangeValuesAreClamped) {
    SKIP_WITHOUT_CUDA_DEVICE();
    ConvProblem p = hs_test::make_conv_problem(config(2, 3, 9, 3, 1, true, false, true, true), 5u).rounded_to_float();
    p.lengths = {-4, 100};
    DeviceConv in(p);
    DeviceTensor y(p.sequence_shape(), HS_DTYPE_FLOAT32), fs(p.state_shape(), HS_DTYPE_FLOAT32);
    ASSERT_EQ(hs_depthwise_conv_forward(&in.inputs, y.view(), fs.view(), nullptr), HS_OK) << hs_last_error();
    p.lengths = {0, 9};
    const hs_test::ConvForwardResult clamped = hs_test::run_conv_forward<float>(p);
    EXPECT_LE(scaled_ratio(y.download(), clamped.y, 1e-5), 1.0);
    EXPECT_EQ(fs.download(), clamped.final_state);
}

}  // namespace
