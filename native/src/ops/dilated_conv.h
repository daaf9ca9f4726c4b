// Internal contract of the dense dilated causal convolution (hs_dilated_conv_*) between the validating shim
// (native/src/api/dilated_conv_api.cpp) and the backends (native/src/cpu/dilated_conv_cpu.cpp,
// native/src/cuda/dilated_conv.cu). See hybridseq.h for the public contract.
//
// The shim has checked shapes, dtypes, devices, strides and aliasing (and, on the CPU, the values of 'lengths'):
// every tensor is row-major contiguous, so pointers and sizes suffice. Backends throw hs::Error on failure and never
// return a status.
#pragma once

#include <cstdint>

namespace hs {

template <typename T>
struct DilatedConvParams {
    int64_t batch = 0;         // Bt
    int64_t in_channels = 0;   // C_in
    int64_t out_channels = 0;  // C_out
    int64_t width = 0;         // K >= 1
    int64_t dilation = 1;      // >= 1
    int64_t length = 0;        // L (T for the step)
    const T* x = nullptr;              // (Bt, C_in, L)
    const T* weight = nullptr;         // (C_out, C_in, K)
    const T* bias = nullptr;           // (C_out) or null
    const T* initial_state = nullptr;  // (Bt, C_in, S) or null (zeros)
    const int64_t* lengths = nullptr;  // (Bt) or null (all L); CUDA clamps to [0, L]
    T* y = nullptr;                    // (Bt, C_out, L)
    // (Bt, C_in, S) or null. May equal initial_state (the step advances its state in place): backends read every
    // value of the initial state they need for y before writing it.
    T* final_state = nullptr;

    int64_t state_length() const { return (width - 1) * dilation; }
};

template <typename T>
struct DilatedConvBackwardParams {
    DilatedConvParams<T> fwd;          // y and final_state unused
    const T* dy = nullptr;             // (Bt, C_out, L)
    const T* d_final_state = nullptr;  // (Bt, C_in, S) or null (zeros)
    T* dx = nullptr;                   // (Bt, C_in, L) or null
    T* dweight = nullptr;              // (C_out, C_in, K) or null
    T* dbias = nullptr;                // (C_out) or null
    T* d_initial_state = nullptr;      // (Bt, C_in, S) or null
};

template <typename T>
void dilated_conv_forward_cpu(const DilatedConvParams<T>& p);
template <typename T>
void dilated_conv_backward_cpu(const DilatedConvBackwardParams<T>& p);

#if defined(HYBRIDSEQ_WITH_CUDA)
void dilated_conv_forward_cuda(const DilatedConvParams<float>& p, void* stream);
void dilated_conv_backward_cuda(const DilatedConvBackwardParams<float>& p, void* stream);
#endif

}  // namespace hs
