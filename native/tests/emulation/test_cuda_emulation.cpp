// Tests of the emulated CUDA backend itself (src/cuda/emulation): that barriers, warp collectives, atomics, dynamic
// shared memory and grid-resident blocks behave as on a GPU, and that purpose-built faulty kernels (a removed
// __syncthreads, an out-of-bounds shared-memory index, divergent barriers, a bad warp mask, an uninitialised read)
// make their launch fail with a CUDA error and a diagnostic that names the fault. Kernels here are written as in a
// .cu file (HS_CUDA_LAUNCH, HS_SHARED_*), so they would compile under nvcc too.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace {

// Every test starts with no pending error and the fixed scheduling order, and leaves it so.
class CudaEmulation : public ::testing::Test {
protected:
    void SetUp() override {
        saved_seed_ = hs_emu::shuffle_seed();
        hs_emu::set_shuffle_seed(0);
        (void)cudaGetLastError();
    }
    void TearDown() override {
        hs_emu::set_shuffle_seed(saved_seed_);
        (void)cudaGetLastError();
    }

private:
    uint64_t saved_seed_ = 0;
};

// Device buffer of n T, uploaded from / downloaded to host vectors.
template <typename T>
class Buffer {
public:
    explicit Buffer(size_t n, T fill = T()) : n_(n) {
        EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)), cudaSuccess);
        const std::vector<T> host(n, fill);
        EXPECT_EQ(cudaMemcpy(data_, host.data(), n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    }
    ~Buffer() { cudaFree(data_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    T* get() const { return data_; }
    std::vector<T> download() const {
        std::vector<T> host(n_);
        EXPECT_EQ(cudaMemcpy(host.data(), data_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
        return host;
    }

private:
    size_t n_;
    T* data_ = nullptr;
};

// The error of the last launch (cleared), and the diagnostic the emulation printed for it.
struct LaunchOutcome {
    cudaError_t error;
    std::string diagnostic;
};

LaunchOutcome last_launch() {
    const cudaError_t error = cudaGetLastError();
    return {error, error == cudaSuccess ? std::string() : std::string(hs_emu::last_diagnostic())};
}

// ---- barriers --------------------------------------------------------------------------------------------------

// out[i] = in[(i + shift) % n] within each block, through shared memory: a block-wide exchange that needs the
// barrier between the staging writes and the reads.
__global__ void rotate_kernel(const int* in, int* out, int shift) {
    HS_SHARED_DYNAMIC(int, staged);
    const int n = static_cast<int>(blockDim.x);
    const int i = static_cast<int>(threadIdx.x);
    const int base = static_cast<int>(blockIdx.x) * n;
    staged[i] = in[base + i];
    __syncthreads();
    out[base + i] = staged[(i + shift) % n];
}

// The same exchange with the barrier removed: thread i reads a slot that thread i + shift writes in the same
// barrier interval, which the shadow state reports (or, in a random order, it reads stale data).
__global__ void rotate_without_barrier_kernel(const int* in, int* out, int shift) {
    HS_SHARED_DYNAMIC(int, staged);
    const int n = static_cast<int>(blockDim.x);
    const int i = static_cast<int>(threadIdx.x);
    const int base = static_cast<int>(blockIdx.x) * n;
    staged[i] = 0;  // the slots are initialised, so only the missing barrier is wrong
    __syncthreads();
    staged[i] = in[base + i];
    out[base + i] = staged[(i + shift) % n];
}

std::vector<int> iota_vector(size_t n) {
    std::vector<int> values(n);
    std::iota(values.begin(), values.end(), 0);
    return values;
}

void expect_rotated(const std::vector<int>& out, int blocks, int threads, int shift) {
    for (int b = 0; b < blocks; ++b) {
        for (int i = 0; i < threads; ++i) {
            ASSERT_EQ(out[static_cast<size_t>(b * threads + i)], b * threads + (i + shift) % threads)
                << "block " << b << " thread " << i;
        }
    }
}

TEST_F(CudaEmulation, BarrierOrdersSharedMemoryInFixedAndShuffledOrder) {
    const int blocks = 3, threads = 96, shift = 37;
    for (const uint64_t seed : {uint64_t(0), uint64_t(1), uint64_t(12345)}) {
        hs_emu::set_shuffle_seed(seed);
        Buffer<int> in(blocks * threads), out(blocks * threads, -1);
        const std::vector<int> values = iota_vector(blocks * threads);
        ASSERT_EQ(cudaMemcpy(in.get(), values.data(), values.size() * sizeof(int), cudaMemcpyHostToDevice),
                  cudaSuccess);
        HS_CUDA_LAUNCH(rotate_kernel, blocks, threads, threads * sizeof(int), nullptr)(in.get(), out.get(), shift);
        ASSERT_EQ(last_launch().error, cudaSuccess) << "seed " << seed << ": " << hs_emu::last_diagnostic();
        expect_rotated(out.download(), blocks, threads, shift);
    }
}

TEST_F(CudaEmulation, RemovedSyncthreadsIsCaughtInFixedAndShuffledOrder) {
    const int blocks = 2, threads = 64, shift = 5;
    for (const uint64_t seed : {uint64_t(0), uint64_t(7)}) {
        hs_emu::set_shuffle_seed(seed);
        Buffer<int> in(blocks * threads), out(blocks * threads, -1);
        HS_CUDA_LAUNCH(rotate_without_barrier_kernel, blocks, threads, threads * sizeof(int), nullptr)(
            in.get(), out.get(), shift);
        const LaunchOutcome outcome = last_launch();
        EXPECT_EQ(outcome.error, cudaErrorLaunchFailure) << "seed " << seed;
        EXPECT_NE(outcome.diagnostic.find("rotate_without_barrier_kernel"), std::string::npos) << outcome.diagnostic;
        EXPECT_NE(outcome.diagnostic.find("since the last __syncthreads (a missing barrier)"), std::string::npos)
            << outcome.diagnostic;
    }
}

// A reduction over a block whose barrier inside the tree is missing: the classic warp-synchronous bug.
__global__ void tree_sum_kernel(const float* in, float* out, bool with_barrier) {
    HS_SHARED_ARRAY(float, partial, 128);
    const int i = static_cast<int>(threadIdx.x);
    partial[i] = in[i];
    __syncthreads();
    for (int stride = 64; stride > 0; stride /= 2) {
        if (i < stride) partial[i] = partial[i] + partial[i + stride];
        if (with_barrier) __syncthreads();
    }
    if (!with_barrier) __syncthreads();
    if (i == 0) out[0] = partial[0];
}

TEST_F(CudaEmulation, TreeReductionNeedsEveryBarrier) {
    std::vector<float> values(128);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 7) - 3.0f;
    const float expected = std::accumulate(values.begin(), values.end(), 0.0f);
    Buffer<float> in(128), out(1, 0.0f);
    ASSERT_EQ(cudaMemcpy(in.get(), values.data(), 128 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    HS_CUDA_LAUNCH(tree_sum_kernel, 1, 128, 0, nullptr)(in.get(), out.get(), true);
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    EXPECT_EQ(out.download()[0], expected);

    HS_CUDA_LAUNCH(tree_sum_kernel, 1, 128, 0, nullptr)(in.get(), out.get(), false);
    const LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("'partial'"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("a missing barrier"), std::string::npos) << outcome.diagnostic;
}

__global__ void divergent_barrier_kernel(int* out) {
    if (threadIdx.x < 32) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

__global__ void early_exit_barrier_kernel(int* out) {
    if (threadIdx.x == 3) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

TEST_F(CudaEmulation, DivergentBarrierIsAnError) {
    Buffer<int> out(64);
    HS_CUDA_LAUNCH(divergent_barrier_kernel, 1, 64, 0, nullptr)(out.get());
    LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("divergent barriers"), std::string::npos) << outcome.diagnostic;

    HS_CUDA_LAUNCH(early_exit_barrier_kernel, 1, 64, 0, nullptr)(out.get());
    outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("thread (3,0,0)"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("not reached by every thread"), std::string::npos) << outcome.diagnostic;
}

// ---- shared memory checks --------------------------------------------------------------------------------------

__global__ void shifted_store_kernel(int* out, int shift) {
    HS_SHARED_ARRAY(int, slots, 64);
    slots[threadIdx.x + shift] = 1;
    __syncthreads();
    out[threadIdx.x] = slots[threadIdx.x];
}

__global__ void row_overflow_kernel(float* out) {
    HS_SHARED_ARRAY_2D(float, tile, 4, 8);
    const int row = static_cast<int>(threadIdx.x) / 8;
    const int column = static_cast<int>(threadIdx.x) % 8;
    tile[row][column] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = tile[row][column + 1];  // column 8 of a row of 8: past the row, though inside the array
}

TEST_F(CudaEmulation, OutOfBoundsSharedIndexIsAnIllegalAddress) {
    Buffer<int> out(64);
    HS_CUDA_LAUNCH(shifted_store_kernel, 1, 64, 0, nullptr)(out.get(), 0);
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    HS_CUDA_LAUNCH(shifted_store_kernel, 1, 64, 0, nullptr)(out.get(), 1);
    LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorIllegalAddress);
    EXPECT_NE(outcome.diagnostic.find("thread (63,0,0)"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("out of bounds: byte 256 of 'slots' (256 bytes)"), std::string::npos)
        << outcome.diagnostic;

    Buffer<float> tile_out(32);
    HS_CUDA_LAUNCH(row_overflow_kernel, 1, 32, 0, nullptr)(tile_out.get());
    outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorIllegalAddress);
    EXPECT_NE(outcome.diagnostic.find("'tile'[0][8] of [4][8]"), std::string::npos) << outcome.diagnostic;
}

__global__ void read_before_write_kernel(float* out) {
    HS_SHARED_DYNAMIC(float, scratch);
    if (threadIdx.x % 2 == 0) scratch[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = scratch[threadIdx.x];  // the odd slots were never written
}

TEST_F(CudaEmulation, UninitialisedSharedReadIsReported) {
    Buffer<float> out(32);
    HS_CUDA_LAUNCH(read_before_write_kernel, 1, 32, 32 * sizeof(float), nullptr)(out.get());
    const LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("thread (1,0,0)"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("no thread has written (uninitialised): byte 4 of 'dynamic shared memory'"),
              std::string::npos)
        << outcome.diagnostic;
}

// Fills `floats` of dynamic shared memory, then each thread sums its strided share back out.
__global__ void dynamic_fill_kernel(float* out, int floats) {
    HS_SHARED_DYNAMIC(float, big);
    for (int i = threadIdx.x; i < floats; i += blockDim.x) big[i] = static_cast<float>(i);
    __syncthreads();
    float sum = 0.0f;
    for (int i = threadIdx.x; i < floats; i += blockDim.x) sum += big[floats - 1 - i];
    out[threadIdx.x] = sum;
}

TEST_F(CudaEmulation, DynamicSharedMemoryAboveTheDefaultNeedsTheOptIn) {
    const int floats = 100 * 1024 / 4;
    const size_t bytes = floats * sizeof(float);
    Buffer<float> out(128, -1.0f);
    HS_CUDA_LAUNCH(dynamic_fill_kernel, 1, 128, bytes, nullptr)(out.get(), floats);
    LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorInvalidValue);
    EXPECT_NE(outcome.diagnostic.find("cudaFuncSetAttribute"), std::string::npos) << outcome.diagnostic;

    int optin = 0;
    ASSERT_EQ(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
    EXPECT_EQ(optin, 227 * 1024);
    EXPECT_EQ(cudaFuncSetAttribute(dynamic_fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin + 1),
              cudaErrorInvalidValue);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "a failed runtime call is the last error, as on a GPU";
    ASSERT_EQ(cudaFuncSetAttribute(dynamic_fill_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(bytes)),
              cudaSuccess);
    HS_CUDA_LAUNCH(dynamic_fill_kernel, 1, 128, bytes, nullptr)(out.get(), floats);
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    const std::vector<float> sums = out.download();
    for (int t = 0; t < 128; ++t) {
        double expected = 0.0;
        for (int i = t; i < floats; i += 128) expected += static_cast<double>(floats - 1 - i);
        EXPECT_NEAR(sums[static_cast<size_t>(t)], expected, expected * 1e-6) << "thread " << t;
    }
}

// ---- warp collectives --------------------------------------------------------------------------------------------

// Per lane: the xor-butterfly sum over the warp, shfl_down / shfl_up / shfl by 3 within segments of 8, a ballot of
// odd lanes, and all / any votes.
__global__ void warp_ops_kernel(int* sums, int* downs, int* ups, int* broadcasts, unsigned int* ballots,
                                int* votes) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int value = static_cast<int>(threadIdx.x) * 3 + 1;
    int sum = value;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    sums[threadIdx.x] = sum;
    downs[threadIdx.x] = __shfl_down_sync(0xffffffffu, value, 2, 8);
    ups[threadIdx.x] = __shfl_up_sync(0xffffffffu, value, 1, 8);
    broadcasts[threadIdx.x] = __shfl_sync(0xffffffffu, value, 3, 8);
    ballots[threadIdx.x] = __ballot_sync(0xffffffffu, lane % 2);
    votes[threadIdx.x] = __all_sync(0xffffffffu, value > 0) * 10 + __any_sync(0xffffffffu, lane == 31);
}

TEST_F(CudaEmulation, WarpShufflesAndVotesFollowCudaSemantics) {
    const int threads = 64;
    for (const uint64_t seed : {uint64_t(0), uint64_t(99)}) {
        hs_emu::set_shuffle_seed(seed);
        Buffer<int> sums(threads), downs(threads), ups(threads), broadcasts(threads), votes(threads);
        Buffer<unsigned int> ballots(threads);
        HS_CUDA_LAUNCH(warp_ops_kernel, 1, threads, 0, nullptr)(sums.get(), downs.get(), ups.get(), broadcasts.get(),
                                                                ballots.get(), votes.get());
        ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
        const auto s = sums.download(), d = downs.download(), u = ups.download(), b = broadcasts.download(),
                   v = votes.download();
        const auto ballot = ballots.download();
        for (int t = 0; t < threads; ++t) {
            const int warp_base = t / 32 * 32;
            int expected_sum = 0;
            for (int l = 0; l < 32; ++l) expected_sum += (warp_base + l) * 3 + 1;
            const int lane = t % 32;
            const int segment = lane / 8 * 8;
            const auto value_of = [&](int l) { return (warp_base + l) * 3 + 1; };
            EXPECT_EQ(s[t], expected_sum) << t;
            EXPECT_EQ(d[t], lane - segment + 2 < 8 ? value_of(lane + 2) : value_of(lane)) << t;
            EXPECT_EQ(u[t], lane - segment >= 1 ? value_of(lane - 1) : value_of(lane)) << t;
            EXPECT_EQ(b[t], value_of(segment + 3)) << t;
            EXPECT_EQ(ballot[t], 0xAAAAAAAAu) << t;
            EXPECT_EQ(v[t], 11) << t;
        }
    }
}

// Lanes 0..15 sum among themselves with a half mask while lanes 16..31 do something else.
__global__ void half_warp_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x);
    if (lane < 16) {
        int sum = lane;
        for (int offset = 8; offset > 0; offset /= 2) sum += __shfl_xor_sync(0x0000ffffu, sum, offset);
        out[lane] = sum;
    } else {
        out[lane] = -lane;
    }
}

// A full mask although lanes 16..31 leave before the shuffle.
__global__ void exited_lane_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x);
    if (lane >= 16) return;
    out[lane] = __shfl_xor_sync(0xffffffffu, lane, 1);
}

// A mask that leaves out the calling lane.
__global__ void foreign_mask_kernel(int* out) {
    out[threadIdx.x] = __shfl_xor_sync(0xfffffffeu, 1, 1);
}

// A full-warp shuffle in a block of 20 threads: lanes 20..31 do not exist.
__global__ void short_warp_kernel(int* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1); }

