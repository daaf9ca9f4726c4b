// The validating shim of the dense projection: registers every argument of hs_linear_* (hybridseq.h) with the op kit
// (api/op_kit.h), turns the views into the plain-pointer params of ops/linear.h and calls the CPU backend, which
// trusts what this file lets through.
#include <cstdint>
#include <string>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/linear.h"

namespace hs {
namespace {

struct LinearSizes {
    int64_t rows = 0, in_features = 0, out_features = 0;  // M, K, N
};

// 'x' (M, K) on the CPU (CUDA is HS_ERR_UNSUPPORTED: libtorch serves it) is the primary of the set.
ArgumentSet make_argument_set(const hs_tensor* x) {
    const hs_tensor& x_tensor = require("x", x);
    check_tensor_header("x", x_tensor);
    if (x_tensor.device_type == HS_DEVICE_CUDA) {
        throw_unsupported(arg("x") + " is on " + device_string(x_tensor.device_type, x_tensor.device_index) +
                          ": hs_linear_* run on the CPU only (on CUDA, libtorch's cuBLAS matmul serves this)");
    }
    return ArgumentSet("x", x, 2, "(M, K)");
}

// 'w' (N, K), agreeing with 'x' in K, dtype and device.
LinearSizes register_weight(ArgumentSet& args, const hs_tensor* w) {
    const hs_tensor& w_tensor = require("w", w);
    check_tensor_header("w", w_tensor);
    if (w_tensor.rank != 2) {
        throw_invalid(arg("w") + " must have rank 2 (N, K), got rank " + std::to_string(w_tensor.rank) +
                      " with shape " + shape_string(w_tensor));
    }
    LinearSizes sizes;
    sizes.rows = args.primary().sizes[0];
    sizes.in_features = args.primary().sizes[1];
    sizes.out_features = w_tensor.sizes[0];
    args.input("w", &w_tensor, {sizes.out_features, sizes.in_features},
               "= (N, K) with K = " + std::to_string(sizes.in_features) + " from 'x'");
    return sizes;
}

// Every output of M*N*K work is non-empty only if two of its dimensions are; the third is then the length of a
// dot product over a real operand, so no kernel loop runs past the memory the caller gave.
void forward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* b, const hs_tensor* y) {
    ArgumentSet args = make_argument_set(x);
    const LinearSizes sizes = register_weight(args, w);
    args.optional_input("b", b, {sizes.out_features}, "= (N,) with N from 'w'");
    args.output("y", y, {sizes.rows, sizes.out_features}, "= (M, N) from 'x' and 'w'");
    args.finish();
    if (args.outputs_empty()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        LinearParams<T> p;
        p.rows = sizes.rows;
        p.in_features = sizes.in_features;
        p.out_features = sizes.out_features;
        p.x = data_of<T>(x);
        p.w = data_of<T>(w);
        p.b = data_of<T>(b);
        p.y = mutable_data_of<T>(y);
        launch(args.primary(), p, &linear_forward_cpu<T>, nullptr, nullptr);
    });
}

void backward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* dy, const hs_tensor* dx, const hs_tensor* dw,
              const hs_tensor* db) {
    ArgumentSet args = make_argument_set(x);
    const LinearSizes sizes = register_weight(args, w);
    args.input("dy", dy, {sizes.rows, sizes.out_features}, "= (M, N) from 'x' and 'w'");
    args.optional_output("dx", dx, {sizes.rows, sizes.in_features}, "like 'x'");
    args.optional_output("dw", dw, {sizes.out_features, sizes.in_features}, "like 'w'");
    args.optional_output("db", db, {sizes.out_features}, "= (N,) with N from 'w'");
    args.finish();
    if (args.outputs_empty()) return;
    dispatch_float(args.dtype(), [&](auto zero) {
        using T = decltype(zero);
        LinearBackwardParams<T> p;
        p.rows = sizes.rows;
        p.in_features = sizes.in_features;
        p.out_features = sizes.out_features;
        p.x = data_of<T>(x);
        p.w = data_of<T>(w);
        p.dy = data_of<T>(dy);
        p.dx = mutable_data_of<T>(dx);
        p.dw = mutable_data_of<T>(dw);
        p.db = mutable_data_of<T>(db);
        launch(args.primary(), p, &linear_backward_cpu<T>, nullptr, nullptr);
    });
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API hs_status hs_linear_forward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* b, const hs_tensor* y,
                                   hs_stream /*stream: CPU only*/) {
    return hs::run_entry_point("hs_linear_forward", [&] { hs::forward(x, w, b, y); });
}

HS_API hs_status hs_linear_backward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* dy,
                                    const hs_tensor* dx, const hs_tensor* dw, const hs_tensor* db,
                                    hs_stream /*stream: CPU only*/) {
    return hs::run_entry_point("hs_linear_backward", [&] { hs::backward(x, w, dy, dx, dw, db); });
}

}  // extern "C"
