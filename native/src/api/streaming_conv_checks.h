// The contract that the streaming causal convolutions share (hybridseq.h: hs_depthwise_conv_* and hs_dilated_conv_*),
// checked once for both shims on top of the op kit (api/op_kit.h): 'dilation' and the state length
// S = (K - 1) * dilation, the state tensors (Bt, C_in, S), 'lengths', what a step must leave NULL, the forward's and
// the step's outputs and the backward's gradients. What differs between the ops (the weight's layout, silu, the
// extents their kernels form, the workspace, the no-step shortcuts) stays in their shims; the messages name each
// tensor with the op's own shape text (StreamingConvText), so both read as before.
#pragma once

#include <cstdint>
#include <string>

#include "api/op_kit.h"

namespace hs {

enum class ConvMode { Full, Step };

// How an op describes the contract's tensors in its messages ("meaning" of ArgumentSet).
struct StreamingConvText {
    const char* step_entry;         // the step's entry point, "hs_depthwise_conv_step"
    std::string initial_state;      // 'initial_state' of a full pass
    std::string state;              // every other state tensor: 'final_state', 'state', 'd_final_state', 'grads->d_initial_state'
    std::string output;             // the forward's 'y'
    std::string step_output;        // the step's 'y'
    std::string output_gradient;    // the backward's 'dy'
};

// The shapes the contract fixes once the op has read x (Bt, C_in, L) and its weight.
struct StreamingConvShapes {
    int64_t batch = 0, length = 0;
    Shape input;   // x and dx: (Bt, C_in, L)
    Shape output;  // y and dy: (Bt, C_out, L)
    Shape weight;  // the op's weight layout, for dweight
    Shape bias;    // (C_out), for bias and dbias
    Shape state;   // (Bt, C_in, S)
};

// The inputs struct of an entry point: "argument 'inputs' must not be NULL".
template <typename Inputs>
const Inputs& require_conv_inputs(const Inputs* inputs) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    return *inputs;
}

// 'dilation' >= 1 ("field 'dilation' of argument 'inputs' must be >= 1, got ...").
void check_conv_dilation(int64_t dilation);

// S = (K - 1) * dilation, once S and S + L fit in int64 (the padded sequence the backends index). `width` K >= 1
// comes from 'weight', `length` L from 'x'; a call with Bt or C_in = 0 has an x without elements, which bounds no
// size, so L alone may be as large as INT64_MAX.
int64_t conv_state_length(int64_t dilation, int64_t width, int64_t length);

// A full pass: optional 'initial_state' (Bt, C_in, S) and 'lengths' (Bt) in [0, L]; a step: both must be NULL
// (its 'state' argument is the initial state).
void register_conv_state_inputs(ArgumentSet& args, ConvMode mode, const hs_tensor* initial_state,
                                const hs_tensor* lengths, const StreamingConvShapes& shapes,
                                const StreamingConvText& text);

// The forward: 'y' (Bt, C_out, L) required, 'final_state' (Bt, C_in, S) optional.
void register_conv_forward_outputs(ArgumentSet& args, const hs_tensor* y, const hs_tensor* final_state,
                                   const StreamingConvShapes& shapes, const StreamingConvText& text);

// The step: 'state' (Bt, C_in, S) read and overwritten, then 'y' (Bt, C_out, T), both required.
void register_conv_step_outputs(ArgumentSet& args, const hs_tensor* state, const hs_tensor* y,
                                const StreamingConvShapes& shapes, const StreamingConvText& text);

// The backward's gradients, read out of the op's grads struct (which has these four fields).
struct ConvGradients {
    const hs_tensor* dx;
    const hs_tensor* dweight;
    const hs_tensor* dbias;
    const hs_tensor* d_initial_state;
};

// Which gradients the caller must pass. Required (depthwise): dx and dweight, and dbias exactly when 'bias' was
// given. Optional (dense): each may be NULL (skipped); dbias must be NULL when 'bias' was not given.
enum class ConvGradientRule { Required, Optional };

// The backward's tensors in the order the shims always took them: 'dy' (Bt, C_out, L) required, 'd_final_state'
// (Bt, C_in, S) optional, then 'grads' (not NULL) and its gradients by `rule`, d_initial_state always optional.
void register_conv_output_gradients(ArgumentSet& args, const hs_tensor* dy, const hs_tensor* d_final_state,
                                    const StreamingConvShapes& shapes, const StreamingConvText& text);
void register_conv_gradients(ArgumentSet& args, const ConvGradients& grads, const hs_tensor* bias,
                             ConvGradientRule rule, const StreamingConvShapes& shapes, const StreamingConvText& text);

template <typename Grads>
ConvGradients register_conv_backward(ArgumentSet& args, const hs_tensor* dy, const hs_tensor* d_final_state,
                                     const Grads* grads, const hs_tensor* bias, ConvGradientRule rule,
                                     const StreamingConvShapes& shapes, const StreamingConvText& text) {
    register_conv_output_gradients(args, dy, d_final_state, shapes, text);
    if (grads == nullptr) throw_invalid(arg("grads") + " must not be NULL");
    const ConvGradients g{grads->dx, grads->dweight, grads->dbias, grads->d_initial_state};
    register_conv_gradients(args, g, bias, rule, shapes, text);
    return g;
}

// The outputs of a call with no output position (y and dx empty: L = 0, Bt = 0, or for the depthwise op D = 0),
// written here rather than by a kernel, so that a zero extent next to a huge one never loops
// over the huge one. Forward: the final state is the initial state (or zeros). Backward: dweight and dbias are zero,
// d_initial_state is d_final_state (or zeros).
void write_conv_forward_without_positions(const hs_tensor* final_state, const hs_tensor* initial_state,
                                          hs_stream stream);
void write_conv_backward_without_positions(const ConvGradients& grads, const hs_tensor* d_final_state,
                                           hs_stream stream);

// The params of both ops (ops/depthwise_conv.h, ops/dilated_conv.h) take the contract's tensors under the same
// names: the inputs' pointers, and for a step the state as initial state (read) and final state (overwritten).
template <typename T, typename Params, typename Inputs>
void set_conv_input_pointers(Params& p, const Inputs& inputs) {
    p.x = data_of<T>(inputs.x);
    p.weight = data_of<T>(inputs.weight);
    p.bias = data_of<T>(inputs.bias);
    p.initial_state = data_of<T>(inputs.initial_state);
    p.lengths = data_of<int64_t>(inputs.lengths);
}

template <typename T, typename Params>
void set_conv_step_pointers(Params& p, const hs_tensor* state, const hs_tensor* y) {
    p.initial_state = data_of<T>(state);
    p.final_state = mutable_data_of<T>(state);
    p.y = mutable_data_of<T>(y);
}

}  // namespace hs
