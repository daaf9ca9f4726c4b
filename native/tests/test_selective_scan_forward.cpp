// The CPU forward scan against the naive double reference, over the flag matrix and odd sizes, plus the
// lengths, checkpoint and single-step contracts of hybridseq.h.
#include <gtest/gtest.h>

#include <vector>

#include "scan_test_support.h"

namespace hs_test {
namespace {

// float32 runs on float-rounded inputs and keeps its state in float: errors grow with the number of summed terms.
constexpr double kFloatAtol = 2e-5;
constexpr double kFloatRtol = 1e-4;
constexpr double kDoubleAtol = 1e-12;
constexpr double kDoubleRtol = 1e-11;

void expect_forward_matches_reference(const ScanConfig& config, uint32_t seed) {
    SCOPED_TRACE(config.describe());
    const ScanProblem problem = make_problem(config, seed);
    const ScanForwardResult expected = reference_forward(problem);
    const ScanForwardResult actual = run_forward<double>(problem);
    EXPECT_LE(worst_error_ratio(actual.out, expected.out, kDoubleAtol, kDoubleRtol), 1.0) << "float64 out";
    EXPECT_LE(worst_error_ratio(actual.h_last, expected.h_last, kDoubleAtol, kDoubleRtol), 1.0) << "float64 h_last";
    EXPECT_LE(worst_error_ratio(actual.checkpoints, expected.checkpoints, kDoubleAtol, kDoubleRtol), 1.0)
        << "float64 checkpoints";

    const ScanProblem rounded = problem.rounded_to_float();
    const ScanForwardResult expected_rounded = reference_forward(rounded);
    const ScanForwardResult actual_float = run_forward<float>(rounded);
    EXPECT_LE(worst_error_ratio(actual_float.out, expected_rounded.out, kFloatAtol, kFloatRtol), 1.0) << "float32 out";
    EXPECT_LE(worst_error_ratio(actual_float.h_last, expected_rounded.h_last, kFloatAtol, kFloatRtol), 1.0)
        << "float32 h_last";
    EXPECT_LE(worst_error_ratio(actual_float.checkpoints, expected_rounded.checkpoints, kFloatAtol, kFloatRtol), 1.0)
        << "float32 checkpoints";
}

// Every optional input and flag, one at a time and all together, for each B / C layout and group count.
TEST(SelectiveScanForwardCpu, MatchesReferenceAcrossFlagMatrix) {
    uint32_t seed = 100;
    for (int layout = 0; layout < 4; ++layout) {
        for (int64_t groups : {1, 2}) {
            const bool b_varying = (layout & 1) != 0;
            const bool c_varying = (layout & 2) != 0;
            if (groups == 2 && !b_varying && !c_varying) continue;  // G only matters for time-varying B / C
            // Flags: bit 0 D, 1 z, 2 delta_bias, 3 softplus, 4 h0, 5 lengths.
            std::vector<int> flag_sets = {0, 0x3f};
            for (int bit = 0; bit < 6; ++bit) {
                flag_sets.push_back(1 << bit);
                flag_sets.push_back(0x3f & ~(1 << bit));
            }
            for (int flags : flag_sets) {
                ScanConfig c;
                c.batch = 3;
                c.dim = 4;
                c.groups = groups;
                c.dstate = 5;
                c.seqlen = 129;
                c.b_varying = b_varying;
                c.c_varying = c_varying;
                c.has_D = flags & 1;
                c.has_z = flags & 2;
                c.has_delta_bias = flags & 4;
                c.softplus = flags & 8;
                c.has_h0 = flags & 16;
                c.has_lengths = flags & 32;
                expect_forward_matches_reference(c, seed++);
            }
        }
    }
}

// Odd and tail sizes: single step, short, one chunk plus a tail, several chunks; N and Dm off the vector width.
TEST(SelectiveScanForwardCpu, MatchesReferenceAcrossOddSizes) {
    uint32_t seed = 500;
    for (int64_t seqlen : {1, 7, 129, 300}) {
        for (int64_t dstate : {1, 5, 16}) {
            for (int64_t dim : {3, 4}) {
                for (bool varying : {false, true}) {
                    ScanConfig c;
                    c.batch = 3;
                    c.dim = dim;
                    c.groups = varying ? (dim == 4 ? 2 : 3) : 1;
                    c.dstate = dstate;
                    c.seqlen = seqlen;
                    c.b_varying = varying;
                    c.c_varying = varying;
                    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = c.has_lengths = varying;
                    expect_forward_matches_reference(c, seed++);
                }
            }
        }
    }
}

// Lengths at and around the chunk boundary: checkpoints past the length hold the frozen state.
TEST(SelectiveScanForwardCpu, LengthsAroundChunkBoundaryMatchReference) {
    ScanConfig c;
    c.batch = 4;
    c.dim = 3;
    c.dstate = 4;
    c.seqlen = 2 * HS_SELECTIVE_SCAN_CHUNK + 3;
    c.b_varying = true;
    c.has_h0 = true;
    c.has_lengths = true;
    c.softplus = true;
    ScanProblem problem = make_problem(c, 900);
    problem.lengths = {HS_SELECTIVE_SCAN_CHUNK, HS_SELECTIVE_SCAN_CHUNK + 1, HS_SELECTIVE_SCAN_CHUNK - 1, 0};
    const ScanForwardResult expected = reference_forward(problem);
    const ScanForwardResult actual = run_forward<double>(problem);
    EXPECT_LE(worst_error_ratio(actual.out, expected.out, kDoubleAtol, kDoubleRtol), 1.0);
    EXPECT_LE(worst_error_ratio(actual.h_last, expected.h_last, kDoubleAtol, kDoubleRtol), 1.0);
    EXPECT_LE(worst_error_ratio(actual.checkpoints, expected.checkpoints, kDoubleAtol, kDoubleRtol), 1.0);
}

// Right padding must not leak: each padded row equals the same row scanned alone with its true length.
TEST(SelectiveScanForwardCpu, LengthsEqualRunningEachSequenceAlone) {
    ScanConfig c;
    c.batch = 3;
    c.dim = 4;
    c.groups = 2;
    c.dstate = 6;
    c.seqlen = 300;
    c.b_varying = c.c_varying = true;
    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = c.has_lengths = true;
    const ScanProblem batched = make_problem(c, 1000);
    const ScanForwardResult together = run_forward<double>(batched);

    for (int64_t b = 0; b < c.batch; ++b) {
        const int64_t length = batched.lengths[static_cast<size_t>(b)];
        SCOPED_TRACE("batch row " + std::to_string(b) + " of length " + std::to_string(length));
        ScanConfig single = c;
        single.batch = 1;
        single.seqlen = length;
        single.has_lengths = false;
        ScanProblem alone;
        alone.config = single;
        const int64_t L = c.seqlen, N = c.dstate;
        auto slice_sequence = [&](const std::vector<double>& full, int64_t rows) {
            std::vector<double> part;
            for (int64_t r = 0; r < rows; ++r) {
                const auto begin = full.begin() + (b * rows + r) * L;
                part.insert(part.end(), begin, begin + length);
            }
            return part;
        };
        alone.u = slice_sequence(batched.u, c.dim);
        alone.delta = slice_sequence(batched.delta, c.dim);
        alone.z = slice_sequence(batched.z, c.dim);
        alone.B = slice_sequence(batched.B, c.groups * N);
        alone.C = slice_sequence(batched.C, c.groups * N);
        alone.A = batched.A;
        alone.D = batched.D;
        alone.delta_bias = batched.delta_bias;
        alone.h0.assign(batched.h0.begin() + b * c.dim * N, batched.h0.begin() + (b + 1) * c.dim * N);
        const ScanForwardResult single_result = run_forward<double>(alone);

        for (int64_t d = 0; d < c.dim; ++d) {
            for (int64_t t = 0; t < L; ++t) {
                const double got = together.out[static_cast<size_t>((b * c.dim + d) * L + t)];
                const double want = t < length ? single_result.out[static_cast<size_t>(d * length + t)] : 0.0;
                ASSERT_NEAR(got, want, 1e-12) << "d=" << d << " t=" << t;
            }
            for (int64_t n = 0; n < N; ++n) {
                ASSERT_NEAR(together.h_last[static_cast<size_t>((b * c.dim + d) * N + n)],
                            single_result.h_last[static_cast<size_t>(d * N + n)], 1e-12)
                    << "h_last d=" << d << " n=" << n;
            }
        }
    }
}

// Very negative delta makes softplus(delta) tiny (1e-7 .. 3e-4): float32 must keep its relative precision there
// (log1p, not log(1 + x)). Positive B, C, u and N = 1 keep every sum free of cancellation, so rtol alone applies.
TEST(SelectiveScanForwardCpu, SoftplusKeepsRelativePrecisionForTinySteps) {
    ScanConfig c;
    c.batch = 1;
    c.dim = 3;
    c.dstate = 1;
    c.seqlen = 50;
    c.softplus = true;
    ScanProblem problem = make_problem(c, 1150);
    problem.delta = random_vector(problem.delta.size(), -16.0, -8.0, 1151);
    problem.u = random_vector(problem.u.size(), 0.5, 1.0, 1152);
    problem.B = random_vector(problem.B.size(), 0.5, 1.0, 1153);
    problem.C = random_vector(problem.C.size(), 0.5, 1.0, 1154);
    problem = problem.rounded_to_float();
    const ScanForwardResult expected = reference_forward(problem);
    const ScanForwardResult actual = run_forward<float>(problem);
    EXPECT_LE(worst_error_ratio(actual.out, expected.out, 0.0, 1e-5), 1.0);
}

// L = 0: nothing to scan, h_last and the single checkpoint are h0.
TEST(SelectiveScanForwardCpu, EmptySequenceKeepsInitialState) {
    ScanConfig c;
    c.seqlen = 0;
    c.has_h0 = true;
    c.b_varying = true;
    const ScanProblem problem = make_problem(c, 1100);
    const ScanForwardResult actual = run_forward<double>(problem);
    EXPECT_TRUE(actual.out.empty());
    EXPECT_EQ(actual.h_last, problem.h0);
    EXPECT_EQ(actual.checkpoints, problem.h0);
}

// Repeated hs_selective_scan_step calls equal the columns of the full scan, with B / C constant or varying.
template <typename T>
void expect_step_loop_matches_full_scan(bool varying, double tolerance) {
    ScanConfig c;
    c.batch = 2;
    c.dim = 4;
    c.groups = varying ? 2 : 1;
    c.dstate = 5;
    c.seqlen = 9;
    c.b_varying = c.c_varying = varying;
    c.has_D = c.has_z = c.has_delta_bias = c.softplus = c.has_h0 = true;
    SCOPED_TRACE(c.describe());
    const ScanProblem problem = make_problem(c, varying ? 1200 : 1201);
    const ScanForwardResult full = run_forward<T>(problem);

    const int32_t dtype = sizeof(T) == 4 ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    const int64_t L = c.seqlen, N = c.dstate, rows = c.batch * c.dim;
    std::vector<T> state(problem.h0.begin(), problem.h0.end());
    const std::vector<T> A(problem.A.begin(), problem.A.end());
    const std::vector<T> D(problem.D.begin(), problem.D.end());
    const std::vector<T> bias(problem.delta_bias.begin(), problem.delta_bias.end());
    const std::vector<T> B_const(problem.B.begin(), problem.B.end());
    const std::vector<T> C_const(problem.C.begin(), problem.C.end());
    for (int64_t t = 0; t < L; ++t) {
        // Column t of every (Bt, Dm, L) input, and of the (Bt, G, N, L) B / C.
        auto column = [&](const std::vector<double>& full_input, int64_t count) {
            std::vector<T> col(static_cast<size_t>(count));
            for (int64_t r = 0; r < count; ++r) col[static_cast<size_t>(r)] = static_cast<T>(full_input[r * L + t]);
            return col;
        };
        const std::vector<T> u = column(problem.u, rows), delta = column(problem.delta, rows),
                             z = column(problem.z, rows);
        const std::vector<T> B = varying ? column(problem.B, c.batch * c.groups * N) : B_const;
        const std::vector<T> C = varying ? column(problem.C, c.batch * c.groups * N) : C_const;
        std::vector<T> out(static_cast<size_t>(rows));
        const std::vector<int64_t> bc_shape =
            varying ? std::vector<int64_t>{c.batch, c.groups, N} : std::vector<int64_t>{c.dim, N};
        const hs_tensor u_v = cpu_view(u.data(), dtype, {c.batch, c.dim});
        const hs_tensor delta_v = cpu_view(delta.data(), dtype, {c.batch, c.dim});
        const hs_tensor z_v = cpu_view(z.data(), dtype, {c.batch, c.dim});
        const hs_tensor A_v = cpu_view(A.data(), dtype, {c.dim, N});
        const hs_tensor B_v = cpu_view(B.data(), dtype, bc_shape);
        const hs_tensor C_v = cpu_view(C.data(), dtype, bc_shape);
        const hs_tensor D_v = cpu_view(D.data(), dtype, {c.dim});
        const hs_tensor bias_v = cpu_view(bias.data(), dtype, {c.dim});
        const hs_tensor state_v = cpu_view(state.data(), dtype, {c.batch, c.dim, N});
        const hs_tensor out_v = cpu_view(out.data(), dtype, {c.batch, c.dim});
        hs_selective_scan_inputs inputs{};
        inputs.u = &u_v;
        inputs.delta = &delta_v;
        inputs.A = &A_v;
        inputs.B = &B_v;
        inputs.C = &C_v;
        inputs.D = &D_v;
        inputs.z = &z_v;
        inputs.delta_bias = &bias_v;
        inputs.delta_softplus = 1;
        ASSERT_EQ(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_OK) << hs_last_error();
        for (int64_t r = 0; r < rows; ++r) {
            ASSERT_NEAR(out[static_cast<size_t>(r)], full.out[static_cast<size_t>(r * L + t)], tolerance)
                << "row " << r << " step " << t;
        }
    }
    for (size_t i = 0; i < state.size(); ++i) EXPECT_NEAR(state[i], full.h_last[i], tolerance) << "state " << i;
}

TEST(SelectiveScanStepCpu, StepLoopMatchesFullScanFloat64) {
    expect_step_loop_matches_full_scan<double>(false, 1e-13);
    expect_step_loop_matches_full_scan<double>(true, 1e-13);
}

TEST(SelectiveScanStepCpu, StepLoopMatchesFullScanFloat32) {
    expect_step_loop_matches_full_scan<float>(false, 1e-6);
    expect_step_loop_matches_full_scan<float>(true, 1e-6);
}

}  // namespace
}  // namespace hs_test
