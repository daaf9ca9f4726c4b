// The validating shim of the dense dilated causal convolution: registers every argument of hs_dilated_conv_*
// (hybridseq.h) with the op kit (api/op_kit.h), turns the views into the plain-pointer params of ops/dilated_conv.h
// and launches the CPU twin or the CUDA launchers. The backends trust what this file lets through.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/dilated_conv.h"

namespace hs {
namespace {

enum class ConvMode { Full, Step };

struct ConvSizes {
    int64_t batch = 0, in_channels = 0, out_channels = 0, width = 0, dilation = 1, length = 0;

    int64_t state_length() const { return (width - 1) * dilation; }
    Shape input() const { return {batch, in_channels, length}; }
    Shape output() const { return {batch, out_channels, length}; }
    Shape state() const { return {batch, in_channels, state_length()}; }
};

const hs_dilated_conv_inputs& require_inputs(const hs_dilated_conv_inputs* inputs) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    return *inputs;
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
    if (inputs.dilation < 1) {
        throw_invalid("field 'dilation' of argument 'inputs' must be >= 1, got " + std::to_string(inputs.dilation));
    }
    sizes.dilation = inputs.dilation;
    // S = (K-1)*dilation must be a size like any other (the state's last dimension).
    check_extent({{"K", sizes.width}, {"dilation", sizes.dilation}},
                 "field 'dilation' of argument 'inputs' and the width K of argument 'weight'");
    // S + L is the padded length the backends index; x bounds it only when Bt and C_in are >= 1 (an x with no
    // elements may have L up to INT64_MAX), so it is checked on its own.
    if (sizes.state_length() > std::numeric_limits<int64_t>::max() - sizes.length) {
        throw_invalid("field 'dilation' of argument 'inputs' is " + std::to_string(sizes.dilation) +
                      ": the state length (K - 1) * dilation + L with K = " + std::to_string(sizes.width) +
                      " from 'weight' does not fit in int64");
    }
    args.optional_input("bias", inputs.bias, {sizes.out_channels}, "= (C_out,) with C_out from 'weight'");
    if (mode == ConvMode::Step) {
        if (inputs.initial_state != nullptr) {
            throw_invalid(arg("initial_state") + " must be NULL for hs_dilated_conv_step (the 'state' argument is "
                                                 "the initial state), got a tensor");
        }
        if (inputs.lengths != nullptr) {
            throw_invalid(arg("lengths") + " must be NULL for hs_dilated_conv_step, got a tensor");
        }
    } else {
        args.optional_input("initial_state", inputs.initial_state, sizes.state(),
                            "= (Bt, C_in, (K-1)*dilation) with K from 'weight'");
        args.lengths(inputs.lengths, sizes.batch, sizes.length, "L of 'x'");
    }
    // The backends form (b, c, t) offsets over the padded length S + L and multiply C_out by C_in by K.
    check_extent({{"Bt", std::max<int64_t>(sizes.batch, 1)},
                  {"C", std::max<int64_t>(std::max(sizes.in_channels, sizes.out_channels), 1)},
                  {"S + L", std::max<int64_t>(sizes.state_length() + sizes.length, 1)}},
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
    p.x = data_of<T>(inputs.x);
    p.weight = data_of<T>(inputs.weight);
    p.bias = data_of<T>(inputs.bias);
    p.initial_state = data_of<T>(inputs.initial_state);
    p.lengths = data_of<int64_t>(inputs.lengths);
    return p;
}

void forward(const hs_dilated_conv_inputs* given, const hs_tensor* y, const hs_tensor* final_state,
             hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    args.output("y", y, sizes.output(), "= (Bt, C_out, L) from 'x' and 'weight'");
    args.optional_output("final_state", final_state, sizes.state(), "= (Bt, C_in, (K-1)*dilation)");
    args.finish();
    if (args.outputs_empty()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvParams<T> p = make_params<T>(sizes, inputs);
        p.y = mutable_data_of<T>(y);
        p.final_state = mutable_data_of<T>(final_state);
        launch(args.primary(), p, &dilated_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(dilated_conv_forward_cuda), stream);
    });
}

void step(const hs_dilated_conv_inputs* given, const hs_tensor* state, const hs_tensor* y, hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, T)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Step);
    args.in_place("state", state, sizes.state(), "= (Bt, C_in, (K-1)*dilation)");
    args.output("y", y, sizes.output(), "= (Bt, C_out, T) from 'x' and 'weight'");
    args.finish();
    if (args.outputs_empty()) return;
    // The step is the full forward of T tokens from the state, whose final state overwrites that state (the
    // backends read what y needs of it first: ops/dilated_conv.h).
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvParams<T> p = make_params<T>(sizes, inputs);
        p.initial_state = data_of<T>(state);
        p.final_state = mutable_data_of<T>(state);
        p.y = mutable_data_of<T>(y);
        launch(args.primary(), p, &dilated_conv_forward_cpu<T>, HS_CUDA_LAUNCHER(dilated_conv_forward_cuda), stream);
    });
}

void backward(const hs_dilated_conv_inputs* given, const hs_tensor* dy, const hs_tensor* d_final_state,
              const hs_dilated_conv_grads* grads, hs_stream stream) {
    const hs_dilated_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, C_in, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    args.input("dy", dy, sizes.output(), "= (Bt, C_out, L) like 'y'");
    args.optional_input("d_final_state", d_final_state, sizes.state(), "= (Bt, C_in, (K-1)*dilation)");
    if (grads == nullptr) throw_invalid(arg("grads") + " must not be NULL");
    args.optional_output("grads->dx", grads->dx, sizes.input(), "like 'x'");
    args.optional_output("grads->dweight", grads->dweight, {sizes.out_channels, sizes.in_channels, sizes.width},
                         "like 'weight'");
    if (inputs.bias == nullptr && grads->dbias != nullptr) {
        throw_invalid(arg("grads->dbias") + " must be NULL because 'bias' was not given, got a tensor");
    }
    args.optional_output("grads->dbias", grads->dbias, {sizes.out_channels}, "like 'bias'");
    args.optional_output("grads->d_initial_state", grads->d_initial_state, sizes.state(),
                         "= (Bt, C_in, (K-1)*dilation)");
    args.finish();
    if (args.outputs_empty()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DilatedConvBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.dy = data_of<T>(dy);
        p.d_final_state = data_of<T>(d_final_state);
        p.dx = mutable_data_of<T>(grads->dx);
        p.dweight = mutable_data_of<T>(grads->dweight);
        p.dbias = mutable_data_of<T>(grads->dbias);
        p.d_initial_state = mutable_data_of<T>(grads->d_initial_state);
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
