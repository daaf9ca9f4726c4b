#include "api/streaming_conv_checks.h"

#include <limits>

#include "common/error.h"

namespace hs {

void check_conv_dilation(int64_t dilation) {
    if (dilation < 1) {
        throw_invalid("field 'dilation' of argument 'inputs' must be >= 1, got " + std::to_string(dilation));
    }
}

int64_t conv_state_length(int64_t dilation, int64_t width, int64_t length) {
    int64_t state = 0;
    if (!multiply_fits(width - 1, dilation, &state) || state > std::numeric_limits<int64_t>::max() - length) {
        throw_invalid("field 'dilation' of argument 'inputs' is " + std::to_string(dilation) +
                      ": the state length (K - 1) * dilation + L with K = " + std::to_string(width) +
                      " from 'weight' does not fit in int64");
    }
    return state;
}

void register_conv_state_inputs(ArgumentSet& args, ConvMode mode, const hs_tensor* initial_state,
                                const hs_tensor* lengths, const StreamingConvShapes& shapes,
                                const StreamingConvText& text) {
    if (mode == ConvMode::Step) {
        if (initial_state != nullptr) {
            throw_invalid(arg("initial_state") + " must be NULL for " + text.step_entry +
                          " (the 'state' argument is the initial state), got a tensor");
        }
        if (lengths != nullptr) {
            throw_invalid(arg("lengths") + " must be NULL for " + text.step_entry + ", got a tensor");
        }
        return;
    }
    args.optional_input("initial_state", initial_state, shapes.state, text.initial_state);
    args.lengths(lengths, shapes.batch, shapes.length, "L of 'x'");
}

void register_conv_forward_outputs(ArgumentSet& args, const hs_tensor* y, const hs_tensor* final_state,
                                   const StreamingConvShapes& shapes, const StreamingConvText& text) {
    args.output("y", y, shapes.output, text.output);
    args.optional_output("final_state", final_state, shapes.state, text.state);
}

void register_conv_step_outputs(ArgumentSet& args, const hs_tensor* state, const hs_tensor* y,
                                const StreamingConvShapes& shapes, const StreamingConvText& text) {
    args.in_place("state", state, shapes.state, text.state);
    args.output("y", y, shapes.output, text.step_output);
}

void register_conv_output_gradients(ArgumentSet& args, const hs_tensor* dy, const hs_tensor* d_final_state,
                                    const StreamingConvShapes& shapes, const StreamingConvText& text) {
    args.input("dy", dy, shapes.output, text.output_gradient);
    args.optional_input("d_final_state", d_final_state, shapes.state, text.state);
}

void register_conv_gradients(ArgumentSet& args, const ConvGradients& grads, const hs_tensor* bias,
                             ConvGradientRule rule, const StreamingConvShapes& shapes, const StreamingConvText& text) {
    if (rule == ConvGradientRule::Required) {
        args.output("grads->dx", grads.dx, shapes.input, "like 'x'");
        args.output("grads->dweight", grads.dweight, shapes.weight, "like 'weight'");
    } else {
        args.optional_output("grads->dx", grads.dx, shapes.input, "like 'x'");
        args.optional_output("grads->dweight", grads.dweight, shapes.weight, "like 'weight'");
    }
    if (bias == nullptr && grads.dbias != nullptr) {
        throw_invalid(arg("grads->dbias") + " must be NULL because 'bias' was not given, got a tensor");
    }
    if (rule == ConvGradientRule::Required && bias != nullptr && grads.dbias == nullptr) {
        throw_invalid(arg("grads->dbias") + " is required because 'bias' was given, got NULL");
    }
    args.optional_output("grads->dbias", grads.dbias, shapes.bias, "like 'bias'");
    args.optional_output("grads->d_initial_state", grads.d_initial_state, shapes.state, text.state);
}

void write_conv_forward_without_positions(const hs_tensor* final_state, const hs_tensor* initial_state,
                                          hs_stream stream) {
    copy_output(final_state, initial_state, stream);
}

void write_conv_backward_without_positions(const ConvGradients& grads, const hs_tensor* d_final_state,
                                           hs_stream stream) {
    zero_output(grads.dweight, stream);
    zero_output(grads.dbias, stream);
    copy_output(grads.d_initial_state, d_final_state, stream);
}

}  // namespace hs
