// CUDA fused recurrence (hs_rnn_*) against the CPU twin, both through the public C API with hs_tensor views.
// Without a CUDA device every test reports skipped (GTEST_SKIP), never passed.
//
// Reference: the CPU backend run in float64 on the same inputs rounded to float32, so the reference carries no
// float32 rounding of its own. Tolerances are keyed to the CUDA dtype (float32) and the kind of quantity: an element
// passes when |cuda - ref| <= tol * max(1, max|ref|) + tol * |ref|. Forward values pass through T steps of
// float32 recurrences (tol 2e-4); gradients also sum over T * Bt rows (dR, db) and reverse the recurrence (tol 2e-3).
// Matrix: every cell, (NH, DH) in {(1, 5), (4, 5), (1, 64), (4, 64), (1, 256)} (5: odd, tails of every tile; 64:
// the persistent path at its limit; 256: the dense per-step path), T in {1, 7, 129}, Bt in {1, 3, 16}, and the
// option set (s0, lengths, reverse) cycling through five variants. On the emulated CUDA backend DH 96 stands for
// 256 and T 33 for 129 (kDenseHeadDim, case_matrix).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "hybridseq.h"

namespace {

using hs_test::DeviceTensor;

constexpr double kForwardTolerance = 2e-4;
constexpr double kBackwardTolerance = 2e-3;

// The dense head of the per-step path: 256 on a GPU. On the emulated backend 96: still above the persistent limit of
// 64 and one and a half 64-wide chunks (a tail chunk), at about a seventh of the cost of 256.
constexpr int64_t kDenseHeadDim = hs_test::cuda_emulated() ? 96 : 256;

// A contiguous float64 CPU tensor (owned) and its view. Outputs start as NaN so an unwritten element fails.
class HostTensor {
public:
    explicit HostTensor(const std::vector<int64_t>& shape, std::vector<double> values = {})
        : values_(values.empty() ? std::vector<double>(hs_test::shape_element_count(shape),
                                                       std::numeric_limits<double>::quiet_NaN())
                                 : std::move(values)),
          view_(hs_test::contiguous_view(values_.data(), HS_DTYPE_FLOAT64, HS_DEVICE_CPU, shape)) {}
    HostTensor(const HostTensor&) = delete;
    HostTensor& operator=(const HostTensor&) = delete;
    const hs_tensor* view() const { return &view_; }
    const std::vector<double>& values() const { return values_; }

private:
    std::vector<double> values_;
    hs_tensor view_;
};

struct CellCounts {
    int64_t gates = 0, states = 0, cache_gates = 0;
};

CellCounts cell_counts(int32_t cell) {
    int32_t gates = 0, states = 0, cache = 0;
    EXPECT_EQ(hs_rnn_cell_info(cell, &gates, &states, &cache), HS_OK) << hs_last_error();
    return {gates, states, cache};
}

const char* cell_name(int32_t cell) {
    return cell == HS_RNN_CELL_LSTM ? "lstm" : (cell == HS_RNN_CELL_GRU ? "gru" : "slstm");
}

struct RnnCase {
    int32_t cell = HS_RNN_CELL_LSTM;
    int64_t heads = 1;
    int64_t head_dim = 5;
    int64_t steps = 7;
    int64_t batch = 3;
    bool has_s0 = false;
    bool has_lengths = false;
    bool reverse = false;

    int64_t hidden() const { return heads * head_dim; }
    std::string name() const {
        return std::string(cell_name(cell)) + "_NH" + std::to_string(heads) + "_DH" + std::to_string(head_dim) +
               "_T" + std::to_string(steps) + "_B" + std::to_string(batch) + (has_s0 ? "_s0" : "") +
               (has_lengths ? "_lengths" : "") + (reverse ? "_reverse" : "");
    }
};

// What GoogleTest prints for a case's GetParam() (a failure line, --gtest_list_tests): its name, not its raw bytes.
void PrintTo(const RnnCase& c, std::ostream* os) { *os << c.name(); }

std::vector<double> random_values(size_t count, double low, double high, std::mt19937& rng) {
    std::uniform_real_distribution<double> dist(low, high);
    std::vector<double> values(count);
    // Rounded through float, so the float32 CUDA run and the float64 reference see the same numbers.
    for (double& v : values) v = static_cast<double>(static_cast<float>(dist(rng)));
    return values;
}

// Random inputs of a case, plus upstream gradients for the backward.
struct RnnProblem {
    RnnCase config;
    CellCounts counts;
    std::vector<double> wx, R, b, s0, dy, ds_last;
    std::vector<int64_t> lengths;

