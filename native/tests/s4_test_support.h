// Shared helpers of the S4 kernel tests (test_s4_kernels.cpp, test_s4_kernels_cuda.cpp): random problems held in
// complex128, the slow reference sums in long double written straight from hybridseq.h, and the CPU calls through
// the C API on complex64 / complex128 copies.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <random>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "hybridseq.h"
#include "scan_test_support.h"

namespace hs_test {

using cd = std::complex<double>;
using cld = std::complex<long double>;

struct S4Size {
    int64_t H, N, L;
};

inline std::string describe(const S4Size& size) {
    return "H=" + std::to_string(size.H) + " N=" + std::to_string(size.N) + " L=" + std::to_string(size.L);
}

// How GoogleTest prints a size parameter (test lists, ctest names, failures).
inline void PrintTo(const S4Size& size, std::ostream* out) { *out << describe(size); }

template <typename T>
constexpr int32_t complex_dtype_of() {
    return std::is_same_v<T, float> ? HS_DTYPE_COMPLEX64 : HS_DTYPE_COMPLEX128;
}

template <typename T>
constexpr int32_t real_dtype_of() {
    return std::is_same_v<T, float> ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
}

// S4-like inputs: poles / log-nodes with negative real parts, numerators of order 1, points on the imaginary axis
// away from the poles (Cauchy) or the unit circle mapped bilinearly. Values are rounded through T once, so that the
// reference sees exactly what the kernel sees.
struct S4Problem {
    S4Size size;
    std::vector<cd> v, w, x, z;  // v, w, x (H, N); z (L)
};

// Through volatile T: GCC -O2 was seen to keep the unrounded double in this test code (the kernel then saw other
// numbers than the reference), so the rounding is forced through memory.
template <typename T>
cd round_to(cd value) {
    volatile T re = static_cast<T>(value.real());
    volatile T im = static_cast<T>(value.imag());
    return cd(static_cast<double>(re), static_cast<double>(im));
}

template <typename T>
S4Problem make_s4_problem(const S4Size& size, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    S4Problem p;
    p.size = size;
    const int64_t HN = size.H * size.N;
    for (int64_t i = 0; i < HN; ++i) {
        p.v.push_back(round_to<T>(cd(unit(rng), unit(rng))));
        // Cauchy poles: real part in [-1, -0.1], imaginary part spread over [-4, 4].
        p.w.push_back(round_to<T>(cd(-0.55 + 0.45 * unit(rng), 4.0 * unit(rng))));
        // Vandermonde log-nodes dt * A: a small negative real part, an imaginary part in [-3, 3].
        p.x.push_back(round_to<T>(cd(-0.01 + 0.009 * unit(rng), 3.0 * unit(rng))));
    }
    for (int64_t l = 0; l < size.L; ++l) {
        // Points with a positive real part (the poles' real parts are negative), so no term is near-singular.
        p.z.push_back(round_to<T>(cd(0.2 + 0.1 * unit(rng), 5.0 * unit(rng))));
    }
    return p;
}

// ---- references (long double) ---------------------------------------------------------------------------------

struct ReferenceSums {
    std::vector<cld> out;       // (H, L)
    std::vector<long double> magnitude;  // (H, L): sum over n of |terms|, the scale of the rounding error
};

inline ReferenceSums reference_cauchy(const S4Problem& p, bool conjugate) {
    const auto [H, N, L] = p.size;
    ReferenceSums r{std::vector<cld>(static_cast<size_t>(H * L)), std::vector<long double>(static_cast<size_t>(H * L))};
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t l = 0; l < L; ++l) {
            cld sum = 0;
            long double magnitude = 0;
            const cld z(p.z[l]);
            for (int64_t n = 0; n < N; ++n) {
                const cld v(p.v[h * N + n]), w(p.w[h * N + n]);
                cld term = v / (z - w);
                magnitude += std::abs(term);
                if (conjugate) {
                    const cld pair = std::conj(v) / (z - std::conj(w));
                    magnitude += std::abs(pair);
                    term += pair;
                }
                sum += term;
            }
            r.out[h * L + l] = sum;
            r.magnitude[h * L + l] = magnitude;
        }
    }
    return r;
}

inline cld exp_ld(cld x, long double position) {
    return std::exp(x.real() * position) * cld(std::cos(x.imag() * position), std::sin(x.imag() * position));
}

// out = sum_n v exp(x l), complex; with `conjugate` the caller takes 2 Re.
inline ReferenceSums reference_vandermonde(const S4Problem& p) {
    const auto [H, N, L] = p.size;
    ReferenceSums r{std::vector<cld>(static_cast<size_t>(H * L)), std::vector<long double>(static_cast<size_t>(H * L))};
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t l = 0; l < L; ++l) {
            cld sum = 0;
            long double magnitude = 0;
            for (int64_t n = 0; n < N; ++n) {
                const cld term = cld(p.v[h * N + n]) * exp_ld(cld(p.x[h * N + n]), static_cast<long double>(l));
                sum += term;
                magnitude += std::abs(term);
            }
            r.out[h * L + l] = sum;
            r.magnitude[h * L + l] = magnitude;
        }
    }
    return r;
}

// ---- calls ----------------------------------------------------------------------------------------------------

template <typename T>
std::vector<std::complex<T>> to_complex(const std::vector<cd>& values) {
    std::vector<std::complex<T>> out(values.size());
    for (size_t i = 0; i < values.size(); ++i) out[i] = std::complex<T>(values[i]);
    return out;
}

template <typename T>
std::vector<cd> to_cd(const std::vector<std::complex<T>>& values) {
    std::vector<cd> out(values.size());
    for (size_t i = 0; i < values.size(); ++i) out[i] = cd(values[i]);
    return out;
}

