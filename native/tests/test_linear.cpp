// The dense projection hs_linear_forward / hs_linear_backward (CPU) against a plain double triple-loop reference
// written from hybridseq.h: y = x W^T + b; dx = dy W, dw = dy^T x, db = column sums of dy. Covers float32 and float64
// over odd and tail sizes, with and without bias; each optional gradient skipped in turn; outputs overwritten (they
// start as NaN / +-1e30); inputs left untouched; bitwise independence of the OpenMP thread count; the validating
// shim's statuses and messages; and zero-size M, K and N.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "rnn_test_support.h"
#include "scan_test_support.h"

namespace hs_test {
namespace {

struct LinearSize {
    int64_t M, K, N;
};

std::string describe(const LinearSize& size) {
    return "M=" + std::to_string(size.M) + " K=" + std::to_string(size.K) + " N=" + std::to_string(size.N);
}

// Together these hit every M in {1, 5, 6, 7, 97, 300}, K in {1, 3, 16, 17, 257, 600} and N in
// {1, 15, 16, 17, 33, 1030}, with the largest case M=300, K=600, N=1030 and tails on every dimension. The last three
// are deep, narrow products whose depth the kernel cuts into slices summed afterwards (linear_cpu_kernels.h): dw of
// M=2500 (2 slices) and M=4100 (4 slices), and the forward of K=2100 (2 slices, bias added after the slices).
const LinearSize kSizes[] = {
    {1, 1, 1},    {5, 3, 15},     {6, 16, 16},   {7, 17, 17},  {97, 257, 33}, {300, 600, 1030}, {1, 600, 1030},
    {5, 257, 1},  {6, 1, 1030},   {7, 3, 33},    {97, 17, 16}, {300, 16, 15}, {300, 1, 17},
    {2500, 33, 40}, {4100, 7, 130}, {40, 2100, 33},
};

template <typename T>
constexpr int32_t dtype_of() {
    return std::is_same_v<T, float> ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
}

template <typename T>
const char* dtype_text() {
    return std::is_same_v<T, float> ? "float32" : "float64";
}

// Relative tolerance per dtype, against the sum of |terms| of each output element.
template <typename T>
constexpr double tolerance_of() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

size_t count_of(int64_t a, int64_t b = 1) { return static_cast<size_t>(a * b); }

// Inputs in double; a float32 problem holds values already rounded through float, so the double reference sees
// exactly the numbers the kernel sees.
struct LinearProblem {
    LinearSize size{};
    std::vector<double> x, w, b, dy;  // (M, K), (N, K), (N), (M, N)
};

LinearProblem make_linear_problem(const LinearSize& size, bool round_to_float, uint32_t seed) {
    LinearProblem p;
    p.size = size;
    p.x = random_vector(count_of(size.M, size.K), -1.0, 1.0, seed);
    p.w = random_vector(count_of(size.N, size.K), -1.0, 1.0, seed + 1);
    p.b = random_vector(count_of(size.N), -1.0, 1.0, seed + 2);
    p.dy = random_vector(count_of(size.M, size.N), -1.0, 1.0, seed + 3);
    if (round_to_float) {
        for (std::vector<double>* v : {&p.x, &p.w, &p.b, &p.dy}) {
            for (double& value : *v) value = static_cast<double>(static_cast<float>(value));
        }
    }
    return p;
}

// The exact result (in double) and, per element, the sum of |terms| that the tolerance scales with.
struct Reference {
    std::vector<double> value, scale;
};

Reference reference_forward(const LinearProblem& p, bool bias) {
    const int64_t M = p.size.M, K = p.size.K, N = p.size.N;
    Reference r;
    r.value.assign(count_of(M, N), 0.0);
    r.scale.assign(count_of(M, N), 0.0);
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
            double sum = bias ? p.b[count_of(n)] : 0.0;
            double scale = bias ? std::abs(p.b[count_of(n)]) : 0.0;
            for (int64_t k = 0; k < K; ++k) {
                const double term = p.x[count_of(m * K + k)] * p.w[count_of(n * K + k)];
                sum += term;
                scale += std::abs(term);
            }
            r.value[count_of(m * N + n)] = sum;
            r.scale[count_of(m * N + n)] = scale;
        }
    }
    return r;
}

// dx[m, k] = sum_n dy[m, n] w[n, k]
Reference reference_dx(const LinearProblem& p) {
    const int64_t M = p.size.M, K = p.size.K, N = p.size.N;
    Reference r;
    r.value.assign(count_of(M, K), 0.0);
    r.scale.assign(count_of(M, K), 0.0);
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
            const double d = p.dy[count_of(m * N + n)];
            for (int64_t k = 0; k < K; ++k) {
                const double term = d * p.w[count_of(n * K + k)];
                r.value[count_of(m * K + k)] += term;
                r.scale[count_of(m * K + k)] += std::abs(term);
            }
        }
    }
    return r;
}