    explicit RnnProblem(const RnnCase& c, uint32_t seed) : config(c), counts(cell_counts(c.cell)) {
        std::mt19937 rng(seed);
        const int64_t H = c.hidden();
        const size_t state_elements = static_cast<size_t>(counts.states * c.batch * H);
        wx = random_values(static_cast<size_t>(c.steps * c.batch * counts.gates * H), -1.0, 1.0, rng);
        const double r_scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim));
        R = random_values(static_cast<size_t>(c.heads * counts.gates * c.head_dim * c.head_dim), -r_scale, r_scale,
                          rng);
        b = random_values(static_cast<size_t>(counts.gates * H), -0.5, 0.5, rng);
        s0 = random_values(state_elements, -1.0, 1.0, rng);
        if (c.cell == HS_RNN_CELL_SLSTM) {
            // The normaliser n stays positive (it is a sum of positive terms); the stabiliser m is any real.
            const std::vector<double> n0 = random_values(static_cast<size_t>(c.batch * H), 0.5, 1.5, rng);
            std::copy(n0.begin(), n0.end(), s0.begin() + 2 * c.batch * H);
        }
        dy = random_values(static_cast<size_t>(c.steps * c.batch * H), -1.0, 1.0, rng);
        ds_last = random_values(state_elements, -1.0, 1.0, rng);
        if (c.cell == HS_RNN_CELL_SLSTM && c.steps > 7) {
            // The sLSTM gradient is discontinuous where m = max(logsig(f~) + m_{t-1}, i~) ties: float32 and float64
            // may pick different sides there, and the gradient then differs by dL/dm. A loss through h alone has
            // dL/dm = 0 exactly (h does not depend on the stabiliser), so the long runs, where a near-tie somewhere
            // is likely, keep ds_last of c, n and m at zero; the short runs (T <= 7) test them.
            std::fill(ds_last.begin() + c.batch * H, ds_last.end(), 0.0);
        }
        const int64_t pattern[4] = {c.steps, c.steps / 2, 0, std::max<int64_t>(c.steps - 1, 1)};
        for (int64_t i = 0; i < c.batch; ++i) lengths.push_back(c.has_lengths ? pattern[i % 4] : c.steps);
    }
    std::vector<int64_t> state_shape() const { return {counts.states, config.batch, config.hidden()}; }
    std::vector<int64_t> wx_shape() const { return {config.steps, config.batch, counts.gates * config.hidden()}; }
    std::vector<int64_t> R_shape() const {
        return {config.heads, counts.gates * config.head_dim, config.head_dim};
    }
    std::vector<int64_t> b_shape() const { return {counts.gates * config.hidden()}; }
    std::vector<int64_t> y_shape() const { return {config.steps, config.batch, config.hidden()}; }
    std::vector<int64_t> states_shape() const {
        return {config.steps + 1, counts.states, config.batch, config.hidden()};
    }
    std::vector<int64_t> cache_shape() const {
        return {config.steps, config.batch, counts.cache_gates * config.hidden()};
    }
};

struct ForwardResult {
    std::vector<double> y, s_last, states, cache;
};

struct BackwardResult {
    std::vector<double> dwx, dR, db, ds0;
};

// ---- the float64 CPU reference -----------------------------------------------------------------------------------

struct CpuRun {
    ForwardResult forward;
    BackwardResult backward;
};

CpuRun cpu_reference(const RnnProblem& p) {
    const RnnCase& c = p.config;
    HostTensor wx(p.wx_shape(), p.wx), R(p.R_shape(), p.R), b(p.b_shape(), p.b), s0(p.state_shape(), p.s0);
    std::vector<int64_t> lengths = p.lengths;
    const hs_tensor lengths_view = hs_test::contiguous_view(lengths.data(), HS_DTYPE_INT64, HS_DEVICE_CPU, {c.batch});
    hs_rnn_inputs inputs{};
    inputs.cell = c.cell;
    inputs.reverse = c.reverse ? 1 : 0;
    inputs.wx = wx.view();
    inputs.R = R.view();
    inputs.b = b.view();
    inputs.s0 = c.has_s0 ? s0.view() : nullptr;
    inputs.lengths = c.has_lengths ? &lengths_view : nullptr;

    HostTensor y(p.y_shape()), s_last(p.state_shape()), states(p.states_shape()), cache(p.cache_shape());
    CpuRun run;
    // The CPU forward needs no workspace (RnnValidation.CpuForwardNeedsNoWorkspace).
    EXPECT_EQ(hs_rnn_forward(&inputs, y.view(), s_last.view(), states.view(), cache.view(), nullptr, nullptr), HS_OK)
        << "CPU reference forward: " << hs_last_error();
    run.forward = {y.values(), s_last.values(), states.values(), cache.values()};

    HostTensor dy(p.y_shape(), p.dy), ds_last(p.state_shape(), p.ds_last);
    HostTensor dwx(p.wx_shape()), dR(p.R_shape()), db(p.b_shape()), ds0(p.state_shape());
    int64_t workspace_elements = -1;
    EXPECT_EQ(hs_rnn_workspace_elements(&inputs, HS_RNN_PASS_BACKWARD, nullptr, &workspace_elements), HS_OK)
        << hs_last_error();
    std::unique_ptr<HostTensor> workspace;
    if (workspace_elements > 0) {
        workspace = std::make_unique<HostTensor>(std::vector<int64_t>{workspace_elements});
    }
    EXPECT_EQ(hs_rnn_backward(&inputs, states.view(), cache.view(), dy.view(), c.has_s0 ? ds_last.view() : nullptr,
                              dwx.view(), dR.view(), db.view(), ds0.view(), workspace ? workspace->view() : nullptr,
                              nullptr),
              HS_OK)
        << "CPU reference backward: " << hs_last_error();
    run.backward = {dwx.values(), dR.values(), db.values(), ds0.values()};
    return run;
}

