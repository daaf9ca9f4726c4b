// The validating shim of the selective scan: registers every argument of hs_selective_scan_* (hybridseq.h) with the
// op kit (api/op_kit.h), turns the views into the plain-pointer params of ops/selective_scan.h and launches the CPU
// twin or the CUDA launchers. The backends trust what this file lets through.
#include <algorithm>
#include <string>
#include <vector>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/selective_scan.h"

namespace hs {
namespace {

// The full scan sees (.., L) tensors; the single step the same tensors without their time axis.
enum class ScanMode { Full, Step };

// Sizes the inputs agreed on.
struct ScanSizes {
    ScanMode mode = ScanMode::Full;
    int64_t batch = 0, dim = 0, groups = 1, dstate = 0;
    int64_t seqlen = 0;  // 1 for the step
    bool b_varying = false, c_varying = false;

    // (Bt, Dm, L), or (Bt, Dm) for the step.
    Shape sequence() const { return mode == ScanMode::Full ? Shape{batch, dim, seqlen} : Shape{batch, dim}; }
    // (Bt, G, N, L), or (Bt, G, N) for the step.
    Shape varying() const {
        return mode == ScanMode::Full ? Shape{batch, groups, dstate, seqlen} : Shape{batch, groups, dstate};
    }
    Shape state() const { return {batch, dim, dstate}; }
    Shape checkpoints() const { return {batch, dim, hs_selective_scan_num_chunks(seqlen), dstate}; }
    // Some (b, d, t) recurrence step exists; without one no kernel runs (the outputs are h0, zeros or empty).
    bool has_steps() const { return batch > 0 && dim > 0 && seqlen > 0; }
};

const hs_selective_scan_inputs& require_inputs(const hs_selective_scan_inputs* inputs) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    return *inputs;
}

// B or C: constant (Dm, N) or time-varying (Bt, G, N, L) / (Bt, G, N) for the step. Returns whether it varies.
bool register_b_or_c(ArgumentSet& args, ScanSizes& sizes, const char* name, const hs_tensor* given,
                     const char* other_varying) {
    const hs_tensor& tensor = require(name, given);
    check_tensor_header(name, tensor);
    const int32_t varying_rank = sizes.mode == ScanMode::Full ? 4 : 3;
    const char* varying_text = sizes.mode == ScanMode::Full ? "(Bt, G, N, L)" : "(Bt, G, N)";
    if (tensor.rank == 2) {
        args.input(name, &tensor, {sizes.dim, sizes.dstate}, "= (Dm, N) like 'A'");
        return false;
    }
    if (tensor.rank != varying_rank) {
        throw_invalid(arg(name) + " must have rank 2 (Dm, N) or " + std::to_string(varying_rank) + " " +
                      varying_text + ", got rank " + std::to_string(tensor.rank) + " with shape " +
                      shape_string(tensor));
    }
    if (other_varying != nullptr) {
        // Both B and C vary: they must share G.
        args.input(name, &tensor, sizes.varying(), std::string("like '") + other_varying + "'");
        return true;
    }
    const int64_t groups = tensor.sizes[1];
    if (groups < 1 || sizes.dim % groups != 0) {
        throw_invalid(arg(name) + " has G = " + std::to_string(groups) + " groups (dimension 1 of " +
                      shape_string(tensor) + "), which must be >= 1 and divide the Dm = " +
                      std::to_string(sizes.dim) + " channels of 'u'");
    }
    sizes.groups = groups;
    args.input(name, &tensor, sizes.varying(), std::string("= ") + varying_text);
    return true;
}

// Registers the inputs (u is the set's primary) and returns the sizes they agree on.
ScanSizes register_inputs(ArgumentSet& args, const hs_selective_scan_inputs& inputs, ScanMode mode) {
    const hs_tensor& u = args.primary();
    ScanSizes sizes;
    sizes.mode = mode;
    sizes.batch = u.sizes[0];
    sizes.dim = u.sizes[1];
    sizes.seqlen = mode == ScanMode::Full ? u.sizes[2] : 1;

    args.input("delta", inputs.delta, sizes.sequence(), "like 'u'");
    const hs_tensor& A = require("A", inputs.A);
    check_tensor_header("A", A);
    if (A.rank != 2) {
        throw_invalid(arg("A") + " must have rank 2 (Dm, N), got rank " + std::to_string(A.rank) + " with shape " +
                      shape_string(A));
    }
    sizes.dstate = A.sizes[1];
    args.input("A", &A, {sizes.dim, sizes.dstate}, "= (Dm, N) with Dm from 'u'");
    sizes.b_varying = register_b_or_c(args, sizes, "B", inputs.B, nullptr);
    sizes.c_varying = register_b_or_c(args, sizes, "C", inputs.C, sizes.b_varying ? "B" : nullptr);
    args.optional_input("D", inputs.D, {sizes.dim}, "= (Dm,)");
    args.optional_input("delta_bias", inputs.delta_bias, {sizes.dim}, "= (Dm,)");
    args.optional_input("z", inputs.z, sizes.sequence(), "like 'u'");

    if (mode == ScanMode::Step) {
        if (inputs.h0 != nullptr) {
            throw_invalid(arg("h0") + " must be NULL for hs_selective_scan_step (the 'state' argument is the "
                                      "initial state), got a tensor");
        }
        if (inputs.lengths != nullptr) {
            throw_invalid(arg("lengths") + " must be NULL for hs_selective_scan_step, got a tensor");
        }
    } else {
        args.optional_input("h0", inputs.h0, sizes.state(), "= (Bt, Dm, N)");
        args.lengths(inputs.lengths, sizes.batch, sizes.seqlen, "L of 'u'");
    }
    check_flag("field 'delta_softplus' of argument 'inputs'", inputs.delta_softplus);
    // The backends form (b, d, n, t) offsets and the CUDA workspace is a small multiple of Bt*Dm*N*L.
    if (sizes.has_steps()) {
        check_extent({{"Bt", sizes.batch}, {"Dm", sizes.dim}, {"N", std::max<int64_t>(sizes.dstate, 1)},
                      {"L", sizes.seqlen}},
                     "argument 'u' (Bt, Dm, L) and argument 'A' (N)");
    }
    return sizes;
}

template <typename T>
SelectiveScanParams<T> make_params(const ScanSizes& sizes, const hs_selective_scan_inputs& inputs) {
    SelectiveScanParams<T> p;
    p.batch = sizes.batch;
    p.dim = sizes.dim;
    p.groups = sizes.groups;
    p.dstate = sizes.dstate;
    p.seqlen = sizes.seqlen;
    p.b_varying = sizes.b_varying;
    p.c_varying = sizes.c_varying;
    p.delta_softplus = inputs.delta_softplus != 0;
    p.u = data_of<T>(inputs.u);
    p.delta = data_of<T>(inputs.delta);
    p.A = data_of<T>(inputs.A);
    p.B = data_of<T>(inputs.B);
    p.C = data_of<T>(inputs.C);
    p.D = data_of<T>(inputs.D);
    p.z = data_of<T>(inputs.z);
    p.delta_bias = data_of<T>(inputs.delta_bias);
    p.h0 = data_of<T>(inputs.h0);
    p.lengths = data_of<int64_t>(inputs.lengths);
    return p;
}

void forward(const hs_selective_scan_inputs* given, const hs_tensor* out, const hs_tensor* h_last,
             const hs_tensor* checkpoints, hs_stream stream) {
    const hs_selective_scan_inputs& inputs = require_inputs(given);
    ArgumentSet args("u", inputs.u, 3, "(Bt, Dm, L)");
    const ScanSizes sizes = register_inputs(args, inputs, ScanMode::Full);
    args.output("out", out, sizes.sequence(), "like 'u'");
    args.optional_output("h_last", h_last, sizes.state(), "= (Bt, Dm, N)");
    args.optional_output("checkpoints", checkpoints, sizes.checkpoints(),
                         "= (Bt, Dm, hs_selective_scan_num_chunks(L), N)");
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // out is empty; the state never moves from h0 (or 0). checkpoints is non-empty only for L = 0, where it is
        // the one chunk (Bt, Dm, 1, N) holding h0.
        copy_output(h_last, inputs.h0, stream);
        copy_output(checkpoints, inputs.h0, stream);
        return;
    }
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        SelectiveScanParams<T> p = make_params<T>(sizes, inputs);
        p.out = mutable_data_of<T>(out);
        p.h_last = mutable_data_of<T>(h_last);
        p.checkpoints = mutable_data_of<T>(checkpoints);
        launch(args.primary(), p, &selective_scan_forward_cpu<T>, HS_CUDA_LAUNCHER(selective_scan_forward_cuda),
               stream);
    });
}

