// The S4 kernels hs_cauchy_* and hs_vandermonde_* (CPU, complex64 and complex128) against slow long double sums
// written from hybridseq.h, against closed forms (a partial-fraction identity for Cauchy, the geometric series for
// Vandermonde with one term, the conjugate-symmetric variants as their definitions), complex128 central differences of
// a real loss (re and im perturbed separately), odd and tail sizes (N, L in 1, 2, 7, 33, 129, 2049), bitwise
// independence of the thread count, and every bad argument refused with HS_ERR_INVALID_ARGUMENT naming it. Also the
// complex dtypes in the ABI: the ops before the S4 kernels refuse complex tensors by name.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "s4_test_support.h"
#include "scan_test_support.h"

namespace hs_test {
namespace {

// Every N and L of the issue appears at least once, with the big ones kept to one row so the long double reference
// stays fast.
const S4Size kSizes[] = {{1, 1, 1},  {2, 2, 7},   {3, 7, 33},   {2, 33, 129},  {1, 129, 2049},
                         {2, 2049, 2}, {1, 2049, 33}, {5, 1, 2049}, {2, 64, 1025}};

template <typename T>
constexpr double eps_of() {
    return std::numeric_limits<T>::epsilon();
}

// Rounding bound relative to the sum of |terms|: the summation (N terms, n in order) plus a few roundings per term;
// for Vandermonde the powers' float64 products add about 64 ulp of float64 (hybridseq.h).
template <typename T>
double tolerance_for(int64_t N) {
    return (static_cast<double>(N) + 16.0) * eps_of<T>() + 200.0 * eps_of<double>();
}

std::vector<cd> random_complex(size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    std::vector<cd> out(count);
    for (cd& value : out) value = cd(unit(rng), unit(rng));
    return out;
}

enum class S4Kernel { Cauchy, Vandermonde };

const char* name_of(S4Kernel kernel) { return kernel == S4Kernel::Cauchy ? "Cauchy" : "Vandermonde"; }
void PrintTo(S4Kernel kernel, std::ostream* out) { *out << name_of(kernel); }

// ---- reference gradients (long double): grad_v = g conj(d out / d v) + conj(g) d out / d conj(v) -------------------

struct ReferenceGrads {
    std::vector<cld> a, b;        // dv and dw (Cauchy) or dv and dx (Vandermonde)
    std::vector<long double> sa, sb;  // sums of |terms|
};

// The (dv, dnode) share of position l for term (h, n) of `kernel`.
std::pair<cld, cld> reference_gradient_terms(S4Kernel kernel, const S4Problem& p, bool conjugate,
                                             const std::vector<cd>& dout, int64_t h, int64_t n, int64_t l) {
    const auto [H, N, L] = p.size;
    (void)H;
    if (kernel == S4Kernel::Cauchy) {
        const cld v(p.v[h * N + n]), w(p.w[h * N + n]), z(p.z[l]), g(dout[h * L + l]);
        cld dv = g * std::conj(1.0L / (z - w));
        cld dw = g * std::conj(v / ((z - w) * (z - w)));
        if (conjugate) {
            const cld d = z - std::conj(w);
            dv += std::conj(g) / d;                      // d/d conj(v) of conj(v) / (z - conj(w))
            dw += std::conj(g) * std::conj(v) / (d * d);  // d/d conj(w) of the same
        }
        return {dv, dw};
    }
    const cld v(p.v[h * N + n]), x(p.x[h * N + n]);
    const long double position = static_cast<long double>(l);
    const cld e = exp_ld(x, position);
    // out = S (complex g) or 2 Re(S) = S + conj(S) (real g): d out/d conj(v) is conj(e) then.
    const cld g = conjugate ? cld(2.0L * dout[h * L + l].real(), 0.0L) : cld(dout[h * L + l]);
    return {g * std::conj(e), g * std::conj(v * position * e)};
}

ReferenceGrads reference_backward(S4Kernel kernel, const S4Problem& p, bool conjugate, const std::vector<cd>& dout) {
    const auto [H, N, L] = p.size;
    ReferenceGrads r;
    r.a.assign(static_cast<size_t>(H * N), 0);
    r.b.assign(static_cast<size_t>(H * N), 0);
    r.sa.assign(static_cast<size_t>(H * N), 0);
    r.sb.assign(static_cast<size_t>(H * N), 0);
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t n = 0; n < N; ++n) {
            for (int64_t l = 0; l < L; ++l) {
                const auto [da, db] = reference_gradient_terms(kernel, p, conjugate, dout, h, n, l);
                r.a[h * N + n] += da;
                r.b[h * N + n] += db;
                r.sa[h * N + n] += std::abs(da);
                r.sb[h * N + n] += std::abs(db);
            }
        }
    }
    return r;
}

