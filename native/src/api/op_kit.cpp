#include "api/op_kit.h"

#include <cstring>
#include <limits>

#if defined(HYBRIDSEQ_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace hs {

void check_flag(const std::string& what, int32_t value) {
    if (value != 0 && value != 1) throw_invalid(what + " must be 0 or 1, got " + std::to_string(value));
}

void check_extent(const std::vector<Extent>& extents, const std::string& source) {
    int64_t product = kExtentHeadroom;
    bool fits = true;
    for (const Extent& extent : extents) fits = fits && multiply_fits(product, extent.value, &product);
    if (fits) return;
    std::string names;
    std::string values;
    for (const Extent& extent : extents) {
        names += (names.empty() ? "" : "*") + std::string(extent.name);
        values += (values.empty() ? "" : " * ") + std::to_string(extent.value);
    }
    throw_invalid(source + " give " + names + " = " + values + ", more than int64 can index (the kernels need " +
                  std::to_string(kExtentHeadroom) + " times that to fit in int64)");
}

ArgumentSet::ArgumentSet(const char* name, const hs_tensor* tensor, int32_t rank, const char* shape_text,
                         DtypeFamily family)
    : primary_(&require(name, tensor)), primary_name_(name) {
    check_primary(name, *primary_, rank, shape_text, family);
    entries_.push_back({name, primary_, Role::Input});
}

const hs_tensor* ArgumentSet::add(const char* name, const hs_tensor* tensor, const Shape& shape,
                                  const std::string& meaning, Role role, int32_t dtype) {
    if (tensor == nullptr) return nullptr;
    check_float_like(name, *tensor, shape, meaning, *primary_, primary_name_, dtype);
    // The same view passed twice (say as 'u' and as 'out') is two entries, so finish() sees them overlap.
    entries_.push_back({name, tensor, role});
    return tensor;
}

const hs_tensor& ArgumentSet::input(const char* name, const hs_tensor* tensor, const Shape& shape,
                                    const std::string& meaning) {
    return *add(name, &require(name, tensor), shape, meaning, Role::Input, primary_->dtype);
}

const hs_tensor* ArgumentSet::optional_input(const char* name, const hs_tensor* tensor, const Shape& shape,
                                             const std::string& meaning) {
    return add(name, tensor, shape, meaning, Role::Input, primary_->dtype);
}

const hs_tensor& ArgumentSet::output(const char* name, const hs_tensor* tensor, const Shape& shape,
                                     const std::string& meaning) {
    return *add(name, &require(name, tensor), shape, meaning, Role::Output, primary_->dtype);
}

const hs_tensor* ArgumentSet::optional_output(const char* name, const hs_tensor* tensor, const Shape& shape,
                                              const std::string& meaning) {
    return add(name, tensor, shape, meaning, Role::Output, primary_->dtype);
}

const hs_tensor& ArgumentSet::input(const char* name, const hs_tensor* tensor, const Shape& shape,
                                    const std::string& meaning, int32_t dtype) {
    return *add(name, &require(name, tensor), shape, meaning, Role::Input, dtype);
}

const hs_tensor& ArgumentSet::output(const char* name, const hs_tensor* tensor, const Shape& shape,
                                     const std::string& meaning, int32_t dtype) {
    return *add(name, &require(name, tensor), shape, meaning, Role::Output, dtype);
}

void ArgumentSet::primary_is_output() { entries_.front().role = Role::Output; }

const hs_tensor& ArgumentSet::in_place(const char* name, const hs_tensor* tensor, const Shape& shape,
                                       const std::string& meaning) {
    return *add(name, &require(name, tensor), shape, meaning, Role::InPlace, primary_->dtype);
}

const hs_tensor* ArgumentSet::lengths(const hs_tensor* tensor, int64_t batch, int64_t max_length,
                                      const std::string& max_text) {
    if (tensor == nullptr) return nullptr;
    check_tensor_header("lengths", *tensor);
    check_shape("lengths", *tensor, {batch}, "= (Bt,)");
    check_dtype("lengths", *tensor, HS_DTYPE_INT64, "");
    check_same_device("lengths", *tensor, *primary_, primary_name_);
    check_contiguous("lengths", *tensor);
    entries_.push_back({"lengths", tensor, Role::Input});
    lengths_ = tensor;
    lengths_max_ = max_length;
    lengths_max_text_ = max_text;
    return tensor;
}

