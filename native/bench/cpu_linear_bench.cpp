// Times the CPU dense projection through the C API (float32): forward y = x W^T + b and each of the backward's
// outputs (dx, dw, db) on its own, with the rate each reaches. Not a test; prints median milliseconds.
//   hybridseq_cpu_linear_bench [rows in_features out_features [repeats]]   (default 16384 256 1024 5: the input
//   projection of an LSTM with B16 T1024 I256 H256)
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_support.h"
#include "hybridseq.h"

using hs_bench::exit_on_error;
using hs_bench::host_view;
using hs_bench::median_wall_ms;
using hs_bench::random_values;

int main(int argc, char** argv) {
    const int64_t M = argc > 1 ? std::atoll(argv[1]) : 16384;
    const int64_t K = argc > 2 ? std::atoll(argv[2]) : 256;
    const int64_t N = argc > 3 ? std::atoll(argv[3]) : 1024;
    const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;

    std::vector<float> x = random_values(M * K, -1.0f, 1.0f, 1), w = random_values(N * K, -0.1f, 0.1f, 2);
    std::vector<float> b = random_values(N, -0.1f, 0.1f, 3), dy = random_values(M * N, -1.0f, 1.0f, 4);
    std::vector<float> y(static_cast<size_t>(M * N)), dx(x.size()), dw(w.size()), db(b.size());
    const hs_tensor x_v = host_view(x.data(), {M, K}), w_v = host_view(w.data(), {N, K});
    const hs_tensor b_v = host_view(b.data(), {N}), y_v = host_view(y.data(), {M, N});
    const hs_tensor dy_v = host_view(dy.data(), {M, N}), dx_v = host_view(dx.data(), {M, K});
    const hs_tensor dw_v = host_view(dw.data(), {N, K}), db_v = host_view(db.data(), {N});

    const double forward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_linear_forward(&x_v, &w_v, &b_v, &y_v, nullptr));
    });
    const double input_grad = median_wall_ms(repeats, [&] {
        exit_on_error(hs_linear_backward(&x_v, &w_v, &dy_v, &dx_v, nullptr, nullptr, nullptr));
    });
    const double weight_grad = median_wall_ms(repeats, [&] {
        exit_on_error(hs_linear_backward(&x_v, &w_v, &dy_v, nullptr, &dw_v, nullptr, nullptr));
    });
    const double bias_grad = median_wall_ms(repeats, [&] {
        exit_on_error(hs_linear_backward(&x_v, &w_v, &dy_v, nullptr, nullptr, &db_v, nullptr));
    });
    const double flops = 2.0 * static_cast<double>(M) * static_cast<double>(K) * static_cast<double>(N);
    const char* threads = std::getenv("OMP_NUM_THREADS");
    std::printf("cpu linear float32 M=%lld K=%lld N=%lld OMP_NUM_THREADS=%s (median of %d)\n",
                static_cast<long long>(M), static_cast<long long>(K), static_cast<long long>(N),
                threads != nullptr ? threads : "unset", repeats);
    std::printf("  forward y = x W^T + b      %9.2f ms  (%.1f GFLOP/s)\n", forward, flops / forward * 1e-6);
    std::printf("  backward dx = dy W         %9.2f ms  (%.1f GFLOP/s)\n", input_grad, flops / input_grad * 1e-6);
    std::printf("  backward dw = dy^T x       %9.2f ms  (%.1f GFLOP/s)\n", weight_grad, flops / weight_grad * 1e-6);
    std::printf("  backward db = sum dy       %9.2f ms  (%.1f GB/s read)\n", bias_grad,
                static_cast<double>(M * N) * sizeof(float) / bias_grad * 1e-6);
    return 0;
}
