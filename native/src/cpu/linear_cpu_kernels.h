// The CPU dense projection (ops/linear.h) as templates over the element type: one blocked GEMM driver around the
// shared micro-kernel (gemm_micro_kernel.h), used for y = x W^T + b, dx = dy W and dw = dy^T x, plus the column
// sums of db. linear_cpu.cpp includes this file once per instruction set (after gemm_micro_kernel.h), like
// rnn_cpu_kernels.h, so it has no include guard and no #include of its own.
//
// Blocking (GotoBLAS-style): B is packed once per call into column panels of kPanel<T> (zero past the last column),
// cut into depth blocks of kBlockDepth (packed_b_offset), so that a panel's slice streams from L1 while the strips
// reuse it. The output is cut into items of kBlockRows rows x a block of columns, taken by the threads in groups;
// per depth block and per item, the A rows are packed into strips of kTileRows (PackedA) and every (strip, panel)
// tile runs the micro-kernel, accumulating over depth blocks in order. Deep products with few output items (dw) cut
// their depth into a size-determined number of slices with partial sums added in order at the end. Every output
// element is computed with the same code and summation order whatever the thread count.

// A(m, d) = base[m * row_stride + d * depth_stride]: covers x and dy read by rows and dy read by columns (dw).
template <typename T>
struct MatrixView {
    const T* base;
    int64_t row_stride, depth_stride;
    HS_CPU_INLINE T at(int64_t m, int64_t d) const { return base[m * row_stride + d * depth_stride]; }
};

template <typename T>
struct GemmProblem {
    int64_t rows, columns, depth;
    MatrixView<T> a;   // A(m, d), rows x depth
    MatrixView<T> b;   // B(d, n) = b.at(d, n), depth x columns (row index = depth)
    const T* bias;     // (columns) added to every row, or null
    T* c;              // rows x columns, row-major with leading dimension ldc
    int64_t ldc;
};

constexpr int64_t kBlockRows = 16 * kTileRows;  // 96: one item's A block (96 x 256 floats = 96 KB) stays in L2
constexpr int64_t kBlockDepth = 256;            // a panel slice (256 x kPanel) is 16 KB of floats: L1
constexpr int64_t kBlockColumns = 256;          // one item's C block (96 x 256) stays in L2
// C blocks of one group of items (see gemm): half of a 1 MB L2, the rest for B's depth block and A's strips.
constexpr int64_t kGroupBytes = 512 * 1024;
// Depth slicing of deep, narrow products (see gemm): at most kMaxSlices slices of at least kMinBlocksPerSlice blocks.
constexpr int64_t kMaxSlices = 8;
constexpr int64_t kMinBlocksPerSlice = 4;
constexpr int64_t kFewItems = 64;  // output items below which a product counts as narrow
// Below this many multiply-adds a call runs on the calling thread (starting the pool would cost more).
constexpr int64_t kMinParallelGemmWork = int64_t(1) << 18;

// Where B(d, panel * P + j) lives in the packed B: depth blocks of kBlockDepth outermost, then panels, each slice
// (kBlockDepth, P) k-major, so that the slices one depth block needs are one contiguous stream.
template <typename T>
HS_CPU_INLINE int64_t packed_b_offset(int64_t panels, int64_t panel, int64_t d) {
    return ((d / kBlockDepth) * panels + panel) * kBlockDepth * kPanel<T> + (d % kBlockDepth) * kPanel<T>;
}

