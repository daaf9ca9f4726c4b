#include "scan_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <type_traits>

namespace hs_test {

hs_tensor cpu_view(const void* data, int32_t dtype, const std::vector<int64_t>& shape) {
    hs_tensor view{};
    view.data = const_cast<void*>(data);
    view.dtype = dtype;
    view.device_type = HS_DEVICE_CPU;
    view.device_index = 0;
    view.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int i = view.rank - 1; i >= 0; --i) {
        view.sizes[i] = shape[static_cast<size_t>(i)];
        view.strides[i] = stride;
        // Tests build views of impossible sizes on purpose (the shims must refuse them): the product wraps like
        // unsigned arithmetic instead of being undefined behaviour.
        stride = static_cast<int64_t>(static_cast<uint64_t>(stride) * static_cast<uint64_t>(shape[static_cast<size_t>(i)]));
    }
    return view;
}

std::string ScanConfig::describe() const {
    std::ostringstream text;
    text << "Bt=" << batch << " Dm=" << dim << " G=" << groups << " N=" << dstate << " L=" << seqlen
         << " B=" << (b_varying ? "varying" : "const") << " C=" << (c_varying ? "varying" : "const")
         << " D=" << has_D << " z=" << has_z << " bias=" << has_delta_bias << " softplus=" << softplus
         << " h0=" << has_h0 << " lengths=" << has_lengths;
    return text.str();
}

std::vector<int64_t> ScanProblem::sequence_shape() const {
    return {config.batch, config.dim, config.seqlen};
}
std::vector<int64_t> ScanProblem::state_shape() const { return {config.batch, config.dim, config.dstate}; }
std::vector<int64_t> ScanProblem::b_shape() const {
    return config.b_varying ? std::vector<int64_t>{config.batch, config.groups, config.dstate, config.seqlen}
                            : std::vector<int64_t>{config.dim, config.dstate};
}
std::vector<int64_t> ScanProblem::c_shape() const {
    return config.c_varying ? std::vector<int64_t>{config.batch, config.groups, config.dstate, config.seqlen}
                            : std::vector<int64_t>{config.dim, config.dstate};
}
std::vector<int64_t> ScanProblem::checkpoints_shape() const {
    return {config.batch, config.dim, hs_selective_scan_num_chunks(config.seqlen), config.dstate};
}

namespace {

std::vector<double> round_to_float(const std::vector<double>& values) {
    std::vector<double> rounded(values.size());
    std::transform(values.begin(), values.end(), rounded.begin(),
                   [](double v) { return static_cast<double>(static_cast<float>(v)); });
    return rounded;
}

size_t product(const std::vector<int64_t>& shape) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    return static_cast<size_t>(count);
}

template <typename T>
constexpr int32_t dtype_of() {
    return std::is_same_v<T, float> ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
}

template <typename T>
std::vector<T> to_typed(const std::vector<double>& values) {
    return std::vector<T>(values.begin(), values.end());
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& values) {
    return std::vector<double>(values.begin(), values.end());
}

// Typed copies of a problem's inputs, and the views that point at them.
template <typename T>
struct TypedInputs {
    std::vector<T> u, delta, A, B, C, D, z, delta_bias, h0;
    hs_tensor u_view{}, delta_view{}, A_view{}, B_view{}, C_view{}, D_view{}, z_view{}, delta_bias_view{},
        h0_view{}, lengths_view{};
    hs_selective_scan_inputs inputs{};

