// CPU twin of the selective scan (the reference the CUDA kernels are tested against), float and double. The kernels
// live in selective_scan_cpu_kernels.h; like rnn_cpu.cpp and linear_cpu.cpp, this file compiles them twice on x86-64
// with GCC (AVX2 + FMA, and the portable x86-64-v2 baseline of the build) and picks one per call from what the CPU
// supports, so the library still loads and runs on any x86-64-v2 machine.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/cpu_threads.h"
#include "cpu/cpu_vector.h"
#include "hybridseq.h"
#include "ops/selective_scan.h"

namespace hs {
namespace {

constexpr int64_t kChunk = HS_SELECTIVE_SCAN_CHUNK;

// Below about this many element operations a parallel region costs more than it saves (thread wake-up and the
// barrier dominate, badly so on a loaded machine), so small problems run on the calling thread.
constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// Time-varying dB / dC sum per-channel contributions over the channels of a group. The channels of a group are
// split into at most this many fixed slices; each slice accumulates its channels in order into an (L, N) buffer
// and the slices are then added in order. The grouping depends only on the sizes, never on the thread count.
constexpr int64_t kReductionSlices = 16;
// Upper bound on the elements of those slice buffers held at once (per dB / dC); rows of (b, g) are processed in
// blocks that fit.
constexpr int64_t kSliceBufferBudget = int64_t(1) << 23;

}  // namespace

#if defined(HS_CPU_HAVE_AVX2_BUILD)
namespace scan_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include "cpu/cpu_math.h"
#include "cpu/selective_scan_cpu_kernels.h"
#pragma GCC pop_options
}  // namespace scan_avx2
#endif

namespace scan_portable {
#include "cpu/cpu_math.h"
#include "cpu/selective_scan_cpu_kernels.h"
}  // namespace scan_portable

template <typename T>
void selective_scan_forward_cpu(const SelectiveScanParams<T>& p) {
    HS_CPU_DISPATCH(scan_avx2::forward(p), scan_portable::forward(p));
}

template <typename T>
void selective_scan_backward_cpu(const SelectiveScanBackwardParams<T>& g) {
    HS_CPU_DISPATCH(scan_avx2::backward(g), scan_portable::backward(g));
}

template void selective_scan_forward_cpu<float>(const SelectiveScanParams<float>&);
template void selective_scan_forward_cpu<double>(const SelectiveScanParams<double>&);
template void selective_scan_backward_cpu<float>(const SelectiveScanBackwardParams<float>&);
template void selective_scan_backward_cpu<double>(const SelectiveScanBackwardParams<double>&);

}  // namespace hs