// dw[n, k] = sum_m dy[m, n] x[m, k]
Reference reference_dw(const LinearProblem& p) {
    const int64_t M = p.size.M, K = p.size.K, N = p.size.N;
    Reference r;
    r.value.assign(count_of(N, K), 0.0);
    r.scale.assign(count_of(N, K), 0.0);
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
            const double d = p.dy[count_of(m * N + n)];
            for (int64_t k = 0; k < K; ++k) {
                const double term = d * p.x[count_of(m * K + k)];
                r.value[count_of(n * K + k)] += term;
                r.scale[count_of(n * K + k)] += std::abs(term);
            }
        }
    }
    return r;
}

// db[n] = sum_m dy[m, n]
Reference reference_db(const LinearProblem& p) {
    const int64_t M = p.size.M, N = p.size.N;
    Reference r;
    r.value.assign(count_of(N), 0.0);
    r.scale.assign(count_of(N), 0.0);
    for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
            r.value[count_of(n)] += p.dy[count_of(m * N + n)];
            r.scale[count_of(n)] += std::abs(p.dy[count_of(m * N + n)]);
        }
    }
    return r;
}

// Every |actual - expected| <= tol * scale (the sum of |terms| of that element; an element with no terms must be
// exact). NaN fails. On failure reports the worst element as (row, col) of a matrix with `cols` columns.
void expect_matches(const std::string& what, const std::vector<double>& actual, const Reference& expected,
                    int64_t cols, double tol) {
    ASSERT_EQ(actual.size(), expected.value.size()) << what;
    size_t bad = 0, worst = 0;
    double worst_ratio = -1.0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double error = std::abs(actual[i] - expected.value[i]);
        const double bound = tol * expected.scale[i];
        if (error <= bound) continue;
        ++bad;
        double ratio = bound > 0.0 ? error / bound : std::numeric_limits<double>::infinity();
        if (std::isnan(ratio)) ratio = std::numeric_limits<double>::infinity();
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (bad > 0) {
        const size_t c = static_cast<size_t>(cols > 0 ? cols : 1);
        ADD_FAILURE() << what << ": " << bad << " of " << actual.size() << " elements out of tolerance; worst ("
                      << worst / c << ", " << worst % c << ") expected " << std::setprecision(17)
                      << expected.value[worst] << " got " << actual[worst] << " |error| "
                      << std::abs(actual[worst] - expected.value[worst]) << " > " << tol << " * "
                      << expected.scale[worst];
    }
}

// NaN, +1e30, -1e30, ... : whatever an output held before the call must not survive it.
template <typename T>
void fill_garbage(std::vector<T>& values) {
    for (size_t i = 0; i < values.size(); ++i) {
        values[i] = i % 3 == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(i % 3 == 1 ? 1e30 : -1e30);
    }
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& values) {
    return std::vector<double>(values.begin(), values.end());
}

// -1 when a and b hold the same bytes, else the first differing element (or the smaller size).
template <typename T>
int64_t first_difference(const std::vector<T>& a, const std::vector<T>& b) {
    if (a.size() != b.size()) return static_cast<int64_t>(std::min(a.size(), b.size()));
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
    }
    return -1;
}

// Typed copies of a problem's inputs and their views.
template <typename T>
struct TypedInputs {
    std::vector<T> x, w, b, dy;
    hs_tensor x_v, w_v, b_v, dy_v;

    explicit TypedInputs(const LinearProblem& p)
        : x(p.x.begin(), p.x.end()), w(p.w.begin(), p.w.end()), b(p.b.begin(), p.b.end()),
          dy(p.dy.begin(), p.dy.end()) {
        const int64_t M = p.size.M, K = p.size.K, N = p.size.N;
        x_v = cpu_view(x.data(), dtype_of<T>(), {M, K});
        w_v = cpu_view(w.data(), dtype_of<T>(), {N, K});
        b_v = cpu_view(b.data(), dtype_of<T>(), {N});
        dy_v = cpu_view(dy.data(), dtype_of<T>(), {M, N});
    }

    // The inputs are const: a call must leave every byte as it was.
    void expect_unchanged(const LinearProblem& p) const {
        const TypedInputs<T> original(p);
        EXPECT_EQ(first_difference(x, original.x), -1) << "x was modified";
        EXPECT_EQ(first_difference(w, original.w), -1) << "w was modified";
        EXPECT_EQ(first_difference(b, original.b), -1) << "b was modified";
        EXPECT_EQ(first_difference(dy, original.dy), -1) << "dy was modified";
    }
};