// ---- the CUDA run ------------------------------------------------------------------------------------------------

struct DeviceInputs {
    DeviceTensor wx, R, b, s0, lengths;
    hs_rnn_inputs inputs{};

    DeviceInputs(const RnnProblem& p, int32_t allow_tf32)
        : wx(DeviceTensor::upload(p.wx, p.wx_shape())),
          R(DeviceTensor::upload(p.R, p.R_shape())),
          b(DeviceTensor::upload(p.b, p.b_shape())),
          s0(DeviceTensor::upload(p.s0, p.state_shape())),
          lengths(DeviceTensor::upload_int64(p.lengths)) {
        inputs.cell = p.config.cell;
        inputs.reverse = p.config.reverse ? 1 : 0;
        inputs.wx = wx.view();
        inputs.R = R.view();
        inputs.b = b.view();
        inputs.s0 = p.config.has_s0 ? s0.view() : nullptr;
        inputs.lengths = p.config.has_lengths ? lengths.view() : nullptr;
        inputs.allow_tf32 = allow_tf32;
    }
};

void synchronize() { ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error(); }

// hs_rnn_workspace_elements for case `c` on CUDA: the query takes the call's own inputs, so this builds wx
// ((Bt, G*H) for HS_RNN_PASS_STEP), R and b views of the case's shapes; the query reads no data, so they all point
// at one dummy buffer.
hs_status query_workspace(const RnnCase& c, int32_t pass, int64_t* elements) {
    int32_t gates = 4, states = 0, cache_gates = 0;
    if (hs_rnn_cell_info(c.cell, &gates, &states, &cache_gates) != HS_OK) gates = 4;  // the query reports the cell
    alignas(16) static unsigned char never_read[16];
    const int64_t H = c.hidden();
    const hs_tensor wx = pass == HS_RNN_PASS_STEP
                             ? hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {c.batch, gates * H})
                             : hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA,
                                                        {c.steps, c.batch, gates * H});
    const hs_tensor R =
        hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {c.heads, gates * c.head_dim, c.head_dim});
    const hs_tensor b = hs_test::contiguous_view(never_read, HS_DTYPE_FLOAT32, HS_DEVICE_CUDA, {gates * H});
    hs_rnn_inputs inputs{};
    inputs.cell = c.cell;
    inputs.wx = &wx;
    inputs.R = &R;
    inputs.b = &b;
    return hs_rnn_workspace_elements(&inputs, pass, nullptr, elements);
}

// Scratch elements of one pass (hs_rnn_pass) of case `c` on CUDA.
int64_t cuda_workspace_elements(const RnnCase& c, int32_t pass) {
    int64_t elements = -1;
    EXPECT_EQ(query_workspace(c, pass, &elements), HS_OK)
        << hs_last_error();
    return elements;
}

// The workspace a pass asks for, or null when it needs none.
std::unique_ptr<DeviceTensor> cuda_workspace(const RnnCase& c, int32_t backward) {
    const int64_t elements = cuda_workspace_elements(c, backward);
    if (elements <= 0) return nullptr;
    return std::make_unique<DeviceTensor>(std::vector<int64_t>{elements}, HS_DTYPE_FLOAT32);
}

const hs_tensor* view_or_null(const std::unique_ptr<DeviceTensor>& tensor) {
    return tensor ? tensor->view() : nullptr;
}

struct CudaRun {
    ForwardResult forward;
    BackwardResult backward;
};

