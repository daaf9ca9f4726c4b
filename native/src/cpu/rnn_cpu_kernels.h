// The CPU twin of the fused recurrence (ops/rnn.h), as templates over the element type. rnn_cpu.cpp includes this
// file twice: once inside namespace hs::rnn_avx2 under `#pragma GCC target("avx2,fma")` and once inside
// hs::rnn_portable, each time right after cpu_math.h (vector loads/stores, exp, sigmoid, tanh, log-sigmoid) and
// gemm_micro_kernel.h (the GEMM tile), then picks one at run time. That is why it has no include guard and no #include of its own (rnn_cpu.cpp includes everything first)
// and why every helper is always_inline: the helpers must be compiled for the ISA of the function that uses them.
//
// Structure of one call:
//   forward   per processing step s, per (head, block of units) item of this thread: [GEMM] pre = h_{s-1} R^T for
//             the G gates of those units (all batch rows), then [pointwise] gates = pre + wx + b and the cell update
//             of those units; barrier (h_s is double-buffered, see forward()).
//   backward  per step s from T-1 down, per (head, block of units) item of this thread: [GEMM] the recurrent part of
//             dh for those units from the dg_rec row of the step processed after s, then [pointwise] the cell's
//             backward of those units -> dwx and this step's dg_rec row (workspace); barrier. After the loop dR and
//             db as one reduction over all rows.
// Work items (GEMM tiles, pointwise chunks) are split between threads by fixed index ranges and every output element is
// computed by the same code whatever the thread count, so results are bitwise independent of the thread count.

// ---------------------------------------------------------------------------------------------------------------
// Sizes and packed weights
// ---------------------------------------------------------------------------------------------------------------

struct RnnDims {
    int64_t steps, batch, heads, head_dim, hidden;
    int64_t gates, states, cache_gates;
    int64_t head_gates;         // G * DH: gate rows of one head
    int64_t head_gates_padded;  // rounded up to kGateRowAlign: the stride of a head in dg_rec rows

    template <typename T>
    static RnnDims of(const RnnParams<T>& p) {
        const RnnCellShape shape = rnn_cell_shape(p.cell);
        RnnDims d{};
        d.steps = p.steps;
        d.batch = p.batch;
        d.heads = p.heads;
        d.head_dim = p.head_dim;
        d.hidden = p.hidden;
        d.gates = shape.gates;
        d.states = shape.states;
        d.cache_gates = shape.cache_gates;
        d.head_gates = d.gates * d.head_dim;
        d.head_gates_padded = round_up(d.head_gates, kGateRowAlign);
        return d;
    }
    int64_t row_width() const { return heads * head_gates_padded; }  // one (step, batch) row of dg_rec
};

// Forward B operand: per head, gate and block of kPanel<T> units, the slice of R^T that maps h_{t-1} of the head to
// those units of that gate ((DH, kPanel), k-major, zero past DH), so that the micro-kernel streams it contiguously.
// Block (head, q, block) starts at ((head * G + q) * unit_blocks + block) * DH * kPanel, unit_blocks = ceil(DH / kPanel).
template <typename T>
std::vector<T> pack_forward_weights(const T* R, const RnnDims& d, int64_t unit_blocks) {
    constexpr int64_t P = kPanel<T>;
    const int64_t DH = d.head_dim;
    std::vector<T> packed(static_cast<size_t>(d.heads * d.gates * unit_blocks * DH * P), T(0));
    for (int64_t head = 0; head < d.heads; ++head) {
        const T* R_head = R + head * d.head_gates * DH;
        for (int64_t q = 0; q < d.gates; ++q) {
            for (int64_t block = 0; block < unit_blocks; ++block) {
                T* out = packed.data() + ((head * d.gates + q) * unit_blocks + block) * DH * P;
                for (int64_t k = 0; k < DH; ++k) {
                    for (int64_t c = 0; c < P && block * P + c < DH; ++c) {
                        out[k * P + c] = R_head[(q * DH + block * P + c) * DH + k];
                    }
                }
            }
        }
    }
    return packed;
}

// Backward B operand: per head, R itself (G*DH x DH) cut into column panels over the DH columns, (G*DH, kPanel) each.
template <typename T>
std::vector<T> pack_backward_weights(const T* R, const RnnDims& d, int64_t& panels) {
    constexpr int64_t P = kPanel<T>;
    panels = (d.head_dim + P - 1) / P;
    std::vector<T> packed(static_cast<size_t>(d.heads * panels * d.head_gates * P), T(0));
    for (int64_t head = 0; head < d.heads; ++head) {
        const T* R_head = R + head * d.head_gates * d.head_dim;
        for (int64_t panel = 0; panel < panels; ++panel) {
            T* out = packed.data() + (head * panels + panel) * d.head_gates * P;
            for (int64_t n = 0; n < d.head_gates; ++n) {
                for (int64_t c = 0; c < P && panel * P + c < d.head_dim; ++c) {
                    out[n * P + c] = R_head[n * d.head_dim + panel * P + c];
                }
            }
        }
    }
    return packed;
}

// ---------------------------------------------------------------------------------------------------------------
// Pointwise items: one chunk of up to `lanes` units of one head of one batch row.
// ---------------------------------------------------------------------------------------------------------------

