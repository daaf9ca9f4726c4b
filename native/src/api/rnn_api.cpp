// The validating shim of the fused recurrence: checks every argument of hs_rnn_* (hybridseq.h), turns the views into
// the plain-pointer params of ops/rnn.h and dispatches to the CPU twin or the CUDA launchers. The backends trust what
// this file lets through.
#include <string>
#include <type_traits>
#include <vector>

#include "api/tensor_checks.h"
#include "common/cuda_device_guard.h"
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

void check_flag(const char* what, int32_t value) {
    if (value != 0 && value != 1) throw_invalid(std::string(what) + " must be 0 or 1, got " + std::to_string(value));
}

// The full forward / backward see (T, Bt, ...) sequences; the step the same without the time axis.
enum class RnnMode { Full, Step };

// What the inputs agreed on.
struct RnnLayout {
    RnnMode mode = RnnMode::Full;
    RnnCell cell = RnnCell::Lstm;
    RnnCellShape shape{};
    int64_t steps = 0, batch = 0, heads = 0, head_dim = 0, hidden = 0;
    int32_t dtype = HS_DTYPE_FLOAT32;
    const hs_tensor* wx = nullptr;      // the reference for sizes, dtype and device: 'wx', or 'dwx' in a backward
    const char* wx_name = "wx";         //   without 'wx'

    bool on_cuda() const { return wx->device_type == HS_DEVICE_CUDA; }
    std::string cell_text() const {
        return std::string(cell_name(cell)) + " (G = " + std::to_string(shape.gates) +
               ", S = " + std::to_string(shape.states) + ")";
    }
    // (T, Bt, width) or (Bt, width) for the step.
    std::vector<int64_t> sequence(int64_t width) const {
        return mode == RnnMode::Full ? std::vector<int64_t>{steps, batch, width} : std::vector<int64_t>{batch, width};
    }
    std::vector<int64_t> state_shape() const { return {shape.states, batch, hidden}; }
    std::vector<int64_t> states_shape() const { return {steps + 1, shape.states, batch, hidden}; }
    std::vector<int64_t> cache_shape() const { return {steps, batch, shape.cache_gates * hidden}; }
    std::vector<int64_t> weights_shape() const { return {heads, shape.gates * head_dim, head_dim}; }
};

// A float tensor that must agree with 'wx' (or its stand-in) in dtype and device and have `shape`.
void check_float(const RnnLayout& layout, const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                 const std::string& meaning) {
    check_float_like(name, tensor, shape, meaning, *layout.wx, layout.wx_name);
}

void check_optional_float(const RnnLayout& layout, const char* name, const hs_tensor* tensor,
                          const std::vector<int64_t>& shape, const std::string& meaning) {
    if (tensor != nullptr) check_float(layout, name, *tensor, shape, meaning);
}

// 'wx' decides dtype and device; those must be served by this build and backend.
void check_wx(const char* name, const hs_tensor& wx, RnnMode mode) {
    const bool full = mode == RnnMode::Full;
    check_primary_float(name, wx, full ? 3 : 2, full ? "(T, Bt, G*H)" : "(Bt, G*H)");
}

