// Argument checks shared by the validating shims of native/src/api. Each check throws hs::Error
// (HS_ERR_INVALID_ARGUMENT unless said otherwise) with a message that names the argument, says what was expected
// and what came; run_entry_point prefixes the entry point's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace hs {

// "argument 'u'": how every message names an argument.
std::string arg(const char* name);

// *tensor, or HS_ERR_INVALID_ARGUMENT "argument 'name' is required, got NULL".
const hs_tensor& require(const char* name, const hs_tensor* tensor);

// "(2, 8, 129)" for sizes {2, 8, 129}.
std::string shape_string(const std::vector<int64_t>& sizes);
std::string shape_string(const hs_tensor& tensor);
// "float32", "int64", "complex64", or "unknown dtype 7".
std::string dtype_name(int32_t dtype);
// "cpu" or "cuda:1".
std::string device_string(int32_t device_type, int32_t device_index);

// a * b for a, b >= 0 into *product; false (and *product untouched) when it does not fit in int64.
bool multiply_fits(int64_t a, int64_t b, int64_t* product);
// The product of `sizes` (0 as soon as one is 0, whatever the others; 1 for none) into *count; false when a size is
// negative or the product does not fit in int64.
bool element_count_fits(const std::vector<int64_t>& sizes, int64_t* count);

// Elements the view covers (product of its sizes; 1 for rank 0). Only for a view check_tensor_header accepted.
int64_t element_count(const hs_tensor& tensor);

// The view itself is well formed: rank in [0, HS_MAX_RANK], known dtype and device type, device_index 0 on CPU and
// >= 0 on CUDA, no negative size, an element count and a byte count that fit in int64, data non-NULL unless the
// view is empty.
void check_tensor_header(const char* name, const hs_tensor& tensor);

// sizes equal `expected`; `meaning` follows the expected shape in the message ("like 'u'", "= (Bt, Dm, N)").
void check_shape(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& expected,
                 const std::string& meaning);

// Strides are the row-major strides of the sizes; a dimension of size 1 may have any stride, and an empty view
// is contiguous whatever its strides.
void check_contiguous(const char* name, const hs_tensor& tensor);

void check_dtype(const char* name, const hs_tensor& tensor, int32_t expected_dtype, const std::string& meaning);

// Same device type and index as `reference` (the argument called `reference_name`).
void check_same_device(const char* name, const hs_tensor& tensor, const hs_tensor& reference,
                       const char* reference_name);

// Bytes per element of a dtype (float32, float64, int32, int64; complex64 = 8, complex128 = 16); 0 for an unknown
// one.
int64_t dtype_bytes(int32_t dtype);

// An output must not share memory with another argument (kernels read inputs while they write, and two outputs
// would overwrite each other). Both views are contiguous and checked (check_tensor_header); an empty view overlaps
// nothing. `relation` ends the message: why the overlap is wrong ("outputs must not alias inputs").
void check_no_overlap(const char* output_name, const hs_tensor& output, const char* input_name,
                      const hs_tensor& input, const char* relation = "outputs must not alias inputs");

// The typed data pointer of an optional view (NULL for an absent tensor), once validation has fixed its dtype.
template <typename T>
const T* data_of(const hs_tensor* tensor) {
    return tensor == nullptr ? nullptr : static_cast<const T*>(tensor->data);
}

template <typename T>
T* mutable_data_of(const hs_tensor* tensor) {
    return tensor == nullptr ? nullptr : static_cast<T*>(tensor->data);
}

// The dtype families an op's float tensors come in. A family has a single-precision and a double-precision member;
// CUDA kernels serve the single-precision one only.
enum class DtypeFamily {
    RealFloat,  // float32, float64
    Complex     // complex64, complex128 (interleaved re, im)
};

bool is_complex_dtype(int32_t dtype);
// The dtype of the real and imaginary parts (float32 for complex64, float64 for complex128); a real dtype itself.
int32_t real_dtype_of(int32_t dtype);
// "float32 or float64", "complex64 or complex128".
std::string family_text(DtypeFamily family);

// The tensor that decides an op's dtype and device ('u' of the scan, 'wx' of the recurrence, 'v' of the S4
// kernels): well formed, of `rank` (`shape_text` names its dimensions in the message), of the family's dtypes, on a
// device this build serves with that dtype (CUDA: the family's single-precision dtype only, and only in a CUDA build:
// HS_ERR_UNSUPPORTED otherwise), contiguous. A real tensor offered where a complex one belongs, with a trailing
// dimension of 2, is told to pass a complex view instead of (re, im) pairs.
void check_primary(const char* name, const hs_tensor& tensor, int32_t rank, const char* shape_text,
                   DtypeFamily family);
// check_primary with DtypeFamily::RealFloat: the primary of every op before the S4 kernels.
void check_primary_float(const char* name, const hs_tensor& tensor, int32_t rank, const char* shape_text);

// A float tensor with `shape` that agrees with `reference` (called `reference_name`) in dtype and device and is
// contiguous.
void check_float_like(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                      const std::string& meaning, const hs_tensor& reference, const char* reference_name);
// The same with an explicit `dtype` (the real dtype of a complex reference: a real output of a complex op).
void check_float_like(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                      const std::string& meaning, const hs_tensor& reference, const char* reference_name,
                      int32_t dtype);

}  // namespace hs
