// Times the CPU dense dilated causal convolution through the C API (float32): the forward and each of the
// backward's outputs (dx, dweight, dbias) on its own, with the rate each reaches. Not a test; prints median ms.
//   hybridseq_cpu_dilated_conv_bench [Bt C_in C_out L K dilation [repeats]]   (default 32 256 256 4096 3 4 3: the
//   issue's TCN shape)
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
    const double forward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_dilated_conv_forward(&inputs, &y_v, nullptr, nullptr));
    });
    const double input_grad = median_wall_ms(repeats, [&] { backward(&dx_v, nullptr, nullptr); });
    const double weight_grad = median_wall_ms(repeats, [&] { backward(nullptr, &dw_v, nullptr); });
    const double bias_grad = median_wall_ms(repeats, [&] { backward(nullptr, nullptr, &db_v); });
    const double flops = 2.0 * static_cast<double>(Bt * L) * static_cast<double>(Cin * K) * static_cast<double>(Cout);
    const char* threads = std::getenv("OMP_NUM_THREADS");
    std::printf("cpu dilated conv float32 Bt=%lld C_in=%lld C_out=%lld L=%lld K=%lld dilation=%lld "
                "OMP_NUM_THREADS=%s (median of %d)\n",
                static_cast<long long>(Bt), static_cast<long long>(Cin), static_cast<long long>(Cout),
                static_cast<long long>(L), static_cast<long long>(K), static_cast<long long>(dilation),
                threads != nullptr ? threads : "unset", repeats);
    std::printf("  forward                  %9.2f ms  (%.1f GFLOP/s)\n", forward, flops / forward * 1e-6);
    std::printf("  backward dx              %9.2f ms  (%.1f GFLOP/s)\n", input_grad, flops / input_grad * 1e-6);
    std::printf("  backward dweight         %9.2f ms  (%.1f GFLOP/s)\n", weight_grad, flops / weight_grad * 1e-6);
    std::printf("  backward dbias           %9.2f ms\n", bias_grad);
    return 0;
}