struct UnitChunk {
    int64_t b;      // batch row
    int64_t head;
    int64_t j0;     // first unit within the head
    int count;      // units in this chunk (<= lanes)
    int64_t unit;   // head * DH + j0: the offset inside an H-wide vector
};

// Chunk `chunk` of the unit block [l0, l0 + width) of one head, batch row major: row chunk / (chunks per row).
template <typename T>
HS_CPU_INLINE UnitChunk block_chunk(const RnnDims& d, int64_t head, int64_t l0, int64_t width, int64_t chunk) {
    const int64_t per_row = (width + kLanes<T> - 1) / kLanes<T>;
    UnitChunk u;
    u.b = chunk / per_row;
    u.head = head;
    u.j0 = l0 + (chunk % per_row) * kLanes<T>;
    u.count = static_cast<int>(std::min<int64_t>(kLanes<T>, l0 + width - u.j0));
    u.unit = head * d.head_dim + u.j0;
    return u;
}

inline int64_t sequence_length(const int64_t* lengths, int64_t b, int64_t steps) {
    return lengths == nullptr ? steps : lengths[b];
}

// Position processed by batch row b at processing step s (s < its length).
inline int64_t position_of(bool reverse, int64_t length, int64_t s) { return reverse ? length - 1 - s : s; }

// The saved states a step at `position` started from (ops/rnn.h): states[t] forward, states[t+2] in reverse (states[0]
// for the first processed position). Returns the (S, Bt, H) block; index it with (slot * Bt + b) * H.
template <typename T>
HS_CPU_INLINE const T* states_before(const T* states, const RnnDims& d, bool reverse, int64_t length,
                                     int64_t position) {
    const int64_t block = d.states * d.batch * d.hidden;
    if (!reverse) return states + position * block;
    return states + (position == length - 1 ? 0 : position + 2) * block;
}

// Gate pre-activations of one chunk: pre (the R h part) + wx + b, for gate q.
template <typename T>
struct ForwardChunk {
    const T* pre;   // pre row of (b, unit block): gate q unit j of the block at q * kPanel + j
    const T* wx;    // wx row of (position, b): gate q unit u at q * H + u
    const T* bias;  // b: gate q unit u at q * H + u
    const T* h_previous;  // h_{t-1} of the chunk (GRU reads it; the other cells carry h in nothing else)
    int64_t hidden, unit;
    int count;

    // j0: the chunk's first unit within its block.
    HS_CPU_INLINE Vec<T> recurrent(int q, int64_t j0) const { return load<T>(pre + q * kPanel<T> + j0, count); }
    HS_CPU_INLINE Vec<T> input(int q) const { return load<T>(wx + q * hidden + unit, count); }
    HS_CPU_INLINE Vec<T> bias_of(int q) const { return load<T>(bias + q * hidden + unit, count); }
};

// The cell updates. `state[slot]` points at the chunk in each state slot: slot 0 (h) is written only (h_{t-1} is
// g.h_previous), the other slots are read as s_{t-1} and overwritten with s_t. `cache` points at the chunk of slot 0
// of the cache row (slots H apart) or is null.
template <typename T>
HS_CPU_INLINE void lstm_forward_chunk(const ForwardChunk<T>& g, int64_t j0, T* const* state, T* cache) {
    const int n = g.count;
    const Vec<T> i = vsigmoid<T>(g.recurrent(0, j0) + g.input(0) + g.bias_of(0));
    const Vec<T> f = vsigmoid<T>(g.recurrent(1, j0) + g.input(1) + g.bias_of(1));
    const Vec<T> z = vtanh<T>(g.recurrent(2, j0) + g.input(2) + g.bias_of(2));
    const Vec<T> o = vsigmoid<T>(g.recurrent(3, j0) + g.input(3) + g.bias_of(3));
    const Vec<T> c = f * load<T>(state[1], n) + i * z;
    const Vec<T> h = o * vtanh<T>(c);
    store<T>(state[0], h, n);
    store<T>(state[1], c, n);
    if (cache != nullptr) {
        store<T>(cache, i, n);
        store<T>(cache + g.hidden, f, n);
        store<T>(cache + 2 * g.hidden, z, n);
        store<T>(cache + 3 * g.hidden, o, n);
    }
}

template <typename T>
HS_CPU_INLINE void gru_forward_chunk(const ForwardChunk<T>& g, int64_t j0, T* const* state, T* cache) {
    const int n = g.count;
    const Vec<T> r = vsigmoid<T>(g.recurrent(0, j0) + g.input(0) + g.bias_of(0));
    const Vec<T> z = vsigmoid<T>(g.recurrent(1, j0) + g.input(1) + g.bias_of(1));
    const Vec<T> recurrent_n = g.recurrent(2, j0) + g.bias_of(2);
    const Vec<T> candidate = vtanh<T>(g.input(2) + r * recurrent_n);
    const Vec<T> h = (splat<T>(T(1)) - z) * candidate + z * load<T>(g.h_previous, n);
    store<T>(state[0], h, n);
    if (cache != nullptr) {
        store<T>(cache, r, n);
        store<T>(cache + g.hidden, z, n);
        store<T>(cache + 2 * g.hidden, candidate, n);
        store<T>(cache + 3 * g.hidden, recurrent_n, n);
    }
}