CudaRun cuda_run(const RnnProblem& p, int32_t allow_tf32 = 0) {
    const RnnCase& c = p.config;
    DeviceInputs in(p, allow_tf32);
    DeviceTensor y(p.y_shape(), HS_DTYPE_FLOAT32), s_last(p.state_shape(), HS_DTYPE_FLOAT32),
        states(p.states_shape(), HS_DTYPE_FLOAT32), cache(p.cache_shape(), HS_DTYPE_FLOAT32);
    const auto forward_workspace = cuda_workspace(c, 0);
    EXPECT_EQ(hs_rnn_forward(&in.inputs, y.view(), s_last.view(), states.view(), cache.view(),
                             view_or_null(forward_workspace), nullptr),
              HS_OK)
        << "CUDA forward: " << hs_last_error();
    synchronize();
    CudaRun run;
    run.forward = {y.download(), s_last.download(), states.download(), cache.download()};

    const auto dy = DeviceTensor::upload(p.dy, p.y_shape());
    const auto ds_last = DeviceTensor::upload(p.ds_last, p.state_shape());
    DeviceTensor dwx(p.wx_shape(), HS_DTYPE_FLOAT32), dR(p.R_shape(), HS_DTYPE_FLOAT32),
        db(p.b_shape(), HS_DTYPE_FLOAT32), ds0(p.state_shape(), HS_DTYPE_FLOAT32);
    const auto backward_workspace = cuda_workspace(c, 1);
    EXPECT_EQ(hs_rnn_backward(&in.inputs, states.view(), cache.view(), dy.view(),
                              c.has_s0 ? ds_last.view() : nullptr, dwx.view(), dR.view(), db.view(), ds0.view(),
                              view_or_null(backward_workspace), nullptr),
              HS_OK)
        << "CUDA backward: " << hs_last_error();
    synchronize();
    run.backward = {dwx.download(), dR.download(), db.download(), ds0.download()};
    return run;
}

// ---- comparison --------------------------------------------------------------------------------------------------

struct ErrorSummary {
    double worst_ratio = 0.0;
    double worst_abs_diff = 0.0;
    std::string where;

    void print(const std::string& test) const {
        std::cout << "[ cuda-vs-cpu ] " << test << ": max |diff| = " << worst_abs_diff
                  << ", worst diff / tolerance = " << worst_ratio << " (" << where << ")\n";
    }
};

void expect_close(const std::string& name, const std::vector<double>& actual, const std::vector<double>& expected,
                  double tolerance, ErrorSummary& summary) {
    ASSERT_EQ(actual.size(), expected.size()) << name;
    double scale = 1.0;
    for (double v : expected) scale = std::max(scale, std::abs(v));
    double worst_ratio = 0.0;
    double worst_diff = 0.0;
    size_t worst_index = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double diff = std::abs(actual[i] - expected[i]);
        // NaN in either (an unwritten output, a NaN reference) fails: the ratio becomes infinite.
        const double ratio = std::isnan(diff) ? std::numeric_limits<double>::infinity()
                                              : diff / (tolerance * scale + tolerance * std::abs(expected[i]));
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst_index = i;
        }
        if (!std::isnan(diff)) worst_diff = std::max(worst_diff, diff);
    }
    EXPECT_LE(worst_ratio, 1.0) << name << ": element " << worst_index << " cuda "
                                << (actual.empty() ? 0.0 : actual[worst_index]) << " cpu "
                                << (expected.empty() ? 0.0 : expected[worst_index]) << " (tolerance " << tolerance
                                << ", scale " << scale << ")";
    if (worst_ratio > summary.worst_ratio) {
        summary.worst_ratio = worst_ratio;
        summary.where = name;
    }
    summary.worst_abs_diff = std::max(summary.worst_abs_diff, worst_diff);
}

// The cache at padding positions (t >= lengths[b]) is unspecified (ops/rnn.h): zero it in a copy before comparing.
std::vector<double> cache_without_padding(const RnnProblem& p, std::vector<double> cache) {
    const int64_t row = p.counts.cache_gates * p.config.hidden();
    for (int64_t t = 0; t < p.config.steps; ++t) {
        for (int64_t b = 0; b < p.config.batch; ++b) {
            if (t < p.lengths[static_cast<size_t>(b)]) continue;
            const auto first = cache.begin() + (t * p.config.batch + b) * row;
            std::fill(first, first + row, 0.0);
        }
    }
    return cache;
}

std::vector<RnnCase> case_matrix() {
    const int32_t cells[] = {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM};
    const int64_t head_shapes[][2] = {{1, 5}, {4, 5}, {1, 64}, {4, 64}, {1, kDenseHeadDim}};
    // The emulated backend (hs_test::cuda_emulated) runs the long sequence at 33 steps: same paths, a quarter of the
    // time steps.
    const int64_t step_counts[] = {1, 7, hs_test::cuda_emulated() ? 33 : 129};
    const int64_t batches[] = {1, 3, 16};
    // (s0, lengths, reverse): every combination that matters appears for every cell and head shape over the T x Bt
    // grid (9 cases per shape cycle through the 5 variants).
    const bool variants[][3] = {
        {false, false, false}, {true, false, false}, {false, true, false}, {false, true, true}, {true, true, true}};
    std::vector<RnnCase> cases;
    int index = 0;
    for (int32_t cell : cells) {
        for (const auto& shape : head_shapes) {
            for (int64_t steps : step_counts) {
                for (int64_t batch : batches) {
                    const bool* v = variants[index++ % 5];
                    RnnCase c;
                    c.cell = cell;
                    c.heads = shape[0];
                    c.head_dim = shape[1];
                    c.steps = steps;
                    c.batch = batch;
                    c.has_s0 = v[0];
                    c.has_lengths = v[1];
                    c.reverse = v[2];
                    cases.push_back(c);
                }
            }
        }
    }
    return cases;
}

