// The CPU dense dilated causal convolution (ops/dilated_conv.h) as templates over the element type.
// dilated_conv_cpu.cpp includes this file once per instruction set, after gemm_micro_kernel.h and
// linear_cpu_kernels.h (for its blocking constants), so it has no include guard and no #include of its own.
//
// Forward and input gradient are one "implicit GEMM" over a padded sequence V (see ConvSource):
//     out(b, m, n) = sum_{k < K, c < Cs} A(m, c, k) * V(b, c, n + k*dilation)
// forward: A = weight (m = o, c = i), V = initial state then x;  dx: A = weight transposed and flipped in k
// (m = i, c = o, k' = K-1-k), V = S zeros then dy, so that column p of the output is position p of the padded input
// (p < S: the initial state, p >= S: x). It is blocked like linear_cpu_kernels.h's GEMM, on the same micro-kernel
// (gemm_tile) with the same operand layouts, so that it runs at that GEMM's rate: A is packed once per call into
// kTileRows-row strips of depth d = k*Cs + c; per item (batch b, a block of columns, a block of rows) and per depth
// block of kBlockDepth, the B operand B(d, n) = V(b, c, n + k*dilation) is packed into contiguous column panels (the
// im2col of one depth block only: NB columns x kBlockDepth, in L2), each panel's slice then staying in L1 while the
// A strips of a row sub-block stream past it from L2. The item's C block accumulates over the depth blocks in order.
// The weight gradient is a GEMM of dy against the padded input with depth (b, t) on the same micro-kernel.

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

    // V(b, c, first .. first + count): in place when that is one run of the body (the common case, away from the
    // sequence's ends), else copied into scratch (count values) with zeros outside V.
    const T* row_run(int64_t b, int64_t c, int64_t first, int64_t count, T* scratch) const {
        if (first >= head_length && first + count <= head_length + limit(b)) {
            return body + (b * channels + c) * body_length + (first - head_length);
        }
        copy_row(b, c, first, count, scratch);
        return scratch;
    }

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

// Columns per item: 8 panels (128 floats / 64 doubles): the item's packed B depth block (NB x kBlockDepth, 128 KB
// of floats) and its C block stay in L2 next to one row sub-block of A.
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

// Packs B(d, n0 + n) = V(b, c, n0 + n + k*dilation) (d = k*Cs + c) for d in [d0, d0 + depth) and n < panels * P into
// `packed`, panel-major: panel j's slice is (depth, P) at packed + j * depth * P. One contiguous run of V per depth
// index (read in order), scattered into the panels; scratch holds panels * P values.
template <typename T>
void pack_conv_b(const ConvProblem<T>& g, int64_t b, int64_t n0, int64_t panels, int64_t d0, int64_t depth,
                 T* scratch, T* packed) {
    constexpr int64_t P = kPanel<T>;
    const int64_t channels = g.source.channels;
    int64_t k = d0 / channels, c = d0 % channels;
    for (int64_t dd = 0; dd < depth; ++dd) {
        const T* values = g.source.row_run(b, c, n0 + k * g.dilation, panels * P, scratch);
        for (int64_t panel = 0; panel < panels; ++panel) {
            const T* from = values + panel * P;
            T* to = packed + (panel * depth + dd) * P;
            for (int64_t j = 0; j < P; ++j) to[j] = from[j];
        }
        if (++c == channels) {
            c = 0;
            ++k;
        }
    }
}

