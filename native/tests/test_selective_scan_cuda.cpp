// CUDA selective scan against the CPU twin, both through the public C API (hybridseq.h) with hs_tensor views on
// device memory allocated here. Without a CUDA device every test reports skipped (GTEST_SKIP), never passed.
//
// Tolerances: CUDA and CPU both compute in float32 but with different exp implementations and summation orders,
// so they agree to float rounding accumulated over the recurrence. An element passes when
// |cuda - cpu| <= atol * max(1, max|cpu|) + rtol * |cpu|; the atol term is scaled by the tensor's magnitude because
// sums over batch and time (dA, constant dB / dC, dD) are large and cancel. The worst error of each test is printed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "hybridseq.h"
#include "scan_test_support.h"

namespace {

using hs_test::DeviceTensor;
using hs_test::ScanConfig;
using hs_test::ScanGradients;
using hs_test::ScanProblem;

constexpr double kForwardTolerance = 2e-4;   // atol (scaled) and rtol of out, h_last, checkpoints
constexpr double kBackwardTolerance = 1e-3;  // atol (scaled) and rtol of every gradient

// Device copies of a problem's inputs (rounded to float32) and the inputs struct pointing at them.
struct DeviceInputs {
    DeviceTensor u, delta, A, B, C, D, z, delta_bias, h0, lengths;
    hs_selective_scan_inputs inputs{};