class RnnCudaMatchesCpu : public ::testing::TestWithParam<RnnCase> {};

TEST_P(RnnCudaMatchesCpu, ForwardAndBackward) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const RnnCase c = GetParam();
    const RnnProblem problem(c, 1234u + static_cast<uint32_t>(c.steps * 31 + c.batch * 7 + c.head_dim));
    const CpuRun cpu = cpu_reference(problem);
    const CudaRun gpu = cuda_run(problem);
    ErrorSummary summary;
    expect_close("y", gpu.forward.y, cpu.forward.y, kForwardTolerance, summary);
    expect_close("s_last", gpu.forward.s_last, cpu.forward.s_last, kForwardTolerance, summary);
    expect_close("states", gpu.forward.states, cpu.forward.states, kForwardTolerance, summary);
    expect_close("cache", cache_without_padding(problem, gpu.forward.cache),
                 cache_without_padding(problem, cpu.forward.cache), kForwardTolerance, summary);
    expect_close("dwx", gpu.backward.dwx, cpu.backward.dwx, kBackwardTolerance, summary);
    expect_close("dR", gpu.backward.dR, cpu.backward.dR, kBackwardTolerance, summary);
    expect_close("db", gpu.backward.db, cpu.backward.db, kBackwardTolerance, summary);
    expect_close("ds0", gpu.backward.ds0, cpu.backward.ds0, kBackwardTolerance, summary);
    summary.print(c.name());
}

INSTANTIATE_TEST_SUITE_P(Matrix, RnnCudaMatchesCpu, ::testing::ValuesIn(case_matrix()),
                         [](const ::testing::TestParamInfo<RnnCase>& info) { return info.param.name(); });

// hs_rnn_step T times equals the full forward (no lengths, forward order), on both CUDA paths.
class RnnCudaStep : public ::testing::TestWithParam<RnnCase> {};

TEST_P(RnnCudaStep, StepsEqualFullForward) {
    SKIP_WITHOUT_CUDA_DEVICE();
    const RnnCase c = GetParam();
    const RnnProblem problem(c, 99u + static_cast<uint32_t>(c.head_dim));
    const CudaRun full = cuda_run(problem);
    const int64_t H = c.hidden();
    const int64_t step_wx = c.batch * problem.counts.gates * H;
    auto state = DeviceTensor::upload(problem.s0, problem.state_shape());
    DeviceTensor y({c.batch, H}, HS_DTYPE_FLOAT32);
    const auto R = DeviceTensor::upload(problem.R, problem.R_shape());
    const auto b = DeviceTensor::upload(problem.b, problem.b_shape());
    // One workspace (the forward's for T = 1), reused by every step as a decoder would.
    RnnCase one_step = c;
    one_step.steps = 1;
    const auto workspace = cuda_workspace(one_step, 0);
    ErrorSummary summary;
    for (int64_t t = 0; t < c.steps; ++t) {
        const std::vector<double> wx_t(problem.wx.begin() + t * step_wx, problem.wx.begin() + (t + 1) * step_wx);
        const auto wx = DeviceTensor::upload(wx_t, {c.batch, problem.counts.gates * H});
        hs_rnn_inputs inputs{};
        inputs.cell = c.cell;
        inputs.wx = wx.view();
        inputs.R = R.view();
        inputs.b = b.view();
        ASSERT_EQ(hs_rnn_step(&inputs, state.view(), y.view(), view_or_null(workspace), nullptr), HS_OK)
            << hs_last_error();
        synchronize();
        const std::vector<double> expected(full.forward.y.begin() + t * c.batch * H,
                                           full.forward.y.begin() + (t + 1) * c.batch * H);
        expect_close("y step " + std::to_string(t), y.download(), expected, 1e-5, summary);
    }
    expect_close("state", state.download(), full.forward.s_last, 1e-5, summary);
    summary.print(c.name());
}

std::vector<RnnCase> step_cases() {
    std::vector<RnnCase> cases;
    for (int32_t cell : {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM}) {
        for (int64_t head_dim : {int64_t(5), int64_t(64), kDenseHeadDim}) {
            RnnCase c;
            c.cell = cell;
            c.heads = head_dim == kDenseHeadDim ? 1 : 4;
            c.head_dim = head_dim;
            c.steps = 7;
            c.batch = 3;
            c.has_s0 = true;
            cases.push_back(c);
        }
    }
    return cases;
}

INSTANTIATE_TEST_SUITE_P(Cells, RnnCudaStep, ::testing::ValuesIn(step_cases()),
                         [](const ::testing::TestParamInfo<RnnCase>& info) { return info.param.name(); });

