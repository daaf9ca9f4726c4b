// The CPU backward scan: float64 gradients of every input against central finite differences of the forward,
// float32 against float64, and bitwise determinism across runs, thread counts and contribution blocks.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "scan_test_support.h"

namespace hs_test {
namespace {

// The scalar whose gradient the backward computes: sum(out * dout) + sum(h_last * dh_last).
double loss(const ScanProblem& problem, const std::vector<double>& dout, const std::vector<double>& dh_last) {
    const ScanForwardResult r = run_forward<double>(problem);
    double total = 0.0;
    for (size_t i = 0; i < dout.size(); ++i) total += r.out[i] * dout[i];
    for (size_t i = 0; i < dh_last.size(); ++i) total += r.h_last[i] * dh_last[i];
    return total;
}

struct GradientCase {
    const char* name;
    std::vector<double> ScanProblem::*input;
    std::vector<double> ScanGradients::*gradient;
};

void expect_gradients_match_finite_differences(const ScanConfig& config, const std::vector<int64_t>& lengths,
                                               uint32_t seed) {
    SCOPED_TRACE(config.describe());
    ScanProblem problem = make_problem(config, seed);
    if (!lengths.empty()) problem.lengths = lengths;
    const size_t seq = problem.u.size();
    const size_t state = problem.h0.size();
    const std::vector<double> dout = random_vector(seq, -1.0, 1.0, seed + 50);
    const std::vector<double> dh_last = random_vector(state, -1.0, 1.0, seed + 51);
    const ScanGradients analytic = run_backward<double>(problem, dout, dh_last);

    std::vector<GradientCase> cases = {
        {"u", &ScanProblem::u, &ScanGradients::du},         {"delta", &ScanProblem::delta, &ScanGradients::ddelta},
        {"A", &ScanProblem::A, &ScanGradients::dA},         {"B", &ScanProblem::B, &ScanGradients::dB},
        {"C", &ScanProblem::C, &ScanGradients::dC},         {"h0", &ScanProblem::h0, &ScanGradients::dh0},
    };
    if (config.has_D) cases.push_back({"D", &ScanProblem::D, &ScanGradients::dD});
    if (config.has_z) cases.push_back({"z", &ScanProblem::z, &ScanGradients::dz});
    if (config.has_delta_bias) cases.push_back({"delta_bias", &ScanProblem::delta_bias, &ScanGradients::ddelta_bias});

    // dh0 is defined even without h0 (the gradient at h0 = 0): differentiate with explicit zeros then.
    ScanProblem probe = problem;
    if (!config.has_h0) {
        std::fill(probe.h0.begin(), probe.h0.end(), 0.0);
        probe.config.has_h0 = true;
    }
    const double eps = 1e-6;
    for (const GradientCase& c : cases) {
        std::vector<double>& values = probe.*(c.input);
        const std::vector<double>& grad = analytic.*(c.gradient);
        ASSERT_EQ(grad.size(), values.size()) << c.name;
        double worst = 0.0;
        size_t worst_index = 0;
        double worst_fd = 0.0;
        for (size_t i = 0; i < values.size(); ++i) {
            const double saved = values[i];
            values[i] = saved + eps;
            const double plus = loss(probe, dout, dh_last);
            values[i] = saved - eps;
            const double minus = loss(probe, dout, dh_last);
            values[i] = saved;
            const double fd = (plus - minus) / (2 * eps);
            const double ratio = std::abs(grad[i] - fd) / (1e-7 + 1e-6 * std::abs(fd));
            if (!(ratio <= worst)) {
                worst = ratio;
                worst_index = i;
                worst_fd = fd;
            }
        }
        EXPECT_LE(worst, 1.0) << "d" << c.name << "[" << worst_index << "] = " << grad[worst_index]
                              << ", finite difference " << worst_fd;
    }
}

// Two chunks plus a tail (L = 300 > HS_SELECTIVE_SCAN_CHUNK), every optional input, B varying and C constant.
TEST(SelectiveScanBackwardCpu, Float64GradientsMatchFiniteDifferencesAllOptions) {
    ScanConfig c;
    c.batch = 2;
    c.dim = 4;
    c.groups = 2;
    c.dstate = 3;
    c.seqlen = 300;
    c.b_varying = true;
    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = true;
    expect_gradients_match_finite_differences(c, {}, 2000);
}

// The other layouts: C varying with B constant, no optional inputs, no softplus; lengths at a chunk boundary,
// inside the tail and 0 (all gradient flows straight from dh_last to dh0).
TEST(SelectiveScanBackwardCpu, Float64GradientsMatchFiniteDifferencesWithLengths) {
    ScanConfig c;
    c.batch = 3;
    c.dim = 3;
    c.groups = 3;
    c.dstate = 2;
    c.seqlen = 300;
    c.c_varying = true;
    c.has_lengths = true;
    expect_gradients_match_finite_differences(c, {HS_SELECTIVE_SCAN_CHUNK, 280, 0}, 2100);
}

TEST(SelectiveScanBackwardCpu, Float64GradientsMatchFiniteDifferencesBothVaryingOneGroup) {
    ScanConfig c;
    c.batch = 2;
    c.dim = 3;
    c.groups = 1;
    c.dstate = 4;
    c.seqlen = 37;
    c.b_varying = c.c_varying = true;
    c.has_z = c.softplus = c.has_lengths = true;
    expect_gradients_match_finite_differences(c, {37, 20}, 2200);
}

// float32 (fast exp, float state) against the float64 gradients of the same rounded inputs.
TEST(SelectiveScanBackwardCpu, Float32GradientsMatchFloat64) {
    ScanConfig c;
    c.batch = 3;
    c.dim = 40;  // 20 channels per group: more than the backward's 16 reduction slices, so slices hold several
    c.groups = 2;
    c.dstate = 16;
    c.seqlen = 300;
    c.b_varying = c.c_varying = true;
    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = c.has_lengths = true;
    const ScanProblem problem = make_problem(c, 2300).rounded_to_float();
    const std::vector<double> dout = random_vector(problem.u.size(), -1.0, 1.0, 2301);
    const std::vector<double> dh_last = random_vector(problem.h0.size(), -1.0, 1.0, 2302);
    const ScanGradients expected = run_backward<double>(problem, dout, dh_last);
    const ScanGradients actual = run_backward<float>(problem, dout, dh_last);
    const struct {
        const char* name;
        const std::vector<double>& got;
        const std::vector<double>& want;
    } pairs[] = {{"du", actual.du, expected.du}, {"ddelta", actual.ddelta, expected.ddelta},
                 {"dA", actual.dA, expected.dA}, {"dB", actual.dB, expected.dB},
                 {"dC", actual.dC, expected.dC}, {"dD", actual.dD, expected.dD},
                 {"dz", actual.dz, expected.dz}, {"ddelta_bias", actual.ddelta_bias, expected.ddelta_bias},
                 {"dh0", actual.dh0, expected.dh0}};
    for (const auto& pair : pairs) {
        EXPECT_LE(worst_error_ratio(pair.got, pair.want, 1e-4, 1e-3), 1.0) << pair.name;
    }
}

ScanConfig determinism_config() {
    ScanConfig c;
    c.batch = 2;
    c.dim = 40;
    c.groups = 2;
    c.dstate = 16;
    c.seqlen = 300;
    c.b_varying = c.c_varying = true;
    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = c.has_lengths = true;
    return c;
}

bool bitwise_equal(const ScanGradients& a, const ScanGradients& b) {
    const std::vector<double> ScanGradients::*members[] = {
        &ScanGradients::du, &ScanGradients::ddelta, &ScanGradients::dA, &ScanGradients::dB,          &ScanGradients::dC,
        &ScanGradients::dD, &ScanGradients::dz,     &ScanGradients::ddelta_bias, &ScanGradients::dh0};
    for (auto member : members) {
        const std::vector<double>& x = a.*member;
        const std::vector<double>& y = b.*member;
        if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) != 0) return false;
    }
    return true;
}