    explicit DeviceInputs(const ScanProblem& p)
        : u(DeviceTensor::upload(p.u, p.sequence_shape())),
          delta(DeviceTensor::upload(p.delta, p.sequence_shape())),
          A(DeviceTensor::upload(p.A, {p.config.dim, p.config.dstate})),
          B(DeviceTensor::upload(p.B, p.b_shape())),
          C(DeviceTensor::upload(p.C, p.c_shape())),
          D(DeviceTensor::upload(p.D, {p.config.dim})),
          z(DeviceTensor::upload(p.z, p.sequence_shape())),
          delta_bias(DeviceTensor::upload(p.delta_bias, {p.config.dim})),
          h0(DeviceTensor::upload(p.h0, p.state_shape())),
          lengths(DeviceTensor::upload_int64(p.lengths)) {
        const ScanConfig& c = p.config;
        inputs.u = u.view();
        inputs.delta = delta.view();
        inputs.A = A.view();
        inputs.B = B.view();
        inputs.C = C.view();
        inputs.D = c.has_D ? D.view() : nullptr;
        inputs.z = c.has_z ? z.view() : nullptr;
        inputs.delta_bias = c.has_delta_bias ? delta_bias.view() : nullptr;
        inputs.h0 = c.has_h0 ? h0.view() : nullptr;
        inputs.lengths = c.has_lengths ? lengths.view() : nullptr;
        inputs.delta_softplus = c.softplus ? 1 : 0;
    }
};

void synchronize() { ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error(); }

hs_test::ScanForwardResult cuda_forward(const ScanProblem& p) {
    DeviceInputs in(p);
    DeviceTensor out(p.sequence_shape(), HS_DTYPE_FLOAT32);
    DeviceTensor h_last(p.state_shape(), HS_DTYPE_FLOAT32);
    DeviceTensor checkpoints(p.checkpoints_shape(), HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_selective_scan_forward(&in.inputs, out.view(), h_last.view(), checkpoints.view(), nullptr), HS_OK)
        << hs_last_error();
    synchronize();
    return {out.download(), h_last.download(), checkpoints.download()};
}

int64_t workspace_elements(const hs_selective_scan_inputs& inputs, int32_t deterministic) {
    int64_t elements = -1;
    EXPECT_EQ(hs_selective_scan_workspace_elements(&inputs, deterministic, &elements), HS_OK)
        << hs_last_error();
    return elements;
}

ScanGradients cuda_backward(const ScanProblem& p, const std::vector<double>& dout, const std::vector<double>& dh_last,
                            int32_t deterministic) {
    const ScanConfig& c = p.config;
    DeviceInputs in(p);
    DeviceTensor out(p.sequence_shape(), HS_DTYPE_FLOAT32);
    DeviceTensor checkpoints(p.checkpoints_shape(), HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_selective_scan_forward(&in.inputs, out.view(), nullptr, checkpoints.view(), nullptr), HS_OK)
        << hs_last_error();

    const DeviceTensor dout_device = DeviceTensor::upload(dout, p.sequence_shape());
    const DeviceTensor dh_last_device = DeviceTensor::upload(dh_last.empty() ? p.h0 : dh_last, p.state_shape());
    DeviceTensor du(p.sequence_shape(), HS_DTYPE_FLOAT32), ddelta(p.sequence_shape(), HS_DTYPE_FLOAT32),
        dA({c.dim, c.dstate}, HS_DTYPE_FLOAT32), dB(p.b_shape(), HS_DTYPE_FLOAT32), dC(p.c_shape(), HS_DTYPE_FLOAT32),
        dD({c.dim}, HS_DTYPE_FLOAT32), dz(p.sequence_shape(), HS_DTYPE_FLOAT32),
        ddelta_bias({c.dim}, HS_DTYPE_FLOAT32), dh0(p.state_shape(), HS_DTYPE_FLOAT32);
    hs_selective_scan_grads grads{};
    grads.du = du.view();
    grads.ddelta = ddelta.view();
    grads.dA = dA.view();
    grads.dB = dB.view();
    grads.dC = dC.view();
    grads.dD = c.has_D ? dD.view() : nullptr;
    grads.dz = c.has_z ? dz.view() : nullptr;
    grads.ddelta_bias = c.has_delta_bias ? ddelta_bias.view() : nullptr;
    grads.dh0 = dh0.view();

    const int64_t elements = workspace_elements(in.inputs, deterministic);
    if (deterministic == 0) {
        EXPECT_EQ(elements, 0) << "the atomic mode needs no workspace";
    }
    std::unique_ptr<DeviceTensor> workspace;
    if (elements > 0) workspace = std::make_unique<DeviceTensor>(std::vector<int64_t>{elements}, HS_DTYPE_FLOAT32);

    EXPECT_EQ(hs_selective_scan_backward(&in.inputs, checkpoints.view(), dout_device.view(),
                                         dh_last.empty() ? nullptr : dh_last_device.view(), &grads, deterministic,
                                         workspace ? workspace->view() : nullptr, nullptr),
              HS_OK)
        << hs_last_error();
    synchronize();
    ScanGradients result{du.download(), ddelta.download(), dA.download(), dB.download(), dC.download(),
                         {}, {}, {}, dh0.download()};
    if (c.has_D) result.dD = dD.download();
    if (c.has_z) result.dz = dz.download();
    if (c.has_delta_bias) result.ddelta_bias = ddelta_bias.download();
    return result;
}

// Worst error seen over a test, for the printed summary.
struct ErrorSummary {
    double worst_ratio = 0.0;     // max of |diff| / allowed; must stay <= 1
    double worst_abs_diff = 0.0;  // max |cuda - cpu|
    std::string where;

    void print(const char* test) const {
        std::cout << "[ cuda-vs-cpu ] " << test << ": max |diff| = " << worst_abs_diff
                  << ", worst diff / tolerance = " << worst_ratio << " (" << where << ")\n";
    }
};

void expect_close(const char* name, const std::vector<double>& actual, const std::vector<double>& expected,
                  double tolerance, ErrorSummary& summary) {
    ASSERT_EQ(actual.size(), expected.size()) << name;
    double scale = 1.0;
    for (double v : expected) scale = std::max(scale, std::abs(v));
    const double atol = tolerance * scale;
    double worst_ratio = 0.0;
    double worst_diff = 0.0;
    size_t worst_index = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double diff = std::abs(actual[i] - expected[i]);
        const double ratio = std::isnan(diff) ? std::numeric_limits<double>::infinity()
                                              : diff / (atol + tolerance * std::abs(expected[i]));
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst_index = i;
        }
        if (!std::isnan(diff)) worst_diff = std::max(worst_diff, diff);
    }
    EXPECT_LE(worst_ratio, 1.0) << name << ": element " << worst_index << " cuda " << actual[worst_index]
                                << " cpu " << expected[worst_index] << " (tolerance " << tolerance
                                << ", scale " << scale << ")";
    if (worst_ratio > summary.worst_ratio) {
        summary.worst_ratio = worst_ratio;
        summary.where = name;
    }
    summary.worst_abs_diff = std::max(summary.worst_abs_diff, worst_diff);
}

