// Internal contract of the S4 kernels (hs_cauchy_*, hs_vandermonde_*) between the validating shim
// (native/src/api/s4_kernels_api.cpp) and the backends (native/src/cpu/s4_kernels_cpu.cpp,
// native/src/cuda/s4_kernels.cu). See hybridseq.h for the public contract.
//
// The shim has checked shapes, dtypes, devices, strides and aliasing: every tensor is row-major contiguous, so
// pointers and sizes suffice. Complex tensors arrive as their interleaved (re, im) pairs of the real type T (float for
// complex64, double for complex128): element k of a complex tensor is data[2k] + i data[2k + 1]. Backends throw
// hs::Error on failure and never return a status.
#pragma once

#include <cstdint>

namespace hs {

template <typename T>
struct CauchyParams {
    int64_t rows = 0;      // H
    int64_t terms = 0;     // N
    int64_t points = 0;    // L
    bool conjugate_symmetric = false;
    const T* v = nullptr;  // (H, N) complex
    const T* w = nullptr;  // (H, N) complex
    const T* z = nullptr;  // (L) complex
    T* out = nullptr;      // (H, L) complex
};

template <typename T>
struct CauchyBackwardParams {
    int64_t rows = 0, terms = 0, points = 0;
    bool conjugate_symmetric = false;
    const T* v = nullptr;     // (H, N) complex
    const T* w = nullptr;     // (H, N) complex
    const T* z = nullptr;     // (L) complex
    const T* dout = nullptr;  // (H, L) complex
    T* dv = nullptr;          // (H, N) complex or null
    T* dw = nullptr;          // (H, N) complex or null
};

template <typename T>
struct VandermondeParams {
    int64_t rows = 0, terms = 0, points = 0;  // H, N, L
    bool conjugate_symmetric = false;
    const T* v = nullptr;  // (H, N) complex
    const T* x = nullptr;  // (H, N) complex
    T* out = nullptr;      // (H, L): complex, or real when conjugate_symmetric
};

template <typename T>
struct VandermondeBackwardParams {
    int64_t rows = 0, terms = 0, points = 0;
    bool conjugate_symmetric = false;
    const T* v = nullptr;     // (H, N) complex
    const T* x = nullptr;     // (H, N) complex
    const T* dout = nullptr;  // (H, L): complex, or real when conjugate_symmetric
    T* dv = nullptr;          // (H, N) complex or null
    T* dx = nullptr;          // (H, N) complex or null
};

template <typename T>
void cauchy_forward_cpu(const CauchyParams<T>& p);
template <typename T>
void cauchy_backward_cpu(const CauchyBackwardParams<T>& p);
template <typename T>
void vandermonde_forward_cpu(const VandermondeParams<T>& p);
template <typename T>
void vandermonde_backward_cpu(const VandermondeBackwardParams<T>& p);

#if defined(HYBRIDSEQ_WITH_CUDA)
// complex64 only; `stream` is a cudaStream_t.
void cauchy_forward_cuda(const CauchyParams<float>& p, void* stream);
void cauchy_backward_cuda(const CauchyBackwardParams<float>& p, void* stream);
void vandermonde_forward_cuda(const VandermondeParams<float>& p, void* stream);
void vandermonde_backward_cuda(const VandermondeBackwardParams<float>& p, void* stream);
#endif

}  // namespace hs