// ---- forward and backward against the reference, per kernel and size --------------------------------------------

template <typename T>
void check_forward(S4Kernel kernel, const S4Size& size, bool conjugate) {
    const bool cauchy = kernel == S4Kernel::Cauchy;
    const S4Problem p = make_s4_problem<T>(
        size, cauchy ? 11 + static_cast<uint32_t>(size.N * 7 + size.L) : 23 + static_cast<uint32_t>(size.N * 5 + size.L));
    ReferenceSums expected = cauchy ? reference_cauchy(p, conjugate) : reference_vandermonde(p);
    if (!cauchy && conjugate) {
        for (size_t i = 0; i < expected.out.size(); ++i) {
            expected.out[i] = cld(2.0L * expected.out[i].real(), 0.0L);
            expected.magnitude[i] *= 2.0L;
        }
    }
    const std::vector<cd> actual = cauchy ? run_cauchy<T>(p, conjugate) : run_vandermonde<T>(p, conjugate);
    // The conjugate-symmetric Cauchy sum has two terms per n.
    EXPECT_LE(worst_relative(actual, expected.out, expected.magnitude),
              tolerance_for<T>(cauchy && conjugate ? 2 * size.N : size.N))
        << name_of(kernel) << " " << describe(size) << " conjugate=" << conjugate;
}

template <typename T>
void check_backward(S4Kernel kernel, const S4Size& size, bool conjugate) {
    const bool cauchy = kernel == S4Kernel::Cauchy;
    const S4Problem p = make_s4_problem<T>(size, (cauchy ? 31 : 37) + static_cast<uint32_t>(size.N * 3 + size.L));
    std::vector<cd> dout = random_complex(static_cast<size_t>(size.H * size.L), cauchy ? 5 : 9);
    for (cd& g : dout) g = round_to<T>(g);
    const ReferenceGrads expected = reference_backward(kernel, p, conjugate, dout);
    const auto [dv, dnode] =
        cauchy ? run_cauchy_backward<T>(p, conjugate, dout) : run_vandermonde_backward<T>(p, conjugate, dout);
    const double tolerance = 2 * tolerance_for<T>(size.L);
    EXPECT_LE(worst_relative(dv, expected.a, expected.sa), tolerance)
        << name_of(kernel) << " dv " << describe(size) << " conjugate=" << conjugate;
    EXPECT_LE(worst_relative(dnode, expected.b, expected.sb), tolerance)
        << name_of(kernel) << (cauchy ? " dw " : " dx ") << describe(size) << " conjugate=" << conjugate;
}

// One case per kernel and size; each runs both flags in complex64 and complex128.
class S4KernelsReference : public ::testing::TestWithParam<std::tuple<S4Kernel, S4Size>> {};

TEST_P(S4KernelsReference, ForwardMatchesReference) {
    const auto [kernel, size] = GetParam();
    for (bool conjugate : {false, true}) {
        check_forward<float>(kernel, size, conjugate);
        check_forward<double>(kernel, size, conjugate);
    }
}