// Outputs start as NaN, so an element the kernel does not write shows.
template <typename T>
std::vector<std::complex<T>> nan_complex(size_t count) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    return std::vector<std::complex<T>>(count, std::complex<T>(nan, nan));
}

template <typename T>
std::vector<cd> run_cauchy(const S4Problem& p, bool conjugate) {
    const auto [H, N, L] = p.size;
    const auto v = to_complex<T>(p.v), w = to_complex<T>(p.w), z = to_complex<T>(p.z);
    auto out = nan_complex<T>(static_cast<size_t>(H * L));
    const int32_t dt = complex_dtype_of<T>();
    const hs_tensor vv = cpu_view(v.data(), dt, {H, N}), wv = cpu_view(w.data(), dt, {H, N}),
                    zv = cpu_view(z.data(), dt, {L}), ov = cpu_view(out.data(), dt, {H, L});
    EXPECT_EQ(hs_cauchy_forward(&vv, &wv, &zv, conjugate ? 1 : 0, &ov, nullptr), HS_OK) << hs_last_error();
    return to_cd(out);
}

template <typename T>
std::pair<std::vector<cd>, std::vector<cd>> run_cauchy_backward(const S4Problem& p, bool conjugate,
                                                                 const std::vector<cd>& dout) {
    const auto [H, N, L] = p.size;
    const auto v = to_complex<T>(p.v), w = to_complex<T>(p.w), z = to_complex<T>(p.z), g = to_complex<T>(dout);
    auto dv = nan_complex<T>(static_cast<size_t>(H * N)), dw = nan_complex<T>(static_cast<size_t>(H * N));
    const int32_t dt = complex_dtype_of<T>();
    const hs_tensor vv = cpu_view(v.data(), dt, {H, N}), wv = cpu_view(w.data(), dt, {H, N}),
                    zv = cpu_view(z.data(), dt, {L}), gv = cpu_view(g.data(), dt, {H, L}),
                    dvv = cpu_view(dv.data(), dt, {H, N}), dwv = cpu_view(dw.data(), dt, {H, N});
    EXPECT_EQ(hs_cauchy_backward(&vv, &wv, &zv, conjugate ? 1 : 0, &gv, &dvv, &dwv, nullptr), HS_OK)
        << hs_last_error();
    return {to_cd(dv), to_cd(dw)};
}

// The complex output, or with `conjugate` the real one as complex numbers with a zero imaginary part.
template <typename T>
std::vector<cd> run_vandermonde(const S4Problem& p, bool conjugate) {
    const auto [H, N, L] = p.size;
    const auto v = to_complex<T>(p.v), x = to_complex<T>(p.x);
    const int32_t dt = complex_dtype_of<T>();
    const hs_tensor vv = cpu_view(v.data(), dt, {H, N}), xv = cpu_view(x.data(), dt, {H, N});
    if (conjugate) {
        std::vector<T> out(static_cast<size_t>(H * L), std::numeric_limits<T>::quiet_NaN());
        const hs_tensor ov = cpu_view(out.data(), real_dtype_of<T>(), {H, L});
        EXPECT_EQ(hs_vandermonde_forward(&vv, &xv, 1, &ov, nullptr), HS_OK) << hs_last_error();
        return std::vector<cd>(out.begin(), out.end());
    }
    auto out = nan_complex<T>(static_cast<size_t>(H * L));
    const hs_tensor ov = cpu_view(out.data(), dt, {H, L});
    EXPECT_EQ(hs_vandermonde_forward(&vv, &xv, 0, &ov, nullptr), HS_OK) << hs_last_error();
    return to_cd(out);
}

// dout is complex, or (conjugate) real: the real parts of `dout` are passed.
template <typename T>
std::pair<std::vector<cd>, std::vector<cd>> run_vandermonde_backward(const S4Problem& p, bool conjugate,
                                                                      const std::vector<cd>& dout) {
    const auto [H, N, L] = p.size;
    const auto v = to_complex<T>(p.v), x = to_complex<T>(p.x), g = to_complex<T>(dout);
    std::vector<T> g_real(g.size());
    for (size_t i = 0; i < g.size(); ++i) g_real[i] = g[i].real();
    auto dv = nan_complex<T>(static_cast<size_t>(H * N)), dx = nan_complex<T>(static_cast<size_t>(H * N));
    const int32_t dt = complex_dtype_of<T>();
    const hs_tensor vv = cpu_view(v.data(), dt, {H, N}), xv = cpu_view(x.data(), dt, {H, N}),
                    gv = conjugate ? cpu_view(g_real.data(), real_dtype_of<T>(), {H, L})
                                   : cpu_view(g.data(), dt, {H, L}),
                    dvv = cpu_view(dv.data(), dt, {H, N}), dxv = cpu_view(dx.data(), dt, {H, N});
    EXPECT_EQ(hs_vandermonde_backward(&vv, &xv, conjugate ? 1 : 0, &gv, &dvv, &dxv, nullptr), HS_OK)
        << hs_last_error();
    return {to_cd(dv), to_cd(dx)};
}

// Largest |actual - expected| / scale over the elements (scale: the magnitude sums, at least 1e-300).
inline double worst_relative(const std::vector<cd>& actual, const std::vector<cld>& expected,
                             const std::vector<long double>& scale) {
    double worst = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const long double error = std::abs(cld(actual[i]) - expected[i]);
        const double ratio = static_cast<double>(error / std::max(scale[i], 1e-300L));
        if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio;
    }
    return worst;
}

}  // namespace hs_test