TEST(SelectiveScanBackwardCpu, RepeatedRunsAreBitwiseEqual) {
    const ScanProblem problem = make_problem(determinism_config(), 2400);
    const std::vector<double> dout = random_vector(problem.u.size(), -1.0, 1.0, 2401);
    const std::vector<double> dh_last = random_vector(problem.h0.size(), -1.0, 1.0, 2402);
    const ScanGradients first = run_backward<float>(problem, dout, dh_last);
    const ScanGradients second = run_backward<float>(problem, dout, dh_last);
    EXPECT_TRUE(bitwise_equal(first, second));
}

TEST(SelectiveScanBackwardCpu, ResultsDoNotDependOnThreadCount) {
    const ScanProblem problem = make_problem(determinism_config(), 2500);
    const std::vector<double> dout = random_vector(problem.u.size(), -1.0, 1.0, 2501);
    const std::vector<double> dh_last = random_vector(problem.h0.size(), -1.0, 1.0, 2502);
    const int previous = omp_get_max_threads();
    omp_set_num_threads(1);
    const ScanGradients one_float = run_backward<float>(problem, dout, dh_last);
    const ScanGradients one_double = run_backward<double>(problem, dout, dh_last);
    const ScanForwardResult one_forward = run_forward<float>(problem);
    for (int threads : {2, 3}) {
        omp_set_num_threads(threads);
        EXPECT_TRUE(bitwise_equal(run_backward<float>(problem, dout, dh_last), one_float)) << threads << " threads";
        EXPECT_TRUE(bitwise_equal(run_backward<double>(problem, dout, dh_last), one_double)) << threads << " threads";
        EXPECT_EQ(run_forward<float>(problem).out, one_forward.out) << threads << " threads";
    }
    omp_set_num_threads(previous);
}