// dR and db are reduced in a fixed order: two backward runs give identical bits.
TEST(RnnCuda, BackwardIsDeterministic) {
    SKIP_WITHOUT_CUDA_DEVICE();
    for (int64_t head_dim : {int64_t(64), kDenseHeadDim}) {
        RnnCase c;
        c.cell = HS_RNN_CELL_LSTM;
        c.head_dim = head_dim;
        c.steps = hs_test::cuda_emulated() ? 9 : 33;
        c.batch = 16;
        c.has_s0 = true;
        const RnnProblem problem(c, 7u);
        const CudaRun first = cuda_run(problem);
        const CudaRun second = cuda_run(problem);
        EXPECT_EQ(first.backward.dR, second.backward.dR) << "DH " << head_dim;
        EXPECT_EQ(first.backward.db, second.backward.db) << "DH " << head_dim;
        EXPECT_EQ(first.backward.dwx, second.backward.dwx) << "DH " << head_dim;
    }
}

// allow_tf32 = 1 may use tensor cores: it must stay within TF32's ~1e-3 relative error of the reference.
TEST(RnnCuda, AllowTf32StaysCloseToReference) {
    SKIP_WITHOUT_CUDA_DEVICE();
    RnnCase c;
    c.cell = HS_RNN_CELL_LSTM;
    c.heads = 4;
    c.head_dim = 64;
    c.steps = 17;
    c.batch = 16;
    const RnnProblem problem(c, 11u);
    const CpuRun cpu = cpu_reference(problem);
    const CudaRun gpu = cuda_run(problem, 1);
    ErrorSummary summary;
    expect_close("y", gpu.forward.y, cpu.forward.y, 1e-2, summary);
    expect_close("dR", gpu.backward.dR, cpu.backward.dR, 2e-2, summary);
    summary.print("allow_tf32");
}

// ---- bad input on CUDA -------------------------------------------------------------------------------------------

class RnnCudaBadInput : public ::testing::Test {
protected:
    void SetUp() override {
        int32_t device_count = 0;
        ASSERT_EQ(hs_cuda_device_count(&device_count), HS_OK) << hs_last_error();
        if (device_count == 0) GTEST_SKIP() << "no usable CUDA device: " << hs_cuda_unavailable_reason();
        config_.cell = HS_RNN_CELL_LSTM;
        config_.heads = 2;
        config_.head_dim = 8;
        config_.steps = 5;
        config_.batch = 3;
        problem_ = std::make_unique<RnnProblem>(config_, 5u);
        inputs_ = std::make_unique<DeviceInputs>(*problem_, 0);
        y_ = std::make_unique<DeviceTensor>(problem_->y_shape(), HS_DTYPE_FLOAT32);
    }

    // The call fails with `status` and a message that names `argument` (the shims quote names: "argument 'R'").
    void expect_forward_error(const hs_rnn_inputs& inputs, hs_status status, const std::string& argument) {
        EXPECT_EQ(hs_rnn_forward(&inputs, y_->view(), nullptr, nullptr, nullptr, nullptr, nullptr), status);
        EXPECT_NE(std::string(hs_last_error()).find(argument), std::string::npos)
            << "message does not name '" << argument << "': " << hs_last_error();
    }

    RnnCase config_;
    std::unique_ptr<RnnProblem> problem_;
    std::unique_ptr<DeviceInputs> inputs_;
    std::unique_ptr<DeviceTensor> y_;
};

TEST_F(RnnCudaBadInput, WrongRShapeNamesR) {
    DeviceTensor R({config_.heads, problem_->counts.gates * config_.head_dim, config_.head_dim + 1},
                   HS_DTYPE_FLOAT32);
    hs_rnn_inputs inputs = inputs_->inputs;
    inputs.R = R.view();
    expect_forward_error(inputs, HS_ERR_INVALID_ARGUMENT, "R'");
}

TEST_F(RnnCudaBadInput, Float64OnCudaIsUnsupported) {
    DeviceTensor wx(problem_->wx_shape(), HS_DTYPE_FLOAT64);
    DeviceTensor R(problem_->R_shape(), HS_DTYPE_FLOAT64);
    DeviceTensor b(problem_->b_shape(), HS_DTYPE_FLOAT64);
    DeviceTensor y(problem_->y_shape(), HS_DTYPE_FLOAT64);
    hs_rnn_inputs inputs = inputs_->inputs;
    inputs.wx = wx.view();
    inputs.R = R.view();
    inputs.b = b.view();
    EXPECT_EQ(hs_rnn_forward(&inputs, y.view(), nullptr, nullptr, nullptr, nullptr, nullptr), HS_ERR_UNSUPPORTED)
        << hs_last_error();
    // Names the offending dtype or the one CUDA supports.
    EXPECT_NE(std::string(hs_last_error()).find("float"), std::string::npos) << hs_last_error();
}

