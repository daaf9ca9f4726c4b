// GPU timing of the CUDA fused recurrence (hs_rnn_*) through the public C API, at the anchor shapes of
// shared/research/perf-anchors.md §2.3 / §3.2: B16 T1024 for LSTM, sLSTM and GRU with dense H256 (NH=1, per-step
// path), NH=4 x DH=64 and H768 as NH=12 x DH=64 (persistent path), float32, allow_tf32 = 0.
//
// For each case it prints one markdown table row: the median of kIterations timed runs (cudaEvents, after kWarmup
// untimed runs) of the forward (saving states and cache, as training does) and of forward + backward, the forward's
// microseconds per step, and the device memory of one fwd + bwd (inputs, outputs, states, cache, gradients,
// workspace; measured with cudaMemGetInfo around the allocations). Targets on H100 / H200 (perf-anchors §3.2; cuDNN
// LSTM B16 T1024 H256 on the H200: fwd 15.6 ms, fwd+bwd 37.2 ms): dense H256 LSTM fwd <= 5 ms, fwd+bwd <= 15 ms;
// NH=4 x 64 fwd <= 2 ms. Without a CUDA device it prints why and exits 0.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "gpu_bench_support.h"
#include "hybridseq.h"

namespace {

using hs_bench::check_cuda;
using hs_bench::check_status;
using hs_bench::DeviceTensor;

constexpr int kWarmup = 3;
constexpr int kIterations = 20;

struct Case {
    int32_t cell;
    const char* cell_name;
    int64_t heads;
    int64_t head_dim;
};

struct Timing {
    double forward_ms = 0.0;
    double forward_backward_ms = 0.0;
    double peak_bytes = 0.0;
};

size_t used_device_bytes() {
    size_t free_bytes = 0, total_bytes = 0;
    check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    return total_bytes - free_bytes;
}

Timing run_case(const Case& c, int64_t batch, int64_t steps) {
    int32_t gates = 0, states = 0, cache_gates = 0;
    check_status(hs_rnn_cell_info(c.cell, &gates, &states, &cache_gates), "hs_rnn_cell_info");
    const int64_t H = c.heads * c.head_dim;
    const size_t used_before = used_device_bytes();
    Timing timing;
    {
        const DeviceTensor wx({steps, batch, gates * H}, -1.0f, 1.0f, 1);
        const float r_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        const DeviceTensor R({c.heads, gates * c.head_dim, c.head_dim}, -r_scale, r_scale, 2);
        const DeviceTensor b({gates * H}, -0.1f, 0.1f, 3);
        const DeviceTensor y({steps, batch, H});
        const DeviceTensor saved_states({steps + 1, states, batch, H});
        const DeviceTensor cache({steps, batch, cache_gates * H});
        const DeviceTensor dy({steps, batch, H}, -1.0f, 1.0f, 4);
        const DeviceTensor dwx({steps, batch, gates * H});
        const DeviceTensor dR({c.heads, gates * c.head_dim, c.head_dim});
        const DeviceTensor db({gates * H});
        // Each pass's scratch, as the library asks for it (the forward's is 0 where the persistent kernel surely fits).
        hs_rnn_inputs inputs{};
        inputs.cell = c.cell;
        inputs.wx = wx.view();
        inputs.R = R.view();
        inputs.b = b.view();
        int64_t forward_workspace_elements = 0, backward_workspace_elements = 0;
        check_status(hs_rnn_workspace_elements(&inputs, HS_RNN_PASS_FORWARD, nullptr, &forward_workspace_elements),
                     "hs_rnn_workspace_elements (forward)");
        check_status(hs_rnn_workspace_elements(&inputs, HS_RNN_PASS_BACKWARD, nullptr, &backward_workspace_elements),
                     "hs_rnn_workspace_elements (backward)");
        const DeviceTensor forward_workspace({forward_workspace_elements});
        const DeviceTensor backward_workspace({backward_workspace_elements});

        auto forward = [&] {
            check_status(hs_rnn_forward(&inputs, y.view(), nullptr, saved_states.view(), cache.view(),
                                        forward_workspace.view(), nullptr),
                         "hs_rnn_forward");
        };
        auto forward_backward = [&] {
            forward();
            check_status(hs_rnn_backward(&inputs, saved_states.view(), cache.view(), dy.view(), nullptr, dwx.view(),
                                         dR.view(), db.view(), nullptr, backward_workspace.view(), nullptr),
                         "hs_rnn_backward");
        };
        timing.forward_ms = hs_bench::median_event_ms(kWarmup, kIterations, forward);
        timing.forward_backward_ms = hs_bench::median_event_ms(kWarmup, kIterations, forward_backward);
        check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        timing.peak_bytes = static_cast<double>(used_device_bytes() - used_before);
    }
    return timing;
}

}  // namespace

int main() {
    int32_t device_count = 0;
    if (hs_cuda_device_count(&device_count) != HS_OK || device_count == 0) {
        std::printf("gpu_rnn_bench: no usable CUDA device (%s); nothing timed\n", hs_cuda_unavailable_reason());
        return 0;
    }
    try {
        hs_device_info info{};
        check_status(hs_cuda_device_info(0, &info), "hs_cuda_device_info");
        const int64_t batch = 16, steps = 1024;
        std::printf("# hs_rnn on %s, B%lld T%lld float32, median of %d runs\n\n", info.name,
                    static_cast<long long>(batch), static_cast<long long>(steps), kIterations);
        std::printf("| cell | NH x DH | H | fwd ms | us / step | fwd+bwd ms | device MiB (fwd+bwd) |\n");
        std::printf("|---|---|---|---|---|---|---|\n");
        const Case cases[] = {
            {HS_RNN_CELL_LSTM, "LSTM", 1, 256},   {HS_RNN_CELL_LSTM, "LSTM", 4, 64},
            {HS_RNN_CELL_LSTM, "LSTM", 12, 64},   {HS_RNN_CELL_SLSTM, "sLSTM", 1, 256},
            {HS_RNN_CELL_SLSTM, "sLSTM", 4, 64},  {HS_RNN_CELL_SLSTM, "sLSTM", 12, 64},
            {HS_RNN_CELL_GRU, "GRU", 1, 256},     {HS_RNN_CELL_GRU, "GRU", 4, 64},
            {HS_RNN_CELL_GRU, "GRU", 12, 64},
        };
        for (const Case& c : cases) {
            const Timing t = run_case(c, batch, steps);
            std::printf("| %s | %lld x %lld | %lld | %.3f | %.2f | %.3f | %.1f |\n", c.cell_name,
                        static_cast<long long>(c.heads), static_cast<long long>(c.head_dim),
                        static_cast<long long>(c.heads * c.head_dim), t.forward_ms, t.forward_ms * 1000.0 / steps,
                        t.forward_backward_ms, t.peak_bytes / (1024.0 * 1024.0));
            std::fflush(stdout);
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "gpu_rnn_bench: %s\n", error.what());
        return 1;
    }
    return 0;
}