// Packs B into panels of P columns (zero past the last column) in the packed_b_offset layout.
template <typename T>
void pack_b_panels(const GemmProblem<T>& g, int64_t panels, T* packed, bool parallel) {
    constexpr int64_t P = kPanel<T>;
    const int64_t depth_blocks = (g.depth + kBlockDepth - 1) / kBlockDepth;
#pragma omp parallel for schedule(static) if (parallel) num_threads(hs::cpu::kernel_threads())
    for (int64_t block = 0; block < depth_blocks; ++block) {
        const int64_t d_end = std::min<int64_t>(g.depth, (block + 1) * kBlockDepth);
        for (int64_t panel = 0; panel < panels; ++panel) {
            const int64_t n0 = panel * P;
            const int64_t width = std::min<int64_t>(P, g.columns - n0);
            for (int64_t d = block * kBlockDepth; d < d_end; ++d) {
                T* out = packed + packed_b_offset<T>(panels, panel, d);
                for (int64_t j = 0; j < width; ++j) out[j] = g.b.at(d, n0 + j);
                for (int64_t j = width; j < P; ++j) out[j] = T(0);
            }
        }
    }
}

// Packs rows [m0, m0 + rows) x depth [d0, d0 + depth) of A into strips of kTileRows, each (depth, kTileRows)
// k-major with zero rows past the end: the PackedA layout. Reads follow A's contiguous direction: along each row
// when A is row-major (x, dy for dx), across rows when A is read by columns (dy^T for dw).
template <typename T>
void pack_a_strips(const MatrixView<T>& a, int64_t m0, int64_t rows, int64_t d0, int64_t depth, T* packed) {
    const int64_t strips = (rows + kTileRows - 1) / kTileRows;
    for (int64_t strip = 0; strip < strips; ++strip) {
        T* out = packed + strip * depth * kTileRows;
        const int64_t first = m0 + strip * kTileRows;
        const int count = static_cast<int>(std::min<int64_t>(kTileRows, m0 + rows - first));
        if (count < kTileRows) std::fill(out, out + depth * kTileRows, T(0));
        if (a.depth_stride == 1) {
            for (int r = 0; r < count; ++r) {
                const T* source = a.base + (first + r) * a.row_stride + d0;
                for (int64_t d = 0; d < depth; ++d) out[d * kTileRows + r] = source[d];
            }
        } else {
            for (int64_t d = 0; d < depth; ++d) {
                const T* source = a.base + (d0 + d) * a.depth_stride + first * a.row_stride;
                for (int r = 0; r < count; ++r) out[d * kTileRows + r] = source[r * a.row_stride];
            }
        }
    }
}

// The output blocks of a GEMM: items of kBlockRows rows x `columns` columns, row block major.
struct GemmItems {
    int64_t columns, column_blocks, count;
};

// A thread's packed A strips and which rows and depth block they hold (consecutive items of one row block reuse them).
template <typename T>
struct PackedRows {
    std::vector<T> strips = std::vector<T>(static_cast<size_t>(kBlockRows * kBlockDepth));
    int64_t m0 = -1, d0 = -1;
};

// One item's contribution of depth block [d0, d0 + depth) to c (leading dimension ldc): C (= or +=, `accumulate`)
// A B, then the bias when `add_bias`.
template <typename T>
void gemm_item(const GemmProblem<T>& g, const GemmItems& items, int64_t item, int64_t d0, int64_t depth,
               bool accumulate, bool add_bias, T* c_base, int64_t ldc, const T* packed_b, int64_t panels,
               PackedRows<T>& packed) {
    constexpr int64_t P = kPanel<T>;
    const int64_t m0 = (item / items.column_blocks) * kBlockRows;
    const int64_t n_begin = (item % items.column_blocks) * items.columns;
    const int64_t rows = std::min<int64_t>(kBlockRows, g.rows - m0);
    const int64_t n_end = std::min<int64_t>(g.columns, n_begin + items.columns);
    const int64_t strips = (rows + kTileRows - 1) / kTileRows;
    if (packed.m0 != m0 || packed.d0 != d0) {
        pack_a_strips(g.a, m0, rows, d0, depth, packed.strips.data());
        packed.m0 = m0;
        packed.d0 = d0;
    }
    const T* packed_a = packed.strips.data();
    for (int64_t n0 = n_begin; n0 < n_end; n0 += P) {
        const StridedB<T> b{packed_b + packed_b_offset<T>(panels, n0 / P, d0), P};
        const int64_t width = std::min<int64_t>(P, g.columns - n0);
        for (int64_t strip = 0; strip < strips; ++strip) {
            const PackedA<T> a{packed_a + strip * depth * kTileRows};
            T* c = c_base + (m0 + strip * kTileRows) * ldc + n0;
            gemm_rows<T>(std::min<int64_t>(kTileRows, rows - strip * kTileRows), depth, a, 0, b, 0, c, ldc, width,
                         accumulate);
        }
    }
    if (add_bias && g.bias != nullptr) {
        for (int64_t m = m0; m < m0 + rows; ++m) {
            T* c_row = c_base + m * ldc;
            for (int64_t n = n_begin; n < n_end; ++n) c_row[n] += g.bias[n];
        }
    }
}

