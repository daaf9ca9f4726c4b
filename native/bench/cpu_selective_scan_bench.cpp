// Times the CPU selective scan through the C API (float32, Mamba-style: time-varying B / C, D, z, delta_bias,
// softplus). Not a test; prints median milliseconds.
//   hybridseq_cpu_selective_scan_bench [batch dim seqlen dstate [repeats]]   (default 1 256 512 16 50)
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
    const int64_t Bt = argc > 4 ? std::atoll(argv[1]) : 1;
    const int64_t Dm = argc > 4 ? std::atoll(argv[2]) : 256;
    const int64_t L = argc > 4 ? std::atoll(argv[3]) : 512;
    const int64_t N = argc > 4 ? std::atoll(argv[4]) : 16;
    const int repeats = argc > 5 ? std::atoi(argv[5]) : 50;
    const int64_t K = hs_selective_scan_num_chunks(L);

    std::vector<float> u = random_values(Bt * Dm * L, -1, 1, 1), delta = random_values(Bt * Dm * L, -3, 0, 2),
                       A = random_values(Dm * N, -2, -0.1f, 3), B = random_values(Bt * N * L, -1, 1, 4),
                       C = random_values(Bt * N * L, -1, 1, 5), D = random_values(Dm, -1, 1, 6),
                       z = random_values(Bt * Dm * L, -2, 2, 7), bias = random_values(Dm, 0, 0.2f, 8),
                       dout = random_values(Bt * Dm * L, -1, 1, 9);
    std::vector<float> out(u.size()), checkpoints(static_cast<size_t>(Bt * Dm * K * N)), du(u.size()),
        ddelta(u.size()), dA(A.size()), dB(B.size()), dC(C.size()), dD(D.size()), dz(z.size()), dbias(bias.size());
    const hs_tensor u_v = host_view(u.data(), {Bt, Dm, L}), delta_v = host_view(delta.data(), {Bt, Dm, L}),
                    A_v = host_view(A.data(), {Dm, N}), B_v = host_view(B.data(), {Bt, 1, N, L}),
                    C_v = host_view(C.data(), {Bt, 1, N, L}), D_v = host_view(D.data(), {Dm}),
                    z_v = host_view(z.data(), {Bt, Dm, L}), bias_v = host_view(bias.data(), {Dm}),
                    out_v = host_view(out.data(), {Bt, Dm, L}), ck_v = host_view(checkpoints.data(), {Bt, Dm, K, N}),
                    dout_v = host_view(dout.data(), {Bt, Dm, L}), du_v = host_view(du.data(), {Bt, Dm, L}),
                    ddelta_v = host_view(ddelta.data(), {Bt, Dm, L}), dA_v = host_view(dA.data(), {Dm, N}),
                    dB_v = host_view(dB.data(), {Bt, 1, N, L}), dC_v = host_view(dC.data(), {Bt, 1, N, L}),
                    dD_v = host_view(dD.data(), {Dm}), dz_v = host_view(dz.data(), {Bt, Dm, L}),
                    dbias_v = host_view(dbias.data(), {Dm});
    const hs_selective_scan_inputs inputs{&u_v, &delta_v, &A_v, &B_v, &C_v, &D_v, &z_v, &bias_v, nullptr, nullptr, 1, 0};
    const hs_selective_scan_grads grads{&du_v, &ddelta_v, &dA_v, &dB_v, &dC_v, &dD_v, &dz_v, &dbias_v, nullptr};

    const double forward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_selective_scan_forward(&inputs, &out_v, nullptr, &ck_v, nullptr));
    });
    const double backward = median_wall_ms(repeats, [&] {
        exit_on_error(hs_selective_scan_backward(&inputs, &ck_v, &dout_v, nullptr, &grads, 1, nullptr, nullptr));
    });
    std::printf("%s  B%lld D%lld L%lld N%lld float32 (B/C varying, D, z, delta_bias, softplus)\n", hs_version_string(),
                static_cast<long long>(Bt), static_cast<long long>(Dm), static_cast<long long>(L),
                static_cast<long long>(N));
    std::printf("forward  %.3f ms (median of %d)\nbackward %.3f ms (median of %d)\n", forward, repeats, backward,
                repeats);
    return 0;
}
