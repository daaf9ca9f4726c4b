// The CPU dense dilated causal convolution (ops/dilated_conv.h) as templates over the element type.
// dilated_conv_cpu.cpp includes this file once per instruction set, after gemm_micro_kernel.h and
// linear_cpu_kernels.h (for its blocking constants), so it has no include guard and no #include of its own.
//
// Forward and input gradient are one "implicit GEMM" over a padded sequence V (see ConvSource):
//     out(b, m, n) = sum_{k < K, c < Cs} A(m, c, k) * V(b, c, n + k*dilation)
// forward: A = weight (m = o, c = i), V = initial state then x;  dx: A = weight transposed and flipped in k
// (m = i, c = o, k' = K-1-k), V = S zeros then dy, so that column p of the output is position p of the padded input
// (p < S: the initial state, p >= S: x). Per item (batch b, a block of columns, a block of rows) the window of V the
// block needs is copied into a contiguous per-thread buffer (Cs rows of block + S values, zero outside V), and a
// table of row pointers (depth index d = k*Cs + c -> window row c shifted by k*dilation) makes that window the B
// operand of the shared micro-kernel (gemm_tile) with depth K*Cs: the accumulators stay in registers over every
// tap and channel, and no im2col matrix is ever built. A is packed once per call into kTileRows-row strips.
// The weight gradient is one GEMM of dy against the transposed padded input, on the same micro-kernel.

// B(d, n) = rows[d][n]: the window rows of the implicit GEMM, one pointer per depth index.
template <typename T>
struct IndirectB {
    const T* const* rows;
    HS_CPU_INLINE const T* row(int64_t d) const { return rows[d]; }
};

// The padded sequence V(b, c, v): v in [0, head_length) reads head (zeros when head is null), v in
// [head_length, head_length + body_length) reads body at v - head_length (zeros from limits[b] on when limits is
// given), anything else is zero. head (Bt, channels, head_length) and body (Bt, channels, body_length) contiguous.
template <typename T>
struct ConvSource {
    const T* head;
    int64_t head_length;
    const T* body;
    int64_t body_length;
    const int64_t* limits;
    int64_t channels;

    int64_t limit(int64_t b) const { return limits != nullptr ? limits[b] : body_length; }

    // V(b, c, first .. first + count) into out, zeros outside V.
    void copy_row(int64_t b, int64_t c, int64_t first, int64_t count, T* out) const {
        const int64_t body_end = head_length + limit(b);
        const T* head_row = head != nullptr ? head + (b * channels + c) * head_length : nullptr;
        const T* body_row = body + (b * channels + c) * body_length;
        int64_t j = 0;
        for (; j < count && first + j < 0; ++j) out[j] = T(0);
        for (; j < count && first + j < head_length; ++j) out[j] = head_row != nullptr ? head_row[first + j] : T(0);
        for (; j < count && first + j < body_end; ++j) out[j] = body_row[first + j - head_length];
        for (; j < count; ++j) out[j] = T(0);
    }
};

// Columns per item: 8 panels (128 floats / 64 doubles), so that one window (Cs rows of 128 + S values) stays in L2
// and each packed A strip is reused over 8 tiles from L1.
template <typename T>
constexpr int64_t kConvBlockColumns = 8 * kPanel<T>;
// Rows of an item when the (batch, column block) items alone are too few for the threads.
constexpr int64_t kConvBlockRows = 8 * kTileRows;

// Packs A(m, c, k) = a(m, c, k) into strips of kTileRows rows, each (K*Cs, kTileRows) with depth d = k*Cs + c,
// zero rows past `rows`.
template <typename T, typename Accessor>
std::vector<T> pack_conv_a(int64_t rows, int64_t channels, int64_t width, Accessor a) {
    const int64_t strips = (rows + kTileRows - 1) / kTileRows;
    const int64_t depth = width * channels;
    std::vector<T> packed(static_cast<size_t>(strips * depth * kTileRows), T(0));
    for (int64_t m = 0; m < rows; ++m) {
        T* strip = packed.data() + (m / kTileRows) * depth * kTileRows + m % kTileRows;
        for (int64_t k = 0; k < width; ++k) {
            for (int64_t c = 0; c < channels; ++c) strip[(k * channels + c) * kTileRows] = a(m, c, k);
        }
    }
    return packed;
}

template <typename T>
struct ConvProblem {
    int64_t batch, rows, width, dilation;
    int64_t column_begin, column_end;  // output columns n in [column_begin, column_end) of every batch
    const T* packed_a;                 // pack_conv_a layout, depth width * source.channels
    ConvSource<T> source;
};