ScanConfig with_flags(ScanConfig c, unsigned flags) {
    c.b_varying = flags & 1u;
    c.c_varying = flags & 2u;
    c.has_D = flags & 4u;
    c.has_z = flags & 8u;
    c.has_delta_bias = flags & 16u;
    c.softplus = flags & 32u;
    c.has_h0 = flags & 64u;
    c.has_lengths = flags & 128u;
    // Groups matter only for time-varying B / C; use 3 of them (Dm is a multiple of 3 in every matrix here).
    c.groups = (c.b_varying || c.c_varying) && c.dim % 3 == 0 ? 3 : 1;
    return c;
}

// Every combination of the eight flags at one odd size (Bt = 3 gives lengths L, L / 2 and 0).
std::vector<ScanConfig> flag_matrix() {
    ScanConfig base;
    base.batch = 3;
    base.dim = 33;
    base.dstate = 5;
    // Emulated (hs_test::cuda_emulated): 37 steps, still across a tile edge; chunk edges are the size sweep's job.
    base.seqlen = hs_test::cuda_emulated() ? 37 : 300;
    std::vector<ScanConfig> configs;
    for (unsigned flags = 0; flags < 256; ++flags) configs.push_back(with_flags(base, flags));
    return configs;
}

// Odd and tail sizes: L across chunk and tile edges, N across the lane layouts (1, 5, 16, 64 and the 256 maximum),
// Dm = 3 and 33 (partial thread blocks); each size takes the next flag set of a rotation that covers every flag.
std::vector<ScanConfig> size_sweep() {
    const unsigned rotation[] = {0xFFu, 0x03u, 0x7Cu, 0xB3u, 0x4Du, 0xEEu, 0x11u, 0xD6u};
    std::vector<ScanConfig> configs;
    size_t next = 0;
    // Emulated: the longest sequence is 513 = 2 chunks + 1 step instead of 2049 = 8 chunks + 1 step.
    for (int64_t seqlen : {int64_t(1), int64_t(7), int64_t(129), int64_t(300),
                           hs_test::cuda_emulated() ? int64_t(513) : int64_t(2049)}) {
        for (int64_t dstate : {1, 5, 16, 64}) {
            for (int64_t dim : {3, 33}) {
                ScanConfig c;
                c.batch = 3;
                c.dim = dim;
                c.dstate = dstate;
                c.seqlen = seqlen;
                configs.push_back(with_flags(c, rotation[next++ % 8]));
            }
        }
    }
    for (int64_t dstate : {17, 32, 128, 256}) {
        ScanConfig c;
        c.batch = 2;
        c.dim = 6;
        c.dstate = dstate;
        c.seqlen = 257;
        configs.push_back(with_flags(c, rotation[next++ % 8]));
    }
    return configs;
}

std::vector<double> random_like(size_t count, uint32_t seed) { return hs_test::random_vector(count, -1.0, 1.0, seed); }

void compare_forward(const std::vector<ScanConfig>& configs, const char* test_name) {
    ErrorSummary summary;
    uint32_t seed = 100;
    for (const ScanConfig& config : configs) {
        SCOPED_TRACE(config.describe());
        const ScanProblem problem = hs_test::make_problem(config, seed++).rounded_to_float();
        const hs_test::ScanForwardResult cpu = hs_test::run_forward<float>(problem);
        const hs_test::ScanForwardResult cuda = cuda_forward(problem);
        expect_close("out", cuda.out, cpu.out, kForwardTolerance, summary);
        expect_close("h_last", cuda.h_last, cpu.h_last, kForwardTolerance, summary);
        expect_close("checkpoints", cuda.checkpoints, cpu.checkpoints, kForwardTolerance, summary);
        if (::testing::Test::HasFailure()) break;  // one failing configuration tells enough; keep the log readable
    }
    summary.print(test_name);
}

