/*
 * hybridseq.h - the one public C header of the HybridSeq native library.
 *
 * Conventions (they hold for every function below):
 *  - Every fallible call returns an hs_status. On failure, hs_last_error() returns a message for the calling
 *    thread that names the failing argument, what was expected and what came. No C++ exception, abort() or
 *    exit() ever crosses this boundary, and every CUDA error (launch or runtime) becomes HS_ERR_CUDA.
 *  - Tensors cross as hs_tensor views (DLPack-like): a data pointer, device, dtype, rank, sizes and strides
 *    counted in elements. The caller owns and allocates every buffer: inputs, outputs, saved-for-backward state
 *    and workspaces. The library keeps no pointer after a call returns (CUDA work may still be in flight on the
 *    given stream; the caller keeps buffers alive until the stream is synchronised).
 *  - An optional tensor argument is passed as NULL. Output views must not alias inputs unless a function says so.
 *  - Kernels take row-major contiguous tensors; the strides are checked, not assumed.
 *  - A CUDA stream is an explicit argument (hs_stream, a cudaStream_t); NULL is the legacy default stream, which
 *    keeps our kernels ordered with libtorch's work on that stream.
 *  - All tensors of one call live on one device; CPU kernels run on the calling thread plus an OpenMP pool.
 */
#ifndef HYBRIDSEQ_H
#define HYBRIDSEQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(HYBRIDSEQ_BUILDING)
#    define HS_API __declspec(dllexport)
#  else
#    define HS_API __declspec(dllimport)
#  endif
#else
#  define HS_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time constants of the ABI (an enum, so that binding generators see them as values). */
typedef enum hs_constants {
    /* Bumped on every incompatible change of this header; the managed layer refuses a library that differs. */
    HS_API_VERSION = 1,
    /* The most dimensions an hs_tensor can describe. */
    HS_MAX_RANK = 6,
    /* The selective scan saves its state every HS_SELECTIVE_SCAN_CHUNK time steps for the backward pass. */
    HS_SELECTIVE_SCAN_CHUNK = 256
} hs_constants;

typedef enum hs_status {
    HS_OK = 0,
    HS_ERR_INVALID_ARGUMENT = 1, /* shape, dtype, device, stride or value of an argument is wrong */
    HS_ERR_UNSUPPORTED = 2,      /* valid request this build or backend cannot serve (e.g. float64 on CUDA) */
    HS_ERR_CUDA = 3,             /* a CUDA runtime or launch error; the message carries cudaGetErrorString */
    HS_ERR_OUT_OF_MEMORY = 4,
    HS_ERR_INTERNAL = 5          /* a bug in HybridSeq: please report the message */
} hs_status;

typedef enum hs_dtype {
    HS_DTYPE_FLOAT32 = 0,
    HS_DTYPE_FLOAT64 = 1,
    HS_DTYPE_INT32 = 2,
    HS_DTYPE_INT64 = 3
} hs_dtype;

typedef enum hs_device_type {
    HS_DEVICE_CPU = 0,
    HS_DEVICE_CUDA = 1
} hs_device_type;

/* A non-owning view of a strided tensor. sizes/strides past rank are ignored. */
typedef struct hs_tensor {
    void* data;                      /* element [0,...,0]; may be NULL only when some size is 0 */
    int32_t dtype;                   /* hs_dtype */
    int32_t device_type;             /* hs_device_type */
    int32_t device_index;            /* CUDA ordinal; 0 for CPU */
    int32_t rank;                    /* 0..HS_MAX_RANK */
    int64_t sizes[HS_MAX_RANK];
    int64_t strides[HS_MAX_RANK];    /* in elements, not bytes */
} hs_tensor;

/* A cudaStream_t, or NULL for the legacy default stream. Ignored by CPU kernels. */
typedef void* hs_stream;

typedef struct hs_device_info {
    char name[256];
    int32_t compute_major;
    int32_t compute_minor;
    int32_t multiprocessor_count;
    int32_t reserved;
    int64_t total_memory_bytes;
    int64_t free_memory_bytes;
} hs_device_info;

