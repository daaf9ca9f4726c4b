// The one CUDA error helper of the library (launchers, device guard, device queries). Every CUDA runtime call and
// every kernel launch goes through it, which turns a failure into hs::Error(HS_ERR_CUDA, "<what> failed:
// <cudaGetErrorName> (<cudaGetErrorString>)"); the extern "C" entry points turn that into a status. Nothing here
// exits or aborts. Host code only, so the C++ shims (compiled by the host compiler) include it as well.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/error.h"

namespace hs {

[[noreturn]] inline void throw_cuda(const char* what, cudaError_t error) {
    throw Error(HS_ERR_CUDA, std::string(what) + " failed: " + cudaGetErrorName(error) + " (" +
                                 cudaGetErrorString(error) + ")");
}

inline void check_cuda(cudaError_t error, const char* what) {
    if (error != cudaSuccess) throw_cuda(what, error);
}

// After a <<<...>>> launch: a bad configuration shows up only in cudaGetLastError, which also clears it so that
// the next call on this thread does not report it again.
inline void check_cuda_launch(const char* kernel_name) { check_cuda(cudaGetLastError(), kernel_name); }

}  // namespace hs

// HS_CUDA_CHECK(cudaMemsetAsync(...), "zeroing dA") throws HS_ERR_CUDA naming the call on failure.
#define HS_CUDA_CHECK(call, what) ::hs::check_cuda((call), (what))
// HS_CUDA_CHECK_LAUNCH("selective_scan_forward_kernel launch") right after a launch.
#define HS_CUDA_CHECK_LAUNCH(kernel_name) ::hs::check_cuda_launch(kernel_name)