    explicit TypedInputs(const ScanProblem& problem)
        : u(to_typed<T>(problem.u)),
          delta(to_typed<T>(problem.delta)),
          A(to_typed<T>(problem.A)),
          B(to_typed<T>(problem.B)),
          C(to_typed<T>(problem.C)),
          D(to_typed<T>(problem.D)),
          z(to_typed<T>(problem.z)),
          delta_bias(to_typed<T>(problem.delta_bias)),
          h0(to_typed<T>(problem.h0)) {
        const ScanConfig& c = problem.config;
        const int32_t dtype = dtype_of<T>();
        u_view = cpu_view(u.data(), dtype, problem.sequence_shape());
        delta_view = cpu_view(delta.data(), dtype, problem.sequence_shape());
        A_view = cpu_view(A.data(), dtype, {c.dim, c.dstate});
        B_view = cpu_view(B.data(), dtype, problem.b_shape());
        C_view = cpu_view(C.data(), dtype, problem.c_shape());
        D_view = cpu_view(D.data(), dtype, {c.dim});
        z_view = cpu_view(z.data(), dtype, problem.sequence_shape());
        delta_bias_view = cpu_view(delta_bias.data(), dtype, {c.dim});
        h0_view = cpu_view(h0.data(), dtype, problem.state_shape());
        lengths_view = cpu_view(problem.lengths.data(), HS_DTYPE_INT64, {c.batch});
        inputs.u = &u_view;
        inputs.delta = &delta_view;
        inputs.A = &A_view;
        inputs.B = &B_view;
        inputs.C = &C_view;
        inputs.D = c.has_D ? &D_view : nullptr;
        inputs.z = c.has_z ? &z_view : nullptr;
        inputs.delta_bias = c.has_delta_bias ? &delta_bias_view : nullptr;
        inputs.h0 = c.has_h0 ? &h0_view : nullptr;
        inputs.lengths = c.has_lengths ? &lengths_view : nullptr;
        inputs.delta_softplus = c.softplus ? 1 : 0;
    }
    TypedInputs(const TypedInputs&) = delete;
    TypedInputs& operator=(const TypedInputs&) = delete;
};

}  // namespace

ScanProblem ScanProblem::rounded_to_float() const {
    ScanProblem rounded = *this;
    for (std::vector<double>* v : {&rounded.u, &rounded.delta, &rounded.A, &rounded.B, &rounded.C, &rounded.D,
                                   &rounded.z, &rounded.delta_bias, &rounded.h0}) {
        *v = round_to_float(*v);
    }
    return rounded;
}

std::vector<double> random_vector(size_t count, double low, double high, uint32_t seed) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<double> distribution(low, high);
    std::vector<double> values(count);
    for (double& v : values) v = distribution(generator);
    return values;
}

ScanProblem make_problem(const ScanConfig& config, uint32_t seed) {
    ScanProblem p;
    p.config = config;
    const size_t seq = product(p.sequence_shape());
    p.u = random_vector(seq, -1.0, 1.0, seed + 1);
    // Without softplus the raw delta (+ bias) is the step size, so keep it positive as in real models.
    p.delta = config.softplus ? random_vector(seq, -2.0, 1.0, seed + 2) : random_vector(seq, 0.01, 0.5, seed + 2);
    p.A = random_vector(static_cast<size_t>(config.dim * config.dstate), -2.0, -0.1, seed + 3);
    p.B = random_vector(product(p.b_shape()), -1.0, 1.0, seed + 4);
    p.C = random_vector(product(p.c_shape()), -1.0, 1.0, seed + 5);
    p.D = random_vector(static_cast<size_t>(config.dim), -1.0, 1.0, seed + 6);
    p.z = random_vector(seq, -2.0, 2.0, seed + 7);
    p.delta_bias = random_vector(static_cast<size_t>(config.dim), 0.0, 0.2, seed + 8);
    p.h0 = random_vector(product(p.state_shape()), -1.0, 1.0, seed + 9);
    p.lengths.resize(static_cast<size_t>(config.batch));
    for (int64_t b = 0; b < config.batch; ++b) {
        // A full row, a half row, an empty row, then the pattern again.
        const int64_t pattern[3] = {config.seqlen, config.seqlen / 2, 0};
        p.lengths[static_cast<size_t>(b)] = pattern[b % 3];
    }
    return p;
}

