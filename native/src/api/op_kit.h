// The op kit of the validating shims (native/src/api/*_api.cpp): what every op's shim does the same way.
//
//  - ArgumentSet: the op's tensors registered against its primary tensor ('u', 'wx', 'x', 'v'), which fixes the dtype
//    family (real float or complex), the dtype and the device of every float tensor. Each tensor is checked when it is registered (well formed, shape, dtype, device,
//    contiguous: the same messages for every op), with its role: input, output, in place (read and written, like a
//    step's 'state') or scratch. finish() then checks the header's no-alias rule for every pair in which one side is
//    written (int64 'lengths' included), and only after that reads the CPU 'lengths' values, so a call with a wrong
//    view anywhere is refused before any of its memory is read.
//  - check_flag / check_extent: 0/1 flags, and the sizes a kernel multiplies together (overflow-checked).
//  - dispatch_float / dispatch_complex / launch: "run this typed body" once per shim; launch owns the CPU / CUDA
//    choice, the single-precision-only-on-CUDA rule, the device guard and the internal-error fallback that validation makes unreachable.
//  - zero_output / copy_output: the outputs of a problem with no step to run (T, L or Bt = 0), written here instead of
//    by a kernel so that a zero-sized dimension next to a huge one never loops over the huge one.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "api/tensor_checks.h"
#include "common/cuda_device_guard.h"
#include "common/error.h"
#include "hybridseq.h"

namespace hs {

using Shape = std::vector<int64_t>;

// `what` ("argument 'deterministic'", "field 'reverse' of argument 'inputs'") must be 0 or 1.
void check_flag(const std::string& what, int32_t value);

// A named size that a kernel multiplies with others ("Bt", from argument 'u').
struct Extent {
    const char* name;
    int64_t value;
};

// The product of the extents (all >= 1 here) times the largest factor by which a kernel or workspace formula
// exceeds it (kExtentHeadroom) must fit in int64, so that no offset or size a backend forms from them wraps.
// `source` names the arguments the extents come from ("argument 'u' (Bt, Dm, L) and argument 'A' (N)").
constexpr int64_t kExtentHeadroom = 64;
void check_extent(const std::vector<Extent>& extents, const std::string& source);

class ArgumentSet {
public:
    // The primary float tensor: well formed, of `rank` (`shape_text` names its dimensions, "(Bt, Dm, L)"), of the
    // family's dtypes (float32 / float64 by default; complex64 / complex128), on a device this build serves with that
    // dtype (CUDA: float32 or complex64 only, and only in a CUDA build, else HS_ERR_UNSUPPORTED), contiguous. It is
    // an input.
    ArgumentSet(const char* name, const hs_tensor* tensor, int32_t rank, const char* shape_text,
                DtypeFamily family = DtypeFamily::RealFloat);
    ArgumentSet(const ArgumentSet&) = delete;
    ArgumentSet& operator=(const ArgumentSet&) = delete;

    const hs_tensor& primary() const { return *primary_; }
    const char* primary_name() const { return primary_name_; }
    int32_t dtype() const { return primary_->dtype; }
    bool on_cuda() const { return primary_->device_type == HS_DEVICE_CUDA; }

    // Float tensors of `shape` ("meaning" follows it in messages, "like 'u'") in the primary's dtype and device.
    // The required ones throw "argument 'name' is required, got NULL"; the optional ones return NULL for NULL.
    const hs_tensor& input(const char* name, const hs_tensor* tensor, const Shape& shape, const std::string& meaning);
    const hs_tensor* optional_input(const char* name, const hs_tensor* tensor, const Shape& shape,
                                    const std::string& meaning);
    const hs_tensor& output(const char* name, const hs_tensor* tensor, const Shape& shape, const std::string& meaning);
    const hs_tensor* optional_output(const char* name, const hs_tensor* tensor, const Shape& shape,
                                     const std::string& meaning);
    // Tensors of an explicit dtype (a complex op's real output and its real gradient: real_dtype_of(dtype())), on
    // the primary's device.
    const hs_tensor& input(const char* name, const hs_tensor* tensor, const Shape& shape, const std::string& meaning,
                           int32_t dtype);
    const hs_tensor& output(const char* name, const hs_tensor* tensor, const Shape& shape, const std::string& meaning,
                            int32_t dtype);
    // The primary itself is written (the backward's 'dwx' standing in for a NULL 'wx').
    void primary_is_output();
    // Read and then overwritten by the call (the state of a step).
    const hs_tensor& in_place(const char* name, const hs_tensor* tensor, const Shape& shape,
                              const std::string& meaning);

