// Times the CPU fused recurrence through the C API (float32): the inference forward (y and s_last only), the training
// forward (also states and cache) and the backward. Not a test; prints median milliseconds.
//   hybridseq_cpu_rnn_bench [cell batch steps hidden heads [repeats]]   (default lstm 16 1024 256 1 5)
//   cell: lstm | gru | slstm
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_support.h"
#include "hybridseq.h"

using hs_bench::exit_on_error;
using hs_bench::host_view;
using hs_bench::median_wall_ms;
using hs_bench::random_values;

namespace {

int32_t parse_cell(const char* name) {
    if (std::strcmp(name, "lstm") == 0) return HS_RNN_CELL_LSTM;
    if (std::strcmp(name, "gru") == 0) return HS_RNN_CELL_GRU;
    if (std::strcmp(name, "slstm") == 0) return HS_RNN_CELL_SLSTM;
    std::fprintf(stderr, "unknown cell '%s' (lstm, gru or slstm)\n", name);
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    const char* cell_name = argc > 1 ? argv[1] : "lstm";
    const int32_t cell = parse_cell(cell_name);
    const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 16;
    const int64_t steps = argc > 3 ? std::atoll(argv[3]) : 1024;
    const int64_t hidden = argc > 4 ? std::atoll(argv[4]) : 256;
    const int64_t heads = argc > 5 ? std::atoll(argv[5]) : 1;
    const int repeats = argc > 6 ? std::atoi(argv[6]) : 5;
    int32_t gates = 0, state_count = 0, cache_gates = 0;
    exit_on_error(hs_rnn_cell_info(cell, &gates, &state_count, &cache_gates));
    const int64_t head_dim = hidden / heads, G = gates, S = state_count, C = cache_gates;

    std::vector<float> wx = random_values(steps * batch * G * hidden, -1.0f, 1.0f, 1);
    std::vector<float> R = random_values(heads * G * head_dim * head_dim, -0.1f, 0.1f, 2);
    std::vector<float> b = random_values(G * hidden, -0.1f, 0.1f, 3);
    std::vector<float> y(static_cast<size_t>(steps * batch * hidden)), s_last(static_cast<size_t>(S * batch * hidden));
    std::vector<float> states(static_cast<size_t>((steps + 1) * S * batch * hidden));
    std::vector<float> cache(static_cast<size_t>(steps * batch * C * hidden));
    std::vector<float> dy = random_values(steps * batch * hidden, -1.0f, 1.0f, 4);
    std::vector<float> dwx(wx.size()), dR(R.size()), db(b.size()), ds0(s_last.size());

    const hs_tensor wx_v = host_view(wx.data(), {steps, batch, G * hidden});
    const hs_tensor R_v = host_view(R.data(), {heads, G * head_dim, head_dim});
    const hs_tensor b_v = host_view(b.data(), {G * hidden});
    const hs_tensor y_v = host_view(y.data(), {steps, batch, hidden});
    const hs_tensor s_last_v = host_view(s_last.data(), {S, batch, hidden});
    const hs_tensor states_v = host_view(states.data(), {steps + 1, S, batch, hidden});
    const hs_tensor cache_v = host_view(cache.data(), {steps, batch, C * hidden});
    const hs_tensor dy_v = host_view(dy.data(), {steps, batch, hidden});
    const hs_tensor dwx_v = host_view(dwx.data(), {steps, batch, G * hidden});
    const hs_tensor dR_v = host_view(dR.data(), {heads, G * head_dim, head_dim});
    const hs_tensor db_v = host_view(db.data(), {G * hidden});
    const hs_tensor ds0_v = host_view(ds0.data(), {S, batch, hidden});
    hs_rnn_inputs inputs{};
    inputs.cell = cell;
    inputs.wx = &wx_v;
    inputs.R = &R_v;
    inputs.b = &b_v;
    int64_t workspace_elements = 0;
    exit_on_error(hs_rnn_workspace_elements(&inputs, HS_RNN_PASS_BACKWARD, nullptr, &workspace_elements));
    std::vector<float> workspace(static_cast<size_t>(std::max<int64_t>(workspace_elements, 1)));
    const hs_tensor workspace_v = host_view(workspace.data(), {static_cast<int64_t>(workspace.size())});

    const double inference = median_wall_ms(repeats, [&] {
        exit_on_error(hs_rnn_forward(&inputs, &y_v, &s_last_v, nullptr, nullptr, nullptr, nullptr));
    });
    const double training = median_wall_ms(repeats, [&] {
        exit_on_error(hs_rnn_forward(&inputs, &y_v, &s_last_v, &states_v, &cache_v, nullptr, nullptr));
    });
    const double backward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_rnn_backward(&inputs, &states_v, &cache_v, &dy_v, nullptr, &dwx_v, &dR_v, &db_v, &ds0_v,
                              &workspace_v, nullptr));
    });
    const double flops = 2.0 * static_cast<double>(steps * batch * G * head_dim * head_dim * heads);
    // The library's OpenMP team follows OMP_NUM_THREADS; echo it so that saved results say what they measured.
    const char* threads = std::getenv("OMP_NUM_THREADS");
    std::printf("cpu rnn float32 %s Bt=%lld T=%lld H=%lld NH=%lld OMP_NUM_THREADS=%s (median of %d)\n", cell_name,
                static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(hidden),
                static_cast<long long>(heads), threads != nullptr ? threads : "unset", repeats);
    std::printf("  forward (inference)        %9.2f ms  (%.1f GFLOP/s in R h)\n", inference, flops / inference * 1e-6);
    std::printf("  forward (states + cache)   %9.2f ms\n", training);
    std::printf("  backward                   %9.2f ms\n", backward);
    std::printf("  forward + backward         %9.2f ms\n", training + backward);
    return 0;
}