const hs_tensor* ArgumentSet::workspace(const hs_tensor* tensor, int64_t needed, int32_t dtype,
                                        const std::string& query) {
    if (tensor == nullptr) {
        if (needed == 0) return nullptr;
        throw_invalid(arg("workspace") + " is required: these sizes need " + std::to_string(needed) +
                      " elements of scratch (" + query + "), got NULL");
    }
    const hs_tensor& ws = *tensor;
    check_tensor_header("workspace", ws);
    if (ws.rank != 1 || ws.sizes[0] < needed) {
        throw_invalid(arg("workspace") + " must be 1-D with at least " + std::to_string(needed) + " elements (" +
                      query + " for these sizes), got shape " + shape_string(ws));
    }
    check_dtype("workspace", ws, dtype,
                dtype == primary_->dtype ? "like '" + std::string(primary_name_) + "'" : std::string());
    check_same_device("workspace", ws, *primary_, primary_name_);
    check_contiguous("workspace", ws);
    entries_.push_back({"workspace", tensor, Role::Scratch});
    return tensor;
}

void ArgumentSet::finish() {
    if (finished_) throw Error(HS_ERR_INTERNAL, "ArgumentSet::finish called twice");
    finished_ = true;
    // Every pair once; a pair of inputs may share memory (they are only read).
    for (size_t i = 0; i < entries_.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            const Entry& later = entries_[i];
            const Entry& earlier = entries_[j];
            if (later.role == Role::Input && earlier.role == Role::Input) continue;
            // Name the written one first: it is the one the caller has to replace.
            const Entry& written = later.role != Role::Input ? later : earlier;
            const Entry& other = later.role != Role::Input ? earlier : later;
            const char* relation = "outputs must not alias inputs";
            if (written.role == Role::InPlace || other.role == Role::InPlace) {
                relation = "an argument updated in place must not share memory with any other argument";
            } else if (written.role == Role::Scratch || other.role == Role::Scratch) {
                relation = "the workspace must not share memory with any other argument";
            } else if (other.role != Role::Input) {
                relation = "outputs must not alias each other";
            }
            check_no_overlap(written.name, *written.tensor, other.name, *other.tensor, relation);
        }
    }
    if (lengths_ == nullptr || lengths_->device_type != HS_DEVICE_CPU) return;
    const int64_t batch = lengths_->sizes[0];
    const int64_t* values = static_cast<const int64_t*>(lengths_->data);
    for (int64_t b = 0; b < batch; ++b) {
        if (values[b] < 0 || values[b] > lengths_max_) {
            throw_invalid(arg("lengths") + " must hold values in [0, " + std::to_string(lengths_max_) + "] (" +
                          lengths_max_text_ + "), got lengths[" + std::to_string(b) + "] = " +
                          std::to_string(values[b]));
        }
    }
}

bool ArgumentSet::outputs_empty() const {
    for (const Entry& entry : entries_) {
        if ((entry.role == Role::Output || entry.role == Role::InPlace) && element_count(*entry.tensor) != 0) {
            return false;
        }
    }
    return true;
}

namespace {

int64_t byte_count(const hs_tensor& tensor) { return element_count(tensor) * dtype_bytes(tensor.dtype); }

}  // namespace

void zero_output(const hs_tensor* output, hs_stream stream) {
    if (output == nullptr || element_count(*output) == 0) return;
    const auto bytes = static_cast<size_t>(byte_count(*output));
    if (output->device_type == HS_DEVICE_CPU) {
        // All-zero bits are +0.0 in IEEE float32 / float64 (so 0 + 0i in the complex dtypes) and 0 in the integer
        // dtypes.
        std::memset(output->data, 0, bytes);
        return;
    }
#if defined(HYBRIDSEQ_WITH_CUDA)
    CurrentDeviceGuard device(output->device_index);
    const cudaError_t error = cudaMemsetAsync(output->data, 0, bytes, static_cast<cudaStream_t>(stream));
    if (error != cudaSuccess) throw_cuda("cudaMemsetAsync", error);
#else
    (void)stream;
    throw Error(HS_ERR_INTERNAL, "a CUDA output reached a build without CUDA");
#endif
}

void copy_output(const hs_tensor* output, const hs_tensor* source, hs_stream stream) {
    if (source == nullptr) {
        zero_output(output, stream);
        return;
    }
    if (output == nullptr || element_count(*output) == 0) return;
    if (byte_count(*output) != byte_count(*source)) {
        throw Error(HS_ERR_INTERNAL, "copy_output between views of different sizes");
    }
    const auto bytes = static_cast<size_t>(byte_count(*output));
    if (output->device_type == HS_DEVICE_CPU) {
        std::memcpy(output->data, source->data, bytes);
        return;
    }
#if defined(HYBRIDSEQ_WITH_CUDA)
    CurrentDeviceGuard device(output->device_index);
    const cudaError_t error = cudaMemcpyAsync(output->data, source->data, bytes, cudaMemcpyDeviceToDevice,
                                              static_cast<cudaStream_t>(stream));
    if (error != cudaSuccess) throw_cuda("cudaMemcpyAsync", error);
#else
    (void)stream;
    throw Error(HS_ERR_INTERNAL, "a CUDA output reached a build without CUDA");
#endif
}

}  // namespace hs