// hs_linear_forward on typed copies, y pre-filled with garbage; fails the current test on a non-OK status.
template <typename T>
std::vector<T> run_linear_forward(const LinearProblem& p, bool bias) {
    TypedInputs<T> in(p);
    std::vector<T> y(count_of(p.size.M, p.size.N));
    fill_garbage(y);
    const hs_tensor y_v = cpu_view(y.data(), dtype_of<T>(), {p.size.M, p.size.N});
    const hs_status status = hs_linear_forward(&in.x_v, &in.w_v, bias ? &in.b_v : nullptr, &y_v, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_status_name(status) << ": " << hs_last_error();
    in.expect_unchanged(p);
    return y;
}

template <typename T>
struct TypedGrads {
    std::vector<T> dx, dw, db;
};

// hs_linear_backward with the chosen outputs (the others NULL), each pre-filled with garbage.
template <typename T>
TypedGrads<T> run_linear_backward(const LinearProblem& p, bool want_dx, bool want_dw, bool want_db) {
    const int64_t M = p.size.M, K = p.size.K, N = p.size.N;
    TypedInputs<T> in(p);
    TypedGrads<T> g;
    g.dx.resize(count_of(M, K));
    g.dw.resize(count_of(N, K));
    g.db.resize(count_of(N));
    fill_garbage(g.dx);
    fill_garbage(g.dw);
    fill_garbage(g.db);
    const hs_tensor dx_v = cpu_view(g.dx.data(), dtype_of<T>(), {M, K});
    const hs_tensor dw_v = cpu_view(g.dw.data(), dtype_of<T>(), {N, K});
    const hs_tensor db_v = cpu_view(g.db.data(), dtype_of<T>(), {N});
    const hs_status status = hs_linear_backward(&in.x_v, &in.w_v, &in.dy_v, want_dx ? &dx_v : nullptr,
                                                want_dw ? &dw_v : nullptr, want_db ? &db_v : nullptr, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_status_name(status) << ": " << hs_last_error();
    in.expect_unchanged(p);
    return g;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Forward against the reference
// ---------------------------------------------------------------------------------------------------------------

template <typename T>
void check_forward_over_sizes() {
    uint32_t seed = std::is_same_v<T, float> ? 1000 : 2000;
    for (const LinearSize& size : kSizes) {
        const LinearProblem problem = make_linear_problem(size, std::is_same_v<T, float>, seed);
        seed += 10;
        for (bool bias : {false, true}) {
            SCOPED_TRACE(describe(size) + " " + dtype_text<T>() + (bias ? " with bias" : " without bias"));
            const Reference expected = reference_forward(problem, bias);
            const std::vector<T> y = run_linear_forward<T>(problem, bias);
            expect_matches("y", to_double(y), expected, size.N, tolerance_of<T>());
        }
    }
}

TEST(LinearForward, Float32MatchesReference) { check_forward_over_sizes<float>(); }

TEST(LinearForward, Float64MatchesReference) { check_forward_over_sizes<double>(); }

// The reference and the tolerance can tell a wrong answer: a swapped w layout (w read as (K, N)) or a missing bias
// must fail the comparison, so a pass above means something.
TEST(LinearForward, ComparisonDetectsWrongAnswers) {
    const LinearProblem p = make_linear_problem({7, 17, 17}, false, 42);
    const Reference expected = reference_forward(p, true);
    LinearProblem transposed = p;
    for (int64_t n = 0; n < 17; ++n) {
        for (int64_t k = 0; k < 17; ++k) transposed.w[count_of(n * 17 + k)] = p.w[count_of(k * 17 + n)];
    }
    ::testing::TestPartResultArray failures;
    {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
        expect_matches("w transposed", reference_forward(transposed, true).value, expected, 17, 1e-5);
        expect_matches("no bias", reference_forward(p, false).value, expected, 17, 1e-5);
        std::vector<double> nudged = expected.value;
        nudged[5] *= 1.0 + 1e-9;  // a tiny error in one element is still caught at the float64 tolerance
        expect_matches("nudged", nudged, expected, 17, 1e-12);
    }
    EXPECT_EQ(failures.size(), 3);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Backward against the reference; each optional output NULL in turn; outputs overwritten
// ---------------------------------------------------------------------------------------------------------------

struct GradCase {
    const char* name;
    bool dx, dw, db;
};
const GradCase kGradCases[] = {{"all", true, true, true},        {"dx NULL", false, true, true},
                               {"dw NULL", true, false, true},   {"db NULL", true, true, false},
                               {"only db", false, false, true},  {"all NULL", false, false, false}};

template <typename T>
void check_backward_over_sizes() {
    uint32_t seed = std::is_same_v<T, float> ? 3000 : 4000;
    for (const LinearSize& size : kSizes) {
        const LinearProblem problem = make_linear_problem(size, std::is_same_v<T, float>, seed);
        seed += 10;
        const Reference dx = reference_dx(problem), dw = reference_dw(problem), db = reference_db(problem);
        for (const GradCase& c : kGradCases) {
            SCOPED_TRACE(describe(size) + " " + dtype_text<T>() + " outputs: " + c.name);
            const TypedGrads<T> g = run_linear_backward<T>(problem, c.dx, c.dw, c.db);
            if (c.dx) expect_matches("dx", to_double(g.dx), dx, size.K, tolerance_of<T>());
            if (c.dw) expect_matches("dw", to_double(g.dw), dw, size.K, tolerance_of<T>());
            if (c.db) expect_matches("db", to_double(g.db), db, size.N, tolerance_of<T>());
        }
    }
}

TEST(LinearBackward, Float32MatchesReference) { check_backward_over_sizes<float>(); }

TEST(LinearBackward, Float64MatchesReference) { check_backward_over_sizes<double>(); }

// Two backward calls into the same buffers give the same result (overwrite, not accumulate), and a forward into a y
// that already holds a result does not add to it.
TEST(LinearBackward, RepeatedCallsOverwriteRatherThanAccumulate) {
    const LinearProblem p = make_linear_problem({6, 17, 33}, false, 77);
    TypedInputs<double> in(p);
    std::vector<double> y(6 * 33), dx(6 * 17), dw(33 * 17), db(33);
    const hs_tensor y_v = cpu_view(y.data(), HS_DTYPE_FLOAT64, {6, 33});
    const hs_tensor dx_v = cpu_view(dx.data(), HS_DTYPE_FLOAT64, {6, 17});
    const hs_tensor dw_v = cpu_view(dw.data(), HS_DTYPE_FLOAT64, {33, 17});
    const hs_tensor db_v = cpu_view(db.data(), HS_DTYPE_FLOAT64, {33});
    for (int call = 0; call < 2; ++call) {
        SCOPED_TRACE("call " + std::to_string(call + 1));
        ASSERT_EQ(hs_linear_forward(&in.x_v, &in.w_v, &in.b_v, &y_v, nullptr), HS_OK) << hs_last_error();
        ASSERT_EQ(hs_linear_backward(&in.x_v, &in.w_v, &in.dy_v, &dx_v, &dw_v, &db_v, nullptr), HS_OK)
            << hs_last_error();
        expect_matches("y", y, reference_forward(p, true), 33, 1e-12);
        expect_matches("dx", dx, reference_dx(p), 17, 1e-12);
        expect_matches("dw", dw, reference_dw(p), 17, 1e-12);
        expect_matches("db", db, reference_db(p), 33, 1e-12);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Bitwise independence of the OpenMP thread count
// ---------------------------------------------------------------------------------------------------------------

class OmpThreadsGuard {
public:
    OmpThreadsGuard() : saved_(omp_get_max_threads()) {}
    ~OmpThreadsGuard() { omp_set_num_threads(saved_); }

private:
    int saved_;
};

template <typename T>
void check_thread_independence() {
    // Large sizes, so that every product and the column sums of db (M * N = 309000) are big enough to be split across
    // threads, plus small and tail sizes that a kernel may keep on the calling thread.
    const LinearSize sizes[] = {{97, 257, 1030}, {300, 17, 1030}, {300, 600, 33}, {7, 17, 1030}, {300, 16, 15},
                                {5, 600, 1},     {4100, 7, 130},  {40, 2100, 33}};
    uint32_t seed = 5000;
    for (const LinearSize& size : sizes) {
        const LinearProblem problem = make_linear_problem(size, std::is_same_v<T, float>, seed);
        seed += 10;
        std::vector<T> y1;
        TypedGrads<T> g1;
        for (int threads : {1, 2, 3}) {
            SCOPED_TRACE(describe(size) + " " + dtype_text<T>() + " threads=" + std::to_string(threads));
            omp_set_num_threads(threads);
            ASSERT_EQ(omp_get_max_threads(), threads);
            const std::vector<T> y = run_linear_forward<T>(problem, true);
            const TypedGrads<T> g = run_linear_backward<T>(problem, true, true, true);
            if (threads == 1) {
                y1 = y;
                g1 = g;
                // The single-thread result is itself right, so that equal bits mean equal right answers.
                expect_matches("y", to_double(y), reference_forward(problem, true), size.N, tolerance_of<T>());
                continue;
            }
            EXPECT_EQ(first_difference(y, y1), -1) << "y differs from the 1-thread result";
            EXPECT_EQ(first_difference(g.dx, g1.dx), -1) << "dx differs from the 1-thread result";
            EXPECT_EQ(first_difference(g.dw, g1.dw), -1) << "dw differs from the 1-thread result";
            EXPECT_EQ(first_difference(g.db, g1.db), -1) << "db differs from the 1-thread result";
        }
    }
}

TEST(LinearThreads, Float32BitwiseIndependentOfThreadCount) {
    OmpThreadsGuard guard;
    check_thread_independence<float>();
}

TEST(LinearThreads, Float64BitwiseIndependentOfThreadCount) {
    OmpThreadsGuard guard;
    check_thread_independence<double>();
}

// ---------------------------------------------------------------------------------------------------------------
// 4. The validating shim: statuses and messages
// ---------------------------------------------------------------------------------------------------------------

// A valid float32 call (M = 3, K = 5, N = 4 unless given) with every optional tensor. Every buffer has slack past
// its view, so a view that claims more elements than it should (a wrong shape or stride under test) never reads or
// writes outside memory even if the shim let it through.
struct ValidLinearCall {
    static constexpr size_t kSlack = 256;
    int64_t M, K, N;
    std::vector<float> x, w, b, y, dy, dx, dw, db;
    hs_tensor x_v, w_v, b_v, y_v, dy_v, dx_v, dw_v, db_v;

    explicit ValidLinearCall(int64_t m = 3, int64_t k = 5, int64_t n = 4) : M(m), K(k), N(n) {
        auto alloc = [](std::vector<float>& v, const std::vector<int64_t>& shape, float value) {
            v.assign(element_product(shape) + kSlack, value);
            return cpu_view(v.data(), HS_DTYPE_FLOAT32, shape);
        };
        x_v = alloc(x, {M, K}, 0.5f);
        w_v = alloc(w, {N, K}, 0.25f);
        b_v = alloc(b, {N}, 1.0f);
        y_v = alloc(y, {M, N}, 0.0f);
        dy_v = alloc(dy, {M, N}, 1.0f);
        dx_v = alloc(dx, {M, K}, 0.0f);
        dw_v = alloc(dw, {N, K}, 0.0f);
        db_v = alloc(db, {N}, 0.0f);
    }

    hs_status forward() const { return hs_linear_forward(&x_v, &w_v, &b_v, &y_v, nullptr); }
    hs_status backward() const { return hs_linear_backward(&x_v, &w_v, &dy_v, &dx_v, &dw_v, &db_v, nullptr); }
};

// Runs `call`, expects `status` and a message containing every fragment of `all_of` and at least one of `any_of`
// (when given).
void expect_error(const std::function<hs_status()>& call, hs_status status, const std::vector<std::string>& all_of,
                  const std::vector<std::string>& any_of = {}) {
    const hs_status got = call();
    EXPECT_EQ(got, status) << "expected " << hs_status_name(status) << ", got " << hs_status_name(got) << ": "
                           << hs_last_error();
    const std::string message = hs_last_error();
    for (const std::string& fragment : all_of) {
        EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message << "\nmissing: " << fragment;
    }
    if (!any_of.empty()) {
        bool found = false;
        std::string wanted;
        for (const std::string& fragment : any_of) {
            found = found || message.find(fragment) != std::string::npos;
            wanted += (wanted.empty() ? "" : " or ") + fragment;
        }
        EXPECT_TRUE(found) << "message: " << message << "\nmissing any of: " << wanted;
    }
}

const std::string kForward = "hs_linear_forward";
const std::string kBackward = "hs_linear_backward";

TEST(LinearValidation, ValidCallsSucceedAndClearTheLastError) {
    ValidLinearCall call;
    // Leave an error behind, then a valid call must clear it.
    EXPECT_EQ(hs_linear_forward(nullptr, &call.w_v, nullptr, &call.y_v, nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(hs_last_error(), "");
    ASSERT_EQ(call.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    // y = 5 * 0.5 * 0.25 + 1 everywhere.
    for (size_t i = 0; i < 12; ++i) EXPECT_EQ(call.y[i], 1.625f) << i;
    EXPECT_EQ(call.y[12], 0.0f) << "wrote past y";

    EXPECT_EQ(hs_linear_backward(&call.x_v, &call.w_v, nullptr, &call.dx_v, nullptr, nullptr, nullptr),
              HS_ERR_INVALID_ARGUMENT);
    EXPECT_STRNE(hs_last_error(), "");
    ASSERT_EQ(call.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    for (size_t i = 0; i < 15; ++i) EXPECT_EQ(call.dx[i], 1.0f) << i;  // 4 * 1 * 0.25
    for (size_t i = 0; i < 20; ++i) EXPECT_EQ(call.dw[i], 1.5f) << i;  // 3 * 1 * 0.5
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(call.db[i], 3.0f) << i;
    EXPECT_EQ(call.dx[15], 0.0f) << "wrote past dx";
    EXPECT_EQ(call.dw[20], 0.0f) << "wrote past dw";
    EXPECT_EQ(call.db[4], 0.0f) << "wrote past db";
}

TEST(LinearValidation, NullRequiredArguments) {
    ValidLinearCall c;
    expect_error([&] { return hs_linear_forward(nullptr, &c.w_v, &c.b_v, &c.y_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kForward, "'x'", "NULL"});
    expect_error([&] { return hs_linear_forward(&c.x_v, nullptr, &c.b_v, &c.y_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kForward, "'w'", "NULL"});
    expect_error([&] { return hs_linear_forward(&c.x_v, &c.w_v, &c.b_v, nullptr, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kForward, "'y'", "NULL"});
    expect_error([&] { return hs_linear_backward(nullptr, &c.w_v, &c.dy_v, &c.dx_v, &c.dw_v, &c.db_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kBackward, "'x'", "NULL"});
    expect_error([&] { return hs_linear_backward(&c.x_v, nullptr, &c.dy_v, &c.dx_v, &c.dw_v, &c.db_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kBackward, "'w'", "NULL"});
    expect_error([&] { return hs_linear_backward(&c.x_v, &c.w_v, nullptr, &c.dx_v, &c.dw_v, &c.db_v, nullptr); },
                 HS_ERR_INVALID_ARGUMENT, {kBackward, "'dy'", "NULL"});
    EXPECT_EQ(c.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

TEST(LinearValidation, ShapesAreChecked) {
    {
        ValidLinearCall c;
        c.x_v = cpu_view(c.x.data(), HS_DTYPE_FLOAT32, {1, 3, 5});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'x'", "rank"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'x'", "rank"});
    }
    {
        ValidLinearCall c;
        c.x_v = cpu_view(c.x.data(), HS_DTYPE_FLOAT32, {15});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'x'", "rank"});
    }
    {
        ValidLinearCall c;
        c.w_v = cpu_view(c.w.data(), HS_DTYPE_FLOAT32, {20});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'w'"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'w'"});
    }
    {
        // K mismatch: x (3, 5), w (4, 6).
        ValidLinearCall c;
        c.w_v = cpu_view(c.w.data(), HS_DTYPE_FLOAT32, {4, 6});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward}, {"'w'", "'x'"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward}, {"'w'", "'x'"});
    }
    {
        // w passed as (K, N) = (5, 4) instead of (N, K): K mismatch again.
        ValidLinearCall c;
        c.w_v = cpu_view(c.w.data(), HS_DTYPE_FLOAT32, {5, 4});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward}, {"'w'", "'x'"});
    }
    {
        ValidLinearCall c;
        c.y_v = cpu_view(c.y.data(), HS_DTYPE_FLOAT32, {3, 5});  // N wrong
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'y'", "(3, 4)", "(3, 5)"});
    }
    {
        ValidLinearCall c;
        c.y_v = cpu_view(c.y.data(), HS_DTYPE_FLOAT32, {2, 4});  // M wrong
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'y'", "(3, 4)", "(2, 4)"});
    }
    {
        ValidLinearCall c;
        c.y_v = cpu_view(c.y.data(), HS_DTYPE_FLOAT32, {12});  // rank wrong
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'y'"});
    }
    {
        ValidLinearCall c;
        c.b_v = cpu_view(c.b.data(), HS_DTYPE_FLOAT32, {3});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'b'", "(4,)", "(3,)"});
        c.b_v = cpu_view(c.b.data(), HS_DTYPE_FLOAT32, {5});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'b'", "(5,)"});
        c.b_v = cpu_view(c.b.data(), HS_DTYPE_FLOAT32, {1, 4});
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'b'"});
    }
    {
        ValidLinearCall c;
        c.dy_v = cpu_view(c.dy.data(), HS_DTYPE_FLOAT32, {3, 5});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dy'", "(3, 4)"});
        c.dy_v = cpu_view(c.dy.data(), HS_DTYPE_FLOAT32, {4, 4});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dy'", "(3, 4)"});
    }
    {
        ValidLinearCall c;
        c.dx_v = cpu_view(c.dx.data(), HS_DTYPE_FLOAT32, {3, 4});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dx'", "(3, 5)"});
    }
    {
        ValidLinearCall c;
        c.dw_v = cpu_view(c.dw.data(), HS_DTYPE_FLOAT32, {5, 4});  // transposed
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dw'", "(4, 5)"});
    }
    {
        ValidLinearCall c;
        c.db_v = cpu_view(c.db.data(), HS_DTYPE_FLOAT32, {5});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'db'", "(4,)"});
    }
    ValidLinearCall c;
    EXPECT_EQ(c.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

TEST(LinearValidation, DtypesAreChecked) {
    {
        // float32 x with float64 w.
        ValidLinearCall c;
        c.w_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'w'", "float64"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'w'", "float64"});
    }
    {
        ValidLinearCall c;
        c.b_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'b'", "float64"});
    }
    {
        ValidLinearCall c;
        c.y_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'y'", "float64"});
    }
    {
        ValidLinearCall c;
        c.dy_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dy'", "float64"});
    }
    {
        ValidLinearCall c;
        c.dw_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dw'", "float64"});
        c.dw_v.dtype = HS_DTYPE_FLOAT32;
        c.db_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'db'", "float64"});
        c.db_v.dtype = HS_DTYPE_FLOAT32;
        c.dx_v.dtype = HS_DTYPE_FLOAT64;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dx'", "float64"});
    }
    {
        // Integer dtypes are not float tensors.
        ValidLinearCall c;
        c.x_v.dtype = HS_DTYPE_INT64;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'x'", "int64"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'x'", "int64"});
    }
    {
        // All int32: still rejected (not a dtype mix).
        ValidLinearCall c;
        for (hs_tensor* v : {&c.x_v, &c.w_v, &c.b_v, &c.y_v}) v->dtype = HS_DTYPE_INT32;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "int32"});
    }
    {
        ValidLinearCall c;
        c.x_v.dtype = 9;  // not an hs_dtype
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'x'"});
    }
    ValidLinearCall c;
    EXPECT_EQ(c.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

// CPU only: a CUDA tensor is a valid request this op does not serve, in every build (CUDA or not) and for both
// dtypes. The data pointers are host memory that the shim must not touch.
TEST(LinearValidation, CudaTensorsAreUnsupported) {
    for (int32_t dtype : {HS_DTYPE_FLOAT32, HS_DTYPE_FLOAT64}) {
        SCOPED_TRACE(dtype == HS_DTYPE_FLOAT32 ? "float32" : "float64");
        ValidLinearCall c;
        for (hs_tensor* v : {&c.x_v, &c.w_v, &c.b_v, &c.y_v, &c.dy_v, &c.dx_v, &c.dw_v, &c.db_v}) {
            v->device_type = HS_DEVICE_CUDA;
            v->dtype = dtype;
        }
        expect_error([&] { return c.forward(); }, HS_ERR_UNSUPPORTED, {kForward, "'x'", "cuda"});
        expect_error([&] { return c.backward(); }, HS_ERR_UNSUPPORTED, {kBackward, "'x'", "cuda"});
    }
    {
        // Only x on CUDA.
        ValidLinearCall c;
        c.x_v.device_type = HS_DEVICE_CUDA;
        expect_error([&] { return c.forward(); }, HS_ERR_UNSUPPORTED, {kForward, "'x'", "cuda"});
    }
    ValidLinearCall c;
    EXPECT_EQ(c.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

TEST(LinearValidation, StridesMustBeContiguous) {
    {
        ValidLinearCall c;
        c.x_v.strides[0] = 10;  // padded rows
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'x'", "contiguous"});
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'x'", "contiguous"});
    }
    {
        // w^T handed over as a column-major (N, K) view.
        ValidLinearCall c;
        c.w_v.strides[0] = 1;
        c.w_v.strides[1] = 4;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'w'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.b_v.strides[0] = 2;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'b'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.y_v.strides[0] = 8;
        c.y_v.strides[1] = 2;
        expect_error([&] { return c.forward(); }, HS_ERR_INVALID_ARGUMENT, {kForward, "'y'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.dy_v.strides[1] = 2;
        c.dy_v.strides[0] = 8;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dy'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.dx_v.strides[0] = 6;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dx'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.dw_v.strides[0] = 1;
        c.dw_v.strides[1] = 4;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'dw'", "contiguous"});
    }
    {
        ValidLinearCall c;
        c.db_v.strides[0] = 3;
        expect_error([&] { return c.backward(); }, HS_ERR_INVALID_ARGUMENT, {kBackward, "'db'", "contiguous"});
    }
    ValidLinearCall c;
    EXPECT_EQ(c.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

// With K == N the aliased views have the right shapes, so the alias is the only thing wrong.
TEST(LinearValidation, ForbiddenAliasingIsRejected) {
    {
        ValidLinearCall c(3, 4, 4);
        const hs_tensor y_on_x = cpu_view(c.x.data(), HS_DTYPE_FLOAT32, {3, 4});
        expect_error([&] { return hs_linear_forward(&c.x_v, &c.w_v, &c.b_v, &y_on_x, nullptr); },
                     HS_ERR_INVALID_ARGUMENT, {kForward, "'y'"});
        for (size_t i = 0; i < 12; ++i) ASSERT_EQ(c.x[i], 0.5f) << "x was written through the alias";
    }
    {
        ValidLinearCall c(3, 4, 4);
        const hs_tensor dx_on_dy = cpu_view(c.dy.data(), HS_DTYPE_FLOAT32, {3, 4});
        expect_error(
            [&] { return hs_linear_backward(&c.x_v, &c.w_v, &c.dy_v, &dx_on_dy, &c.dw_v, &c.db_v, nullptr); },
            HS_ERR_INVALID_ARGUMENT, {kBackward, "'dx'"});
        for (size_t i = 0; i < 12; ++i) ASSERT_EQ(c.dy[i], 1.0f) << "dy was written through the alias";
        // dx alone (no dw, db) aliasing dy is just as wrong.
        expect_error([&] { return hs_linear_backward(&c.x_v, &c.w_v, &c.dy_v, &dx_on_dy, nullptr, nullptr, nullptr); },
                     HS_ERR_INVALID_ARGUMENT, {kBackward, "'dx'"});
    }
    ValidLinearCall c(3, 4, 4);
    EXPECT_EQ(c.forward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    EXPECT_EQ(c.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

// Each failure replaces the previous message (nothing accumulates), and a success clears it.
TEST(LinearValidation, LastErrorIsPerCall) {
    ValidLinearCall c;
    c.b_v = cpu_view(c.b.data(), HS_DTYPE_FLOAT32, {3});
    ASSERT_EQ(c.forward(), HS_ERR_INVALID_ARGUMENT);
    const std::string first = hs_last_error();
    EXPECT_NE(first.find(kForward), std::string::npos) << first;
    // A second, different failure replaces the message rather than appending to it.
    ValidLinearCall d;
    d.dw_v = cpu_view(d.dw.data(), HS_DTYPE_FLOAT32, {5, 4});
    ASSERT_EQ(d.backward(), HS_ERR_INVALID_ARGUMENT);
    const std::string second = hs_last_error();
    EXPECT_NE(second.find(kBackward), std::string::npos) << second;
    EXPECT_EQ(second.find(kForward), std::string::npos) << second;
    EXPECT_EQ(second.find("'b'"), std::string::npos) << second;
    ValidLinearCall ok;
    EXPECT_EQ(ok.backward(), HS_OK) << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Zero sizes (zero-size matmul semantics); empty views have NULL data, which the header allows
// ---------------------------------------------------------------------------------------------------------------

template <typename T>
const T* data_or_null(const std::vector<T>& v) {
    return v.empty() ? nullptr : v.data();
}

// Runs forward (with and without bias) and backward (every output) for a size with a zero dimension, against the
// reference (which gives y = b or 0, and zero sums for empty reductions); every non-empty output starts as garbage.
template <typename T>
void check_empty_size(const LinearSize& size) {
    SCOPED_TRACE(describe(size) + " " + dtype_text<T>());
    const LinearProblem p = make_linear_problem(size, std::is_same_v<T, float>, 6000);
    const int64_t M = size.M, K = size.K, N = size.N;
    const std::vector<T> x(p.x.begin(), p.x.end()), w(p.w.begin(), p.w.end()), b(p.b.begin(), p.b.end()),
        dy(p.dy.begin(), p.dy.end());
    const hs_tensor x_v = cpu_view(data_or_null(x), dtype_of<T>(), {M, K});
    const hs_tensor w_v = cpu_view(data_or_null(w), dtype_of<T>(), {N, K});
    const hs_tensor b_v = cpu_view(data_or_null(b), dtype_of<T>(), {N});
    const hs_tensor dy_v = cpu_view(data_or_null(dy), dtype_of<T>(), {M, N});
    for (bool bias : {false, true}) {
        SCOPED_TRACE(bias ? "with bias" : "without bias");
        std::vector<T> y(count_of(M, N));
        fill_garbage(y);
        const hs_tensor y_v = cpu_view(data_or_null(y), dtype_of<T>(), {M, N});
        const hs_status status = hs_linear_forward(&x_v, &w_v, bias ? &b_v : nullptr, &y_v, nullptr);
        EXPECT_EQ(status, HS_OK) << hs_status_name(status) << ": " << hs_last_error();
        EXPECT_STREQ(hs_last_error(), "");
        expect_matches("y", to_double(y), reference_forward(p, bias), N, 0.0);
    }
    std::vector<T> dx(count_of(M, K)), dw(count_of(N, K)), db(count_of(N));
    fill_garbage(dx);
    fill_garbage(dw);
    fill_garbage(db);
    const hs_tensor dx_v = cpu_view(data_or_null(dx), dtype_of<T>(), {M, K});
    const hs_tensor dw_v = cpu_view(data_or_null(dw), dtype_of<T>(), {N, K});
    const hs_tensor db_v = cpu_view(data_or_null(db), dtype_of<T>(), {N});
    const hs_status status = hs_linear_backward(&x_v, &w_v, &dy_v, &dx_v, &dw_v, &db_v, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_status_name(status) << ": " << hs_last_error();
    EXPECT_STREQ(hs_last_error(), "");
    // Tolerance 0 where a dimension of the reduction is 0 (the answer is an exact 0); db is an honest sum when only K
    // is 0.
    expect_matches("dx", to_double(dx), reference_dx(p), K, N == 0 ? 0.0 : tolerance_of<T>());
    expect_matches("dw", to_double(dw), reference_dw(p), K, M == 0 ? 0.0 : tolerance_of<T>());
    expect_matches("db", to_double(db), reference_db(p), N, M == 0 ? 0.0 : tolerance_of<T>());
}

// M = 0: forward is a no-op; backward gives dw = 0 and db = 0 (sums over no rows), dx empty.
TEST(LinearEmpty, ZeroRows) {
    check_empty_size<float>({0, 5, 4});
    check_empty_size<double>({0, 17, 33});
}

// K = 0: y = b (or 0); dx and dw are empty; db is still the column sums of dy.
TEST(LinearEmpty, ZeroInputFeatures) {
    check_empty_size<float>({3, 0, 4});
    check_empty_size<double>({7, 0, 17});
}

// N = 0: y, b, dw, db empty; dx = dy w = 0 (a sum over no outputs).
TEST(LinearEmpty, ZeroOutputFeatures) {
    check_empty_size<float>({3, 5, 0});
    check_empty_size<double>({7, 17, 0});
}

TEST(LinearEmpty, AllZero) {
    check_empty_size<float>({0, 0, 0});
    check_empty_size<double>({0, 3, 0});
}

}  // namespace
}  // namespace hs_test
