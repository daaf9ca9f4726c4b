// The CPU S4 kernels (ops/s4_kernels.h) as templates over the real type T of the complex elements (float for
// complex64, double for complex128). s4_kernels_cpu.cpp includes this file once per instruction set, like
// linear_cpu_kernels.h, so it has no include guard and no #include of its own.
//
// Work split: every output element is written by one thread, which sums its terms in a fixed order (n ascending for
// the forward sums, l ascending for the backward ones), so results are bitwise independent of the thread count.
// Complex values live in the kernels' loops as separate real and imaginary arrays (structure of arrays), so that the
// inner loops run over contiguous reals and vectorise; no loop carries a reduction.
//
// Vandermonde powers: exp(x l) for l = l0 + 32 k + j (0 <= j < 32, l0 a multiple of 1024) is formed as
// anchor_k * step_j, where step_j = exp(x)^j by a running product from the exact exp(x), and anchor_k =
// exp(x l0) * exp(32 x)^k from the exact exp(x l0) and exp(32 x) (every exact value by std::exp / cos / sin in
// float64). All of it is float64, with at most
// 31 + 31 products since an exact value: each power is within about 64 ulp of float64 (1.5e-14 relative) of the
// exact exp(x l), then rounded to T. For complex64 that is the correctly rounded power up to a rounding; for
// complex128 it is a few dozen ulp, where the per-element exp of the composed version carries the rounding of its
// argument x * l instead (|x l| ulp). The cost: 2 exact complex exps per (h, n) and one more per 1024 positions,
// the rest products that vectorise, against one exp, cos and sin per (h, n, l).

constexpr int64_t kPowerBlock = 32;                     // positions per block of the power tables
constexpr int64_t kAnchorPositions = 32 * kPowerBlock;  // an exact anchor exp(x l) every 1024 positions
constexpr int64_t kPositionsPerUnit = 4 * kAnchorPositions;  // positions of one Vandermonde forward work unit
constexpr int64_t kTermsPerUnit = 64;                   // terms (n) of one Cauchy backward unit
constexpr int64_t kCauchyPointsPerUnit = 512;           // positions of one Cauchy forward unit
constexpr int64_t kMinParallelWork = 1 << 15;           // (h, n, l) triples below which one thread runs the call

struct ComplexD {
    double re, im;
};

