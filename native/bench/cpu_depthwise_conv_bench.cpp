// Times the CPU depthwise causal convolution through the C API (float32, with bias, preallocated outputs) against a
// memcpy of x of the same size (the forward reads x and writes y: exactly a copy's bytes), so the kernels are seen
// without the page faults of fresh output tensors. Not a test; prints median milliseconds.
//   hybridseq_cpu_depthwise_conv_bench [Bt D L K [dilation [silu [repeats]]]]   (default 8 1536 2048 4 1 0 7: Mamba's
//   short convolution at d_inner 1536, issue 9's shape)
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

int main(int argc, char** argv) {
    const int64_t Bt = argc > 1 ? std::atoll(argv[1]) : 8;
    const int64_t D = argc > 2 ? std::atoll(argv[2]) : 1536;
    const int64_t L = argc > 3 ? std::atoll(argv[3]) : 2048;
    const int64_t K = argc > 4 ? std::atoll(argv[4]) : 4;
    const int64_t dilation = argc > 5 ? std::atoll(argv[5]) : 1;
    const int32_t silu = argc > 6 ? std::atoi(argv[6]) : 0;
    const int repeats = argc > 7 ? std::atoi(argv[7]) : 7;
    const int64_t S = (K - 1) * dilation, n = Bt * D * L;

    std::vector<float> x = random_values(n, -1.0f, 1.0f, 1), w = random_values(D * K, -0.5f, 0.5f, 2);
    std::vector<float> b = random_values(D, -0.1f, 0.1f, 3), dy = random_values(n, -1.0f, 1.0f, 4);
    std::vector<float> y(static_cast<size_t>(n)), fs(static_cast<size_t>(Bt * D * S)), dx(y.size()), dw(w.size()),
        db(b.size()), copy(y.size());
    const hs_tensor x_v = host_view(x.data(), {Bt, D, L}), w_v = host_view(w.data(), {D, K});
    const hs_tensor b_v = host_view(b.data(), {D}), y_v = host_view(y.data(), {Bt, D, L});
    const hs_tensor fs_v = host_view(fs.data(), {Bt, D, S}), dy_v = host_view(dy.data(), {Bt, D, L});
    const hs_tensor dx_v = host_view(dx.data(), {Bt, D, L}), dw_v = host_view(dw.data(), {D, K});
    const hs_tensor db_v = host_view(db.data(), {D});
    const hs_depthwise_conv_inputs inputs{&x_v, &w_v, &b_v, nullptr, nullptr, dilation, silu, 0};
    const hs_depthwise_conv_grads grads{&dx_v, &dw_v, &db_v, nullptr};

    const double copy_ms = median_wall_ms(repeats, [&] { std::memcpy(copy.data(), x.data(), x.size() * sizeof(float)); });
    const double forward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_depthwise_conv_forward(&inputs, &y_v, &fs_v, nullptr));
    });
    const double backward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_depthwise_conv_backward(&inputs, &dy_v, nullptr, &grads, nullptr, nullptr));
    });
    const double bytes = static_cast<double>(n) * sizeof(float);
    const char* threads = std::getenv("OMP_NUM_THREADS");
    std::printf("cpu depthwise causal conv float32 Bt=%lld D=%lld L=%lld K=%lld dilation=%lld silu=%d "
                "OMP_NUM_THREADS=%s (median of %d)\n",
                static_cast<long long>(Bt), static_cast<long long>(D), static_cast<long long>(L),
                static_cast<long long>(K), static_cast<long long>(dilation), silu, threads != nullptr ? threads : "unset",
                repeats);
    std::printf("  memcpy of x (the bound)   %9.2f ms  (%.1f GB/s read + write)\n", copy_ms, 2 * bytes / copy_ms * 1e-6);
    std::printf("  forward                   %9.2f ms  (%.1f GB/s, %.0f%% of the copy)\n", forward,
                2 * bytes / forward * 1e-6, 100 * copy_ms / forward);
    std::printf("  backward dx, dw, db       %9.2f ms  (%.1f GB/s of its 3 tensors, %.0f%% of 1.5 copies)\n", backward,
                3 * bytes / backward * 1e-6, 100 * 1.5 * copy_ms / backward);
    return 0;
}
