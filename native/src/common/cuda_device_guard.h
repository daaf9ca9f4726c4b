// Makes a CUDA device current for the lifetime of the guard and restores the caller's device afterwards, so that
// neither a query nor a kernel launch changes which device the caller's later CUDA work goes to. Every CUDA entry
// point takes one with the device_index of its tensors before launching.
#pragma once

#if defined(HYBRIDSEQ_WITH_CUDA)
#include <cuda_runtime_api.h>

#include "cuda/cuda_check.h"

namespace hs {

class CurrentDeviceGuard {
public:
    explicit CurrentDeviceGuard(int device) {
        cudaError_t error = cudaGetDevice(&previous_);
        if (error != cudaSuccess) throw_cuda("cudaGetDevice", error);
        if (previous_ != device) {
            error = cudaSetDevice(device);
            if (error != cudaSuccess) throw_cuda("cudaSetDevice", error);
        }
    }
    // Restoring can only fail if the device became unusable, which the caller's next CUDA call reports.
    ~CurrentDeviceGuard() { cudaSetDevice(previous_); }
    CurrentDeviceGuard(const CurrentDeviceGuard&) = delete;
    CurrentDeviceGuard& operator=(const CurrentDeviceGuard&) = delete;

private:
    int previous_ = 0;
};

}  // namespace hs
#endif
