// The validating shim: every malformed argument gives the right status and a message that names the entry point
// and the argument, says what was expected and what came; a later successful call clears hs_last_error.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "scan_test_support.h"

namespace hs_test {
namespace {

// A valid float32 CPU problem with every optional input, and every output and gradient buffer, as views that a
// test can break one at a time.
struct ValidCall {
    ScanConfig config;
    std::vector<float> u, delta, A, B, C, D, z, bias, h0, out, h_last, checkpoints, dout, dh_last;
    std::vector<float> du, ddelta, dA, dB, dC, dD, dz, dbias, dh0;
    std::vector<int64_t> lengths;
    hs_tensor u_v, delta_v, A_v, B_v, C_v, D_v, z_v, bias_v, h0_v, lengths_v, out_v, h_last_v, checkpoints_v,
        dout_v, dh_last_v;
    hs_tensor du_v, ddelta_v, dA_v, dB_v, dC_v, dD_v, dz_v, dbias_v, dh0_v;
    hs_selective_scan_inputs inputs{};
    hs_selective_scan_grads grads{};

    explicit ValidCall(int64_t batch = 2) {
        config.batch = batch;
        config.dim = 8;
        config.groups = 2;
        config.dstate = 4;
        config.seqlen = 129;
        const int64_t Bt = config.batch, Dm = config.dim, G = config.groups, N = config.dstate, L = config.seqlen;
        const int64_t K = hs_selective_scan_num_chunks(L);
        const std::vector<int64_t> seq = {Bt, Dm, L}, state = {Bt, Dm, N}, varying = {Bt, G, N, L};
        auto alloc = [](std::vector<float>& v, const std::vector<int64_t>& shape, float value) {
            int64_t count = 1;
            for (int64_t s : shape) count *= s;
            v.assign(static_cast<size_t>(count), value);
            return cpu_view(v.data(), HS_DTYPE_FLOAT32, shape);
        };
        u_v = alloc(u, seq, 0.5f);
        delta_v = alloc(delta, seq, 0.1f);
        A_v = alloc(A, {Dm, N}, -1.0f);
        B_v = alloc(B, varying, 0.3f);
        C_v = alloc(C, {Dm, N}, 0.2f);
        D_v = alloc(D, {Dm}, 1.0f);
        z_v = alloc(z, seq, 0.4f);
        bias_v = alloc(bias, {Dm}, 0.0f);
        h0_v = alloc(h0, state, 0.0f);
        lengths.assign(static_cast<size_t>(Bt), L);
        if (Bt > 1) lengths[1] = 3;
        lengths_v = cpu_view(lengths.data(), HS_DTYPE_INT64, {Bt});
        out_v = alloc(out, seq, 0.0f);
        h_last_v = alloc(h_last, state, 0.0f);
        checkpoints_v = alloc(checkpoints, {Bt, Dm, K, N}, 0.0f);
        dout_v = alloc(dout, seq, 1.0f);
        dh_last_v = alloc(dh_last, state, 1.0f);
        du_v = alloc(du, seq, 0.0f);
        ddelta_v = alloc(ddelta, seq, 0.0f);
        dA_v = alloc(dA, {Dm, N}, 0.0f);
        dB_v = alloc(dB, varying, 0.0f);
        dC_v = alloc(dC, {Dm, N}, 0.0f);
        dD_v = alloc(dD, {Dm}, 0.0f);
        dz_v = alloc(dz, seq, 0.0f);
        dbias_v = alloc(dbias, {Dm}, 0.0f);
        dh0_v = alloc(dh0, state, 0.0f);
        inputs = {&u_v, &delta_v, &A_v, &B_v, &C_v, &D_v, &z_v, &bias_v, &h0_v, &lengths_v, 1, 0};
        grads = {&du_v, &ddelta_v, &dA_v, &dB_v, &dC_v, &dD_v, &dz_v, &dbias_v, &dh0_v};
    }
    ValidCall(const ValidCall&) = delete;
    ValidCall& operator=(const ValidCall&) = delete;