void expect_gradients_close(const ScanGradients& cuda, const ScanGradients& cpu, const ScanConfig& c,
                            ErrorSummary& summary) {
    expect_close("du", cuda.du, cpu.du, kBackwardTolerance, summary);
    expect_close("ddelta", cuda.ddelta, cpu.ddelta, kBackwardTolerance, summary);
    expect_close("dA", cuda.dA, cpu.dA, kBackwardTolerance, summary);
    expect_close("dB", cuda.dB, cpu.dB, kBackwardTolerance, summary);
    expect_close("dC", cuda.dC, cpu.dC, kBackwardTolerance, summary);
    expect_close("dh0", cuda.dh0, cpu.dh0, kBackwardTolerance, summary);
    if (c.has_D) expect_close("dD", cuda.dD, cpu.dD, kBackwardTolerance, summary);
    if (c.has_z) expect_close("dz", cuda.dz, cpu.dz, kBackwardTolerance, summary);
    if (c.has_delta_bias) expect_close("ddelta_bias", cuda.ddelta_bias, cpu.ddelta_bias, kBackwardTolerance, summary);
}

void compare_backward(const std::vector<ScanConfig>& configs, const char* test_name) {
    ErrorSummary summary;
    uint32_t seed = 500;
    int index = 0;
    for (const ScanConfig& config : configs) {
        const int32_t deterministic = index++ % 2;
        SCOPED_TRACE(config.describe() + " deterministic=" + std::to_string(deterministic));
        const ScanProblem problem = hs_test::make_problem(config, seed).rounded_to_float();
        const std::vector<double> dout = random_like(problem.u.size(), seed + 11);
        // Half the cases pass dh_last, half leave it NULL.
        const std::vector<double> dh_last = index % 4 < 2 ? random_like(problem.h0.size(), seed + 12)
                                                          : std::vector<double>{};
        seed += 20;
        const ScanGradients cpu = hs_test::run_backward<float>(problem, dout, dh_last);
        const ScanGradients cuda = cuda_backward(problem, dout, dh_last, deterministic);
        expect_gradients_close(cuda, cpu, config, summary);
        if (::testing::Test::HasFailure()) break;
    }
    summary.print(test_name);
}

TEST(SelectiveScanCuda, ForwardMatchesCpuOverFlagMatrix) {
    SKIP_WITHOUT_CUDA_DEVICE();
    compare_forward(flag_matrix(), "forward, flag matrix");
}

TEST(SelectiveScanCuda, ForwardMatchesCpuOverOddSizes) {
    SKIP_WITHOUT_CUDA_DEVICE();
    compare_forward(size_sweep(), "forward, odd sizes");
}

TEST(SelectiveScanCuda, BackwardMatchesCpuOverFlagMatrix) {
    SKIP_WITHOUT_CUDA_DEVICE();
    compare_backward(flag_matrix(), "backward, flag matrix");
}

TEST(SelectiveScanCuda, BackwardMatchesCpuOverOddSizes) {
    SKIP_WITHOUT_CUDA_DEVICE();
    compare_backward(size_sweep(), "backward, odd sizes");
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const float x = static_cast<float>(a[i]);
        const float y = static_cast<float>(b[i]);
        if (std::memcmp(&x, &y, sizeof(float)) != 0) return false;
    }
    return true;
}