template <typename T>
HS_CPU_INLINE void slstm_forward_chunk(const ForwardChunk<T>& g, int64_t j0, T* const* state, T* cache) {
    const int n = g.count;
    const Vec<T> i_pre = g.recurrent(0, j0) + g.input(0) + g.bias_of(0);
    const Vec<T> f_pre = g.recurrent(1, j0) + g.input(1) + g.bias_of(1);
    const Vec<T> z = vtanh<T>(g.recurrent(2, j0) + g.input(2) + g.bias_of(2));
    const Vec<T> o = vsigmoid<T>(g.recurrent(3, j0) + g.input(3) + g.bias_of(3));
    const Vec<T> decayed = vlogsigmoid<T>(f_pre) + load<T>(state[3], n);  // logsig(f~) + m_{t-1}
    const Vec<T> m = select<T>(decayed >= i_pre, decayed, i_pre);
    const Vec<T> i_gate = vexp<T>(i_pre - m);
    const Vec<T> f_gate = vexp<T>(decayed - m);
    const Vec<T> c = f_gate * load<T>(state[1], n) + i_gate * z;
    const Vec<T> normaliser = f_gate * load<T>(state[2], n) + i_gate;
    const Vec<T> h = o * c / normaliser;
    store<T>(state[0], h, n);
    store<T>(state[1], c, n);
    store<T>(state[2], normaliser, n);
    store<T>(state[3], m, n);
    if (cache != nullptr) {
        store<T>(cache, i_pre, n);
        store<T>(cache + g.hidden, f_pre, n);
        store<T>(cache + 2 * g.hidden, z, n);
        store<T>(cache + 3 * g.hidden, o, n);
    }
}

// count <= lanes; a full chunk is one vector load and store.
template <typename T>
HS_CPU_INLINE void copy_chunk(T* target, const T* source, int count) {
    store<T>(target, load<T>(source, count), count);
}

template <typename T>
HS_CPU_INLINE void zero_chunk(T* target, int count) {
    for (int lane = 0; lane < count; ++lane) target[lane] = T(0);
}

// The pointwise update of processing step s for one head's unit block [u0, u0 + width) of every batch row, from the
// block's pre-activations `pre` (row b at b * G * kPanel). Reads h_{s-1} from h_read, writes h_s to h_write and
// updates the other state slots of `current` in place.
template <typename T, RnnCell Cell>
void forward_pointwise(const RnnParams<T>& p, const RnnDims& d, int64_t s, const T* pre, int64_t head, int64_t u0,
                       int64_t width, const T* h_read, T* h_write, T* current) {
    const int64_t H = d.hidden, Bt = d.batch, S = d.states;
    const int64_t state_block = S * Bt * H;
    for (int64_t b = 0; b < Bt; ++b) {
        const int64_t length = sequence_length(p.lengths, b, d.steps);
        for (int64_t j0 = 0; j0 < width; j0 += kLanes<T>) {
            const int count = static_cast<int>(std::min<int64_t>(kLanes<T>, width - j0));
            const int64_t unit = head * d.head_dim + u0 + j0;
            T* state[4];
            state[0] = h_write + b * H + unit;
            for (int64_t slot = 1; slot < S; ++slot) state[slot] = current + (slot * Bt + b) * H + unit;
            const T* h_previous = h_read + b * H + unit;
            if (s >= length) {
                // Position s of this row is padding: y = 0, h stays; the saved states hold s_last (forward) or s0
                // (reverse).
                copy_chunk(state[0], h_previous, count);
                zero_chunk(p.y + (s * Bt + b) * H + unit, count);
                if (p.states != nullptr) {
                    for (int64_t slot = 0; slot < S; ++slot) {
                        const int64_t offset = (slot * Bt + b) * H + unit;
                        const T* source = p.reverse ? p.states + offset : state[slot];
                        copy_chunk(p.states + (s + 1) * state_block + offset, source, count);
                    }
                }
                continue;
            }
            const int64_t t = position_of(p.reverse, length, s);
            if (s + 1 < length) {
                // The input rows of this chunk's next step: G lines H apart in a (T, Bt, G*H) tensor far larger than
                // the caches, too many streams for the hardware prefetcher to follow.
                const T* next = p.wx + (position_of(p.reverse, length, s + 1) * Bt + b) * d.gates * H + unit;
                for (int64_t q = 0; q < d.gates; ++q) __builtin_prefetch(next + q * H);
            }
            ForwardChunk<T> g;
            g.pre = pre + b * d.gates * kPanel<T>;
            g.wx = p.wx + (t * Bt + b) * d.gates * H;
            g.bias = p.b;
            g.h_previous = h_previous;
            g.hidden = H;
            g.unit = unit;
            g.count = count;
            T* cache = p.cache == nullptr ? nullptr : p.cache + (t * Bt + b) * d.cache_gates * H + unit;
            if constexpr (Cell == RnnCell::Lstm) {
                lstm_forward_chunk<T>(g, j0, state, cache);
            } else if constexpr (Cell == RnnCell::Gru) {
                gru_forward_chunk<T>(g, j0, state, cache);
            } else {
                slstm_forward_chunk<T>(g, j0, state, cache);
            }
            copy_chunk(p.y + (t * Bt + b) * H + unit, state[0], count);
            if (p.states != nullptr) {
                for (int64_t slot = 0; slot < S; ++slot) {
                    const int64_t offset = (slot * Bt + b) * H + unit;
                    copy_chunk(p.states + (t + 1) * state_block + offset, state[slot], count);
                }
            }
        }
    }
}