// C = A B (+ bias). depth == 0 gives C = bias (or 0).
template <typename T>
void gemm(const GemmProblem<T>& g) {
    constexpr int64_t P = kPanel<T>;
    if (g.rows == 0 || g.columns == 0) return;
    if (g.depth == 0) {
        for (int64_t m = 0; m < g.rows; ++m) {
            for (int64_t n = 0; n < g.columns; ++n) g.c[m * g.ldc + n] = g.bias != nullptr ? g.bias[n] : T(0);
        }
        return;
    }
    const bool parallel = g.rows * g.columns * g.depth >= kMinParallelGemmWork;
    const int64_t panels = (g.columns + P - 1) / P;
    const int64_t depth_blocks = (g.depth + kBlockDepth - 1) / kBlockDepth;
    std::vector<T> packed_b(static_cast<size_t>(depth_blocks * panels * kBlockDepth * P));
    pack_b_panels(g, panels, packed_b.data(), parallel);

    GemmItems items{};
    const int64_t row_blocks = (g.rows + kBlockRows - 1) / kBlockRows;
    // Narrower column blocks when the rows alone give too few items to keep every thread busy (dw: N x K outputs).
    items.columns = row_blocks >= 16 ? kBlockColumns : kBlockColumns / 4;
    items.column_blocks = (g.columns + items.columns - 1) / items.columns;
    items.count = row_blocks * items.column_blocks;
    // Deep, narrow products (dw = dy^T x: a 1024 x 256 output summed over 16384 rows) have too few output items to
    // keep every thread busy over the whole depth, so their depth is cut into `splits` slices of whole depth blocks,
    // each summed into its own partial C, and the partials are added in slice order afterwards. The number of slices
    // depends on the sizes only, never on the thread count, so the results do not either.
    const int64_t splits =
        items.count < kFewItems ? std::clamp<int64_t>(depth_blocks / kMinBlocksPerSlice, 1, kMaxSlices) : 1;
    std::vector<T> partials(static_cast<size_t>(splits > 1 ? splits * g.rows * g.columns : 0));

    // Work units: (slice, group of consecutive items), taken by the threads one at a time. Within a group the depth
    // blocks are the outer loop, so that one depth block of B serves every item of the group while it is in cache
    // and A's depth slice is read once per group. A group's C blocks fit in L2 together (kGroupBytes), and there
    // are at least 4 units per thread for balance. Which thread computes a unit does not change any result: every
    // element is summed in the same order by the same code.
    const int64_t fitting = kGroupBytes / (kBlockRows * items.columns * int64_t(sizeof(T)));
    const int threads = hs::cpu::kernel_threads();
    const int64_t balanced = splits * items.count / (4 * int64_t(threads));
    const int64_t group = std::max<int64_t>(1, std::min(fitting, balanced));
    const int64_t groups = (items.count + group - 1) / group;
#pragma omp parallel if (parallel) num_threads(threads)
    {
        PackedRows<T> packed_a;
#pragma omp for schedule(dynamic)
        for (int64_t unit = 0; unit < splits * groups; ++unit) {
            const int64_t slice = unit / groups, index = unit % groups;
            const int64_t first = index * group, last = std::min<int64_t>(items.count, first + group);
            const int64_t block_begin = depth_blocks * slice / splits, block_end = depth_blocks * (slice + 1) / splits;
            T* c = splits > 1 ? partials.data() + slice * g.rows * g.columns : g.c;
            const int64_t ldc = splits > 1 ? g.columns : g.ldc;
            for (int64_t block = block_begin; block < block_end; ++block) {
                const int64_t d0 = block * kBlockDepth;
                const int64_t depth = std::min<int64_t>(kBlockDepth, g.depth - d0);
                for (int64_t item = first; item < last; ++item) {
                    gemm_item(g, items, item, d0, depth, block > block_begin, splits == 1 && block + 1 == block_end,
                              c, ldc, packed_b.data(), panels, packed_a);
                }
            }
        }
        if (splits > 1) {
#pragma omp for schedule(static)
            for (int64_t m = 0; m < g.rows; ++m) {
                T* c_row = g.c + m * g.ldc;
                const T* first_row = partials.data() + m * g.columns;
                for (int64_t n = 0; n < g.columns; ++n) c_row[n] = first_row[n];
                for (int64_t slice = 1; slice < splits; ++slice) {
                    const T* row = partials.data() + (slice * g.rows + m) * g.columns;
                    for (int64_t n = 0; n < g.columns; ++n) c_row[n] += row[n];
                }
                if (g.bias != nullptr) {
                    for (int64_t n = 0; n < g.columns; ++n) c_row[n] += g.bias[n];
                }
            }
        }
    }
}

