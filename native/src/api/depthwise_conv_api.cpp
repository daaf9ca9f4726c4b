// The validating shim of the depthwise causal convolution: registers every argument of hs_depthwise_conv_*
// (hybridseq.h) with the op kit (api/op_kit.h), turns the views into the plain-pointer params of
// ops/depthwise_conv.h and launches the CPU twin or the CUDA launchers. The backends trust what this file lets through.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/depthwise_conv.h"

namespace hs {
namespace {

enum class ConvMode { Full, Step };

struct ConvSizes {
    int64_t batch = 0, channels = 0, length = 0, width = 0, dilation = 1, state = 0;

    Shape sequence() const { return {batch, channels, length}; }
    Shape state_shape() const { return {batch, channels, state}; }
    bool has_steps() const { return batch > 0 && channels > 0 && length > 0; }
};

const hs_depthwise_conv_inputs& require_inputs(const hs_depthwise_conv_inputs* inputs) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    return *inputs;
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

    if (inputs.dilation < 1) {
        throw_invalid("field 'dilation' of argument 'inputs' must be >= 1, got " + std::to_string(inputs.dilation));
    }
    sizes.dilation = inputs.dilation;
    if (!multiply_fits(sizes.width - 1, sizes.dilation, &sizes.state) ||
        sizes.state > std::numeric_limits<int64_t>::max() - sizes.length) {
        throw_invalid("field 'dilation' of argument 'inputs' is " + std::to_string(sizes.dilation) +
                      ": the state length (K - 1) * dilation + L with K = " + std::to_string(sizes.width) +
                      " from 'weight' does not fit in int64");
    }
    check_flag("field 'silu' of argument 'inputs'", inputs.silu);

    if (mode == ConvMode::Step) {
        if (inputs.initial_state != nullptr) {
            throw_invalid(arg("initial_state") + " must be NULL for hs_depthwise_conv_step (the 'state' argument "
                                                 "is the initial state), got a tensor");
        }
        if (inputs.lengths != nullptr) {
            throw_invalid(arg("lengths") + " must be NULL for hs_depthwise_conv_step, got a tensor");
        }
    } else {
        args.optional_input("initial_state", inputs.initial_state, sizes.state_shape(),
                            "= (Bt, D, (K - 1) * dilation)");
        args.lengths(inputs.lengths, sizes.batch, sizes.length, "L of 'x'");
    }
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
    p.x = data_of<T>(inputs.x);
    p.weight = data_of<T>(inputs.weight);
    p.bias = data_of<T>(inputs.bias);
    p.initial_state = data_of<T>(inputs.initial_state);
    p.lengths = data_of<int64_t>(inputs.lengths);
    return p;
}

void forward(const hs_depthwise_conv_inputs* given, const hs_tensor* y, const hs_tensor* final_state,
             hs_stream stream) {
    const hs_depthwise_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    args.output("y", y, sizes.sequence(), "like 'x'");
    args.optional_output("final_state", final_state, sizes.state_shape(), "= (Bt, D, (K - 1) * dilation)");
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // L = 0 (y is empty): the final state is the initial state (or zeros).
        copy_output(final_state, inputs.initial_state, stream);
        return;
    }
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
    const hs_depthwise_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, T)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Step);
    args.in_place("state", state, sizes.state_shape(), "= (Bt, D, (K - 1) * dilation)");
    args.output("y", y, sizes.sequence(), "like 'x'");
    args.finish();
    // T = 0: no token, the state stays as it is.
    if (args.outputs_empty() || !sizes.has_steps()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DepthwiseConvParams<T> p = make_params<T>(sizes, inputs);
        p.initial_state = data_of<T>(state);
        p.final_state = mutable_data_of<T>(state);
        p.y = mutable_data_of<T>(y);
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
    const hs_depthwise_conv_inputs& inputs = require_inputs(given);
    ArgumentSet args("x", inputs.x, 3, "(Bt, D, L)");
    const ConvSizes sizes = register_inputs(args, inputs, ConvMode::Full);
    args.input("dy", dy, sizes.sequence(), "like 'x'");
    args.optional_input("d_final_state", d_final_state, sizes.state_shape(), "= (Bt, D, (K - 1) * dilation)");
    if (grads == nullptr) throw_invalid(arg("grads") + " must not be NULL");
    args.output("grads->dx", grads->dx, sizes.sequence(), "like 'x'");
    args.output("grads->dweight", grads->dweight, {sizes.channels, sizes.width}, "like 'weight'");
    if (inputs.bias == nullptr && grads->dbias != nullptr) {
        throw_invalid(arg("grads->dbias") + " must be NULL because 'bias' was not given, got a tensor");
    }
    if (inputs.bias != nullptr && grads->dbias == nullptr) {
        throw_invalid(arg("grads->dbias") + " is required because 'bias' was given, got NULL");
    }
    args.optional_output("grads->dbias", grads->dbias, {sizes.channels}, "like 'bias'");
    args.optional_output("grads->d_initial_state", grads->d_initial_state, sizes.state_shape(),
                         "= (Bt, D, (K - 1) * dilation)");
    const hs_tensor* scratch = args.workspace(workspace, workspace_needed(sizes, args.primary(), inputs.silu != 0),
                                              HS_DTYPE_FLOAT32, kWorkspaceQuery);
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // No output position: weight and bias get nothing, the state gradient passes through.
        zero_output(grads->dweight, stream);
        zero_output(grads->dbias, stream);
        copy_output(grads->d_initial_state, d_final_state, stream);
        return;
    }
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        DepthwiseConvBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.dy = data_of<T>(dy);
        p.d_final_state = data_of<T>(d_final_state);
        p.dx = mutable_data_of<T>(grads->dx);
        p.dweight = mutable_data_of<T>(grads->dweight);
        p.dbias = mutable_data_of<T>(grads->dbias);
        p.d_initial_state = mutable_data_of<T>(grads->d_initial_state);
        p.workspace = mutable_data_of<float>(scratch);
        launch(args.primary(), p, &depthwise_conv_backward_cpu<T>, HS_CUDA_LAUNCHER(depthwise_conv_backward_cuda),
               stream);
    });
}

void workspace_elements(const hs_depthwise_conv_inputs* given, int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const hs_depthwise_conv_inputs& inputs = require_inputs(given);
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