// Below this many multiply-adds per step the recurrence runs on the calling thread: two barriers per step would cost
// more than the second thread saves.
constexpr int64_t kMinParallelStepWork = int64_t(1) << 14;

inline int rnn_thread_count(const RnnDims& d) {
    const int64_t work = d.batch * d.heads * d.head_gates * d.head_dim;
    return work < kMinParallelStepWork ? 1 : hs::cpu::step_kernel_threads();
}

// One barrier per step: each thread owns fixed (head, unit block) items and, for each, computes the pre-activations
// of all G gates of those units for every batch row (G micro-kernel panels, into a private buffer) and then their
// pointwise update right away. h alternates between two buffers (read h_{s-1}, write h_s), because other threads
// still read h_{s-1} while this one writes h_s; the other state slots belong to the units' owner alone.
template <typename T>
void forward(const RnnParams<T>& p) {
    const RnnDims d = RnnDims::of(p);
    const int64_t H = d.hidden, Bt = d.batch, S = d.states, state_elements = S * Bt * H;
    constexpr int64_t P = kPanel<T>;

    // The running states (S, Bt, H): a private copy, so that s0 and s_last may alias (hs_rnn_step). Slot 0 (h) is
    // the first of the two h buffers; the second follows the states.
    std::vector<T> current(static_cast<size_t>(state_elements + Bt * H), T(0));
    if (p.s0 != nullptr) std::copy(p.s0, p.s0 + state_elements, current.begin());
    if (p.states != nullptr) std::copy(current.begin(), current.begin() + state_elements, p.states);
    T* const h_buffers[2] = {current.data(), current.data() + state_elements};

    const int64_t unit_blocks = (d.head_dim + P - 1) / P;
    const std::vector<T> packed = pack_forward_weights(p.R, d, unit_blocks);
    const int64_t items = d.heads * unit_blocks;
    const int64_t pre_width = d.gates * P;

#pragma omp parallel num_threads(rnn_thread_count(d))
    {
        const ItemRange mine = thread_range(items, omp_get_thread_num(), omp_get_num_threads());
        std::vector<T> pre(static_cast<size_t>(Bt * pre_width));
        for (int64_t s = 0; s < d.steps; ++s) {
            const T* h_read = h_buffers[s % 2];
            T* h_write = h_buffers[(s + 1) % 2];
            for (int64_t item = mine.begin; item < mine.end; ++item) {
                const int64_t head = item / unit_blocks, block = item % unit_blocks;
                const int64_t u0 = block * P, width = std::min<int64_t>(P, d.head_dim - u0);
                // pre[b][q * P + j] = sum_k h[b][head * DH + k] * R[head][q * DH + u0 + j][k]
                const StridedA<T> a{h_read + head * d.head_dim, 1, H};
                for (int64_t q = 0; q < d.gates; ++q) {
                    const StridedB<T> b{packed.data() + ((head * d.gates + q) * unit_blocks + block) * d.head_dim * P,
                                        P};
                    for (int64_t m0 = 0; m0 < Bt; m0 += kTileRows) {
                        gemm_rows<T>(std::min<int64_t>(kTileRows, Bt - m0), d.head_dim, a, m0, b, 0,
                                     pre.data() + m0 * pre_width + q * P, pre_width, P, false);
                    }
                }
                switch (p.cell) {
                    case RnnCell::Lstm:
                        forward_pointwise<T, RnnCell::Lstm>(p, d, s, pre.data(), head, u0, width, h_read, h_write,
                                                            current.data());
                        break;
                    case RnnCell::Gru:
                        forward_pointwise<T, RnnCell::Gru>(p, d, s, pre.data(), head, u0, width, h_read, h_write,
                                                           current.data());
                        break;
                    case RnnCell::Slstm:
                        forward_pointwise<T, RnnCell::Slstm>(p, d, s, pre.data(), head, u0, width, h_read, h_write,
                                                             current.data());
                        break;
                }
            }
#pragma omp barrier
        }
    }
    if (p.s_last != nullptr) {
        std::copy(current.begin(), current.begin() + state_elements, p.s_last);
        const T* h_last = h_buffers[d.steps % 2];
        std::copy(h_last, h_last + Bt * H, p.s_last);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------------------------------------------

// What the cell backward of one chunk reads and writes.
template <typename T>
struct BackwardChunk {
    int64_t hidden;
    int count;
    const T* cache;      // cache row of (position, b) at the chunk, slots H apart
    const T* before;     // the states the step started from: slot k at before + k * Bt * H
    const T* after;      // the states it produced (states[t+1])
    int64_t slot_stride; // Bt * H
    T* carried;          // dS (S, Bt, H) at the chunk: in dS_t (with dy added to h), out dS_{t-1} (h excepted)
    T* direct;           // GRU: dh_{t-1} apart from R^T dg_rec
    T* dwx;              // dwx row of (position, b) at the chunk, gates H apart
    T* dg_rec;           // dg_rec row of (step, b) at (head, j0), gates DH apart
    int64_t head_dim;

    HS_CPU_INLINE Vec<T> cached(int slot) const { return load<T>(cache + slot * hidden, count); }
    HS_CPU_INLINE Vec<T> state_before(int slot) const { return load<T>(before + slot * slot_stride, count); }
    HS_CPU_INLINE Vec<T> state_after(int slot) const { return load<T>(after + slot * slot_stride, count); }
    HS_CPU_INLINE Vec<T> carried_of(int slot) const { return load<T>(carried + slot * slot_stride, count); }
    HS_CPU_INLINE void set_carried(int slot, Vec<T> v) const { store<T>(carried + slot * slot_stride, v, count); }
    HS_CPU_INLINE void gate(int q, Vec<T> input_grad, Vec<T> recurrent_grad) const {
        store<T>(dwx + q * hidden, input_grad, count);
        store<T>(dg_rec + q * head_dim, recurrent_grad, count);
    }
};

template <typename T>
HS_CPU_INLINE void lstm_backward_chunk(const BackwardChunk<T>& k, Vec<T> dh) {
    const Vec<T> one = splat<T>(T(1));
    const Vec<T> i = k.cached(0), f = k.cached(1), z = k.cached(2), o = k.cached(3);
    const Vec<T> tanh_c = vtanh<T>(k.state_after(1));
    const Vec<T> dc = k.carried_of(1) + dh * o * (one - tanh_c * tanh_c);
    const Vec<T> di = dc * z * i * (one - i);
    const Vec<T> df = dc * k.state_before(1) * f * (one - f);
    const Vec<T> dz = dc * i * (one - z * z);
    const Vec<T> d_o = dh * tanh_c * o * (one - o);
    k.gate(0, di, di);
    k.gate(1, df, df);
    k.gate(2, dz, dz);
    k.gate(3, d_o, d_o);
    k.set_carried(1, dc * f);
}

template <typename T>
HS_CPU_INLINE void gru_backward_chunk(const BackwardChunk<T>& k, Vec<T> dh) {
    const Vec<T> one = splat<T>(T(1));
    const Vec<T> r = k.cached(0), z = k.cached(1), candidate = k.cached(2), recurrent_n = k.cached(3);
    const Vec<T> d_candidate = dh * (one - z) * (one - candidate * candidate);
    const Vec<T> dz = dh * (k.state_before(0) - candidate) * z * (one - z);
    const Vec<T> dr = d_candidate * recurrent_n * r * (one - r);
    k.gate(0, dr, dr);
    k.gate(1, dz, dz);
    k.gate(2, d_candidate, d_candidate * r);
    store<T>(k.direct, dh * z, k.count);
}

template <typename T>
HS_CPU_INLINE void slstm_backward_chunk(const BackwardChunk<T>& k, Vec<T> dh) {
    const Vec<T> one = splat<T>(T(1));
    const Vec<T> i_pre = k.cached(0), f_pre = k.cached(1), z = k.cached(2), o = k.cached(3);
    // Recompute the stabiliser exactly as the forward did (same operations, same order).
    const Vec<T> decayed = vlogsigmoid<T>(f_pre) + k.state_before(3);
    const IVec<T> decay_wins = decayed >= i_pre;
    const Vec<T> m = select<T>(decay_wins, decayed, i_pre);
    const Vec<T> i_gate = vexp<T>(i_pre - m);
    const Vec<T> f_gate = vexp<T>(decayed - m);
    const Vec<T> c = k.state_after(1);
    const Vec<T> inv_n = one / k.state_after(2);
    const Vec<T> dc = k.carried_of(1) + dh * o * inv_n;
    const Vec<T> dn = k.carried_of(2) - dh * o * c * inv_n * inv_n;
    const Vec<T> d_o = dh * c * inv_n * o * (one - o);
    const Vec<T> dz = dc * i_gate * (one - z * z);
    const Vec<T> d_i_gate = (dc * z + dn) * i_gate;                                        // d/d(i~ - m)
    const Vec<T> d_f_gate = (dc * k.state_before(1) + dn * k.state_before(2)) * f_gate;  // d/d(decayed - m)
    const Vec<T> dm = k.carried_of(3) - d_i_gate - d_f_gate;
    const Vec<T> zero{};
    const Vec<T> di = d_i_gate + select<T>(decay_wins, zero, dm);
    const Vec<T> d_decayed = d_f_gate + select<T>(decay_wins, dm, zero);
    const Vec<T> df = d_decayed * vsigmoid<T>(-f_pre);
    k.gate(0, di, di);
    k.gate(1, df, df);
    k.gate(2, dz, dz);
    k.gate(3, d_o, d_o);
    k.set_carried(1, dc * f_gate);
    k.set_carried(2, dn * f_gate);
    k.set_carried(3, d_decayed);
}

// Scratch of one backward call.
template <typename T>
struct BackwardScratch {
    std::vector<T> carried;      // dS (S, Bt, H)
    std::vector<T> recurrent_dh; // R^T dg_rec of the last step (Bt, H)
    std::vector<T> direct;       // GRU's z * dh (Bt, H)
};

// dS_h of row b after its step s+1 (which it processed): R^T dg_rec (+ GRU's direct part).
template <typename T>
HS_CPU_INLINE void finish_carried_h(const RnnDims& d, RnnCell cell, BackwardScratch<T>& scratch, const UnitChunk& u) {
    const int64_t offset = u.b * d.hidden + u.unit;
    T* target = scratch.carried.data() + offset;  // slot 0 (h)
    const T* recurrent = scratch.recurrent_dh.data() + offset;
    if (cell == RnnCell::Gru) {
        const T* direct = scratch.direct.data() + offset;
        for (int lane = 0; lane < u.count; ++lane) target[lane] = recurrent[lane] + direct[lane];
    } else {
        copy_chunk(target, recurrent, u.count);
    }
}

// The cell backward of processing step s for one head's unit block [l0, l0 + width) of every batch row.
template <typename T, RnnCell Cell>
void backward_pointwise(const RnnBackwardParams<T>& p, const RnnDims& d, int64_t s, BackwardScratch<T>& scratch,
                        int64_t head, int64_t l0, int64_t width) {
    const RnnParams<T>& f = p.fwd;
    const int64_t H = d.hidden, Bt = d.batch;
    for (int64_t chunk = 0; chunk < Bt * ((width + kLanes<T> - 1) / kLanes<T>); ++chunk) {
        const UnitChunk u = block_chunk<T>(d, head, l0, width, chunk);
        const int64_t length = sequence_length(f.lengths, u.b, d.steps);
        if (s + 1 < length) finish_carried_h(d, Cell, scratch, u);
        T* dg_row = p.workspace + (s * Bt + u.b) * d.row_width() + u.head * d.head_gates_padded;
        if (u.j0 + u.count == d.head_dim) {
            // The alignment padding of the head's dg_rec row is read (and discarded) by the dR kernel: keep it finite.
            zero_chunk(dg_row + d.head_gates, static_cast<int>(d.head_gates_padded - d.head_gates));
        }
        if (s >= length) {
            // Padding: zero input gradient; dg_rec zero too, so that the step's R^T dg_rec reads defined values.
            for (int64_t q = 0; q < d.gates; ++q) {
                zero_chunk(p.dwx + (s * Bt + u.b) * d.gates * H + q * H + u.unit, u.count);
                zero_chunk(dg_row + q * d.head_dim + u.j0, u.count);
            }
            continue;
        }
        const int64_t t = position_of(f.reverse, length, s);
        if (s > 0) {
            // What the next (earlier) step of this chunk reads, as in forward_pointwise: its cache slots and the
            // states it ends with, lines far apart in tensors much larger than the caches.
            const int64_t earlier = position_of(f.reverse, length, s - 1);
            const T* cache_row = p.cache + (earlier * Bt + u.b) * d.cache_gates * H + u.unit;
            for (int64_t slot = 0; slot < d.cache_gates; ++slot) __builtin_prefetch(cache_row + slot * H);
            const T* after = p.states + (earlier + 1) * d.states * Bt * H + u.b * H + u.unit;
            for (int64_t slot = 0; slot < d.states; ++slot) __builtin_prefetch(after + slot * Bt * H);
            __builtin_prefetch(p.dy + (earlier * Bt + u.b) * H + u.unit);
        }
        BackwardChunk<T> k;
        k.hidden = H;
        k.count = u.count;
        k.cache = p.cache + (t * Bt + u.b) * d.cache_gates * H + u.unit;
        k.slot_stride = Bt * H;
        k.before = states_before(p.states, d, f.reverse, length, t) + u.b * H + u.unit;
        k.after = p.states + (t + 1) * d.states * Bt * H + u.b * H + u.unit;
        k.carried = scratch.carried.data() + u.b * H + u.unit;
        k.direct = Cell == RnnCell::Gru ? scratch.direct.data() + u.b * H + u.unit : nullptr;
        k.dwx = p.dwx + (t * Bt + u.b) * d.gates * H + u.unit;
        k.dg_rec = dg_row + u.j0;
        k.head_dim = d.head_dim;
        const Vec<T> dh = k.carried_of(0) + load<T>(p.dy + (t * Bt + u.b) * H + u.unit, u.count);
        if constexpr (Cell == RnnCell::Lstm) {
            lstm_backward_chunk<T>(k, dh);
        } else if constexpr (Cell == RnnCell::Gru) {
            gru_backward_chunk<T>(k, dh);
        } else {
            slstm_backward_chunk<T>(k, dh);
        }
    }
}

// Rows (processed (s, b) pairs) of the dR / db reduction per cache block. Per block a thread packs its dg_rec
// columns panel by panel (kReductionBlock x kPanel each, 8 KB float: L1) and one head's h strips (DH x
// kReductionBlock, 128 KB for DH 256 float: L2). The rows themselves lie 1-4 KB apart in memory, so reading a panel in
// place would put all its rows in the same few L1 sets; packing makes both operands contiguous and reads each dg_rec
// row once, sequentially.
constexpr int64_t kReductionBlock = 128;

// Packs columns [offset, offset + width) of `depth` gathered rows into strips of kTileRows columns, each strip
// k-major (depth, kTileRows) with zeros past `width`: the PackedA layout. `packed` holds ceil(width / kTileRows) *
// depth * kTileRows elements.
template <typename T>
void pack_strips(const T* const* rows, int64_t depth, int64_t offset, int64_t width, T* packed) {
    const int64_t strips = (width + kTileRows - 1) / kTileRows;
    for (int64_t strip = 0; strip < strips; ++strip) {
        const int64_t m0 = strip * kTileRows;
        const int count = static_cast<int>(std::min<int64_t>(kTileRows, width - m0));
        T* out = packed + strip * depth * kTileRows;
        for (int64_t k = 0; k < depth; ++k) {
            const T* source = rows[k] + offset + m0;
            for (int m = 0; m < kTileRows; ++m) out[k * kTileRows + m] = m < count ? source[m] : T(0);
        }
    }
}

// dR[head][n][l] = sum over processed (s, b) of dg_rec[s][b][head][n] * h_before[s][b][head * DH + l];
// db[q * H + head * DH + j] = sum of dg_rec[s][b][head][q * DH + j]. Every element sums its rows in (s, b) order
// (per kReductionBlock block, then block after block) and is computed by one thread, whatever the thread count.
template <typename T>
void reduce_weight_gradients(const RnnBackwardParams<T>& p, const RnnDims& d) {
    const RnnParams<T>& f = p.fwd;
    const int64_t H = d.hidden, Bt = d.batch, width = d.row_width(), GDHp = d.head_gates_padded;
    constexpr int64_t P = kPanel<T>;
    std::vector<const T*> h_rows, g_rows;
    h_rows.reserve(static_cast<size_t>(d.steps * Bt));
    g_rows.reserve(static_cast<size_t>(d.steps * Bt));
    for (int64_t s = 0; s < d.steps; ++s) {
        for (int64_t b = 0; b < Bt; ++b) {
            const int64_t length = sequence_length(f.lengths, b, d.steps);
            if (s >= length) continue;
            const int64_t t = position_of(f.reverse, length, s);
            h_rows.push_back(states_before(p.states, d, f.reverse, length, t) + b * H);  // slot 0 = h
            g_rows.push_back(p.workspace + (s * Bt + b) * width);
        }
    }
    const int64_t rows = static_cast<int64_t>(h_rows.size());
    const int64_t panels = GDHp / P;
    // dR^T per head (DH, GDHp): rows = units l of h, columns = gate rows n, so the micro-kernel's vector loads run
    // along dg_rec rows.
    std::vector<T> dR_transposed(static_cast<size_t>(d.heads * d.head_dim * GDHp), T(0));
    std::vector<T> db_heads(static_cast<size_t>(width), T(0));
    const int64_t strips = (d.head_dim + kTileRows - 1) / kTileRows;
    const int64_t work = rows * d.heads * d.head_gates * d.head_dim;
    const int threads = work < kMinParallelStepWork ? 1 : hs::cpu::kernel_threads();

#pragma omp parallel num_threads(threads)
    {
        const int thread = omp_get_thread_num(), thread_count = omp_get_num_threads();
        // Each thread owns a contiguous range of (head, panel) column panels and packs its own operands, so the
        // threads never wait for each other.
        const ItemRange my_panels = thread_range(d.heads * panels, thread, thread_count);
        const int64_t my_panel_count = my_panels.end - my_panels.begin;
        std::vector<T> packed_h(static_cast<size_t>(strips * kReductionBlock * kTileRows));
        std::vector<T> packed_g(static_cast<size_t>(my_panel_count * kReductionBlock * P));
        for (int64_t k0 = 0; k0 < rows && my_panel_count > 0; k0 += kReductionBlock) {
            const int64_t depth = std::min(kReductionBlock, rows - k0);
            // Pack this thread's dg_rec columns of the block panel by panel ((depth, P) each), reading each row
            // sequentially, and add them to db on the way, row by row in (s, b) order.
            const int64_t column_begin = my_panels.begin * P;
            for (int64_t k = 0; k < depth; ++k) {
                const T* g_row = g_rows[static_cast<size_t>(k0 + k)] + column_begin;
                for (int64_t local_panel = 0; local_panel < my_panel_count; ++local_panel) {
                    const T* g = g_row + local_panel * P;
                    T* out = packed_g.data() + (local_panel * depth + k) * P;
                    T* db_panel = db_heads.data() + column_begin + local_panel * P;
                    for (int64_t n = 0; n < P; ++n) {
                        out[n] = g[n];
                        db_panel[n] += g[n];
                    }
                }
            }
            int64_t packed_head = -1;
            for (int64_t head_panel = my_panels.begin; head_panel < my_panels.end; ++head_panel) {
                const int64_t head = head_panel / panels, panel = head_panel % panels;
                if (head != packed_head) {
                    pack_strips(h_rows.data() + k0, depth, head * d.head_dim, d.head_dim, packed_h.data());
                    packed_head = head;
                }
                const StridedB<T> b{packed_g.data() + (head_panel - my_panels.begin) * depth * P, P};
                T* c_panel = dR_transposed.data() + head * d.head_dim * GDHp + panel * P;
                for (int64_t strip = 0; strip < strips; ++strip) {
                    const int64_t m0 = strip * kTileRows;
                    const PackedA<T> a{packed_h.data() + strip * depth * kTileRows};
                    gemm_rows<T>(std::min<int64_t>(kTileRows, d.head_dim - m0), depth, a, 0, b, 0,
                                 c_panel + m0 * GDHp, GDHp, P, true);
                }
            }
        }
    }
    for (int64_t head = 0; head < d.heads; ++head) {
        for (int64_t n = 0; n < d.head_gates; ++n) {
            const int64_t q = n / d.head_dim, j = n % d.head_dim;
            p.db[q * H + head * d.head_dim + j] = db_heads[static_cast<size_t>(head * GDHp + n)];
            T* dR_row = p.dR + (head * d.head_gates + n) * d.head_dim;
            for (int64_t l = 0; l < d.head_dim; ++l) {
                dR_row[l] = dR_transposed[static_cast<size_t>((head * d.head_dim + l) * GDHp + n)];
            }
        }
    }
}

template <typename T>
void backward(const RnnBackwardParams<T>& p) {
    const RnnParams<T>& f = p.fwd;
    const RnnDims d = RnnDims::of(f);
    const int64_t H = d.hidden, Bt = d.batch, state_elements = d.states * Bt * H;
    constexpr int64_t P = kPanel<T>;

    BackwardScratch<T> scratch;
    scratch.carried.assign(static_cast<size_t>(state_elements), T(0));
    if (p.ds_last != nullptr) std::copy(p.ds_last, p.ds_last + state_elements, scratch.carried.begin());
    scratch.recurrent_dh.assign(static_cast<size_t>(Bt * H), T(0));
    if (f.cell == RnnCell::Gru) scratch.direct.assign(static_cast<size_t>(Bt * H), T(0));

    int64_t panels = 0;
    const std::vector<T> packed = pack_backward_weights(f.R, d, panels);
    // Items: (head, block of kPanel units), one weight panel each. A thread computes, for its items, the recurrent
    // part of dh from the dg_rec row of the step processed after this one (all of the head's gates: that row is
    // complete after the barrier) and then the cell backward of those units, which writes this step's row.
    const int64_t items = d.heads * panels;
    auto recurrent_dh = [&](int64_t step, int64_t head, int64_t block) {
        // recurrent_dh[b][head * DH + l] = sum_n dg_rec[step][b][head][n] * R[head][n][l] for l in the block
        const T* dg_step = p.workspace + step * Bt * d.row_width();
        const StridedA<T> a{dg_step + head * d.head_gates_padded, 1, d.row_width()};
        const StridedB<T> b{packed.data() + (head * panels + block) * d.head_gates * P, P};
        for (int64_t m0 = 0; m0 < Bt; m0 += kTileRows) {
            T* c = scratch.recurrent_dh.data() + m0 * H + head * d.head_dim + block * P;
            gemm_rows<T>(std::min<int64_t>(kTileRows, Bt - m0), d.head_gates, a, m0, b, 0, c, H,
                         std::min<int64_t>(P, d.head_dim - block * P), false);
        }
    };

#pragma omp parallel num_threads(rnn_thread_count(d))
    {
        const ItemRange mine = thread_range(items, omp_get_thread_num(), omp_get_num_threads());
        for (int64_t s = d.steps - 1; s >= 0; --s) {
            for (int64_t item = mine.begin; item < mine.end; ++item) {
                const int64_t head = item / panels, block = item % panels;
                const int64_t l0 = block * P, width = std::min<int64_t>(P, d.head_dim - l0);
                if (s + 1 < d.steps) recurrent_dh(s + 1, head, block);
                switch (f.cell) {
                    case RnnCell::Lstm:
                        backward_pointwise<T, RnnCell::Lstm>(p, d, s, scratch, head, l0, width);
                        break;
                    case RnnCell::Gru:
                        backward_pointwise<T, RnnCell::Gru>(p, d, s, scratch, head, l0, width);
                        break;
                    case RnnCell::Slstm:
                        backward_pointwise<T, RnnCell::Slstm>(p, d, s, scratch, head, l0, width);
                        break;
                }
            }
#pragma omp barrier
        }
        // The gradient of the states each sequence started from: h's from the first processed step's dg_rec.
        for (int64_t item = mine.begin; item < mine.end; ++item) {
            const int64_t head = item / panels, block = item % panels;
            const int64_t l0 = block * P, width = std::min<int64_t>(P, d.head_dim - l0);
            if (d.steps > 0) recurrent_dh(0, head, block);
            for (int64_t chunk = 0; chunk < Bt * ((width + kLanes<T> - 1) / kLanes<T>); ++chunk) {
                const UnitChunk u = block_chunk<T>(d, head, l0, width, chunk);
                if (sequence_length(f.lengths, u.b, d.steps) > 0) finish_carried_h(d, f.cell, scratch, u);
            }
        }
    }
    if (p.ds0 != nullptr) std::copy(scratch.carried.begin(), scratch.carried.end(), p.ds0);
    reduce_weight_gradients(p, d);
}
