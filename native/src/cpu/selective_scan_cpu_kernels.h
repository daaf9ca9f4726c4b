// The CPU twin of the selective scan (ops/selective_scan.h), as templates over the element type. selective_scan_cpu.cpp
// includes this file twice, inside hs::scan_avx2 under `#pragma GCC target("avx2,fma")` and inside hs::scan_portable,
// each time right after cpu_math.h (whose vexp / vsoftplus / vsigmoid / vsilu the `omp simd` loops below call on
// scalars, so that GCC vectorises them for that ISA), and picks one per call (HS_CPU_DISPATCH). That is why it has no
// include guard and no #include of its own.
//
// Work split: every (batch, channel) pair is an independent recurrence over time, so OpenMP hands out pairs
// dynamically (a thread that the OS preempts on a busy machine, or a short row under `lengths`, does not hold the
// others back; which thread runs a pair never changes its result); inside one pair time runs sequentially and the
// state dimension n is the vectorised inner loop (h[n] is a contiguous local array). Time-varying B / C are stored
// (Bt, G, N, L), which would make that inner loop stride by L, so they are first transposed into (Bt, G, L, N)
// scratch copies.
//
// The backward pass recomputes each chunk of HS_SELECTIVE_SCAN_CHUNK steps from the checkpoint the forward saved,
// then walks it in reverse. Every sum over channels or batch (dA, dD, d(delta_bias), dB, dC) is formed from
// partials whose grouping depends only on the sizes and which are added in a fixed order, so results are bitwise
// independent of the thread count and of the run.

// dt[t] = delta[t] + bias (then softplus) for t < steps of pair bd; with softplus also
// dt_grad[t] = d dt / d delta = sigmoid(delta[t] + bias), else dt_grad may be null.
template <typename T>
void compute_dt(const SelectiveScanParams<T>& p, int64_t bd, int64_t d, int64_t steps, T* dt, T* dt_grad) {
    const T* delta = p.delta + bd * p.seqlen;
    const T bias = p.delta_bias != nullptr ? p.delta_bias[d] : T(0);
    if (!p.delta_softplus) {
        for (int64_t t = 0; t < steps; ++t) dt[t] = delta[t] + bias;
        return;
    }
    for (int64_t t = 0; t < steps; ++t) dt[t] = vsoftplus<T>(delta[t] + bias);
    if (dt_grad != nullptr) {
        for (int64_t t = 0; t < steps; ++t) dt_grad[t] = vsigmoid<T>(delta[t] + bias);
    }
}

inline int64_t effective_length(const int64_t* lengths, int64_t b, int64_t seqlen) {
    return lengths != nullptr ? lengths[b] : seqlen;
}

// (Bt, G, N, L) -> (Bt, G, L, N) so that one time step's N values are contiguous.
template <typename T>
std::vector<T> transpose_time_major(const T* source, int64_t rows, int64_t dstate, int64_t seqlen) {
    std::vector<T> target(static_cast<size_t>(rows * dstate * seqlen));
    T* out = target.data();
#pragma omp parallel for schedule(static) if (rows * dstate * seqlen >= kMinParallelWork) \
    num_threads(hs::cpu::kernel_threads())
    for (int64_t row = 0; row < rows; ++row) {
        const T* src = source + row * dstate * seqlen;
        T* dst = out + row * dstate * seqlen;
        for (int64_t n = 0; n < dstate; ++n) {
            for (int64_t t = 0; t < seqlen; ++t) dst[t * dstate + n] = src[n * seqlen + t];
        }
    }
    return target;
}

// B or C as the scan reads it: the N values of step t for pair (b, d) start at row(b, d) + t * step_stride.
template <typename T>
struct TimeOperand {
    const T* base = nullptr;  // time-major (Bt, G, L, N) copy, or the caller's (Dm, N) / (Bt, G, N) data
    std::vector<T> storage;   // owns the transposed copy when one was needed
    bool varying = false;
    int64_t groups = 1;
    int64_t channels_per_group = 1;
    int64_t dstate = 0;
    int64_t seqlen = 0;