TEST_F(RnnCudaBadInput, MixedDevicesNameTheCpuTensor) {
    HostTensor b_cpu(problem_->b_shape(), problem_->b);
    hs_rnn_inputs inputs = inputs_->inputs;
    inputs.b = b_cpu.view();
    expect_forward_error(inputs, HS_ERR_INVALID_ARGUMENT, "b'");
}

TEST_F(RnnCudaBadInput, UnknownCellIsRejected) {
    hs_rnn_inputs inputs = inputs_->inputs;
    inputs.cell = 7;
    expect_forward_error(inputs, HS_ERR_INVALID_ARGUMENT, "cell");
}

TEST_F(RnnCudaBadInput, TooSmallWorkspaceNamesWorkspace) {
    const RnnProblem& p = *problem_;
    DeviceTensor states(p.states_shape(), HS_DTYPE_FLOAT32), cache(p.cache_shape(), HS_DTYPE_FLOAT32);
    const auto forward_workspace = cuda_workspace(config_, 0);
    ASSERT_EQ(hs_rnn_forward(&inputs_->inputs, y_->view(), nullptr, states.view(), cache.view(),
                             view_or_null(forward_workspace), nullptr),
              HS_OK)
        << hs_last_error();
    const auto dy = DeviceTensor::upload(p.dy, p.y_shape());
    DeviceTensor dwx(p.wx_shape(), HS_DTYPE_FLOAT32), dR(p.R_shape(), HS_DTYPE_FLOAT32),
        db(p.b_shape(), HS_DTYPE_FLOAT32);
    const int64_t needed = cuda_workspace_elements(config_, 1);
    ASSERT_GT(needed, 1);
    DeviceTensor workspace({needed - 1}, HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_rnn_backward(&inputs_->inputs, states.view(), cache.view(), dy.view(), nullptr, dwx.view(),
                              dR.view(), db.view(), nullptr, workspace.view(), nullptr),
              HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("workspace"), std::string::npos) << hs_last_error();
    synchronize();
}

// ---- the forward's workspace --------------------------------------------------------------------------------------

