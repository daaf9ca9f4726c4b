// The CPU twins of the S4 kernels (ops/s4_kernels.h), complex64 and complex128. Like linear_cpu.cpp, it compiles
// its kernels (s4_kernels_cpu_kernels.h) twice on x86-64 with GCC, for AVX2 + FMA and for the portable baseline of
// the build, and picks one per call.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/cpu_threads.h"
#include "cpu/cpu_vector.h"
#include "ops/s4_kernels.h"

namespace hs {

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace s4_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/s4_kernels_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace s4_avx2
#endif

namespace s4_portable {
#include "cpu/s4_kernels_cpu_kernels.h"
}  // namespace s4_portable

template <typename T>
void cauchy_forward_cpu(const CauchyParams<T>& p) {
    HS_CPU_DISPATCH(s4_avx2::cauchy_forward(p), s4_portable::cauchy_forward(p));
}

template <typename T>
void cauchy_backward_cpu(const CauchyBackwardParams<T>& p) {
    HS_CPU_DISPATCH(s4_avx2::cauchy_backward(p), s4_portable::cauchy_backward(p));
}

template <typename T>
void vandermonde_forward_cpu(const VandermondeParams<T>& p) {
    HS_CPU_DISPATCH(s4_avx2::vandermonde_forward(p), s4_portable::vandermonde_forward(p));
}

template <typename T>
void vandermonde_backward_cpu(const VandermondeBackwardParams<T>& p) {
    HS_CPU_DISPATCH(s4_avx2::vandermonde_backward(p), s4_portable::vandermonde_backward(p));
}

template void cauchy_forward_cpu<float>(const CauchyParams<float>&);
template void cauchy_forward_cpu<double>(const CauchyParams<double>&);
template void cauchy_backward_cpu<float>(const CauchyBackwardParams<float>&);
template void cauchy_backward_cpu<double>(const CauchyBackwardParams<double>&);
template void vandermonde_forward_cpu<float>(const VandermondeParams<float>&);
template void vandermonde_forward_cpu<double>(const VandermondeParams<double>&);
template void vandermonde_backward_cpu<float>(const VandermondeBackwardParams<float>&);
template void vandermonde_backward_cpu<double>(const VandermondeBackwardParams<double>&);

}  // namespace hs
