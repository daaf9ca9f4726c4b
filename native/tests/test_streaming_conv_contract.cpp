// The streaming-convolution contract that hs_depthwise_conv_* and hs_dilated_conv_* share (hybridseq.h; checked by
// native/src/api/streaming_conv_checks.*): cases where both ops must give the same answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hybridseq.h"
#include "scan_test_support.h"

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// A contiguous CPU float64 view (scan_test_support.h's cpu_view forms the strides of a huge size next to a zero
// without overflow: the view then has no elements, which the header allows).
hs_tensor view(void* data, const std::vector<int64_t>& shape) { return hs_test::cpu_view(data, HS_DTYPE_FLOAT64, shape); }

void expect_state_length_refused(hs_status status, const char* entry) {
    EXPECT_EQ(status, HS_ERR_INVALID_ARGUMENT) << entry;
    const std::string message = hs_last_error();
    EXPECT_EQ(message.rfind(std::string(entry) + ": ", 0), 0u) << message;
    EXPECT_NE(message.find("field 'dilation' of argument 'inputs'"), std::string::npos) << message;
    EXPECT_NE(message.find("(K - 1) * dilation + L"), std::string::npos) << message;
    EXPECT_NE(message.find("does not fit in int64"), std::string::npos) << message;
}

// Regression (ABI fuzz, seed 20261201 call 5048): with Bt = 0 the sequence x (0, C, L) has no elements, so its
// header check bounds no size and L may be INT64_MAX; the dense shim then formed S + L in int64 (signed overflow)
// and accepted the call. Both ops must refuse it with the same message, on every entry point.
TEST(StreamingConvContract, StateLengthPlusLengthBeyondInt64IsRefusedByBothOps) {
    std::vector<double> memory(16);
    double* m = memory.data();
    const int64_t L = kMax;  // with K = 2 and dilation 1: S = 1, S + L = INT64_MAX + 1
    hs_tensor x = view(m, {0, 2, L});
    hs_tensor state = view(m, {0, 2, 1});

    hs_tensor dw_weight = view(m, {2, 2});
    hs_tensor dw_bias = view(m + 4, {2});
    hs_tensor dw_y = view(m + 8, {0, 2, L});
    hs_tensor dw_dx = view(m + 8, {0, 2, L});
    hs_tensor dw_dweight = view(m + 8, {2, 2});
    hs_tensor dw_dbias = view(m + 12, {2});
    hs_depthwise_conv_inputs dw{};
    dw.x = &x;
    dw.weight = &dw_weight;
    dw.bias = &dw_bias;
    dw.dilation = 1;
    hs_depthwise_conv_grads dw_grads{&dw_dx, &dw_dweight, &dw_dbias, nullptr};
    expect_state_length_refused(hs_depthwise_conv_forward(&dw, &dw_y, nullptr, nullptr), "hs_depthwise_conv_forward");
    expect_state_length_refused(hs_depthwise_conv_backward(&dw, &dw_y, nullptr, &dw_grads, nullptr, nullptr),
                                "hs_depthwise_conv_backward");
    expect_state_length_refused(hs_depthwise_conv_step(&dw, &state, &dw_y, nullptr), "hs_depthwise_conv_step");

    hs_tensor dn_weight = view(m, {1, 2, 2});
    hs_tensor dn_bias = view(m + 4, {1});
    hs_tensor dn_y = view(m + 8, {0, 1, L});
    hs_tensor dn_dbias = view(m + 12, {1});
    hs_dilated_conv_inputs dn{};
    dn.x = &x;
    dn.weight = &dn_weight;
    dn.bias = &dn_bias;
    dn.dilation = 1;
    // Only dbias has elements: the call the fuzzer found (the kernel would have run over L = INT64_MAX).
    hs_dilated_conv_grads dn_grads{nullptr, nullptr, &dn_dbias, nullptr};
    expect_state_length_refused(hs_dilated_conv_forward(&dn, &dn_y, nullptr, nullptr), "hs_dilated_conv_forward");
    expect_state_length_refused(hs_dilated_conv_backward(&dn, &dn_y, nullptr, &dn_grads, nullptr),
                                "hs_dilated_conv_backward");
    expect_state_length_refused(hs_dilated_conv_step(&dn, &state, &dn_y, nullptr), "hs_dilated_conv_step");

    // Below the edge the state length is no reason to refuse: the depthwise op takes S + L = INT64_MAX (it bounds
    // the extents only when Bt and D are >= 1), the dense one any L its extents (64 * C * (S + L)) allow. Nothing
    // is computed (the outputs have no elements); the calls only validate.
    x.sizes[2] = kMax - 1;
    dw_y.sizes[2] = kMax - 1;
    EXPECT_EQ(hs_depthwise_conv_forward(&dw, &dw_y, nullptr, nullptr), HS_OK) << hs_last_error();
    x.sizes[2] = int64_t(1) << 50;
    dn_y.sizes[2] = int64_t(1) << 50;
    EXPECT_EQ(hs_dilated_conv_forward(&dn, &dn_y, nullptr, nullptr), HS_OK) << hs_last_error();
}