// Runs the implicit GEMM of `g` and hands every finished block to epilogue(b, m0, rows, n0, columns, block, ldc),
// where block[(m - m0) * ldc + (n - n0)] = out(b, m, n). Every output element is one gemm_tile sum over the same
// depth order, whatever the thread count or the blocking.
template <typename T, typename Epilogue>
void conv_columns(const ConvProblem<T>& g, Epilogue epilogue) {
    constexpr int64_t P = kPanel<T>;
    constexpr int64_t NB = kConvBlockColumns<T>;
    const int64_t columns = g.column_end - g.column_begin;
    if (g.batch == 0 || g.rows == 0 || columns <= 0) return;
    const int64_t channels = g.source.channels;
    const int64_t depth = g.width * channels;
    const int64_t reach = (g.width - 1) * g.dilation;
    const int64_t column_blocks = (columns + NB - 1) / NB;
    const int threads = hs::cpu::kernel_threads();
    const bool parallel = g.batch * columns * g.rows * std::max<int64_t>(depth, 1) >= kMinParallelGemmWork;
    // Row blocks only when the batch and column blocks leave some thread without enough work.
    const int64_t row_block =
        (parallel && g.batch * column_blocks < 4 * int64_t(threads)) ? kConvBlockRows : round_up(g.rows, kTileRows);
    const int64_t row_blocks = (g.rows + row_block - 1) / row_block;
    const int64_t items = g.batch * column_blocks * row_blocks;
    const int64_t window_width = NB + reach;
#pragma omp parallel if (parallel) num_threads(threads)
    {
        std::vector<T> window(static_cast<size_t>(std::max<int64_t>(channels, 1) * window_width));
        std::vector<const T*> row_pointers(static_cast<size_t>(std::max<int64_t>(depth, 1)));
        std::vector<T> block(static_cast<size_t>(row_block * NB));
        int64_t window_b = -1, window_n0 = -1;
#pragma omp for schedule(dynamic)
        for (int64_t item = 0; item < items; ++item) {
            // Row blocks innermost: consecutive items of one thread share the window.
            const int64_t row_index = item % row_blocks;
            const int64_t column_index = (item / row_blocks) % column_blocks;
            const int64_t b = item / (row_blocks * column_blocks);
            const int64_t n0 = g.column_begin + column_index * NB;
            const int64_t width_here = std::min<int64_t>(NB, g.column_end - n0);
            const int64_t panels = (width_here + P - 1) / P;
            if (window_b != b || window_n0 != n0) {
                for (int64_t c = 0; c < channels; ++c) {
                    g.source.copy_row(b, c, n0, panels * P + reach, window.data() + c * window_width);
                }
                for (int64_t k = 0; k < g.width; ++k) {
                    for (int64_t c = 0; c < channels; ++c) {
                        row_pointers[k * channels + c] = window.data() + c * window_width + k * g.dilation;
                    }
                }
                window_b = b;
                window_n0 = n0;
            }
            const IndirectB<T> operand{row_pointers.data()};
            const int64_t m0 = row_index * row_block;
            const int64_t rows_here = std::min<int64_t>(row_block, g.rows - m0);
            const int64_t strips = (rows_here + kTileRows - 1) / kTileRows;
            for (int64_t strip = 0; strip < strips; ++strip) {
                const PackedA<T> a{g.packed_a + (m0 / kTileRows + strip) * depth * kTileRows};
                for (int64_t panel = 0; panel < panels; ++panel) {
                    gemm_tile<T, kTileRows>(depth, a, 0, operand, panel * P,
                                            block.data() + strip * kTileRows * NB + panel * P, NB, P, false);
                }
            }
            epilogue(b, m0, rows_here, n0, width_here, block.data(), NB);
        }
    }
}

// V(b, c, v) of the forward's padded input (initial state, then x) for v < S + lengths[b]: no limit applies there.
template <typename T>
ConvSource<T> padded_input(const DilatedConvParams<T>& p) {
    return {p.initial_state, p.state_length(), p.x, p.length, nullptr, p.in_channels};
}