TEST_P(S4KernelsReference, BackwardMatchesReference) {
    const auto [kernel, size] = GetParam();
    for (bool conjugate : {false, true}) {
        check_backward<float>(kernel, size, conjugate);
        check_backward<double>(kernel, size, conjugate);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, S4KernelsReference, ::testing::Combine(::testing::Values(S4Kernel::Cauchy, S4Kernel::Vandermonde),
                                                  ::testing::ValuesIn(kSizes)),
    [](const ::testing::TestParamInfo<S4KernelsReference::ParamType>& info) {
        const S4Size& size = std::get<1>(info.param);
        return std::string(name_of(std::get<0>(info.param))) + "_H" + std::to_string(size.H) + "_N" +
               std::to_string(size.N) + "_L" + std::to_string(size.L);
    });

// ---- closed forms ---------------------------------------------------------------------------------------------

// Partial fractions: with v_n = 1 / prod_{m != n} (w_n - w_m), sum_n v_n / (z - w_n) = 1 / prod_n (z - w_n).
TEST(S4Kernels, CauchyEqualsThePartialFractionIdentity) {
    for (int64_t N : {1, 2, 3, 7}) {
        S4Problem p = make_s4_problem<double>({1, N, 33}, 101 + static_cast<uint32_t>(N));
        for (int64_t n = 0; n < N; ++n) {
            cd product = 1.0;
            for (int64_t m = 0; m < N; ++m) {
                if (m != n) product *= p.w[n] - p.w[m];
            }
            p.v[n] = 1.0 / product;
        }
        const std::vector<cd> out = run_cauchy<double>(p, false);
        for (int64_t l = 0; l < 33; ++l) {
            cd product = 1.0;
            double magnitude = 0;  // the partial fractions cancel: the rounding scale is the sum of |terms|
            for (int64_t n = 0; n < N; ++n) {
                product *= p.z[l] - p.w[n];
                magnitude += std::abs(p.v[n] / (p.z[l] - p.w[n]));
            }
            const cd expected = 1.0 / product;
            EXPECT_LT(std::abs(out[l] - expected), 1e-13 * magnitude) << "N=" << N << " l=" << l;
        }
    }
}

// One term: out[l] = v e^(x l), and the sum over l < L is the geometric series v (1 - e^(x L)) / (1 - e^x).
TEST(S4Kernels, VandermondeWithOneTermIsAGeometricSeries) {
    for (int64_t L : {1, 2, 7, 33, 129, 2049}) {
        S4Problem p = make_s4_problem<double>({1, 1, L}, 7);
        p.x[0] = cd(-0.003, 0.7);
        p.v[0] = cd(0.4, -1.3);
        const std::vector<cd> out = run_vandermonde<double>(p, false);
        cd sum = 0;
        for (const cd& value : out) sum += value;
        const cd expected = p.v[0] * (1.0 - std::exp(p.x[0] * static_cast<double>(L))) / (1.0 - std::exp(p.x[0]));
        EXPECT_LT(std::abs(sum - expected), 1e-11 * static_cast<double>(L)) << "L=" << L;
        const std::vector<cd> f32 = run_vandermonde<float>(p, false);
        cd sum32 = 0;
        for (const cd& value : f32) sum32 += value;
        EXPECT_LT(std::abs(sum32 - expected), 2e-6 * static_cast<double>(L)) << "complex64 L=" << L;
    }
}

// The conjugate-symmetric Cauchy sum is the plain sum over the doubled set (v, conj v), (w, conj w), also for complex
// z; for real z it is 2 Re of the half sum.
TEST(S4Kernels, ConjugateSymmetricCauchyIsTheSumOverBothPairs) {
    const S4Problem half = make_s4_problem<double>({3, 7, 33}, 77);
    S4Problem doubled = half;
    doubled.size.N = 14;
    doubled.v.clear();
    doubled.w.clear();
    for (int64_t h = 0; h < 3; ++h) {
        for (int64_t n = 0; n < 7; ++n) {
            doubled.v.push_back(half.v[h * 7 + n]);
            doubled.w.push_back(half.w[h * 7 + n]);
        }
        for (int64_t n = 0; n < 7; ++n) {
            doubled.v.push_back(std::conj(half.v[h * 7 + n]));
            doubled.w.push_back(std::conj(half.w[h * 7 + n]));
        }
    }
    const std::vector<cd> symmetric = run_cauchy<double>(half, true);
    const std::vector<cd> plain = run_cauchy<double>(doubled, false);
    for (size_t i = 0; i < plain.size(); ++i) EXPECT_LT(std::abs(symmetric[i] - plain[i]), 1e-12) << i;

    S4Problem real_points = half;
    for (cd& z : real_points.z) z = cd(z.imag(), 0.0);
    const std::vector<cd> on_axis = run_cauchy<double>(real_points, true);
    const std::vector<cd> half_sum = run_cauchy<double>(real_points, false);
    for (size_t i = 0; i < on_axis.size(); ++i) {
        EXPECT_LT(std::abs(on_axis[i] - 2.0 * half_sum[i].real()), 1e-12) << i;
    }
}

TEST(S4Kernels, ConjugateSymmetricVandermondeIsTwiceTheRealPart) {
    const S4Problem p = make_s4_problem<double>({4, 33, 129}, 55);
    const std::vector<cd> full = run_vandermonde<double>(p, false);
    const std::vector<cd> real = run_vandermonde<double>(p, true);
    for (size_t i = 0; i < full.size(); ++i) {
        EXPECT_DOUBLE_EQ(real[i].imag(), 0.0);
        EXPECT_NEAR(real[i].real(), 2.0 * full[i].real(), 1e-12) << i;
    }
}

// ---- finite differences (complex128) --------------------------------------------------------------------------

// Loss = Re(sum conj(c) out) (complex out) or sum c out (real out), whose PyTorch-convention gradient with respect
// to out is c. The analytic gradient's re and im parts are the loss's derivatives along re and im of each input.
template <typename Forward>
void check_finite_differences(std::vector<cd>& input, const std::vector<cd>& gradient, const std::vector<cd>& c,
                              Forward forward, const char* what) {
    auto loss = [&]() {
        const std::vector<cd> out = forward();
        double total = 0;
        for (size_t i = 0; i < out.size(); ++i) total += (std::conj(c[i]) * out[i]).real();
        return total;
    };
    const double step = 1e-6;
    for (size_t i = 0; i < input.size(); ++i) {
        for (int part = 0; part < 2; ++part) {
            const cd original = input[i];
            const cd delta = part == 0 ? cd(step, 0) : cd(0, step);
            input[i] = original + delta;
            const double up = loss();
            input[i] = original - delta;
            const double down = loss();
            input[i] = original;
            const double numeric = (up - down) / (2 * step);
            const double analytic = part == 0 ? gradient[i].real() : gradient[i].imag();
            EXPECT_NEAR(analytic, numeric, 1e-6 * (1.0 + std::abs(numeric)))
                << what << "[" << i << "] " << (part == 0 ? "re" : "im");
        }
    }
}

TEST(S4Kernels, CauchyGradientsMatchFiniteDifferences) {
    for (bool conjugate : {false, true}) {
        S4Problem p = make_s4_problem<double>({2, 7, 33}, 3);
        const std::vector<cd> c = random_complex(2 * 33, 4);
        const auto [dv, dw] = run_cauchy_backward<double>(p, conjugate, c);
        auto forward = [&]() { return run_cauchy<double>(p, conjugate); };
        check_finite_differences(p.v, dv, c, forward, conjugate ? "conjugate dv" : "dv");
        check_finite_differences(p.w, dw, c, forward, conjugate ? "conjugate dw" : "dw");
    }
}

TEST(S4Kernels, VandermondeGradientsMatchFiniteDifferences) {
    for (bool conjugate : {false, true}) {
        S4Problem p = make_s4_problem<double>({2, 7, 129}, 8);
        std::vector<cd> c = random_complex(2 * 129, 6);
        if (conjugate) {
            for (cd& value : c) value = cd(value.real(), 0.0);  // real out: a real dout
        }
        const auto [dv, dx] = run_vandermonde_backward<double>(p, conjugate, c);
        auto forward = [&]() { return run_vandermonde<double>(p, conjugate); };
        check_finite_differences(p.v, dv, c, forward, conjugate ? "conjugate dv" : "dv");
        check_finite_differences(p.x, dx, c, forward, conjugate ? "conjugate dx" : "dx");
    }
}

// ---- threads, empty sizes -------------------------------------------------------------------------------------

TEST(S4Kernels, ResultsAreBitwiseIndependentOfTheThreadCount) {
    const S4Problem p = make_s4_problem<float>({6, 65, 1100}, 12);
    const std::vector<cd> dout = random_complex(6 * 1100, 13);
    ASSERT_EQ(hs_set_num_threads(1), HS_OK);
    const auto cauchy1 = run_cauchy<float>(p, true);
    const auto vander1 = run_vandermonde<float>(p, false);
    const auto cauchy_grads1 = run_cauchy_backward<float>(p, true, dout);
    const auto vander_grads1 = run_vandermonde_backward<float>(p, false, dout);
    ASSERT_EQ(hs_set_num_threads(3), HS_OK);
    const auto cauchy3 = run_cauchy<float>(p, true);
    const auto vander3 = run_vandermonde<float>(p, false);
    const auto cauchy_grads3 = run_cauchy_backward<float>(p, true, dout);
    const auto vander_grads3 = run_vandermonde_backward<float>(p, false, dout);
    ASSERT_EQ(hs_set_num_threads(0), HS_OK);
    EXPECT_TRUE(cauchy1 == cauchy3);
    EXPECT_TRUE(vander1 == vander3);
    EXPECT_TRUE(cauchy_grads1 == cauchy_grads3);
    EXPECT_TRUE(vander_grads1 == vander_grads3);
}

TEST(S4Kernels, NoTermsGiveZerosAndNoPositionsGiveZeroGradients) {
    const S4Problem empty_terms = make_s4_problem<double>({3, 0, 5}, 1);
    for (const cd& value : run_cauchy<double>(empty_terms, true)) EXPECT_EQ(value, cd(0, 0));
    for (const cd& value : run_vandermonde<double>(empty_terms, false)) EXPECT_EQ(value, cd(0, 0));
    const S4Problem no_points = make_s4_problem<double>({3, 4, 0}, 1);
    const auto [dv, dw] = run_cauchy_backward<double>(no_points, false, {});
    for (const cd& value : dv) EXPECT_EQ(value, cd(0, 0));
    for (const cd& value : dw) EXPECT_EQ(value, cd(0, 0));
    const auto [dv2, dx2] = run_vandermonde_backward<double>(no_points, true, {});
    for (const cd& value : dv2) EXPECT_EQ(value, cd(0, 0));
    for (const cd& value : dx2) EXPECT_EQ(value, cd(0, 0));
}

// ---- validation -----------------------------------------------------------------------------------------------

struct CauchyCall {
    std::vector<std::complex<float>> v = std::vector<std::complex<float>>(6), w = v, z = std::vector<std::complex<float>>(5),
                                     out = std::vector<std::complex<float>>(10), dv = v, dw = v;
    hs_tensor vv = cpu_view(v.data(), HS_DTYPE_COMPLEX64, {2, 3}), wv = cpu_view(w.data(), HS_DTYPE_COMPLEX64, {2, 3}),
              zv = cpu_view(z.data(), HS_DTYPE_COMPLEX64, {5}), ov = cpu_view(out.data(), HS_DTYPE_COMPLEX64, {2, 5}),
              dvv = cpu_view(dv.data(), HS_DTYPE_COMPLEX64, {2, 3}), dwv = cpu_view(dw.data(), HS_DTYPE_COMPLEX64, {2, 3});
    int32_t conjugate = 0;
    hs_status forward() { return hs_cauchy_forward(&vv, &wv, &zv, conjugate, &ov, nullptr); }
    hs_status backward() { return hs_cauchy_backward(&vv, &wv, &zv, conjugate, &ov, &dvv, &dwv, nullptr); }
};

void expect_invalid(hs_status status, const std::vector<std::string>& fragments) {
    EXPECT_EQ(status, HS_ERR_INVALID_ARGUMENT);
    const std::string message = hs_last_error();
    for (const std::string& fragment : fragments) {
        EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
    }
}

TEST(S4KernelsValidation, CauchyNamesEveryBadArgument) {
    {
        CauchyCall c;
        ASSERT_EQ(c.forward(), HS_OK) << hs_last_error();
        ASSERT_EQ(c.backward(), HS_OK) << hs_last_error();
    }
    {
        CauchyCall c;
        expect_invalid(hs_cauchy_forward(nullptr, &c.wv, &c.zv, 0, &c.ov, nullptr), {"argument 'v' is required"});
        expect_invalid(hs_cauchy_forward(&c.vv, nullptr, &c.zv, 0, &c.ov, nullptr), {"argument 'w' is required"});
        expect_invalid(hs_cauchy_forward(&c.vv, &c.wv, nullptr, 0, &c.ov, nullptr), {"argument 'z' is required"});
        expect_invalid(hs_cauchy_forward(&c.vv, &c.wv, &c.zv, 0, nullptr, nullptr), {"argument 'out' is required"});
        expect_invalid(hs_cauchy_backward(&c.vv, &c.wv, &c.zv, 0, nullptr, &c.dvv, &c.dwv, nullptr),
                       {"argument 'dout' is required"});
    }
    {  // a real tensor of (re, im) pairs where a complex one belongs
        CauchyCall c;
        std::vector<float> pairs(12);
        c.vv = cpu_view(pairs.data(), HS_DTYPE_FLOAT32, {2, 3, 2});
        expect_invalid(c.forward(), {"argument 'v'", "(H, N) complex", "(2, 3, 2) float32", "view_as_complex"});
        c.vv = cpu_view(pairs.data(), HS_DTYPE_FLOAT32, {2, 3});
        expect_invalid(c.forward(), {"argument 'v' must have dtype complex64 or complex128, got float32"});
    }
    {
        CauchyCall c;
        c.vv.rank = 3;
        c.vv.sizes[2] = 1;
        expect_invalid(c.forward(), {"argument 'v' must have rank 2 (H, N) complex", "complex64"});
    }
    {
        CauchyCall c;
        c.wv = cpu_view(c.w.data(), HS_DTYPE_COMPLEX64, {3, 2});
        expect_invalid(c.forward(), {"argument 'w' must have shape (2, 3) (H, N) complex", "got (3, 2) complex64"});
    }
    {
        CauchyCall c;
        std::vector<std::complex<double>> wide(6);
        c.wv = cpu_view(wide.data(), HS_DTYPE_COMPLEX128, {2, 3});
        expect_invalid(c.forward(), {"argument 'w' must have dtype complex64 like 'v', got complex128"});
    }
    {
        CauchyCall c;
        c.zv = cpu_view(c.z.data(), HS_DTYPE_COMPLEX64, {1, 5});
        expect_invalid(c.forward(), {"argument 'z' must have rank 1 (L) complex", "(1, 5) complex64"});
    }
    {
        CauchyCall c;
        c.ov = cpu_view(c.out.data(), HS_DTYPE_COMPLEX64, {5, 2});
        expect_invalid(c.forward(), {"argument 'out' must have shape (2, 5)", "got (5, 2) complex64"});
        c.ov = cpu_view(c.out.data(), HS_DTYPE_FLOAT32, {2, 5});
        expect_invalid(c.forward(), {"argument 'out' must have dtype complex64 like 'v', got float32"});
    }
    {
        CauchyCall c;
        c.conjugate = 2;
        expect_invalid(c.forward(), {"argument 'conjugate_symmetric' must be 0 or 1, got 2"});
        expect_invalid(c.backward(), {"argument 'conjugate_symmetric' must be 0 or 1, got 2"});
    }
    {
        CauchyCall c;
        c.ov = cpu_view(c.v.data(), HS_DTYPE_COMPLEX64, {1, 5});  // out overlapping v's memory
        c.zv = cpu_view(c.z.data(), HS_DTYPE_COMPLEX64, {5});
        c.vv = cpu_view(c.v.data(), HS_DTYPE_COMPLEX64, {1, 3});
        c.wv = cpu_view(c.w.data(), HS_DTYPE_COMPLEX64, {1, 3});
        expect_invalid(c.forward(), {"argument 'out' overlaps the memory of argument 'v'"});
    }
    {
        CauchyCall c;
        c.dwv = cpu_view(c.dw.data(), HS_DTYPE_COMPLEX64, {2, 2});
        expect_invalid(c.backward(), {"argument 'dw' must have shape (2, 3)"});
        CauchyCall d;
        d.ov = cpu_view(d.out.data(), HS_DTYPE_COMPLEX64, {2, 4});
        expect_invalid(d.backward(), {"argument 'dout' must have shape (2, 5)"});
        CauchyCall e;
        e.dvv = e.dwv;  // the two gradients in one buffer
        expect_invalid(e.backward(), {"argument 'dw' overlaps the memory of argument 'dv'"});
    }
    {
        CauchyCall c;
        c.vv.strides[0] = 1;
        c.vv.strides[1] = 2;
        expect_invalid(c.forward(), {"argument 'v' must be row-major contiguous"});
    }
}

struct VandermondeCall {
    std::vector<std::complex<double>> v = std::vector<std::complex<double>>(6), x = v,
                                      out = std::vector<std::complex<double>>(10), dv = v, dx = v;
    std::vector<double> real_out = std::vector<double>(10);
    hs_tensor vv = cpu_view(v.data(), HS_DTYPE_COMPLEX128, {2, 3}), xv = cpu_view(x.data(), HS_DTYPE_COMPLEX128, {2, 3}),
              ov = cpu_view(out.data(), HS_DTYPE_COMPLEX128, {2, 5}),
              rv = cpu_view(real_out.data(), HS_DTYPE_FLOAT64, {2, 5}),
              dvv = cpu_view(dv.data(), HS_DTYPE_COMPLEX128, {2, 3}), dxv = cpu_view(dx.data(), HS_DTYPE_COMPLEX128, {2, 3});
};

TEST(S4KernelsValidation, VandermondeNamesEveryBadArgument) {
    VandermondeCall c;
    ASSERT_EQ(hs_vandermonde_forward(&c.vv, &c.xv, 0, &c.ov, nullptr), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_vandermonde_forward(&c.vv, &c.xv, 1, &c.rv, nullptr), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_vandermonde_backward(&c.vv, &c.xv, 0, &c.ov, &c.dvv, &c.dxv, nullptr), HS_OK) << hs_last_error();
    ASSERT_EQ(hs_vandermonde_backward(&c.vv, &c.xv, 1, &c.rv, &c.dvv, nullptr, nullptr), HS_OK) << hs_last_error();

    expect_invalid(hs_vandermonde_forward(nullptr, &c.xv, 0, &c.ov, nullptr), {"argument 'v' is required"});
    expect_invalid(hs_vandermonde_forward(&c.vv, nullptr, 0, &c.ov, nullptr), {"argument 'x' is required"});
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, 0, nullptr, nullptr), {"argument 'out' is required"});
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, -1, &c.ov, nullptr),
                   {"argument 'conjugate_symmetric' must be 0 or 1, got -1"});
    // The conjugate-symmetric sum is real; the plain one complex.
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, 1, &c.ov, nullptr),
                   {"argument 'out' must have dtype float64 (the real dtype of 'v', complex128), got complex128"});
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, 0, &c.rv, nullptr),
                   {"argument 'out' must have dtype complex128 like 'v', got float64"});
    expect_invalid(hs_vandermonde_backward(&c.vv, &c.xv, 1, &c.ov, &c.dvv, &c.dxv, nullptr),
                   {"argument 'dout' must have dtype float64"});
    hs_tensor bad_x = cpu_view(c.x.data(), HS_DTYPE_COMPLEX128, {3, 2});
    expect_invalid(hs_vandermonde_forward(&c.vv, &bad_x, 0, &c.ov, nullptr),
                   {"argument 'x' must have shape (2, 3) (H, N) complex", "got (3, 2) complex128"});
    hs_tensor flat_out = cpu_view(c.out.data(), HS_DTYPE_COMPLEX128, {10});
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, 0, &flat_out, nullptr),
                   {"argument 'out' must have rank 2 (H, L) complex", "(10,) complex128"});
    hs_tensor wrong_rows = cpu_view(c.out.data(), HS_DTYPE_COMPLEX128, {5, 2});
    expect_invalid(hs_vandermonde_forward(&c.vv, &c.xv, 0, &wrong_rows, nullptr),
                   {"argument 'out' must have shape (2, 2)", "with H = 2 from 'v'", "got (5, 2) complex128"});
    hs_tensor bad_dx = cpu_view(c.dx.data(), HS_DTYPE_COMPLEX64, {2, 3});
    expect_invalid(hs_vandermonde_backward(&c.vv, &c.xv, 0, &c.ov, &c.dvv, &bad_dx, nullptr),
                   {"argument 'dx' must have dtype complex128 like 'v', got complex64"});
    hs_tensor aliased = cpu_view(c.x.data(), HS_DTYPE_COMPLEX128, {2, 3});
    expect_invalid(hs_vandermonde_backward(&c.vv, &c.xv, 0, &c.ov, &aliased, nullptr, nullptr),
                   {"argument 'dv' overlaps the memory of argument 'x'"});
    hs_tensor bad_dtype = c.vv;
    bad_dtype.dtype = 6;
    expect_invalid(hs_vandermonde_forward(&bad_dtype, &c.xv, 0, &c.ov, nullptr),
                   {"argument 'v' must have an hs_dtype in [0, 5], got 6"});
}