ScanForwardResult reference_forward(const ScanProblem& p) {
    const ScanConfig& c = p.config;
    const int64_t L = c.seqlen, N = c.dstate, K = hs_selective_scan_num_chunks(L);
    const int64_t per_group = c.dim / c.groups;
    ScanForwardResult r;
    r.out.assign(product(p.sequence_shape()), 0.0);
    r.h_last.assign(product(p.state_shape()), 0.0);
    r.checkpoints.assign(product(p.checkpoints_shape()), 0.0);
    for (int64_t b = 0; b < c.batch; ++b) {
        const int64_t length = c.has_lengths ? p.lengths[static_cast<size_t>(b)] : L;
        for (int64_t d = 0; d < c.dim; ++d) {
            const int64_t g = d / per_group;
            const size_t row = static_cast<size_t>((b * c.dim + d) * L);
            std::vector<double> h(static_cast<size_t>(N), 0.0);
            if (c.has_h0) {
                for (int64_t n = 0; n < N; ++n) h[n] = p.h0[static_cast<size_t>((b * c.dim + d) * N + n)];
            }
            for (int64_t t = 0; t < L; ++t) {
                if (t % HS_SELECTIVE_SCAN_CHUNK == 0) {
                    for (int64_t n = 0; n < N; ++n) {
                        r.checkpoints[static_cast<size_t>(((b * c.dim + d) * K + t / HS_SELECTIVE_SCAN_CHUNK) * N +
                                                          n)] = h[n];
                    }
                }
                if (t >= length) continue;  // frozen state, zero output
                double dt = p.delta[row + t] + (c.has_delta_bias ? p.delta_bias[d] : 0.0);
                if (c.softplus) dt = dt > 20.0 ? dt : std::log1p(std::exp(dt));
                double y = 0.0;
                for (int64_t n = 0; n < N; ++n) {
                    const double Bv = c.b_varying ? p.B[static_cast<size_t>(((b * c.groups + g) * N + n) * L + t)]
                                                  : p.B[static_cast<size_t>(d * N + n)];
                    const double Cv = c.c_varying ? p.C[static_cast<size_t>(((b * c.groups + g) * N + n) * L + t)]
                                                  : p.C[static_cast<size_t>(d * N + n)];
                    h[n] = std::exp(dt * p.A[static_cast<size_t>(d * N + n)]) * h[n] + dt * Bv * p.u[row + t];
                    y += Cv * h[n];
                }
                if (c.has_D) y += p.D[d] * p.u[row + t];
                if (c.has_z) {
                    const double zt = p.z[row + t];
                    y *= zt / (1.0 + std::exp(-zt));
                }
                r.out[row + t] = y;
            }
            for (int64_t n = 0; n < N; ++n) r.h_last[static_cast<size_t>((b * c.dim + d) * N + n)] = h[n];
        }
    }
    // An empty sequence (L = 0) still has one checkpoint: the initial state.
    if (L == 0) {
        for (size_t i = 0; i < r.checkpoints.size(); ++i) r.checkpoints[i] = c.has_h0 ? p.h0[i] : 0.0;
    }
    return r;
}