TEST(SelectiveScanCuda, DeterministicBackwardIsBitwiseReproducible) {
    SKIP_WITHOUT_CUDA_DEVICE();
    // Many channels per group and a long sequence, so that the channel and batch reductions have many terms.
    for (const bool varying : {true, false}) {
        ScanConfig c;
        c.batch = 3;
        c.dim = 96;
        c.dstate = 16;
        c.seqlen = hs_test::cuda_emulated() ? 300 : 600;  // emulated: still across a chunk edge
        c = with_flags(c, varying ? 0xFFu : 0xFCu);
        c.groups = 1;
        SCOPED_TRACE(c.describe());
        const ScanProblem problem = hs_test::make_problem(c, 77).rounded_to_float();
        const std::vector<double> dout = random_like(problem.u.size(), 78);
        const std::vector<double> dh_last = random_like(problem.h0.size(), 79);
        const ScanGradients first = cuda_backward(problem, dout, dh_last, 1);
        const ScanGradients second = cuda_backward(problem, dout, dh_last, 1);
        EXPECT_TRUE(bitwise_equal(first.du, second.du)) << "du";
        EXPECT_TRUE(bitwise_equal(first.ddelta, second.ddelta)) << "ddelta";
        EXPECT_TRUE(bitwise_equal(first.dA, second.dA)) << "dA";
        EXPECT_TRUE(bitwise_equal(first.dB, second.dB)) << "dB";
        EXPECT_TRUE(bitwise_equal(first.dC, second.dC)) << "dC";
        EXPECT_TRUE(bitwise_equal(first.dD, second.dD)) << "dD";
        EXPECT_TRUE(bitwise_equal(first.dz, second.dz)) << "dz";
        EXPECT_TRUE(bitwise_equal(first.ddelta_bias, second.ddelta_bias)) << "ddelta_bias";
        EXPECT_TRUE(bitwise_equal(first.dh0, second.dh0)) << "dh0";
        // And the atomic mode agrees with it to rounding.
        ErrorSummary summary;
        expect_gradients_close(cuda_backward(problem, dout, dh_last, 0), first, c, summary);
        summary.print(varying ? "atomic vs deterministic, varying B/C" : "atomic vs deterministic, constant B/C");
    }
}

TEST(SelectiveScanCuda, OutOfRangeLengthsAreClampedOnDevice) {
    SKIP_WITHOUT_CUDA_DEVICE();
    ScanConfig c;
    c.batch = 3;
    c.dim = 33;
    c.dstate = 16;
    c.seqlen = 300;
    c = with_flags(c, 0xFFu);
    ScanProblem on_device = hs_test::make_problem(c, 9).rounded_to_float();
    on_device.lengths = {-7, c.seqlen + 50, 129};
    ScanProblem clamped = on_device;
    clamped.lengths = {0, c.seqlen, 129};
    ErrorSummary summary;
    const hs_test::ScanForwardResult cpu = hs_test::run_forward<float>(clamped);
    const hs_test::ScanForwardResult cuda = cuda_forward(on_device);
    expect_close("out", cuda.out, cpu.out, kForwardTolerance, summary);
    expect_close("h_last", cuda.h_last, cpu.h_last, kForwardTolerance, summary);
    const std::vector<double> dout = random_like(on_device.u.size(), 10);
    const std::vector<double> dh_last = random_like(on_device.h0.size(), 11);
    expect_gradients_close(cuda_backward(on_device, dout, dh_last, 1),
                           hs_test::run_backward<float>(clamped, dout, dh_last), c, summary);
    summary.print("clamped lengths");
}

// Column t of a (rows, L) array.
std::vector<double> time_slice(const std::vector<double>& values, int64_t seqlen, int64_t t) {
    std::vector<double> column(values.size() / static_cast<size_t>(seqlen));
    for (size_t r = 0; r < column.size(); ++r) column[r] = values[r * static_cast<size_t>(seqlen) + t];
    return column;
}

