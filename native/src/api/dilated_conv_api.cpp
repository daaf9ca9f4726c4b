// The validating shim of the dense dilated causal convolution: registers every argument of hs_dilated_conv_*
// (hybridseq.h) with the op kit (api/op_kit.h), turns the views into the plain-pointer params of ops/dilated_conv.h
// and launches the CPU twin or the CUDA launchers. The backends trust what this file lets through.
#include <algorithm>
#include <cstdint>
#include <string>

#include "api/op_kit.h"
#include "api/streaming_conv_checks.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/dilated_conv.h"

namespace hs {
namespace {

struct ConvSizes {
    int64_t batch = 0, in_channels = 0, out_channels = 0, width = 0, dilation = 1, length = 0, state = 0;

    // Some (b, t) has an output. C_in = 0 still has some (y is the bias there), so only Bt and L count.
    bool has_positions() const { return batch > 0 && length > 0; }

    StreamingConvShapes shapes() const {
        return {batch,
                length,
                {batch, in_channels, length},
                {batch, out_channels, length},
                {out_channels, in_channels, width},
                {out_channels},
                {batch, in_channels, state}};
    }
};

const StreamingConvText& conv_text() {
    static const StreamingConvText text{"hs_dilated_conv_step",
                                        "= (Bt, C_in, (K-1)*dilation) with K from 'weight'",
                                        "= (Bt, C_in, (K-1)*dilation)",
                                        "= (Bt, C_out, L) from 'x' and 'weight'",
                                        "= (Bt, C_out, T) from 'x' and 'weight'",
                                        "= (Bt, C_out, L) like 'y'"};
    return text;
}

// Registers the inputs ('x' is the set's primary) and returns the sizes they agree on.
ConvSizes register_inputs(ArgumentSet& args, const hs_dilated_conv_inputs& inputs, ConvMode mode) {
    const hs_tensor& x = args.primary();
    ConvSizes sizes;
    sizes.batch = x.sizes[0];
    sizes.in_channels = x.sizes[1];
    sizes.length = x.sizes[2];

    const hs_tensor& weight = require("weight", inputs.weight);
    check_tensor_header("weight", weight);
    if (weight.rank != 3) {
        throw_invalid(arg("weight") + " must have rank 3 (C_out, C_in, K), got rank " + std::to_string(weight.rank) +
                      " with shape " + shape_string(weight));
    }
    if (weight.sizes[2] < 1) {
        throw_invalid(arg("weight") + " must have a width K >= 1 (dimension 2 of (C_out, C_in, K)), got shape " +
                      shape_string(weight));
    }
    sizes.out_channels = weight.sizes[0];
    sizes.width = weight.sizes[2];
    args.input("weight", &weight, {sizes.out_channels, sizes.in_channels, sizes.width},
               "= (C_out, C_in, K) with C_in = " + std::to_string(sizes.in_channels) + " from 'x'");
    check_conv_dilation(inputs.dilation);
    sizes.dilation = inputs.dilation;
    // S = (K-1)*dilation must be a size like any other (the state's last dimension).
    check_extent({{"K", sizes.width}, {"dilation", sizes.dilation}},
                 "field 'dilation' of argument 'inputs' and the width K of argument 'weight'");
    sizes.state = conv_state_length(sizes.dilation, sizes.width, sizes.length);
    args.optional_input("bias", inputs.bias, {sizes.out_channels}, "= (C_out,) with C_out from 'weight'");
    register_conv_state_inputs(args, mode, inputs.initial_state, inputs.lengths, sizes.shapes(), conv_text());
    // The backends form (b, c, t) offsets over the padded length S + L and multiply C_out by C_in by K.
    check_extent({{"Bt", std::max<int64_t>(sizes.batch, 1)},
                  {"C", std::max<int64_t>(std::max(sizes.in_channels, sizes.out_channels), 1)},
                  {"S + L", std::max<int64_t>(sizes.state + sizes.length, 1)}},
                 "argument 'x' (Bt, C_in, L), argument 'weight' (C_out) and the state length (K-1)*dilation");
    check_extent({{"C_out", std::max<int64_t>(sizes.out_channels, 1)},
                  {"C_in", std::max<int64_t>(sizes.in_channels, 1)},
                  {"K", sizes.width}},
                 "argument 'weight' (C_out, C_in, K)");
    return sizes;
}

template <typename T>
DilatedConvParams<T> make_params(const ConvSizes& sizes, const hs_dilated_conv_inputs& inputs) {
    DilatedConvParams<T> p;
    p.batch = sizes.batch;
    p.in_channels = sizes.in_channels;
    p.out_channels = sizes.out_channels;
    p.width = sizes.width;
    p.dilation = sizes.dilation;
    p.length = sizes.length;
    set_conv_input_pointers<T>(p, inputs);
    return p;
}

void forward(const hs_dilated_conv_inputs* given, const hs_tensor* y, const hs_tensor* final_state,
             hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    register_conv_forward_outputs(args, y, final_state, sizes.shapes(), conv_text());
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_positions()) return write_conv_forward_without_positions(final_state, inputs.initial_state, stream);
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvParams<T> p = make_params<T>(sizes, inputs);
        p.y = mutable_data_of<T>(y);
        p.final_state = mutable_data_of<T>(final_state);
        launch(args.primary(), p, &dilated_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(dilated_conv_forward_cuda), stream);
    });
}