/* ---------------------------------------------------------------------------------------------------------------
 * Library, errors, devices
 * ------------------------------------------------------------------------------------------------------------- */

/* HS_API_VERSION of the built library. */
HS_API int32_t hs_api_version(void);
/* "major.minor.patch (cpu|cuda <version>)"; static storage. */
HS_API const char* hs_version_string(void);
/* The message of the last failed call on this thread ("" if none). Valid until the next call on this thread. */
HS_API const char* hs_last_error(void);
/* A fixed English name for a status ("HS_ERR_CUDA", ...); static storage. */
HS_API const char* hs_status_name(int32_t status);
/* 1 when the library was built with its CUDA kernels, else 0. */
HS_API int32_t hs_cuda_compiled(void);
/* Number of usable CUDA devices. With no CUDA build, no driver or no device: *count = 0 and HS_OK, and
 * hs_cuda_unavailable_reason() says why. */
HS_API hs_status hs_cuda_device_count(int32_t* count);
/* Why CUDA is not usable ("" when it is); static or thread-local storage. */
HS_API const char* hs_cuda_unavailable_reason(void);
HS_API hs_status hs_cuda_device_info(int32_t device, hs_device_info* info);
/* Waits for all work on the device (cudaDeviceSynchronize) and reports any pending asynchronous error. */
HS_API hs_status hs_cuda_synchronize(int32_t device);
/* ABI self-description for tests: sizeof / offsetof of the structs above, by name ("hs_tensor", "sizes").
 * Unknown names give HS_ERR_INVALID_ARGUMENT. */
HS_API hs_status hs_abi_sizeof(const char* type_name, int64_t* size);
HS_API hs_status hs_abi_offsetof(const char* type_name, const char* field_name, int64_t* offset);

/* ---------------------------------------------------------------------------------------------------------------
 * Selective scan (Mamba-1 S6)
 *
 * Per batch b, channel d, state n, time t (dt = delta + delta_bias, then softplus if delta_softplus):
 *     h[t] = exp(dt[t] * A[d,n]) * h[t-1] + dt[t] * B[n,t] * u[t]          h[-1] = h0 (or 0)
 *     y[t] = sum_n C[n,t] * h[t] + D[d] * u[t]
 *     out[t] = y[t] * silu(z[t])   (when z is given, else y[t])
 * Shapes (Bt = batch, Dm = channels, G = groups with Dm % G == 0, channel d uses group d / (Dm/G), N = state, L = length):
 *     u, delta        (Bt, Dm, L)
 *     A               (Dm, N)                 real, usually negative
 *     B, C            (Dm, N) constant over time, or (Bt, G, N, L) time-varying (each chooses on its own)
 *     D, delta_bias   (Dm)                    optional
 *     z               (Bt, Dm, L)             optional gate
 *     h0              (Bt, Dm, N)             optional initial state (zero when NULL)
 *     lengths         (Bt) int64, 0 <= lengths[b] <= L, optional (all L when NULL). Right padding: out is 0 at
 *                     t >= lengths[b], the state stops there, and inputs there get zero gradient. On CUDA the
 *                     values cannot be checked without a device sync, so the kernel clamps them to [0, L].
 * dtypes: one float dtype for all float tensors: float32 or float64 on CPU, float32 on CUDA (state math in fp32).
 * NaN/Inf in the inputs propagate into the outputs; they are not checked.
 * ------------------------------------------------------------------------------------------------------------- */

typedef struct hs_selective_scan_inputs {
    const hs_tensor* u;
    const hs_tensor* delta;
    const hs_tensor* A;
    const hs_tensor* B;
    const hs_tensor* C;
    const hs_tensor* D;            /* optional */
    const hs_tensor* z;            /* optional */
    const hs_tensor* delta_bias;   /* optional */
    const hs_tensor* h0;           /* optional; must be NULL for hs_selective_scan_step */
    const hs_tensor* lengths;      /* optional; must be NULL for hs_selective_scan_step */
    int32_t delta_softplus;        /* 0 or 1 */
    int32_t reserved;
} hs_selective_scan_inputs;

