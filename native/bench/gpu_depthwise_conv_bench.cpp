// GPU timing of the CUDA depthwise causal convolution through the public C API at issue 9's shape: Bt 8, D 1536,
// L 2048, K 4 (Mamba's short convolution at d_inner 1536), with bias, with and without SiLU; and a dilated case
// (K 4, dilation 8). For each case one markdown row: the median of kIterations cudaEvent-timed runs of the forward
// and of the backward (after kWarmup), the bytes each must move at least (forward: read x, write y; backward: read
// x and dy, write dx), the bandwidth that gives, and its fraction of a device-to-device cudaMemcpy of x measured in
// the same run (issue goal: forward >= 85%). Without a CUDA device it prints why and exits 0.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu_bench_support.h"
#include "hybridseq.h"

namespace {

using hs_bench::check_cuda;
using hs_bench::check_status;
using hs_bench::DeviceTensor;

constexpr int kWarmup = 5;
constexpr int kIterations = 50;

struct Case {
    int64_t batch, channels, length, width, dilation;
    bool silu;
};

void run_case(const Case& c, double copy_bytes_per_s) {
    const int64_t S = (c.width - 1) * c.dilation;
    const std::vector<int64_t> seq = {c.batch, c.channels, c.length}, state = {c.batch, c.channels, S};
    DeviceTensor x(seq, -1.0f, 1.0f, 1), weight({c.channels, c.width}, -0.5f, 0.5f, 2),
        bias({c.channels}, -0.1f, 0.1f, 3), y(seq), final_state(state), dy(seq, -1.0f, 1.0f, 4), dx(seq),
        dweight({c.channels, c.width}), dbias({c.channels}), d_state(state);
    hs_depthwise_conv_inputs inputs{x.view(), weight.view(), bias.view(), nullptr, nullptr, c.dilation,
                                    c.silu ? 1 : 0, 0};
    int64_t workspace_elements = 0;
    check_status(hs_depthwise_conv_workspace_elements(&inputs, &workspace_elements), "workspace query");
    DeviceTensor workspace({std::max<int64_t>(workspace_elements, 1)});
    hs_depthwise_conv_grads grads{dx.view(), dweight.view(), dbias.view(), d_state.view()};
    const double forward_ms = hs_bench::median_event_ms(kWarmup, kIterations, [&] {
        check_status(hs_depthwise_conv_forward(&inputs, y.view(), final_state.view(), nullptr), "forward");
    });
    const double backward_ms = hs_bench::median_event_ms(kWarmup, kIterations, [&] {
        check_status(hs_depthwise_conv_backward(&inputs, dy.view(), nullptr, &grads,
                                                workspace_elements > 0 ? workspace.view() : nullptr, nullptr),
                     "backward");
    });
    const double element_bytes = double(c.batch * c.channels * c.length) * sizeof(float);
    const double forward_rate = 2 * element_bytes / (forward_ms * 1e-3);
    const double backward_rate = 3 * element_bytes / (backward_ms * 1e-3);
    std::printf("| Bt%lld D%lld L%lld K%lld dil%lld | %s | %.1f | %.0f | %.0f%% | %.1f | %.0f | %.0f%% |\n",
                static_cast<long long>(c.batch), static_cast<long long>(c.channels),
                static_cast<long long>(c.length), static_cast<long long>(c.width),
                static_cast<long long>(c.dilation), c.silu ? "yes" : "no", forward_ms * 1e3, forward_rate / 1e9,
                100 * forward_rate / copy_bytes_per_s, backward_ms * 1e3, backward_rate / 1e9,
                100 * backward_rate / copy_bytes_per_s);
}

}  // namespace

int main() {
    try {
        int32_t devices = 0;
        check_status(hs_cuda_device_count(&devices), "hs_cuda_device_count");
        if (devices == 0) {
            std::printf("No CUDA device, nothing to time: %s\n", hs_cuda_unavailable_reason());
            return 0;
        }
        hs_device_info info{};
        check_status(hs_cuda_device_info(0, &info), "hs_cuda_device_info");
        const Case shape{8, 1536, 2048, 4, 1, false};
        // The copy bound: x into another buffer of the same size (reads and writes its bytes once each).
        DeviceTensor source({shape.batch, shape.channels, shape.length}, -1.0f, 1.0f, 9),
            target({shape.batch, shape.channels, shape.length});
        const size_t bytes = size_t(shape.batch * shape.channels * shape.length) * sizeof(float);
        const double copy_ms = hs_bench::median_event_ms(kWarmup, kIterations, [&] {
            check_cuda(cudaMemcpyAsync(const_cast<void*>(target.view()->data), source.view()->data, bytes,
                                       cudaMemcpyDeviceToDevice, nullptr),
                       "cudaMemcpyAsync");
        });
        const double copy_rate = 2.0 * double(bytes) / (copy_ms * 1e-3);
        std::printf("Device: %s (%d SMs). Device-to-device copy of %.0f MB: %.1f us = %.0f GB/s (read + write), the "
                    "bound below. Times are medians of %d runs in microseconds.\n\n",
                    info.name, info.multiprocessor_count, bytes / 1e6, copy_ms * 1e3, copy_rate / 1e9, kIterations);
        std::printf("| shape | SiLU | fwd us | fwd GB/s | fwd / copy | bwd us | bwd GB/s | bwd / copy |\n");
        std::printf("|---|---|---|---|---|---|---|---|\n");
        for (const Case& c : {shape, Case{8, 1536, 2048, 4, 1, true}, Case{8, 1536, 2048, 4, 8, false}}) {
            run_case(c, copy_rate);
        }
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "gpu_depthwise_conv_bench: %s\n", error.what());
        return 1;
    }
}
