// CUDA error checking for the launchers. Every CUDA runtime call and every kernel launch goes through these macros,
// which turn a failure into hs::Error(HS_ERR_CUDA, "<what>: <cudaGetErrorString>"); the extern "C" entry points
// turn that into a status. Nothing here exits or aborts.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "common/error.h"

namespace hs {

[[noreturn]] inline void throw_cuda_error(cudaError_t code, const char* what) {
    throw Error(HS_ERR_CUDA, std::string(what) + ": " + cudaGetErrorString(code) + " (" +
                                 cudaGetErrorName(code) + ")");
}

inline void check_cuda(cudaError_t code, const char* what) {
    if (code != cudaSuccess) {
        throw_cuda_error(code, what);
    }
}

// After a <<<...>>> launch: a bad configuration shows up only in cudaGetLastError, which also clears it so that
// the next call on this thread does not report it again.
inline void check_cuda_launch(const char* kernel_name) {
    check_cuda(cudaGetLastError(), kernel_name);
}

}  // namespace hs

// HS_CUDA_CHECK(cudaMemsetAsync(...), "zeroing dA") throws HS_ERR_CUDA naming the call on failure.
#define HS_CUDA_CHECK(call, what) ::hs::check_cuda((call), (what))
// HS_CUDA_CHECK_LAUNCH("selective_scan_forward_kernel") right after a launch.
#define HS_CUDA_CHECK_LAUNCH(kernel_name) ::hs::check_cuda_launch(kernel_name)
