// The validating shim of hs_rnn_*: every malformed argument gives the right status and a message that names the entry
// point and the argument, says what was expected and what came; a later successful call clears hs_last_error.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "rnn_test_support.h"
#include "scan_test_support.h"

namespace hs_test {
namespace {

// A valid float32 CPU LSTM call (NH = 2, DH = 3, T = 4, Bt = 2) with every optional input, output and gradient, as
// views that a test can break one at a time.
struct ValidRnnCall {
    static constexpr int64_t T = 4, Bt = 2, NH = 2, DH = 3, H = NH * DH, G = 4, S = 2, C = 4;
    std::vector<float> wx, R, b, s0, y, s_last, states, cache, dy, ds_last, dwx, dR, db, ds0, workspace;
    std::vector<int64_t> lengths{4, 1};
    hs_tensor wx_v, R_v, b_v, s0_v, lengths_v, y_v, s_last_v, states_v, cache_v, dy_v, ds_last_v, dwx_v, dR_v, db_v,
        ds0_v, workspace_v;
    hs_rnn_inputs inputs{};

    ValidRnnCall() {
        auto alloc = [](std::vector<float>& v, const std::vector<int64_t>& shape, float value) {
            v.assign(element_product(shape), value);
            return cpu_view(v.data(), HS_DTYPE_FLOAT32, shape);
        };
        wx_v = alloc(wx, {T, Bt, G * H}, 0.1f);
        R_v = alloc(R, {NH, G * DH, DH}, 0.2f);
        b_v = alloc(b, {G * H}, 0.0f);
        s0_v = alloc(s0, {S, Bt, H}, 0.0f);
        lengths_v = cpu_view(lengths.data(), HS_DTYPE_INT64, {Bt});
        y_v = alloc(y, {T, Bt, H}, 0.0f);
        s_last_v = alloc(s_last, {S, Bt, H}, 0.0f);
        states_v = alloc(states, {T + 1, S, Bt, H}, 0.0f);
        cache_v = alloc(cache, {T, Bt, C * H}, 0.0f);
        dy_v = alloc(dy, {T, Bt, H}, 1.0f);
        ds_last_v = alloc(ds_last, {S, Bt, H}, 1.0f);
        dwx_v = alloc(dwx, {T, Bt, G * H}, 0.0f);
        dR_v = alloc(dR, {NH, G * DH, DH}, 0.0f);
        db_v = alloc(db, {G * H}, 0.0f);
        ds0_v = alloc(ds0, {S, Bt, H}, 0.0f);
        inputs.cell = HS_RNN_CELL_LSTM;
        inputs.wx = &wx_v;
        inputs.R = &R_v;
        inputs.b = &b_v;
        inputs.s0 = &s0_v;
        inputs.lengths = &lengths_v;
        int64_t elements = 0;
        EXPECT_EQ(hs_rnn_workspace_elements(&inputs, HS_RNN_PASS_BACKWARD, nullptr, &elements), HS_OK)
            << hs_last_error();
        workspace_v = alloc(workspace, {elements}, 0.0f);
    }