// The fuzz found it: a valid dense call with a dilation far beyond L and no state made the weight gradient pack a
// slice of (K - 1) * dilation positions per channel group (terabytes here), which ended the process. Every tap but
// the last then reads only the zero history: y, dx and dweight follow from the last tap alone, at once.
TEST(StreamingConvContract, DenseDilationFarBeyondTheSequenceNeedsNoScratchOfItsSize) {
    const int64_t Bt = 2, Cin = 3, Cout = 2, K = 3, L = 5, dilation = int64_t(1) << 40;
    std::vector<double> x(Bt * Cin * L), weight(Cout * Cin * K), bias(Cout), dy(Bt * Cout * L);
    for (size_t j = 0; j < x.size(); ++j) x[j] = 0.1 * double(j % 7) - 0.3;
    for (size_t j = 0; j < weight.size(); ++j) weight[j] = 0.05 * double(j % 5) - 0.1;
    for (size_t j = 0; j < dy.size(); ++j) dy[j] = 0.2 * double(j % 3) - 0.15;
    bias = {0.5, -0.25};
    std::vector<double> y(Bt * Cout * L), dx(x.size(), std::nan("")), dweight(weight.size(), std::nan("")),
        dbias(Cout, std::nan(""));
    hs_tensor tx = view(x.data(), {Bt, Cin, L}), tw = view(weight.data(), {Cout, Cin, K}), tb = view(bias.data(), {Cout});
    hs_tensor ty = view(y.data(), {Bt, Cout, L}), tdy = view(dy.data(), {Bt, Cout, L}), tdx = view(dx.data(), {Bt, Cin, L});
    hs_tensor tdw = view(dweight.data(), {Cout, Cin, K}), tdb = view(dbias.data(), {Cout});
    hs_dilated_conv_inputs in{};
    in.x = &tx;
    in.weight = &tw;
    in.bias = &tb;
    in.dilation = dilation;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(hs_dilated_conv_forward(&in, &ty, nullptr, nullptr), HS_OK) << hs_last_error();
    hs_dilated_conv_grads grads{&tdx, &tdw, &tdb, nullptr};
    ASSERT_EQ(hs_dilated_conv_backward(&in, &tdy, nullptr, &grads, nullptr), HS_OK) << hs_last_error();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
    auto w = [&](int64_t o, int64_t i, int64_t k) { return weight[(o * Cin + i) * K + k]; };
    for (int64_t b = 0; b < Bt; ++b) {
        for (int64_t t = 0; t < L; ++t) {
            for (int64_t o = 0; o < Cout; ++o) {
                double expected = bias[o];
                for (int64_t i = 0; i < Cin; ++i) expected += w(o, i, K - 1) * x[(b * Cin + i) * L + t];
                EXPECT_NEAR(y[(b * Cout + o) * L + t], expected, 1e-12);
            }
            for (int64_t i = 0; i < Cin; ++i) {
                double expected = 0;
                for (int64_t o = 0; o < Cout; ++o) expected += w(o, i, K - 1) * dy[(b * Cout + o) * L + t];
                EXPECT_NEAR(dx[(b * Cin + i) * L + t], expected, 1e-12);
            }
        }
    }
    for (int64_t o = 0; o < Cout; ++o) {
        double bias_sum = 0;
        for (int64_t b = 0; b < Bt; ++b)
            for (int64_t t = 0; t < L; ++t) bias_sum += dy[(b * Cout + o) * L + t];
        EXPECT_NEAR(dbias[o], bias_sum, 1e-12);
        for (int64_t i = 0; i < Cin; ++i) {
            for (int64_t k = 0; k < K; ++k) {
                double expected = 0;
                if (k == K - 1) {
                    for (int64_t b = 0; b < Bt; ++b)
                        for (int64_t t = 0; t < L; ++t) expected += dy[(b * Cout + o) * L + t] * x[(b * Cin + i) * L + t];
                }
                EXPECT_NEAR(dweight[(o * Cin + i) * K + k], expected, 1e-12) << "o " << o << " i " << i << " k " << k;
            }
        }
    }
}

