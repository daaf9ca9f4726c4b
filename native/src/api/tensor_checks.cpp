#include "api/tensor_checks.h"

#include <cstdint>
#include <limits>

#include "common/error.h"

namespace hs {

std::string arg(const char* name) { return std::string("argument '") + name + "'"; }

const hs_tensor& require(const char* name, const hs_tensor* tensor) {
    if (tensor == nullptr) throw_invalid(arg(name) + " is required, got NULL");
    return *tensor;
}

std::string shape_string(const std::vector<int64_t>& sizes) {
    std::string text = "(";
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (i > 0) text += ", ";
        text += std::to_string(sizes[i]);
    }
    if (sizes.size() == 1) text += ",";
    text += ")";
    return text;
}

std::string shape_string(const hs_tensor& tensor) {
    const int rank = tensor.rank < 0 ? 0 : (tensor.rank > HS_MAX_RANK ? HS_MAX_RANK : tensor.rank);
    return shape_string(std::vector<int64_t>(tensor.sizes, tensor.sizes + rank));
}

std::string dtype_name(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_FLOAT32: return "float32";
        case HS_DTYPE_FLOAT64: return "float64";
        case HS_DTYPE_INT32: return "int32";
        case HS_DTYPE_INT64: return "int64";
        case HS_DTYPE_COMPLEX64: return "complex64";
        case HS_DTYPE_COMPLEX128: return "complex128";
        default: return "unknown dtype " + std::to_string(dtype);
    }
}

std::string device_string(int32_t device_type, int32_t device_index) {
    switch (device_type) {
        case HS_DEVICE_CPU: return "cpu";
        case HS_DEVICE_CUDA: return "cuda:" + std::to_string(device_index);
        default: return "unknown device type " + std::to_string(device_type);
    }
}

bool multiply_fits(int64_t a, int64_t b, int64_t* product) {
    // Both factors are >= 0 here (sizes are checked first); a zero factor makes any product fit.
    if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return false;
    *product = a * b;
    return true;
}

bool element_count_fits(const std::vector<int64_t>& sizes, int64_t* count) {
    // A zero size makes the view empty whatever the other sizes are, so look for one before multiplying.
    for (int64_t size : sizes) {
        if (size == 0) {
            *count = 0;
            return true;
        }
    }
    int64_t product = 1;
    for (int64_t size : sizes) {
        if (size < 0 || !multiply_fits(product, size, &product)) return false;
    }
    *count = product;
    return true;
}

int64_t element_count(const hs_tensor& tensor) {
    int64_t count = 0;
    const int rank = tensor.rank < 0 ? 0 : (tensor.rank > HS_MAX_RANK ? HS_MAX_RANK : tensor.rank);
    if (!element_count_fits(std::vector<int64_t>(tensor.sizes, tensor.sizes + rank), &count)) {
        throw Error(HS_ERR_INTERNAL, "element_count of a view whose header was not checked");
    }
    return count;
}

void check_tensor_header(const char* name, const hs_tensor& tensor) {
    const std::string arg = std::string("argument '") + name + "'";
    if (tensor.rank < 0 || tensor.rank > HS_MAX_RANK) {
        throw_invalid(arg + " must have rank in [0, " + std::to_string(HS_MAX_RANK) + "], got rank " +
                      std::to_string(tensor.rank));
    }
    if (tensor.dtype < HS_DTYPE_FLOAT32 || tensor.dtype > HS_DTYPE_COMPLEX128) {
        throw_invalid(arg + " must have an hs_dtype in [0, " + std::to_string(HS_DTYPE_COMPLEX128) + "], got " +
                      std::to_string(tensor.dtype));
    }
    if (tensor.device_type == HS_DEVICE_CPU) {
        if (tensor.device_index != 0) {
            throw_invalid(arg + " is a CPU tensor and must have device_index 0, got " +
                          std::to_string(tensor.device_index));
        }
    } else if (tensor.device_type == HS_DEVICE_CUDA) {
        if (tensor.device_index < 0) {
            throw_invalid(arg + " must have a CUDA device_index >= 0, got " + std::to_string(tensor.device_index));
        }
    } else {
        throw_invalid(arg + " must have device_type HS_DEVICE_CPU (0) or HS_DEVICE_CUDA (1), got " +
                      std::to_string(tensor.device_type));
    }
    for (int32_t i = 0; i < tensor.rank; ++i) {
        if (tensor.sizes[i] < 0) {
            throw_invalid(arg + " must have non-negative sizes, got " + shape_string(tensor));
        }
    }
    // Kernels index with int64 element offsets and form byte offsets from them: both must be representable.
    int64_t count = 0;
    int64_t bytes = 0;
    if (!element_count_fits(std::vector<int64_t>(tensor.sizes, tensor.sizes + tensor.rank), &count)) {
        throw_invalid(arg + " has shape " + shape_string(tensor) + ": more elements than int64 can index");
    }
    if (!multiply_fits(count, dtype_bytes(tensor.dtype), &bytes)) {
        throw_invalid(arg + " has shape " + shape_string(tensor) + ": " + std::to_string(count) + " elements of " +
                      dtype_name(tensor.dtype) + " are more bytes than int64 can index");
    }
    if (tensor.data == nullptr && count != 0) {
        throw_invalid(arg + " has a NULL data pointer but shape " + shape_string(tensor) + " with " +
                      std::to_string(count) + " elements");
    }
}