    // The CPU forward needs no workspace (CpuForwardNeedsNoWorkspace), so NULL unless a test passes one.
    hs_status forward(const hs_tensor* forward_workspace = nullptr) {
        return hs_rnn_forward(&inputs, &y_v, &s_last_v, &states_v, &cache_v, forward_workspace, nullptr);
    }
    hs_status backward() {
        return hs_rnn_backward(&inputs, &states_v, &cache_v, &dy_v, &ds_last_v, &dwx_v, &dR_v, &db_v, &ds0_v,
                               &workspace_v, nullptr);
    }
};

// Runs `call`, expects `status` and a message containing every fragment.
void expect_error(const std::function<hs_status()>& call, hs_status status, const std::vector<std::string>& fragments) {
    const hs_status got = call();
    EXPECT_EQ(got, status) << hs_status_name(got) << ": " << hs_last_error();
    const std::string message = hs_last_error();
    for (const std::string& fragment : fragments) {
        EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nmissing: " << fragment;
    }
}

TEST(RnnValidation, ValidCallsSucceedAndClearTheLastError) {
    ValidRnnCall call;
    int32_t gates = 0;
    // Leave an error behind, then a valid call must clear it.
    EXPECT_EQ(hs_rnn_cell_info(9, &gates, &gates, &gates), HS_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(call.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    ASSERT_EQ(call.backward(), HS_OK) << hs_last_error();
    // lengths[1] = 1: y is zero from step 1 on for that row.
    EXPECT_NE(call.y[(0 * ValidRnnCall::Bt + 1) * ValidRnnCall::H], 0.0f);
    EXPECT_EQ(call.y[(1 * ValidRnnCall::Bt + 1) * ValidRnnCall::H], 0.0f);
}

TEST(RnnValidation, CellInfoReportsEachCellAndRejectsUnknownOnes) {
    const int32_t expected[3][3] = {{4, 2, 4}, {3, 1, 4}, {4, 4, 4}};
    for (int32_t cell = 0; cell < 3; ++cell) {
        int32_t gates = -1, states = -1, cache = -1;
        ASSERT_EQ(hs_rnn_cell_info(cell, &gates, &states, &cache), HS_OK) << hs_last_error();
        EXPECT_EQ(gates, expected[cell][0]);
        EXPECT_EQ(states, expected[cell][1]);
        EXPECT_EQ(cache, expected[cell][2]);
    }
    int32_t value = 0;
    expect_error([&] { return hs_rnn_cell_info(3, &value, &value, &value); }, HS_ERR_INVALID_ARGUMENT,
                 {"hs_rnn_cell_info", "argument 'cell'", "HS_RNN_CELL_SLSTM (2)", "got 3"});
    expect_error([&] { return hs_rnn_cell_info(0, nullptr, &value, &value); }, HS_ERR_INVALID_ARGUMENT,
                 {"argument 'gates'", "NULL"});
}

// The query takes the call's own inputs and checks them as the call does: the same statuses and messages.
TEST(RnnValidation, WorkspaceElementsChecksItsArguments) {
    int64_t elements = -1;
    ASSERT_EQ(rnn_workspace_for_sizes(HS_DEVICE_CPU, HS_DTYPE_FLOAT32, HS_RNN_CELL_GRU, 5, 3, 15, 3,
                                      HS_RNN_PASS_BACKWARD, &elements),
              HS_OK)
        << hs_last_error();
    // (T, Bt, NH, round_up(G*DH, 16)) = 5 * 3 * 3 * 16.
    EXPECT_EQ(elements, 5 * 3 * 3 * 16);
    {
        // NH = 3 heads of DH = 5 do not make the H = 16 of 'wx': the message of the call.
        ValidRnnCall call;
        std::vector<float> R(3 * 4 * 5 * 5, 0.0f);
        const hs_tensor R_v = cpu_view(R.data(), HS_DTYPE_FLOAT32, {3, 20, 5});
        call.inputs.R = &R_v;
        expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_BACKWARD, nullptr, &elements); },
                     HS_ERR_INVALID_ARGUMENT, {"hs_rnn_workspace_elements", "argument 'R'", "NH = 3", "H = 6"});
        const std::string query_message = hs_last_error();
        ASSERT_EQ(call.backward(), HS_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(query_message.substr(query_message.find(": ")),
                  std::string(hs_last_error()).substr(std::string(hs_last_error()).find(": ")));
    }
    {
        ValidRnnCall call;
        call.wx_v.sizes[0] = -1;
        expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_FORWARD, nullptr, &elements); },
                     HS_ERR_INVALID_ARGUMENT, {"argument 'wx'", "non-negative", "got (-1, 2, 24)"});
    }
    {
        ValidRnnCall call;
        call.wx_v.device_type = 7;
        expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_FORWARD, nullptr, &elements); },
                     HS_ERR_INVALID_ARGUMENT, {"argument 'wx'", "device_type", "got 7"});
    }
    ValidRnnCall call;
    call.inputs.cell = 5;
    expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_FORWARD, nullptr, &elements); },
                 HS_ERR_INVALID_ARGUMENT, {"field 'cell' of argument 'inputs'", "got 5"});
    call.inputs.cell = HS_RNN_CELL_LSTM;
    expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_FORWARD, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'elements'", "NULL"});
    expect_error([&] { return hs_rnn_workspace_elements(nullptr, HS_RNN_PASS_FORWARD, nullptr, &elements); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'inputs'", "NULL"});
    for (int32_t pass : {-1, 3}) {
        expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, pass, nullptr, &elements); },
                     HS_ERR_INVALID_ARGUMENT,
                     {"hs_rnn_workspace_elements", "argument 'pass'", "HS_RNN_PASS_FORWARD (0)",
                      "got " + std::to_string(pass)});
    }
    // The backward's query, like the backward, takes 'dwx' in place of a NULL 'wx'; the other passes take no 'dwx'.
    expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_FORWARD, &call.dwx_v, &elements); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'dwx'", "must be NULL"});
    int64_t with_wx = -1, with_dwx = -1;
    ASSERT_EQ(hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_BACKWARD, nullptr, &with_wx), HS_OK)
        << hs_last_error();
    call.inputs.wx = nullptr;
    expect_error([&] { return hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_BACKWARD, nullptr, &elements); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'dwx'", "required"});
    ASSERT_EQ(hs_rnn_workspace_elements(&call.inputs, HS_RNN_PASS_BACKWARD, &call.dwx_v, &with_dwx), HS_OK)
        << hs_last_error();
    EXPECT_EQ(with_dwx, with_wx);
    EXPECT_EQ(with_wx, call.workspace_v.sizes[0]);
}