TEST_F(CudaEmulation, WarpMasksAreHonoured) {
    Buffer<int> out(32, 0);
    HS_CUDA_LAUNCH(half_warp_kernel, 1, 32, 0, nullptr)(out.get());
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    const std::vector<int> values = out.download();
    for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(values[lane], lane < 16 ? 120 : -lane) << lane;

    HS_CUDA_LAUNCH(exited_lane_kernel, 1, 32, 0, nullptr)(out.get());
    LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("__shfl_xor_sync"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("0xffffffff"), std::string::npos) << outcome.diagnostic;

    HS_CUDA_LAUNCH(foreign_mask_kernel, 1, 32, 0, nullptr)(out.get());
    outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("does not name the calling lane 0"), std::string::npos) << outcome.diagnostic;

    HS_CUDA_LAUNCH(short_warp_kernel, 1, 20, 0, nullptr)(out.get());
    outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("names lane 20, which does not exist"), std::string::npos)
        << outcome.diagnostic;
}

// Lanes that wait at a shuffle while another lane of the mask waits at a barrier: a deadlock on a GPU.
__global__ void shuffle_versus_barrier_kernel(int* out) {
    if (threadIdx.x == 5) {
        __syncthreads();
        out[threadIdx.x] = 0;
    } else {
        out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
        __syncthreads();
    }
}