void step(const hs_selective_scan_inputs* given, const hs_tensor* state, const hs_tensor* out, hs_stream stream) {
    const hs_selective_scan_inputs& inputs = require_inputs(given);
    ArgumentSet args("u", inputs.u, 2, "(Bt, Dm)");
    const ScanSizes sizes = register_inputs(args, inputs, ScanMode::Step);
    args.in_place("state", state, sizes.state(), "= (Bt, Dm, N)");
    args.output("out", out, sizes.sequence(), "like 'u'");
    args.finish();
    // With Bt or Dm = 0 both outputs are empty, so past this point the step has work.
    if (args.outputs_empty()) return;
    // A step is one column of the full scan: the (Bt, Dm) and (Bt, G, N) views are the L = 1 layouts, and the
    // state buffer is read as h0 and overwritten as h_last (the backends support that aliasing).
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        SelectiveScanParams<T> p = make_params<T>(sizes, inputs);
        p.h0 = data_of<T>(state);
        p.h_last = mutable_data_of<T>(state);
        p.out = mutable_data_of<T>(out);
        launch(args.primary(), p, &selective_scan_forward_cpu<T>, HS_CUDA_LAUNCHER(selective_scan_forward_cuda),
               stream);
    });
}

// A gradient that exists exactly when its input does, with the input's shape.
const hs_tensor* register_gradient(ArgumentSet& args, const char* grad_name, const hs_tensor* grad,
                                   const char* input_name, const hs_tensor* input) {
    if (input == nullptr) {
        if (grad != nullptr) {
            throw_invalid(arg(grad_name) + " must be NULL because '" + input_name + "' was not given, got a tensor");
        }
        return nullptr;
    }
    if (grad == nullptr) {
        throw_invalid(arg(grad_name) + " is required because '" + input_name + "' was given, got NULL");
    }
    return &args.output(grad_name, grad, Shape(input->sizes, input->sizes + input->rank),
                        std::string("like '") + input_name + "'");
}

