// The CPU dense projection (ops/linear.h). Like rnn_cpu.cpp, it compiles its kernels (linear_cpu_kernels.h) twice on
// x86-64 with GCC, for AVX2 + FMA and for the portable baseline of the build, and picks one per call.
//
// Why our own GEMM instead of libtorch's (oneMKL): on the AMD EPYC machines we measure on, oneMKL's SGEMM runs this
// projection (16384 x 256 by 256 x 1024) at about half the speed of this blocked kernel (docs/benchmarks.md), and
// a fixed work split makes the results bitwise independent of the thread count, as the recurrence's are.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/cpu_threads.h"
#include "common/error.h"
#include "cpu/cpu_vector.h"
#include "ops/linear.h"

namespace hs {

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace linear_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/linear_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace linear_avx2
#endif

namespace linear_portable {
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/linear_cpu_kernels.h"
}  // namespace linear_portable

template <typename T>
void linear_forward_cpu(const LinearParams<T>& p) {
    HS_CPU_DISPATCH(linear_avx2::linear_forward(p), linear_portable::linear_forward(p));
}

template <typename T>
void linear_backward_cpu(const LinearBackwardParams<T>& p) {
    HS_CPU_DISPATCH(linear_avx2::linear_backward(p), linear_portable::linear_backward(p));
}

template void linear_forward_cpu<float>(const LinearParams<float>&);
template void linear_forward_cpu<double>(const LinearParams<double>&);
template void linear_backward_cpu<float>(const LinearBackwardParams<float>&);
template void linear_backward_cpu<double>(const LinearBackwardParams<double>&);

}  // namespace hs