TEST_F(CudaEmulation, ShuffleThatMeetsABarrierIsReportedNotHung) {
    Buffer<int> out(32);
    HS_CUDA_LAUNCH(shuffle_versus_barrier_kernel, 1, 32, 0, nullptr)(out.get());
    const LaunchOutcome outcome = last_launch();
    EXPECT_EQ(outcome.error, cudaErrorLaunchFailure);
    EXPECT_NE(outcome.diagnostic.find("cannot continue"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("waits at __syncthreads"), std::string::npos) << outcome.diagnostic;
    EXPECT_NE(outcome.diagnostic.find("waits at __shfl_xor_sync"), std::string::npos) << outcome.diagnostic;
}

// ---- atomics and grid-resident blocks ----------------------------------------------------------------------------

__global__ void atomic_count_kernel(int* counter, float* total) {
    atomicAdd(counter, 1);
    atomicAdd(total, 0.5f);
}

TEST_F(CudaEmulation, AtomicsAreAtomicAcrossBlocks) {
    Buffer<int> counter(1, 0);
    Buffer<float> total(1, 0.0f);
    hs_emu::set_shuffle_seed(3);
    HS_CUDA_LAUNCH(atomic_count_kernel, dim3(5, 2), dim3(32, 3), 0, nullptr)(counter.get(), total.get());
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    EXPECT_EQ(counter.download()[0], 5 * 2 * 32 * 3);
    EXPECT_EQ(total.download()[0], 0.5f * 5 * 2 * 32 * 3);
}

// Block 0 spins until the last block has raised the flag: needs all blocks resident and spinning to yield.
__global__ void spin_on_flag_kernel(int* flag, int* seen) {
    if (blockIdx.x == 0) {
        if (threadIdx.x == 0) {
            while (atomicAdd(flag, 0) == 0) {
            }
            seen[0] = atomicAdd(flag, 0);
        }
    } else if (blockIdx.x == gridDim.x - 1 && threadIdx.x == 0) {
        atomicExch(flag, 42);
    }
}

TEST_F(CudaEmulation, BlocksThatWaitForEachOtherProgress) {
    Buffer<int> flag(1, 0), seen(1, 0);
    HS_CUDA_LAUNCH(spin_on_flag_kernel, 16, 64, 0, nullptr)(flag.get(), seen.get());
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    EXPECT_EQ(seen.download()[0], 42);
}

// ---- the runtime API -----------------------------------------------------------------------------------------

__global__ void thread_index_kernel(int* out) {
    const int x = static_cast<int>(threadIdx.x + blockDim.x * blockIdx.x);
    const int y = static_cast<int>(threadIdx.y + blockDim.y * blockIdx.y);
    const int width = static_cast<int>(blockDim.x * gridDim.x);
    out[y * width + x] = y * 1000 + x;
}

TEST_F(CudaEmulation, GridAndBlockIndicesCoverTheLaunch) {
    const dim3 grid(3, 2), block(8, 4);
    Buffer<int> out(3 * 8 * 2 * 4, -1);
    HS_CUDA_LAUNCH(thread_index_kernel, grid, block, 0, nullptr)(out.get());
    ASSERT_EQ(last_launch().error, cudaSuccess) << hs_emu::last_diagnostic();
    const std::vector<int> values = out.download();
    for (int y = 0; y < 8; ++y) {
        for (int x = 0; x < 24; ++x) EXPECT_EQ(values[static_cast<size_t>(y * 24 + x)], y * 1000 + x);
    }
}

TEST_F(CudaEmulation, LaunchConfigurationErrorsFollowTheRuntime) {
    Buffer<int> out(4);
    HS_CUDA_LAUNCH(thread_index_kernel, 1, 2048, 0, nullptr)(out.get());
    EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidConfiguration) << "peek keeps the error";
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "get clears it";
    HS_CUDA_LAUNCH(thread_index_kernel, dim3(1, 0), 32, 0, nullptr)(out.get());
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
    EXPECT_STREQ(cudaGetErrorName(cudaErrorIllegalAddress), "cudaErrorIllegalAddress");

    cudaStream_t stream = nullptr;
    ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
    HS_CUDA_LAUNCH(thread_index_kernel, 1, 4, 0, stream)(out.get());
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
    HS_CUDA_LAUNCH(thread_index_kernel, 1, 4, 0, stream)(out.get());
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);
}

