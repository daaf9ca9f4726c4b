// Internal contract of the depthwise causal convolution between the validating shim
// (native/src/api/depthwise_conv_api.cpp) and the backends (native/src/cpu/depthwise_conv_cpu.cpp,
// native/src/cuda/depthwise_conv.cu). The shim has checked every shape, dtype, device, stride and value (CPU
// lengths): all tensors are row-major contiguous with the shapes of hybridseq.h.
//
// The step (hs_depthwise_conv_step) is the forward with initial_state == final_state == the state buffer and no
// lengths, so every backend must read a row's state before writing that row's new state.
#pragma once

#include <cstdint>

namespace hs {

template <typename T>
struct DepthwiseConvParams {
    int64_t batch = 0;     // Bt
    int64_t channels = 0;  // D
    int64_t length = 0;    // L (T for the step)
    int64_t width = 0;     // K >= 1
    int64_t dilation = 1;  // >= 1
    bool silu = false;

    int64_t state_length() const { return (width - 1) * dilation; }  // S

    const T* x = nullptr;              // (Bt, D, L)
    const T* weight = nullptr;         // (D, K)
    const T* bias = nullptr;           // (D) or null
    const T* initial_state = nullptr;  // (Bt, D, S) or null (= zeros)
    const int64_t* lengths = nullptr;  // (Bt) or null (= all L); CPU: validated; CUDA: clamp to [0, L]

    T* y = nullptr;            // (Bt, D, L)
    T* final_state = nullptr;  // (Bt, D, S) or null; may alias initial_state (the step)
};

template <typename T>
struct DepthwiseConvBackwardParams {
    DepthwiseConvParams<T> fwd;       // the forward inputs (fwd.y / final_state unused)
    const T* dy = nullptr;            // (Bt, D, L)
    const T* d_final_state = nullptr; // (Bt, D, S) or null (= zeros)

    T* dx = nullptr;               // (Bt, D, L)
    T* dweight = nullptr;          // (D, K)
    T* dbias = nullptr;            // (D) or null
    T* d_initial_state = nullptr;  // (Bt, D, S) or null

    float* workspace = nullptr;  // CUDA only: Bt*D*L floats when silu, else null
};

// CPU twin, float and double.
template <typename T>
void depthwise_conv_forward_cpu(const DepthwiseConvParams<T>& p);
template <typename T>
void depthwise_conv_backward_cpu(const DepthwiseConvBackwardParams<T>& p);

#if defined(HYBRIDSEQ_WITH_CUDA)
// CUDA launchers (float32); stream is a cudaStream_t (null = legacy default stream).
void depthwise_conv_forward_cuda(const DepthwiseConvParams<float>& p, void* stream);
void depthwise_conv_backward_cuda(const DepthwiseConvBackwardParams<float>& p, void* stream);
#endif

}  // namespace hs