// The CPU forward keeps its scratch to itself (it does not grow with T), so the forward / step size is 0 for every
// cell and size, while the backward's grows with T.
TEST(RnnValidation, CpuForwardNeedsNoWorkspace) {
    struct Heads {
        int64_t count, dim;
    };
    for (int32_t cell : {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM}) {
        for (const Heads heads : {Heads{1, 5}, Heads{4, 64}, Heads{1, 256}}) {
            const int64_t hidden = heads.count * heads.dim;
            for (int64_t steps : {1, 129}) {
                int64_t forward = -1, backward = -1;
                const int64_t Bt = 3;
                ASSERT_EQ(rnn_workspace_for_sizes(HS_DEVICE_CPU, HS_DTYPE_FLOAT32, cell, steps, Bt, hidden,
                                                  heads.count, HS_RNN_PASS_FORWARD, &forward),
                          HS_OK)
                    << hs_last_error();
                ASSERT_EQ(rnn_workspace_for_sizes(HS_DEVICE_CPU, HS_DTYPE_FLOAT32, cell, steps, Bt, hidden,
                                                  heads.count, HS_RNN_PASS_BACKWARD, &backward),
                          HS_OK)
                    << hs_last_error();
                EXPECT_EQ(forward, 0) << "cell " << cell << " H " << hidden << " T " << steps;
                EXPECT_GE(backward, steps * Bt * hidden) << "cell " << cell << " H " << hidden << " T " << steps;
            }
        }
    }
}