// Regression (ABI fuzz, seed 20261201 call 94867): with L = 0 every sequence tensor is empty whatever Bt is, so a
// valid backward may come with Bt = 2^31 and a small dweight. The dense backward ran its weight-gradient kernel over
// the whole batch (minutes); both ops must answer at once: dweight and dbias zero, the state gradient passed through.
TEST(StreamingConvContract, NoPositionsNextToAHugeBatchAnswerAtOnce) {
    const int64_t Bt = int64_t(1) << 31;
    std::vector<double> dweight(10, std::nan("")), dbias(5, std::nan(""));
    double unused = 0;
    hs_tensor x = view(&unused, {Bt, 2, 0});
    hs_tensor dy = view(&unused, {Bt, 5, 0});
    std::vector<double> weight(10, 0.5), bias(5, 0.25);
    const auto start = std::chrono::steady_clock::now();

    hs_tensor dn_weight = view(weight.data(), {5, 2, 1});
    hs_tensor dn_bias = view(bias.data(), {5});
    hs_tensor dn_dweight = view(dweight.data(), {5, 2, 1});
    hs_tensor dn_dbias = view(dbias.data(), {5});
    hs_tensor dx = view(&unused, {Bt, 2, 0});
    hs_dilated_conv_inputs dn{};
    dn.x = &x;
    dn.weight = &dn_weight;
    dn.bias = &dn_bias;
    dn.dilation = 4;
    hs_dilated_conv_grads dn_grads{&dx, &dn_dweight, &dn_dbias, nullptr};
    ASSERT_EQ(hs_dilated_conv_backward(&dn, &dy, nullptr, &dn_grads, nullptr), HS_OK) << hs_last_error();
    for (double value : dweight) EXPECT_EQ(value, 0.0);
    for (double value : dbias) EXPECT_EQ(value, 0.0);

    std::fill(dweight.begin(), dweight.end(), std::nan(""));
    std::fill(dbias.begin(), dbias.end(), std::nan(""));
    hs_tensor dw_x = view(&unused, {Bt, 5, 0});
    hs_tensor dw_weight = view(weight.data(), {5, 2});
    hs_tensor dw_dweight = view(dweight.data(), {5, 2});
    hs_tensor dw_dx = view(&unused, {Bt, 5, 0});
    hs_depthwise_conv_inputs dw{};
    dw.x = &dw_x;
    dw.weight = &dw_weight;
    dw.bias = &dn_bias;
    dw.dilation = 4;
    hs_depthwise_conv_grads dw_grads{&dw_dx, &dw_dweight, &dn_dbias, nullptr};
    ASSERT_EQ(hs_depthwise_conv_backward(&dw, &dy, nullptr, &dw_grads, nullptr, nullptr), HS_OK) << hs_last_error();
    for (double value : dweight) EXPECT_EQ(value, 0.0);
    for (double value : dbias) EXPECT_EQ(value, 0.0);

    // Validation and two memsets: far below a second even on a loaded machine.
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
}

}  // namespace
