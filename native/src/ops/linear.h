// Internal contract of the dense projection (hs_linear_*) between the validating shim (native/src/api/linear_api.cpp)
// and the CPU backend (native/src/cpu/linear_cpu.cpp). See hybridseq.h for the public contract.
//
// The shim has checked shapes, dtypes, devices, strides and aliasing: every tensor is row-major contiguous, so
// pointers and sizes suffice. Backends throw hs::Error on failure and never return a status.
#pragma once

#include <cstdint>

namespace hs {

template <typename T>
struct LinearParams {
    int64_t rows = 0;          // M
    int64_t in_features = 0;   // K
    int64_t out_features = 0;  // N
    const T* x = nullptr;      // (M, K)
    const T* w = nullptr;      // (N, K)
    const T* b = nullptr;      // (N) or null
    T* y = nullptr;            // (M, N)
};

template <typename T>
struct LinearBackwardParams {
    int64_t rows = 0, in_features = 0, out_features = 0;
    const T* x = nullptr;   // (M, K)
    const T* w = nullptr;   // (N, K)
    const T* dy = nullptr;  // (M, N)
    T* dx = nullptr;        // (M, K) or null
    T* dw = nullptr;        // (N, K) or null
    T* db = nullptr;        // (N) or null
};

template <typename T>
void linear_forward_cpu(const LinearParams<T>& p);
template <typename T>
void linear_backward_cpu(const LinearBackwardParams<T>& p);

}  // namespace hs
