// The validating shim of the depthwise causal convolution: registers every argument of hs_depthwise_conv_*
// (hybridseq.h) with the op kit (api/op_kit.h), turns the views into the plain-pointer params of
// ops/depthwise_conv.h and launches the CPU twin or the CUDA launchers. The backends trust what this file lets through.
#include <algorithm>
#include <cstdint>
#include <string>

#include "api/op_kit.h"
#include "api/streaming_conv_checks.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/depthwise_conv.h"

namespace hs {
namespace {

struct ConvSizes {
    int64_t batch = 0, channels = 0, length = 0, width = 0, dilation = 1, state = 0;

    bool has_steps() const { return batch > 0 && channels > 0 && length > 0; }
    StreamingConvShapes shapes() const {
        const Shape sequence{batch, channels, length};
        return {batch, length, sequence, sequence, {channels, width}, {channels}, {batch, channels, state}};
    }
};

const StreamingConvText& conv_text() {
    static const StreamingConvText text{"hs_depthwise_conv_step", "= (Bt, D, (K - 1) * dilation)",
                                        "= (Bt, D, (K - 1) * dilation)", "like 'x'", "like 'x'", "like 'x'"};
    return text;
}

// Registers the inputs (x is the set's primary) and returns the sizes they agree on.
ConvSizes register_inputs(ArgumentSet& args, const hs_depthwise_conv_inputs& inputs, ConvMode mode) {
    const hs_tensor& x = args.primary();
    ConvSizes sizes;
    sizes.batch = x.sizes[0];
    sizes.channels = x.sizes[1];
    sizes.length = x.sizes[2];

    const hs_tensor& weight = require("weight", inputs.weight);
    check_tensor_header("weight", weight);
    if (weight.rank != 2 || weight.sizes[1] < 1) {
        throw_invalid(arg("weight") + " must have shape (D, K) with K >= 1, got shape " + shape_string(weight));
    }
    sizes.width = weight.sizes[1];
    args.input("weight", &weight, {sizes.channels, sizes.width}, "= (D, K) with D from 'x'");
    args.optional_input("bias", inputs.bias, {sizes.channels}, "= (D,) with D from 'x'");

    check_conv_dilation(inputs.dilation);
    sizes.dilation = inputs.dilation;
    sizes.state = conv_state_length(sizes.dilation, sizes.width, sizes.length);
    check_flag("field 'silu' of argument 'inputs'", inputs.silu);

    register_conv_state_inputs(args, mode, inputs.initial_state, inputs.lengths, sizes.shapes(), conv_text());
    // The backends form (b, d, t) offsets into the extended sequence of L + S inputs.
    if (sizes.batch > 0 && sizes.channels > 0) {
        check_extent({{"Bt", sizes.batch}, {"D", sizes.channels}, {"L + S", std::max<int64_t>(sizes.length + sizes.state, 1)},
                      {"K", sizes.width}},
                     "argument 'x' (Bt, D, L), argument 'weight' (K) and field 'dilation' (S = (K - 1) * dilation)");
    }
    return sizes;
}

template <typename T>
DepthwiseConvParams<T> make_params(const ConvSizes& sizes, const hs_depthwise_conv_inputs& inputs) {
    DepthwiseConvParams<T> p;
    p.batch = sizes.batch;
    p.channels = sizes.channels;
    p.length = sizes.length;
    p.width = sizes.width;
    p.dilation = sizes.dilation;
    p.silu = inputs.silu != 0;
    set_conv_input_pointers<T>(p, inputs);
    return p;
}

void forward(const hs_depthwise_conv_inputs* given, const hs_tensor* y, const hs_tensor* final_state,
             hs_stream stream) {
    const hs_depthwise_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    register_conv_forward_outputs(args, y, final_state, sizes.shapes(), conv_text());
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) return write_conv_forward_without_positions(final_state, inputs.initial_state, stream);
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DepthwiseConvParams<T> p = make_params<T>(sizes, inputs);
        p.y = mutable_data_of<T>(y);
        p.final_state = mutable_data_of<T>(final_state);
        launch(args.primary(), p, &depthwise_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(depthwise_conv_forward_cuda),
               stream);
    });
}