    const T* row(int64_t b, int64_t d) const {
        return varying ? base + (b * groups + d / channels_per_group) * seqlen * dstate : base + d * dstate;
    }
    int64_t step_stride() const { return varying ? dstate : 0; }
};

template <typename T>
TimeOperand<T> make_time_operand(const SelectiveScanParams<T>& p, const T* data, bool varying) {
    TimeOperand<T> operand;
    operand.varying = varying;
    operand.groups = p.groups;
    operand.channels_per_group = p.dim / p.groups;
    operand.dstate = p.dstate;
    operand.seqlen = p.seqlen;
    if (varying && p.seqlen > 1) {
        operand.storage = transpose_time_major(data, p.batch * p.groups, p.dstate, p.seqlen);
        operand.base = operand.storage.data();
    } else {
        operand.base = data;  // constant (Dm, N), or L == 1 where both layouts coincide
    }
    return operand;
}

// Forward of one (b, d) recurrence; h (N) and dt (L) are the calling thread's scratch.
template <typename T>
void forward_pair(const SelectiveScanParams<T>& p, const TimeOperand<T>& Bop, const TimeOperand<T>& Cop, int64_t b,
                  int64_t d, T* h, T* dt) {
    const int64_t L = p.seqlen;
    const int64_t N = p.dstate;
    const int64_t bd = b * p.dim + d;
    const int64_t num_chunks = hs_selective_scan_num_chunks(L);
    const int64_t b_stride = Bop.step_stride();
    const int64_t c_stride = Cop.step_stride();
    const int64_t steps = effective_length(p.lengths, b, L);
    const T* u = p.u + bd * L;
    const T* A = p.A + d * N;
    const T Dd = p.D != nullptr ? p.D[d] : T(0);
    const T* Brow = Bop.row(b, d);
    const T* Crow = Cop.row(b, d);
    T* out = p.out + bd * L;
    T* checkpoints = p.checkpoints != nullptr ? p.checkpoints + bd * num_chunks * N : nullptr;
    T* hp = h;

    // Read all of h0 before anything is written: h_last may alias it (the single step).
    if (p.h0 != nullptr) {
        std::copy(p.h0 + bd * N, p.h0 + (bd + 1) * N, hp);
    } else {
        std::fill(hp, hp + N, T(0));
    }
    compute_dt(p, bd, d, steps, dt, static_cast<T*>(nullptr));

    for (int64_t t = 0; t < steps; ++t) {
        if (checkpoints != nullptr && t % kChunk == 0) std::copy(hp, hp + N, checkpoints + (t / kChunk) * N);
        const T dt_t = dt[static_cast<size_t>(t)];
        const T dt_u = dt_t * u[t];
        const T* Bt = Brow + t * b_stride;
        const T* Ct = Crow + t * c_stride;
        T y = T(0);
#pragma omp simd reduction(+ : y)
        for (int64_t n = 0; n < N; ++n) {
            const T state = vexp<T>(dt_t * A[n]) * hp[n] + dt_u * Bt[n];
            hp[n] = state;
            y += Ct[n] * state;
        }
        out[t] = y + Dd * u[t];
    }
    if (p.z != nullptr) {
        const T* z = p.z + bd * L;
        for (int64_t t = 0; t < steps; ++t) out[t] *= vsilu<T>(z[t]);
    }
    // Past lengths[b] the state is frozen and the output is zero.
    std::fill(out + steps, out + L, T(0));
    if (checkpoints != nullptr) {
        for (int64_t k = (steps + kChunk - 1) / kChunk; k < num_chunks; ++k) {
            std::copy(hp, hp + N, checkpoints + k * N);
        }
    }
    if (p.h_last != nullptr) std::copy(hp, hp + N, p.h_last + bd * N);
}

// Per-thread scratch of the backward pass, sized once per parallel region.
template <typename T>
struct BackwardScratch {
    std::vector<T> dt, dt_grad, gate;       // (L): step size, its derivative wrt delta, sigmoid(z)
    std::vector<T> chunk_states;            // (chunk, N): h[t] after step t of the chunk being walked
    std::vector<T> chunk_decay;             // (chunk, N): exp(dt[t] * A)
    std::vector<T> chunk_y;                 // (chunk): y[t] before the gate
    std::vector<T> chunk_start;             // (N): the checkpoint, h before the chunk
    std::vector<T> dh, dA, dB, dC;          // (N): carried state gradient and per-pair sums