    hs_status forward() { return hs_selective_scan_forward(&inputs, &out_v, &h_last_v, &checkpoints_v, nullptr); }
    hs_status backward() {
        return hs_selective_scan_backward(&inputs, &checkpoints_v, &dout_v, &dh_last_v, &grads, 1, nullptr, nullptr);
    }
};

void expect_failure(hs_status status, hs_status expected, const std::vector<std::string>& fragments) {
    EXPECT_EQ(status, expected) << hs_status_name(status) << ": " << hs_last_error();
    const std::string message = hs_last_error();
    for (const std::string& fragment : fragments) {
        EXPECT_NE(message.find(fragment), std::string::npos) << "message '" << message << "' lacks '" << fragment << "'";
    }
}

TEST(SelectiveScanValidation, ValidCallsSucceedAndClearTheLastError) {
    ValidCall call;
    call.inputs.delta_softplus = 7;
    ASSERT_EQ(call.forward(), HS_ERR_INVALID_ARGUMENT);
    ASSERT_STRNE(hs_last_error(), "");
    call.inputs.delta_softplus = 1;
    EXPECT_EQ(call.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    EXPECT_EQ(call.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

TEST(SelectiveScanValidation, NullStructsAndRequiredTensors) {
    ValidCall call;
    expect_failure(hs_selective_scan_forward(nullptr, &call.out_v, nullptr, nullptr, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"hs_selective_scan_forward: ", "'inputs'", "NULL"});
    expect_failure(hs_selective_scan_forward(&call.inputs, nullptr, nullptr, nullptr, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"hs_selective_scan_forward: ", "'out'", "required"});
    const std::pair<const char*, const hs_tensor* hs_selective_scan_inputs::*> required[] = {
        {"'u'", &hs_selective_scan_inputs::u}, {"'delta'", &hs_selective_scan_inputs::delta},
        {"'A'", &hs_selective_scan_inputs::A}, {"'B'", &hs_selective_scan_inputs::B},
        {"'C'", &hs_selective_scan_inputs::C}};
    for (const auto& [name, member] : required) {
        ValidCall broken;
        broken.inputs.*member = nullptr;
        expect_failure(broken.forward(), HS_ERR_INVALID_ARGUMENT, {name, "required, got NULL"});
    }
    expect_failure(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr, nullptr, 0,
                                              nullptr, nullptr),
                   HS_ERR_INVALID_ARGUMENT, {"hs_selective_scan_backward: ", "'grads'"});
    expect_failure(hs_selective_scan_backward(&call.inputs, nullptr, &call.dout_v, nullptr, &call.grads, 0, nullptr,
                                              nullptr),
                   HS_ERR_INVALID_ARGUMENT, {"'checkpoints'", "required"});
}

TEST(SelectiveScanValidation, WrongShapesNameTheArgumentAndBothShapes) {
    {
        ValidCall call;
        call.delta_v.sizes[2] = 128;
        call.delta_v.strides[1] = 128;
        call.delta_v.strides[0] = 8 * 128;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT,
                       {"hs_selective_scan_forward: argument 'delta' must have shape (2, 8, 129) like 'u', got (2, 8, "
                        "128)"});
    }
    {
        ValidCall call;
        call.u_v.rank = 2;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'u'", "rank 3", "got rank 2"});
    }
    {
        ValidCall call;
        call.A_v.sizes[0] = 7;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'A'", "(8, 4)", "got (7, 4)"});
    }
    {
        ValidCall call;
        call.B_v.rank = 3;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'B'", "rank 2 (Dm, N) or 4", "got rank 3"});
    }
    {
        ValidCall call;
        call.B_v.sizes[1] = 3;  // 3 groups do not divide 8 channels
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'B'", "G = 3", "divide", "Dm = 8"});
    }
    {
        ValidCall call;
        call.h0_v.sizes[2] = 5;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'h0'", "(2, 8, 4)", "got (2, 8, 5)"});
    }
    {
        ValidCall call;
        call.checkpoints_v.sizes[2] = 2;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'checkpoints'", "(2, 8, 1, 4)", "got (2, 8, 2, 4)"});
    }
    {
        ValidCall call;
        call.D_v.sizes[0] = 4;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'D'", "(8,)", "got (4,)"});
    }
    {
        ValidCall call;
        call.dB_v.sizes[1] = 1;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'grads->dB'", "like 'B'"});
    }
}

TEST(SelectiveScanValidation, WrongDtypesAndDevices) {
    {
        ValidCall call;
        call.A_v.dtype = HS_DTYPE_FLOAT64;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'A'", "dtype float32 like 'u'", "got float64"});
    }
    {
        ValidCall call;
        call.u_v.dtype = HS_DTYPE_INT32;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'u'", "float32 or float64", "got int32"});
    }
    {
        ValidCall call;
        call.lengths_v.dtype = HS_DTYPE_INT32;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'lengths'", "int64", "got int32"});
    }
    {
        ValidCall call;
        call.z_v.device_type = HS_DEVICE_CUDA;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'z'", "on cpu like 'u'", "got cuda:0"});
    }
    {
        ValidCall call;
        call.u_v.device_type = 5;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'u'", "device_type", "got 5"});
    }
    {
        ValidCall call;
        call.out_v.device_index = 1;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'out'", "device_index 0", "got 1"});
    }
}

TEST(SelectiveScanValidation, CudaTensorsOnThisBuild) {
    if (hs_cuda_compiled() != 0) GTEST_SKIP() << "this build has CUDA; the CPU-only message does not apply";
    ValidCall call;
    for (hs_tensor* t : {&call.u_v, &call.delta_v, &call.A_v, &call.B_v, &call.C_v, &call.D_v, &call.z_v,
                         &call.bias_v, &call.h0_v, &call.lengths_v, &call.out_v, &call.h_last_v,
                         &call.checkpoints_v}) {
        t->device_type = HS_DEVICE_CUDA;
    }
    expect_failure(call.forward(), HS_ERR_UNSUPPORTED, {"'u'", "cuda:0", "built without CUDA"});
    int64_t elements = -1;
    expect_failure(hs_selective_scan_workspace_elements(&call.inputs, 1, &elements), HS_ERR_UNSUPPORTED,
                   {"hs_selective_scan_workspace_elements: ", "without CUDA"});
}

TEST(SelectiveScanValidation, Float64OnCudaIsUnsupported) {
    ValidCall call;
    call.u_v.device_type = HS_DEVICE_CUDA;
    call.u_v.dtype = HS_DTYPE_FLOAT64;
    const hs_status status = call.forward();
    EXPECT_EQ(status, HS_ERR_UNSUPPORTED) << hs_last_error();
    // A CPU-only build rejects the device first; a CUDA build rejects the dtype.
    EXPECT_NE(std::string(hs_last_error()).find(hs_cuda_compiled() ? "float64" : "without CUDA"), std::string::npos)
        << hs_last_error();
}

TEST(SelectiveScanValidation, NonContiguousTensors) {
    {
        ValidCall call;
        std::swap(call.u_v.strides[1], call.u_v.strides[2]);
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT,
                       {"'u'", "row-major contiguous", "expected strides (1032, 129, 1)", "got strides (1032, 1, 129)"});
    }
    {
        ValidCall call;
        call.dA_v.strides[0] = 5;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'grads->dA'", "contiguous"});
    }
    {
        // A size-1 dimension may carry any stride (as a sliced or expanded tensor would have).
        ValidCall call(1);
        call.u_v.strides[0] = 12345;
        call.lengths_v.strides[0] = 7;
        call.B_v.strides[0] = -3;
        EXPECT_EQ(call.forward(), HS_OK) << hs_last_error();
    }
}

TEST(SelectiveScanValidation, BadValues) {
    {
        ValidCall call;
        call.lengths[1] = 130;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'lengths'", "[0, 129]", "lengths[1] = 130"});
    }
    {
        ValidCall call;
        call.lengths[0] = -1;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'lengths'", "lengths[0] = -1"});
    }
    {
        ValidCall call;
        call.inputs.delta_softplus = 2;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"delta_softplus", "0 or 1", "got 2"});
    }
    {
        ValidCall call;
        call.u_v.data = nullptr;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'u'", "NULL data pointer"});
    }
    {
        ValidCall call;
        call.B_v.sizes[3] = -1;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"'B'", "non-negative"});
    }
    {
        ValidCall call;
        expect_failure(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr,
                                                  &call.grads, 3, nullptr, nullptr),
                       HS_ERR_INVALID_ARGUMENT, {"'deterministic'", "got 3"});
    }
}