// `wx_stand_in` (the backward's 'dwx', same shape) replaces a NULL inputs->wx; without it 'wx' is required.
RnnLayout check_inputs(const hs_rnn_inputs* inputs, RnnMode mode, const hs_tensor* wx_stand_in = nullptr,
                       const char* stand_in_name = nullptr) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    RnnLayout layout;
    layout.mode = mode;
    layout.cell = checked_cell(inputs->cell, "field 'cell' of argument 'inputs'");
    layout.shape = rnn_cell_shape(layout.cell);
    check_flag("field 'reverse' of argument 'inputs'", inputs->reverse);
    check_flag("field 'allow_tf32' of argument 'inputs'", inputs->allow_tf32);

    if (inputs->wx == nullptr && wx_stand_in != nullptr) layout.wx_name = stand_in_name;
    const hs_tensor& wx = inputs->wx != nullptr ? *inputs->wx : require(layout.wx_name, wx_stand_in);
    check_wx(layout.wx_name, wx, mode);
    layout.wx = &wx;
    layout.dtype = wx.dtype;
    layout.steps = mode == RnnMode::Full ? wx.sizes[0] : 1;
    layout.batch = wx.sizes[wx.rank - 2];
    const int64_t gate_width = wx.sizes[wx.rank - 1];
    const int64_t G = layout.shape.gates;
    if (gate_width % G != 0) {
        throw_invalid(arg(layout.wx_name) + " must have a last dimension G*H with G = " + std::to_string(G) +
                      " gates of " +
                      layout.cell_text() + ", got " + std::to_string(gate_width) + " (shape " + shape_string(wx) +
                      "), which is not a multiple of " + std::to_string(G));
    }
    layout.hidden = gate_width / G;

    const hs_tensor& R = require("R", inputs->R);
    check_tensor_header("R", R);
    if (R.rank != 3) {
        throw_invalid(arg("R") + " must have rank 3 (NH, G*DH, DH), got rank " + std::to_string(R.rank) +
                      " with shape " + shape_string(R));
    }
    layout.heads = R.sizes[0];
    layout.head_dim = R.sizes[2];
    if (layout.heads < 1 || layout.head_dim < 1) {
        throw_invalid(arg("R") + " must have NH >= 1 heads of DH >= 1 units (shape (NH, G*DH, DH)), got shape " +
                      shape_string(R));
    }
    if (layout.heads * layout.head_dim != layout.hidden) {
        throw_invalid(arg("R") + " has shape " + shape_string(R) + ", i.e. NH = " + std::to_string(layout.heads) +
                      " heads of DH = " + std::to_string(layout.head_dim) + " units (H = NH*DH = " +
                      std::to_string(layout.heads * layout.head_dim) + "), but '" + layout.wx_name + "' has G*H = " +
                      std::to_string(gate_width) + " with G = " + std::to_string(G) + ", i.e. H = " +
                      std::to_string(layout.hidden));
    }
    check_float(layout, "R", R, layout.weights_shape(), "= (NH, G*DH, DH) with G = " + std::to_string(G));
    check_float(layout, "b", require("b", inputs->b), {G * layout.hidden}, "= (G*H,)");

    if (mode == RnnMode::Step) {
        if (inputs->s0 != nullptr) {
            throw_invalid(arg("s0") + " must be NULL for hs_rnn_step (the 'state' argument is the initial state), "
                                      "got a tensor");
        }
        if (inputs->lengths != nullptr) throw_invalid(arg("lengths") + " must be NULL for hs_rnn_step, got a tensor");
        return layout;
    }
    check_optional_float(layout, "s0", inputs->s0, layout.state_shape(), "= (S, Bt, H)");
    check_lengths(inputs->lengths, layout.batch, layout.steps, ("T of '" + std::string(layout.wx_name) + "'").c_str(),
                  wx, layout.wx_name);
    return layout;
}

template <typename T>
RnnParams<T> make_params(const RnnLayout& layout, const hs_rnn_inputs& inputs) {
    RnnParams<T> p;
    p.cell = layout.cell;
    p.reverse = layout.mode == RnnMode::Full && inputs.reverse != 0;
    p.allow_tf32 = inputs.allow_tf32 != 0;
    p.steps = layout.steps;
    p.batch = layout.batch;
    p.heads = layout.heads;
    p.head_dim = layout.head_dim;
    p.hidden = layout.hidden;
    p.wx = data_of<T>(inputs.wx);
    p.R = data_of<T>(inputs.R);
    p.b = data_of<T>(inputs.b);
    p.s0 = data_of<T>(inputs.s0);
    p.lengths = data_of<int64_t>(inputs.lengths);
    return p;
}