void check_shape(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& expected,
                 const std::string& meaning) {
    bool equal = tensor.rank == static_cast<int32_t>(expected.size());
    for (int32_t i = 0; equal && i < tensor.rank; ++i) equal = tensor.sizes[i] == expected[static_cast<size_t>(i)];
    if (!equal) {
        // A complex tensor's shape is stated with its dtype ("(4, 8) complex64"), so that a shape that differs by a
        // trailing 2 reads as what it is: a real view of (re, im) pairs, or a complex one.
        const std::string dtype_suffix = is_complex_dtype(tensor.dtype) ? " " + dtype_name(tensor.dtype) : "";
        throw_invalid(std::string("argument '") + name + "' must have shape " + shape_string(expected) +
                      (meaning.empty() ? "" : " " + meaning) + ", got " + shape_string(tensor) + dtype_suffix);
    }
}

void check_contiguous(const char* name, const hs_tensor& tensor) {
    if (element_count(tensor) == 0) return;
    std::vector<int64_t> expected(static_cast<size_t>(tensor.rank));
    int64_t stride = 1;
    bool contiguous = true;
    for (int32_t i = tensor.rank - 1; i >= 0; --i) {
        expected[static_cast<size_t>(i)] = stride;
        if (tensor.sizes[i] != 1 && tensor.strides[i] != stride) contiguous = false;
        stride *= tensor.sizes[i];
    }
    if (!contiguous) {
        throw_invalid(std::string("argument '") + name + "' must be row-major contiguous: expected strides " +
                      shape_string(expected) + " for shape " + shape_string(tensor) + ", got strides " +
                      shape_string(std::vector<int64_t>(tensor.strides, tensor.strides + tensor.rank)));
    }
}

void check_dtype(const char* name, const hs_tensor& tensor, int32_t expected_dtype, const std::string& meaning) {
    if (tensor.dtype != expected_dtype) {
        throw_invalid(std::string("argument '") + name + "' must have dtype " + dtype_name(expected_dtype) +
                      (meaning.empty() ? "" : " " + meaning) + ", got " + dtype_name(tensor.dtype));
    }
}

void check_same_device(const char* name, const hs_tensor& tensor, const hs_tensor& reference,
                       const char* reference_name) {
    if (tensor.device_type != reference.device_type || tensor.device_index != reference.device_index) {
        throw_invalid(std::string("argument '") + name + "' must be on " +
                      device_string(reference.device_type, reference.device_index) + " like '" + reference_name +
                      "', got " + device_string(tensor.device_type, tensor.device_index));
    }
}

bool is_complex_dtype(int32_t dtype) { return dtype == HS_DTYPE_COMPLEX64 || dtype == HS_DTYPE_COMPLEX128; }

int32_t real_dtype_of(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_COMPLEX64: return HS_DTYPE_FLOAT32;
        case HS_DTYPE_COMPLEX128: return HS_DTYPE_FLOAT64;
        default: return dtype;
    }
}

std::string family_text(DtypeFamily family) {
    return family == DtypeFamily::Complex ? "complex64 or complex128" : "float32 or float64";
}

namespace {

int32_t single_precision_of(DtypeFamily family) {
    return family == DtypeFamily::Complex ? HS_DTYPE_COMPLEX64 : HS_DTYPE_FLOAT32;
}

bool in_family(int32_t dtype, DtypeFamily family) {
    return family == DtypeFamily::Complex ? is_complex_dtype(dtype)
                                          : dtype == HS_DTYPE_FLOAT32 || dtype == HS_DTYPE_FLOAT64;
}

}  // namespace

