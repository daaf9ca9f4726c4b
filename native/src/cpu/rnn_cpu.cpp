// The CPU twin of the fused recurrence (ops/rnn.h): the reference the CUDA kernels are tested against, and the
// CPU backend of hs_rnn_*. The kernels live in rnn_cpu_kernels.h; this file compiles them twice on x86-64 with GCC
// (AVX2 + FMA, and the portable x86-64-v2 baseline of the build) and picks one per call from what the CPU supports,
// so the library still loads and runs on any x86-64-v2 machine.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/cpu_threads.h"
#include "common/error.h"
#include "cpu/cpu_vector.h"
#include "ops/rnn.h"

namespace hs {
namespace {

// Rows of dg_rec (the backward workspace) keep each head kGateRowAlign-aligned (a multiple of every kPanel), so that
// panel loads never leave a head's row. Part of the workspace size, so independent of the ISA picked at run time.
constexpr int64_t kGateRowAlign = 16;

}  // namespace

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace rnn_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/rnn_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace rnn_avx2
#endif

namespace rnn_portable {
#include "cpu/cpu_math.h"
#include "cpu/gemm_micro_kernel.h"
#include "cpu/rnn_cpu_kernels.h"
}  // namespace rnn_portable

template <typename T>
void rnn_forward_cpu(const RnnParams<T>& p) {
    HS_CPU_DISPATCH(rnn_avx2::forward(p), rnn_portable::forward(p));
}

template <typename T>
void rnn_backward_cpu(const RnnBackwardParams<T>& p) {
    HS_CPU_DISPATCH(rnn_avx2::backward(p), rnn_portable::backward(p));
}

int64_t rnn_workspace_elements_cpu(RnnPass pass, RnnCell cell, int64_t steps, int64_t batch, int64_t hidden,
                                   int64_t heads) {
    const RnnCellShape shape = rnn_cell_shape(cell);
    // The CPU forward's scratch (running states, packed R, one step's pre-activations) does not grow with T and
    // lives in std::vector (rnn_cpu_kernels.h); only the backward's dg_rec rows scale with T and come from the caller.
    if (pass == RnnPass::Forward) return 0;
    const int64_t head_dim = hidden / heads;
    return steps * batch * heads * round_up(shape.gates * head_dim, kGateRowAlign);
}

template void rnn_forward_cpu<float>(const RnnParams<float>&);
template void rnn_forward_cpu<double>(const RnnParams<double>&);
template void rnn_backward_cpu<float>(const RnnBackwardParams<float>&);
template void rnn_backward_cpu<double>(const RnnBackwardParams<double>&);

}  // namespace hs
