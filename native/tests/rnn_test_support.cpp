#include "rnn_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <type_traits>

#include "scan_test_support.h"

namespace hs_test {

int64_t RnnConfig::gates() const { return cell == HS_RNN_CELL_GRU ? 3 : 4; }
int64_t RnnConfig::states() const {
    return cell == HS_RNN_CELL_LSTM ? 2 : (cell == HS_RNN_CELL_GRU ? 1 : 4);
}
int64_t RnnConfig::cache_gates() const { return 4; }

std::string RnnConfig::describe() const {
    static const char* const names[] = {"LSTM", "GRU", "sLSTM"};
    std::ostringstream text;
    text << names[cell] << " T=" << steps << " Bt=" << batch << " NH=" << heads << " DH=" << head_dim
         << " s0=" << has_s0 << " lengths=" << has_lengths << " reverse=" << reverse;
    return text.str();
}

size_t element_product(const std::vector<int64_t>& shape) {
    int64_t count = 1;
    for (int64_t s : shape) count *= s;
    return static_cast<size_t>(count);
}

std::vector<int64_t> RnnProblem::wx_shape() const {
    return {config.steps, config.batch, config.gates() * config.hidden()};
}
std::vector<int64_t> RnnProblem::R_shape() const {
    return {config.heads, config.gates() * config.head_dim, config.head_dim};
}
std::vector<int64_t> RnnProblem::y_shape() const { return {config.steps, config.batch, config.hidden()}; }
std::vector<int64_t> RnnProblem::state_shape() const { return {config.states(), config.batch, config.hidden()}; }
std::vector<int64_t> RnnProblem::states_shape() const {
    return {config.steps + 1, config.states(), config.batch, config.hidden()};
}
std::vector<int64_t> RnnProblem::cache_shape() const {
    return {config.steps, config.batch, config.cache_gates() * config.hidden()};
}

namespace {

std::vector<double> round_to_float(const std::vector<double>& values) {
    std::vector<double> rounded(values.size());
    std::transform(values.begin(), values.end(), rounded.begin(),
                   [](double v) { return static_cast<double>(static_cast<float>(v)); });
    return rounded;
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

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// Typed copies of a problem's inputs and their views, kept alive together.
template <typename T>
struct TypedInputs {
    std::vector<T> wx, R, b, s0;
    hs_tensor wx_v{}, R_v{}, b_v{}, s0_v{}, lengths_v{};
    hs_rnn_inputs inputs{};

    explicit TypedInputs(const RnnProblem& p) : wx(to_typed<T>(p.wx)), R(to_typed<T>(p.R)), b(to_typed<T>(p.b)) {
        const int32_t dtype = dtype_of<T>();
        wx_v = cpu_view(wx.data(), dtype, p.wx_shape());
        R_v = cpu_view(R.data(), dtype, p.R_shape());
        b_v = cpu_view(b.data(), dtype, {p.config.gates() * p.config.hidden()});
        inputs.cell = p.config.cell;
        inputs.reverse = p.config.reverse ? 1 : 0;
        inputs.wx = &wx_v;
        inputs.R = &R_v;
        inputs.b = &b_v;
        if (p.config.has_s0) {
            s0 = to_typed<T>(p.s0);
            s0_v = cpu_view(s0.data(), dtype, p.state_shape());
            inputs.s0 = &s0_v;
        }
        if (p.config.has_lengths) {
            lengths_v = cpu_view(p.lengths.data(), HS_DTYPE_INT64, {p.config.batch});
            inputs.lengths = &lengths_v;
        }
    }
};

// The CPU workspace one pass (hs_rnn_pass) asks for and its view, kept alive together;
// get() is NULL when the pass needs none, as the contract allows.
template <typename T>
class CpuWorkspace {
public:
    CpuWorkspace(const RnnConfig& c, int64_t steps, int32_t pass) {
        int64_t elements = -1;
        EXPECT_EQ(rnn_workspace_for_sizes(HS_DEVICE_CPU, dtype_of<T>(), c.cell, steps, c.batch, c.hidden(), c.heads,
                                          pass, &elements),
                  HS_OK)
            << hs_last_error();
        data_.resize(static_cast<size_t>(std::max<int64_t>(elements, 0)));
        view_ = cpu_view(data_.data(), dtype_of<T>(), {static_cast<int64_t>(data_.size())});
    }
    CpuWorkspace(const CpuWorkspace&) = delete;
    CpuWorkspace& operator=(const CpuWorkspace&) = delete;
    const hs_tensor* get() const { return data_.empty() ? nullptr : &view_; }

private:
    std::vector<T> data_;
    hs_tensor view_{};
};

}  // namespace

RnnProblem RnnProblem::rounded_to_float() const {
    RnnProblem rounded = *this;
    rounded.wx = round_to_float(wx);
    rounded.R = round_to_float(R);
    rounded.b = round_to_float(b);
    rounded.s0 = round_to_float(s0);
    return rounded;
}

RnnProblem make_rnn_problem(const RnnConfig& config, uint32_t seed) {
    RnnProblem p;
    p.config = config;
    const int64_t H = config.hidden(), Bt = config.batch;
    const double r_scale = 1.5 / std::sqrt(static_cast<double>(config.head_dim));
    p.wx = random_vector(element_product(p.wx_shape()), -1.5, 1.5, seed);
    p.R = random_vector(element_product(p.R_shape()), -r_scale, r_scale, seed + 1);
    p.b = random_vector(static_cast<size_t>(config.gates() * H), -0.5, 0.5, seed + 2);
    if (config.has_s0) {
        p.s0 = random_vector(element_product(p.state_shape()), -1.0, 1.0, seed + 3);
        if (config.cell == HS_RNN_CELL_SLSTM) {
            // States (h, c, n, m): the normaliser n is a positive running sum of input-gate values.
            const std::vector<double> n = random_vector(static_cast<size_t>(Bt * H), 0.5, 2.0, seed + 4);
            std::copy(n.begin(), n.end(), p.s0.begin() + 2 * Bt * H);
        }
    }
    if (config.has_lengths) {
        const int64_t T = config.steps;
        const int64_t pattern[] = {T, T / 2, 0, std::max<int64_t>(T - 1, 0), std::min<int64_t>(1, T)};
        for (int64_t b = 0; b < Bt; ++b) p.lengths.push_back(pattern[b % 5]);
    }
    return p;
}

RnnForwardResult reference_rnn_forward(const RnnProblem& problem) {
    const RnnConfig& c = problem.config;
    const int64_t T = c.steps, Bt = c.batch, H = c.hidden(), G = c.gates(), S = c.states(), NH = c.heads,
                  DH = c.head_dim;
    RnnForwardResult r;
    r.y.assign(element_product(problem.y_shape()), 0.0);
    r.s_last.assign(element_product(problem.state_shape()), 0.0);
    r.states.assign(element_product(problem.states_shape()), 0.0);
    auto state_at = [&](std::vector<double>& block, int64_t slot, int64_t b) { return &block[(slot * Bt + b) * H]; };
    for (int64_t b = 0; b < Bt; ++b) {
        const int64_t length = c.has_lengths ? problem.lengths[static_cast<size_t>(b)] : T;
        // state[slot][unit] of this sequence.
        std::vector<std::vector<double>> state(static_cast<size_t>(S), std::vector<double>(H, 0.0));
        if (c.has_s0) {
            for (int64_t slot = 0; slot < S; ++slot) {
                for (int64_t u = 0; u < H; ++u) state[slot][u] = problem.s0[(slot * Bt + b) * H + u];
            }
        }
        const auto initial = state;
        auto save = [&](int64_t index, const std::vector<std::vector<double>>& values) {
            for (int64_t slot = 0; slot < S; ++slot) {
                double* target = &r.states[((index * S + slot) * Bt + b) * H];
                std::copy(values[slot].begin(), values[slot].end(), target);
            }
        };
        save(0, initial);
        for (int64_t s = 0; s < length; ++s) {
            const int64_t t = c.reverse ? length - 1 - s : s;
            // rec[q*H + u] = (R_head h)[gate q, unit] + b: the recurrent part of every gate.
            std::vector<double> rec(static_cast<size_t>(G * H));
            for (int64_t q = 0; q < G; ++q) {
                for (int64_t k = 0; k < NH; ++k) {
                    for (int64_t j = 0; j < DH; ++j) {
                        double sum = problem.b[q * H + k * DH + j];
                        for (int64_t l = 0; l < DH; ++l) {
                            sum += problem.R[(k * G * DH + q * DH + j) * DH + l] * state[0][k * DH + l];
                        }
                        rec[q * H + k * DH + j] = sum;
                    }
                }
            }
            const double* wx = &problem.wx[(t * Bt + b) * G * H];
            for (int64_t u = 0; u < H; ++u) {
                if (c.cell == HS_RNN_CELL_LSTM) {
                    const double i = sigmoid(wx[u] + rec[u]);
                    const double f = sigmoid(wx[H + u] + rec[H + u]);
                    const double g = std::tanh(wx[2 * H + u] + rec[2 * H + u]);
                    const double o = sigmoid(wx[3 * H + u] + rec[3 * H + u]);
                    state[1][u] = f * state[1][u] + i * g;
                    state[0][u] = o * std::tanh(state[1][u]);
                } else if (c.cell == HS_RNN_CELL_GRU) {
                    const double rr = sigmoid(wx[u] + rec[u]);
                    const double z = sigmoid(wx[H + u] + rec[H + u]);
                    const double n = std::tanh(wx[2 * H + u] + rr * rec[2 * H + u]);
                    state[0][u] = (1.0 - z) * n + z * state[0][u];
                } else {
                    const double i_pre = wx[u] + rec[u];
                    const double f_pre = wx[H + u] + rec[H + u];
                    const double z = std::tanh(wx[2 * H + u] + rec[2 * H + u]);
                    const double o = sigmoid(wx[3 * H + u] + rec[3 * H + u]);
                    const double decayed = log_sigmoid(f_pre) + state[3][u];
                    const double m = std::max(decayed, i_pre);
                    const double i = std::exp(i_pre - m);
                    const double f = std::exp(decayed - m);
                    state[1][u] = f * state[1][u] + i * z;
                    state[2][u] = f * state[2][u] + i;
                    state[3][u] = m;
                    state[0][u] = o * state[1][u] / state[2][u];
                }
            }
            std::copy(state[0].begin(), state[0].end(), &r.y[(t * Bt + b) * H]);
            save(t + 1, state);
        }
        for (int64_t t = length; t < T; ++t) save(t + 1, c.reverse ? initial : state);
        for (int64_t slot = 0; slot < S; ++slot) {
            std::copy(state[slot].begin(), state[slot].end(), state_at(r.s_last, slot, b));
        }
    }
    return r;
}

template <typename T>
RnnForwardResult run_rnn_forward(const RnnProblem& problem) {
    TypedInputs<T> in(problem);
    const int32_t dtype = dtype_of<T>();
    std::vector<T> y(element_product(problem.y_shape())), s_last(element_product(problem.state_shape())),
        states(element_product(problem.states_shape())), cache(element_product(problem.cache_shape()));
    const hs_tensor y_v = cpu_view(y.data(), dtype, problem.y_shape());
    const hs_tensor s_last_v = cpu_view(s_last.data(), dtype, problem.state_shape());
    const hs_tensor states_v = cpu_view(states.data(), dtype, problem.states_shape());
    const hs_tensor cache_v = cpu_view(cache.data(), dtype, problem.cache_shape());
    const CpuWorkspace<T> workspace(problem.config, problem.config.steps, HS_RNN_PASS_FORWARD);
    const hs_status status =
        hs_rnn_forward(&in.inputs, &y_v, &s_last_v, &states_v, &cache_v, workspace.get(), nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    return {to_double(y), to_double(s_last), to_double(states), to_double(cache)};
}

template <typename T>
RnnGradients run_rnn_backward(const RnnProblem& problem, const std::vector<double>& dy,
                              const std::vector<double>& ds_last, BackwardWx wx_mode) {
    TypedInputs<T> in(problem);
    const RnnConfig& c = problem.config;
    const int32_t dtype = dtype_of<T>();
    std::vector<T> y(element_product(problem.y_shape())), states(element_product(problem.states_shape())),
        cache(element_product(problem.cache_shape()));
    const hs_tensor y_v = cpu_view(y.data(), dtype, problem.y_shape());
    const hs_tensor states_v = cpu_view(states.data(), dtype, problem.states_shape());
    const hs_tensor cache_v = cpu_view(cache.data(), dtype, problem.cache_shape());
    const CpuWorkspace<T> forward_workspace(c, c.steps, HS_RNN_PASS_FORWARD);
    EXPECT_EQ(hs_rnn_forward(&in.inputs, &y_v, nullptr, &states_v, &cache_v, forward_workspace.get(), nullptr), HS_OK)
        << hs_last_error();

    std::vector<T> dy_t = to_typed<T>(dy), ds_last_t = to_typed<T>(ds_last);
    std::vector<T> dwx(problem.wx.size()), dR(problem.R.size()), db(problem.b.size()),
        ds0(element_product(problem.state_shape()));
    const CpuWorkspace<T> backward_workspace(c, c.steps, HS_RNN_PASS_BACKWARD);
    if (wx_mode == BackwardWx::Null) {
        in.inputs.wx = nullptr;
    } else if (wx_mode == BackwardWx::Garbage) {
        std::fill(in.wx.begin(), in.wx.end(), std::numeric_limits<T>::quiet_NaN());
    }
    const hs_tensor dy_v = cpu_view(dy_t.data(), dtype, problem.y_shape());
    const hs_tensor ds_last_v = cpu_view(ds_last_t.data(), dtype, problem.state_shape());
    const hs_tensor dwx_v = cpu_view(dwx.data(), dtype, problem.wx_shape());
    const hs_tensor dR_v = cpu_view(dR.data(), dtype, problem.R_shape());
    const hs_tensor db_v = cpu_view(db.data(), dtype, {c.gates() * c.hidden()});
    const hs_tensor ds0_v = cpu_view(ds0.data(), dtype, problem.state_shape());
    const hs_status status =
        hs_rnn_backward(&in.inputs, &states_v, &cache_v, &dy_v, ds_last.empty() ? nullptr : &ds_last_v, &dwx_v,
                        &dR_v, &db_v, &ds0_v, backward_workspace.get(), nullptr);
    EXPECT_EQ(status, HS_OK) << hs_last_error();
    return {to_double(dwx), to_double(dR), to_double(db), to_double(ds0)};
}

template <typename T>
RnnForwardResult run_rnn_steps(const RnnProblem& problem) {
    const RnnConfig& c = problem.config;
    const int32_t dtype = dtype_of<T>();
    const int64_t Bt = c.batch, H = c.hidden(), G = c.gates();
    std::vector<T> R = to_typed<T>(problem.R), b = to_typed<T>(problem.b);
    std::vector<T> state = c.has_s0 ? to_typed<T>(problem.s0) : std::vector<T>(element_product(problem.state_shape()));
    const hs_tensor R_v = cpu_view(R.data(), dtype, problem.R_shape());
    const hs_tensor b_v = cpu_view(b.data(), dtype, {G * H});
    const hs_tensor state_v = cpu_view(state.data(), dtype, problem.state_shape());
    const CpuWorkspace<T> workspace(c, 1, HS_RNN_PASS_STEP);  // allocated once, reused by every step
    std::vector<T> y_all;
    for (int64_t t = 0; t < c.steps; ++t) {
        std::vector<T> wx(problem.wx.begin() + t * Bt * G * H, problem.wx.begin() + (t + 1) * Bt * G * H);
        std::vector<T> y(static_cast<size_t>(Bt * H));
        const hs_tensor wx_v = cpu_view(wx.data(), dtype, {Bt, G * H});
        const hs_tensor y_v = cpu_view(y.data(), dtype, {Bt, H});
        hs_rnn_inputs inputs{};
        inputs.cell = c.cell;
        inputs.wx = &wx_v;
        inputs.R = &R_v;
        inputs.b = &b_v;
        EXPECT_EQ(hs_rnn_step(&inputs, &state_v, &y_v, workspace.get(), nullptr), HS_OK) << hs_last_error();
        y_all.insert(y_all.end(), y.begin(), y.end());
    }
    return {to_double(y_all), to_double(state), {}, {}};
}

hs_status rnn_workspace_for_sizes(int32_t device_type, int32_t dtype, int32_t cell, int64_t steps, int64_t batch,
                                  int64_t hidden, int64_t heads, int32_t pass, int64_t* elements) {
    int32_t gates = 0, states = 0, cache_gates = 0;
    if (hs_rnn_cell_info(cell, &gates, &states, &cache_gates) != HS_OK) gates = 4;  // the query reports the cell
    alignas(16) static unsigned char never_read[16];
    auto view = [&](const std::vector<int64_t>& shape) {
        hs_tensor t = cpu_view(never_read, dtype, shape);
        t.device_type = device_type;
        return t;
    };
    const hs_tensor wx = pass == HS_RNN_PASS_STEP ? view({batch, gates * hidden}) : view({steps, batch, gates * hidden});
    const int64_t head_dim = heads > 0 ? hidden / heads : 0;
    const hs_tensor R = view({heads, gates * head_dim, head_dim});
    const hs_tensor b = view({gates * hidden});
    hs_rnn_inputs inputs{};
    inputs.cell = cell;
    inputs.wx = &wx;
    inputs.R = &R;
    inputs.b = &b;
    return hs_rnn_workspace_elements(&inputs, pass, nullptr, elements);
}

template RnnForwardResult run_rnn_forward<float>(const RnnProblem&);
template RnnForwardResult run_rnn_forward<double>(const RnnProblem&);
template RnnGradients run_rnn_backward<float>(const RnnProblem&, const std::vector<double>&,
                                              const std::vector<double>&, BackwardWx);
template RnnGradients run_rnn_backward<double>(const RnnProblem&, const std::vector<double>&,
                                               const std::vector<double>&, BackwardWx);
template RnnForwardResult run_rnn_steps<float>(const RnnProblem&);
template RnnForwardResult run_rnn_steps<double>(const RnnProblem&);

}  // namespace hs_test