// db[n] = sum over rows of dy[m][n], in a fixed order: partial sums of kSumBlock rows, then the partials in order.
template <typename T>
void column_sums(const T* dy, int64_t rows, int64_t columns, T* db) {
    constexpr int64_t kSumBlock = 128;  // bounds the rounding error growth of long float sums
    constexpr int64_t kColumnChunk = 256;
    const int64_t chunks = (columns + kColumnChunk - 1) / kColumnChunk;
#pragma omp parallel for schedule(static) if (rows * columns >= kMinParallelGemmWork) \
    num_threads(hs::cpu::kernel_threads())
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t n0 = chunk * kColumnChunk, width = std::min<int64_t>(kColumnChunk, columns - n0);
        T total[kColumnChunk], partial[kColumnChunk];
        for (int64_t j = 0; j < width; ++j) total[j] = T(0);
        for (int64_t m0 = 0; m0 < rows; m0 += kSumBlock) {
            for (int64_t j = 0; j < width; ++j) partial[j] = T(0);
            const int64_t m_end = std::min<int64_t>(rows, m0 + kSumBlock);
            for (int64_t m = m0; m < m_end; ++m) {
                const T* row = dy + m * columns + n0;
                for (int64_t j = 0; j < width; ++j) partial[j] += row[j];
            }
            for (int64_t j = 0; j < width; ++j) total[j] += partial[j];
        }
        for (int64_t j = 0; j < width; ++j) db[n0 + j] = total[j];
    }
}

template <typename T>
void linear_forward(const LinearParams<T>& p) {
    const int64_t M = p.rows, K = p.in_features, N = p.out_features;
    // y (M x N) = x (M x K) . W^T: B(d, n) = W[n][d].
    gemm<T>({M, N, K, {p.x, K, 1}, {p.w, 1, K}, p.b, p.y, N});
}

template <typename T>
void linear_backward(const LinearBackwardParams<T>& p) {
    const int64_t M = p.rows, K = p.in_features, N = p.out_features;
    // dx (M x K) = dy (M x N) . W (N x K).
    if (p.dx != nullptr) gemm<T>({M, K, N, {p.dy, N, 1}, {p.w, K, 1}, nullptr, p.dx, K});
    // dw (N x K) = dy^T (N x M) . x (M x K): A(n, m) = dy[m][n].
    if (p.dw != nullptr) gemm<T>({N, K, M, {p.dy, 1, N}, {p.x, K, 1}, nullptr, p.dw, K});
    if (p.db != nullptr) column_sums(p.dy, M, N, p.db);
}