TEST(SelectiveScanValidation, GradientsPresentExactlyWhenTheirInputs) {
    {
        ValidCall call;
        call.grads.dD = nullptr;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'grads->dD'", "required because 'D'"});
    }
    {
        ValidCall call;
        call.inputs.z = nullptr;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'grads->dz'", "must be NULL because 'z'"});
    }
    {
        ValidCall call;
        call.grads.du = nullptr;
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT, {"'grads->du'", "required"});
    }
    {
        ValidCall call;
        call.grads.dh0 = nullptr;  // optional
        EXPECT_EQ(call.backward(), HS_OK) << hs_last_error();
    }
}

TEST(SelectiveScanValidation, StepRejectsSequenceOnlyArguments) {
    ValidCall call;
    std::vector<float> u(16, 0.0f), state(64, 0.0f), out(16, 0.0f);
    hs_tensor u_v = cpu_view(u.data(), HS_DTYPE_FLOAT32, {2, 8});
    hs_tensor state_v = cpu_view(state.data(), HS_DTYPE_FLOAT32, {2, 8, 4});
    hs_tensor out_v = cpu_view(out.data(), HS_DTYPE_FLOAT32, {2, 8});
    hs_tensor B_v = cpu_view(call.B.data(), HS_DTYPE_FLOAT32, {2, 2, 4});
    hs_selective_scan_inputs inputs{&u_v, &u_v, &call.A_v, &B_v, &call.C_v, nullptr, nullptr, nullptr,
                                    &call.h0_v, nullptr, 0, 0};
    expect_failure(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"hs_selective_scan_step: ", "'h0'", "must be NULL"});
    inputs.h0 = nullptr;
    inputs.lengths = &call.lengths_v;
    expect_failure(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"'lengths'", "must be NULL"});
    inputs.lengths = nullptr;
    expect_failure(hs_selective_scan_step(&inputs, nullptr, &out_v, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"'state'", "required"});
    inputs.u = &call.u_v;  // a (Bt, Dm, L) u is not a step input
    expect_failure(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"'u'", "rank 2 (Bt, Dm)", "got rank 3"});
    inputs.u = &u_v;
    EXPECT_EQ(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_OK) << hs_last_error();
}