void step(const hs_dilated_conv_inputs* given, const hs_tensor* state, const hs_tensor* y, hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, T)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Step);
    register_conv_step_outputs(args, state, y, sizes.shapes(), conv_text());
    args.finish();
    // T = 0: no token, the state stays as it is.
    if (args.outputs_empty() || !sizes.has_positions()) return;
    // The step is the full forward of T tokens from the state, whose final state overwrites that state (the
    // backends read what y needs of it first: ops/dilated_conv.h).
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvParams<T> p = make_params<T>(sizes, inputs);
        set_conv_step_pointers<T>(p, state, y);
        launch(args.primary(), p, &dilated_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(dilated_conv_forward_cuda), stream);
    });
}

void backward(const hs_dilated_conv_inputs* given, const hs_tensor* dy, const hs_tensor* d_final_state,
              const hs_dilated_conv_grads* grads, hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_conv_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    const ConvGradients g = register_conv_backward(args, dy, d_final_state, grads, inputs.bias,
                                                   ConvGradientRule::Optional, sizes.shapes(), conv_text());
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_positions()) return write_conv_backward_without_positions(g, d_final_state, stream);
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.dy = data_of<T>(dy);
        p.d_final_state = data_of<T>(d_final_state);
        p.dx = mutable_data_of<T>(g.dx);
        p.dweight = mutable_data_of<T>(g.dweight);
        p.dbias = mutable_data_of<T>(g.dbias);
        p.d_initial_state = mutable_data_of<T>(g.d_initial_state);
        launch(args.primary(), p, &dilated_conv_backward_cpu<T>, HS_CUDA_LAUNCHER(dilated_conv_backward_cuda),
               stream);
    });
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API hs_status hs_dilated_conv_forward(const hs_dilated_conv_inputs* inputs, const hs_tensor* y,
                                         const hs_tensor* final_state, hs_stream stream) {
    return hs::run_entry_point("hs_dilated_conv_forward", [&] { hs::forward(inputs, y, final_state, stream); });
}

HS_API hs_status hs_dilated_conv_backward(const hs_dilated_conv_inputs* inputs, const hs_tensor* dy,
                                          const hs_tensor* d_final_state, const hs_dilated_conv_grads* grads,
                                          hs_stream stream) {
    return hs::run_entry_point("hs_dilated_conv_backward",
                               [&] { hs::backward(inputs, dy, d_final_state, grads, stream); });
}

HS_API hs_status hs_dilated_conv_step(const hs_dilated_conv_inputs* inputs, const hs_tensor* state,
                                      const hs_tensor* y, hs_stream stream) {
    return hs::run_entry_point("hs_dilated_conv_step", [&] { hs::step(inputs, state, y, stream); });
}

}  // extern "C"