// Runs the implicit GEMM of `g` and hands every finished block to epilogue(b, m0, rows, n0, columns, block, ldc),
// where block[(m - m0) * ldc + (n - n0)] = out(b, m, n). Every output element is the same sequence of gemm_tile
// sums (one per depth block, in order), whatever the thread count or the row blocking.
template <typename T, typename Epilogue>
void conv_columns(const ConvProblem<T>& g, Epilogue epilogue) {
    constexpr int64_t P = kPanel<T>;
    constexpr int64_t NB = kConvBlockColumns<T>;
    const int64_t columns = g.column_end - g.column_begin;
    if (g.batch == 0 || g.rows == 0 || columns <= 0) return;
    const int64_t channels = g.source.channels;
    const int64_t depth = g.width * channels;
    const int64_t column_blocks = (columns + NB - 1) / NB;
    const int threads = hs::cpu::kernel_threads();
    const bool parallel = g.batch * columns * g.rows * std::max<int64_t>(depth, 1) >= kMinParallelGemmWork;
    // Row blocks only when the batch and column blocks leave some thread without enough work.
    const int64_t row_block =
        (parallel && g.batch * column_blocks < 4 * int64_t(threads)) ? kConvBlockRows : round_up(g.rows, kTileRows);
    const int64_t row_blocks = (g.rows + row_block - 1) / row_block;
    const int64_t items = g.batch * column_blocks * row_blocks;
    const int64_t block_depth = std::min<int64_t>(kBlockDepth, std::max<int64_t>(depth, 1));
#pragma omp parallel if (parallel) num_threads(threads)
    {
        std::vector<T> run(static_cast<size_t>(NB));
        std::vector<T> packed_b(static_cast<size_t>(NB * block_depth));
        std::vector<T> block(static_cast<size_t>(row_block * NB));
#pragma omp for schedule(dynamic)
        for (int64_t item = 0; item < items; ++item) {
            const int64_t row_index = item % row_blocks;
            const int64_t column_index = (item / row_blocks) % column_blocks;
            const int64_t b = item / (row_blocks * column_blocks);
            const int64_t n0 = g.column_begin + column_index * NB;
            const int64_t width_here = std::min<int64_t>(NB, g.column_end - n0);
            const int64_t panels = (width_here + P - 1) / P;
            const int64_t m0 = row_index * row_block;
            const int64_t rows_here = std::min<int64_t>(row_block, g.rows - m0);
            const int64_t strips = (rows_here + kTileRows - 1) / kTileRows;
            if (depth == 0) std::fill(block.begin(), block.end(), T(0));
            for (int64_t d0 = 0; d0 < depth; d0 += kBlockDepth) {
                const int64_t depth_here = std::min<int64_t>(kBlockDepth, depth - d0);
                pack_conv_b(g, b, n0, panels, d0, depth_here, run.data(), packed_b.data());
                // Row sub-blocks of kBlockRows: their A depth slice (96 x kBlockDepth) stays in L2 over the panels.
                for (int64_t s0 = 0; s0 < strips; s0 += kBlockRows / kTileRows) {
                    const int64_t s1 = std::min<int64_t>(strips, s0 + kBlockRows / kTileRows);
                    for (int64_t panel = 0; panel < panels; ++panel) {
                        const StridedB<T> operand{packed_b.data() + panel * depth_here * P, P};
                        for (int64_t strip = s0; strip < s1; ++strip) {
                            const PackedA<T> a{g.packed_a + (m0 / kTileRows + strip) * depth * kTileRows +
                                               d0 * kTileRows};
                            gemm_tile<T, kTileRows>(depth_here, a, 0, operand, 0,
                                                    block.data() + strip * kTileRows * NB + panel * P, NB, P, d0 > 0);
                        }
                    }
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

// The plain sum of `count` values in order: one block of dbias (see bias_gradient).
template <typename T>
HS_CPU_INLINE T sum_run(const T* values, int64_t count) {
    T total = T(0);
    for (int64_t t = 0; t < count; ++t) total += values[t];
    return total;
}

// dweight[o][i][k] = sum_b sum_{t < len_b} dy[b][o][t] * V(b, i, t + k*dilation): a GEMM with rows o, columns
// (k, i) and depth (b, t), blocked like linear_cpu_kernels.h's GEMM. Per depth block (batch b, kBlockDepth
// positions) dy's rows are packed into kTileRows strips (PackedA) and the padded input of each 16-channel (kPanel)
// group is transposed into one contiguous slice of kBlockDepth + (K-1)*dilation positions x kPanel: the B operand
// of tap k is that slice shifted by k*dilation rows, so one packing serves every tap and stays in L1 while the A
// strips stream past it. Each thread owns whole channel groups (all their taps) and walks every batch and depth block
// in the same order, accumulating into its own columns of C: results do not depend on the thread count. With
// `dbias`, the owner of channel group 0 also sums dy while packing it (bias_gradient's order).
template <typename T>
void weight_gradient(const DilatedConvBackwardParams<T>& q, T* dbias) {
    constexpr int64_t P = kPanel<T>;
    const DilatedConvParams<T>& p = q.fwd;
    const int64_t L = p.length, K = p.width, Cin = p.in_channels, Cout = p.out_channels;
    const int64_t reach = (K - 1) * p.dilation;
    const int64_t groups = (Cin + P - 1) / P;
    const int64_t ldc = K * groups * P;  // C(o, k * groups * P + i)
    const int64_t strips = (Cout + kTileRows - 1) / kTileRows;
    // No weight element to write (C_out = 0 or C_in = 0): only dbias is left, and K may then be any size.
    const bool no_weight = Cout == 0 || Cin == 0;
    // One contiguous slice serves every tap while the taps' windows overlap (dilation <= kBlockDepth); past that
    // the slice would be mostly positions no tap reads (a dilation far beyond L: a huge scratch for nothing), so
    // each tap gets its own kBlockDepth window instead. Either way the scratch is at most K * kBlockDepth + reach
    // positions with reach < K * kBlockDepth, bounded by the weight's own size rather than by the dilation.
    const bool tap_windows = !no_weight && K > 1 && p.dilation > kBlockDepth;
    const int64_t window = tap_windows ? kBlockDepth : kBlockDepth + (no_weight ? 0 : reach);  // positions packed per run
    const int64_t slice = tap_windows ? K * kBlockDepth : window;  // positions of one group's transposed slice
    const bool parallel = p.batch * L * Cout * Cin * K >= kMinParallelGemmWork;
    const ConvSource<T> source = padded_input(p);

    std::vector<T> gradient(static_cast<size_t>(Cout * ldc), T(0));
    std::vector<T> bias_total(static_cast<size_t>(dbias != nullptr ? Cout : 0), T(0));
    // Every thread's scratch is allocated here, before the parallel region: an allocation that fails throws
    // std::bad_alloc to the shim (a status for the caller), where inside the region it would end the process.
    const int team = parallel ? hs::cpu::kernel_threads() : 1;
    struct Scratch {
        std::vector<T> packed_a, packed_b, run, batch_bias;
    };
    std::vector<Scratch> scratch(static_cast<size_t>(team));
    for (int thread = 0; thread < team; ++thread) {
        const ItemRange range = thread_range(no_weight ? 0 : groups, thread, team);
        const bool owns = range.end > range.begin;
        Scratch& own = scratch[static_cast<size_t>(thread)];
        own.packed_a.resize(static_cast<size_t>(owns ? strips * kBlockDepth * kTileRows : 0));
        own.packed_b.resize(static_cast<size_t>(owns ? (range.end - range.begin) * slice * P : 0));
        own.run.resize(static_cast<size_t>(owns ? window : 0));
        own.batch_bias.resize(static_cast<size_t>(dbias != nullptr ? Cout : 0));
    }
#pragma omp parallel if (parallel) num_threads(team)
    {
        const int thread = omp_get_thread_num(), threads = omp_get_num_threads();
        const ItemRange range = thread_range(no_weight ? 0 : groups, thread, threads);
        // Channel group 0's owner sums dbias; with no weight to compute (no groups), thread 0 does.
        const bool sums_bias = dbias != nullptr && (!no_weight ? range.begin == 0 && range.end > 0 : thread == 0);
        Scratch& own = scratch[static_cast<size_t>(thread)];
        std::vector<T>& packed_a = own.packed_a;
        std::vector<T>& packed_b = own.packed_b;
        std::vector<T>& run = own.run;
        std::vector<T>& batch_bias = own.batch_bias;
        for (int64_t b = 0; b < p.batch; ++b) {
            const int64_t valid = p.lengths != nullptr ? p.lengths[b] : L;
            const T* dy_batch = q.dy + b * Cout * L;
            if (sums_bias) std::fill(batch_bias.begin(), batch_bias.end(), T(0));
            for (int64_t t0 = 0; t0 < valid; t0 += kBlockDepth) {
                const int64_t depth = std::min<int64_t>(kBlockDepth, valid - t0);
                if (sums_bias) {
                    for (int64_t o = 0; o < Cout; ++o) batch_bias[o] += sum_run(dy_batch + o * L + t0, depth);
                }
                if (range.end == range.begin) continue;
                // A(o, t) = dy[b][o][t0 + t] in strips of kTileRows rows, each (depth, kTileRows); rows past C_out
                // are never read (gemm_rows takes the strip's row count).
                for (int64_t o = 0; o < Cout; ++o) {
                    const T* row = dy_batch + o * L + t0;
                    T* strip = packed_a.data() + (o / kTileRows) * depth * kTileRows + o % kTileRows;
                    for (int64_t t = 0; t < depth; ++t) strip[t * kTileRows] = row[t];
                }
                // B slice of group j: slice[t][c] = V(b, j * P + c, t0 + t) for t < depth + reach, zeros past C_in;
                // with tap windows, window k holds V(b, j * P + c, t0 + k * dilation + t) for t < depth.
                const int64_t runs = tap_windows ? K : 1;
                const int64_t count = tap_windows ? depth : depth + reach;
                for (int64_t group = range.begin; group < range.end; ++group) {
                    for (int64_t r = 0; r < runs; ++r) {
                        T* transposed = packed_b.data() + ((group - range.begin) * slice + r * kBlockDepth) * P;
                        const int64_t first = t0 + r * p.dilation;
                        for (int64_t c = 0; c < P; ++c) {
                            const int64_t i = group * P + c;
                            if (i < Cin) {
                                const T* values = source.row_run(b, i, first, count, run.data());
                                for (int64_t t = 0; t < count; ++t) transposed[t * P + c] = values[t];
                            } else {
                                for (int64_t t = 0; t < count; ++t) transposed[t * P + c] = T(0);
                            }
                        }
                    }
                }
                for (int64_t group = range.begin; group < range.end; ++group) {
                    const T* transposed = packed_b.data() + (group - range.begin) * slice * P;
                    for (int64_t k = 0; k < K; ++k) {
                        const StridedB<T> operand{transposed + (tap_windows ? k * kBlockDepth : k * p.dilation) * P, P};
                        T* c_panel = gradient.data() + (k * groups + group) * P;
                        for (int64_t strip = 0; strip < strips; ++strip) {
                            const PackedA<T> a{packed_a.data() + strip * depth * kTileRows};
                            gemm_rows<T>(std::min<int64_t>(kTileRows, Cout - strip * kTileRows), depth, a, 0, operand,
                                         0, c_panel + strip * kTileRows * ldc, ldc, P, true);
                        }
                    }
                }
            }
            if (sums_bias) {
                for (int64_t o = 0; o < Cout; ++o) bias_total[o] += batch_bias[o];
            }
        }
    }
    for (int64_t o = 0; o < Cout; ++o) {
        for (int64_t i = 0; i < Cin; ++i) {
            for (int64_t k = 0; k < K; ++k) q.dweight[(o * Cin + i) * K + k] = gradient[o * ldc + k * groups * P + i];
        }
    }
    if (dbias != nullptr) std::copy(bias_total.begin(), bias_total.end(), dbias);
}

// dbias[o] = sum_b sum_{t < len_b} dy[b][o][t], in weight_gradient's order (blocks of kBlockDepth, then batches).
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
            T batch_sum = T(0);
            for (int64_t t0 = 0; t0 < valid; t0 += kBlockDepth) {
                batch_sum += sum_run(row + t0, std::min<int64_t>(kBlockDepth, valid - t0));
            }
            total += batch_sum;
        }
        q.dbias[o] = total;
    }
}

template <typename T>
void dilated_conv_backward(const DilatedConvBackwardParams<T>& q) {
    if (q.dx != nullptr || q.d_initial_state != nullptr) input_gradients(q);
    // dbias rides along dweight's pass over dy when both are wanted.
    if (q.dweight != nullptr) weight_gradient(q, q.dbias);
    if (q.dbias != nullptr && q.dweight == nullptr) bias_gradient(q);
}
