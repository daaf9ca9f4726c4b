// The validating shim of the S4 kernels: registers every argument of hs_cauchy_* and hs_vandermonde_* (hybridseq.h)
// with the op kit (api/op_kit.h) against the complex primary 'v', turns the views into the plain-pointer params of
// ops/s4_kernels.h and calls the CPU twin or the CUDA launcher, which trust what this file lets through.
#include <cstdint>
#include <initializer_list>
#include <string>

#include "api/op_kit.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"
#include "ops/s4_kernels.h"

namespace hs {
namespace {

struct S4Sizes {
    int64_t rows = 0, terms = 0, points = 0;  // H, N, L
};

// 'v' (H, N) complex is the primary; 'w' or 'x' (H, N) agrees with it.
S4Sizes register_rows(ArgumentSet& args, const char* nodes_name, const hs_tensor* nodes) {
    S4Sizes sizes;
    sizes.rows = args.primary().sizes[0];
    sizes.terms = args.primary().sizes[1];
    args.input(nodes_name, nodes, {sizes.rows, sizes.terms}, "(H, N) complex like 'v'");
    return sizes;
}

// The size of a rank-`rank` complex or real tensor that carries L: it must be well formed and of that rank before L
// can be read from it; the rest (every size, dtype, device) is checked when it is registered.
int64_t length_from(const char* name, const hs_tensor* tensor, int32_t rank, const char* shape_text) {
    const hs_tensor& t = require(name, tensor);
    check_tensor_header(name, t);
    if (t.rank != rank) {
        throw_invalid(arg(name) + " must have rank " + std::to_string(rank) + " " + shape_text + ", got rank " +
                      std::to_string(t.rank) + " with shape " + shape_string(t) +
                      (is_complex_dtype(t.dtype) ? " " + dtype_name(t.dtype) : ""));
    }
    return t.sizes[rank - 1];
}

std::string rows_text(const S4Sizes& sizes) {
    return "with H = " + std::to_string(sizes.rows) + " from 'v'";
}

void check_s4_extents(const S4Sizes& sizes) {
    check_extent({{"H", sizes.rows}, {"N", sizes.terms}}, "argument 'v' (H, N)");
    check_extent({{"H", sizes.rows}, {"L", sizes.points}}, "argument 'v' (H, N) and the length L");
}

// The end every S4 entry point shares, once its arguments are registered: the no-alias rule, nothing to write, the
// extents; then an empty sum (`empty_sum`: no terms for a forward, no positions for a backward) writes zeros to
// `zeroed`, else run(params, T{}) launches the backend on Params<T> with the sizes and the flag filled in (T the real
// type of the complex dtype); run sets the tensor pointers.
template <template <typename> class Params, typename Run>
void run_s4(ArgumentSet& args, const S4Sizes& sizes, int32_t conjugate_symmetric, bool empty_sum,
            std::initializer_list<const hs_tensor*> zeroed, hs_stream stream, Run run) {
    args.finish();
    if (args.outputs_empty()) return;
    check_s4_extents(sizes);
    if (empty_sum) {
        for (const hs_tensor* output : zeroed) zero_output(output, stream);
        return;
    }
    dispatch_complex(args.dtype(), [&](auto zero) {
        Params<decltype(zero)> p;
        p.rows = sizes.rows;
        p.terms = sizes.terms;
        p.points = sizes.points;
        p.conjugate_symmetric = conjugate_symmetric == 1;
        run(p, zero);
    });
}

// Cauchy: 'v' and 'w' (H, N), 'z' (L) complex, the flag.
S4Sizes register_cauchy_inputs(ArgumentSet& args, const hs_tensor* w, const hs_tensor* z,
                               int32_t conjugate_symmetric) {
    S4Sizes sizes = register_rows(args, "w", w);
    sizes.points = length_from("z", z, 1, "(L) complex");
    args.input("z", z, {sizes.points}, "(L) complex");
    check_flag(arg("conjugate_symmetric"), conjugate_symmetric);
    return sizes;
}

void cauchy_forward(const hs_tensor* v, const hs_tensor* w, const hs_tensor* z, int32_t conjugate_symmetric,
                    const hs_tensor* out, hs_stream stream) {
    ArgumentSet args("v", v, 2, "(H, N) complex", DtypeFamily::Complex);
    const S4Sizes sizes = register_cauchy_inputs(args, w, z, conjugate_symmetric);
    args.output("out", out, {sizes.rows, sizes.points}, "(H, L) complex " + rows_text(sizes) + " and L from 'z'");
    run_s4<CauchyParams>(args, sizes, conjugate_symmetric, sizes.terms == 0, {out}, stream, [&](auto& p, auto zero) {
        using T = decltype(zero);
        p.v = data_of<T>(v);
        p.w = data_of<T>(w);
        p.z = data_of<T>(z);
        p.out = mutable_data_of<T>(out);
        launch(args.primary(), p, &cauchy_forward_cpu<T>, HS_CUDA_LAUNCHER(cauchy_forward_cuda), stream);
    });
}

void cauchy_backward(const hs_tensor* v, const hs_tensor* w, const hs_tensor* z, int32_t conjugate_symmetric,
                     const hs_tensor* dout, const hs_tensor* dv, const hs_tensor* dw, hs_stream stream) {
    ArgumentSet args("v", v, 2, "(H, N) complex", DtypeFamily::Complex);
    const S4Sizes sizes = register_cauchy_inputs(args, w, z, conjugate_symmetric);
    args.input("dout", dout, {sizes.rows, sizes.points}, "(H, L) complex like 'out'");
    args.optional_output("dv", dv, {sizes.rows, sizes.terms}, "(H, N) complex like 'v'");
    args.optional_output("dw", dw, {sizes.rows, sizes.terms}, "(H, N) complex like 'w'");
    run_s4<CauchyBackwardParams>(args, sizes, conjugate_symmetric, sizes.points == 0, {dv, dw}, stream,
                                 [&](auto& p, auto zero) {
        using T = decltype(zero);
        p.v = data_of<T>(v);
        p.w = data_of<T>(w);
        p.z = data_of<T>(z);
        p.dout = data_of<T>(dout);
        p.dv = mutable_data_of<T>(dv);
        p.dw = mutable_data_of<T>(dw);
        launch(args.primary(), p, &cauchy_backward_cpu<T>, HS_CUDA_LAUNCHER(cauchy_backward_cuda), stream);
    });
}

// Vandermonde: 'v' and 'x' (H, N) complex, the flag, and L from `carrier` ('out' or 'dout', (H, L), real when
// conjugate-symmetric: 2 Re(...)), registered as an output (the forward) or an input (the backward).
S4Sizes register_vandermonde_inputs(ArgumentSet& args, const hs_tensor* x, int32_t conjugate_symmetric,
                                    const char* carrier_name, const hs_tensor* carrier, bool carrier_is_output) {
    S4Sizes sizes = register_rows(args, "x", x);
    check_flag(arg("conjugate_symmetric"), conjugate_symmetric);
    const std::string text = conjugate_symmetric == 1 ? "(H, L) real (conjugate_symmetric = 1)" : "(H, L) complex";
    sizes.points = length_from(carrier_name, carrier, 2, text.c_str());
    const int32_t dtype = conjugate_symmetric == 1 ? real_dtype_of(args.dtype()) : args.dtype();
    const Shape shape{sizes.rows, sizes.points};
    if (carrier_is_output) {
        args.output(carrier_name, carrier, shape, text + " " + rows_text(sizes), dtype);
    } else {
        args.input(carrier_name, carrier, shape, text + " " + rows_text(sizes), dtype);
    }
    return sizes;
}

void vandermonde_forward(const hs_tensor* v, const hs_tensor* x, int32_t conjugate_symmetric, const hs_tensor* out,
                         hs_stream stream) {
    ArgumentSet args("v", v, 2, "(H, N) complex", DtypeFamily::Complex);
    const S4Sizes sizes = register_vandermonde_inputs(args, x, conjugate_symmetric, "out", out, true);
    run_s4<VandermondeParams>(args, sizes, conjugate_symmetric, sizes.terms == 0, {out}, stream,
                              [&](auto& p, auto zero) {
        using T = decltype(zero);
        p.v = data_of<T>(v);
        p.x = data_of<T>(x);
        p.out = mutable_data_of<T>(out);
        launch(args.primary(), p, &vandermonde_forward_cpu<T>, HS_CUDA_LAUNCHER(vandermonde_forward_cuda), stream);
    });
}

void vandermonde_backward(const hs_tensor* v, const hs_tensor* x, int32_t conjugate_symmetric,
                          const hs_tensor* dout, const hs_tensor* dv, const hs_tensor* dx, hs_stream stream) {
    ArgumentSet args("v", v, 2, "(H, N) complex", DtypeFamily::Complex);
    const S4Sizes sizes = register_vandermonde_inputs(args, x, conjugate_symmetric, "dout", dout, false);
    args.optional_output("dv", dv, {sizes.rows, sizes.terms}, "(H, N) complex like 'v'");
    args.optional_output("dx", dx, {sizes.rows, sizes.terms}, "(H, N) complex like 'x'");
    run_s4<VandermondeBackwardParams>(args, sizes, conjugate_symmetric, sizes.points == 0, {dv, dx}, stream,
                                      [&](auto& p, auto zero) {
        using T = decltype(zero);
        p.v = data_of<T>(v);
        p.x = data_of<T>(x);
        p.dout = data_of<T>(dout);
        p.dv = mutable_data_of<T>(dv);
        p.dx = mutable_data_of<T>(dx);
        launch(args.primary(), p, &vandermonde_backward_cpu<T>, HS_CUDA_LAUNCHER(vandermonde_backward_cuda),
               stream);
    });
}

}  // namespace
}  // namespace hs

