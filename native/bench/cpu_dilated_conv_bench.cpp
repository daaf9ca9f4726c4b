// Times the CPU dense dilated causal convolution through the C API (float32): the forward and each of the
// backward's outputs (dx, dweight, dbias) on its own, then the whole backward in one call (what autograd runs; dbias
// rides along dweight's pass there), with the rate each reaches and the process CPU time of the same calls (on a
// shared machine, wall time well above CPU time / threads means waiting for a core) and the fastest call. Not a
// test; prints medians.
//   hybridseq_cpu_dilated_conv_bench [Bt C_in C_out L K dilation [repeats]]   (default 32 256 256 4096 3 4 3: the
//   issue's TCN shape)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <vector>

#include "bench_support.h"
#include "hybridseq.h"

using hs_bench::exit_on_error;
using hs_bench::host_view;
using hs_bench::random_values;

namespace {

double process_cpu_ms() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) * 1e-6;
}

struct Timing {
    double wall_ms, cpu_ms;  // medians over the repeats, each taken on its own
    double fastest_ms;       // the least disturbed call: the steadier figure on a shared machine
};

// Like hs_bench::median_wall_ms (one untimed warm-up call), with the process CPU time of the same calls.
template <typename Run>
Timing median_times(int repeats, Run&& run) {
    run();
    std::vector<double> walls, cpus;
    for (int i = 0; i < repeats; ++i) {
        const double cpu_start = process_cpu_ms();
        const auto start = std::chrono::steady_clock::now();
        run();
        walls.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        cpus.push_back(process_cpu_ms() - cpu_start);
    }
    std::sort(walls.begin(), walls.end());
    std::sort(cpus.begin(), cpus.end());
    return {walls[walls.size() / 2], cpus[cpus.size() / 2], walls.front()};
}

}  // namespace

int main(int argc, char** argv) {
    const int64_t Bt = argc > 1 ? std::atoll(argv[1]) : 32;
    const int64_t Cin = argc > 2 ? std::atoll(argv[2]) : 256;
    const int64_t Cout = argc > 3 ? std::atoll(argv[3]) : 256;
    const int64_t L = argc > 4 ? std::atoll(argv[4]) : 4096;
    const int64_t K = argc > 5 ? std::atoll(argv[5]) : 3;
    const int64_t dilation = argc > 6 ? std::atoll(argv[6]) : 4;
    const int repeats = argc > 7 ? std::atoi(argv[7]) : 3;

    std::vector<float> x = random_values(Bt * Cin * L, -1.0f, 1.0f, 1);
    std::vector<float> w = random_values(Cout * Cin * K, -0.1f, 0.1f, 2), b = random_values(Cout, -0.1f, 0.1f, 3);
    std::vector<float> dy = random_values(Bt * Cout * L, -1.0f, 1.0f, 4);
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
    const hs_tensor x_v = host_view(x.data(), {Bt, Cin, L}), w_v = host_view(w.data(), {Cout, Cin, K});
    const hs_tensor b_v = host_view(b.data(), {Cout}), y_v = host_view(y.data(), {Bt, Cout, L});
    const hs_tensor dy_v = host_view(dy.data(), {Bt, Cout, L}), dx_v = host_view(dx.data(), {Bt, Cin, L});
    const hs_tensor dw_v = host_view(dw.data(), {Cout, Cin, K}), db_v = host_view(db.data(), {Cout});
    const hs_dilated_conv_inputs inputs{&x_v, &w_v, &b_v, nullptr, nullptr, dilation};

    auto backward = [&](const hs_tensor* gx, const hs_tensor* gw, const hs_tensor* gb) {
        const hs_dilated_conv_grads grads{gx, gw, gb, nullptr};
        exit_on_error(hs_dilated_conv_backward(&inputs, &dy_v, nullptr, &grads, nullptr));
    };
    const Timing forward = median_times(repeats, [&] {
        exit_on_error(hs_dilated_conv_forward(&inputs, &y_v, nullptr, nullptr));
    });
    const Timing input_grad = median_times(repeats, [&] { backward(&dx_v, nullptr, nullptr); });
    const Timing weight_grad = median_times(repeats, [&] { backward(nullptr, &dw_v, nullptr); });
    const Timing bias_grad = median_times(repeats, [&] { backward(nullptr, nullptr, &db_v); });
    const Timing all_grads = median_times(repeats, [&] { backward(&dx_v, &dw_v, &db_v); });
    const double flops = 2.0 * static_cast<double>(Bt * L) * static_cast<double>(Cin * K) * static_cast<double>(Cout);
    const char* threads = std::getenv("OMP_NUM_THREADS");
    std::printf("cpu dilated conv float32 Bt=%lld C_in=%lld C_out=%lld L=%lld K=%lld dilation=%lld "
                "OMP_NUM_THREADS=%s (median of %d; GFLOP/s of one convolution, 2*Bt*L*C_in*K*C_out flops)\n",
                static_cast<long long>(Bt), static_cast<long long>(Cin), static_cast<long long>(Cout),
                static_cast<long long>(L), static_cast<long long>(K), static_cast<long long>(dilation),
                threads != nullptr ? threads : "unset", repeats);
    auto row = [&](const char* name, const Timing& t, double convolutions) {
        std::printf("  %-26s %9.2f ms wall %9.2f ms cpu %9.2f ms fastest", name, t.wall_ms, t.cpu_ms, t.fastest_ms);
        if (convolutions > 0) {
            std::printf("  (%.1f GFLOP/s, fastest %.1f)", convolutions * flops / t.wall_ms * 1e-6,
                        convolutions * flops / t.fastest_ms * 1e-6);
        }
        std::printf("\n");
    };
    row("forward", forward, 1);
    row("backward dx", input_grad, 1);
    row("backward dweight", weight_grad, 1);
    row("backward dbias", bias_grad, 0);
    row("backward dx+dweight+dbias", all_grads, 2);
    return 0;
}
