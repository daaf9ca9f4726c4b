// The CPU fused-recurrence backward: float64 gradients of wx, R, b and s0 against central finite differences of the
// forward for every cell (with lengths, both directions), float32 against float64, T = 0, and bitwise determinism
// across thread counts.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rnn_test_support.h"
#include "scan_test_support.h"

namespace hs_test {
namespace {

const int32_t kCells[] = {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM};

// The scalar whose gradient the backward computes: sum(y * dy) + sum(s_last * ds_last).
double loss(const RnnProblem& problem, const std::vector<double>& dy, const std::vector<double>& ds_last) {
    const RnnForwardResult r = run_rnn_forward<double>(problem);
    double total = 0.0;
    for (size_t i = 0; i < dy.size(); ++i) total += r.y[i] * dy[i];
    for (size_t i = 0; i < ds_last.size(); ++i) total += r.s_last[i] * ds_last[i];
    return total;
}

struct GradientCase {
    const char* name;
    std::vector<double> RnnProblem::*input;
    std::vector<double> RnnGradients::*gradient;
};

void expect_gradients_match_finite_differences(const RnnConfig& config, uint32_t seed) {
    SCOPED_TRACE(config.describe());
    const RnnProblem problem = make_rnn_problem(config, seed);
    const std::vector<double> dy = random_vector(problem.wx.size() / static_cast<size_t>(config.gates()), -1.0, 1.0,
                                                 seed + 50);
    const std::vector<double> ds_last = random_vector(element_product(problem.state_shape()), -1.0, 1.0, seed + 51);
    const RnnGradients analytic = run_rnn_backward<double>(problem, dy, ds_last);
    const GradientCase cases[] = {{"wx", &RnnProblem::wx, &RnnGradients::dwx},
                                  {"R", &RnnProblem::R, &RnnGradients::dR},
                                  {"b", &RnnProblem::b, &RnnGradients::db},
                                  {"s0", &RnnProblem::s0, &RnnGradients::ds0}};
    const double eps = 1e-6;
    for (const GradientCase& gc : cases) {
        const std::vector<double>& values = problem.*gc.input;
        const std::vector<double>& grad = analytic.*gc.gradient;
        ASSERT_EQ(grad.size(), gc.input == &RnnProblem::s0 ? element_product(problem.state_shape()) : values.size())
            << gc.name;
        if (values.empty()) continue;
        std::vector<double> numeric(values.size());
        for (size_t i = 0; i < values.size(); ++i) {
            RnnProblem shifted = problem;
            (shifted.*gc.input)[i] = values[i] + eps;
            const double up = loss(shifted, dy, ds_last);
            (shifted.*gc.input)[i] = values[i] - eps;
            const double down = loss(shifted, dy, ds_last);
            numeric[i] = (up - down) / (2 * eps);
        }
        EXPECT_LE(worst_error_ratio(grad, numeric, 1e-7, 1e-6), 1.0) << "gradient of " << gc.name;
    }
}

TEST(RnnBackward, GradientsMatchFiniteDifferences) {
    uint32_t seed = 1000;
    for (int32_t cell : kCells) {
        for (bool reverse : {false, true}) {
            RnnConfig config;
            config.cell = cell;
            config.heads = 2;
            config.head_dim = 3;
            config.steps = 5;
            config.batch = 3;
            config.has_s0 = true;
            config.has_lengths = true;  // lengths {5, 2, 0}
            config.reverse = reverse;
            expect_gradients_match_finite_differences(config, seed);
            seed += 100;
        }
        // Dense, no s0 (ds0 is still the gradient of the zero initial state), no lengths, DH above the vector width.
        RnnConfig dense;
        dense.cell = cell;
        dense.heads = 1;
        dense.head_dim = 9;
        dense.steps = 3;
        dense.batch = 2;
        expect_gradients_match_finite_differences(dense, seed);
        seed += 100;
        // More processed (step, batch) rows than one block of the CPU's dR / db reduction (128 rows), so a wrong
        // block offset in that reduction shows up as a gradient error.
        RnnConfig long_sequence;
        long_sequence.cell = cell;
        long_sequence.heads = 1;
        long_sequence.head_dim = 2;
        long_sequence.steps = 70;
        long_sequence.batch = 2;
        expect_gradients_match_finite_differences(long_sequence, seed);
        seed += 100;
    }
}

// Without ds_last (NULL = zeros) the gradients equal those with explicit zeros; and ds0 without s0 matches FD of s0.
TEST(RnnBackward, NullDsLastEqualsZeros) {
    for (int32_t cell : kCells) {
        RnnConfig config;
        config.cell = cell;
        config.heads = 3;
        config.head_dim = 5;
        config.steps = 7;
        config.batch = 3;
        config.has_lengths = true;
        SCOPED_TRACE(config.describe());
        const RnnProblem problem = make_rnn_problem(config, 2000 + static_cast<uint32_t>(cell));
        const std::vector<double> dy = random_vector(problem.wx.size() / static_cast<size_t>(config.gates()), -1, 1, 3);
        const RnnGradients with_null = run_rnn_backward<double>(problem, dy, {});
        const RnnGradients with_zeros =
            run_rnn_backward<double>(problem, dy, std::vector<double>(element_product(problem.state_shape()), 0.0));
        EXPECT_EQ(with_null.dwx, with_zeros.dwx);
        EXPECT_EQ(with_null.dR, with_zeros.dR);
        EXPECT_EQ(with_null.db, with_zeros.db);
        EXPECT_EQ(with_null.ds0, with_zeros.ds0);
    }
}

// The backward never reads wx (hybridseq.h): with wx NULL, or overwritten with NaN after the forward, every gradient
// is bitwise what it is with the forward's wx.
TEST(RnnBackward, DoesNotReadWx) {
    for (int32_t cell : kCells) {
        for (bool reverse : {false, true}) {
            RnnConfig config;
            config.cell = cell;
            config.heads = 2;
            config.head_dim = 5;
            config.steps = 6;
            config.batch = 3;
            config.has_s0 = true;
            config.has_lengths = true;
            config.reverse = reverse;
            SCOPED_TRACE(config.describe());
            const RnnProblem problem = make_rnn_problem(config, 2100 + static_cast<uint32_t>(cell));
            const std::vector<double> dy =
                random_vector(problem.wx.size() / static_cast<size_t>(config.gates()), -1, 1, 4);
            const RnnGradients same = run_rnn_backward<float>(problem, dy, {});
            for (BackwardWx mode : {BackwardWx::Null, BackwardWx::Garbage}) {
                const RnnGradients other = run_rnn_backward<float>(problem, dy, {}, mode);
                EXPECT_EQ(other.dwx, same.dwx);
                EXPECT_EQ(other.dR, same.dR);
                EXPECT_EQ(other.db, same.db);
                EXPECT_EQ(other.ds0, same.ds0);
            }
        }
    }
}

TEST(RnnBackward, Float32MatchesFloat64) {
    for (int32_t cell : kCells) {
        for (bool reverse : {false, true}) {
            RnnConfig config;
            config.cell = cell;
            config.heads = 3;
            config.head_dim = 5;
            config.steps = 33;
            config.batch = 3;
            config.has_s0 = true;
            config.has_lengths = true;
            config.reverse = reverse;
            SCOPED_TRACE(config.describe());
            const RnnProblem problem = make_rnn_problem(config, 3000 + static_cast<uint32_t>(cell)).rounded_to_float();
            const std::vector<double> dy =
                random_vector(problem.wx.size() / static_cast<size_t>(config.gates()), -1, 1, 5);
            const std::vector<double> ds_last = random_vector(element_product(problem.state_shape()), -1, 1, 6);
            const RnnGradients g64 = run_rnn_backward<double>(problem, dy, ds_last);
            const RnnGradients g32 = run_rnn_backward<float>(problem, dy, ds_last);
            EXPECT_LE(worst_error_ratio(g32.dwx, g64.dwx, 1e-4, 1e-3), 1.0) << "dwx";
            EXPECT_LE(worst_error_ratio(g32.dR, g64.dR, 1e-4, 1e-3), 1.0) << "dR";
            EXPECT_LE(worst_error_ratio(g32.db, g64.db, 1e-4, 1e-3), 1.0) << "db";
            EXPECT_LE(worst_error_ratio(g32.ds0, g64.ds0, 1e-4, 1e-3), 1.0) << "ds0";
        }
    }
}

// T = 0: nothing runs; ds0 = ds_last and the weight gradients are zero (overwritten, not left as they were).
TEST(RnnBackward, ZeroStepsGiveDsLastAndZeroWeightGradients) {
    RnnConfig config;
    config.cell = HS_RNN_CELL_SLSTM;
    config.steps = 0;
    config.batch = 2;
    config.heads = 2;
    config.head_dim = 3;
    const RnnProblem problem = make_rnn_problem(config, 11);
    const std::vector<double> ds_last = random_vector(element_product(problem.state_shape()), -1, 1, 12);
    const RnnGradients g = run_rnn_backward<double>(problem, {}, ds_last);
    EXPECT_EQ(g.ds0, ds_last);
    EXPECT_EQ(g.dR, std::vector<double>(problem.R.size(), 0.0));
    EXPECT_EQ(g.db, std::vector<double>(problem.b.size(), 0.0));
}

// Sizes large enough that the time loop and the dR / db reduction run on several threads: forward outputs and every
// gradient are bitwise equal with 1 and 2 threads.
TEST(RnnBackward, BitwiseEqualAcrossThreadCounts) {
    const int saved_threads = omp_get_max_threads();
    for (int32_t cell : kCells) {
        RnnConfig config;
        config.cell = cell;
        config.heads = 2;
        config.head_dim = 24;
        config.steps = 9;
        config.batch = 7;
        config.has_s0 = true;
        config.has_lengths = true;
        SCOPED_TRACE(config.describe());
        const RnnProblem problem = make_rnn_problem(config, 4000 + static_cast<uint32_t>(cell)).rounded_to_float();
        const std::vector<double> dy = random_vector(problem.wx.size() / static_cast<size_t>(config.gates()), -1, 1, 7);
        const std::vector<double> ds_last = random_vector(element_product(problem.state_shape()), -1, 1, 8);
        omp_set_num_threads(1);
        const RnnForwardResult f1 = run_rnn_forward<float>(problem);
        const RnnGradients g1 = run_rnn_backward<float>(problem, dy, ds_last);
        omp_set_num_threads(2);
        const RnnForwardResult f2 = run_rnn_forward<float>(problem);
        const RnnGradients g2 = run_rnn_backward<float>(problem, dy, ds_last);
        omp_set_num_threads(saved_threads);
        EXPECT_EQ(f1.y, f2.y);
        EXPECT_EQ(f1.states, f2.states);
        EXPECT_EQ(g1.dwx, g2.dwx);
        EXPECT_EQ(g1.dR, g2.dR);
        EXPECT_EQ(g1.db, g2.db);
        EXPECT_EQ(g1.ds0, g2.ds0);
        // Not all zero: the comparison above compares something.
        EXPECT_GT(*std::max_element(g1.dR.begin(), g1.dR.end()), 0.0);
    }
}

}  // namespace
}  // namespace hs_test