template <typename T>
void dilated_conv_forward(const DilatedConvParams<T>& p) {
    const int64_t S = p.state_length(), L = p.length, K = p.width, Cin = p.in_channels, Cout = p.out_channels;
    const std::vector<T> packed = pack_conv_a<T>(Cout, Cin, K, [&](int64_t o, int64_t i, int64_t k) {
        return p.weight[(o * Cin + i) * K + k];
    });
    ConvProblem<T> g{p.batch, Cout, K, p.dilation, 0, L, packed.data(), padded_input(p)};
    conv_columns<T>(g, [&](int64_t b, int64_t m0, int64_t rows, int64_t n0, int64_t columns, const T* block,
                           int64_t ldc) {
        const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t o = m0 + r;
            const T bias = p.bias != nullptr ? p.bias[o] : T(0);
            T* y_row = p.y + (b * Cout + o) * L;
            const T* values = block + r * ldc;
            for (int64_t j = 0; j < columns; ++j) y_row[n0 + j] = n0 + j < valid ? values[j] + bias : T(0);
        }
    });
    // Only now, after every read of the initial state for y: the final state may be that same buffer (the step).
    // final[j] = V(len + j) reads position len + j >= j + 1 of the old state, so ascending j never reads a value it
    // has overwritten.
    if (p.final_state != nullptr && S > 0) {
        const ConvSource<T> source = padded_input(p);
#pragma omp parallel for schedule(static) if (p.batch * Cin * S >= kMinParallelGemmWork) \
    num_threads(hs::cpu::kernel_threads())
        for (int64_t row = 0; row < p.batch * Cin; ++row) {
            const int64_t b = row / Cin;
            const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
            T* out = p.final_state + row * S;
            for (int64_t j = 0; j < S; ++j) {
                const int64_t v = valid + j;
                out[j] = v < S ? (p.initial_state != nullptr ? p.initial_state[row * S + v] : T(0))
                               : source.body[row * L + (v - S)];
            }
        }
    }
}

// dx and d_initial_state: column p of the flipped, transposed convolution over (S zeros, dy masked at lengths) is
// the gradient of padded position p, plus d_final_state where p is in [len, len + S).
template <typename T>
void input_gradients(const DilatedConvBackwardParams<T>& q) {
    const DilatedConvParams<T>& p = q.fwd;
    const int64_t S = p.state_length(), L = p.length, K = p.width, Cin = p.in_channels, Cout = p.out_channels;
    const std::vector<T> packed = pack_conv_a<T>(Cin, Cout, K, [&](int64_t i, int64_t o, int64_t k) {
        return p.weight[(o * Cin + i) * K + (K - 1 - k)];
    });
    const ConvSource<T> source{nullptr, S, q.dy, L, p.lengths, Cout};
    const int64_t first = q.d_initial_state != nullptr ? 0 : S;
    const int64_t last = q.dx != nullptr ? S + L : S;
    ConvProblem<T> g{p.batch, Cin, K, p.dilation, first, last, packed.data(), source};
    conv_columns<T>(g, [&](int64_t b, int64_t m0, int64_t rows, int64_t n0, int64_t columns, const T* block,
                           int64_t ldc) {
        const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t i = m0 + r;
            const int64_t row = b * Cin + i;
            const T* values = block + r * ldc;
            const T* d_final = q.d_final_state != nullptr ? q.d_final_state + row * S : nullptr;
            for (int64_t j = 0; j < columns; ++j) {
                const int64_t position = n0 + j;
                T value = values[j];
                if (d_final != nullptr && position >= valid && position < valid + S) value += d_final[position - valid];
                if (position < S) {
                    q.d_initial_state[row * S + position] = value;
                } else {
                    const int64_t t = position - S;
                    q.dx[row * L + t] = t < valid ? value : T(0);
                }
            }
        }
    });
}

