// Shared helpers of the GPU timing executables (gpu_*_bench.cpp): error checks that throw, a float32 device tensor
// with its hs_tensor view, and median cudaEvent timing. Header-only: a native/bench/gpu_*.cpp would become an
// executable of its own (native/CMakeLists.txt).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace hs_bench {

// Throws std::runtime_error "<what>: <CUDA message>" when `code` is not cudaSuccess.
inline void check_cuda(cudaError_t code, const char* what) {
    if (code != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(code));
}

// Throws std::runtime_error "<what> failed: <status>: <last error>" when `status` is not HS_OK.
inline void check_status(hs_status status, const char* what) {
    if (status != HS_OK) {
        throw std::runtime_error(std::string(what) + " failed: " + hs_status_name(status) + ": " + hs_last_error());
    }
}

// A contiguous float32 tensor in device memory on device 0 (owned, not copyable): zeros (outputs), or uniform values
// in [low, high) from `seed` (inputs). A shape with 0 elements still allocates one element, so the view has data.
class DeviceTensor {
public:
    explicit DeviceTensor(std::vector<int64_t> shape) : shape_(std::move(shape)) {
        size_t count = 1;
        for (int64_t s : shape_) count *= static_cast<size_t>(s);
        bytes_ = std::max<size_t>(count, 1) * sizeof(float);
        check_cuda(cudaMalloc(&data_, bytes_), "cudaMalloc");
        check_cuda(cudaMemset(data_, 0, bytes_), "cudaMemset");
        view_.data = data_;
        view_.dtype = HS_DTYPE_FLOAT32;
        view_.device_type = HS_DEVICE_CUDA;
        view_.device_index = 0;
        view_.rank = static_cast<int32_t>(shape_.size());
        int64_t stride = 1;
        for (int i = view_.rank - 1; i >= 0; --i) {
            view_.sizes[i] = shape_[static_cast<size_t>(i)];
            view_.strides[i] = stride;
            stride *= shape_[static_cast<size_t>(i)];
        }
    }
    DeviceTensor(std::vector<int64_t> shape, float low, float high, uint32_t seed) : DeviceTensor(std::move(shape)) {
        std::mt19937 generator(seed);
        std::uniform_real_distribution<float> distribution(low, high);
        std::vector<float> host(bytes_ / sizeof(float));
        for (float& v : host) v = distribution(generator);
        check_cuda(cudaMemcpy(data_, host.data(), bytes_, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
    DeviceTensor(const DeviceTensor&) = delete;
    DeviceTensor& operator=(const DeviceTensor&) = delete;
    ~DeviceTensor() { cudaFree(data_); }

    const hs_tensor* view() const { return &view_; }

private:
    std::vector<int64_t> shape_;
    size_t bytes_ = 0;
    void* data_ = nullptr;
    hs_tensor view_{};
};

// Median milliseconds of `iterations` runs of `work` on the default stream, each timed with a cudaEvent pair, after
// `warmup` untimed runs and a device synchronize (so the warm-up's tail is not in the first timing).
template <typename Work>
double median_event_ms(int warmup, int iterations, Work work) {
    for (int i = 0; i < warmup; ++i) work();
    check_cuda(cudaDeviceSynchronize(), "warm-up");
    cudaEvent_t start, stop;
    check_cuda(cudaEventCreate(&start), "cudaEventCreate");
    check_cuda(cudaEventCreate(&stop), "cudaEventCreate");
    std::vector<double> times;
    for (int i = 0; i < iterations; ++i) {
        check_cuda(cudaEventRecord(start, nullptr), "cudaEventRecord");
        work();
        check_cuda(cudaEventRecord(stop, nullptr), "cudaEventRecord");
        check_cuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0.0f;
        check_cuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
        times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

}  // namespace hs_bench