// What hs_selective_scan_backward needs for these (registered) sizes: CUDA's deterministic reductions only.
int64_t workspace_needed(const ScanSizes& sizes, const hs_tensor& u, bool deterministic) {
    if (u.device_type != HS_DEVICE_CUDA || !sizes.has_steps()) return 0;
#if defined(HYBRIDSEQ_WITH_CUDA)
    return selective_scan_workspace_elements_cuda(sizes.batch, sizes.dim, sizes.groups, sizes.dstate, sizes.seqlen,
                                                  sizes.b_varying, sizes.c_varying, deterministic);
#else
    (void)deterministic;
    throw Error(HS_ERR_INTERNAL, "a CUDA 'u' reached a build without CUDA");
#endif
}

constexpr const char* kWorkspaceQuery = "hs_selective_scan_workspace_elements(inputs, deterministic)";

void backward(const hs_selective_scan_inputs* given, const hs_tensor* checkpoints, const hs_tensor* dout,
              const hs_tensor* dh_last, const hs_selective_scan_grads* grads, int32_t deterministic,
              const hs_tensor* workspace, hs_stream stream) {
    const hs_selective_scan_inputs& inputs = require_inputs(given);
    ArgumentSet args("u", inputs.u, 3, "(Bt, Dm, L)");
    const ScanSizes sizes = register_inputs(args, inputs, ScanMode::Full);
    args.input("checkpoints", checkpoints, sizes.checkpoints(), "= (Bt, Dm, hs_selective_scan_num_chunks(L), N)");
    args.input("dout", dout, sizes.sequence(), "like 'u'");
    args.optional_input("dh_last", dh_last, sizes.state(), "= (Bt, Dm, N)");
    if (grads == nullptr) throw_invalid(arg("grads") + " must not be NULL");
    register_gradient(args, "grads->du", grads->du, "u", inputs.u);
    register_gradient(args, "grads->ddelta", grads->ddelta, "delta", inputs.delta);
    register_gradient(args, "grads->dA", grads->dA, "A", inputs.A);
    register_gradient(args, "grads->dB", grads->dB, "B", inputs.B);
    register_gradient(args, "grads->dC", grads->dC, "C", inputs.C);
    register_gradient(args, "grads->dD", grads->dD, "D", inputs.D);
    register_gradient(args, "grads->dz", grads->dz, "z", inputs.z);
    register_gradient(args, "grads->ddelta_bias", grads->ddelta_bias, "delta_bias", inputs.delta_bias);
    args.optional_output("grads->dh0", grads->dh0, sizes.state(), "= (Bt, Dm, N)");
    check_flag(arg("deterministic"), deterministic);
    const hs_tensor* scratch = args.workspace(
        workspace, workspace_needed(sizes, args.primary(), deterministic != 0), HS_DTYPE_FLOAT32, kWorkspaceQuery);
    args.finish();
    if (args.outputs_empty()) return;
    if (!sizes.has_steps()) {
        // No step: every input gradient is zero (du, ddelta and dz are empty) and the state gradient passes
        // straight through, dh0 = dh_last (or 0).
        for (const hs_tensor* zero : {grads->dA, grads->dB, grads->dC, grads->dD, grads->ddelta_bias}) {
            zero_output(zero, stream);
        }
        copy_output(grads->dh0, dh_last, stream);
        return;
    }
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        SelectiveScanBackwardParams<T> p;
        p.fwd = make_params<T>(sizes, inputs);
        p.checkpoints = data_of<T>(checkpoints);
        p.dout = data_of<T>(dout);
        p.dh_last = data_of<T>(dh_last);
        p.du = mutable_data_of<T>(grads->du);
        p.ddelta = mutable_data_of<T>(grads->ddelta);
        p.dA = mutable_data_of<T>(grads->dA);
        p.dB = mutable_data_of<T>(grads->dB);
        p.dC = mutable_data_of<T>(grads->dC);
        p.dD = mutable_data_of<T>(grads->dD);
        p.dz = mutable_data_of<T>(grads->dz);
        p.ddelta_bias = mutable_data_of<T>(grads->ddelta_bias);
        p.dh0 = mutable_data_of<T>(grads->dh0);
        p.deterministic = deterministic != 0;
        p.workspace = mutable_data_of<float>(scratch);
        p.workspace_elements = scratch != nullptr ? scratch->sizes[0] : 0;
        launch(args.primary(), p, &selective_scan_backward_cpu<T>, HS_CUDA_LAUNCHER(selective_scan_backward_cuda),
               stream);
    });
}

