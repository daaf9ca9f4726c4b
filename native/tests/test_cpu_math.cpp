// The CPU kernels' elementary functions (native/src/cpu/cpu_math.h) against long double references, in float and
// double: exp within 1.5 ulp (measured 1.14; std::exp is within 1), expm1 within 2.5 (measured 2.18), sigmoid, tanh,
// log-sigmoid and softplus within 3.5 (measured 2.94), and the scalar form (what the
// selective scan's `omp simd` loops call) bit-identical to the vector form (what the recurrence calls). The header is
// compiled here in the portable form; the library compiles the same source for AVX2 + FMA as well.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/cpu_vector.h"

namespace hs {
namespace math_test {
#include "cpu/cpu_math.h"
}  // namespace math_test
}  // namespace hs

namespace {

using hs::kLanes;
using hs::Vec;

// |got - reference| in units of the spacing of T at the reference (ulp), for finite references.
template <typename T>
double ulp_error(T got, long double reference) {
    if (reference == 0.0L) return got == T(0) ? 0.0 : std::numeric_limits<double>::infinity();
    const long double magnitude = std::fabs(reference);
    // T's spacing at the reference: epsilon scaled to its binade, never below the smallest normal's.
    int exponent = 0;
    std::frexp(static_cast<double>(magnitude), &exponent);
    const int min_exponent = std::numeric_limits<T>::min_exponent;
    const long double spacing =
        std::ldexp(static_cast<long double>(std::numeric_limits<T>::epsilon()), std::max(exponent, min_exponent) - 1);
    return static_cast<double>(std::fabs(static_cast<long double>(got) - reference) / spacing);
}

struct Worst {
    double ulps = 0;
    long double at = 0;
};

// Evaluates `scalar` on `count` points evenly spread over [low, high] and `vector` on the same points a Vec at a
// time; returns the largest ulp error against `reference` and fails the test at the first point where the two forms
// differ in their bits.
template <typename T, typename Scalar, typename Vector, typename Reference>
Worst worst_error(const char* name, T low, T high, int count, Scalar scalar, Vector vector, Reference reference) {
    std::vector<T> points(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) points[static_cast<size_t>(i)] = low + (high - low) * T(i) / T(count - 1);
    Worst worst;
    for (int i = 0; i + kLanes<T> <= count; i += kLanes<T>) {
        Vec<T> x{};
        for (int lane = 0; lane < kLanes<T>; ++lane) x[lane] = points[static_cast<size_t>(i + lane)];
        const Vec<T> y = vector(x);
        for (int lane = 0; lane < kLanes<T>; ++lane) {
            const T point = points[static_cast<size_t>(i + lane)];
            const T from_scalar = scalar(point);
            const T from_vector = y[lane];
            if (std::memcmp(&from_scalar, &from_vector, sizeof(T)) != 0) {
                ADD_FAILURE() << name << "(" << point << "): scalar form gives " << from_scalar
                              << ", vector form " << from_vector;
                return worst;
            }
            const double ulps = ulp_error<T>(from_scalar, reference(static_cast<long double>(point)));
            if (!(ulps <= worst.ulps)) worst = Worst{ulps, static_cast<long double>(point)};
        }
    }
    return worst;
}

long double sigmoid_reference(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double log_sigmoid_reference(long double x) {
    return x < 0 ? x - std::log1p(std::exp(x)) : -std::log1p(std::exp(-x));
}
long double softplus_reference(long double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

template <typename T>
void check_accuracy(T exp_range) {
    constexpr double exp_ulps = 1.5, expm1_ulps = 2.5, composed_ulps = 3.5;
    using namespace hs::math_test;
    constexpr int kPoints = 200003;
    struct Case {
        const char* name;
        Worst worst;
        double allowed;
    };
    const T r = exp_range;
    const Case cases[] = {
        {"exp", worst_error<T>("exp", -r, r, kPoints, [](T x) { return vexp<T>(x); }, [](Vec<T> x) { return vexp<T>(x); },
                               [](long double x) { return std::exp(x); }),
         exp_ulps},
        {"expm1", worst_error<T>("expm1", T(-5), T(5), kPoints, [](T x) { return vexpm1<T>(x); },
                                 [](Vec<T> x) { return vexpm1<T>(x); }, [](long double x) { return std::expm1(x); }),
         expm1_ulps},
        {"sigmoid", worst_error<T>("sigmoid", T(-30), T(30), kPoints, [](T x) { return vsigmoid<T>(x); },
                                   [](Vec<T> x) { return vsigmoid<T>(x); }, sigmoid_reference),
         composed_ulps},
        {"tanh", worst_error<T>("tanh", T(-20), T(20), kPoints, [](T x) { return vtanh<T>(x); },
                                [](Vec<T> x) { return vtanh<T>(x); }, [](long double x) { return std::tanh(x); }),
         composed_ulps},
        {"log_sigmoid", worst_error<T>("log_sigmoid", T(-40), T(40), kPoints, [](T x) { return vlogsigmoid<T>(x); },
                                       [](Vec<T> x) { return vlogsigmoid<T>(x); }, log_sigmoid_reference),
         composed_ulps},
        {"softplus", worst_error<T>("softplus", T(-40), T(40), kPoints, [](T x) { return vsoftplus<T>(x); },
                                    [](Vec<T> x) { return vsoftplus<T>(x); }, softplus_reference),
         composed_ulps},
    };
    for (const Case& c : cases) {
        EXPECT_LE(c.worst.ulps, c.allowed) << c.name << ": " << c.worst.ulps << " ulp at x = "
                                           << static_cast<double>(c.worst.at);
    }
}

TEST(CpuMath, FloatFunctionsAreAccurateAndTheScalarAndVectorFormsAgree) { check_accuracy<float>(87.0f); }

TEST(CpuMath, DoubleFunctionsAreAccurateAndTheScalarAndVectorFormsAgree) { check_accuracy<double>(700.0); }

// Small arguments: tanh and expm1 must keep their relative precision (no 1 - 1 cancellation), since the recurrence
// differentiates through them and the scan's float64 results are the tests' reference.
TEST(CpuMath, TinyArgumentsKeepRelativePrecision) {
    using namespace hs::math_test;
    for (double x : {1e-300, -3e-200, 1e-30, -2e-12, 5e-8, -1e-4}) {
        EXPECT_LE(ulp_error<double>(vtanh<double>(x), std::tanh(static_cast<long double>(x))), 2.0) << "tanh " << x;
        EXPECT_LE(ulp_error<double>(vexpm1<double>(x), std::expm1(static_cast<long double>(x))), 2.0) << "expm1 " << x;
    }
    for (float x : {1e-30f, -2e-12f, 5e-8f, -1e-4f}) {
        EXPECT_LE(ulp_error<float>(vtanh<float>(x), std::tanh(static_cast<long double>(x))), 2.0) << "tanh " << x;
    }
}

// NaN propagates and the clamped range saturates instead of overflowing or producing garbage exponents.
TEST(CpuMath, NanPropagatesAndLargeArgumentsSaturate) {
    using namespace hs::math_test;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    EXPECT_TRUE(std::isnan(vexp<double>(nan)));
    EXPECT_TRUE(std::isnan(vtanh<double>(nan)));
    EXPECT_TRUE(std::isnan(vsigmoid<float>(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_EQ(vtanh<double>(800.0), 1.0);
    EXPECT_EQ(vtanh<float>(-100.0f), -1.0f);
    EXPECT_EQ(vsigmoid<float>(200.0f), 1.0f);
    EXPECT_EQ(vsoftplus<double>(25.0), 25.0);  // torch's threshold: x itself above 20
    EXPECT_GT(vexp<float>(-1000.0f), 0.0f);     // clamped to exp(-87): positive and normal
    EXPECT_LT(vexp<float>(-1000.0f), 1e-37f);
    EXPECT_TRUE(std::isfinite(vexp<double>(5000.0)));
}

}  // namespace