template <typename T>
ScanForwardResult run_forward(const ScanProblem& problem) {
    TypedInputs<T> in(problem);
    std::vector<T> out(product(problem.sequence_shape()));
    std::vector<T> h_last(product(problem.state_shape()));
    std::vector<T> checkpoints(product(problem.checkpoints_shape()));
    const hs_tensor out_view = cpu_view(out.data(), dtype_of<T>(), problem.sequence_shape());
    const hs_tensor h_last_view = cpu_view(h_last.data(), dtype_of<T>(), problem.state_shape());
    const hs_tensor checkpoints_view = cpu_view(checkpoints.data(), dtype_of<T>(), problem.checkpoints_shape());
    const hs_status status = hs_selective_scan_forward(&in.inputs, &out_view, &h_last_view, &checkpoints_view, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    return {to_double(out), to_double(h_last), to_double(checkpoints)};
}

template <typename T>
ScanGradients run_backward(const ScanProblem& problem, const std::vector<double>& dout,
                           const std::vector<double>& dh_last) {
    const ScanConfig& c = problem.config;
    TypedInputs<T> in(problem);
    const int32_t dtype = dtype_of<T>();
    std::vector<T> out(product(problem.sequence_shape()));
    std::vector<T> checkpoints(product(problem.checkpoints_shape()));
    const hs_tensor out_view = cpu_view(out.data(), dtype, problem.sequence_shape());
    const hs_tensor checkpoints_view = cpu_view(checkpoints.data(), dtype, problem.checkpoints_shape());
    EXPECT_EQ(hs_selective_scan_forward(&in.inputs, &out_view, nullptr, &checkpoints_view, nullptr), HS_OK)
        << hs_last_error();

    const std::vector<T> dout_typed = to_typed<T>(dout);
    const std::vector<T> dh_last_typed = to_typed<T>(dh_last);
    const hs_tensor dout_view = cpu_view(dout_typed.data(), dtype, problem.sequence_shape());
    const hs_tensor dh_last_view = cpu_view(dh_last_typed.data(), dtype, problem.state_shape());

    // Gradients start as NaN so that an element the kernel forgets to write shows up.
    const T poison = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> du(in.u.size(), poison), ddelta(in.delta.size(), poison), dA(in.A.size(), poison),
        dB(in.B.size(), poison), dC(in.C.size(), poison), dD(in.D.size(), poison), dz(in.z.size(), poison),
        ddelta_bias(in.delta_bias.size(), poison), dh0(product(problem.state_shape()), poison);
    const hs_tensor du_view = cpu_view(du.data(), dtype, problem.sequence_shape());
    const hs_tensor ddelta_view = cpu_view(ddelta.data(), dtype, problem.sequence_shape());
    const hs_tensor dA_view = cpu_view(dA.data(), dtype, {c.dim, c.dstate});
    const hs_tensor dB_view = cpu_view(dB.data(), dtype, problem.b_shape());
    const hs_tensor dC_view = cpu_view(dC.data(), dtype, problem.c_shape());
    const hs_tensor dD_view = cpu_view(dD.data(), dtype, {c.dim});
    const hs_tensor dz_view = cpu_view(dz.data(), dtype, problem.sequence_shape());
    const hs_tensor ddelta_bias_view = cpu_view(ddelta_bias.data(), dtype, {c.dim});
    const hs_tensor dh0_view = cpu_view(dh0.data(), dtype, problem.state_shape());
    hs_selective_scan_grads grads{};
    grads.du = &du_view;
    grads.ddelta = &ddelta_view;
    grads.dA = &dA_view;
    grads.dB = &dB_view;
    grads.dC = &dC_view;
    grads.dD = c.has_D ? &dD_view : nullptr;
    grads.dz = c.has_z ? &dz_view : nullptr;
    grads.ddelta_bias = c.has_delta_bias ? &ddelta_bias_view : nullptr;
    grads.dh0 = &dh0_view;
    const hs_status status = hs_selective_scan_backward(&in.inputs, &checkpoints_view, &dout_view,
                                                        dh_last.empty() ? nullptr : &dh_last_view, &grads, 0,
                                                        nullptr, nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    ScanGradients result{to_double(du), to_double(ddelta), to_double(dA), to_double(dB), to_double(dC),
                         {}, {}, {}, to_double(dh0)};
    if (c.has_D) result.dD = to_double(dD);
    if (c.has_z) result.dz = to_double(dz);
    if (c.has_delta_bias) result.ddelta_bias = to_double(ddelta_bias);
    return result;
}

double worst_error_ratio(const std::vector<double>& actual, const std::vector<double>& expected, double atol,
                         double rtol) {
    EXPECT_EQ(actual.size(), expected.size());
    double worst = 0.0;
    for (size_t i = 0; i < std::min(actual.size(), expected.size()); ++i) {
        const double ratio = std::abs(actual[i] - expected[i]) / (atol + rtol * std::abs(expected[i]));
        // NaN compares false: treat it as the worst possible error.
        worst = std::isnan(ratio) ? std::numeric_limits<double>::infinity() : std::max(worst, ratio);
    }
    return worst;
}

template ScanForwardResult run_forward<float>(const ScanProblem&);
template ScanForwardResult run_forward<double>(const ScanProblem&);
template ScanGradients run_backward<float>(const ScanProblem&, const std::vector<double>&, const std::vector<double>&);
template ScanGradients run_backward<double>(const ScanProblem&, const std::vector<double>&,
                                            const std::vector<double>&);

}  // namespace hs_test
