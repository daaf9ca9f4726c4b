// The CPU dense dilated causal convolution (ops/dilated_conv.h). Like linear_cpu.cpp, it compiles its kernels
// (dilated_conv_cpu_kernels.h, on the shared GEMM micro-kernel and linear_cpu_kernels.h's blocked GEMM) twice on
// x86-64 with GCC, for AVX2 + FMA and for the portable baseline of the build, and picks one per call.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/cpu_threads.h"
#include "common/error.h"
#include "cpu/cpu_vector.h"
#include "ops/dilated_conv.h"
#include "ops/linear.h"

namespace hs {

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace dilated_conv_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/linear_cpu_kernels.h"
#include "cpu/dilated_conv_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace dilated_conv_avx2
#endif

namespace dilated_conv_portable {
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/linear_cpu_kernels.h"
#include "cpu/dilated_conv_cpu_kernels.h"
}  // namespace dilated_conv_portable

template <typename T>
void dilated_conv_forward_cpu(const DilatedConvParams<T>& p) {
    HS_CPU_DISPATCH(dilated_conv_avx2::dilated_conv_forward(p), dilated_conv_portable::dilated_conv_forward(p));
}

template <typename T>
void dilated_conv_backward_cpu(const DilatedConvBackwardParams<T>& p) {
    HS_CPU_DISPATCH(dilated_conv_avx2::dilated_conv_backward(p), dilated_conv_portable::dilated_conv_backward(p));
}

template void dilated_conv_forward_cpu<float>(const DilatedConvParams<float>&);
template void dilated_conv_forward_cpu<double>(const DilatedConvParams<double>&);
template void dilated_conv_backward_cpu<float>(const DilatedConvBackwardParams<float>&);
template void dilated_conv_backward_cpu<double>(const DilatedConvBackwardParams<double>&);

}  // namespace hs