int64_t workspace_elements_for(int32_t device_type, RnnPass pass, RnnCell cell, int64_t steps, int64_t batch,
                               int64_t hidden, int64_t heads) {
    if (device_type == HS_DEVICE_CPU) return rnn_workspace_elements_cpu(pass, cell, steps, batch, hidden, heads);
#if defined(HYBRIDSEQ_WITH_CUDA)
    return rnn_workspace_elements_cuda(pass, cell, steps, batch, hidden, heads);
#else
    throw_unsupported("CUDA workspace requested from a HybridSeq library built without CUDA");
#endif
}

// The caller's scratch for one pass, checked against what the backend needs for these sizes.
struct CheckedWorkspace {
    void* data = nullptr;   // null when nothing is needed
    int64_t elements = 0;
};

// NULL is accepted only when nothing is needed; a tensor that is given is always checked, so that a wrong one fails
// the same way on every backend and size.
CheckedWorkspace check_workspace(const RnnLayout& layout, RnnPass pass, const hs_tensor* workspace) {
    const int64_t needed = workspace_elements_for(layout.wx->device_type, pass, layout.cell, layout.steps,
                                                  layout.batch, layout.hidden, layout.heads);
    const char* query = pass == RnnPass::Forward ? "hs_rnn_workspace_elements with backward = 0"
                                                 : "hs_rnn_workspace_elements with backward = 1";
    if (workspace == nullptr) {
        if (needed == 0) return {};
        throw_invalid(arg("workspace") + " is required: these sizes need " + std::to_string(needed) +
                      " elements of scratch (" + query + "), got NULL");
    }
    const hs_tensor& ws = *workspace;
    check_tensor_header("workspace", ws);
    if (ws.rank != 1 || ws.sizes[0] < needed) {
        throw_invalid(arg("workspace") + " must be 1-D with at least " + std::to_string(needed) + " elements (" +
                      query + " for these sizes), got shape " + shape_string(ws));
    }
    check_dtype("workspace", ws, layout.dtype, "like '" + std::string(layout.wx_name) + "'");
    check_same_device("workspace", ws, *layout.wx, layout.wx_name);
    check_contiguous("workspace", ws);
    return {ws.data, ws.sizes[0]};
}

template <typename T>
void set_workspace(RnnParams<T>& p, const CheckedWorkspace& workspace) {
    p.workspace = static_cast<T*>(workspace.data);
    p.workspace_elements = workspace.elements;
}

template <typename T>
void run_forward(const RnnParams<T>& p, const RnnLayout& layout, hs_stream stream) {
    if (layout.on_cuda()) {
#if defined(HYBRIDSEQ_WITH_CUDA)
        if constexpr (std::is_same_v<T, float>) {
            CurrentDeviceGuard device(layout.wx->device_index);
            rnn_forward_cuda(p, stream);
            return;
        }
#endif
        throw Error(HS_ERR_INTERNAL, "CUDA dispatch reached for a dtype or build that validation rejects");
    }
    (void)stream;
    rnn_forward_cpu(p);
}

template <typename T>
void forward_typed(const RnnLayout& layout, const hs_rnn_inputs& inputs, const hs_tensor* y, const hs_tensor* s_last,
                   const hs_tensor* states, const hs_tensor* cache, const CheckedWorkspace& workspace,
                   hs_stream stream) {
    RnnParams<T> p = make_params<T>(layout, inputs);
    p.y = mutable_data_of<T>(y);
    p.s_last = mutable_data_of<T>(s_last);
    p.states = mutable_data_of<T>(states);
    p.cache = mutable_data_of<T>(cache);
    set_workspace(p, workspace);
    run_forward(p, layout, stream);
}

