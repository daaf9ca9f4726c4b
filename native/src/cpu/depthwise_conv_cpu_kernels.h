// The CPU twin of the depthwise causal convolution (ops/depthwise_conv.h), as templates over the element type.
// depthwise_conv_cpu.cpp includes this file twice, inside hs::dwconv_avx2 under `#pragma GCC target("avx2,fma")` and
// inside hs::dwconv_portable, each time right after cpu_math.h (whose vsigmoid the `omp simd` loops call on scalars),
// and picks one per call (HS_CPU_DISPATCH). That is why it has no include guard and no #include of its own.
//
// Layout: every (b, d) row is L contiguous inputs, so time is the vectorised axis. A row is processed in tiles of
// kTile outputs held in a local array (L1): per tap k, one `omp simd` multiply-add over the tile reading x shifted
// by off_k = (K-1-k)*dilation (or the state where t < off_k). The forward splits rows over threads; the backward
// splits channels (each thread owns its channels' dweight / dbias and sums them over batch and time in a fixed
// order, so results never depend on the thread count).

constexpr int64_t kTile = 256;

inline int64_t valid_length(const int64_t* lengths, int64_t b, int64_t length) {
    return lengths != nullptr ? lengths[b] : length;
}

// a[t - t0] = bias + sum_k w[k] * input(t - off_k) for t in [t0, t1): the pre-activation of one row's tile. input(s)
// is x[s] for s >= 0 and the state's position S + s (or 0 without a state) for s < 0.
template <typename T>
HS_CPU_INLINE void preactivation_tile(const DepthwiseConvParams<T>& p, const T* x, const T* state, const T* w,
                                      T bias, int64_t t0, int64_t t1, T* a) {
    const int64_t S = p.state_length();
    const int64_t n = t1 - t0;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) a[i] = bias;
    for (int64_t k = 0; k < p.width; ++k) {
        const int64_t off = (p.width - 1 - k) * p.dilation;
        const T wk = w[k];
        const int64_t split = std::min(std::max(off, t0), t1);  // t < split reads the state
        if (state != nullptr) {
            for (int64_t t = t0; t < split; ++t) a[t - t0] += wk * state[S + t - off];
        }
#pragma omp simd
        for (int64_t t = split; t < t1; ++t) a[t - t0] += wk * x[t - off];
    }
}

// One row of the forward: y for t < len (0 beyond), then the final state (may alias `state`: every state element
// is read before it is written, since element i is read from position len + i > i, and y is done by then).
template <typename T>
void forward_row(const DepthwiseConvParams<T>& p, int64_t b, int64_t d) {
    const int64_t L = p.length, S = p.state_length();
    const int64_t row = b * p.channels + d;
    const T* x = p.x + row * L;
    const T* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
    const T* w = p.weight + d * p.width;
    const T bias = p.bias != nullptr ? p.bias[d] : T(0);
    const int64_t len = valid_length(p.lengths, b, L);
    T* y = p.y + row * L;
    alignas(32) T a[kTile];
    for (int64_t t0 = 0; t0 < len; t0 += kTile) {
        const int64_t t1 = std::min(t0 + kTile, len);
        preactivation_tile(p, x, state, w, bias, t0, t1, a);
        const int64_t n = t1 - t0;
        T* yt = y + t0;
        if (p.silu) {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yt[i] = a[i] * vsigmoid<T>(a[i]);
        } else {
#pragma omp simd
            for (int64_t i = 0; i < n; ++i) yt[i] = a[i];
        }
    }
    for (int64_t t = len; t < L; ++t) y[t] = T(0);
    if (p.final_state != nullptr) {
        T* out = p.final_state + row * S;
        for (int64_t i = 0; i < S; ++i) {
            const int64_t s = len + i - S;  // input time of final-state element i
            out[i] = s >= 0 ? x[s] : (state != nullptr ? state[len + i] : T(0));
        }
    }
}

template <typename T>
void forward(const DepthwiseConvParams<T>& p) {
    const int64_t rows = p.batch * p.channels;
    const int64_t work = rows * p.length * p.width;
#pragma omp parallel for schedule(dynamic, 8) if (work >= kMinParallelWork) num_threads(hs::cpu::kernel_threads())
    for (int64_t row = 0; row < rows; ++row) forward_row(p, row / p.channels, row % p.channels);
}

