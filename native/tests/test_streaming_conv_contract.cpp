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
