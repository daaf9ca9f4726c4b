// The validating shim of the dense projection: checks every argument of hs_linear_* (hybridseq.h), turns the views
// into the plain-pointer params of ops/linear.h and calls the CPU backend, which trusts what this file lets through.
#include <cstdint>
#include <string>
#include <vector>

#include "api/tensor_checks.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/linear.h"

namespace hs {
namespace {

struct LinearLayout {
    int64_t rows = 0, in_features = 0, out_features = 0;
    int32_t dtype = HS_DTYPE_FLOAT32;
    const hs_tensor* x = nullptr;  // the reference for dtype and device
};

// 'x' (M, K) and 'w' (N, K): float32 or float64 on the CPU, contiguous, agreeing in K, dtype and device.
LinearLayout check_operands(const hs_tensor* x, const hs_tensor* w) {
    const hs_tensor& x_tensor = require("x", x);
    check_tensor_header("x", x_tensor);
    if (x_tensor.device_type == HS_DEVICE_CUDA) {
        throw_unsupported(arg("x") + " is on " + device_string(x_tensor.device_type, x_tensor.device_index) +
                          ": hs_linear_* run on the CPU only (on CUDA, libtorch's cuBLAS matmul serves this)");
    }
    check_primary_float("x", x_tensor, 2, "(M, K)");
    const hs_tensor& w_tensor = require("w", w);
    check_tensor_header("w", w_tensor);
    if (w_tensor.rank != 2) {
        throw_invalid(arg("w") + " must have rank 2 (N, K), got rank " + std::to_string(w_tensor.rank) +
                      " with shape " + shape_string(w_tensor));
    }
    LinearLayout layout;
    layout.rows = x_tensor.sizes[0];
    layout.in_features = x_tensor.sizes[1];
    layout.out_features = w_tensor.sizes[0];
    layout.dtype = x_tensor.dtype;
    layout.x = &x_tensor;
    check_float_like("w", w_tensor, {layout.out_features, layout.in_features},
                     "= (N, K) with K = " + std::to_string(layout.in_features) + " from 'x'", x_tensor, "x");
    return layout;
}

template <typename T>
void forward_typed(const LinearLayout& layout, const hs_tensor& x, const hs_tensor& w, const hs_tensor* b,
                   const hs_tensor& y) {
    LinearParams<T> p;
    p.rows = layout.rows;
    p.in_features = layout.in_features;
    p.out_features = layout.out_features;
    p.x = data_of<T>(&x);
    p.w = data_of<T>(&w);
    p.b = data_of<T>(b);
    p.y = mutable_data_of<T>(&y);
    linear_forward_cpu(p);
}

void forward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* b, const hs_tensor* y) {
    const LinearLayout layout = check_operands(x, w);
    if (b != nullptr) check_float_like("b", *b, {layout.out_features}, "= (N,) with N from 'w'", *x, "x");
    const hs_tensor& y_tensor = require("y", y);
    check_float_like("y", y_tensor, {layout.rows, layout.out_features}, "= (M, N) from 'x' and 'w'", *x, "x");
    check_no_overlap("y", y_tensor, "x", *x);
    check_no_overlap("y", y_tensor, "w", *w);
    if (b != nullptr) check_no_overlap("y", y_tensor, "b", *b);
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        forward_typed<float>(layout, *x, *w, b, y_tensor);
    } else {
        forward_typed<double>(layout, *x, *w, b, y_tensor);
    }
}

template <typename T>
void backward_typed(const LinearLayout& layout, const hs_tensor& x, const hs_tensor& w, const hs_tensor& dy,
                    const hs_tensor* dx, const hs_tensor* dw, const hs_tensor* db) {
    LinearBackwardParams<T> p;
    p.rows = layout.rows;
    p.in_features = layout.in_features;
    p.out_features = layout.out_features;
    p.x = data_of<T>(&x);
    p.w = data_of<T>(&w);
    p.dy = data_of<T>(&dy);
    p.dx = mutable_data_of<T>(dx);
    p.dw = mutable_data_of<T>(dw);
    p.db = mutable_data_of<T>(db);
    linear_backward_cpu(p);
}

void backward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* dy, const hs_tensor* dx, const hs_tensor* dw,
              const hs_tensor* db) {
    const LinearLayout layout = check_operands(x, w);
    const hs_tensor& dy_tensor = require("dy", dy);
    check_float_like("dy", dy_tensor, {layout.rows, layout.out_features}, "= (M, N) from 'x' and 'w'", *x, "x");
    const struct {
        const char* name;
        const hs_tensor* tensor;
        std::vector<int64_t> shape;
        const char* meaning;
    } outputs[] = {{"dx", dx, {layout.rows, layout.in_features}, "like 'x'"},
                   {"dw", dw, {layout.out_features, layout.in_features}, "like 'w'"},
                   {"db", db, {layout.out_features}, "= (N,) with N from 'w'"}};
    for (const auto& output : outputs) {
        if (output.tensor == nullptr) continue;
        check_float_like(output.name, *output.tensor, output.shape, output.meaning, *x, "x");
        check_no_overlap(output.name, *output.tensor, "x", *x);
        check_no_overlap(output.name, *output.tensor, "w", *w);
        check_no_overlap(output.name, *output.tensor, "dy", dy_tensor);
    }
    if (layout.dtype == HS_DTYPE_FLOAT32) {
        backward_typed<float>(layout, *x, *w, dy_tensor, dx, dw, db);
    } else {
        backward_typed<double>(layout, *x, *w, dy_tensor, dx, dw, db);
    }
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
