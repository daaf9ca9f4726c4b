// The GEMM micro-kernel shared by the CPU kernels, as templates over the element type: C (=|+=) A B for a tile of MR
// rows and kPanel<T> = 2 vectors of columns, k innermost, MR x 2 vector accumulators in registers. Like the kernel
// files that use it (rnn_cpu_kernels.h, linear_cpu_kernels.h), it is included once per instruction set inside a
// namespace under `#pragma GCC target(...)`, so it has no include guard and no #include of its own (cpu_vector.h,
// <cstdint> and cpu_math.h, whose splat / load / store it uses, come first).

// ---------------------------------------------------------------------------------------------------------------
// GEMM micro-kernel: C[m][n] (=|+=) sum_k A(m, k) * B(k, n) for a tile of MR rows and kPanel<T> = 2 vectors of
// columns, k innermost with MR x 2 vector accumulators in registers.
// ---------------------------------------------------------------------------------------------------------------

// A(m, k) = base[k * k_stride + m * m_stride].
template <typename T>
struct StridedA {
    const T* base;
    int64_t k_stride;
    int64_t m_stride;
    HS_CPU_INLINE const T* column(int64_t k) const { return base + k * k_stride; }
};

// A(m, k) = base[k * kTileRows + m]: a block of A packed k-major in kTileRows-wide strips (pack_strips), so that a
// tile streams its A values contiguously.
template <typename T>
struct PackedA {
    const T* base;
    static constexpr int64_t m_stride = 1;
    HS_CPU_INLINE const T* column(int64_t k) const { return base + k * kTileRows; }
};

// B(k, n) = base[k * row_stride + n].
template <typename T>
struct StridedB {
    const T* base;
    int64_t row_stride;
    HS_CPU_INLINE const T* row(int64_t k) const { return base + k * row_stride; }
};

// One tile: rows m0 .. m0+MR-1 of A, columns n0 .. n0+kPanel-1 of B (B rows must be readable that far), written to
// c[m * ldc + n] for n < columns.
template <typename T, int MR, typename AOperand, typename BOperand>
HS_CPU_INLINE void gemm_tile(int64_t depth, const AOperand& a, int64_t m0, const BOperand& b, int64_t n0, T* c,
                             int64_t ldc, int64_t columns, bool accumulate) {
    constexpr int W = kLanes<T>;
    Vec<T> acc0[MR], acc1[MR];
    for (int m = 0; m < MR; ++m) acc0[m] = acc1[m] = Vec<T>{};
    const int64_t m_stride = a.m_stride;
    for (int64_t k = 0; k < depth; ++k) {
        const T* b_row = b.row(k) + n0;
        const Vec<T> b0 = load<T>(b_row, W);
        const Vec<T> b1 = load<T>(b_row + W, W);
        const T* a_column = a.column(k) + m0 * m_stride;
        for (int m = 0; m < MR; ++m) {
            const Vec<T> a_value = splat<T>(a_column[m * m_stride]);
            acc0[m] += a_value * b0;
            acc1[m] += a_value * b1;
        }
    }
    for (int m = 0; m < MR; ++m) {
        T* c_row = c + m * ldc;
        if (columns == 2 * W) {
            if (accumulate) {
                acc0[m] += load<T>(c_row, W);
                acc1[m] += load<T>(c_row + W, W);
            }
            store<T>(c_row, acc0[m], W);
            store<T>(c_row + W, acc1[m], W);
        } else {
            T values[2 * W];
            store<T>(values, acc0[m], W);
            store<T>(values + W, acc1[m], W);
            for (int64_t n = 0; n < columns; ++n) c_row[n] = accumulate ? c_row[n] + values[n] : values[n];
        }
    }
}

// Rows m0 .. m0+rows-1 (rows <= kTileRows) of one column panel.
template <typename T, typename AOperand, typename BOperand>
HS_CPU_INLINE void gemm_rows(int64_t rows, int64_t depth, const AOperand& a, int64_t m0, const BOperand& b,
                             int64_t n0, T* c, int64_t ldc, int64_t columns, bool accumulate) {
    static_assert(kTileRows == 6, "the switch below covers 1..6 rows");
    switch (rows) {
        case 6: gemm_tile<T, 6>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        case 5: gemm_tile<T, 5>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        case 4: gemm_tile<T, 4>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        case 3: gemm_tile<T, 3>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        case 2: gemm_tile<T, 2>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        case 1: gemm_tile<T, 1>(depth, a, m0, b, n0, c, ldc, columns, accumulate); break;
        default: break;
    }
}

