// The validating shim of the selective scan: checks every argument of hs_selective_scan_* (hybridseq.h), turns
// the views into the plain-pointer params of ops/selective_scan.h and dispatches to the CPU twin or the CUDA
// launchers. The backends trust what this file lets through.
#include <string>
#include <type_traits>
#include <vector>

#include "api/tensor_checks.h"
#include "common/cuda_device_guard.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/selective_scan.h"

namespace hs {
namespace {

// The full scan sees (.., L) tensors; the single step the same tensors without their time axis.
enum class ScanMode { Full, Step };

// Sizes, dtype and device the inputs agreed on.
struct ScanLayout {
    ScanMode mode = ScanMode::Full;
    int64_t batch = 0;
    int64_t dim = 0;
    int64_t groups = 1;
    int64_t dstate = 0;
    int64_t seqlen = 0;  // 1 for the step
    bool b_varying = false;
    bool c_varying = false;
    int32_t dtype = HS_DTYPE_FLOAT32;
    const hs_tensor* u = nullptr;  // the reference for dtype and device

    bool on_cuda() const { return u->device_type == HS_DEVICE_CUDA; }

    // (Bt, Dm, L), or (Bt, Dm) for the step.
    std::vector<int64_t> sequence_shape() const {
        return mode == ScanMode::Full ? std::vector<int64_t>{batch, dim, seqlen} : std::vector<int64_t>{batch, dim};
    }
    // (Bt, G, N, L), or (Bt, G, N) for the step.
    std::vector<int64_t> varying_shape() const {
        return mode == ScanMode::Full ? std::vector<int64_t>{batch, groups, dstate, seqlen}
                                      : std::vector<int64_t>{batch, groups, dstate};
    }
    std::vector<int64_t> state_shape() const { return {batch, dim, dstate}; }
    std::vector<int64_t> checkpoints_shape() const {
        return {batch, dim, hs_selective_scan_num_chunks(seqlen), dstate};
    }
};


// A float tensor that must agree with 'u' in dtype and device and have `shape`.
void check_float(const ScanLayout& layout, const char* name, const hs_tensor& tensor,
                 const std::vector<int64_t>& shape, const std::string& meaning) {
    check_float_like(name, tensor, shape, meaning, *layout.u, "u");
}

void check_optional_float(const ScanLayout& layout, const char* name, const hs_tensor* tensor,
                          const std::vector<int64_t>& shape, const std::string& meaning) {
    if (tensor != nullptr) check_float(layout, name, *tensor, shape, meaning);
}

// 'u' decides dtype and device; those must be served by this build and backend.
void check_u(const hs_tensor& u, ScanMode mode) {
    const bool full = mode == ScanMode::Full;
    check_primary_float("u", u, full ? 3 : 2, full ? "(Bt, Dm, L)" : "(Bt, Dm)");
}

// B or C: constant (Dm, N) or time-varying (Bt, G, N, L) / (Bt, G, N) for the step. Returns whether it varies.
bool check_b_or_c(ScanLayout& layout, const char* name, const hs_tensor& tensor, const char* other_varying) {
    check_tensor_header(name, tensor);
    const int32_t varying_rank = layout.mode == ScanMode::Full ? 4 : 3;
    const char* varying_text = layout.mode == ScanMode::Full ? "(Bt, G, N, L)" : "(Bt, G, N)";
    if (tensor.rank == 2) {
        check_float(layout, name, tensor, {layout.dim, layout.dstate}, "= (Dm, N) like 'A'");
        return false;
    }
    if (tensor.rank != varying_rank) {
        throw_invalid(arg(name) + " must have rank 2 (Dm, N) or " + std::to_string(varying_rank) + " " +
                      varying_text + ", got rank " + std::to_string(tensor.rank) + " with shape " +
                      shape_string(tensor));
    }
    const int64_t groups = tensor.sizes[1];
    if (other_varying != nullptr) {
        // Both B and C vary: they must share G.
        std::vector<int64_t> shape = layout.varying_shape();
        check_float(layout, name, tensor, shape, std::string("like '") + other_varying + "'");
        return true;
    }
    if (groups < 1 || layout.dim % groups != 0) {
        throw_invalid(arg(name) + " has G = " + std::to_string(groups) + " groups (dimension 1 of " +
                      shape_string(tensor) + "), which must be >= 1 and divide the Dm = " +
                      std::to_string(layout.dim) + " channels of 'u'");
    }
    layout.groups = groups;
    check_float(layout, name, tensor, layout.varying_shape(), std::string("= ") + varying_text);
    return true;
}

ScanLayout check_inputs(const hs_selective_scan_inputs* inputs, ScanMode mode) {
    if (inputs == nullptr) throw_invalid(arg("inputs") + " must not be NULL");
    ScanLayout layout;
    layout.mode = mode;
    const hs_tensor& u = require("u", inputs->u);
    check_u(u, mode);
    layout.u = &u;
    layout.dtype = u.dtype;
    layout.batch = u.sizes[0];
    layout.dim = u.sizes[1];
    layout.seqlen = mode == ScanMode::Full ? u.sizes[2] : 1;

    check_float(layout, "delta", require("delta", inputs->delta), layout.sequence_shape(), "like 'u'");

    const hs_tensor& A = require("A", inputs->A);
    check_tensor_header("A", A);
    if (A.rank != 2) {
        throw_invalid(arg("A") + " must have rank 2 (Dm, N), got rank " + std::to_string(A.rank) + " with shape " +
                      shape_string(A));
    }
    layout.dstate = A.sizes[1];
    check_float(layout, "A", A, {layout.dim, layout.dstate}, "= (Dm, N) with Dm from 'u'");

    layout.b_varying = check_b_or_c(layout, "B", require("B", inputs->B), nullptr);
    layout.c_varying = check_b_or_c(layout, "C", require("C", inputs->C), layout.b_varying ? "B" : nullptr);

    check_optional_float(layout, "D", inputs->D, {layout.dim}, "= (Dm,)");
    check_optional_float(layout, "delta_bias", inputs->delta_bias, {layout.dim}, "= (Dm,)");
    check_optional_float(layout, "z", inputs->z, layout.sequence_shape(), "like 'u'");

    if (mode == ScanMode::Step) {
        if (inputs->h0 != nullptr) {
            throw_invalid(arg("h0") + " must be NULL for hs_selective_scan_step (the 'state' argument is the "
                                      "initial state), got a tensor");
        }
        if (inputs->lengths != nullptr) {
            throw_invalid(arg("lengths") + " must be NULL for hs_selective_scan_step, got a tensor");
        }
    } else {
        check_optional_float(layout, "h0", inputs->h0, layout.state_shape(), "= (Bt, Dm, N)");
        check_lengths(inputs->lengths, layout.batch, layout.seqlen, "L of 'u'", u, "u");
    }
    if (inputs->delta_softplus != 0 && inputs->delta_softplus != 1) {
        throw_invalid("field 'delta_softplus' of argument 'inputs' must be 0 or 1, got " +
                      std::to_string(inputs->delta_softplus));
    }
    return layout;
}

template <typename T>
SelectiveScanParams<T> make_params(const ScanLayout& layout, const hs_selective_scan_inputs& inputs) {
    SelectiveScanParams<T> p;
    p.batch = layout.batch;
    p.dim = layout.dim;
    p.groups = layout.groups;
    p.dstate = layout.dstate;
    p.seqlen = layout.seqlen;
    p.b_varying = layout.b_varying;
    p.c_varying = layout.c_varying;
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

template <typename T>
void run_forward(const SelectiveScanParams<T>& p, const ScanLayout& layout, hs_stream stream) {
    if (layout.on_cuda()) {
#if defined(HYBRIDSEQ_WITH_CUDA)
        if constexpr (std::is_same_v<T, float>) {
            CurrentDeviceGuard device(layout.u->device_index);
            selective_scan_forward_cuda(p, stream);
            return;
        }
#endif
        throw Error(HS_ERR_INTERNAL, "CUDA dispatch reached for a dtype or build that validation rejects");
    }
    (void)stream;
    selective_scan_forward_cpu(p);
}

void forward(const hs_selective_scan_inputs* inputs, const hs_tensor* out, const hs_tensor* h_last,
             const hs_tensor* checkpoints, hs_stream stream) {
    const ScanLayout layout = check_inputs(inputs, ScanMode::Full);
    check_float(layout, "out", require("out", out), layout.sequence_shape(), "like 'u'");
    check_optional_float(layout, "h_last", h_last, layout.state_shape(), "= (Bt, Dm, N)");
    check_optional_float(layout, "checkpoints", checkpoints, layout.checkpoints_shape(),
                         "= (Bt, Dm, hs_selective_scan_num_chunks(L), N)");
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        SelectiveScanParams<float> p = make_params<float>(layout, *inputs);
        p.out = mutable_data_of<float>(out);
        p.h_last = mutable_data_of<float>(h_last);
        p.checkpoints = mutable_data_of<float>(checkpoints);
        run_forward(p, layout, stream);
    } else {
        SelectiveScanParams<double> p = make_params<double>(layout, *inputs);
        p.out = mutable_data_of<double>(out);
        p.h_last = mutable_data_of<double>(h_last);
        p.checkpoints = mutable_data_of<double>(checkpoints);
        run_forward(p, layout, stream);
    }
}

void step(const hs_selective_scan_inputs* inputs, const hs_tensor* state, const hs_tensor* out, hs_stream stream) {
    const ScanLayout layout = check_inputs(inputs, ScanMode::Step);
    check_float(layout, "state", require("state", state), layout.state_shape(), "= (Bt, Dm, N)");
    check_float(layout, "out", require("out", out), layout.sequence_shape(), "like 'u'");
    // A step is one column of the full scan: the (Bt, Dm) and (Bt, G, N) views are the L = 1 layouts, and the
    // state buffer is read as h0 and overwritten as h_last (the backends support that aliasing).
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        SelectiveScanParams<float> p = make_params<float>(layout, *inputs);
        p.h0 = data_of<float>(state);
        p.h_last = mutable_data_of<float>(state);
        p.out = mutable_data_of<float>(out);
        run_forward(p, layout, stream);
    } else {
        SelectiveScanParams<double> p = make_params<double>(layout, *inputs);
        p.h0 = data_of<double>(state);
        p.h_last = mutable_data_of<double>(state);
        p.out = mutable_data_of<double>(out);
        run_forward(p, layout, stream);
    }
}

// A gradient that exists exactly when its input does, with the input's shape.
void check_gradient_like(const ScanLayout& layout, const char* grad_name, const hs_tensor* grad,
                         const char* input_name, const hs_tensor* input) {
    if (input == nullptr) {
        if (grad != nullptr) {
            throw_invalid(arg(grad_name) + " must be NULL because '" + input_name + "' was not given, got a tensor");
        }
        return;
    }
    if (grad == nullptr) {
        throw_invalid(arg(grad_name) + " is required because '" + input_name + "' was given, got NULL");
    }
    check_float(layout, grad_name, *grad, std::vector<int64_t>(input->sizes, input->sizes + input->rank),
                std::string("like '") + input_name + "'");
}

int64_t cuda_workspace_elements(const ScanLayout& layout, bool deterministic) {
#if defined(HYBRIDSEQ_WITH_CUDA)
    return selective_scan_workspace_elements_cuda(layout.batch, layout.dim, layout.groups, layout.dstate,
                                                  layout.seqlen, layout.b_varying, layout.c_varying, deterministic);
#else
    (void)layout;
    (void)deterministic;
    throw_unsupported("CUDA workspace requested from a HybridSeq library built without CUDA");
#endif
}

template <typename T>
SelectiveScanBackwardParams<T> make_backward_params(const ScanLayout& layout, const hs_selective_scan_inputs& inputs,
                                                    const hs_tensor& checkpoints, const hs_tensor& dout,
                                                    const hs_tensor* dh_last, const hs_selective_scan_grads& grads,
                                                    bool deterministic) {
    SelectiveScanBackwardParams<T> p;
    p.fwd = make_params<T>(layout, inputs);
    p.checkpoints = data_of<T>(&checkpoints);
    p.dout = data_of<T>(&dout);
    p.dh_last = data_of<T>(dh_last);
    p.du = mutable_data_of<T>(grads.du);
    p.ddelta = mutable_data_of<T>(grads.ddelta);
    p.dA = mutable_data_of<T>(grads.dA);
    p.dB = mutable_data_of<T>(grads.dB);
    p.dC = mutable_data_of<T>(grads.dC);
    p.dD = mutable_data_of<T>(grads.dD);
    p.dz = mutable_data_of<T>(grads.dz);
    p.ddelta_bias = mutable_data_of<T>(grads.ddelta_bias);
    p.dh0 = mutable_data_of<T>(grads.dh0);
    p.deterministic = deterministic;
    return p;
}

void backward(const hs_selective_scan_inputs* inputs, const hs_tensor* checkpoints, const hs_tensor* dout,
              const hs_tensor* dh_last, const hs_selective_scan_grads* grads, int32_t deterministic,
              const hs_tensor* workspace, hs_stream stream) {
    const ScanLayout layout = check_inputs(inputs, ScanMode::Full);
    const hs_tensor& saved = require("checkpoints", checkpoints);
    check_float(layout, "checkpoints", saved, layout.checkpoints_shape(),
                "= (Bt, Dm, hs_selective_scan_num_chunks(L), N)");
    const hs_tensor& dout_tensor = require("dout", dout);
    check_float(layout, "dout", dout_tensor, layout.sequence_shape(), "like 'u'");
    check_optional_float(layout, "dh_last", dh_last, layout.state_shape(), "= (Bt, Dm, N)");
    if (grads == nullptr) throw_invalid(arg("grads") + " must not be NULL");
    check_gradient_like(layout, "grads->du", grads->du, "u", inputs->u);
    check_gradient_like(layout, "grads->ddelta", grads->ddelta, "delta", inputs->delta);
    check_gradient_like(layout, "grads->dA", grads->dA, "A", inputs->A);
    check_gradient_like(layout, "grads->dB", grads->dB, "B", inputs->B);
    check_gradient_like(layout, "grads->dC", grads->dC, "C", inputs->C);
    check_gradient_like(layout, "grads->dD", grads->dD, "D", inputs->D);
    check_gradient_like(layout, "grads->dz", grads->dz, "z", inputs->z);
    check_gradient_like(layout, "grads->ddelta_bias", grads->ddelta_bias, "delta_bias", inputs->delta_bias);
    check_optional_float(layout, "grads->dh0", grads->dh0, layout.state_shape(), "= (Bt, Dm, N)");
    if (deterministic != 0 && deterministic != 1) {
        throw_invalid(arg("deterministic") + " must be 0 or 1, got " + std::to_string(deterministic));
    }

    if (layout.dtype == HS_DTYPE_FLOAT64) {
        // float64 only exists on the CPU (check_u), whose backward needs no workspace.
        SelectiveScanBackwardParams<double> p =
            make_backward_params<double>(layout, *inputs, saved, dout_tensor, dh_last, *grads, deterministic != 0);
        selective_scan_backward_cpu(p);
        return;
    }
    SelectiveScanBackwardParams<float> p =
        make_backward_params<float>(layout, *inputs, saved, dout_tensor, dh_last, *grads, deterministic != 0);
    if (!layout.on_cuda()) {
        (void)workspace;
        (void)stream;
        selective_scan_backward_cpu(p);
        return;
    }
    const int64_t needed = cuda_workspace_elements(layout, deterministic != 0);
    if (needed > 0) {
        const hs_tensor& ws = require("workspace", workspace);
        check_tensor_header("workspace", ws);
        if (ws.rank != 1 || ws.sizes[0] < needed) {
            throw_invalid(arg("workspace") + " must be 1-D with at least " + std::to_string(needed) +
                          " elements (hs_selective_scan_workspace_elements for these sizes), got shape " +
                          shape_string(ws));
        }
        check_dtype("workspace", ws, HS_DTYPE_FLOAT32, "");
        check_same_device("workspace", ws, *layout.u, "u");
        check_contiguous("workspace", ws);
        p.workspace = static_cast<float*>(ws.data);
        p.workspace_elements = ws.sizes[0];
    }
#if defined(HYBRIDSEQ_WITH_CUDA)
    CurrentDeviceGuard device(layout.u->device_index);
    selective_scan_backward_cuda(p, stream);
#endif
}

void workspace_elements(int32_t device_type, int64_t batch, int64_t dim, int64_t groups, int64_t dstate,
                        int64_t seqlen, int32_t b_varying, int32_t c_varying, int32_t deterministic,
                        int64_t* elements) {
    if (elements == nullptr) throw_invalid(arg("elements") + " must not be NULL");
    const struct {
        const char* name;
        int64_t value;
    } sizes[] = {{"batch", batch}, {"dim", dim}, {"dstate", dstate}, {"seqlen", seqlen}};
    for (const auto& size : sizes) {
        if (size.value < 0) throw_invalid(arg(size.name) + " must be >= 0, got " + std::to_string(size.value));
    }
    if (groups < 1 || dim % groups != 0) {
        throw_invalid(arg("groups") + " must be >= 1 and divide dim = " + std::to_string(dim) + ", got " +
                      std::to_string(groups));
    }
    const struct {
        const char* name;
        int32_t value;
    } flags[] = {{"b_varying", b_varying}, {"c_varying", c_varying}, {"deterministic", deterministic}};
    for (const auto& flag : flags) {
        if (flag.value != 0 && flag.value != 1) {
            throw_invalid(arg(flag.name) + " must be 0 or 1, got " + std::to_string(flag.value));
        }
    }
    if (device_type == HS_DEVICE_CPU) {
        *elements = 0;
        return;
    }
    if (device_type != HS_DEVICE_CUDA) {
        throw_invalid(arg("device_type") + " must be HS_DEVICE_CPU (0) or HS_DEVICE_CUDA (1), got " +
                      std::to_string(device_type));
    }
    ScanLayout layout;
    layout.batch = batch;
    layout.dim = dim;
    layout.groups = groups;
    layout.dstate = dstate;
    layout.seqlen = seqlen;
    layout.b_varying = b_varying != 0;
    layout.c_varying = c_varying != 0;
    *elements = cuda_workspace_elements(layout, deterministic != 0);
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API int64_t hs_selective_scan_num_chunks(int64_t seqlen) {
    if (seqlen <= 0) return 1;
    return (seqlen + HS_SELECTIVE_SCAN_CHUNK - 1) / HS_SELECTIVE_SCAN_CHUNK;
}

HS_API hs_status hs_selective_scan_forward(const hs_selective_scan_inputs* inputs, const hs_tensor* out,
                                           const hs_tensor* h_last, const hs_tensor* checkpoints, hs_stream stream) {
    return hs::run_entry_point("hs_selective_scan_forward",
                               [&] { hs::forward(inputs, out, h_last, checkpoints, stream); });
}

HS_API hs_status hs_selective_scan_workspace_elements(int32_t device_type, int64_t batch, int64_t dim,
                                                      int64_t groups, int64_t dstate, int64_t seqlen,
                                                      int32_t b_varying, int32_t c_varying, int32_t deterministic,
                                                      int64_t* elements) {
    return hs::run_entry_point("hs_selective_scan_workspace_elements", [&] {
        hs::workspace_elements(device_type, batch, dim, groups, dstate, seqlen, b_varying, c_varying, deterministic,
                               elements);
    });
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