// The query takes the backward's own inputs and checks them exactly as the backward does.
TEST(SelectiveScanValidation, WorkspaceElementsOnCpuIsZero) {
    int64_t elements = -1;
    {
        ValidCall call;
        ASSERT_EQ(hs_selective_scan_workspace_elements(&call.inputs, 1, &elements), HS_OK) << hs_last_error();
        EXPECT_EQ(elements, 0);
        expect_failure(hs_selective_scan_workspace_elements(&call.inputs, 1, nullptr), HS_ERR_INVALID_ARGUMENT,
                       {"'elements'"});
        expect_failure(hs_selective_scan_workspace_elements(&call.inputs, 2, &elements), HS_ERR_INVALID_ARGUMENT,
                       {"'deterministic'", "got 2"});
        expect_failure(hs_selective_scan_workspace_elements(nullptr, 1, &elements), HS_ERR_INVALID_ARGUMENT,
                       {"'inputs'"});
    }
    {
        // G = 3 does not divide Dm = 8: the same message as the backward gives.
        ValidCall call;
        call.B_v.sizes[1] = 3;
        expect_failure(hs_selective_scan_workspace_elements(&call.inputs, 1, &elements), HS_ERR_INVALID_ARGUMENT,
                       {"hs_selective_scan_workspace_elements: ", "'B'", "G = 3", "divide the Dm = 8"});
        const std::string query_message = hs_last_error();
        ASSERT_EQ(call.backward(), HS_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(query_message.substr(query_message.find(": ")),
                  std::string(hs_last_error()).substr(std::string(hs_last_error()).find(": ")));
    }
    {
        ValidCall call;
        call.u_v.device_type = 7;
        expect_failure(hs_selective_scan_workspace_elements(&call.inputs, 1, &elements), HS_ERR_INVALID_ARGUMENT,
                       {"'u'", "device_type", "got 7"});
    }
}

TEST(SelectiveScanValidation, NumChunks) {
    EXPECT_EQ(hs_selective_scan_num_chunks(0), 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(1), 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(HS_SELECTIVE_SCAN_CHUNK), 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(HS_SELECTIVE_SCAN_CHUNK + 1), 2);
    EXPECT_EQ(hs_selective_scan_num_chunks(300), 2);
}


// ---------------------------------------------------------------------------------------------------------------
// Regressions from an independent fuzz of the C ABI (the suite's own fuzz: hybridseq_abi_fuzz)
// ---------------------------------------------------------------------------------------------------------------

// L = 0 with a time-varying B (and C) segfaulted in the backward; the forward must write h_last = h0.
template <typename T>
void zero_length_is_defined(int32_t dtype, bool c_varying) {
    SCOPED_TRACE(std::string(dtype == HS_DTYPE_FLOAT32 ? "float32" : "float64") + (c_varying ? ", C varying" : ""));
    std::vector<T> A{-1}, C{0.5}, D{1}, h0{0.25}, h_last{-9}, checkpoints{-9}, dh_last{2}, dA{-9}, dC{-9}, dD{-9},
        dh0{-9};
    const hs_tensor empty_seq = cpu_view(nullptr, dtype, {1, 1, 0});
    const hs_tensor empty_varying = cpu_view(nullptr, dtype, {1, 1, 1, 0});
    const hs_tensor A_v = cpu_view(A.data(), dtype, {1, 1}), D_v = cpu_view(D.data(), dtype, {1});
    const hs_tensor C_v = c_varying ? empty_varying : cpu_view(C.data(), dtype, {1, 1});
    const hs_tensor h0_v = cpu_view(h0.data(), dtype, {1, 1, 1}), h_last_v = cpu_view(h_last.data(), dtype, {1, 1, 1});
    const hs_tensor checkpoints_v = cpu_view(checkpoints.data(), dtype, {1, 1, 1, 1});
    hs_selective_scan_inputs inputs{&empty_seq, &empty_seq, &A_v, &empty_varying, &C_v, &D_v,
                                    nullptr,    nullptr,    &h0_v, nullptr, 0, 0};
    ASSERT_EQ(hs_selective_scan_forward(&inputs, &empty_seq, &h_last_v, &checkpoints_v, nullptr), HS_OK)
        << hs_last_error();
    EXPECT_EQ(h_last[0], h0[0]);
    EXPECT_EQ(checkpoints[0], h0[0]);

    const hs_tensor dh_last_v = cpu_view(dh_last.data(), dtype, {1, 1, 1});
    const hs_tensor dA_v = cpu_view(dA.data(), dtype, {1, 1}), dD_v = cpu_view(dD.data(), dtype, {1});
    const hs_tensor dC_v = c_varying ? empty_varying : cpu_view(dC.data(), dtype, {1, 1});
    const hs_tensor dh0_v = cpu_view(dh0.data(), dtype, {1, 1, 1});
    const hs_selective_scan_grads grads{&empty_seq, &empty_seq, &dA_v, &empty_varying, &dC_v, &dD_v,
                                        nullptr,    nullptr,    &dh0_v};
    ASSERT_EQ(hs_selective_scan_backward(&inputs, &checkpoints_v, &empty_seq, &dh_last_v, &grads, 1, nullptr, nullptr),
              HS_OK)
        << hs_last_error();
    // No step ran: the input gradients are zero and the state gradient passes straight through.
    EXPECT_EQ(dA[0], T(0));
    EXPECT_EQ(dD[0], T(0));
    if (!c_varying) {
        EXPECT_EQ(dC[0], T(0));
    }
    EXPECT_EQ(dh0[0], dh_last[0]);
}

TEST(SelectiveScanValidation, ZeroLengthWithTimeVaryingBIsDefined) {
    for (bool c_varying : {false, true}) {
        zero_length_is_defined<float>(HS_DTYPE_FLOAT32, c_varying);
        zero_length_is_defined<double>(HS_DTYPE_FLOAT64, c_varying);
    }
}

// A zero-sized Dm next to a huge Bt looped over Bt; an empty problem returns at once, forward and backward.
TEST(SelectiveScanValidation, ZeroSizedDimensionNextToAHugeOneReturnsAtOnce) {
    const int64_t Bt = (int64_t(1) << 62) + 3, L = 5, N = 4;
    const hs_tensor seq = cpu_view(nullptr, HS_DTYPE_FLOAT32, {Bt, 0, L});
    const hs_tensor per_channel = cpu_view(nullptr, HS_DTYPE_FLOAT32, {0, N});
    const hs_tensor state = cpu_view(nullptr, HS_DTYPE_FLOAT32, {Bt, 0, N});
    const hs_tensor checkpoints = cpu_view(nullptr, HS_DTYPE_FLOAT32, {Bt, 0, 1, N});
    hs_selective_scan_inputs inputs{&seq, &seq, &per_channel, &per_channel, &per_channel, nullptr,
                                    nullptr, nullptr, nullptr, nullptr, 0, 0};
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(hs_selective_scan_forward(&inputs, &seq, &state, &checkpoints, nullptr), HS_OK) << hs_last_error();
    const hs_selective_scan_grads grads{&seq, &seq, &per_channel, &per_channel, &per_channel, nullptr, nullptr, nullptr,
                                        &state};
    ASSERT_EQ(hs_selective_scan_backward(&inputs, &checkpoints, &seq, &state, &grads, 0, nullptr, nullptr), HS_OK)
        << hs_last_error();
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
    // lengths of 2^62 + 3 int64 values are more bytes than int64 can index.
    const hs_tensor lengths = cpu_view(nullptr, HS_DTYPE_INT64, {Bt});
    inputs.lengths = &lengths;
    expect_failure(hs_selective_scan_forward(&inputs, &seq, nullptr, nullptr, nullptr), HS_ERR_INVALID_ARGUMENT,
                   {"argument 'lengths'", "more bytes than int64 can index"});
}

// Element counts whose product wraps in int64 passed validation.
TEST(SelectiveScanValidation, ElementCountsThatOverflowInt64AreRefused) {
    {
        ValidCall call;
        call.u_v.sizes[0] = (int64_t(1) << 62) + 1;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT,
                       {"hs_selective_scan_forward: ", "argument 'u'", "more elements than int64 can index"});
    }
    {
        // 2^62 float32 elements fit in int64, their 2^64 bytes do not.
        ValidCall call;
        call.h_last_v.sizes[0] = int64_t(1) << 60;
        call.h_last_v.sizes[1] = 2;
        call.h_last_v.sizes[2] = 2;
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT, {"argument 'h_last'", "more bytes than int64"});
    }
    {
        // Each view fits, but Bt*Dm*N*L (what the kernels index) does not: the workspace query refuses too.
        static float never_read[4];
        const int64_t big = int64_t(1) << 20;
        const hs_tensor u = cpu_view(never_read, HS_DTYPE_FLOAT32, {big, big, big});
        const hs_tensor A = cpu_view(never_read, HS_DTYPE_FLOAT32, {big, big});
        hs_selective_scan_inputs inputs{&u, &u, &A, &A, &A, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0};
        int64_t elements = -1;
        expect_failure(hs_selective_scan_workspace_elements(&inputs, 1, &elements), HS_ERR_INVALID_ARGUMENT,
                       {"hs_selective_scan_workspace_elements: ", "argument 'u'", "more than int64 can index"});
        EXPECT_EQ(elements, -1) << "no wrapped count may be written";
    }
}