void workspace_elements(const hs_selective_scan_inputs* given, int32_t deterministic, int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const hs_selective_scan_inputs& inputs = require_inputs(given);
    ArgumentSet args("u", inputs.u, 3, "(Bt, Dm, L)");
    const ScanSizes sizes = register_inputs(args, inputs, ScanMode::Full);
    check_flag(arg("deterministic"), deterministic);
    args.finish();
    *elements = workspace_needed(sizes, args.primary(), deterministic != 0);
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API int64_t hs_selective_scan_num_chunks(int64_t seqlen) {
    if (seqlen <= 0) return 1;
    // Division first: seqlen + CHUNK - 1 would overflow for seqlen near INT64_MAX.
    return seqlen / HS_SELECTIVE_SCAN_CHUNK + (seqlen % HS_SELECTIVE_SCAN_CHUNK != 0 ? 1 : 0);
}

HS_API hs_status hs_selective_scan_forward(const hs_selective_scan_inputs* inputs, const hs_tensor* out,
                                           const hs_tensor* h_last, const hs_tensor* checkpoints, hs_stream stream) {
    return hs::run_entry_point("hs_selective_scan_forward",
                               [&] { hs::forward(inputs, out, h_last, checkpoints, stream); });
}

HS_API hs_status hs_selective_scan_workspace_elements(const hs_selective_scan_inputs* inputs, int32_t deterministic,
                                                      int64_t* elements) {
    return hs::run_entry_point("hs_selective_scan_workspace_elements",
                               [&] { hs::workspace_elements(inputs, deterministic, elements); });
}

HS_API hs_status hs_selective_scan_backward(const hs_selective_scan_inputs* inputs, const hs_tensor* checkpoints,
                                            const hs_tensor* dout, const hs_tensor* dh_last,
                                            const hs_selective_scan_grads* grads, int32_t deterministic,
                                            const hs_tensor* workspace, hs_stream stream) {
    return hs::run_entry_point("hs_selective_scan_backward", [&] {
        hs::backward(inputs, checkpoints, dout, dh_last, grads, deterministic, workspace, stream);
    });
}

HS_API hs_status hs_selective_scan_step(const hs_selective_scan_inputs* inputs, const hs_tensor* state,
                                        const hs_tensor* out, hs_stream stream) {
    return hs::run_entry_point("hs_selective_scan_step", [&] { hs::step(inputs, state, out, stream); });
}

}  // extern "C"