// dweight[o][i][k] = sum_b sum_{t < len_b} dy[b][o][t] * V(b, i, t + k*dilation): a GEMM with rows o, columns
// (k, i) and depth (b, t). The padded input is transposed once into rows of C_in_pad = round_up(C_in, kPanel)
// values per position (zeros past C_in), so that for a fixed tap k the B operand of a column panel is a plain
// strided view (row t at position t + k*dilation, no packing), and dy is read in place as the A operand (rows o,
// depth t). Each thread owns whole column panels and runs them through every batch and depth block in the same
// order, accumulating into its own columns of C: results do not depend on the thread count.
template <typename T>
void weight_gradient(const DilatedConvBackwardParams<T>& q) {
    constexpr int64_t P = kPanel<T>;
    const DilatedConvParams<T>& p = q.fwd;
    const int64_t S = p.state_length(), L = p.length, K = p.width, Cin = p.in_channels, Cout = p.out_channels;
    const int64_t span = S + L;
    const int64_t padded_channels = round_up(Cin, P);
    const int64_t panels_per_tap = padded_channels / P;
    const int64_t panels = K * panels_per_tap;
    const int64_t ldc = K * padded_channels;
    const bool parallel = p.batch * L * Cout * Cin * K >= kMinParallelGemmWork;

    std::vector<T> inputs_t(static_cast<size_t>(p.batch * span * padded_channels), T(0));
    const ConvSource<T> source = padded_input(p);
    constexpr int64_t kTile = 64;  // transposes in 64 x 64 tiles, so that both sides stream
#pragma omp parallel if (parallel) num_threads(hs::cpu::kernel_threads())
    {
        std::vector<T> row(static_cast<size_t>(kTile));
#pragma omp for schedule(static)
        for (int64_t b = 0; b < p.batch; ++b) {
            // Positions from S + lengths[b] on are never read (t < lengths[b] below): left as zeros.
            const int64_t used = S + (p.lengths != nullptr ? p.lengths[b] : L);
            T* batch_rows = inputs_t.data() + b * span * padded_channels;
            for (int64_t c0 = 0; c0 < Cin; c0 += kTile) {
                for (int64_t v0 = 0; v0 < used; v0 += kTile) {
                    const int64_t vs = std::min<int64_t>(kTile, used - v0);
                    for (int64_t c = c0; c < std::min<int64_t>(Cin, c0 + kTile); ++c) {
                        source.copy_row(b, c, v0, vs, row.data());
                        for (int64_t v = 0; v < vs; ++v) batch_rows[(v0 + v) * padded_channels + c] = row[v];
                    }
                }
            }
        }
    }

    std::vector<T> gradient(static_cast<size_t>(Cout * ldc), T(0));
    // A fixed range of column panels per thread, every thread walking the batches and depth blocks in order: dy's
    // block is read once per thread and block (not once per panel), and no barrier is needed between blocks.
#pragma omp parallel if (parallel) num_threads(hs::cpu::kernel_threads())
    {
        const ItemRange range = thread_range(panels, omp_get_thread_num(), omp_get_num_threads());
        for (int64_t b = 0; b < p.batch && range.begin < range.end; ++b) {
            const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
            const T* dy_batch = q.dy + b * Cout * L;
            const T* rows_batch = inputs_t.data() + b * span * padded_channels;
            for (int64_t t0 = 0; t0 < valid; t0 += kBlockDepth) {
                const int64_t depth = std::min<int64_t>(kBlockDepth, valid - t0);
                for (int64_t m0 = 0; m0 < Cout; m0 += kTileRows) {
                    // A(m, t) = dy[b][m0 + m][t0 + t]: row stride L, depth contiguous; stays in L1 over the panels.
                    const StridedA<T> a{dy_batch + m0 * L + t0, 1, L};
                    const int64_t rows = std::min<int64_t>(kTileRows, Cout - m0);
                    for (int64_t panel = range.begin; panel < range.end; ++panel) {
                        const int64_t k = panel / panels_per_tap, i0 = (panel % panels_per_tap) * P;
                        const StridedB<T> operand{rows_batch + (t0 + k * p.dilation) * padded_channels + i0,
                                                  padded_channels};
                        gemm_rows<T>(rows, depth, a, 0, operand, 0, gradient.data() + m0 * ldc + panel * P, ldc, P,
                                     true);
                    }
                }
            }
        }
    }
    for (int64_t o = 0; o < Cout; ++o) {
        for (int64_t i = 0; i < Cin; ++i) {
            for (int64_t k = 0; k < K; ++k) q.dweight[(o * Cin + i) * K + k] = gradient[o * ldc + k * padded_channels + i];
        }
    }
}

template <typename T>
void bias_gradient(const DilatedConvBackwardParams<T>& q) {
    const DilatedConvParams<T>& p = q.fwd;
    const int64_t L = p.length, Cout = p.out_channels;
#pragma omp parallel for schedule(static) if (p.batch * L * Cout >= kMinParallelGemmWork) \
    num_threads(hs::cpu::kernel_threads())
    for (int64_t o = 0; o < Cout; ++o) {
        T total = T(0);
        for (int64_t b = 0; b < p.batch; ++b) {
            const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
            const T* row = q.dy + (b * Cout + o) * L;
            T partial = T(0);
            for (int64_t t = 0; t < valid; ++t) partial += row[t];
            total += partial;
        }
        q.dbias[o] = total;
    }
}

template <typename T>
void dilated_conv_backward(const DilatedConvBackwardParams<T>& q) {
    if (q.dx != nullptr || q.d_initial_state != nullptr) input_gradients(q);
    if (q.dweight != nullptr) weight_gradient(q);
    if (q.dbias != nullptr) bias_gradient(q);
}
