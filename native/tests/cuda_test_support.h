// Shared helpers of the CUDA tests (test_*_cuda.cpp, compiled only in CUDA builds): the skip-without-device guard,
// CUDA error checks, and an owned device tensor with its hs_tensor view and float32 host <-> device copies.
// Header-only so that the CMake test glob needs no CUDA-only source.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hybridseq.h"

// Ends the current test as skipped (never passed) when the library sees no CUDA device; a failing device query is a
// test failure, not a skip.
#define SKIP_WITHOUT_CUDA_DEVICE()                                                     \
    do {                                                                               \
        int32_t device_count = 0;                                                      \
        ASSERT_EQ(hs_cuda_device_count(&device_count), HS_OK) << hs_last_error();      \
        if (device_count == 0) {                                                       \
            GTEST_SKIP() << "no usable CUDA device: " << hs_cuda_unavailable_reason(); \
        }                                                                              \
    } while (0)

namespace hs_test {

// Whether these tests run against the emulated CUDA backend (HYBRIDSEQ_CUDA=EMULATED, docs/cuda-emulation.md),
// where every CUDA thread is a fiber on the CPU and a kernel costs orders of magnitude more than on a GPU. Tests
// shrink only their large sizes there (long sequences, wide layers); odd and tail sizes and every determinism
// check stay as they are.
constexpr bool cuda_emulated() {
#if defined(HYBRIDSEQ_CUDA_EMULATION)
    return true;
#else
    return false;
#endif
}

// Throws std::runtime_error "<what>: <CUDA message>" when `code` is not cudaSuccess. The runtime also kept the
// error as this thread's last error; it is cleared, so that the next test's first launch check does not report it.
inline void check_cuda(cudaError_t code, const char* what) {
    if (code != cudaSuccess) {
        (void)cudaGetLastError();
        throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(code));
    }
}

inline size_t shape_element_count(const std::vector<int64_t>& shape) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    return static_cast<size_t>(count);
}

// Bytes of one element of an HS_DTYPE_* (float32 / int32: 4, float64 / int64: 8).
inline size_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_FLOAT32:
        case HS_DTYPE_INT32: return 4;
        case HS_DTYPE_COMPLEX128: return 16;
        default: return 8;  // float64, int64, complex64
    }
}

// A contiguous (row-major) view of `data` with the given shape on device 0 of `device_type`; the caller owns `data`.
inline hs_tensor contiguous_view(void* data, int32_t dtype, int32_t device_type, const std::vector<int64_t>& shape) {
    hs_tensor view{};
    view.data = data;
    view.dtype = dtype;
    view.device_type = device_type;
    view.device_index = 0;
    view.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int i = view.rank - 1; i >= 0; --i) {
        view.sizes[i] = shape[static_cast<size_t>(i)];
        view.strides[i] = stride;
        stride *= shape[static_cast<size_t>(i)];
    }
    return view;
}

struct CudaFree {
    void operator()(void* data) const { cudaFree(data); }
};

// A contiguous tensor in device memory (owned; movable, not copyable) and its hs_tensor view. A new tensor holds
// all-ones bytes, which is NaN for float32, so an element a kernel forgets to write fails the comparison.
class DeviceTensor {
public:
    DeviceTensor() = default;
    DeviceTensor(const std::vector<int64_t>& shape, int32_t dtype) {
        const size_t bytes = std::max<size_t>(shape_element_count(shape) * dtype_size(dtype), 1);
        void* data = nullptr;
        check_cuda(cudaMalloc(&data, bytes), "cudaMalloc");
        memory_.reset(data);
        check_cuda(cudaMemset(data, 0xFF, bytes), "cudaMemset");
        view_ = contiguous_view(data, dtype, HS_DEVICE_CUDA, shape);
    }

    // A float32 device tensor of `shape` holding `values` (one per element) rounded to float.
    static DeviceTensor upload(const std::vector<double>& values, const std::vector<int64_t>& shape) {
        DeviceTensor tensor(shape, HS_DTYPE_FLOAT32);
        const std::vector<float> host(values.begin(), values.end());
        check_cuda(cudaMemcpy(tensor.view_.data, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
                   "cudaMemcpy to device");
        return tensor;
    }

    // A 1-D int64 device tensor holding `values`.
    static DeviceTensor upload_int64(const std::vector<int64_t>& values) {
        DeviceTensor tensor({static_cast<int64_t>(values.size())}, HS_DTYPE_INT64);
        check_cuda(cudaMemcpy(tensor.view_.data, values.data(), values.size() * sizeof(int64_t),
                              cudaMemcpyHostToDevice),
                   "cudaMemcpy to device");
        return tensor;
    }

    // The elements of a float32 tensor, widened to double.
    std::vector<double> download() const {
        std::vector<float> host(shape_element_count(shape()));
        check_cuda(cudaMemcpy(host.data(), view_.data, host.size() * sizeof(float), cudaMemcpyDeviceToHost),
                   "cudaMemcpy to host");
        return std::vector<double>(host.begin(), host.end());
    }

    std::vector<int64_t> shape() const { return std::vector<int64_t>(view_.sizes, view_.sizes + view_.rank); }
    const hs_tensor* view() const { return &view_; }
    hs_tensor* mutable_view() { return &view_; }

private:
    std::unique_ptr<void, CudaFree> memory_;
    hs_tensor view_{};
};

}  // namespace hs_test