// ---- the complex dtypes in the ABI ----------------------------------------------------------------------------

TEST(ComplexDtypes, OpsOnRealTensorsRefuseComplexOnesByName) {
    std::vector<std::complex<float>> x(6), w(6), y(4);
    const hs_tensor xv = cpu_view(x.data(), HS_DTYPE_COMPLEX64, {2, 3});
    const hs_tensor wv = cpu_view(w.data(), HS_DTYPE_COMPLEX64, {2, 3});
    const hs_tensor yv = cpu_view(y.data(), HS_DTYPE_COMPLEX64, {2, 2});
    expect_invalid(hs_linear_forward(&xv, &wv, nullptr, &yv, nullptr),
                   {"argument 'x' must have dtype float32 or float64, got complex64"});

    std::vector<float> xr(6), wr(6), yr(4);
    const hs_tensor xrv = cpu_view(xr.data(), HS_DTYPE_FLOAT32, {2, 3});
    const hs_tensor wrv = cpu_view(wr.data(), HS_DTYPE_FLOAT32, {2, 3});
    const hs_tensor yrv = cpu_view(yr.data(), HS_DTYPE_FLOAT32, {2, 2});
    expect_invalid(hs_linear_forward(&xrv, &wv, nullptr, &yrv, nullptr),
                   {"argument 'w' must have dtype float32 like 'x', got complex64"});
    ASSERT_EQ(hs_linear_forward(&xrv, &wrv, nullptr, &yrv, nullptr), HS_OK) << hs_last_error();

    // The selective scan's primary 'u'.
    std::vector<std::complex<double>> u(2 * 3 * 4);
    hs_selective_scan_inputs inputs{};
    const hs_tensor uv = cpu_view(u.data(), HS_DTYPE_COMPLEX128, {2, 3, 4});
    inputs.u = &uv;
    const hs_tensor out = cpu_view(u.data(), HS_DTYPE_COMPLEX128, {2, 3, 4});
    expect_invalid(hs_selective_scan_forward(&inputs, &out, nullptr, nullptr, nullptr),
                   {"argument 'u' must have dtype float32 or float64, got complex128"});
}