TEST(SelectiveScanValidation, NumChunksNeverWraps) {
    const int64_t max = std::numeric_limits<int64_t>::max();
    EXPECT_EQ(hs_selective_scan_num_chunks(max), max / HS_SELECTIVE_SCAN_CHUNK + 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(max - HS_SELECTIVE_SCAN_CHUNK + 2), max / HS_SELECTIVE_SCAN_CHUNK + 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(-1), 1);
    EXPECT_EQ(hs_selective_scan_num_chunks(std::numeric_limits<int64_t>::min()), 1);
}

// The no-alias rule covers every written argument: an output on 'lengths' crashed; in-place state and outputs
// that share memory with anything else are refused as well.
TEST(SelectiveScanValidation, WrittenArgumentsMustNotOverlapAnyOther) {
    {
        // lengths in a buffer large enough to hold all of h_last, so that 'lengths' is the only tensor it overlaps.
        ValidCall call;
        std::vector<int64_t> wide_lengths(64, 0);
        std::copy(call.lengths.begin(), call.lengths.end(), wide_lengths.begin());
        call.lengths_v.data = wide_lengths.data();
        call.h_last_v.data = wide_lengths.data();
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT,
                       {"hs_selective_scan_forward: ", "argument 'h_last' overlaps the memory of argument 'lengths'"});
    }
    {
        // One hs_tensor object passed as an input and as an output is an overlap like any other.
        ValidCall call;
        expect_failure(hs_selective_scan_forward(&call.inputs, &call.u_v, nullptr, nullptr, nullptr),
                       HS_ERR_INVALID_ARGUMENT, {"argument 'out' overlaps the memory of argument 'u'"});
    }
    {
        ValidCall call;
        call.h_last_v.data = call.out.data();
        expect_failure(call.forward(), HS_ERR_INVALID_ARGUMENT,
                       {"argument 'h_last' overlaps the memory of argument 'out'", "must not alias each other"});
    }
    {
        ValidCall call;
        call.dh0_v.data = call.dout.data();
        expect_failure(call.backward(), HS_ERR_INVALID_ARGUMENT,
                       {"argument 'grads->dh0' overlaps the memory of argument 'dout'"});
    }
    {
        // The step's state is read and written: it may not share memory with u.
        ValidCall call;
        const int64_t Bt = call.config.batch, Dm = call.config.dim, N = call.config.dstate;
        std::vector<float> u(static_cast<size_t>(Bt * Dm * N), 0.5f), out(static_cast<size_t>(Bt * Dm));
        const hs_tensor u_v = cpu_view(u.data(), HS_DTYPE_FLOAT32, {Bt, Dm});
        const hs_tensor state_v = cpu_view(u.data(), HS_DTYPE_FLOAT32, {Bt, Dm, N});
        const hs_tensor out_v = cpu_view(out.data(), HS_DTYPE_FLOAT32, {Bt, Dm});
        const hs_tensor B_v = cpu_view(call.C.data(), HS_DTYPE_FLOAT32, {Dm, N});
        hs_selective_scan_inputs inputs{&u_v, &u_v, &call.A_v, &B_v, &B_v, nullptr,
                                        nullptr, nullptr, nullptr, nullptr, 0, 0};
        expect_failure(hs_selective_scan_step(&inputs, &state_v, &out_v, nullptr), HS_ERR_INVALID_ARGUMENT,
                       {"argument 'state' overlaps the memory of argument 'u'", "updated in place"});
        std::vector<float> state(static_cast<size_t>(Bt * Dm * N), 0.0f);
        const hs_tensor own_state = cpu_view(state.data(), HS_DTYPE_FLOAT32, {Bt, Dm, N});
        EXPECT_EQ(hs_selective_scan_step(&inputs, &own_state, &out_v, nullptr), HS_OK) << hs_last_error();
    }
}