    BackwardScratch(int64_t seqlen, int64_t dstate)
        : dt(static_cast<size_t>(seqlen)),
          dt_grad(static_cast<size_t>(seqlen)),
          gate(static_cast<size_t>(seqlen)),
          chunk_states(static_cast<size_t>(kChunk * dstate)),
          chunk_decay(static_cast<size_t>(kChunk * dstate)),
          chunk_y(static_cast<size_t>(kChunk)),
          chunk_start(static_cast<size_t>(dstate)),
          dh(static_cast<size_t>(dstate)),
          dA(static_cast<size_t>(dstate)),
          dB(static_cast<size_t>(dstate)),
          dC(static_cast<size_t>(dstate)) {}
};

// Per-(b, d) partial sums that the backward reduces over the batch afterwards.
template <typename T>
struct PairPartials {
    std::vector<T> dA, dB_const, dC_const;  // (Bt * Dm, N); the dB / dC ones only when constant
    std::vector<T> dD, ddelta_bias;         // (Bt * Dm)
};

// Backward of one (b, d) recurrence. Writes du, ddelta, dz and dh0 of the pair, its partials, and adds its
// time-varying dB / dC contributions (L, N) into dB_slice / dC_slice (null when that operand is constant).
template <typename T>
void backward_pair(const SelectiveScanBackwardParams<T>& g, const TimeOperand<T>& Bop, const TimeOperand<T>& Cop,
                   int64_t b, int64_t d, T* dB_slice, T* dC_slice, BackwardScratch<T>& s, PairPartials<T>& partials) {
    const SelectiveScanParams<T>& p = g.fwd;
    const int64_t L = p.seqlen;
    const int64_t N = p.dstate;
    const int64_t bd = b * p.dim + d;
    const int64_t num_chunks = hs_selective_scan_num_chunks(L);
    const int64_t steps = effective_length(p.lengths, b, L);
    const T* u = p.u + bd * L;
    const T* z = p.z != nullptr ? p.z + bd * L : nullptr;
    const T* dout = g.dout + bd * L;
    const T* A = p.A + d * N;
    const T Dd = p.D != nullptr ? p.D[d] : T(0);
    const T* Brow = Bop.row(b, d);
    const T* Crow = Cop.row(b, d);
    const int64_t b_stride = Bop.step_stride();
    const int64_t c_stride = Cop.step_stride();
    // dB / dC accumulate into the slice's (L, N) contribution rows (varying) or into the pair's (N) sums. Whether an
    // operand varies decides, not the slice pointer: an empty (L * N = 0) slice buffer has a null data().
    T* dB_target = Bop.varying ? dB_slice : s.dB.data();
    T* dC_target = Cop.varying ? dC_slice : s.dC.data();
    const int64_t dB_step = Bop.varying ? N : 0;
    const int64_t dC_step = Cop.varying ? N : 0;
    T* du = g.du + bd * L;
    T* ddelta = g.ddelta + bd * L;
    T* dz = g.dz != nullptr ? g.dz + bd * L : nullptr;
    T* dh = s.dh.data();
    T* dA_acc = s.dA.data();

    if (g.dh_last != nullptr) {
        std::copy(g.dh_last + bd * N, g.dh_last + (bd + 1) * N, dh);
    } else {
        std::fill(dh, dh + N, T(0));
    }
    std::fill(s.dA.begin(), s.dA.end(), T(0));
    std::fill(s.dB.begin(), s.dB.end(), T(0));
    std::fill(s.dC.begin(), s.dC.end(), T(0));
    T dD_acc = T(0);
    T dbias_acc = T(0);
    compute_dt(p, bd, d, steps, s.dt.data(), s.dt_grad.data());
    if (z != nullptr) {
        for (int64_t t = 0; t < steps; ++t) s.gate[static_cast<size_t>(t)] = vsigmoid<T>(z[t]);
    }

    for (int64_t k = (steps + kChunk - 1) / kChunk - 1; k >= 0; --k) {
        const int64_t t0 = k * kChunk;
        const int64_t t1 = std::min(steps, t0 + kChunk);
        const T* saved = g.checkpoints + (bd * num_chunks + k) * N;
        std::copy(saved, saved + N, s.chunk_start.data());

        // Recompute the chunk's states exactly as the forward did.
        const T* h_prev = s.chunk_start.data();
        for (int64_t t = t0; t < t1; ++t) {
            const T dt_t = s.dt[static_cast<size_t>(t)];
            const T dt_u = dt_t * u[t];
            const T* Bt = Brow + t * b_stride;
            const T* Ct = Crow + t * c_stride;
            T* h_t = s.chunk_states.data() + (t - t0) * N;
            T* a_t = s.chunk_decay.data() + (t - t0) * N;
            T y = T(0);
#pragma omp simd reduction(+ : y)
            for (int64_t n = 0; n < N; ++n) {
                const T a = vexp<T>(dt_t * A[n]);
                const T state = a * h_prev[n] + dt_u * Bt[n];
                a_t[n] = a;
                h_t[n] = state;
                y += Ct[n] * state;
            }
            s.chunk_y[static_cast<size_t>(t - t0)] = y + Dd * u[t];
            h_prev = h_t;
        }

        // Reverse: dh holds dL/dh[t] carried from t + 1 (a[t+1] * dh[t+1]) on entry to step t.
        for (int64_t t = t1 - 1; t >= t0; --t) {
            const T dt_t = s.dt[static_cast<size_t>(t)];
            const T u_t = u[t];
            const T dt_u = dt_t * u_t;
            const T* Bt = Brow + t * b_stride;
            const T* Ct = Crow + t * c_stride;
            const T* h_t = s.chunk_states.data() + (t - t0) * N;
            const T* a_t = s.chunk_decay.data() + (t - t0) * N;
            const T* h_before = t > t0 ? h_t - N : s.chunk_start.data();
            T* dB_t = dB_target + t * dB_step;
            T* dC_t = dC_target + t * dC_step;

            T dy = dout[t];
            if (z != nullptr) {
                // out = y * silu(z), silu(z) = z * sigmoid(z): dz = dout * y * silu'(z), dy = dout * silu(z).
                const T sig = s.gate[static_cast<size_t>(t)];
                dz[t] = dy * s.chunk_y[static_cast<size_t>(t - t0)] * sig * (T(1) + z[t] * (T(1) - sig));
                dy *= z[t] * sig;
            }
            dD_acc += dy * u_t;
            T dh_dot_B = T(0);      // sum_n dh[n] * B[n]: du and ddt through the input term
            T dh_dot_A_ah = T(0);   // sum_n dh[n] * A[n] * a[n] * h[t-1][n]: ddt through the decay
#pragma omp simd reduction(+ : dh_dot_B, dh_dot_A_ah)
            for (int64_t n = 0; n < N; ++n) {
                const T dh_n = dh[n] + Ct[n] * dy;
                const T decayed = a_t[n] * h_before[n];
                dC_t[n] += dy * h_t[n];
                dB_t[n] += dh_n * dt_u;
                dh_dot_B += dh_n * Bt[n];
                dh_dot_A_ah += dh_n * A[n] * decayed;
                dA_acc[n] += dh_n * dt_t * decayed;
                dh[n] = a_t[n] * dh_n;
            }
            du[t] = Dd * dy + dt_t * dh_dot_B;
            T ddt = u_t * dh_dot_B + dh_dot_A_ah;
            if (p.delta_softplus) ddt *= s.dt_grad[static_cast<size_t>(t)];
            ddelta[t] = ddt;
            dbias_acc += ddt;
        }
    }
    // Steps past lengths[b] did not touch the state or the output: zero gradient there.
    std::fill(du + steps, du + L, T(0));
    std::fill(ddelta + steps, ddelta + L, T(0));
    if (dz != nullptr) std::fill(dz + steps, dz + L, T(0));

    if (g.dh0 != nullptr) std::copy(dh, dh + N, g.dh0 + bd * N);
    std::copy(s.dA.begin(), s.dA.end(), partials.dA.begin() + bd * N);
    if (!Bop.varying) std::copy(s.dB.begin(), s.dB.end(), partials.dB_const.begin() + bd * N);
    if (!Cop.varying) std::copy(s.dC.begin(), s.dC.end(), partials.dC_const.begin() + bd * N);
    partials.dD[static_cast<size_t>(bd)] = dD_acc;
    partials.ddelta_bias[static_cast<size_t>(bd)] = dbias_acc;
}

