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
 *  - An optional tensor argument is passed as NULL. No output view may overlap the memory of any other tensor
 *    argument of the call (inputs, int64 'lengths' included, other outputs, the workspace); an in-place argument
 *    (a step's 'state') is read and written, so it must not overlap any other argument either.
 *  - Element counts are products of the sizes: a view whose count (or byte count) does not fit in int64 is refused.
 *    A call whose outputs are all empty returns HS_OK at once without touching memory.
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

/* Every function that returns an hs_status is declared HS_NODISCARD: a caller that drops the status gets a compiler
 * warning (an error in HybridSeq's own build, -Werror=unused-result), since a dropped status hides the failure. */
#if defined(__cplusplus) && __cplusplus >= 201703L
#  define HS_NODISCARD [[nodiscard]]
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 202311L
#  define HS_NODISCARD [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#  define HS_NODISCARD __attribute__((warn_unused_result))
#elif defined(_MSC_VER)
#  define HS_NODISCARD _Check_return_
#else
#  define HS_NODISCARD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time constants of the ABI (an enum, so that binding generators see them as values). */
typedef enum hs_constants {
    /* Bumped on every incompatible change of this header; the managed layer refuses a library that differs. */
    HS_API_VERSION = 3,
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
HS_NODISCARD
HS_API hs_status hs_cuda_device_count(int32_t* count);
/* Why CUDA is not usable ("" when it is); static or thread-local storage. */
HS_API const char* hs_cuda_unavailable_reason(void);
HS_NODISCARD
HS_API hs_status hs_cuda_device_info(int32_t device, hs_device_info* info);
/* Waits for all work on the device (cudaDeviceSynchronize) and reports any pending asynchronous error. */
HS_NODISCARD
HS_API hs_status hs_cuda_synchronize(int32_t device);
/* ABI self-description for tests: sizeof / offsetof of the structs above, by name ("hs_tensor", "sizes").
 * Unknown names give HS_ERR_INVALID_ARGUMENT. */
HS_NODISCARD
HS_API hs_status hs_abi_sizeof(const char* type_name, int64_t* size);
HS_NODISCARD
HS_API hs_status hs_abi_offsetof(const char* type_name, const char* field_name, int64_t* offset);
/* CPU threads of the kernels. Automatic by default: omp_get_max_threads() (OMP_NUM_THREADS when set) capped by the
 * calling thread's affinity mask and the cgroup CPU quota; the recurrence kernels, which meet at a barrier every time
 * step, also leave out the cores that other processes keep busy at the start of each call (HYBRIDSEQ_ADAPTIVE_THREADS=0
 * turns that off). hs_set_num_threads(n), n in [1, 4096], fixes the count of every kernel (and turns the adaptation
 * off); 0 returns to the environment's choice (HYBRIDSEQ_NUM_THREADS=n, else automatic). Process-wide, thread-safe.
 * hs_get_num_threads gives the count a kernel called now on this thread would use on an idle machine; it fails
 * like the kernels do when HYBRIDSEQ_NUM_THREADS or HYBRIDSEQ_ADAPTIVE_THREADS holds an invalid value. */
HS_NODISCARD
HS_API hs_status hs_set_num_threads(int32_t threads);
HS_NODISCARD
HS_API hs_status hs_get_num_threads(int32_t* threads);

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

/* Number of saved chunks for a length: ceil(L / HS_SELECTIVE_SCAN_CHUNK), at least 1 (for every int64 L, 1 when
 * L <= 0). */
HS_API int64_t hs_selective_scan_num_chunks(int64_t seqlen);

/* Forward scan.
 *   out          (Bt, Dm, L)             required
 *   h_last       (Bt, Dm, N)             optional: the state after step lengths[b]-1 (h0 when lengths[b] == 0)
 *   checkpoints  (Bt, Dm, K, N), K = hs_selective_scan_num_chunks(L), optional: checkpoints[:,:,k] is the state
 *                before step k*HS_SELECTIVE_SCAN_CHUNK; pass it when a backward pass will follow.
 * Memory for backward is O(Bt*Dm*N*L/HS_SELECTIVE_SCAN_CHUNK); every other intermediate is recomputed. */
HS_NODISCARD
HS_API hs_status hs_selective_scan_forward(const hs_selective_scan_inputs* inputs, const hs_tensor* out,
                                           const hs_tensor* h_last, const hs_tensor* checkpoints, hs_stream stream);

/* Elements of float32 workspace that hs_selective_scan_backward needs for these inputs and this `deterministic`
 * (0 on CPU; 0 when Bt, Dm or L is 0, where the backward runs no kernel). `inputs` is checked exactly as the
 * backward checks it (same statuses and messages), so the answer always matches the call; the data of the tensors
 * is not read except CPU 'lengths'. An answer that would not fit in int64 is an error, never a wrapped count. */
HS_NODISCARD
HS_API hs_status hs_selective_scan_workspace_elements(const hs_selective_scan_inputs* inputs, int32_t deterministic,
                                                      int64_t* elements);

/* Backward scan from the forward inputs and the checkpoints the forward wrote.
 *   dout         (Bt, Dm, L)             required
 *   dh_last      (Bt, Dm, N)             optional (zero when NULL)
 *   deterministic: 0 or 1. The CPU backward is always deterministic (fixed reduction order). On CUDA, 0 lets
 *                reductions over channels and batch use float atomics (run-to-run bit differences); 1 reduces
 *                through the workspace in a fixed order, so repeated runs give identical bits.
 *   workspace    1-D float32 on the device with at least hs_selective_scan_workspace_elements(inputs,
 *                deterministic, ...) elements; may be NULL when that number is 0; a workspace that is given is
 *                checked on every backend. */
HS_NODISCARD
HS_API hs_status hs_selective_scan_backward(const hs_selective_scan_inputs* inputs, const hs_tensor* checkpoints,
                                            const hs_tensor* dout, const hs_tensor* dh_last,
                                            const hs_selective_scan_grads* grads, int32_t deterministic,
                                            const hs_tensor* workspace, hs_stream stream);

/* One recurrent step for generation, equal to one column of the full scan:
 *   inputs->u, delta, z (Bt, Dm); B, C (Dm, N) or (Bt, G, N); A, D, delta_bias as above; h0, lengths NULL.
 *   state        (Bt, Dm, N) read as h[t-1] and overwritten with h[t] (in place)
 *   out          (Bt, Dm) */
HS_NODISCARD
HS_API hs_status hs_selective_scan_step(const hs_selective_scan_inputs* inputs, const hs_tensor* state,
                                        const hs_tensor* out, hs_stream stream);

/* ---------------------------------------------------------------------------------------------------------------
 * Fused recurrence (FlashRNN-style): LSTM, GRU and xLSTM's sLSTM with head-wise (block-diagonal) recurrent weights.
 *
 * The input projection Wx (for all steps at once, input bias included) is computed outside (one big GEMM); the kernel
 * runs the recurrence   g_t = Wx_t + R h_{t-1} + b   and the cell's pointwise update, all math in the tensor dtype.
 * Hidden size H = NH heads x DH; gate vectors are gate-major: element (gate q, head k, unit j) is at q*H + k*DH + j.
 * Cells, their gates G and states S (the order of the states in every state tensor):
 *   HS_RNN_CELL_LSTM   G = 4 (i, f, g, o; PyTorch's order)      S = 2 (h, c)
 *   HS_RNN_CELL_GRU    G = 3 (r, z, n; PyTorch's order)         S = 1 (h)
 *                      n = tanh(Wx_n + r * (R_n h + b_n)): b is PyTorch's bias_hh, bias_ih belongs in Wx.
 *   HS_RNN_CELL_SLSTM  G = 4 (i, f, z, o)                       S = 4 (h, c, n, m)
 *                      exponential input gate, log-sigmoid forget gate, normaliser n and stabiliser m (xLSTM):
 *                      m_t = max(logsig(f~) + m_{t-1}, i~); i = exp(i~ - m_t); f = exp(logsig(f~) + m_{t-1} - m_t);
 *                      c_t = f c_{t-1} + i tanh(z~); n_t = f n_{t-1} + i; h_t = sigmoid(o~) * c_t / n_t.
 * Shapes (T = steps, Bt = batch):
 *   wx       (T, Bt, G*H)      time-major
 *   R        (NH, G*DH, DH)    R[k][q*DH + j][l] maps unit l of head k's h_{t-1} to gate q, unit j of head k.
 *                              NH = 1 is the dense case and equals PyTorch's weight_hh (G*H, H).
 *   b        (G*H)             recurrent bias
 *   s0       (S, Bt, H)        optional initial states (zeros when NULL; for sLSTM n0 = 0 and m0 = 0 then)
 *   lengths  (Bt) int64        optional, 0 <= lengths[b] <= T: steps t >= lengths[b] are padding (y = 0 there, the
 *                              states stop at the length, padding gets zero gradient)
 *   reverse  0 or 1            1 runs each sequence from step lengths[b]-1 down to 0 (outputs stay at their steps)
 * dtypes: float32 or float64 on CPU, float32 on CUDA. allow_tf32 = 1 permits CUDA to use TF32 tensor cores for R h
 * (about 1e-3 relative error) and 0 (the default) guarantees full fp32; the current CUDA kernels have no TF32 path
 * and compute in full fp32 either way. CPU ignores it.
 * ------------------------------------------------------------------------------------------------------------- */

typedef enum hs_rnn_cell {
    HS_RNN_CELL_LSTM = 0,
    HS_RNN_CELL_GRU = 1,
    HS_RNN_CELL_SLSTM = 2
} hs_rnn_cell;

typedef struct hs_rnn_inputs {
    int32_t cell;                  /* hs_rnn_cell */
    int32_t reverse;               /* 0 or 1 */
    const hs_tensor* wx;
    const hs_tensor* R;
    const hs_tensor* b;
    const hs_tensor* s0;           /* optional; must be NULL for hs_rnn_step */
    const hs_tensor* lengths;      /* optional; must be NULL for hs_rnn_step */
    int32_t allow_tf32;            /* 0 or 1 */
    int32_t reserved;
} hs_rnn_inputs;

/* Gates G, states S and saved cache gates C (see hs_rnn_forward) of a cell. */
HS_NODISCARD
HS_API hs_status hs_rnn_cell_info(int32_t cell, int32_t* gates, int32_t* states, int32_t* cache_gates);

/* Full sequence forward.
 *   y        (T, Bt, H)            required: h_t of every step
 *   s_last   (S, Bt, H)            optional: the states after each sequence's last step
 *   states   (T+1, S, Bt, H)       optional (needed for backward): states[0] = s0 (zeros when NULL), states[t+1] =
 *                                  right after the step at position t, in both directions; at padding positions
 *                                  t >= lengths[b] it holds s_last (forward) or s0 (reverse)
 *   cache    (T, Bt, C*H)          optional (needed for backward): per-step gate values the backward consumes,
 *                                  C = cache_gates of hs_rnn_cell_info; content per cell documented in native/src/ops/rnn.h
 *   workspace                      scratch: 1-D, the dtype of the inputs, on their device, contiguous, with at least
 *                                  hs_rnn_workspace_elements(inputs, HS_RNN_PASS_FORWARD, NULL, ...) elements (may
 *                                  be NULL when that is 0); its content on entry is ignored and on return
 *                                  unspecified. */
HS_NODISCARD
HS_API hs_status hs_rnn_forward(const hs_rnn_inputs* inputs, const hs_tensor* y, const hs_tensor* s_last,
                                const hs_tensor* states, const hs_tensor* cache, const hs_tensor* workspace,
                                hs_stream stream);

/* The call a workspace size is asked for (hs_rnn_workspace_elements' `pass`). */
typedef enum hs_rnn_pass {
    HS_RNN_PASS_FORWARD = 0,   /* hs_rnn_forward: inputs->wx (T, Bt, G*H) */
    HS_RNN_PASS_BACKWARD = 1,  /* hs_rnn_backward: inputs->wx (T, Bt, G*H) or NULL with the call's dwx */
    HS_RNN_PASS_STEP = 2       /* hs_rnn_step: inputs->wx (Bt, G*H) */
} hs_rnn_pass;

/* Elements of scratch (in the tensor dtype, on the device) that one call needs, from the inputs that call takes:
 * `inputs` is checked exactly as the call checks it (same statuses and messages), so the answer always matches.
 * dwx: for HS_RNN_PASS_BACKWARD the call's dwx (T, Bt, G*H) (required when inputs->wx is NULL, which the backward
 * allows; checked like the call checks it); NULL for the other passes. The answer depends only on the shapes (never on
 * the GPU model), so it may include scratch that a given GPU does not touch; it is 0 for the CPU forward and step,
 * and 0 when T or Bt is 0 (no kernel runs). The tensors' data is not read except CPU 'lengths'. An answer that would
 * not fit in int64 is an error, never a wrapped count. */
HS_NODISCARD
HS_API hs_status hs_rnn_workspace_elements(const hs_rnn_inputs* inputs, int32_t pass, const hs_tensor* dwx,
                                           int64_t* elements);

/* Backward through time from what the forward saved.
 *   inputs as for the forward, except that inputs->wx may be NULL: the backward never reads wx's data (everything it
 *   needs is in states and cache), so a caller need not keep wx alive after the forward; without it, T, Bt and G*H
 *   come from dwx.
 *   dy (T, Bt, H) required; ds_last (S, Bt, H) optional (zeros when NULL)
 *   dwx (T, Bt, G*H), dR (NH, G*DH, DH), db (G*H) required, overwritten; ds0 (S, Bt, H) optional
 *   workspace: 1-D, the dtype of the inputs, >= hs_rnn_workspace_elements(inputs, HS_RNN_PASS_BACKWARD, dwx, ...)
 *   elements (NULL when 0).
 * dR and db are computed after the time loop as one matrix product over all steps (deterministic). */
HS_NODISCARD
HS_API hs_status hs_rnn_backward(const hs_rnn_inputs* inputs, const hs_tensor* states, const hs_tensor* cache,
                                 const hs_tensor* dy, const hs_tensor* ds_last, const hs_tensor* dwx,
                                 const hs_tensor* dR, const hs_tensor* db, const hs_tensor* ds0,
                                 const hs_tensor* workspace, hs_stream stream);

/* One step for decoding, equal to one step of hs_rnn_forward:
 *   inputs->wx (Bt, G*H); s0 and lengths NULL; reverse ignored
 *   state (S, Bt, H) read as s_{t-1} and overwritten with s_t (in place); y (Bt, H)
 *   workspace: >= hs_rnn_workspace_elements(inputs, HS_RNN_PASS_STEP, NULL, ...) elements, NULL when that is 0
 *   (a decoder can allocate it once and reuse it every step). */
HS_NODISCARD
HS_API hs_status hs_rnn_step(const hs_rnn_inputs* inputs, const hs_tensor* state, const hs_tensor* y,
                             const hs_tensor* workspace, hs_stream stream);

/* ---------------------------------------------------------------------------------------------------------------
 * Dense projection (CPU): y = x W^T + b, the input projection of the fused recurrence and of any linear layer.
 *
 * Shapes (M rows, K input features, N output features):
 *   x (M, K), w (N, K) (the nn.Linear / weight_ih layout), b (N) optional, y (M, N)
 * Backward from dy (M, N): dx = dy w (M, K), dw = dy^T x (N, K), db = column sums of dy (N); each output is
 * optional (NULL skips it) and overwritten. dx must not alias dy; y must not alias x.
 * dtypes: float32 or float64 (one for all tensors), CPU only: CUDA tensors give HS_ERR_UNSUPPORTED (libtorch's
 * cuBLAS serves them). Every output element is summed in a fixed order by one thread, so results are bitwise
 * independent of the thread count. `stream` is ignored (CPU), kept so that the signature matches every other op.
 * ------------------------------------------------------------------------------------------------------------- */

HS_NODISCARD
HS_API hs_status hs_linear_forward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* b, const hs_tensor* y,
                                   hs_stream stream);

HS_NODISCARD
HS_API hs_status hs_linear_backward(const hs_tensor* x, const hs_tensor* w, const hs_tensor* dy,
                                    const hs_tensor* dx, const hs_tensor* dw, const hs_tensor* db, hs_stream stream);

/* ---------------------------------------------------------------------------------------------------------------
 * Dilated causal convolution (dense; the convolution of TCN and WaveNet)
 *
 * With S = (K-1)*dilation and xp = the S inputs of the initial state (oldest first) followed by x along time:
 *     y[b,o,t] = bias[o] + sum_{i < C_in, k < K} weight[o,i,k] * xp[b, i, t + k*dilation]      (0 <= t < L)
 * so tap K-1 reads x[b,i,t] and tap k reads x[b, i, t - (K-1-k)*dilation] (the state before t = 0).
 * Shapes (Bt = batch, C_in / C_out = input / output channels, L = length, K = width >= 1):
 *     x               (Bt, C_in, L)
 *     weight          (C_out, C_in, K)                   the nn.Conv1d layout
 *     bias            (C_out)                            optional
 *     initial_state   (Bt, C_in, S)                      optional (zeros when NULL)
 *     lengths         (Bt) int64, 0 <= lengths[b] <= L, optional (all L when NULL). Right padding: y = 0 at
 *                     t >= lengths[b], inputs there get zero gradient, and the final state is taken at lengths[b].
 *                     On CUDA the values cannot be checked without a device sync, so the kernels clamp them to [0, L].
 *     dilation        >= 1
 * The final state is xp[b, :, lengths[b] .. lengths[b] + S): the S inputs just before position lengths[b], reaching
 * into the initial state when lengths[b] < S. Feeding it as the next call's initial state continues the sequence.
 * dtypes: one float dtype for all float tensors: float32 or float64 on CPU, float32 on CUDA (fp32 accumulation).
 * Every output element is summed in a fixed order, so results do not depend on the thread count (CPU) or on the
 * scheduling (CUDA: no atomics). NaN/Inf in the inputs propagate into the outputs; they are not checked.
 * ------------------------------------------------------------------------------------------------------------- */

typedef struct hs_dilated_conv_inputs {
    const hs_tensor* x;
    const hs_tensor* weight;
    const hs_tensor* bias;           /* optional */
    const hs_tensor* initial_state;  /* optional; must be NULL for hs_dilated_conv_step */
    const hs_tensor* lengths;        /* optional; must be NULL for hs_dilated_conv_step */
    int64_t dilation;                /* >= 1 */
} hs_dilated_conv_inputs;

/* Gradients written by the backward pass; each is optional (NULL skips it) and overwritten, with its input's shape.
 * dbias must be NULL when 'bias' was not given; d_initial_state may be given whether or not 'initial_state' was
 * (the gradient with respect to the zeros that stood in for it). */
typedef struct hs_dilated_conv_grads {
    const hs_tensor* dx;               /* (Bt, C_in, L); 0 at t >= lengths[b] */
    const hs_tensor* dweight;          /* (C_out, C_in, K) */
    const hs_tensor* dbias;            /* (C_out) */
    const hs_tensor* d_initial_state;  /* (Bt, C_in, S) */
} hs_dilated_conv_grads;

/* Forward.
 *   y            (Bt, C_out, L)    required
 *   final_state  (Bt, C_in, S)     optional */
HS_NODISCARD
HS_API hs_status hs_dilated_conv_forward(const hs_dilated_conv_inputs* inputs, const hs_tensor* y,
                                         const hs_tensor* final_state, hs_stream stream);

/* Backward from the forward inputs (nothing else is saved: the convolution is recomputed from x and the state).
 *   dy             (Bt, C_out, L)  required; its values at t >= lengths[b] are ignored (y is 0 there)
 *   d_final_state  (Bt, C_in, S)   optional (zeros when NULL) */
HS_NODISCARD
HS_API hs_status hs_dilated_conv_backward(const hs_dilated_conv_inputs* inputs, const hs_tensor* dy,
                                          const hs_tensor* d_final_state, const hs_dilated_conv_grads* grads,
                                          hs_stream stream);

/* T new tokens for streaming (T = 0 leaves the state as it is), equal to the matching columns of the full forward:
 *   inputs->x (Bt, C_in, T), weight, bias as above; initial_state and lengths NULL
 *   state        (Bt, C_in, S)     read as the last S inputs (oldest first) and advanced in place by the T tokens
 *   y            (Bt, C_out, T) */
HS_NODISCARD
HS_API hs_status hs_dilated_conv_step(const hs_dilated_conv_inputs* inputs, const hs_tensor* state,
                                      const hs_tensor* y, hs_stream stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HYBRIDSEQ_H */
