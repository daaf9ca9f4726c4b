// The CUDA S4 kernels (complex64) against the CPU twin on the same inputs: Cauchy and Vandermonde, forward and
// backward, plain and conjugate-symmetric, over odd and tail sizes (one or two of the block's 256 threads, tiles of
// terms that end early, a grid-stride tail of warps). Skipped without a device; on the emulated backend
// (docs/cuda-emulation.md) the big sizes shrink. Also: complex128 on CUDA is HS_ERR_UNSUPPORTED naming 'v'.
#include <gtest/gtest.h>

#include <complex>
#include <cstring>
#include <vector>

#include "cuda_test_support.h"
#include "s4_test_support.h"

namespace hs_test {
namespace {

using cf = std::complex<float>;

DeviceTensor upload_complex(const std::vector<cd>& values, const std::vector<int64_t>& shape) {
    DeviceTensor tensor(shape, HS_DTYPE_COMPLEX64);
    const std::vector<cf> host = to_complex<float>(values);
    check_cuda(cudaMemcpy(tensor.mutable_view()->data, host.data(), host.size() * sizeof(cf), cudaMemcpyHostToDevice),
               "cudaMemcpy to device");
    return tensor;
}

DeviceTensor upload_real(const std::vector<cd>& values, const std::vector<int64_t>& shape) {
    std::vector<double> re(values.size());
    for (size_t i = 0; i < values.size(); ++i) re[i] = values[i].real();
    return DeviceTensor::upload(re, shape);
}

std::vector<cd> download_complex(const DeviceTensor& tensor) {
    std::vector<cf> host(shape_element_count(tensor.shape()));
    check_cuda(cudaMemcpy(host.data(), tensor.view()->data, host.size() * sizeof(cf), cudaMemcpyDeviceToHost),
               "cudaMemcpy to host");
    return to_cd(host);
}

std::vector<cd> download_real(const DeviceTensor& tensor) {
    const std::vector<double> values = tensor.download();
    return std::vector<cd>(values.begin(), values.end());
}

// Largest |gpu - cpu| / (1e-30 + max |cpu|) over a tensor: both round in float32 in different orders.
double worst_difference(const std::vector<cd>& gpu, const std::vector<cd>& cpu) {
    double scale = 1e-30, worst = 0;
    for (const cd& value : cpu) scale = std::max(scale, std::abs(value));
    for (size_t i = 0; i < gpu.size(); ++i) {
        const double difference = std::abs(gpu[i] - cpu[i]) / scale;
        if (!(difference <= worst)) worst = std::isnan(difference) ? INFINITY : difference;
    }
    return worst;
}

std::vector<S4Size> sizes() {
    if (cuda_emulated()) return {{1, 1, 1}, {2, 7, 33}, {1, 257, 3}, {3, 2, 300}, {2, 33, 129}};
    return {{1, 1, 1}, {2, 7, 33}, {1, 257, 3}, {3, 2, 300}, {2, 33, 129}, {4, 64, 2049}, {1, 2049, 513}};
}

TEST(S4KernelsCuda, CauchyMatchesTheCpuTwin) {
    SKIP_WITHOUT_CUDA_DEVICE();
    for (const S4Size& size : sizes()) {
        for (bool conjugate : {false, true}) {
            const auto [H, N, L] = size;
            const S4Problem p = make_s4_problem<float>(size, 41);
            std::vector<cd> dout(static_cast<size_t>(H * L));
            for (size_t i = 0; i < dout.size(); ++i) dout[i] = round_to<float>(cd(std::sin(0.3 * i), std::cos(0.7 * i)));
            const DeviceTensor v = upload_complex(p.v, {H, N}), w = upload_complex(p.w, {H, N}),
                               z = upload_complex(p.z, {L}), g = upload_complex(dout, {H, L});
            DeviceTensor out({H, L}, HS_DTYPE_COMPLEX64), dv({H, N}, HS_DTYPE_COMPLEX64), dw({H, N}, HS_DTYPE_COMPLEX64);
            ASSERT_EQ(hs_cauchy_forward(v.view(), w.view(), z.view(), conjugate, out.view(), nullptr), HS_OK)
                << hs_last_error();
            ASSERT_EQ(hs_cauchy_backward(v.view(), w.view(), z.view(), conjugate, g.view(), dv.view(), dw.view(),
                                         nullptr),
                      HS_OK)
                << hs_last_error();
            ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error();
            const auto [cpu_dv, cpu_dw] = run_cauchy_backward<float>(p, conjugate, dout);
            const double tolerance = 1e-5 * (1.0 + static_cast<double>(std::max(N, L)) / 64.0);
            EXPECT_LE(worst_difference(download_complex(out), run_cauchy<float>(p, conjugate)), tolerance)
                << describe(size) << " conjugate=" << conjugate;
            EXPECT_LE(worst_difference(download_complex(dv), cpu_dv), tolerance) << "dv " << describe(size);
            EXPECT_LE(worst_difference(download_complex(dw), cpu_dw), tolerance) << "dw " << describe(size);
        }
    }
}

TEST(S4KernelsCuda, VandermondeMatchesTheCpuTwin) {
    SKIP_WITHOUT_CUDA_DEVICE();
    for (const S4Size& size : sizes()) {
        for (bool conjugate : {false, true}) {
            const auto [H, N, L] = size;
            const S4Problem p = make_s4_problem<float>(size, 43);
            std::vector<cd> dout(static_cast<size_t>(H * L));
            for (size_t i = 0; i < dout.size(); ++i) {
                dout[i] = round_to<float>(cd(std::sin(0.3 * i), conjugate ? 0.0 : std::cos(0.7 * i)));
            }
            const DeviceTensor v = upload_complex(p.v, {H, N}), x = upload_complex(p.x, {H, N});
            const DeviceTensor g = conjugate ? upload_real(dout, {H, L}) : upload_complex(dout, {H, L});
            DeviceTensor out({H, L}, conjugate ? HS_DTYPE_FLOAT32 : HS_DTYPE_COMPLEX64);
            DeviceTensor dv({H, N}, HS_DTYPE_COMPLEX64), dx({H, N}, HS_DTYPE_COMPLEX64);
            ASSERT_EQ(hs_vandermonde_forward(v.view(), x.view(), conjugate, out.view(), nullptr), HS_OK)
                << hs_last_error();
            ASSERT_EQ(hs_vandermonde_backward(v.view(), x.view(), conjugate, g.view(), dv.view(), dx.view(), nullptr),
                      HS_OK)
                << hs_last_error();
            ASSERT_EQ(hs_cuda_synchronize(0), HS_OK) << hs_last_error();
            const auto [cpu_dv, cpu_dx] = run_vandermonde_backward<float>(p, conjugate, dout);
            // expf / sincosf of the float32 argument x * l: about |x l| <= 3 l ulp of the angle, which grows with L
            // (the CPU twin's powers are exact to float64 rounding), plus the sums' rounding over N.
            const double tolerance = 2.5e-7 * (8.0 + 3.0 * static_cast<double>(L) + static_cast<double>(N));
            const std::vector<cd> gpu_out = conjugate ? download_real(out) : download_complex(out);
            EXPECT_LE(worst_difference(gpu_out, run_vandermonde<float>(p, conjugate)), tolerance)
                << describe(size) << " conjugate=" << conjugate;
            EXPECT_LE(worst_difference(download_complex(dv), cpu_dv), tolerance) << "dv " << describe(size);
            EXPECT_LE(worst_difference(download_complex(dx), cpu_dx), tolerance) << "dx " << describe(size);
        }
    }
}

TEST(S4KernelsCuda, Complex128IsUnsupportedOnCuda) {
    SKIP_WITHOUT_CUDA_DEVICE();
    DeviceTensor v({2, 3}, HS_DTYPE_COMPLEX128), x({2, 3}, HS_DTYPE_COMPLEX128), out({2, 4}, HS_DTYPE_COMPLEX128);
    EXPECT_EQ(hs_vandermonde_forward(v.view(), x.view(), 0, out.view(), nullptr), HS_ERR_UNSUPPORTED);
    const std::string message = hs_last_error();
    EXPECT_NE(message.find("argument 'v' is complex128 on cuda:0: the CUDA kernels support complex64 only"),
              std::string::npos)
        << message;
    // A CPU tensor in a CUDA call is named.
    DeviceTensor v64({2, 3}, HS_DTYPE_COMPLEX64), out64({2, 4}, HS_DTYPE_COMPLEX64);
    std::vector<cf> host(6);
    const hs_tensor x_cpu = cpu_view(host.data(), HS_DTYPE_COMPLEX64, {2, 3});
    EXPECT_EQ(hs_vandermonde_forward(v64.view(), &x_cpu, 0, out64.view(), nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'x' must be on cuda:0 like 'v', got cpu"),
              std::string::npos)
        << hs_last_error();
}

}  // namespace
}  // namespace hs_test
