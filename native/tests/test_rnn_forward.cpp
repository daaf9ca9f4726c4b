// The CPU fused-recurrence forward against the naive double reference (float32 and float64), over cells x head
// splits (incl. H not a power of two) x odd and tail lengths x batch x s0 / lengths / reverse; plus head-wise vs an
// explicit block-diagonal dense R, lengths vs each sequence alone, reverse vs flipping the input, and the step loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "rnn_test_support.h"
#include "scan_test_support.h"

namespace hs_test {
namespace {

const int32_t kCells[] = {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM};

void expect_close(const char* what, const std::vector<double>& actual, const std::vector<double>& expected,
                  double atol, double rtol) {
    EXPECT_LE(worst_error_ratio(actual, expected, atol, rtol), 1.0) << what;
}

struct HeadSplit {
    int64_t heads, head_dim;
};
// NH = 1 (dense), 2, and 3 heads of 5 units (H = 15, not a power of two, DH below the vector width).
const HeadSplit kHeadSplits[] = {{1, 6}, {2, 4}, {3, 5}};

struct Variant {
    const char* name;
    bool s0, lengths, reverse;
};
const Variant kVariants[] = {{"plain", false, false, false},
                             {"s0", true, false, false},
                             {"lengths", false, true, false},
                             {"reverse", false, false, true},
                             {"s0+lengths+reverse", true, true, true}};

TEST(RnnForward, MatchesReferenceOverTheMatrix) {
    uint32_t seed = 100;
    for (int32_t cell : kCells) {
        for (const HeadSplit& split : kHeadSplits) {
            for (int64_t steps : {1, 7, 33}) {
                for (int64_t batch : {1, 3}) {
                    for (const Variant& variant : kVariants) {
                        RnnConfig config;
                        config.cell = cell;
                        config.heads = split.heads;
                        config.head_dim = split.head_dim;
                        config.steps = steps;
                        config.batch = batch;
                        config.has_s0 = variant.s0;
                        config.has_lengths = variant.lengths;
                        config.reverse = variant.reverse;
                        SCOPED_TRACE(config.describe());
                        const RnnProblem problem = make_rnn_problem(config, seed++);

                        const RnnForwardResult expected64 = reference_rnn_forward(problem);
                        const RnnForwardResult actual64 = run_rnn_forward<double>(problem);
                        expect_close("y float64", actual64.y, expected64.y, 1e-12, 1e-10);
                        expect_close("s_last float64", actual64.s_last, expected64.s_last, 1e-12, 1e-10);
                        expect_close("states float64", actual64.states, expected64.states, 1e-12, 1e-10);

                        const RnnProblem rounded = problem.rounded_to_float();
                        const RnnForwardResult expected32 = reference_rnn_forward(rounded);
                        const RnnForwardResult actual32 = run_rnn_forward<float>(rounded);
                        expect_close("y float32", actual32.y, expected32.y, 2e-5, 1e-4);
                        expect_close("s_last float32", actual32.s_last, expected32.s_last, 2e-5, 1e-4);
                        expect_close("states float32", actual32.states, expected32.states, 2e-5, 1e-4);
                        if (::testing::Test::HasFailure()) return;
                    }
                }
            }
        }
    }
}

// Three heads of R (NH, G*DH, DH) against NH = 1 with the dense block-diagonal (G*H, H) matrix they describe.
TEST(RnnForward, HeadwiseEqualsBlockDiagonalDense) {
    for (int32_t cell : kCells) {
        RnnConfig config;
        config.cell = cell;
        config.heads = 3;
        config.head_dim = 5;
        config.steps = 9;
        config.batch = 3;
        config.has_s0 = true;
        SCOPED_TRACE(config.describe());
        const RnnProblem headwise = make_rnn_problem(config, 7 + static_cast<uint32_t>(cell));
        RnnProblem dense = headwise;
        dense.config.heads = 1;
        dense.config.head_dim = config.hidden();
        const int64_t G = config.gates(), H = config.hidden(), DH = config.head_dim;
        dense.R.assign(static_cast<size_t>(G * H * H), 0.0);
        for (int64_t k = 0; k < config.heads; ++k) {
            for (int64_t q = 0; q < G; ++q) {
                for (int64_t j = 0; j < DH; ++j) {
                    for (int64_t l = 0; l < DH; ++l) {
                        dense.R[(q * H + k * DH + j) * H + k * DH + l] = headwise.R[(k * G * DH + q * DH + j) * DH + l];
                    }
                }
            }
        }
        const RnnForwardResult a = run_rnn_forward<double>(headwise);
        const RnnForwardResult b = run_rnn_forward<double>(dense);
        expect_close("y", a.y, b.y, 1e-14, 1e-12);
        expect_close("s_last", a.s_last, b.s_last, 1e-14, 1e-12);
        // A non-zero off-diagonal block must change the result (the head split is really used).
        RnnProblem leaky = dense;
        leaky.R[static_cast<size_t>(0 * H + (DH + 1))] = 0.5;  // gate 0 unit 0 (head 0) <- unit DH+1 (head 1)
        const RnnForwardResult c = run_rnn_forward<double>(leaky);
        EXPECT_GT(worst_error_ratio(c.y, b.y, 1e-9, 0.0), 1.0);
    }
}

// Each sequence of a padded batch equals that sequence run alone (T = its length, Bt = 1); padding gives y = 0.
TEST(RnnForward, LengthsEqualEachSequenceAlone) {
    for (int32_t cell : kCells) {
        for (bool reverse : {false, true}) {
            RnnConfig config;
            config.cell = cell;
            config.heads = 2;
            config.head_dim = 5;
            config.steps = 11;
            config.batch = 5;
            config.has_s0 = true;
            config.has_lengths = true;
            config.reverse = reverse;
            SCOPED_TRACE(config.describe());
            const RnnProblem problem = make_rnn_problem(config, 300 + static_cast<uint32_t>(cell));
            const RnnForwardResult batched = run_rnn_forward<double>(problem);
            const int64_t G = config.gates(), H = config.hidden(), S = config.states(), Bt = config.batch;
            for (int64_t b = 0; b < Bt; ++b) {
                const int64_t length = problem.lengths[static_cast<size_t>(b)];
                RnnProblem single = problem;
                single.config.batch = 1;
                single.config.steps = length;
                single.config.has_lengths = false;
                single.lengths.clear();
                single.wx.clear();
                for (int64_t t = 0; t < length; ++t) {
                    const auto row = problem.wx.begin() + (t * Bt + b) * G * H;
                    single.wx.insert(single.wx.end(), row, row + G * H);
                }
                single.s0.clear();
                for (int64_t slot = 0; slot < S; ++slot) {
                    const auto row = problem.s0.begin() + (slot * Bt + b) * H;
                    single.s0.insert(single.s0.end(), row, row + H);
                }
                const RnnForwardResult alone = run_rnn_forward<double>(single);
                for (int64_t t = 0; t < config.steps; ++t) {
                    for (int64_t u = 0; u < H; ++u) {
                        const double expected = t < length ? alone.y[static_cast<size_t>(t * H + u)] : 0.0;
                        ASSERT_NEAR(batched.y[static_cast<size_t>((t * Bt + b) * H + u)], expected, 1e-13)
                            << "b=" << b << " t=" << t << " u=" << u;
                    }
                }
                for (int64_t slot = 0; slot < S; ++slot) {
                    for (int64_t u = 0; u < H; ++u) {
                        ASSERT_NEAR(batched.s_last[static_cast<size_t>((slot * Bt + b) * H + u)],
                                    alone.s_last[static_cast<size_t>(slot * H + u)], 1e-13)
                            << "b=" << b << " slot=" << slot;
                    }
                }
            }
        }
    }
}

// reverse = 1 equals the forward direction on each sequence flipped within its length, with y flipped back.
TEST(RnnForward, ReverseEqualsFlippedInput) {
    for (int32_t cell : kCells) {
        RnnConfig config;
        config.cell = cell;
        config.heads = 3;
        config.head_dim = 5;
        config.steps = 10;
        config.batch = 5;
        config.has_s0 = true;
        config.has_lengths = true;
        config.reverse = true;
        SCOPED_TRACE(config.describe());
        const RnnProblem reversed = make_rnn_problem(config, 400 + static_cast<uint32_t>(cell));
        RnnProblem flipped = reversed;
        flipped.config.reverse = false;
        const int64_t G = config.gates(), H = config.hidden(), Bt = config.batch;
        for (int64_t b = 0; b < Bt; ++b) {
            const int64_t length = reversed.lengths[static_cast<size_t>(b)];
            for (int64_t t = 0; t < length; ++t) {
                std::copy_n(reversed.wx.begin() + ((length - 1 - t) * Bt + b) * G * H, G * H,
                            flipped.wx.begin() + (t * Bt + b) * G * H);
            }
        }
        const RnnForwardResult r = run_rnn_forward<double>(reversed);
        const RnnForwardResult f = run_rnn_forward<double>(flipped);
        for (int64_t b = 0; b < Bt; ++b) {
            const int64_t length = reversed.lengths[static_cast<size_t>(b)];
            for (int64_t t = 0; t < config.steps; ++t) {
                const int64_t source = t < length ? length - 1 - t : t;
                for (int64_t u = 0; u < H; ++u) {
                    ASSERT_NEAR(r.y[static_cast<size_t>((t * Bt + b) * H + u)],
                                f.y[static_cast<size_t>((source * Bt + b) * H + u)], 1e-13)
                        << "b=" << b << " t=" << t;
                }
            }
        }
        expect_close("s_last", r.s_last, f.s_last, 1e-13, 0.0);
    }
}

// hs_rnn_step T times equals one hs_rnn_forward (the same arithmetic, so bit for bit).
TEST(RnnForward, StepLoopEqualsFullSequence) {
    for (int32_t cell : kCells) {
        for (bool has_s0 : {false, true}) {
            RnnConfig config;
            config.cell = cell;
            config.heads = 2;
            config.head_dim = 9;
            config.steps = 6;
            config.batch = 7;
            config.has_s0 = has_s0;
            SCOPED_TRACE(config.describe());
            const RnnProblem problem = make_rnn_problem(config, 500 + static_cast<uint32_t>(cell)).rounded_to_float();
            const RnnForwardResult full = run_rnn_forward<float>(problem);
            const RnnForwardResult stepped = run_rnn_steps<float>(problem);
            EXPECT_EQ(stepped.y, full.y);
            EXPECT_EQ(stepped.y.size(), problem.wx.size() / static_cast<size_t>(config.gates()));
            EXPECT_EQ(stepped.s_last, full.s_last);
        }
    }
}

// Saturated gates and large pre-activations: finite results that match the reference (the clamped exp at work).
TEST(RnnForward, LargeInputsStayFiniteAndAccurate) {
    for (int32_t cell : kCells) {
        RnnConfig config;
        config.cell = cell;
        config.heads = 1;
        config.head_dim = 12;
        config.steps = 8;
        config.batch = 2;
        SCOPED_TRACE(config.describe());
        RnnProblem problem = make_rnn_problem(config, 600 + static_cast<uint32_t>(cell));
        for (size_t i = 0; i < problem.wx.size(); ++i) problem.wx[i] *= (i % 3 == 0) ? 80.0 : 8.0;
        const RnnForwardResult expected = reference_rnn_forward(problem);
        const RnnForwardResult actual = run_rnn_forward<double>(problem);
        expect_close("y float64", actual.y, expected.y, 1e-12, 1e-10);
        const RnnProblem rounded = problem.rounded_to_float();
        const RnnForwardResult actual32 = run_rnn_forward<float>(rounded);
        expect_close("y float32", actual32.y, reference_rnn_forward(rounded).y, 2e-5, 1e-4);
    }
}

}  // namespace
}  // namespace hs_test
