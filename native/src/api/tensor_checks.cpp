#include "api/tensor_checks.h"

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

int64_t element_count(const hs_tensor& tensor) {
    int64_t count = 1;
    for (int32_t i = 0; i < tensor.rank; ++i) count *= tensor.sizes[i];
    return count;
}

void check_tensor_header(const char* name, const hs_tensor& tensor) {
    const std::string arg = std::string("argument '") + name + "'";
    if (tensor.rank < 0 || tensor.rank > HS_MAX_RANK) {
        throw_invalid(arg + " must have rank in [0, " + std::to_string(HS_MAX_RANK) + "], got rank " +
                      std::to_string(tensor.rank));
    }
    if (tensor.dtype < HS_DTYPE_FLOAT32 || tensor.dtype > HS_DTYPE_INT64) {
        throw_invalid(arg + " must have an hs_dtype in [0, 3], got " + std::to_string(tensor.dtype));
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
    if (tensor.data == nullptr && element_count(tensor) != 0) {
        throw_invalid(arg + " has a NULL data pointer but shape " + shape_string(tensor) + " with " +
                      std::to_string(element_count(tensor)) + " elements");
    }
}

void check_shape(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& expected,
                 const std::string& meaning) {
    bool equal = tensor.rank == static_cast<int32_t>(expected.size());
    for (int32_t i = 0; equal && i < tensor.rank; ++i) equal = tensor.sizes[i] == expected[static_cast<size_t>(i)];
    if (!equal) {
        throw_invalid(std::string("argument '") + name + "' must have shape " + shape_string(expected) +
                      (meaning.empty() ? "" : " " + meaning) + ", got " + shape_string(tensor));
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

void check_primary_float(const char* name, const hs_tensor& tensor, int32_t rank, const char* shape_text) {
    check_tensor_header(name, tensor);
    if (tensor.rank != rank) {
        throw_invalid(arg(name) + " must have rank " + std::to_string(rank) + " " + shape_text + ", got rank " +
                      std::to_string(tensor.rank) + " with shape " + shape_string(tensor));
    }
    if (tensor.dtype != HS_DTYPE_FLOAT32 && tensor.dtype != HS_DTYPE_FLOAT64) {
        throw_invalid(arg(name) + " must have dtype float32 or float64, got " + dtype_name(tensor.dtype));
    }
    if (tensor.device_type == HS_DEVICE_CUDA) {
#if !defined(HYBRIDSEQ_WITH_CUDA)
        throw_unsupported(arg(name) + " is on " + device_string(tensor.device_type, tensor.device_index) +
                          ", but this HybridSeq library was built without CUDA; pass CPU tensors or use a CUDA build");
#endif
        if (tensor.dtype != HS_DTYPE_FLOAT32) {
            throw_unsupported(arg(name) + " is float64 on " + device_string(tensor.device_type, tensor.device_index) +
                              ": the CUDA kernels support float32 only (float64 runs on the CPU)");
        }
    }
    check_contiguous(name, tensor);
}

void check_float_like(const char* name, const hs_tensor& tensor, const std::vector<int64_t>& shape,
                      const std::string& meaning, const hs_tensor& reference, const char* reference_name) {
    check_tensor_header(name, tensor);
    check_shape(name, tensor, shape, meaning);
    check_dtype(name, tensor, reference.dtype, std::string("like '") + reference_name + "'");
    check_same_device(name, tensor, reference, reference_name);
    check_contiguous(name, tensor);
}

void check_lengths(const hs_tensor* lengths, int64_t batch, int64_t max_length, const char* max_text,
                   const hs_tensor& reference, const char* reference_name) {
    if (lengths == nullptr) return;
    check_tensor_header("lengths", *lengths);
    check_shape("lengths", *lengths, {batch}, "= (Bt,)");
    check_dtype("lengths", *lengths, HS_DTYPE_INT64, "");
    check_same_device("lengths", *lengths, reference, reference_name);
    check_contiguous("lengths", *lengths);
    if (lengths->device_type != HS_DEVICE_CPU) return;
    const int64_t* values = static_cast<const int64_t*>(lengths->data);
    for (int64_t b = 0; b < batch; ++b) {
        if (values[b] < 0 || values[b] > max_length) {
            throw_invalid(arg("lengths") + " must hold values in [0, " + std::to_string(max_length) + "] (" +
                          max_text + "), got lengths[" + std::to_string(b) + "] = " + std::to_string(values[b]));
        }
    }
}

int64_t dtype_bytes(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_FLOAT32:
        case HS_DTYPE_INT32: return 4;
        case HS_DTYPE_FLOAT64:
        case HS_DTYPE_INT64: return 8;
        default: return 0;
    }
}

void check_no_overlap(const char* output_name, const hs_tensor& output, const char* input_name,
                      const hs_tensor& input) {
    const int64_t output_bytes = element_count(output) * dtype_bytes(output.dtype);
    const int64_t input_bytes = element_count(input) * dtype_bytes(input.dtype);
    if (output_bytes == 0 || input_bytes == 0) return;
    const auto* output_begin = static_cast<const char*>(output.data);
    const auto* input_begin = static_cast<const char*>(input.data);
    if (output_begin < input_begin + input_bytes && input_begin < output_begin + output_bytes) {
        throw_invalid(arg(output_name) + " overlaps the memory of " + arg(input_name) +
                      "; outputs must not alias inputs, pass a separate buffer");
    }
}

}  // namespace hs
