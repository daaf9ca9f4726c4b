// The validating shim of the fused recurrence: registers every argument of hs_rnn_* (hybridseq.h) with the op kit
// (api/op_kit.h), turns the views into the plain-pointer params of ops/rnn.h and launches the CPU twin or the CUDA
// launchers. The backends trust what this file lets through.
#include <limits>
#include <string>
#include <vector>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/rnn.h"

namespace hs {

namespace {

const char* cell_name(RnnCell cell) {
    switch (cell) {
        case RnnCell::Lstm: return "HS_RNN_CELL_LSTM";
        case RnnCell::Gru: return "HS_RNN_CELL_GRU";
        case RnnCell::Slstm: return "HS_RNN_CELL_SLSTM";
    }
    return "unknown cell";
}

RnnCell checked_cell(int32_t cell, const char* what) {
    if (cell < HS_RNN_CELL_LSTM || cell > HS_RNN_CELL_SLSTM) {
        throw_invalid(std::string(what) + " must be HS_RNN_CELL_LSTM (0), HS_RNN_CELL_GRU (1) or HS_RNN_CELL_SLSTM (2), got " +
                      std::to_string(cell));
    }
    return static_cast<RnnCell>(cell);
}

// The full forward / backward see (T, Bt, ...) sequences; the step the same without the time axis.
enum class RnnMode { Full, Step };

// What the inputs agreed on.
struct RnnSizes {
    RnnMode mode = RnnMode::Full;
    RnnCell cell = RnnCell::Lstm;
    RnnCellShape shape{};
    int64_t steps = 0, batch = 0, heads = 0, head_dim = 0, hidden = 0;