void step(const hs_depthwise_conv_inputs* given, const hs_tensor* state, const hs_tensor* y, hs_stream stream) {
    const hs_depthwise_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, T)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Step);
    register_conv_step_outputs(args, state, y, sizes.shapes(), conv_text());
    args.finish();
    // T = 0: no token, the state stays as it is.
    if (args.outputs_empty() || !sizes.has_steps()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DepthwiseConvParams<T> p = make_params<T>(sizes, inputs);
        set_conv_step_pointers<T>(p, state, y);
        launch(args.primary(), p, &depthwise_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(depthwise_conv_forward_cuda),
               stream);
    });
}

int64_t workspace_needed(const ConvSizes& sizes, const hs_tensor& x, bool silu) {
    if (x.device_type != HS_DEVICE_CUDA || !silu || !sizes.has_steps()) return 0;
    return sizes.batch * sizes.channels * sizes.length;  // fits: check_extent covered Bt * D * (L + S) * K * 64
}

constexpr const char* kWorkspaceQuery = "hs_depthwise_conv_workspace_elements(inputs)";

void backward(const hs_depthwise_conv_inputs* given, const hs_tensor* dy, const hs_tensor* d_final_state,
              const hs_depthwise_conv_grads* grads, const hs_tensor* workspace, hs_stream stream) {
    const hs_depthwise_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    const ConvGradients g = register_conv_backward(args, dy, d_final_state, grads, inputs.bias,
                                                   ConvGradientRule::Required, sizes.shapes(), conv_text());
    const hs_tensor* scratch = args.workspace(workspace, workspace_needed(sizes, args.primary(), inputs.silu != 0),
                                              HS_DTYPE_FLOAT32, kWorkspaceQuery);
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) return write_conv_backward_without_positions(g, d_final_state, stream);
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DepthwiseConvBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.dy = data_of<T>(dy);
        p.d_final_state = data_of<T>(d_final_state);
        p.dx = mutable_data_of<T>(g.dx);
        p.dweight = mutable_data_of<T>(g.dweight);
        p.dbias = mutable_data_of<T>(g.dbias);
        p.d_initial_state = mutable_data_of<T>(g.d_initial_state);
        p.workspace = mutable_data_of<float>(scratch);
        launch(args.primary(), p, &depthwise_conv_backward_cpu<T>, HS_CUDA_LAUNCHER(depthwise_conv_backward_cuda),
               stream);
    });
}

void workspace_elements(const hs_depthwise_conv_inputs* given, int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const hs_depthwise_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    args.finish();
    *elements = workspace_needed(sizes, args.primary(), inputs.silu != 0);
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API hs_status hs_depthwise_conv_forward(const hs_depthwise_conv_inputs* inputs, const hs_tensor* y,
                                           const hs_tensor* final_state, hs_stream stream) {
    return hs::run_entry_point("hs_depthwise_conv_forward", [&] { hs::forward(inputs, y, final_state, stream); });
}

HS_API hs_status hs_depthwise_conv_workspace_elements(const hs_depthwise_conv_inputs* inputs, int64_t* elements) {
    return hs::run_entry_point("hs_depthwise_conv_workspace_elements",
                               [&] { hs::workspace_elements(inputs, elements); });
}

HS_API hs_status hs_depthwise_conv_backward(const hs_depthwise_conv_inputs* inputs, const hs_tensor* dy,
                                            const hs_tensor* d_final_state, const hs_depthwise_conv_grads* grads,
                                            const hs_tensor* workspace, hs_stream stream) {
    return hs::run_entry_point("hs_depthwise_conv_backward",
                               [&] { hs::backward(inputs, dy, d_final_state, grads, workspace, stream); });
}

HS_API hs_status hs_depthwise_conv_step(const hs_depthwise_conv_inputs* inputs, const hs_tensor* state,
                                        const hs_tensor* y, hs_stream stream) {
    return hs::run_entry_point("hs_depthwise_conv_step", [&] { hs::step(inputs, state, y, stream); });
}

}  // extern "C"