TEST(SelectiveScanCuda, StepsEqualTheFullScan) {
    SKIP_WITHOUT_CUDA_DEVICE();
    for (const bool varying : {true, false}) {
        ScanConfig c;
        c.batch = 3;
        c.dim = 33;
        c.dstate = 16;
        c.seqlen = 9;
        c = with_flags(c, varying ? 0x7Fu : 0x7Cu);  // everything but lengths (the step takes none)
        SCOPED_TRACE(c.describe());
        const ScanProblem problem = hs_test::make_problem(c, 21).rounded_to_float();
        const hs_test::ScanForwardResult full = cuda_forward(problem);

        const DeviceTensor A = DeviceTensor::upload(problem.A, {c.dim, c.dstate});
        const DeviceTensor D = DeviceTensor::upload(problem.D, {c.dim});
        const DeviceTensor delta_bias = DeviceTensor::upload(problem.delta_bias, {c.dim});
        // Constant B / C only when they are constant: a time-varying problem's B / C hold Bt*G*N*L values, more
        // than a (Dm, N) tensor (the emulated backend's range check caught the overflowing copy).
        const DeviceTensor constant_B = varying ? DeviceTensor() : DeviceTensor::upload(problem.B, {c.dim, c.dstate});
        const DeviceTensor constant_C = varying ? DeviceTensor() : DeviceTensor::upload(problem.C, {c.dim, c.dstate});
        DeviceTensor state = DeviceTensor::upload(problem.h0, problem.state_shape());
        DeviceTensor out({c.batch, c.dim}, HS_DTYPE_FLOAT32);
        ErrorSummary summary;
        for (int64_t t = 0; t < c.seqlen; ++t) {
            const DeviceTensor u = DeviceTensor::upload(time_slice(problem.u, c.seqlen, t), {c.batch, c.dim});
            const DeviceTensor delta = DeviceTensor::upload(time_slice(problem.delta, c.seqlen, t), {c.batch, c.dim});
            const DeviceTensor z = DeviceTensor::upload(time_slice(problem.z, c.seqlen, t), {c.batch, c.dim});
            const std::vector<int64_t> varying_shape{c.batch, c.groups, c.dstate};
            const DeviceTensor varying_B =
                varying ? DeviceTensor::upload(time_slice(problem.B, c.seqlen, t), varying_shape) : DeviceTensor();
            const DeviceTensor varying_C =
                varying ? DeviceTensor::upload(time_slice(problem.C, c.seqlen, t), varying_shape) : DeviceTensor();
            hs_selective_scan_inputs inputs{};
            inputs.u = u.view();
            inputs.delta = delta.view();
            inputs.A = A.view();
            inputs.B = varying ? varying_B.view() : constant_B.view();
            inputs.C = varying ? varying_C.view() : constant_C.view();
            inputs.D = D.view();
            inputs.z = z.view();
            inputs.delta_bias = delta_bias.view();
            inputs.delta_softplus = 1;
            ASSERT_EQ(hs_selective_scan_step(&inputs, state.view(), out.view(), nullptr), HS_OK) << hs_last_error();
            synchronize();
            expect_close("step out", out.download(), time_slice(full.out, c.seqlen, t), 1e-5, summary);
        }
        expect_close("state after the steps", state.download(), full.h_last, 1e-5, summary);
        summary.print(varying ? "steps vs full scan, varying B/C" : "steps vs full scan, constant B/C");
    }
}

// A small valid problem on the device, for the argument checks below.
ScanProblem small_problem() {
    ScanConfig c;
    c.batch = 2;
    c.dim = 4;
    c.dstate = 8;
    c.seqlen = 10;
    return hs_test::make_problem(c, 3).rounded_to_float();
}

TEST(SelectiveScanCuda, Float64OnCudaIsUnsupported) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const ScanProblem p = small_problem();
    const ScanConfig& c = p.config;
    // Device buffers of the right size in float64; the call must refuse before reading them.
    DeviceTensor u(p.sequence_shape(), HS_DTYPE_FLOAT64), delta(p.sequence_shape(), HS_DTYPE_FLOAT64),
        A({c.dim, c.dstate}, HS_DTYPE_FLOAT64), B({c.dim, c.dstate}, HS_DTYPE_FLOAT64),
        C({c.dim, c.dstate}, HS_DTYPE_FLOAT64), out(p.sequence_shape(), HS_DTYPE_FLOAT64);
    hs_selective_scan_inputs inputs{};
    inputs.u = u.view();
    inputs.delta = delta.view();
    inputs.A = A.view();
    inputs.B = B.view();
    inputs.C = C.view();
    EXPECT_EQ(hs_selective_scan_forward(&inputs, out.view(), nullptr, nullptr, nullptr), HS_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(hs_last_error()).find("float64"), std::string::npos) << hs_last_error();
}

TEST(SelectiveScanCuda, MixedDevicesAreRejected) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const ScanProblem p = small_problem();
    DeviceInputs in(p);
    const std::vector<float> host_A(p.A.begin(), p.A.end());
    const hs_tensor cpu_A = hs_test::cpu_view(host_A.data(), HS_DTYPE_FLOAT32, {p.config.dim, p.config.dstate});
    in.inputs.A = &cpu_A;
    DeviceTensor out(p.sequence_shape(), HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_selective_scan_forward(&in.inputs, out.view(), nullptr, nullptr, nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("'A'"), std::string::npos) << hs_last_error();
}