template <typename T>
void forward(const SelectiveScanParams<T>& p) {
    const int64_t L = p.seqlen;
    const int64_t N = p.dstate;
    const int64_t pairs = p.batch * p.dim;
    const TimeOperand<T> Bop = make_time_operand(p, p.B, p.b_varying);
    const TimeOperand<T> Cop = make_time_operand(p, p.C, p.c_varying);

    // Per-thread scratch (h: N, dt: L) is allocated here, outside the parallel region: an exception thrown inside
    // one (std::bad_alloc) could not leave it and would end the process instead of reaching the entry point. The
    // team size is fixed once so that the scratch has a slice for every thread of the region.
    const int threads = hs::cpu::kernel_threads();
    std::vector<T> scratch(static_cast<size_t>(int64_t(threads) * (N + L)));
#pragma omp parallel if (pairs * L * N >= kMinParallelWork) num_threads(threads)
    {
        T* h = scratch.data() + omp_get_thread_num() * (N + L);
        T* dt = h + N;
#pragma omp for schedule(dynamic)
        for (int64_t bd = 0; bd < pairs; ++bd) {
            forward_pair(p, Bop, Cop, bd / p.dim, bd % p.dim, h, dt);
        }
    }
}

template <typename T>
void backward(const SelectiveScanBackwardParams<T>& g) {
    const SelectiveScanParams<T>& p = g.fwd;
    const int64_t L = p.seqlen;
    const int64_t N = p.dstate;
    const int64_t pairs = p.batch * p.dim;
    const int64_t rows = p.batch * p.groups;  // (b, g) rows of time-varying B / C
    const int64_t channels_per_group = p.dim / p.groups;
    const TimeOperand<T> Bop = make_time_operand(p, p.B, p.b_varying);
    const TimeOperand<T> Cop = make_time_operand(p, p.C, p.c_varying);

    PairPartials<T> partials;
    partials.dA.resize(static_cast<size_t>(pairs * N));
    partials.dB_const.resize(p.b_varying ? 0 : static_cast<size_t>(pairs * N));
    partials.dC_const.resize(p.c_varying ? 0 : static_cast<size_t>(pairs * N));
    partials.dD.resize(static_cast<size_t>(pairs));
    partials.ddelta_bias.resize(static_cast<size_t>(pairs));

    // Work items are (row, slice): the channels of group g of batch b, split into `slices` fixed ranges.
    const int64_t slices = std::max<int64_t>(1, std::min(channels_per_group, kReductionSlices));
    const int64_t slice_elements = L * N;
    const bool any_varying = p.b_varying || p.c_varying;
    const int64_t block_rows =
        any_varying ? std::max<int64_t>(1, std::min(rows, kSliceBufferBudget / std::max<int64_t>(1, slices * slice_elements)))
                    : std::max<int64_t>(rows, 1);
    std::vector<T> dB_slices(p.b_varying ? static_cast<size_t>(std::min(rows, block_rows) * slices * slice_elements) : 0);
    std::vector<T> dC_slices(p.c_varying ? static_cast<size_t>(std::min(rows, block_rows) * slices * slice_elements) : 0);

    // One scratch per thread, allocated outside the parallel regions (see the forward), for one fixed team size.
    const int threads = hs::cpu::kernel_threads();
    std::vector<BackwardScratch<T>> thread_scratch;
    thread_scratch.reserve(static_cast<size_t>(threads));
    for (int thread = 0; thread < threads; ++thread) thread_scratch.emplace_back(L, N);

    for (int64_t row_begin = 0; row_begin < rows; row_begin += block_rows) {
        const int64_t row_end = std::min(rows, row_begin + block_rows);
        const int64_t items = (row_end - row_begin) * slices;
#pragma omp parallel if ((row_end - row_begin) * channels_per_group * L * N >= kMinParallelWork) \
    num_threads(threads)
        {
            BackwardScratch<T>& scratch = thread_scratch[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(dynamic)
            for (int64_t item = 0; item < items; ++item) {
                const int64_t row = row_begin + item / slices;
                const int64_t slice = item % slices;
                const int64_t b = row / p.groups;
                const int64_t first_channel = (row % p.groups) * channels_per_group;
                T* dB_slice = p.b_varying ? dB_slices.data() + item * slice_elements : nullptr;
                T* dC_slice = p.c_varying ? dC_slices.data() + item * slice_elements : nullptr;
                if (dB_slice != nullptr) std::fill(dB_slice, dB_slice + slice_elements, T(0));
                if (dC_slice != nullptr) std::fill(dC_slice, dC_slice + slice_elements, T(0));
                for (int64_t c = slice * channels_per_group / slices; c < (slice + 1) * channels_per_group / slices;
                     ++c) {
                    backward_pair(g, Bop, Cop, b, first_channel + c, dB_slice, dC_slice, scratch, partials);
                }
            }
        }

        // dB / dC [b, g, n, t] = the row's slices added in slice order (slice buffers are (L, N)).
        for (int which = 0; which < 2; ++which) {
            const bool varying = which == 0 ? p.b_varying : p.c_varying;
            if (!varying) continue;
            const T* slice_data = which == 0 ? dB_slices.data() : dC_slices.data();
            T* target = which == 0 ? g.dB : g.dC;
#pragma omp parallel for schedule(static) if ((row_end - row_begin) * slices * L * N >= kMinParallelWork) \
    num_threads(hs::cpu::kernel_threads())
            for (int64_t row_t = 0; row_t < (row_end - row_begin) * L; ++row_t) {
                const int64_t local_row = row_t / L;
                const int64_t t = row_t % L;
                T* out = target + (row_begin + local_row) * N * L + t;
                const T* first = slice_data + (local_row * slices * L + t) * N;
                for (int64_t n = 0; n < N; ++n) out[n * L] = first[n];
                for (int64_t slice = 1; slice < slices; ++slice) {
                    const T* part = first + slice * slice_elements;
                    for (int64_t n = 0; n < N; ++n) out[n * L] += part[n];
                }
            }
        }
    }

    // Sums over the batch, in b order.
#pragma omp parallel for schedule(static) if (pairs * N >= kMinParallelWork) num_threads(hs::cpu::kernel_threads())
    for (int64_t d = 0; d < p.dim; ++d) {
        for (int64_t n = 0; n < N; ++n) {
            T sum_A = T(0);
            T sum_B = T(0);
            T sum_C = T(0);
            for (int64_t b = 0; b < p.batch; ++b) {
                const size_t index = static_cast<size_t>((b * p.dim + d) * N + n);
                sum_A += partials.dA[index];
                if (!p.b_varying) sum_B += partials.dB_const[index];
                if (!p.c_varying) sum_C += partials.dC_const[index];
            }
            g.dA[d * N + n] = sum_A;
            if (!p.b_varying) g.dB[d * N + n] = sum_B;
            if (!p.c_varying) g.dC[d * N + n] = sum_C;
        }
        T sum_D = T(0);
        T sum_bias = T(0);
        for (int64_t b = 0; b < p.batch; ++b) {
            sum_D += partials.dD[static_cast<size_t>(b * p.dim + d)];
            sum_bias += partials.ddelta_bias[static_cast<size_t>(b * p.dim + d)];
        }
        if (g.dD != nullptr) g.dD[d] = sum_D;
        if (g.ddelta_bias != nullptr) g.ddelta_bias[d] = sum_bias;
    }
}