TEST(ComplexDtypes, ElementSizesAreTwoRealsAndStridesCountElements) {
    // complex128 (2, 3) with a stride of 3 elements per row is contiguous; in bytes it is 48 per row.
    std::vector<std::complex<double>> v(6), x(6), out(2 * 4);
    const hs_tensor vv = cpu_view(v.data(), HS_DTYPE_COMPLEX128, {2, 3});
    const hs_tensor xv = cpu_view(x.data(), HS_DTYPE_COMPLEX128, {2, 3});
    hs_tensor ov = cpu_view(out.data(), HS_DTYPE_COMPLEX128, {2, 4});
    EXPECT_EQ(ov.strides[0], 4);
    ASSERT_EQ(hs_vandermonde_forward(&vv, &xv, 0, &ov, nullptr), HS_OK) << hs_last_error();
    // A view whose byte count overflows int64 only at 16 bytes per element is refused as a complex128.
    hs_tensor huge = vv;
    huge.sizes[0] = int64_t(1) << 30;
    huge.sizes[1] = int64_t(1) << 30;  // 2^60 elements: 2^64 bytes
    huge.strides[0] = huge.sizes[1];
    expect_invalid(hs_vandermonde_forward(&huge, &xv, 0, &ov, nullptr),
                   {"argument 'v' has shape", "elements of complex128 are more bytes than int64 can index"});
}

}  // namespace
}  // namespace hs_test
