// CPU twin of the depthwise causal convolution (the reference the CUDA kernels are tested against), float and
// double. The kernels live in depthwise_conv_cpu_kernels.h; like selective_scan_cpu.cpp, this file compiles them
// twice on x86-64 with GCC (AVX2 + FMA, and the portable x86-64-v2 baseline) and picks one per call.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/cpu_threads.h"
#include "cpu/cpu_vector.h"
#include "hybridseq.h"
#include "ops/depthwise_conv.h"

namespace hs {
namespace {

// Below about this many multiply-adds a parallel region costs more than it saves (the step of one token is far
// below it and runs on the calling thread).
constexpr int64_t kMinParallelWork = int64_t(1) << 15;

}  // namespace

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace dwconv_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/cpu_math.h"
#include "cpu/depthwise_conv_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace dwconv_avx2
#endif

namespace dwconv_portable {
#include "cpu/cpu_math.h"
#include "cpu/depthwise_conv_cpu_kernels.h"
}  // namespace dwconv_portable

template <typename T>
void depthwise_conv_forward_cpu(const DepthwiseConvParams<T>& p) {
    HS_CPU_DISPATCH(dwconv_avx2::forward(p), dwconv_portable::forward(p));
}

template <typename T>
void depthwise_conv_backward_cpu(const DepthwiseConvBackwardParams<T>& q) {
    HS_CPU_DISPATCH(dwconv_avx2::backward(q), dwconv_portable::backward(q));
}

template void depthwise_conv_forward_cpu<float>(const DepthwiseConvParams<float>&);
template void depthwise_conv_forward_cpu<double>(const DepthwiseConvParams<double>&);
template void depthwise_conv_backward_cpu<float>(const DepthwiseConvBackwardParams<float>&);
template void depthwise_conv_backward_cpu<double>(const DepthwiseConvBackwardParams<double>&);

}  // namespace hs