void forward(const hs_rnn_inputs* inputs, const hs_tensor* y, const hs_tensor* s_last, const hs_tensor* states,
             const hs_tensor* cache, const hs_tensor* workspace, hs_stream stream) {
    const RnnLayout layout = check_inputs(inputs, RnnMode::Full);
    check_float(layout, "y", require("y", y), layout.sequence(layout.hidden), "= (T, Bt, H)");
    check_optional_float(layout, "s_last", s_last, layout.state_shape(), "= (S, Bt, H)");
    check_optional_float(layout, "states", states, layout.states_shape(), "= (T+1, S, Bt, H)");
    check_optional_float(layout, "cache", cache, layout.cache_shape(),
                         "= (T, Bt, C*H) with C = " + std::to_string(layout.shape.cache_gates));
    const CheckedWorkspace scratch = check_workspace(layout, RnnPass::Forward, workspace);
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        forward_typed<float>(layout, *inputs, y, s_last, states, cache, scratch, stream);
    } else {
        forward_typed<double>(layout, *inputs, y, s_last, states, cache, scratch, stream);
    }
}

// One step of the full forward: the (Bt, ...) views are the T = 1 layouts, and the state buffer is read as s0 and
// overwritten as s_last (the backends support that aliasing).
template <typename T>
void step_typed(const RnnLayout& layout, const hs_rnn_inputs& inputs, const hs_tensor& state, const hs_tensor& y,
                const CheckedWorkspace& workspace, hs_stream stream) {
    RnnParams<T> p = make_params<T>(layout, inputs);
    p.s0 = data_of<T>(&state);
    p.s_last = mutable_data_of<T>(&state);
    p.y = mutable_data_of<T>(&y);
    set_workspace(p, workspace);
    run_forward(p, layout, stream);
}

void step(const hs_rnn_inputs* inputs, const hs_tensor* state, const hs_tensor* y, const hs_tensor* workspace,
          hs_stream stream) {
    const RnnLayout layout = check_inputs(inputs, RnnMode::Step);
    const hs_tensor& state_tensor = require("state", state);
    check_float(layout, "state", state_tensor, layout.state_shape(), "= (S, Bt, H)");
    const hs_tensor& y_tensor = require("y", y);
    check_float(layout, "y", y_tensor, layout.sequence(layout.hidden), "= (Bt, H)");
    const CheckedWorkspace scratch = check_workspace(layout, RnnPass::Forward, workspace);
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        step_typed<float>(layout, *inputs, state_tensor, y_tensor, scratch, stream);
    } else {
        step_typed<double>(layout, *inputs, state_tensor, y_tensor, scratch, stream);
    }
}

template <typename T>
void backward_typed(const RnnLayout& layout, const hs_rnn_inputs& inputs, const hs_tensor& states,
                    const hs_tensor& cache, const hs_tensor& dy, const hs_tensor* ds_last, const hs_tensor& dwx,
                    const hs_tensor& dR, const hs_tensor& db, const hs_tensor* ds0, T* workspace,
                    int64_t workspace_elements, hs_stream stream) {
    RnnBackwardParams<T> p;
    p.fwd = make_params<T>(layout, inputs);
    p.states = data_of<T>(&states);
    p.cache = data_of<T>(&cache);
    p.dy = data_of<T>(&dy);
    p.ds_last = data_of<T>(ds_last);
    p.dwx = mutable_data_of<T>(&dwx);
    p.dR = mutable_data_of<T>(&dR);
    p.db = mutable_data_of<T>(&db);
    p.ds0 = mutable_data_of<T>(ds0);
    p.workspace = workspace;
    p.workspace_elements = workspace_elements;
    if (layout.on_cuda()) {
#if defined(HYBRIDSEQ_WITH_CUDA)
        if constexpr (std::is_same_v<T, float>) {
            CurrentDeviceGuard device(layout.wx->device_index);
            rnn_backward_cuda(p, stream);
            return;
        }
#endif
        throw Error(HS_ERR_INTERNAL, "CUDA dispatch reached for a dtype or build that validation rejects");
    }
    (void)stream;
    rnn_backward_cpu(p);
}