TEST(SelectiveScanCuda, StateSizeAboveTheKernelLimitIsUnsupported) {
    SKIP_WITHOUT_CUDA_DEVICE();
    ScanConfig c;
    c.batch = 1;
    c.dim = 2;
    c.dstate = 257;
    c.seqlen = 4;
    const ScanProblem p = hs_test::make_problem(c, 5).rounded_to_float();
    DeviceInputs in(p);
    DeviceTensor out(p.sequence_shape(), HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_selective_scan_forward(&in.inputs, out.view(), nullptr, nullptr, nullptr), HS_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(hs_last_error()).find("dstate"), std::string::npos) << hs_last_error();
}

TEST(SelectiveScanCuda, TooSmallWorkspaceIsRejected) {
    SKIP_WITHOUT_CUDA_DEVICE();
    ScanConfig c;
    c.batch = 2;
    c.dim = 4;
    c.dstate = 8;
    c.seqlen = 10;
    c.b_varying = true;  // the deterministic workspace is largest, and certainly non-empty, for varying B
    const ScanProblem p = hs_test::make_problem(c, 3).rounded_to_float();
    DeviceInputs in(p);
    const int64_t needed = workspace_elements(in.inputs, 1);
    ASSERT_GT(needed, 0);
    DeviceTensor checkpoints(p.checkpoints_shape(), HS_DTYPE_FLOAT32);
    DeviceTensor out(p.sequence_shape(), HS_DTYPE_FLOAT32);
    ASSERT_EQ(hs_selective_scan_forward(&in.inputs, out.view(), nullptr, checkpoints.view(), nullptr), HS_OK)
        << hs_last_error();
    DeviceTensor du(p.sequence_shape(), HS_DTYPE_FLOAT32), ddelta(p.sequence_shape(), HS_DTYPE_FLOAT32),
        dA({c.dim, c.dstate}, HS_DTYPE_FLOAT32), dB(p.b_shape(), HS_DTYPE_FLOAT32), dC(p.c_shape(), HS_DTYPE_FLOAT32);
    hs_selective_scan_grads grads{};
    grads.du = du.view();
    grads.ddelta = ddelta.view();
    grads.dA = dA.view();
    grads.dB = dB.view();
    grads.dC = dC.view();
    const DeviceTensor workspace({needed - 1}, HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_selective_scan_backward(&in.inputs, checkpoints.view(), out.view(), nullptr, &grads, 1,
                                         workspace.view(), nullptr),
              HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("'workspace'"), std::string::npos) << hs_last_error();
}


// The old CUDA workspace query returned 0 for 2^40-sized inputs (its products wrapped). The query validates the
// views it is given without touching their memory, so this needs a CUDA build but no device.
TEST(SelectiveScanCuda, WorkspaceQueryForHugeSizesIsAnErrorNotAWrappedCount) {
    static float never_read[4];
    const int64_t big = int64_t(1) << 20;
    const hs_tensor u = hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {big, big, big});
    const hs_tensor A = hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {big, big});
    const hs_tensor varying = hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {big, 1, big, big});
    hs_selective_scan_inputs inputs{};
    inputs.u = &u;
    inputs.delta = &u;
    inputs.A = &A;
    inputs.B = &A;
    inputs.C = &A;
    int64_t elements = -1;
    EXPECT_EQ(hs_selective_scan_workspace_elements(&inputs, 1, &elements), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'u'"), std::string::npos) << hs_last_error();
    // A time-varying B of 2^60 elements fits int64 on its own; Bt*Dm*N*L does not.
    inputs.B = &varying;
    EXPECT_EQ(hs_selective_scan_workspace_elements(&inputs, 1, &elements), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("more than int64 can index"), std::string::npos) << hs_last_error();
    EXPECT_EQ(elements, -1) << "no count may be written on failure";
}

}  // namespace