// The size query is arithmetic on the sizes (hybridseq.h: never a function of the GPU), so these run without a device.
// Heads small enough that the persistent kernel fits any GPU's default 48 KiB need nothing; otherwise the per-step
// path needs its h ping-pong and carried states, (S + 1) * Bt * H floats, for any T.
TEST(RnnCudaWorkspace, ForwardSizeCoversThePerStepPathOnly) {
    struct Expected {
        int32_t cell;
        int64_t heads, head_dim, states;
    };
    const Expected dense[] = {{HS_RNN_CELL_LSTM, 1, 256, 2}, {HS_RNN_CELL_GRU, 1, 256, 1},
                              {HS_RNN_CELL_SLSTM, 1, 256, 4}, {HS_RNN_CELL_LSTM, 3, 65, 2},
                              {HS_RNN_CELL_SLSTM, 4, 64, 4}};
    for (const Expected& e : dense) {
        for (int64_t steps : {1, 129}) {
            RnnCase c;
            c.cell = e.cell;
            c.heads = e.heads;
            c.head_dim = e.head_dim;
            c.steps = steps;
            c.batch = 3;
            EXPECT_EQ(cuda_workspace_elements(c, 0), (e.states + 1) * c.batch * c.hidden()) << c.name();
        }
    }
    for (int32_t cell : {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM}) {
        for (int64_t head_dim : {1, 5, 32}) {
            RnnCase c;
            c.cell = cell;
            c.heads = 4;
            c.head_dim = head_dim;
            c.steps = 7;
            c.batch = 16;
            EXPECT_EQ(cuda_workspace_elements(c, 0), 0) << c.name();
            EXPECT_GT(cuda_workspace_elements(c, 1), 0) << c.name() << ": the backward always needs its dg rows";
        }
    }
    int64_t elements = -1;
    RnnCase dense_case;
    dense_case.cell = HS_RNN_CELL_LSTM;
    dense_case.steps = 7;
    dense_case.batch = 3;
    dense_case.heads = 1;
    dense_case.head_dim = 256;
    EXPECT_EQ(query_workspace(dense_case, 3, &elements), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'pass'"), std::string::npos) << hs_last_error();
}

// A dense (per-step path) problem whose forward and step need a workspace.
class RnnCudaForwardWorkspace : public ::testing::Test {
protected:
    void SetUp() override {
        SKIP_WITHOUT_CUDA_DEVICE();
        config_.cell = HS_RNN_CELL_SLSTM;
        config_.heads = 1;
        config_.head_dim = 131;  // odd, above the persistent limit: the per-step path with tails in every tile
        config_.steps = 5;
        config_.batch = 3;
        config_.has_s0 = true;
        problem_ = std::make_unique<RnnProblem>(config_, 21u);
        inputs_ = std::make_unique<DeviceInputs>(*problem_, 0);
        y_ = std::make_unique<DeviceTensor>(problem_->y_shape(), HS_DTYPE_FLOAT32);
        needed_ = cuda_workspace_elements(config_, 0);
        ASSERT_GT(needed_, 1) << "a dense head must need forward scratch";
    }

    // The forward with `workspace` fails with HS_ERR_INVALID_ARGUMENT and a message containing every fragment.
    void expect_forward_rejects(const hs_tensor* workspace, const std::vector<std::string>& fragments) {
        EXPECT_EQ(hs_rnn_forward(&inputs_->inputs, y_->view(), nullptr, nullptr, nullptr, workspace, nullptr),
                  HS_ERR_INVALID_ARGUMENT);
        const std::string message = hs_last_error();
        for (const std::string& fragment : fragments) {
            EXPECT_NE(message.find(fragment), std::string::npos) << "missing '" << fragment << "' in: " << message;
        }
    }

    RnnCase config_;
    std::unique_ptr<RnnProblem> problem_;
    std::unique_ptr<DeviceInputs> inputs_;
    std::unique_ptr<DeviceTensor> y_;
    int64_t needed_ = 0;
};

TEST_F(RnnCudaForwardWorkspace, MissingOrTooSmallWorkspaceNamesWorkspace) {
    expect_forward_rejects(nullptr, {"hs_rnn_forward", "argument 'workspace'", "required", "HS_RNN_PASS_FORWARD"});
    DeviceTensor too_small({needed_ - 1}, HS_DTYPE_FLOAT32);
    expect_forward_rejects(too_small.view(),
                           {"argument 'workspace'", "at least " + std::to_string(needed_), "HS_RNN_PASS_FORWARD",
                            "got shape (" + std::to_string(needed_ - 1) + ",)"});
    DeviceTensor two_d({1, needed_}, HS_DTYPE_FLOAT32);
    expect_forward_rejects(two_d.view(), {"argument 'workspace'", "1-D"});
    HostTensor on_host({needed_});
    expect_forward_rejects(on_host.view(), {"argument 'workspace'"});
}

// The per-step path runs in the caller's workspace: whatever it held before (here NaN bytes, or a reused buffer from
// an earlier call) does not leak into the results, which equal the CPU twin's.
TEST_F(RnnCudaForwardWorkspace, PerStepForwardRunsInTheCallersWorkspace) {
    const CpuRun cpu = cpu_reference(*problem_);
    DeviceTensor s_last(problem_->state_shape(), HS_DTYPE_FLOAT32);
    DeviceTensor workspace({needed_ + 7}, HS_DTYPE_FLOAT32);  // larger than needed is fine
    ErrorSummary summary;
    for (int run = 0; run < 2; ++run) {
        ASSERT_EQ(hs_rnn_forward(&inputs_->inputs, y_->view(), s_last.view(), nullptr, nullptr, workspace.view(),
                                 nullptr),
                  HS_OK)
            << hs_last_error();
        synchronize();
        expect_close("y run " + std::to_string(run), y_->download(), cpu.forward.y, kForwardTolerance, summary);
        expect_close("s_last run " + std::to_string(run), s_last.download(), cpu.forward.s_last, kForwardTolerance,
                     summary);
    }
    summary.print(config_.name());
}

TEST_F(RnnCudaForwardWorkspace, StepChecksItsWorkspace) {
    const int64_t H = config_.hidden();
    RnnCase one_step = config_;
    one_step.steps = 1;
    const int64_t step_needed = cuda_workspace_elements(one_step, 0);
    ASSERT_GT(step_needed, 1);
    const int64_t gate_width = problem_->counts.gates * H;
    const std::vector<double> wx_0(problem_->wx.begin(), problem_->wx.begin() + config_.batch * gate_width);
    const auto wx = DeviceTensor::upload(wx_0, {config_.batch, gate_width});
    auto state = DeviceTensor::upload(problem_->s0, problem_->state_shape());
    DeviceTensor y({config_.batch, H}, HS_DTYPE_FLOAT32);
    hs_rnn_inputs inputs = inputs_->inputs;
    inputs.wx = wx.view();
    inputs.s0 = nullptr;
    inputs.lengths = nullptr;
    EXPECT_EQ(hs_rnn_step(&inputs, state.view(), y.view(), nullptr, nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'workspace'"), std::string::npos) << hs_last_error();
    DeviceTensor too_small({step_needed - 1}, HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_rnn_step(&inputs, state.view(), y.view(), too_small.view(), nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("hs_rnn_step"), std::string::npos) << hs_last_error();
    DeviceTensor workspace({step_needed}, HS_DTYPE_FLOAT32);
    EXPECT_EQ(hs_rnn_step(&inputs, state.view(), y.view(), workspace.view(), nullptr), HS_OK) << hs_last_error();
    synchronize();
}

}  // namespace