    std::string cell_text() const {
        return std::string(cell_name(cell)) + " (G = " + std::to_string(shape.gates) +
               ", S = " + std::to_string(shape.states) + ")";
    }
    // (T, Bt, width) or (Bt, width) for the step.
    Shape sequence(int64_t width) const {
        return mode == RnnMode::Full ? Shape{steps, batch, width} : Shape{batch, width};
    }
    Shape state_shape() const { return {shape.states, batch, hidden}; }
    Shape states_shape() const { return {steps + 1, shape.states, batch, hidden}; }
    Shape cache_shape() const { return {steps, batch, shape.cache_gates * hidden}; }
    Shape weights_shape() const { return {heads, shape.gates * head_dim, head_dim}; }
    // Some (t, b) step exists; without one no kernel runs (the outputs are s0, zeros or empty).
    bool has_steps() const { return steps > 0 && batch > 0; }
};

const hs_rnn_inputs& require_inputs(const hs_rnn_inputs* inputs) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    return *inputs;
}

// The primary of the set: inputs->wx, or in a backward without it `stand_in` (its 'dwx', same shape), whose name
// the messages then use. The flags and the cell are checked before it, as the call always did.
ArgumentSet make_argument_set(const hs_rnn_inputs& inputs, RnnMode mode, const hs_tensor* stand_in = nullptr,
                              const char* stand_in_name = nullptr) {
    checked_cell(inputs.cell, "field 'cell' of argument 'inputs'");
    check_flag("field 'reverse' of argument 'inputs'", inputs.reverse);
    check_flag("field 'allow_tf32' of argument 'inputs'", inputs.allow_tf32);
    const bool full = mode == RnnMode::Full;
    const bool use_stand_in = inputs.wx == nullptr && stand_in_name != nullptr;
    return ArgumentSet(use_stand_in ? stand_in_name : "wx", use_stand_in ? stand_in : inputs.wx, full ? 3 : 2,
                       full ? "(T, Bt, G*H)" : "(Bt, G*H)");
}

// Registers the inputs other than the primary and returns the sizes they agree on.
RnnSizes register_inputs(ArgumentSet& args, const hs_rnn_inputs& inputs, RnnMode mode) {
    const hs_tensor& wx = args.primary();
    const char* wx_name = args.primary_name();
    RnnSizes sizes;
    sizes.mode = mode;
    sizes.cell = static_cast<RnnCell>(inputs.cell);
    sizes.shape = rnn_cell_shape(sizes.cell);
    sizes.steps = mode == RnnMode::Full ? wx.sizes[0] : 1;
    sizes.batch = wx.sizes[wx.rank - 2];
    const int64_t gate_width = wx.sizes[wx.rank - 1];
    const int64_t G = sizes.shape.gates;
    if (gate_width % G != 0) {
        throw_invalid(arg(wx_name) + " must have a last dimension G*H with G = " + std::to_string(G) + " gates of " +
                      sizes.cell_text() + ", got " + std::to_string(gate_width) + " (shape " + shape_string(wx) +
                      "), which is not a multiple of " + std::to_string(G));
    }
    sizes.hidden = gate_width / G;
    // The saved states (T+1, S, Bt, H) and the cache (T, Bt, C*H) must be describable even when wx is empty.
    if (mode == RnnMode::Full && sizes.steps == std::numeric_limits<int64_t>::max()) {
        throw_invalid(arg(wx_name) + " has T = " + std::to_string(sizes.steps) +
                      " steps: the saved states (T+1, S, Bt, H) would have more rows than int64 can count");
    }
    int64_t cache_width = 0;
    if (!multiply_fits(sizes.shape.cache_gates, sizes.hidden, &cache_width)) {
        throw_invalid(arg(wx_name) + " has H = " + std::to_string(sizes.hidden) + " (shape " + shape_string(wx) +
                      "): the cache width C*H with C = " + std::to_string(sizes.shape.cache_gates) +
                      " is more than int64 can count");
    }

    const hs_tensor& R = require("R", inputs.R);
    check_tensor_header("R", R);
    if (R.rank != 3) {
        throw_invalid(arg("R") + " must have rank 3 (NH, G*DH, DH), got rank " + std::to_string(R.rank) +
                      " with shape " + shape_string(R));
    }
    sizes.heads = R.sizes[0];
    sizes.head_dim = R.sizes[2];
    if (sizes.heads < 1 || sizes.head_dim < 1) {
        throw_invalid(arg("R") + " must have NH >= 1 heads of DH >= 1 units (shape (NH, G*DH, DH)), got shape " +
                      shape_string(R));
    }
    int64_t heads_times_dim = 0;
    const bool product_fits = multiply_fits(sizes.heads, sizes.head_dim, &heads_times_dim);
    if (!product_fits || heads_times_dim != sizes.hidden) {
        const std::string product = product_fits ? std::to_string(heads_times_dim) : std::string("more than int64 holds");
        throw_invalid(arg("R") + " has shape " + shape_string(R) + ", i.e. NH = " + std::to_string(sizes.heads) +
                      " heads of DH = " + std::to_string(sizes.head_dim) + " units (H = NH*DH = " + product +
                      "), but '" + wx_name + "' has G*H = " + std::to_string(gate_width) + " with G = " +
                      std::to_string(G) + ", i.e. H = " + std::to_string(sizes.hidden));
    }
    args.input("R", &R, sizes.weights_shape(), "= (NH, G*DH, DH) with G = " + std::to_string(G));
    args.input("b", inputs.b, {G * sizes.hidden}, "= (G*H,)");

    if (mode == RnnMode::Step) {
        if (inputs.s0 != nullptr) {
            throw_invalid(arg("s0") + " must be NULL for hs_rnn_step (the 'state' argument is the initial state), "
                                      "got a tensor");
        }
        if (inputs.lengths != nullptr) throw_invalid(arg("lengths") + " must be NULL for hs_rnn_step, got a tensor");
    } else {
        args.optional_input("s0", inputs.s0, sizes.state_shape(), "= (S, Bt, H)");
        args.lengths(inputs.lengths, sizes.batch, sizes.steps, "T of '" + std::string(wx_name) + "'");
    }
    // The saved states are (T+1, S, Bt, H) and the workspaces at most 16 (G*H) per (t, b) row.
    if (sizes.has_steps()) {
        check_extent({{"(T+1)", sizes.steps + 1}, {"Bt", sizes.batch}, {"G", G}, {"H", sizes.hidden}},
                     arg(wx_name) + " (T, Bt, G*H)");
    }
    return sizes;
}

template <typename T>
RnnParams<T> make_params(const RnnSizes& sizes, const hs_rnn_inputs& inputs) {
    RnnParams<T> p;
    p.cell = sizes.cell;
    p.reverse = sizes.mode == RnnMode::Full && inputs.reverse != 0;
    p.allow_tf32 = inputs.allow_tf32 != 0;
    p.steps = sizes.steps;
    p.batch = sizes.batch;
    p.heads = sizes.heads;
    p.head_dim = sizes.head_dim;
    p.hidden = sizes.hidden;
    p.wx = data_of<T>(inputs.wx);
    p.R = data_of<T>(inputs.R);
    p.b = data_of<T>(inputs.b);
    p.s0 = data_of<T>(inputs.s0);
    p.lengths = data_of<int64_t>(inputs.lengths);
    return p;
}

// What one pass needs for these (registered) sizes on the primary's device.
int64_t workspace_needed(const RnnSizes& sizes, const hs_tensor& wx, RnnPass pass) {
    if (!sizes.has_steps()) return 0;
    if (wx.device_type == HS_DEVICE_CPU) {
        return rnn_workspace_elements_cpu(pass, sizes.cell, sizes.steps, sizes.batch, sizes.hidden, sizes.heads);
    }
#if defined(HYBRIDSEQ_WITH_CUDA)
    return rnn_workspace_elements_cuda(pass, sizes.cell, sizes.steps, sizes.batch, sizes.hidden, sizes.heads);
#else
    throw Error(HS_ERR_INTERNAL, "a CUDA 'wx' reached a build without CUDA");
#endif
}

const char* workspace_query(hs_rnn_pass pass) {
    switch (pass) {
        case HS_RNN_PASS_FORWARD: return "hs_rnn_workspace_elements with HS_RNN_PASS_FORWARD";
        case HS_RNN_PASS_BACKWARD: return "hs_rnn_workspace_elements with HS_RNN_PASS_BACKWARD";
        case HS_RNN_PASS_STEP: return "hs_rnn_workspace_elements with HS_RNN_PASS_STEP";
    }
    return "hs_rnn_workspace_elements";
}

template <typename T>
void set_workspace(RnnParams<T>& p, const hs_tensor* workspace) {
    p.workspace = mutable_data_of<T>(workspace);
    p.workspace_elements = workspace != nullptr ? workspace->sizes[0] : 0;
}

void forward(const hs_rnn_inputs* given, const hs_tensor* y, const hs_tensor* s_last, const hs_tensor* states,
             const hs_tensor* cache, const hs_tensor* workspace, hs_stream stream) {
    const hs_rnn_inputs& inputs = require_inputs(given);
    ArgumentSet args = make_argument_set(inputs, RnnMode::Full);
    const RnnSizes sizes = register_inputs(args, inputs, RnnMode::Full);
    args.output("y", y, sizes.sequence(sizes.hidden), "= (T, Bt, H)");
    args.optional_output("s_last", s_last, sizes.state_shape(), "= (S, Bt, H)");
    args.optional_output("states", states, sizes.states_shape(), "= (T+1, S, Bt, H)");
    args.optional_output("cache", cache, sizes.cache_shape(),
                         "= (T, Bt, C*H) with C = " + std::to_string(sizes.shape.cache_gates));
    const hs_tensor* scratch = args.workspace(workspace, workspace_needed(sizes, args.primary(), RnnPass::Forward),
                                              args.dtype(), workspace_query(HS_RNN_PASS_FORWARD));
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // T = 0 (Bt = 0 leaves every output empty): y and cache are empty, the states stay s0 (or 0), and states is
        // the one row states[0] = s0.
        copy_output(s_last, inputs.s0, stream);
        copy_output(states, inputs.s0, stream);
        return;
    }
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        RnnParams<T> p = make_params<T>(sizes, inputs);
        p.y = mutable_data_of<T>(y);
        p.s_last = mutable_data_of<T>(s_last);
        p.states = mutable_data_of<T>(states);
        p.cache = mutable_data_of<T>(cache);
        set_workspace(p, scratch);
        launch(args.primary(), p, &rnn_forward_cpu<T>, HS_CUDA_LAUNCHER(rnn_forward_cuda), stream);
    });
}