// The backward of channel d over every batch row: dx, d_initial_state of its rows, dweight[d, :] and dbias[d].
// g (L) is the caller's scratch: the gradient of the pre-activation.
template <typename T>
void backward_channel(const DepthwiseConvBackwardParams<T>& q, int64_t d, T* g, double* dw) {
    const DepthwiseConvParams<T>& p = q.fwd;
    const int64_t L = p.length, S = p.state_length(), K = p.width;
    const T* w = p.weight + d * K;
    const T bias = p.bias != nullptr ? p.bias[d] : T(0);
    double db = 0;
    for (int64_t k = 0; k < K; ++k) dw[k] = 0;
    alignas(32) T a[kTile];
    for (int64_t b = 0; b < p.batch; ++b) {
        const int64_t row = b * p.channels + d;
        const T* x = p.x + row * L;
        const T* state = p.initial_state != nullptr ? p.initial_state + row * S : nullptr;
        const T* dy = q.dy + row * L;
        const int64_t len = valid_length(p.lengths, b, L);

        // g = dy * act'(a) for t < len.
        for (int64_t t0 = 0; t0 < len; t0 += kTile) {
            const int64_t t1 = std::min(t0 + kTile, len);
            const int64_t n = t1 - t0;
            T* gt = g + t0;
            const T* dyt = dy + t0;
            if (p.silu) {
                preactivation_tile(p, x, state, w, bias, t0, t1, a);
#pragma omp simd
                for (int64_t i = 0; i < n; ++i) {
                    const T s = vsigmoid<T>(a[i]);
                    gt[i] = dyt[i] * s * (T(1) + a[i] * (T(1) - s));
                }
            } else {
#pragma omp simd
                for (int64_t i = 0; i < n; ++i) gt[i] = dyt[i];
            }
        }

        // dbias and dweight: sums over t < len (one partial per row, added in row order).
        T gsum = 0;
#pragma omp simd reduction(+ : gsum)
        for (int64_t t = 0; t < len; ++t) gsum += g[t];
        db += gsum;
        for (int64_t k = 0; k < K; ++k) {
            const int64_t off = (K - 1 - k) * p.dilation;
            const int64_t split = std::min(off, len);
            T sum = 0;
            if (state != nullptr) {
                for (int64_t t = 0; t < split; ++t) sum += g[t] * state[S + t - off];
            }
#pragma omp simd reduction(+ : sum)
            for (int64_t t = split; t < len; ++t) sum += g[t] * x[t - off];
            dw[k] += sum;
        }

        // dx[s] = sum_k w[k] * g[s + off_k] over s + off_k < len (0 for s >= len), plus the final state's share.
        if (q.dx != nullptr) {
            T* dx = q.dx + row * L;
            for (int64_t t0 = 0; t0 < L; t0 += kTile) {
                const int64_t t1 = std::min(t0 + kTile, L);
                const int64_t n = t1 - t0;
#pragma omp simd
                for (int64_t i = 0; i < n; ++i) a[i] = T(0);
                for (int64_t k = 0; k < K; ++k) {
                    const int64_t off = (K - 1 - k) * p.dilation;
                    const int64_t end = std::min(t1, len - off);  // s + off < len
                    const T wk = w[k];
#pragma omp simd
                    for (int64_t s = t0; s < end; ++s) a[s - t0] += wk * g[s + off];
                }
                T* dxt = dx + t0;
#pragma omp simd
                for (int64_t i = 0; i < n; ++i) dxt[i] = a[i];
            }
            if (q.d_final_state != nullptr) {
                const T* dfs = q.d_final_state + row * S;
                for (int64_t i = std::max<int64_t>(0, S - len); i < S; ++i) dx[len + i - S] += dfs[i];
            }
        }

        // d_initial_state[i] (input time i - S < 0) = sum_k w[k] * g[i - S + off_k] over 0 <= i - S + off_k < len,
        // plus the final state's share where it reaches into the initial state (element i - len for i >= len).
        if (q.d_initial_state != nullptr) {
            T* ds = q.d_initial_state + row * S;
            for (int64_t i = 0; i < S; ++i) {
                T sum = 0;
                for (int64_t k = 0; k < K; ++k) {
                    const int64_t t = i - S + (K - 1 - k) * p.dilation;
                    if (t >= 0 && t < len) sum += w[k] * g[t];
                }
                if (q.d_final_state != nullptr && i >= len) sum += q.d_final_state[row * S + i - len];
                ds[i] = sum;
            }
        }
    }
    for (int64_t k = 0; k < K; ++k) q.dweight[d * K + k] = static_cast<T>(dw[k]);
    if (q.dbias != nullptr) q.dbias[d] = static_cast<T>(db);
}

template <typename T>
void backward(const DepthwiseConvBackwardParams<T>& q) {
    const DepthwiseConvParams<T>& p = q.fwd;
    const int64_t work = p.batch * p.channels * p.length * p.width;
#pragma omp parallel if (work >= kMinParallelWork) num_threads(hs::cpu::kernel_threads())
    {
        std::vector<T> g(static_cast<size_t>(p.length));
        std::vector<double> dw(static_cast<size_t>(p.width));
#pragma omp for schedule(dynamic, 4)
        for (int64_t d = 0; d < p.channels; ++d) backward_channel(q, d, g.data(), dw.data());
    }
}
