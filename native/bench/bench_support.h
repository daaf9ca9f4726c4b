// Shared helpers of the CPU timing executables (cpu_*_bench.cpp): float32 host views, seeded random inputs, median
// wall-clock timing and the exit-on-error status check. Header-only: a native/bench/cpu_*.cpp or gpu_*.cpp would
// become an executable of its own (native/CMakeLists.txt).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "hybridseq.h"

namespace hs_bench {

// A contiguous (row-major) float32 CPU view of `data` with the given shape; the caller owns `data`.
inline hs_tensor host_view(float* data, const std::vector<int64_t>& shape) {
    hs_tensor t{};
    t.data = data;
    t.dtype = HS_DTYPE_FLOAT32;
    t.device_type = HS_DEVICE_CPU;
    t.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int i = t.rank - 1; i >= 0; --i) {
        t.sizes[i] = shape[static_cast<size_t>(i)];
        t.strides[i] = stride;
        stride *= shape[static_cast<size_t>(i)];
    }
    return t;
}

// `count` values uniform in [low, high), the same for the same seed.
inline std::vector<float> random_values(int64_t count, float low, float high, unsigned seed) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> distribution(low, high);
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) v = distribution(generator);
    return values;
}

// Median wall-clock milliseconds of `repeats` calls of `run`, after one untimed warm-up call (page faults, thread
// pool start).
template <typename Run>
double median_wall_ms(int repeats, Run&& run) {
    run();
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        run();
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

// Prints the status and the library's last error to stderr and exits 1 when `status` is not HS_OK (a timing run has
// nothing sensible to print after a failed call).
inline void exit_on_error(hs_status status) {
    if (status != HS_OK) {
        std::fprintf(stderr, "%s: %s\n", hs_status_name(status), hs_last_error());
        std::exit(1);
    }
}

}  // namespace hs_bench