// One step of the full forward: the (Bt, ...) views are the T = 1 layouts, and the state buffer is read as s0 and
// overwritten as s_last (the backends support that aliasing).
void step(const hs_rnn_inputs* given, const hs_tensor* state, const hs_tensor* y, const hs_tensor* workspace,
          hs_stream stream) {
    const hs_rnn_inputs& inputs = require_inputs(given);
    ArgumentSet args = make_argument_set(inputs, RnnMode::Step);
    const RnnSizes sizes = register_inputs(args, inputs, RnnMode::Step);
    args.in_place("state", state, sizes.state_shape(), "= (S, Bt, H)");
    args.output("y", y, sizes.sequence(sizes.hidden), "= (Bt, H)");
    const hs_tensor* scratch = args.workspace(workspace, workspace_needed(sizes, args.primary(), RnnPass::Forward),
                                              args.dtype(), workspace_query(HS_RNN_PASS_STEP));
    args.finish();
    // Bt = 0 leaves state and y empty, so past this point the step has work (T = 1, H >= 1).
    if (args.outputs_empty()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        RnnParams<T> p = make_params<T>(sizes, inputs);
        p.s0 = data_of<T>(state);
        p.s_last = mutable_data_of<T>(state);
        p.y = mutable_data_of<T>(y);
        set_workspace(p, scratch);
        launch(args.primary(), p, &rnn_forward_cpu<T>, HS_CUDA_LAUNCHER(rnn_forward_cuda), stream);
    });
}