    // Optional per-sequence lengths: (batch) int64, contiguous, on the primary's device, an input. Their values on
    // the CPU must lie in [0, max_length] (`max_text` says what the bound is, "L of 'u'"); finish() reads them.
    // Values on a CUDA device cannot be read without a device sync, so the kernels clamp them (hybridseq.h).
    const hs_tensor* lengths(const hs_tensor* tensor, int64_t batch, int64_t max_length, const std::string& max_text);

    // The caller's scratch: NULL is accepted only when `needed` is 0; a tensor that is given is always checked (1-D,
    // `dtype`, the primary's device, contiguous, at least `needed` elements; `query` names the size query in the
    // message), so a wrong one fails the same way on every backend and size. It is written, like an output.
    const hs_tensor* workspace(const hs_tensor* tensor, int64_t needed, int32_t dtype, const std::string& query);

    // The checks that need every argument: no written tensor overlaps any other registered tensor, then the CPU
    // 'lengths' values. Call once, after the last registration and before any data is read or written.
    void finish();

    // Every output and in-place tensor is empty (or absent): the call has nothing to write.
    bool outputs_empty() const;

private:
    enum class Role { Input, Output, InPlace, Scratch };
    struct Entry {
        const char* name;
        const hs_tensor* tensor;
        Role role;
    };

    const hs_tensor* add(const char* name, const hs_tensor* tensor, const Shape& shape, const std::string& meaning,
                         Role role, int32_t dtype);

    const hs_tensor* primary_;
    const char* primary_name_;
    std::vector<Entry> entries_;
    const hs_tensor* lengths_ = nullptr;
    int64_t lengths_max_ = 0;
    std::string lengths_max_text_;
    bool finished_ = false;
};

// Runs body(T{}) with T = float for float32 and double for float64 (the only dtypes a primary float tensor has).
template <typename Body>
void dispatch_float(int32_t dtype, Body&& body) {
    if (dtype == HS_DTYPE_FLOAT32) {
        body(float{});
    } else if (dtype == HS_DTYPE_FLOAT64) {
        body(double{});
    } else {
        throw Error(HS_ERR_INTERNAL, "float dispatch reached for dtype " + dtype_name(dtype) +
                                         ", which validation rejects");
    }
}

// Runs body(T{}) with T = float for complex64 and double for complex128: the kernels of complex tensors work on the
// interleaved (re, im) pairs of their real type.
template <typename Body>
void dispatch_complex(int32_t dtype, Body&& body) {
    if (dtype == HS_DTYPE_COMPLEX64) {
        body(float{});
    } else if (dtype == HS_DTYPE_COMPLEX128) {
        body(double{});
    } else {
        throw Error(HS_ERR_INTERNAL, "complex dispatch reached for dtype " + dtype_name(dtype) +
                                         ", which validation rejects");
    }
}

// The CUDA launcher of an op for launch(): its address in a CUDA build, nullptr (never called) otherwise, so that a
// shim names its launcher without an #if of its own.
#if defined(HYBRIDSEQ_WITH_CUDA)
#define HS_CUDA_LAUNCHER(function) (&(function))
#else
#define HS_CUDA_LAUNCHER(function) nullptr
#endif

// Runs the backend for the primary's device: cpu(params) on the CPU; cuda(params, stream) on CUDA with the
// primary's device current for the call (restored after), when `cuda` takes these params (float32 only: the
// single-precision member of either family). Anything
// else is a dtype or build that validation refuses, hence HS_ERR_INTERNAL.
template <typename Params, typename CudaLauncher>
void launch(const hs_tensor& primary, const Params& params, void (*cpu)(const Params&), CudaLauncher cuda,
            hs_stream stream) {
    if (primary.device_type != HS_DEVICE_CUDA) {
        cpu(params);
        return;
    }
    if constexpr (std::is_invocable_v<CudaLauncher, const Params&, void*>) {
#if defined(HYBRIDSEQ_WITH_CUDA)
        CurrentDeviceGuard device(primary.device_index);
        cuda(params, stream);
        return;
#endif
    }
    (void)cuda;
    (void)stream;
    throw Error(HS_ERR_INTERNAL, "CUDA dispatch reached for a dtype or build that validation rejects");
}

// Outputs of a call with no step to run, on the output's device (CUDA: ordered on `stream`). NULL or empty outputs
// are skipped. copy_output copies `source` (same element count and dtype, checked by the caller's registration)
// into `output`, or zeroes it when `source` is NULL.
void zero_output(const hs_tensor* output, hs_stream stream);
void copy_output(const hs_tensor* output, const hs_tensor* source, hs_stream stream);

}  // namespace hs