// With L * N large enough, each (b, g) row of time-varying dB / dC gets its own block of slice buffers; every
// block must land on its own rows: dB / dC of a two-group problem equal (bitwise) those of each group run alone.
TEST(SelectiveScanBackwardCpu, BlockedRowsMatchRunningEachGroupAlone) {
    ScanConfig c;
    c.batch = 1;
    c.dim = 2;
    c.groups = 2;
    c.dstate = 64;
    c.seqlen = 65537;  // L * N just over 2^22: one row per block of slice buffers
    c.b_varying = c.c_varying = true;
    c.softplus = true;
    const ScanProblem both = make_problem(c, 2600).rounded_to_float();
    const std::vector<double> dout = random_vector(both.u.size(), -1.0, 1.0, 2601);
    const ScanGradients together = run_backward<float>(both, dout, {});

    const int64_t L = c.seqlen, N = c.dstate;
    for (int64_t d = 0; d < c.dim; ++d) {
        ScanProblem alone = both;
        alone.config.dim = 1;
        alone.config.groups = 1;
        alone.u.assign(both.u.begin() + d * L, both.u.begin() + (d + 1) * L);
        alone.delta.assign(both.delta.begin() + d * L, both.delta.begin() + (d + 1) * L);
        alone.A.assign(both.A.begin() + d * N, both.A.begin() + (d + 1) * N);
        alone.B.assign(both.B.begin() + d * N * L, both.B.begin() + (d + 1) * N * L);
        alone.C.assign(both.C.begin() + d * N * L, both.C.begin() + (d + 1) * N * L);
        alone.h0.assign(static_cast<size_t>(N), 0.0);
        const std::vector<double> dout_alone(dout.begin() + d * L, dout.begin() + (d + 1) * L);
        const ScanGradients single = run_backward<float>(alone, dout_alone, {});
        EXPECT_TRUE(std::equal(single.dB.begin(), single.dB.end(), together.dB.begin() + d * N * L)) << "dB group " << d;
        EXPECT_TRUE(std::equal(single.dC.begin(), single.dC.end(), together.dC.begin() + d * N * L)) << "dC group " << d;
        EXPECT_TRUE(std::equal(single.du.begin(), single.du.end(), together.du.begin() + d * L)) << "du channel " << d;
    }
}

}  // namespace
}  // namespace hs_test