// A workspace that is given is checked even where the pass needs none, and the messages name it.
TEST(RnnValidation, ForwardWorkspaceIsCheckedWhenGiven) {
    {
        ValidRnnCall call;
        std::vector<float> scratch(8, 0.0f);
        const hs_tensor two_d = cpu_view(scratch.data(), HS_DTYPE_FLOAT32, {2, 4});
        expect_error([&] { return call.forward(&two_d); }, HS_ERR_INVALID_ARGUMENT,
                     {"hs_rnn_forward", "argument 'workspace'", "1-D", "HS_RNN_PASS_FORWARD", "got shape (2, 4)"});
    }
    {
        ValidRnnCall call;
        std::vector<double> scratch(8, 0.0);
        const hs_tensor wrong_dtype = cpu_view(scratch.data(), HS_DTYPE_FLOAT64, {8});
        expect_error([&] { return call.forward(&wrong_dtype); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'workspace'", "float32", "got float64"});
    }
    {
        ValidRnnCall call;
        std::vector<float> scratch(8, 0.0f);
        hs_tensor on_cuda = cpu_view(scratch.data(), HS_DTYPE_FLOAT32, {8});
        on_cuda.device_type = HS_DEVICE_CUDA;
        expect_error([&] { return call.forward(&on_cuda); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'workspace'", "like 'wx'", "got cuda:0"});
    }
    {
        ValidRnnCall call;
        std::vector<float> scratch(8, 0.0f);
        hs_tensor strided = cpu_view(scratch.data(), HS_DTYPE_FLOAT32, {4});
        strided.strides[0] = 2;
        expect_error([&] { return call.forward(&strided); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'workspace'", "contiguous"});
    }
    {
        // An empty 1-D workspace is a valid "none" on the CPU, where the forward needs nothing.
        ValidRnnCall call;
        const hs_tensor empty = cpu_view(nullptr, HS_DTYPE_FLOAT32, {0});
        EXPECT_EQ(call.forward(&empty), HS_OK) << hs_last_error();
    }
}

TEST(RnnValidation, InputsAreChecked) {
    {
        ValidRnnCall call;
        call.inputs.cell = 7;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"hs_rnn_forward", "field 'cell' of argument 'inputs'", "got 7"});
    }
    {
        ValidRnnCall call;
        call.inputs.reverse = 2;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"field 'reverse'", "0 or 1", "got 2"});
    }
    {
        ValidRnnCall call;
        call.inputs.allow_tf32 = -1;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"field 'allow_tf32'", "got -1"});
    }
    expect_error([] { return hs_rnn_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'inputs'", "NULL"});
    {
        ValidRnnCall call;
        call.inputs.wx = nullptr;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'wx'", "required", "NULL"});
    }
    {
        // The backward accepts wx = NULL (it never reads it) and then sizes everything from dwx, which it requires.
        ValidRnnCall call;
        ASSERT_EQ(call.forward(), HS_OK) << hs_last_error();
        call.inputs.wx = nullptr;
        EXPECT_EQ(call.backward(), HS_OK) << hs_last_error();
        call.dwx_v.sizes[1] = 1;  // Bt = 1 now (a view inside the buffer): the other inputs no longer fit
        call.dwx_v.strides[0] = 24;
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 's0'", "(2, 1, 6)"});
    }
    {
        ValidRnnCall call;
        call.inputs.R = nullptr;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'R'", "required", "NULL"});
    }
    {
        ValidRnnCall call;
        call.inputs.b = nullptr;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'b'", "required", "NULL"});
    }
    {
        // wx's last dimension must be G*H: 25 is not a multiple of LSTM's 4 gates.
        ValidRnnCall call;
        call.wx_v.sizes[2] = 25;
        call.wx_v.strides[1] = 25;
        call.wx_v.strides[0] = 50;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'wx'", "G = 4", "got 25", "not a multiple of 4"});
    }
    {
        // Heads that do not split H: R says 4 heads of 3 (H = 12), wx says H = 6.
        ValidRnnCall call;
        call.R.resize(4 * 12 * 3);
        call.R_v = cpu_view(call.R.data(), HS_DTYPE_FLOAT32, {4, 12, 3});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'R'", "NH = 4", "DH = 3", "H = 6"});
    }
    {
        // Right NH * DH but the middle dimension is not G*DH.
        ValidRnnCall call;
        call.R_v = cpu_view(call.R.data(), HS_DTYPE_FLOAT32, {2, 9, 3});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'R'", "shape (2, 12, 3)", "got (2, 9, 3)"});
    }
    {
        ValidRnnCall call;
        call.R_v = cpu_view(call.R.data(), HS_DTYPE_FLOAT32, {24, 3});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'R'", "rank 3 (NH, G*DH, DH)", "got rank 2"});
    }
    {
        ValidRnnCall call;
        call.R_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'R'", "dtype float32", "like 'wx'", "got float64"});
    }
    {
        ValidRnnCall call;
        call.wx_v.dtype = HS_DTYPE_INT32;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'wx'", "float32 or float64", "got int32"});
    }
    {
        ValidRnnCall call;
        call.b_v.sizes[0] = 23;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'b'", "(24,)", "got (23,)"});
    }
    {
        ValidRnnCall call;
        call.s0_v = cpu_view(call.s0.data(), HS_DTYPE_FLOAT32, {1, 2, 6});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 's0'", "(2, 2, 6)", "(S, Bt, H)", "got (1, 2, 6)"});
    }
    {
        ValidRnnCall call;
        call.wx_v.strides[2] = 2;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'wx'", "row-major contiguous"});
    }
}

TEST(RnnValidation, LengthsAreChecked) {
    {
        ValidRnnCall call;
        call.lengths[1] = 5;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'lengths'", "[0, 4]", "lengths[1] = 5"});
    }
    {
        ValidRnnCall call;
        call.lengths[0] = -1;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'lengths'", "lengths[0] = -1"});
    }
    {
        ValidRnnCall call;
        call.lengths_v.dtype = HS_DTYPE_INT32;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'lengths'", "dtype int64", "got int32"});
    }
    {
        ValidRnnCall call;
        call.lengths_v.sizes[0] = 3;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'lengths'", "(2,)", "got (3,)"});
    }
}

TEST(RnnValidation, DeviceAndOutputsAreChecked) {
    {
        ValidRnnCall call;
        call.wx_v.device_type = HS_DEVICE_CUDA;
        call.wx_v.dtype = HS_DTYPE_FLOAT64;
        // Without CUDA in the build: unsupported device; with it: float64 on CUDA is unsupported.
        expect_error([&] { return call.forward(); }, HS_ERR_UNSUPPORTED, {"argument 'wx'", "cuda:0"});
    }
    {
        ValidRnnCall call;
        call.b_v.device_type = HS_DEVICE_CUDA;
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'b'", "must be on cpu like 'wx'", "got cuda:0"});
    }
    {
        ValidRnnCall call;
        expect_error([&] {
            return hs_rnn_forward(&call.inputs, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
        },
                     HS_ERR_INVALID_ARGUMENT, {"argument 'y'", "required"});
    }
    {
        ValidRnnCall call;
        call.states_v = cpu_view(call.states.data(), HS_DTYPE_FLOAT32, {4, 2, 2, 6});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'states'", "(5, 2, 2, 6)", "(T+1, S, Bt, H)", "got (4, 2, 2, 6)"});
    }
    {
        ValidRnnCall call;
        call.cache_v = cpu_view(call.cache.data(), HS_DTYPE_FLOAT32, {4, 2, 12});
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'cache'", "(4, 2, 24)", "C = 4", "got (4, 2, 12)"});
    }
}

TEST(RnnValidation, BackwardArgumentsAreChecked) {
    {
        ValidRnnCall call;
        expect_error([&] {
            return hs_rnn_backward(&call.inputs, nullptr, &call.cache_v, &call.dy_v, nullptr, &call.dwx_v, &call.dR_v,
                                   &call.db_v, nullptr, &call.workspace_v, nullptr);
        }, HS_ERR_INVALID_ARGUMENT, {"hs_rnn_backward", "argument 'states'", "required"});
    }
    {
        ValidRnnCall call;
        call.dR_v = cpu_view(call.dR.data(), HS_DTYPE_FLOAT32, {2, 12, 2});
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'dR'", "(2, 12, 3)", "like 'R'", "got (2, 12, 2)"});
    }
    {
        ValidRnnCall call;
        call.dwx_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT, {"argument 'dwx'", "got float64"});
    }
    {
        ValidRnnCall call;
        call.workspace_v.sizes[0] -= 1;
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'workspace'", "at least", "hs_rnn_workspace_elements"});
    }
    {
        ValidRnnCall call;
        expect_error([&] {
            return hs_rnn_backward(&call.inputs, &call.states_v, &call.cache_v, &call.dy_v, nullptr, &call.dwx_v,
                                   &call.dR_v, &call.db_v, nullptr, nullptr, nullptr);
        }, HS_ERR_INVALID_ARGUMENT, {"argument 'workspace'", "required"});
    }
}

TEST(RnnValidation, StepArgumentsAreChecked) {
    ValidRnnCall call;
    std::vector<float> wx(ValidRnnCall::Bt * ValidRnnCall::G * ValidRnnCall::H, 0.1f), state(2 * 2 * 6, 0.0f),
        y(2 * 6, 0.0f);
    hs_tensor wx_v = cpu_view(wx.data(), HS_DTYPE_FLOAT32, {2, 24});
    hs_tensor state_v = cpu_view(state.data(), HS_DTYPE_FLOAT32, {2, 2, 6});
    hs_tensor y_v = cpu_view(y.data(), HS_DTYPE_FLOAT32, {2, 6});
    call.inputs.wx = &wx_v;
    expect_error([&] { return hs_rnn_step(&call.inputs, &state_v, &y_v, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"hs_rnn_step", "argument 's0'", "must be NULL"});
    call.inputs.s0 = nullptr;
    expect_error([&] { return hs_rnn_step(&call.inputs, &state_v, &y_v, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'lengths'", "must be NULL"});
    call.inputs.lengths = nullptr;
    expect_error([&] { return hs_rnn_step(&call.inputs, nullptr, &y_v, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'state'", "required"});
    hs_tensor wrong_y = cpu_view(y.data(), HS_DTYPE_FLOAT32, {1, 6});
    expect_error([&] { return hs_rnn_step(&call.inputs, &state_v, &wrong_y, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"argument 'y'", "(2, 6)", "got (1, 6)"});
    std::vector<double> wrong_workspace(4, 0.0);
    const hs_tensor wrong_workspace_v = cpu_view(wrong_workspace.data(), HS_DTYPE_FLOAT64, {4});
    expect_error([&] { return hs_rnn_step(&call.inputs, &state_v, &y_v, &wrong_workspace_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {"hs_rnn_step", "argument 'workspace'", "got float64"});
    EXPECT_EQ(hs_rnn_step(&call.inputs, &state_v, &y_v, nullptr, nullptr), HS_OK) << hs_last_error();
    EXPECT_NE(y[0], 0.0f);
}


// ---------------------------------------------------------------------------------------------------------------
// Regressions from an independent fuzz of the C ABI (the suite's own fuzz: hybridseq_abi_fuzz)
// ---------------------------------------------------------------------------------------------------------------

// The old size query answered HS_OK with 0 or negative counts for huge sizes: the answer is now exact or an error.
TEST(RnnValidation, WorkspaceQueryNeverAnswersWithAWrappedCount) {
    struct Sizes {
        int64_t steps, batch, hidden, heads;
    };
    const Sizes cases[] = {{int64_t(1) << 28, int64_t(1) << 28, 1, 1}, {int64_t(1) << 40, int64_t(1) << 20, 1, 1},
                           {int64_t(1) << 20, int64_t(1) << 20, 1024, 1}, {int64_t(1) << 61, 1, 1, 1},
                           {3, int64_t(1) << 58, 2, 2}};
    for (const Sizes& c : cases) {
        for (int32_t cell : {HS_RNN_CELL_LSTM, HS_RNN_CELL_GRU, HS_RNN_CELL_SLSTM}) {
            int64_t elements = -1;
            const hs_status status = rnn_workspace_for_sizes(HS_DEVICE_CPU, HS_DTYPE_FLOAT32, cell, c.steps, c.batch,
                                                             c.hidden, c.heads, HS_RNN_PASS_BACKWARD, &elements);
            const int64_t G = cell == HS_RNN_CELL_GRU ? 3 : 4, DH = c.hidden / c.heads;
            const __int128 exact = static_cast<__int128>(c.steps) * c.batch * c.heads * ((G * DH + 15) / 16 * 16);
            if (status == HS_OK) {
                EXPECT_EQ(static_cast<__int128>(elements), exact) << "T " << c.steps << " Bt " << c.batch;
            } else {
                EXPECT_EQ(status, HS_ERR_INVALID_ARGUMENT);
                EXPECT_NE(std::string(hs_last_error()).find("argument 'wx'"), std::string::npos) << hs_last_error();
                EXPECT_EQ(elements, -1) << "no count may be written on failure";
            }
        }
    }
    // The first case (2^56 rows of 16 elements, times the kernels' headroom) is the old wrap: it must be refused.
    int64_t elements = -1;
    EXPECT_EQ(rnn_workspace_for_sizes(HS_DEVICE_CPU, HS_DTYPE_FLOAT32, HS_RNN_CELL_LSTM, int64_t(1) << 28,
                                      int64_t(1) << 28, 1, 1, HS_RNN_PASS_BACKWARD, &elements),
              HS_ERR_INVALID_ARGUMENT);
}

// Bt = 0 next to a huge T looped over T: the backward of an empty batch returns at once with dR = db = 0; T = 0 keeps
// the states at s0.
TEST(RnnValidation, EmptyProblemsReturnAtOnceAndAreDefined) {
    {
        const int64_t T = int64_t(1) << 62, G = 4, S = 2, NH = 1, DH = 2, H = 2;
        std::vector<float> R(NH * G * DH * DH, 0.5f), b(G * H, 0.5f), dR(R.size(), -9.0f), db(b.size(), -9.0f);
        const hs_tensor dwx = cpu_view(nullptr, HS_DTYPE_FLOAT32, {T, 0, G * H});
        const hs_tensor R_v = cpu_view(R.data(), HS_DTYPE_FLOAT32, {NH, G * DH, DH});
        const hs_tensor b_v = cpu_view(b.data(), HS_DTYPE_FLOAT32, {G * H});
        const hs_tensor states = cpu_view(nullptr, HS_DTYPE_FLOAT32, {T + 1, S, 0, H});
        const hs_tensor cache = cpu_view(nullptr, HS_DTYPE_FLOAT32, {T, 0, 4 * H});
        const hs_tensor dy = cpu_view(nullptr, HS_DTYPE_FLOAT32, {T, 0, H});
        const hs_tensor dR_v = cpu_view(dR.data(), HS_DTYPE_FLOAT32, {NH, G * DH, DH});
        const hs_tensor db_v = cpu_view(db.data(), HS_DTYPE_FLOAT32, {G * H});
        hs_rnn_inputs inputs{};
        inputs.cell = HS_RNN_CELL_LSTM;
        inputs.R = &R_v;
        inputs.b = &b_v;
        const auto start = std::chrono::steady_clock::now();
        ASSERT_EQ(hs_rnn_backward(&inputs, &states, &cache, &dy, nullptr, &dwx, &dR_v, &db_v, nullptr, nullptr,
                                  nullptr),
                  HS_OK)
            << hs_last_error();
        EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
        for (float v : dR) EXPECT_EQ(v, 0.0f);
        for (float v : db) EXPECT_EQ(v, 0.0f);
    }
    {
        ValidRnnCall call;
        const hs_tensor wx = cpu_view(nullptr, HS_DTYPE_FLOAT32, {0, ValidRnnCall::Bt, ValidRnnCall::G * ValidRnnCall::H});
        const hs_tensor y = cpu_view(nullptr, HS_DTYPE_FLOAT32, {0, ValidRnnCall::Bt, ValidRnnCall::H});
        const hs_tensor states = cpu_view(call.states.data(), HS_DTYPE_FLOAT32,
                                          {1, ValidRnnCall::S, ValidRnnCall::Bt, ValidRnnCall::H});
        const hs_tensor cache = cpu_view(nullptr, HS_DTYPE_FLOAT32, {0, ValidRnnCall::Bt, ValidRnnCall::C * ValidRnnCall::H});
        for (size_t i = 0; i < call.s0.size(); ++i) call.s0[i] = 0.25f * static_cast<float>(i);
        call.lengths = {0, 0};
        call.inputs.wx = &wx;
        ASSERT_EQ(hs_rnn_forward(&call.inputs, &y, &call.s_last_v, &states, &cache, nullptr, nullptr), HS_OK)
            << hs_last_error();
        for (size_t i = 0; i < call.s0.size(); ++i) {
            EXPECT_EQ(call.s_last[i], call.s0[i]);
            EXPECT_EQ(call.states[i], call.s0[i]);
        }
    }
    {
        // T = INT64_MAX: the saved states (T+1, ...) cannot even be described.
        ValidRnnCall call;
        const hs_tensor wx = cpu_view(nullptr, HS_DTYPE_FLOAT32,
                                      {std::numeric_limits<int64_t>::max(), 0, ValidRnnCall::G * ValidRnnCall::H});
        call.inputs.wx = &wx;
        call.inputs.lengths = nullptr;
        expect_error([&] { return hs_rnn_forward(&call.inputs, &wx, nullptr, nullptr, nullptr, nullptr, nullptr); },
                     HS_ERR_INVALID_ARGUMENT, {"hs_rnn_forward", "argument 'wx'", "T+1"});
    }
}

// The no-alias rule covers every written argument, the int64 'lengths' included (an output there crashed).
TEST(RnnValidation, WrittenArgumentsMustNotOverlapAnyOther) {
    {
        // lengths in a buffer large enough to hold all of s_last, so that 'lengths' is the only tensor it overlaps.
        ValidRnnCall call;
        std::vector<int64_t> wide_lengths(64, 0);
        std::copy(call.lengths.begin(), call.lengths.end(), wide_lengths.begin());
        call.lengths_v.data = wide_lengths.data();
        call.s_last_v.data = wide_lengths.data();
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"hs_rnn_forward", "argument 's_last' overlaps the memory of argument 'lengths'"});
    }
    {
        ValidRnnCall call;
        call.y_v.data = call.states.data();  // y lies inside states' buffer: states is the only tensor it overlaps
        expect_error([&] { return call.forward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'states' overlaps the memory of argument 'y'"});
    }
    {
        // 'wx' passed again as 'dwx' (one hs_tensor object) is an overlap, although the backward never reads wx.
        ValidRnnCall call;
        expect_error([&] {
            return hs_rnn_backward(&call.inputs, &call.states_v, &call.cache_v, &call.dy_v, nullptr, &call.wx_v,
                                   &call.dR_v, &call.db_v, nullptr, &call.workspace_v, nullptr);
        }, HS_ERR_INVALID_ARGUMENT, {"argument 'dwx' overlaps the memory of argument 'wx'"});
        // Without 'wx', 'dwx' stands in for it and is still written: the call succeeds.
        call.inputs.wx = nullptr;
        EXPECT_EQ(call.backward(), HS_OK) << hs_last_error();
    }
    {
        ValidRnnCall call;
        call.dR_v.data = call.R.data();
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"hs_rnn_backward", "argument 'dR' overlaps the memory of argument 'R'"});
    }
    {
        ValidRnnCall call;
        // (The workspace is larger than dwx, so it may reach into a neighbouring buffer first.)
        call.workspace_v.data = call.dwx.data();
        expect_error([&] { return call.backward(); }, HS_ERR_INVALID_ARGUMENT,
                     {"argument 'workspace' overlaps the memory of argument '", "must not share memory"});
    }
    {
        // The step's state is read and written: it may not share memory with wx.
        ValidRnnCall call;
        std::vector<float> wx(ValidRnnCall::Bt * ValidRnnCall::G * ValidRnnCall::H, 0.1f), y(2 * 6, 0.0f);
        const hs_tensor wx_v = cpu_view(wx.data(), HS_DTYPE_FLOAT32, {2, 24});
        const hs_tensor state_on_wx = cpu_view(wx.data(), HS_DTYPE_FLOAT32, {2, 2, 6});
        const hs_tensor y_v = cpu_view(y.data(), HS_DTYPE_FLOAT32, {2, 6});
        call.inputs.wx = &wx_v;
        call.inputs.s0 = nullptr;
        call.inputs.lengths = nullptr;
        expect_error([&] { return hs_rnn_step(&call.inputs, &state_on_wx, &y_v, nullptr, nullptr); },
                     HS_ERR_INVALID_ARGUMENT, {"hs_rnn_step", "argument 'state' overlaps the memory of argument 'wx'"});
    }
}

}  // namespace
}  // namespace hs_test