/* Gradients written by the backward pass; each is overwritten (not accumulated) and has its input's shape and
 * dtype. du, ddelta, dA, dB, dC are required; dD / dz / ddelta_bias are required exactly when D / z / delta_bias
 * were given; dh0 is optional (the gradient of the initial state, also when h0 was NULL = zeros). */
typedef struct hs_selective_scan_grads {
    const hs_tensor* du;
    const hs_tensor* ddelta;
    const hs_tensor* dA;
    const hs_tensor* dB;
    const hs_tensor* dC;
    const hs_tensor* dD;
    const hs_tensor* dz;
    const hs_tensor* ddelta_bias;
    const hs_tensor* dh0;
} hs_selective_scan_grads;

/* Number of saved chunks for a length: ceil(L / HS_SELECTIVE_SCAN_CHUNK), at least 1. */
HS_API int64_t hs_selective_scan_num_chunks(int64_t seqlen);

/* Forward scan.
 *   out          (Bt, Dm, L)             required
 *   h_last       (Bt, Dm, N)             optional: the state after step lengths[b]-1 (h0 when lengths[b] == 0)
 *   checkpoints  (Bt, Dm, K, N), K = hs_selective_scan_num_chunks(L), optional: checkpoints[:,:,k] is the state
 *                before step k*HS_SELECTIVE_SCAN_CHUNK; pass it when a backward pass will follow.
 * Memory for backward is O(Bt*Dm*N*L/HS_SELECTIVE_SCAN_CHUNK); every other intermediate is recomputed. */
HS_API hs_status hs_selective_scan_forward(const hs_selective_scan_inputs* inputs, const hs_tensor* out,
                                           const hs_tensor* h_last, const hs_tensor* checkpoints, hs_stream stream);

/* Elements of float32 (CUDA) workspace that hs_selective_scan_backward needs for these sizes; 0 on CPU.
 * b_varying / c_varying: 1 when B / C are (Bt, G, N, L). */
HS_API hs_status hs_selective_scan_workspace_elements(int32_t device_type, int64_t batch, int64_t dim,
                                                      int64_t groups, int64_t dstate, int64_t seqlen,
                                                      int32_t b_varying, int32_t c_varying, int32_t deterministic,
                                                      int64_t* elements);

/* Backward scan from the forward inputs and the checkpoints the forward wrote.
 *   dout         (Bt, Dm, L)             required
 *   dh_last      (Bt, Dm, N)             optional (zero when NULL)
 *   deterministic: 0 or 1. The CPU backward is always deterministic (fixed reduction order). On CUDA, 0 lets
 *                reductions over channels and batch use float atomics (run-to-run bit differences); 1 reduces
 *                through the workspace in a fixed order, so repeated runs give identical bits.
 *   workspace    1-D float32 on the device with at least hs_selective_scan_workspace_elements(...) elements;
 *                may be NULL when that number is 0. */
HS_API hs_status hs_selective_scan_backward(const hs_selective_scan_inputs* inputs, const hs_tensor* checkpoints,
                                            const hs_tensor* dout, const hs_tensor* dh_last,
                                            const hs_selective_scan_grads* grads, int32_t deterministic,
                                            const hs_tensor* workspace, hs_stream stream);

/* One recurrent step for generation, equal to one column of the full scan:
 *   inputs->u, delta, z (Bt, Dm); B, C (Dm, N) or (Bt, G, N); A, D, delta_bias as above; h0, lengths NULL.
 *   state        (Bt, Dm, N) read as h[t-1] and overwritten with h[t] (in place)
 *   out          (Bt, Dm) */
HS_API hs_status hs_selective_scan_step(const hs_selective_scan_inputs* inputs, const hs_tensor* state,
                                        const hs_tensor* out, hs_stream stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HYBRIDSEQ_H */