void backward(const hs_rnn_inputs* given, const hs_tensor* states, const hs_tensor* cache, const hs_tensor* dy,
              const hs_tensor* ds_last, const hs_tensor* dwx, const hs_tensor* dR, const hs_tensor* db,
              const hs_tensor* ds0, const hs_tensor* workspace, hs_stream stream) {
    const hs_rnn_inputs& inputs = require_inputs(given);
    // The backward never reads wx's data: without it, its sizes come from 'dwx' (same shape).
    ArgumentSet args = make_argument_set(inputs, RnnMode::Full, dwx, "dwx");
    const RnnSizes sizes = register_inputs(args, inputs, RnnMode::Full);
    args.input("states", states, sizes.states_shape(), "= (T+1, S, Bt, H)");
    args.input("cache", cache, sizes.cache_shape(),
               "= (T, Bt, C*H) with C = " + std::to_string(sizes.shape.cache_gates));
    args.input("dy", dy, sizes.sequence(sizes.hidden), "= (T, Bt, H)");
    args.optional_input("ds_last", ds_last, sizes.state_shape(), "= (S, Bt, H)");
    // When 'dwx' stands in for 'wx' it is the primary, whose shape defined the sizes: it is an output.
    if (args.primary_name() == std::string("dwx")) {
        args.primary_is_output();
    } else {
        args.output("dwx", dwx, sizes.sequence(sizes.shape.gates * sizes.hidden), "like 'wx'");
    }
    args.output("dR", dR, sizes.weights_shape(), "like 'R'");
    args.output("db", db, {sizes.shape.gates * sizes.hidden}, "like 'b'");
    args.optional_output("ds0", ds0, sizes.state_shape(), "= (S, Bt, H)");
    const hs_tensor* scratch = args.workspace(workspace, workspace_needed(sizes, args.primary(), RnnPass::Backward),
                                              args.dtype(), workspace_query(HS_RNN_PASS_BACKWARD));
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // No step: dwx is empty, the weight gradients are zero and the state gradient passes straight through.
        zero_output(dR, stream);
        zero_output(db, stream);
        copy_output(ds0, ds_last, stream);
        return;
    }
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        RnnBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.states = data_of<T>(states);
        p.cache = data_of<T>(cache);
        p.dy = data_of<T>(dy);
        p.ds_last = data_of<T>(ds_last);
        p.dwx = mutable_data_of<T>(dwx);
        p.dR = mutable_data_of<T>(dR);
        p.db = mutable_data_of<T>(db);
        p.ds0 = mutable_data_of<T>(ds0);
        p.workspace = mutable_data_of<T>(scratch);
        p.workspace_elements = scratch != nullptr ? scratch->sizes[0] : 0;
        launch(args.primary(), p, &rnn_backward_cpu<T>, HS_CUDA_LAUNCHER(rnn_backward_cuda), stream);
    });
}

