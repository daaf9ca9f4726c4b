// GPU timing of the CUDA selective scan through the public C API, at the anchor shape of
// shared/research/perf-anchors.md §2.1 / §3.1: B4 Dm1536 L1024 N16 G1, time-varying B and C, softplus, D and
// delta_bias, with and without the z gate, deterministic backward 0 and 1.
//
// For each case it prints one markdown table row: the median of kIterations timed runs (cudaEvents, after
// kWarmup untimed runs) of the forward and of forward + backward, the lower bound
// T_limit = max(T_HBM, T_MUFU, T_FP32) of perf-anchors §3.1 and which term binds, the fraction T_limit / T_measured,
// and the device memory of one fwd + bwd (inputs, outputs, checkpoints, gradients, workspace; measured with
// cudaMemGetInfo around the allocations) against the naive O(Bt * Dm * N * L) float32 states.
// Without a CUDA device it prints why and exits 0.
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
// Peak rates of perf-anchors §0 (H100 SXM5 / H200 SXM: same SM count and clocks, different HBM).
constexpr double kH100Bandwidth = 3.35e12;  // bytes / s
constexpr double kH200Bandwidth = 4.8e12;
constexpr double kBoostClockHz = 1.98e9;
constexpr double kMufuPerClockPerSm = 16.0;   // exp2 (MUFU.EX2) per clock per SM
constexpr double kFp32PerClockPerSm = 128.0;  // FP32 lane-ops per clock per SM
// FP32 instructions per (b, d, t, n) of an ideal kernel (§3.1): forward dt*A, B*dt*u, state FMA, C FMA and the
// sum over n (about 6); the backward runs about three times that.
constexpr double kForwardFp32PerElement = 6.0;
constexpr double kBackwardFp32PerElement = 18.0;

struct Shape {
    int64_t batch = 4, dim = 1536, groups = 1, dstate = 16, seqlen = 1024;
};

struct Limit {
    double seconds;
    const char* binding;
};

Limit limit_of(double hbm_bytes, double exp2_count, double fp32_ops, double bandwidth, int sms) {
    const double hbm = hbm_bytes / bandwidth;
    const double mufu = exp2_count / (kMufuPerClockPerSm * sms * kBoostClockHz);
    const double fp32 = fp32_ops / (kFp32PerClockPerSm * sms * kBoostClockHz);
    if (hbm >= mufu && hbm >= fp32) return {hbm, "HBM"};
    return mufu >= fp32 ? Limit{mufu, "MUFU"} : Limit{fp32, "FP32"};
}

