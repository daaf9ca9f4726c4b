// CUDA dilated causal convolution against the CPU twin (float32, the reference problems of
// dilated_conv_test_support.h), through the public C API with views on device memory allocated here: forward, every
// gradient, the in-place step, lengths clamped on the device, and bitwise repeatability. Without a CUDA device every
// test reports skipped, never passed. In the emulated build (docs/cuda-emulation.md) the long cases shrink.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "dilated_conv_test_support.h"
#include "hybridseq.h"

namespace hs_test {
namespace conv {
namespace {

// CUDA and the CPU sum the same terms in different orders, both in float32.
constexpr double kTolerance = 1e-5;

struct DeviceConv {
    DeviceTensor x, weight, bias, state, lengths;
    hs_dilated_conv_inputs inputs{};

    explicit DeviceConv(const ConvProblem& p)
        : x(DeviceTensor::upload(p.x, p.config.input_shape())),
          weight(DeviceTensor::upload(p.weight, p.config.weight_shape())),
          bias(DeviceTensor::upload(p.bias, {p.config.out_channels})),
          state(DeviceTensor::upload(p.state, p.config.state_shape())),
          lengths(DeviceTensor::upload_int64(p.lengths)) {
        const ConvConfig& c = p.config;
        inputs.x = x.view();
        inputs.weight = weight.view();
        inputs.bias = c.bias ? bias.view() : nullptr;
        inputs.initial_state = c.state ? state.view() : nullptr;
        inputs.lengths = c.lengths ? lengths.view() : nullptr;
        inputs.dilation = c.dilation;
    }
};

void expect_near_cpu(const std::string& what, const std::vector<double>& cuda, const std::vector<double>& cpu) {
    ASSERT_EQ(cuda.size(), cpu.size()) << what;
    double scale = 1.0;
    for (double v : cpu) scale = std::max(scale, std::abs(v));
    size_t bad = 0, worst = 0;
    double worst_error = 0.0;
    for (size_t i = 0; i < cuda.size(); ++i) {
        const double error = std::abs(cuda[i] - cpu[i]);
        if (error > worst_error || std::isnan(error)) {
            worst_error = std::isnan(error) ? INFINITY : error;
            worst = i;
        }
        if (!(error <= kTolerance * scale + kTolerance * std::abs(cpu[i]))) ++bad;
    }
    EXPECT_EQ(bad, 0u) << what << ": worst flat " << worst << " cuda " << cuda[worst] << " cpu " << cpu[worst];
}

std::vector<ConvConfig> cases() {
    const int64_t long_length = cuda_emulated() ? 150 : 1031;
    return {
        {3, 17, 9, 4, 7, 129, true, true, true},
        {2, 5, 13, 31, 1, long_length, false, true, true},
        {3, 70, 66, 3, 4, cuda_emulated() ? 70 : 300, true, false, true},  // several row and column tiles
        {2, 3, 2, 2, 64, 30, true, true, false},                           // dilation > L
        {1, 1, 2, 1, 1, 1, true, false, false},
        {2, 3, 4, 3, 2, 0, true, true, true},                              // L = 0: the state passes through
    };
}

TEST(DilatedConvCuda, ForwardAndBackwardMatchTheCpuTwin) {
    SKIP_WITHOUT_CUDA_DEVICE();
    uint32_t seed = 1;
    for (const ConvConfig& c : cases()) {
        SCOPED_TRACE(c.describe());
        const ConvProblem p = make_conv_problem(c, seed++, true);
        const RunResult cpu = run_forward<float>(p);
        const RunGradients cpu_grads = run_backward<float>(p);

        DeviceConv d(p);
        DeviceTensor y(c.output_shape(), HS_DTYPE_FLOAT32), final_state(c.state_shape(), HS_DTYPE_FLOAT32);
        ASSERT_EQ(hs_dilated_conv_forward(&d.inputs, y.view(), final_state.view(), nullptr), HS_OK) << hs_last_error();
        DeviceTensor dy = DeviceTensor::upload(p.dy, c.output_shape());
        DeviceTensor d_final = DeviceTensor::upload(p.d_final, c.state_shape());
        DeviceTensor dx(c.input_shape(), HS_DTYPE_FLOAT32), dw(c.weight_shape(), HS_DTYPE_FLOAT32);
        DeviceTensor db({c.out_channels}, HS_DTYPE_FLOAT32), ds(c.state_shape(), HS_DTYPE_FLOAT32);
        hs_dilated_conv_grads grads{dx.view(), dw.view(), c.bias ? db.view() : nullptr, ds.view()};
        ASSERT_EQ(hs_dilated_conv_backward(&d.inputs, dy.view(), d_final.view(), &grads, nullptr), HS_OK)
            << hs_last_error();
        ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error();
        expect_near_cpu("y", y.download(), cpu.y);
        EXPECT_EQ(final_state.download(), cpu.final_state);
        expect_near_cpu("dx", dx.download(), cpu_grads.dx);
        expect_near_cpu("dweight", dw.download(), cpu_grads.dweight);
        if (c.bias) expect_near_cpu("dbias", db.download(), cpu_grads.dbias);
        expect_near_cpu("d_initial_state", ds.download(), cpu_grads.d_state);

        // Repeatable bit for bit: no atomics.
        DeviceTensor dw_again(c.weight_shape(), HS_DTYPE_FLOAT32);
        hs_dilated_conv_grads again{nullptr, dw_again.view(), nullptr, nullptr};
        ASSERT_EQ(hs_dilated_conv_backward(&d.inputs, dy.view(), nullptr, &again, nullptr), HS_OK) << hs_last_error();
        EXPECT_EQ(dw_again.download(), dw.download());
    }
}

TEST(DilatedConvCuda, StepAdvancesTheStateInPlaceLikeTheFullForward) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const ConvConfig c{3, 5, 4, 3, 3, 25, true, true, false};
    const ConvProblem p = make_conv_problem(c, 77, true);
    const RunResult cpu = run_forward<float>(p);
    DeviceTensor weight = DeviceTensor::upload(p.weight, c.weight_shape());
    DeviceTensor bias = DeviceTensor::upload(p.bias, {c.out_channels});
    DeviceTensor state = DeviceTensor::upload(p.state, c.state_shape());
    std::vector<double> y_steps(cpu.y.size());
    const int64_t chunks[] = {1, 7, 2, 9, 6};
    int64_t t0 = 0;
    for (int64_t n : chunks) {
        std::vector<double> x_chunk;
        for (int64_t r = 0; r < c.batch * c.in_channels; ++r) {
            for (int64_t j = 0; j < n; ++j) x_chunk.push_back(p.x[static_cast<size_t>(r * c.length + t0 + j)]);
        }
        DeviceTensor x = DeviceTensor::upload(x_chunk, {c.batch, c.in_channels, n});
        DeviceTensor y({c.batch, c.out_channels, n}, HS_DTYPE_FLOAT32);
        hs_dilated_conv_inputs inputs{x.view(), weight.view(), bias.view(), nullptr, nullptr, c.dilation};
        ASSERT_EQ(hs_dilated_conv_step(&inputs, state.view(), y.view(), nullptr), HS_OK) << hs_last_error();
        const std::vector<double> y_host = y.download();
        for (int64_t r = 0; r < c.batch * c.out_channels; ++r) {
            for (int64_t j = 0; j < n; ++j) {
                y_steps[static_cast<size_t>(r * c.length + t0 + j)] = y_host[static_cast<size_t>(r * n + j)];
            }
        }
        t0 += n;
    }
    ASSERT_EQ(t0, c.length);
    expect_near_cpu("step y", y_steps, cpu.y);
    EXPECT_EQ(state.download(), cpu.final_state);
}

TEST(DilatedConvCuda, OutOfRangeLengthsAreClampedOnTheDevice) {
    SKIP_WITHOUT_CUDA_DEVICE();
    ConvConfig c{2, 3, 2, 2, 2, 9, true, true, true};
    ConvProblem p = make_conv_problem(c, 5, true);
    DeviceConv d(p);
    const std::vector<int64_t> wild = {-4, 1000};
    DeviceTensor lengths = DeviceTensor::upload_int64(wild);
    d.inputs.lengths = lengths.view();
    DeviceTensor y(c.output_shape(), HS_DTYPE_FLOAT32), final_state(c.state_shape(), HS_DTYPE_FLOAT32);
    ASSERT_EQ(hs_dilated_conv_forward(&d.inputs, y.view(), final_state.view(), nullptr), HS_OK) << hs_last_error();
    p.lengths = {0, c.length};
    const RunResult cpu = run_forward<float>(p);
    expect_near_cpu("y", y.download(), cpu.y);
    EXPECT_EQ(final_state.download(), cpu.final_state);
}

}  // namespace
}  // namespace conv
}  // namespace hs_test