// A workspace that is given is checked on every backend, the CPU (which needs none) included.
TEST(SelectiveScanValidation, CpuBackwardChecksAGivenWorkspace) {
    std::vector<float> scratch(8, 0.0f);
    std::vector<double> wide(8, 0.0);
    {
        ValidCall call;
        const hs_tensor two_d = cpu_view(scratch.data(), HS_DTYPE_FLOAT32, {2, 4});
        expect_failure(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr,
                                                  &call.grads, 1, &two_d, nullptr),
                       HS_ERR_INVALID_ARGUMENT, {"hs_selective_scan_backward: ", "argument 'workspace'", "1-D"});
        const hs_tensor float64 = cpu_view(wide.data(), HS_DTYPE_FLOAT64, {8});
        expect_failure(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr,
                                                  &call.grads, 1, &float64, nullptr),
                       HS_ERR_INVALID_ARGUMENT, {"argument 'workspace'", "float32", "got float64"});
        const hs_tensor on_dout = cpu_view(call.dout.data(), HS_DTYPE_FLOAT32, {8});
        expect_failure(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr,
                                                  &call.grads, 1, &on_dout, nullptr),
                       HS_ERR_INVALID_ARGUMENT, {"argument 'workspace' overlaps the memory of argument 'dout'"});
    }
    ValidCall call;
    const hs_tensor fine = cpu_view(scratch.data(), HS_DTYPE_FLOAT32, {8});
    EXPECT_EQ(hs_selective_scan_backward(&call.inputs, &call.checkpoints_v, &call.dout_v, nullptr, &call.grads, 1,
                                         &fine, nullptr),
              HS_OK)
        << hs_last_error();
}

}  // namespace
}  // namespace hs_test