void backward(const hs_rnn_inputs* inputs, const hs_tensor* states, const hs_tensor* cache, const hs_tensor* dy,
              const hs_tensor* ds_last, const hs_tensor* dwx, const hs_tensor* dR, const hs_tensor* db,
              const hs_tensor* ds0, const hs_tensor* workspace, hs_stream stream) {
    // The backward never reads wx's data: without it, its sizes come from 'dwx' (same shape).
    const RnnLayout layout = check_inputs(inputs, RnnMode::Full, dwx, "dwx");
    const hs_tensor& saved_states = require("states", states);
    check_float(layout, "states", saved_states, layout.states_shape(), "= (T+1, S, Bt, H)");
    const hs_tensor& saved_cache = require("cache", cache);
    check_float(layout, "cache", saved_cache, layout.cache_shape(),
                "= (T, Bt, C*H) with C = " + std::to_string(layout.shape.cache_gates));
    const hs_tensor& dy_tensor = require("dy", dy);
    check_float(layout, "dy", dy_tensor, layout.sequence(layout.hidden), "= (T, Bt, H)");
    check_optional_float(layout, "ds_last", ds_last, layout.state_shape(), "= (S, Bt, H)");
    const hs_tensor& dwx_tensor = require("dwx", dwx);
    check_float(layout, "dwx", dwx_tensor, layout.sequence(layout.shape.gates * layout.hidden), "like 'wx'");
    const hs_tensor& dR_tensor = require("dR", dR);
    check_float(layout, "dR", dR_tensor, layout.weights_shape(), "like 'R'");
    const hs_tensor& db_tensor = require("db", db);
    check_float(layout, "db", db_tensor, {layout.shape.gates * layout.hidden}, "like 'b'");
    check_optional_float(layout, "ds0", ds0, layout.state_shape(), "= (S, Bt, H)");

    const CheckedWorkspace scratch = check_workspace(layout, RnnPass::Backward, workspace);
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        backward_typed<float>(layout, *inputs, saved_states, saved_cache, dy_tensor, ds_last, dwx_tensor, dR_tensor,
                              db_tensor, ds0, static_cast<float*>(scratch.data), scratch.elements, stream);
    } else {
        backward_typed<double>(layout, *inputs, saved_states, saved_cache, dy_tensor, ds_last, dwx_tensor, dR_tensor,
                               db_tensor, ds0, static_cast<double*>(scratch.data), scratch.elements, stream);
    }
}

void workspace_elements(int32_t device_type, int32_t cell, int64_t steps, int64_t batch, int64_t hidden,
                        int64_t num_heads, int32_t backward, int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const RnnCell checked = checked_cell(cell, "argument 'cell'");
    if (backward != 0 && backward != 1) {
        throw_invalid(arg("backward") + " must be 0 (forward / step pass) or 1 (backward pass), got " +
                      std::to_string(backward));
    }
    const struct {
        const char* name;
        int64_t value;
    } sizes[] = {{"steps", steps}, {"batch", batch}, {"hidden", hidden}};
    for (const auto& size : sizes) {
        if (size.value < 0) throw_invalid(arg(size.name) + " must be >= 0, got " + std::to_string(size.value));
    }
    if (num_heads < 1 || hidden % num_heads != 0) {
        throw_invalid(arg("num_heads") + " must be >= 1 and divide hidden = " + std::to_string(hidden) + ", got " +
                      std::to_string(num_heads));
    }
    if (device_type != HS_DEVICE_CPU && device_type != HS_DEVICE_CUDA) {
        throw_invalid(arg("device_type") + " must be HS_DEVICE_CPU (0) or HS_DEVICE_CUDA (1), got " +
                      std::to_string(device_type));
    }
    *elements = workspace_elements_for(device_type, static_cast<RnnPass>(backward), checked, steps, batch, hidden,
                                       num_heads);
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

HS_API hs_status hs_rnn_workspace_elements(int32_t device_type, int32_t cell, int64_t steps, int64_t batch,
                                           int64_t hidden, int64_t num_heads, int32_t backward, int64_t* elements) {
    return hs::run_entry_point("hs_rnn_workspace_elements", [&] {
        hs::workspace_elements(device_type, cell, steps, batch, hidden, num_heads, backward, elements);
    });
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