void workspace_elements(const hs_rnn_inputs* given, int32_t pass, const hs_tensor* dwx, int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const hs_rnn_inputs& inputs = require_inputs(given);
    if (pass != HS_RNN_PASS_FORWARD && pass != HS_RNN_PASS_BACKWARD && pass != HS_RNN_PASS_STEP) {
        throw_invalid(arg("pass") + " must be HS_RNN_PASS_FORWARD (0), HS_RNN_PASS_BACKWARD (1) or HS_RNN_PASS_STEP "
                                    "(2), got " + std::to_string(pass));
    }
    const bool backward = pass == HS_RNN_PASS_BACKWARD;
    if (!backward && dwx != nullptr) {
        throw_invalid(arg("dwx") + " must be NULL except for HS_RNN_PASS_BACKWARD, got a tensor");
    }
    const RnnMode mode = pass == HS_RNN_PASS_STEP ? RnnMode::Step : RnnMode::Full;
    ArgumentSet args = backward ? make_argument_set(inputs, mode, dwx, "dwx") : make_argument_set(inputs, mode);
    const RnnSizes sizes = register_inputs(args, inputs, mode);
    if (backward && inputs.wx != nullptr) {
        args.optional_input("dwx", dwx, sizes.sequence(sizes.shape.gates * sizes.hidden), "like 'wx'");
    }
    args.finish();
    *elements = workspace_needed(sizes, args.primary(), backward ? RnnPass::Backward : RnnPass::Forward);
}

void cell_info(int32_t cell, int32_t* gates, int32_t* states, int32_t* cache_gates) {
    const RnnCellShape shape = rnn_cell_shape(checked_cell(cell, "argument 'cell'"));
    if (gates == nullptr) throw_invalid(arg("gates") + " must not be NULL");
    if (states == nullptr) throw_invalid(arg("states") + " must not be NULL");
    if (cache_gates == nullptr) throw_invalid(arg("cache_gates") + " must not be NULL");
    *gates = shape.gates;
    *states = shape.states;
    *cache_gates = shape.cache_gates;
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API hs_status hs_rnn_cell_info(int32_t cell, int32_t* gates, int32_t* states, int32_t* cache_gates) {
    return hs::run_entry_point("hs_rnn_cell_info", [&] { hs::cell_info(cell, gates, states, cache_gates); });
}

HS_API hs_status hs_rnn_forward(const hs_rnn_inputs* inputs, const hs_tensor* y, const hs_tensor* s_last,
                                const hs_tensor* states, const hs_tensor* cache, const hs_tensor* workspace,
                                hs_stream stream) {
    return hs::run_entry_point("hs_rnn_forward",
                               [&] { hs::forward(inputs, y, s_last, states, cache, workspace, stream); });
}

HS_API hs_status hs_rnn_workspace_elements(const hs_rnn_inputs* inputs, int32_t pass, const hs_tensor* dwx,
                                           int64_t* elements) {
    return hs::run_entry_point("hs_rnn_workspace_elements",
                               [&] { hs::workspace_elements(inputs, pass, dwx, elements); });
}

HS_API hs_status hs_rnn_backward(const hs_rnn_inputs* inputs, const hs_tensor* states, const hs_tensor* cache,
                                 const hs_tensor* dy, const hs_tensor* ds_last, const hs_tensor* dwx,
                                 const hs_tensor* dR, const hs_tensor* db, const hs_tensor* ds0,
                                 const hs_tensor* workspace, hs_stream stream) {
    return hs::run_entry_point("hs_rnn_backward", [&] {
        hs::backward(inputs, states, cache, dy, ds_last, dwx, dR, db, ds0, workspace, stream);
    });
}

HS_API hs_status hs_rnn_step(const hs_rnn_inputs* inputs, const hs_tensor* state, const hs_tensor* y,
                             const hs_tensor* workspace, hs_stream stream) {
    return hs::run_entry_point("hs_rnn_step", [&] { hs::step(inputs, state, y, workspace, stream); });
}

}  // extern "C"