extern "C" {

HS_API hs_status hs_cauchy_forward(const hs_tensor* v, const hs_tensor* w, const hs_tensor* z,
                                   int32_t conjugate_symmetric, const hs_tensor* out, hs_stream stream) {
    return hs::run_entry_point("hs_cauchy_forward",
                               [&] { hs::cauchy_forward(v, w, z, conjugate_symmetric, out, stream); });
}

HS_API hs_status hs_cauchy_backward(const hs_tensor* v, const hs_tensor* w, const hs_tensor* z,
                                    int32_t conjugate_symmetric, const hs_tensor* dout, const hs_tensor* dv,
                                    const hs_tensor* dw, hs_stream stream) {
    return hs::run_entry_point("hs_cauchy_backward",
                               [&] { hs::cauchy_backward(v, w, z, conjugate_symmetric, dout, dv, dw, stream); });
}

HS_API hs_status hs_vandermonde_forward(const hs_tensor* v, const hs_tensor* x, int32_t conjugate_symmetric,
                                        const hs_tensor* out, hs_stream stream) {
    return hs::run_entry_point("hs_vandermonde_forward",
                               [&] { hs::vandermonde_forward(v, x, conjugate_symmetric, out, stream); });
}

HS_API hs_status hs_vandermonde_backward(const hs_tensor* v, const hs_tensor* x, int32_t conjugate_symmetric,
                                         const hs_tensor* dout, const hs_tensor* dv, const hs_tensor* dx,
                                         hs_stream stream) {
    return hs::run_entry_point("hs_vandermonde_backward",
                               [&] { hs::vandermonde_backward(v, x, conjugate_symmetric, dout, dv, dx, stream); });
}

}  // extern "C"
