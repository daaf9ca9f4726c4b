// The 32-byte vector types, the GEMM tile shape, the thread split and the ISA dispatch shared by the CPU kernels
// (rnn_cpu.cpp, linear_cpu.cpp, selective_scan_cpu.cpp). The kernels themselves, and the vector functions of
// cpu_math.h, are compiled once per instruction set (see HS_CPU_DISPATCH below); these definitions are the same for
// all of them.
#pragma once

#include <cstdint>

// Kernel helpers must be inlined into their caller: they are compiled for the ISA of the function that uses them.
#define HS_CPU_INLINE inline __attribute__((always_inline))

namespace hs {

// 32-byte vectors of each element type (8 floats / 4 doubles) and the same-sized integer vectors that comparisons
// return.
template <typename T>
struct Simd;
template <>
struct Simd<float> {
    typedef float Vector __attribute__((vector_size(32)));
    typedef int32_t Mask __attribute__((vector_size(32)));
    typedef uint32_t Bits;
    typedef uint32_t BitsVector __attribute__((vector_size(32)));
};
template <>
struct Simd<double> {
    typedef double Vector __attribute__((vector_size(32)));
    typedef int64_t Mask __attribute__((vector_size(32)));
    typedef uint64_t Bits;
    typedef uint64_t BitsVector __attribute__((vector_size(32)));
};
template <typename T>
using Vec = typename Simd<T>::Vector;
template <typename T>
using IVec = typename Simd<T>::Mask;
// The unsigned integer of T's width, and the vector of those: what bit manipulation of floats works on.
template <typename T>
using UBits = typename Simd<T>::Bits;
template <typename T>
using UVec = typename Simd<T>::BitsVector;
template <typename T>
constexpr int kLanes = static_cast<int>(32 / sizeof(T));

// The GEMM micro-kernel's tile: kTileRows rows x kPanel columns (two vectors), 12 accumulators in registers.
constexpr int kTileRows = 6;
template <typename T>
constexpr int64_t kPanel = 2 * kLanes<T>;

constexpr int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// [begin, end) of `count` items for thread `thread` of `threads`: fixed contiguous ranges.
struct ItemRange {
    int64_t begin, end;
};
inline ItemRange thread_range(int64_t count, int thread, int threads) {
    return {count * thread / threads, count * (thread + 1) / threads};
}

// GCC on x86-64 builds every CPU kernel a second time for AVX2 + FMA (`#pragma GCC target`); a call takes that
// build when the CPU has both, else the portable one.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HS_CPU_HAVE_AVX2_BUILD 1
#endif

inline bool cpu_has_avx2_fma() {
#if defined(HS_CPU_HAVE_AVX2_BUILD)
    static const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return supported;
#else
    return false;
#endif
}

// Evaluates `avx2_call` when this build has the AVX2 + FMA variant of the kernels and the CPU supports it, else
// `portable_call`. A macro, because without the AVX2 build the namespace `avx2_call` names does not exist.
#if defined(HS_CPU_HAVE_AVX2_BUILD)
#define HS_CPU_DISPATCH(avx2_call, portable_call) (cpu_has_avx2_fma() ? (avx2_call) : (portable_call))
#else
#define HS_CPU_DISPATCH(avx2_call, portable_call) (portable_call)
#endif

}  // namespace hs