void run_case(const Shape& s, bool has_z, int32_t deterministic, double bandwidth, int sms) {
    size_t free_before = 0, total = 0;
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    check_cuda(cudaMemGetInfo(&free_before, &total), "cudaMemGetInfo");

    const int64_t chunks = hs_selective_scan_num_chunks(s.seqlen);
    const std::vector<int64_t> sequence{s.batch, s.dim, s.seqlen};
    const std::vector<int64_t> varying{s.batch, s.groups, s.dstate, s.seqlen};
    const std::vector<int64_t> gate = has_z ? sequence : std::vector<int64_t>{0};  // z / dz only when gated
    DeviceTensor u(sequence, -1.0f, 1.0f, 1), delta(sequence, -3.0f, 0.0f, 2), z(gate, -2.0f, 2.0f, 3);
    DeviceTensor A({s.dim, s.dstate}, -2.0f, -0.1f, 4), B(varying, -1.0f, 1.0f, 5), C(varying, -1.0f, 1.0f, 6);
    DeviceTensor D({s.dim}, -1.0f, 1.0f, 7), delta_bias({s.dim}, 0.0f, 0.2f, 8), dout(sequence, -1.0f, 1.0f, 9);
    DeviceTensor out(sequence), checkpoints({s.batch, s.dim, chunks, s.dstate});
    DeviceTensor du(sequence), ddelta(sequence), dz(gate), dA({s.dim, s.dstate}), dB(varying), dC(varying);
    DeviceTensor dD({s.dim}), ddelta_bias({s.dim});
    hs_selective_scan_inputs inputs{};
    inputs.u = u.view();
    inputs.delta = delta.view();
    inputs.A = A.view();
    inputs.B = B.view();
    inputs.C = C.view();
    inputs.D = D.view();
    inputs.z = has_z ? z.view() : nullptr;
    inputs.delta_bias = delta_bias.view();
    inputs.delta_softplus = 1;
    int64_t workspace_elements = 0;
    check_status(hs_selective_scan_workspace_elements(&inputs, deterministic, &workspace_elements),
                 "hs_selective_scan_workspace_elements");
    DeviceTensor workspace({workspace_elements});

    size_t free_after = 0;
    check_cuda(cudaMemGetInfo(&free_after, &total), "cudaMemGetInfo");
    const double used_mib = static_cast<double>(free_before - free_after) / (1024.0 * 1024.0);
    const double naive_states_mib =
        static_cast<double>(s.batch * s.dim * s.dstate * s.seqlen) * sizeof(float) / (1024.0 * 1024.0);

    hs_selective_scan_grads grads{};
    grads.du = du.view();
    grads.ddelta = ddelta.view();
    grads.dA = dA.view();
    grads.dB = dB.view();
    grads.dC = dC.view();
    grads.dD = dD.view();
    grads.dz = has_z ? dz.view() : nullptr;
    grads.ddelta_bias = ddelta_bias.view();

    auto forward = [&] {
        check_status(hs_selective_scan_forward(&inputs, out.view(), nullptr, checkpoints.view(), nullptr),
                     "hs_selective_scan_forward");
    };
    auto forward_backward = [&] {
        forward();
        check_status(hs_selective_scan_backward(&inputs, checkpoints.view(), dout.view(), nullptr, &grads,
                                                deterministic, workspace_elements > 0 ? workspace.view() : nullptr,
                                                nullptr),
                     "hs_selective_scan_backward");
    };
    const double forward_us = 1000.0 * hs_bench::median_event_ms(kWarmup, kIterations, forward);
    const double forward_backward_us = 1000.0 * hs_bench::median_event_ms(kWarmup, kIterations, forward_backward);
    check_status(hs_cuda_synchronize(0), "hs_cuda_synchronize");

    // HBM bytes of an ideal kernel, perf-anchors §3.1 (float32, s = 4; we write out only, not a separate out_z).
    const double bdl = static_cast<double>(s.batch * s.dim * s.seqlen);
    const double bgnl = static_cast<double>(s.batch * s.groups * s.dstate * s.seqlen);
    const double saved = 4.0 * s.batch * s.dim * chunks * s.dstate;
    const double elements = bdl * s.dstate;
    const double zf = has_z ? 1.0 : 0.0;
    const double forward_bytes = 4.0 * bdl * (3.0 + zf) + 4.0 * bgnl * 2.0 + saved;
    const double backward_bytes = 4.0 * bdl * (5.0 + 2.0 * zf) + 4.0 * bgnl * 4.0 + saved;
    const Limit forward_limit =
        limit_of(forward_bytes, elements, kForwardFp32PerElement * elements, bandwidth, sms);
    const Limit total_limit = limit_of(forward_bytes + backward_bytes, 2.0 * elements,
                                       (kForwardFp32PerElement * 2.0 + kBackwardFp32PerElement) * elements,
                                       bandwidth, sms);

    std::printf("| B%lld Dm%lld L%lld N%lld G%lld varying B,C | %s | %d | %.1f | %.1f (%s) | %.3f | %.1f | %.1f (%s) "
                "| %.3f | %.1f | %.1f |\n",
                static_cast<long long>(s.batch), static_cast<long long>(s.dim), static_cast<long long>(s.seqlen),
                static_cast<long long>(s.dstate), static_cast<long long>(s.groups), has_z ? "yes" : "no",
                deterministic, forward_us, forward_limit.seconds * 1e6, forward_limit.binding,
                forward_limit.seconds * 1e6 / forward_us, forward_backward_us, total_limit.seconds * 1e6,
                total_limit.binding, total_limit.seconds * 1e6 / forward_backward_us, used_mib, naive_states_mib);
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
        const bool h200 = std::string(info.name).find("H200") != std::string::npos;
        const double bandwidth = h200 ? kH200Bandwidth : kH100Bandwidth;
        std::printf("Device: %s (%d SMs); HBM limit uses %.2f TB/s (%s), clock %.2f GHz assumed. Times are medians "
                    "of %d runs in microseconds.\n\n",
                    info.name, info.multiprocessor_count, bandwidth / 1e12,
                    h200 ? "H200 spec" : "H100 spec; other devices are compared against it too", kBoostClockHz / 1e9,
                    kIterations);
        std::printf("| shape | z | deterministic | fwd us | fwd limit us (binds) | fwd fraction | fwd+bwd us | "
                    "fwd+bwd limit us (binds) | fwd+bwd fraction | device MiB fwd+bwd | naive states MiB |\n");
        std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
        const Shape shape;
        for (const bool has_z : {false, true}) {
            for (const int32_t deterministic : {0, 1}) {
                run_case(shape, has_z, deterministic, bandwidth, info.multiprocessor_count);
            }
        }
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "gpu_selective_scan_bench: %s\n", error.what());
        return 1;
    }
}