void check_primary(const char* name, const hs_tensor& tensor, int32_t rank, const char* shape_text,
                   DtypeFamily family) {
    check_tensor_header(name, tensor);
    const bool pairs_of_reals = family == DtypeFamily::Complex && !is_complex_dtype(tensor.dtype) &&
                                tensor.rank == rank + 1 && tensor.sizes[rank] == 2;
    if (pairs_of_reals) {
        throw_invalid(arg(name) + " must be a complex tensor " + shape_text + " of dtype " + family_text(family) +
                      ", got " + shape_string(tensor) + " " + dtype_name(tensor.dtype) +
                      ": pass the complex view of the (re, im) pairs (view_as_complex), not the pairs");
    }
    if (tensor.rank != rank) {
        throw_invalid(arg(name) + " must have rank " + std::to_string(rank) + " " + shape_text + ", got rank " +
                      std::to_string(tensor.rank) + " with shape " + shape_string(tensor) +
                      (is_complex_dtype(tensor.dtype) ? " " + dtype_name(tensor.dtype) : ""));
    }
    if (!in_family(tensor.dtype, family)) {
        throw_invalid(arg(name) + " must have dtype " + family_text(family) + ", got " + dtype_name(tensor.dtype));
    }
    if (tensor.device_type == HS_DEVICE_CUDA) {
#if !defined(HYBRIDSEQ_WITH_CUDA)
        throw_unsupported(arg(name) + " is on " + device_string(tensor.device_type, tensor.device_index) +
                          ", but this HybridSeq library was built without CUDA; pass CPU tensors or use a CUDA build");
#endif
        const int32_t single = single_precision_of(family);
        if (tensor.dtype != single) {
            throw_unsupported(arg(name) + " is " + dtype_name(tensor.dtype) + " on " +
                              device_string(tensor.device_type, tensor.device_index) + ": the CUDA kernels support " +
                              dtype_name(single) + " only (" + dtype_name(tensor.dtype) + " runs on the CPU)");
        }
    }
    check_contiguous(name, tensor);
}

void check_primary_float(const char* name, const hs_tensor& tensor, int32_t rank, const char* shape_text) {
    check_primary(name, tensor, rank, shape_text, DtypeFamily::RealFloat);
}

void check_float_like(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                      const std::string& meaning, const hs_tensor& reference, const char* reference_name) {
    check_tensor_header(name, tensor);
    check_shape(name, tensor, shape, meaning);
    check_dtype(name, tensor, reference.dtype, std::string("like '") + reference_name + "'");
    check_same_device(name, tensor, reference, reference_name);
    check_contiguous(name, tensor);
}

void check_float_like(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                      const std::string& meaning, const hs_tensor& reference, const char* reference_name,
                      int32_t dtype) {
    check_tensor_header(name, tensor);
    check_shape(name, tensor, shape, meaning);
    check_dtype(name, tensor, dtype,
                dtype == reference.dtype ? std::string("like '") + reference_name + "'"
                                         : std::string("(the real dtype of '") + reference_name + "', " +
                                               dtype_name(reference.dtype) + ")");
    check_same_device(name, tensor, reference, reference_name);
    check_contiguous(name, tensor);
}

int64_t dtype_bytes(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_FLOAT32:
        case HS_DTYPE_INT32: return 4;
        case HS_DTYPE_FLOAT64:
        case HS_DTYPE_INT64:
        case HS_DTYPE_COMPLEX64: return 8;
        case HS_DTYPE_COMPLEX128: return 16;
        default: return 0;
    }
}

void check_no_overlap(const char* output_name, const hs_tensor& output, const char* input_name,
                      const hs_tensor& input, const char* relation) {
    const int64_t output_bytes = element_count(output) * dtype_bytes(output.dtype);
    const int64_t input_bytes = element_count(input) * dtype_bytes(input.dtype);
    if (output_bytes == 0 || input_bytes == 0) return;
    // Addresses as integers: comparing pointers into different objects is unspecified in C++, and begin + bytes
    // may not be representable for a caller's (wrong) pointer, so compare the distance instead of the ends.
    const auto output_begin = reinterpret_cast<std::uintptr_t>(output.data);
    const auto input_begin = reinterpret_cast<std::uintptr_t>(input.data);
    const bool overlap = output_begin <= input_begin
                             ? input_begin - output_begin < static_cast<std::uintptr_t>(output_bytes)
                             : output_begin - input_begin < static_cast<std::uintptr_t>(input_bytes);
    if (overlap) {
        throw_invalid(arg(output_name) + " overlaps the memory of " + arg(input_name) + "; " + relation +
                      ", pass a separate buffer");
    }
}

}  // namespace hs
