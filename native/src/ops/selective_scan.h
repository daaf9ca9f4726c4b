// Internal contract of the selective scan between the validating shim (native/src/api/selective_scan_api.cpp) and
// the backends (native/src/cpu/selective_scan_cpu.cpp, native/src/cuda/selective_scan_*.cu).
//
// By the time a backend sees these structs, the shim has checked every shape, dtype, device and stride: all
// tensors are row-major contiguous with the shapes of hybridseq.h, so plain pointers and sizes are enough.
// A backend throws hs::Error on failure (CUDA errors as HS_ERR_CUDA); it never returns a status itself.
//
// The single step (hs_selective_scan_step) is the forward with seqlen == 1, h0 == h_last == the state buffer and
// no checkpoints, so every backend must tolerate h0 and h_last aliasing: read h0[b,d,:] before writing
// h_last[b,d,:] of the same (b, d).
#pragma once

#include <cstdint>

namespace hs {

template <typename T>
struct SelectiveScanParams {
    int64_t batch = 0;   // Bt
    int64_t dim = 0;     // Dm
    int64_t groups = 1;  // G (only meaningful for time-varying B / C)
    int64_t dstate = 0;  // N
    int64_t seqlen = 0;  // L
    bool b_varying = false;  // B is (Bt, G, N, L), else (Dm, N)
    bool c_varying = false;  // C is (Bt, G, N, L), else (Dm, N)
    bool delta_softplus = false;

    const T* u = nullptr;           // (Bt, Dm, L)
    const T* delta = nullptr;       // (Bt, Dm, L)
    const T* A = nullptr;           // (Dm, N)
    const T* B = nullptr;
    const T* C = nullptr;
    const T* D = nullptr;           // (Dm) or null
    const T* z = nullptr;           // (Bt, Dm, L) or null
    const T* delta_bias = nullptr;  // (Dm) or null
    const T* h0 = nullptr;          // (Bt, Dm, N) or null (= zeros)
    const int64_t* lengths = nullptr;  // (Bt) or null (= all L); CPU: validated; CUDA: clamp to [0, L]

    // Forward outputs.
    T* out = nullptr;          // (Bt, Dm, L)
    T* h_last = nullptr;       // (Bt, Dm, N) or null; may alias h0
    T* checkpoints = nullptr;  // (Bt, Dm, K, N) or null; K = hs_selective_scan_num_chunks(L)
};

template <typename T>
struct SelectiveScanBackwardParams {
    SelectiveScanParams<T> fwd;   // the forward inputs (fwd.out / h_last / checkpoints unused)
    const T* checkpoints = nullptr;  // (Bt, Dm, K, N), written by the forward
    const T* dout = nullptr;         // (Bt, Dm, L)
    const T* dh_last = nullptr;      // (Bt, Dm, N) or null (= zeros)

    // Gradients, overwritten. dD / dz / ddelta_bias are non-null exactly when D / z / delta_bias are; dh0 optional.
    T* du = nullptr;
    T* ddelta = nullptr;
    T* dA = nullptr;
    T* dB = nullptr;
    T* dC = nullptr;
    T* dD = nullptr;
    T* dz = nullptr;
    T* ddelta_bias = nullptr;
    T* dh0 = nullptr;

    bool deterministic = false;
    float* workspace = nullptr;       // CUDA only, device memory
    int64_t workspace_elements = 0;   // what the caller provided (>= selective_scan_workspace_elements_cuda)
};

// CPU twin: the reference. float and double are instantiated.
template <typename T>
void selective_scan_forward_cpu(const SelectiveScanParams<T>& p);
template <typename T>
void selective_scan_backward_cpu(const SelectiveScanBackwardParams<T>& p);

#if defined(HYBRIDSEQ_WITH_CUDA)
// CUDA launchers (float32). stream is a cudaStream_t (null = legacy default stream).
void selective_scan_forward_cuda(const SelectiveScanParams<float>& p, void* stream);
void selective_scan_backward_cuda(const SelectiveScanBackwardParams<float>& p, void* stream);
int64_t selective_scan_workspace_elements_cuda(int64_t batch, int64_t dim, int64_t groups, int64_t dstate,
                                               int64_t seqlen, bool b_varying, bool c_varying, bool deterministic);
#endif

}  // namespace hs