TEST_F(CudaEmulation, MemoryCallsCheckDeviceRanges) {
    void* device = nullptr;
    ASSERT_EQ(cudaMalloc(&device, 64), cudaSuccess);
    std::vector<unsigned char> host(128, 7);
    EXPECT_EQ(cudaMemcpy(device, host.data(), 64, cudaMemcpyHostToDevice), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(device, host.data(), 65, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
    EXPECT_EQ(cudaMemset(static_cast<unsigned char*>(device) + 32, 0, 33), cudaErrorInvalidValue);
    EXPECT_EQ(cudaMemcpy(host.data(), host.data() + 64, 8, cudaMemcpyDeviceToHost), cudaErrorInvalidValue)
        << "a host pointer is not device memory";
    EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidValue);
    size_t free_before = 0, total = 0;
    ASSERT_EQ(cudaMemGetInfo(&free_before, &total), cudaSuccess);
    EXPECT_EQ(cudaFree(device), cudaSuccess);
    size_t free_after = 0;
    ASSERT_EQ(cudaMemGetInfo(&free_after, &total), cudaSuccess);
    EXPECT_EQ(free_after, free_before + 64);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue) << "failed calls are recorded as the last error";
}

TEST_F(CudaEmulation, OneDeviceWithPlausibleProperties) {
    int count = 0;
    ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
    EXPECT_EQ(count, 1);
    cudaDeviceProp properties{};
    ASSERT_EQ(cudaGetDeviceProperties(&properties, 0), cudaSuccess);
    EXPECT_EQ(properties.warpSize, 32);
    EXPECT_EQ(properties.maxThreadsPerBlock, 1024);
    EXPECT_EQ(properties.sharedMemPerBlock, 48u * 1024);
    EXPECT_NE(std::string(properties.name).find("emulation"), std::string::npos);
    EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
    EXPECT_EQ(cudaGetDeviceProperties(&properties, 1), cudaErrorInvalidDevice);

    cudaEvent_t start = nullptr, stop = nullptr;
    ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
    float ms = -1.0f;
    EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle) << "not recorded yet";
    ASSERT_EQ(cudaEventRecord(start, nullptr), cudaSuccess);
    ASSERT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
    EXPECT_GE(ms, 0.0f);
    EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
    EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
    (void)cudaGetLastError();
}

}  // namespace