HS_CPU_INLINE ComplexD mul(ComplexD a, ComplexD b) {
    return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

// exp(x * scale) for complex x, exactly (std::exp / cos / sin of the float64 argument x * scale).
HS_CPU_INLINE ComplexD exp_scaled(double re, double im, double scale) {
    const double magnitude = std::exp(re * scale);
    const double angle = im * scale;
    return {magnitude * std::cos(angle), magnitude * std::sin(angle)};
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- the drivers both kernels share -----------------------------------------------------------------------------
//
// Cauchy (v / (z_l - w)) and Vandermonde (v exp(x l)) differ in their terms, not in how the work is split:
//   forward   units (h, a block of `block` positions l0 .. l0 + count), each summed over n by one thread into
//             structure-of-arrays accumulators by sum_terms(h, l0, count, acc_re, acc_im), then stored: interleaved
//             complex, or 2 Re(sum) (real) for the conjugate-symmetric Vandermonde output;
//   backward  units (h, a block of `block` terms n0 .. n0 + count), each one thread's sum over every l, in l order.
// Work below kMinParallelWork (h, n, l) triples runs on one thread.

template <typename T, typename SumTerms>
void forward_by_point_blocks(int64_t H, int64_t N, int64_t L, int64_t block, bool real_output, T* out,
                             SumTerms sum_terms) {
    const int64_t blocks = ceil_div(L, block);
    const bool parallel = H * N * L >= kMinParallelWork;
#pragma omp parallel for schedule(static) if (parallel) num_threads(hs::cpu::kernel_threads())
    for (int64_t unit = 0; unit < H * blocks; ++unit) {
        const int64_t h = unit / blocks;
        const int64_t l0 = (unit % blocks) * block;
        const int64_t count = std::min(block, L - l0);
        // On the heap: 4096 complex128 accumulators are 64 KB, more than a worker thread's stack should carry.
        std::vector<T> acc_re(static_cast<size_t>(count), T(0)), acc_im(static_cast<size_t>(count), T(0));
        sum_terms(h, l0, count, acc_re.data(), acc_im.data());
        if (real_output) {
            T* row = out + h * L + l0;
            for (int64_t j = 0; j < count; ++j) row[j] = 2 * acc_re[static_cast<size_t>(j)];
        } else {
            T* row = out + 2 * (h * L + l0);
            for (int64_t j = 0; j < count; ++j) {
                row[2 * j] = acc_re[static_cast<size_t>(j)];
                row[2 * j + 1] = acc_im[static_cast<size_t>(j)];
            }
        }
    }
}

template <typename Body>
void backward_by_term_blocks(int64_t H, int64_t N, int64_t L, int64_t block, Body body) {
    const int64_t blocks = ceil_div(N, block);
    const bool parallel = H * N * L >= kMinParallelWork;
#pragma omp parallel for schedule(static) if (parallel) num_threads(hs::cpu::kernel_threads())
    for (int64_t unit = 0; unit < H * blocks; ++unit) {
        const int64_t n0 = (unit % blocks) * block;
        body(unit / blocks, n0, std::min(block, N - n0));
    }
}

// ---- Cauchy ---------------------------------------------------------------------------------------------------

template <typename T>
void cauchy_forward(const CauchyParams<T>& p) {
    const int64_t N = p.terms;
    forward_by_point_blocks<T>(p.rows, N, p.points, kCauchyPointsPerUnit, false, p.out,
                               [&](int64_t h, int64_t l0, int64_t count, T* accr, T* acci) {
        T zr[kCauchyPointsPerUnit], zi[kCauchyPointsPerUnit];
        for (int64_t j = 0; j < count; ++j) {
            zr[j] = p.z[2 * (l0 + j)];
            zi[j] = p.z[2 * (l0 + j) + 1];
        }
        const T* v = p.v + 2 * h * N;
        const T* w = p.w + 2 * h * N;
        for (int64_t n = 0; n < N; ++n) {
            const T vr = v[2 * n], vi = v[2 * n + 1], wr = w[2 * n], wi = w[2 * n + 1];
            if (!p.conjugate_symmetric) {
#pragma omp simd
                for (int64_t j = 0; j < count; ++j) {
                    // v / d = v conj(d) / |d|^2 with d = z - w.
                    const T a = zr[j] - wr, b = zi[j] - wi;
                    const T inv = T(1) / (a * a + b * b);
                    accr[j] += (vr * a + vi * b) * inv;
                    acci[j] += (vi * a - vr * b) * inv;
                }
            } else {
#pragma omp simd
                for (int64_t j = 0; j < count; ++j) {
                    // v / (z - w) + conj(v) / (z - conj(w)): the second pole's d has imaginary part zi + wi.
                    const T a = zr[j] - wr, b = zi[j] - wi, c = zi[j] + wi;
                    const T inv = T(1) / (a * a + b * b);
                    const T inv_conj = T(1) / (a * a + c * c);
                    accr[j] += (vr * a + vi * b) * inv + (vr * a - vi * c) * inv_conj;
                    acci[j] += (vi * a - vr * b) * inv - (vi * a + vr * c) * inv_conj;
                }
            }
        }
    });
}

// dv = sum_l g conj(r) (+ conj(sum_l g conj(s))), dw = conj(v) (sum_l g conj(r)^2 (+ conj(sum_l g conj(s)^2))),
// r = 1 / (z - w), s = 1 / (z - conj(w)), g = dout: the conjugate of the holomorphic derivative times g (PyTorch's
// convention), the conjugate pair's terms conjugated once more since they depend on conj(v), conj(w).
template <typename T>
void cauchy_backward(const CauchyBackwardParams<T>& p) {
    const int64_t N = p.terms, L = p.points;
    backward_by_term_blocks(p.rows, N, L, kTermsPerUnit, [&](int64_t h, int64_t n0, int64_t count) {
        T wr[kTermsPerUnit], wi[kTermsPerUnit];
        T ar[kTermsPerUnit], ai[kTermsPerUnit], br[kTermsPerUnit], bi[kTermsPerUnit];
        T cr_[kTermsPerUnit], ci_[kTermsPerUnit], dr[kTermsPerUnit], di[kTermsPerUnit];
        const T* w = p.w + 2 * (h * N + n0);
        for (int64_t k = 0; k < count; ++k) {
            wr[k] = w[2 * k];
            wi[k] = w[2 * k + 1];
            ar[k] = ai[k] = br[k] = bi[k] = cr_[k] = ci_[k] = dr[k] = di[k] = T(0);
        }
        const T* g = p.dout + 2 * h * L;
        for (int64_t l = 0; l < L; ++l) {
            const T zr = p.z[2 * l], zi = p.z[2 * l + 1], gr = g[2 * l], gi = g[2 * l + 1];
#pragma omp simd
            for (int64_t k = 0; k < count; ++k) {
                // conj(r) = conj(d) / |d|^2 ... conjugated: conj(r) = (a, b) / |d|^2 for d = z - w = a + i b.
                const T a = zr - wr[k], b = zi - wi[k];
                const T inv = T(1) / (a * a + b * b);
                const T rr = a * inv, ri = b * inv;             // conj(r)
                const T qr = rr * rr - ri * ri, qi = 2 * rr * ri;  // conj(r)^2
                ar[k] += gr * rr - gi * ri;
                ai[k] += gr * ri + gi * rr;
                br[k] += gr * qr - gi * qi;
                bi[k] += gr * qi + gi * qr;
            }
            if (p.conjugate_symmetric) {
#pragma omp simd
                for (int64_t k = 0; k < count; ++k) {
                    const T a = zr - wr[k], c = zi + wi[k];
                    const T inv = T(1) / (a * a + c * c);
                    const T sr = a * inv, si = c * inv;             // conj(s)
                    const T qr = sr * sr - si * si, qi = 2 * sr * si;  // conj(s)^2
                    cr_[k] += gr * sr - gi * si;
                    ci_[k] += gr * si + gi * sr;
                    dr[k] += gr * qr - gi * qi;
                    di[k] += gr * qi + gi * qr;
                }
            }
        }
        const T* v = p.v + 2 * (h * N + n0);
        for (int64_t k = 0; k < count; ++k) {
            const int64_t at = 2 * (h * N + n0 + k);
            // With the conjugate pair: + conj(C) and + conj(D); zero sums otherwise.
            if (p.dv != nullptr) {
                p.dv[at] = ar[k] + cr_[k];
                p.dv[at + 1] = ai[k] - ci_[k];
            }
            if (p.dw != nullptr) {
                const T sr = br[k] + dr[k], si = bi[k] - di[k];
                const T vr = v[2 * k], vi = -v[2 * k + 1];  // conj(v)
                p.dw[at] = vr * sr - vi * si;
                p.dw[at + 1] = vr * si + vi * sr;
            }
        }
    });
}

// ---- Vandermonde ----------------------------------------------------------------------------------------------

// exp(x)^j for j < kPowerBlock (running product in float64 from the exact exp(x)), rounded to T.
template <typename T>
HS_CPU_INLINE void power_steps(double xr, double xi, T* step_re, T* step_im) {
    const ComplexD e = exp_scaled(xr, xi, 1.0);
    ComplexD power{1.0, 0.0};
    for (int64_t j = 0; j < kPowerBlock; ++j) {
        step_re[j] = static_cast<T>(power.re);
        step_im[j] = static_cast<T>(power.im);
        power = mul(power, e);
    }
}

template <typename T>
void vandermonde_forward(const VandermondeParams<T>& p) {
    const int64_t N = p.terms;
    forward_by_point_blocks<T>(p.rows, N, p.points, kPositionsPerUnit, p.conjugate_symmetric, p.out,
                               [&](int64_t h, int64_t l0, int64_t count, T* accr, T* acci) {
        T step_re[kPowerBlock], step_im[kPowerBlock];
        const T* v = p.v + 2 * h * N;
        const T* x = p.x + 2 * h * N;
        for (int64_t n = 0; n < N; ++n) {
            const double xr = x[2 * n], xi = x[2 * n + 1];
            const ComplexD vn{static_cast<double>(v[2 * n]), static_cast<double>(v[2 * n + 1])};
            power_steps(xr, xi, step_re, step_im);
            const ComplexD stride = exp_scaled(xr, xi, static_cast<double>(kPowerBlock));
            ComplexD anchor{1.0, 0.0};
            for (int64_t b0 = 0; b0 < count; b0 += kPowerBlock) {
                if (b0 % kAnchorPositions == 0) anchor = exp_scaled(xr, xi, static_cast<double>(l0 + b0));
                const ComplexD c = mul(vn, anchor);
                const T cr = static_cast<T>(c.re), ci = static_cast<T>(c.im);
                const int64_t width = std::min(kPowerBlock, count - b0);
                T* out_re = accr + b0;
                T* out_im = acci + b0;
#pragma omp simd
                for (int64_t j = 0; j < width; ++j) {
                    out_re[j] += cr * step_re[j] - ci * step_im[j];
                    out_im[j] += cr * step_im[j] + ci * step_re[j];
                }
                anchor = mul(anchor, stride);
            }
        }
    });
}

// With G = dout (or 2 dout, real, for the conjugate-symmetric sum 2 Re(S), whose gradient with respect to S is 2 g):
// dv = sum_l G_l conj(p_l) and dx = conj(v) sum_l l G_l conj(p_l), p_l = exp(x l). Per block of 32 positions,
// l = 32 k + j: the sums collect conj(anchor_k) G_l in per-j accumulators and take the conj(step_j) factor at the end.
template <typename T>
void vandermonde_backward(const VandermondeBackwardParams<T>& p) {
    const int64_t N = p.terms, L = p.points;
    const T scale = p.conjugate_symmetric ? T(2) : T(1);
    backward_by_term_blocks(p.rows, N, L, 1, [&](int64_t h, int64_t n, int64_t) {
        const int64_t unit = h * N + n;
        const double xr = p.x[2 * unit], xi = p.x[2 * unit + 1];
        T step_re[kPowerBlock], step_im[kPowerBlock];
        T sr[kPowerBlock], si[kPowerBlock], tr[kPowerBlock], ti[kPowerBlock];
        for (int64_t j = 0; j < kPowerBlock; ++j) sr[j] = si[j] = tr[j] = ti[j] = T(0);
        power_steps(xr, xi, step_re, step_im);
        const ComplexD stride = exp_scaled(xr, xi, static_cast<double>(kPowerBlock));
        ComplexD anchor{1.0, 0.0};
        for (int64_t b0 = 0; b0 < L; b0 += kPowerBlock) {
            if (b0 % kAnchorPositions == 0) anchor = exp_scaled(xr, xi, static_cast<double>(b0));
            const T ar = static_cast<T>(anchor.re), ai = -static_cast<T>(anchor.im);  // conj(anchor)
            const int64_t width = std::min(kPowerBlock, L - b0);
            if (p.conjugate_symmetric) {
                const T* g = p.dout + h * L + b0;
#pragma omp simd
                for (int64_t j = 0; j < width; ++j) {
                    const T gr = scale * g[j];
                    const T position = static_cast<T>(b0 + j);
                    sr[j] += gr * ar;
                    si[j] += gr * ai;
                    tr[j] += position * gr * ar;
                    ti[j] += position * gr * ai;
                }
            } else {
                const T* g = p.dout + 2 * (h * L + b0);
#pragma omp simd
                for (int64_t j = 0; j < width; ++j) {
                    const T gr = g[2 * j], gi = g[2 * j + 1];
                    const T position = static_cast<T>(b0 + j);
                    const T qr = gr * ar - gi * ai, qi = gr * ai + gi * ar;
                    sr[j] += qr;
                    si[j] += qi;
                    tr[j] += position * qr;
                    ti[j] += position * qi;
                }
            }
            anchor = mul(anchor, stride);
        }
        // sum over j of accumulator_j * conj(step_j), in float64.
        ComplexD dv_sum{0.0, 0.0}, dx_sum{0.0, 0.0};
        for (int64_t j = 0; j < kPowerBlock; ++j) {
            const ComplexD conj_step{static_cast<double>(step_re[j]), -static_cast<double>(step_im[j])};
            const ComplexD s = mul({static_cast<double>(sr[j]), static_cast<double>(si[j])}, conj_step);
            const ComplexD t = mul({static_cast<double>(tr[j]), static_cast<double>(ti[j])}, conj_step);
            dv_sum.re += s.re;
            dv_sum.im += s.im;
            dx_sum.re += t.re;
            dx_sum.im += t.im;
        }
        if (p.dv != nullptr) {
            p.dv[2 * unit] = static_cast<T>(dv_sum.re);
            p.dv[2 * unit + 1] = static_cast<T>(dv_sum.im);
        }
        if (p.dx != nullptr) {
            const ComplexD conj_v{static_cast<double>(p.v[2 * unit]), -static_cast<double>(p.v[2 * unit + 1])};
            const ComplexD d = mul(conj_v, dx_sum);
            p.dx[2 * unit] = static_cast<T>(d.re);
            p.dx[2 * unit + 1] = static_cast<T>(d.im);
        }
    });
}
