// The device side of the emulated CUDA backend (HYBRIDSEQ_CUDA=EMULATED): what a .cu file of HybridSeq needs to compile
// as host C++ and run on the CPU with the execution model of a GPU. Every CUDA thread of a block is a cooperative
// fiber (cuda_emulation.cpp); the fibers switch at __syncthreads, at warp collectives (shuffles, votes, __syncwarp),
// at atomics and fences (so that a thread spinning on a flag lets the others run), and, with HYBRIDSEQ_EMU_SHUFFLE
// set, at random shared-memory accesses in a random order. So barrier logic, shared-memory staging and warp
// reductions run exactly as written, and a launch whose threads break the model fails with a CUDA error and a
// diagnostic instead of running on:
//   - a __syncthreads that not every thread of the block reaches (one exits, or they wait at different barriers),
//   - a warp collective whose mask names a lane that does not take part (exited, elsewhere, or no such lane),
//   - shared memory read or written outside its array (2-D arrays: outside the row), or misaligned,
//   - shared memory read before any thread wrote it (uninitialised), or read / written by one thread after another
//     thread wrote / read it with no __syncthreads in between (a missing barrier).
// Shared memory is declared through the macros of cuda/cuda_common.cuh (HS_SHARED_*), which are plain __shared__
// declarations under nvcc and checked accessors here; a bare __shared__ does not compile in this build.
// Not modelled: global-memory bounds and races, memory ordering, timing, occupancy, nvcc code generation
// (docs/cuda-emulation.md).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_runtime_api.h"

#define HYBRIDSEQ_CUDA_EMULATION_RUNTIME 1

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict

constexpr int warpSize = 32;

namespace hs_emu {

// What a running CUDA thread sees of itself; owned by the scheduler, read through threadIdx and friends.
struct ThreadView {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
    uint16_t shadow_id;  // linear thread index + 1, as the shared-memory shadow records writers and readers
    bool shuffled;       // random order: every shared-memory access takes the scheduler's slow path
};

}  // namespace hs_emu

// The view of the CUDA thread that runs on this host thread (null outside a kernel). initial-exec: kernels read it
// for every threadIdx, and the general TLS model would make each read a call.
extern "C" HS_EMU_API __thread hs_emu::ThreadView* hs_emu_current_thread __attribute__((tls_model("initial-exec")));

#define threadIdx (hs_emu_current_thread->thread_idx)
#define blockIdx (hs_emu_current_thread->block_idx)
#define blockDim (hs_emu_current_thread->block_dim)
#define gridDim (hs_emu_current_thread->grid_dim)

namespace hs_emu {

// ---- scheduler entry points (cuda_emulation.cpp) ---------------------------------------------------------------

enum class WarpOp : int { ShflXor, ShflDown, ShflUp, ShflIdx, Ballot, All, Any, SyncWarp };

HS_EMU_API void syncthreads(const char* file, int line);
// One warp collective of the calling thread; the result bits of a shuffle, or the vote.
HS_EMU_API uint64_t warp_collective(WarpOp op, unsigned int mask, uint64_t value, int operand, int width,
                                    const char* file, int line);
// Lets other threads run (atomics, fences, sleeps), so that a thread spinning on a flag does not stall the grid.
HS_EMU_API void yield_point();

// Runs kernel `key` (its address) as `name` over the grid: invoke(context) is the body of every thread.
HS_EMU_API void run_kernel(const void* key, const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                           cudaStream_t stream, void (*invoke)(const void* context), const void* context);

// The diagnostic of the last kernel failure on this host thread ("" when none yet); kept until the next failure.
HS_EMU_API const char* last_diagnostic();
// Scheduling order of the fibers: 0 = fixed (thread order, each runs until it blocks); any other seed = random order
// and random switches at shared-memory accesses. The initial value comes from HYBRIDSEQ_EMU_SHUFFLE.
HS_EMU_API void set_shuffle_seed(uint64_t seed);
HS_EMU_API uint64_t shuffle_seed();

// ---- shared memory -----------------------------------------------------------------------------------------------

// The shadow of one 4-byte word of shared memory: who last wrote it and in which barrier interval ("epoch"), who read
// it in the current one. Words, not bytes: a float access then checks one cell, which keeps the emulated tests within
// CI's time; the cost is that two threads writing different bytes of one word between two barriers are reported as a
// race (our kernels keep no sub-word data in shared memory).
constexpr int kShadowShift = 2;
struct ShadowCell {
    uint32_t write_epoch;
    uint32_t read_epoch;
    uint16_t writer;  // shadow_id of the last writer, 0 = never written
    uint16_t reader;  // shadow_id of the reader in read_epoch, kManyReaders when several
};
constexpr uint16_t kManyReaders = 0xFFFF;

struct Block;

// One __shared__ array (or the dynamic shared memory) of a running block; cuda_emulation.cpp owns it.
struct SharedRegion {
    unsigned char* data = nullptr;
    ShadowCell* shadow = nullptr;
    size_t bytes = 0;
    const uint32_t* epoch = nullptr;  // the block's barrier count
    const char* name = "";
    size_t element_size = 1;
    size_t rows = 1;
    size_t columns = 0;  // 0: a flat region (dynamic shared memory, 1-D arrays)
    Block* block = nullptr;
};

enum class Access : int { Read, Write };

// The checks of shared_access, done again with a diagnostic, failing the launch (or taking a shuffled switch).
HS_EMU_API unsigned char* shared_access_slow(const SharedRegion* region, ptrdiff_t lo, ptrdiff_t hi,
                                             ptrdiff_t offset, size_t size, Access access);

// Checks an access of `size` bytes at byte `offset` of `region`, which the declaration allows in [lo, hi) (a 2-D
// array's row), against bounds, alignment and the shadow state, and returns its address. Anything unusual (an
// error, or the shuffled order) goes to shared_access_slow; this is the inline fast path of every access.
inline unsigned char* shared_access(const SharedRegion* region, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t offset,
                                    size_t size, Access access) {
    const ThreadView* me = hs_emu_current_thread;
    const ptrdiff_t end = offset + static_cast<ptrdiff_t>(size);
    if (region == nullptr || me->shuffled || lo < 0 || offset < lo || end > hi ||
        hi > static_cast<ptrdiff_t>(region->bytes) ||
        (reinterpret_cast<uintptr_t>(region->data + offset) & (size - 1)) != 0) {
        return shared_access_slow(region, lo, hi, offset, size, access);
    }
    const uint32_t epoch = *region->epoch;
    const uint16_t id = me->shadow_id;
    ShadowCell* first = region->shadow + (offset >> kShadowShift);
    ShadowCell* last = region->shadow + ((end - 1) >> kShadowShift);
    if (access == Access::Read) {
        for (ShadowCell* c = first; c <= last; ++c) {
            if (c->writer == 0 || (c->write_epoch == epoch && c->writer != id)) {
                return shared_access_slow(region, lo, hi, offset, size, access);
            }
        }
        for (ShadowCell* c = first; c <= last; ++c) {
            if (c->read_epoch != epoch) {
                c->read_epoch = epoch;
                c->reader = id;
            } else if (c->reader != id) {
                c->reader = kManyReaders;
            }
        }
    } else {
        for (ShadowCell* c = first; c <= last; ++c) {
            if ((c->write_epoch == epoch && c->writer != 0 && c->writer != id) ||
                (c->read_epoch == epoch && c->reader != id)) {
                return shared_access_slow(region, lo, hi, offset, size, access);
            }
        }
        for (ShadowCell* c = first; c <= last; ++c) {
            c->writer = id;
            c->write_epoch = epoch;
        }
    }
    return region->data + offset;
}
HS_EMU_API const SharedRegion* dynamic_shared_region();
HS_EMU_API const SharedRegion* static_shared_region(const void* tag, const char* name, size_t element_size,
                                                    size_t rows, size_t columns);
HS_EMU_API size_t region_bytes(const SharedRegion* region);

template <typename T>
class SharedRef {
public:
    using Value = std::remove_const_t<T>;
    SharedRef(const SharedRegion* region, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t offset)
        : region_(region), lo_(lo), hi_(hi), offset_(offset) {}

    operator Value() const { return load(); }

    template <typename U = T, typename = std::enable_if_t<!std::is_const<U>::value>>
    const SharedRef& operator=(Value value) const {
        store(value);
        return *this;
    }
    const SharedRef& operator=(const SharedRef& other) const {
        static_assert(!std::is_const<T>::value, "assignment through a pointer to const shared memory");
        store(other.load());
        return *this;
    }
    template <typename U = T, typename = std::enable_if_t<!std::is_const<U>::value>>
    const SharedRef& operator+=(Value value) const {
        store(static_cast<Value>(load() + value));
        return *this;
    }
    template <typename U = T, typename = std::enable_if_t<!std::is_const<U>::value>>
    const SharedRef& operator-=(Value value) const {
        store(static_cast<Value>(load() - value));
        return *this;
    }
    template <typename U = T, typename = std::enable_if_t<!std::is_const<U>::value>>
    const SharedRef& operator*=(Value value) const {
        store(static_cast<Value>(load() * value));
        return *this;
    }

private:
    Value load() const {
        Value value;
        std::memcpy(&value, shared_access(region_, lo_, hi_, offset_, sizeof(Value), Access::Read), sizeof(Value));
        return value;
    }
    void store(Value value) const {
        std::memcpy(shared_access(region_, lo_, hi_, offset_, sizeof(Value), Access::Write), &value, sizeof(Value));
    }

    const SharedRegion* region_;
    ptrdiff_t lo_, hi_, offset_;
};

// A pointer into shared memory that remembers which array (row) it may touch. Arithmetic is free; every dereference
// is checked.
template <typename T>
class SharedPtr {
public:
    SharedPtr() = default;
    SharedPtr(std::nullptr_t) {}
    SharedPtr(const SharedRegion* region, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t offset)
        : region_(region), lo_(lo), hi_(hi), offset_(offset) {}
    template <typename U, typename = std::enable_if_t<std::is_same<const U, T>::value && !std::is_same<U, T>::value>>
    SharedPtr(const SharedPtr<U>& other)
        : region_(other.region()), lo_(other.lo()), hi_(other.hi()), offset_(other.offset()) {}

    SharedRef<T> operator*() const { return SharedRef<T>(region_, lo_, hi_, offset_); }
    SharedRef<T> operator[](ptrdiff_t index) const {
        return SharedRef<T>(region_, lo_, hi_, offset_ + index * static_cast<ptrdiff_t>(sizeof(T)));
    }
    SharedPtr operator+(ptrdiff_t n) const {
        return SharedPtr(region_, lo_, hi_, offset_ + n * static_cast<ptrdiff_t>(sizeof(T)));
    }
    SharedPtr operator-(ptrdiff_t n) const { return *this + (-n); }
    SharedPtr& operator+=(ptrdiff_t n) { return *this = *this + n; }
    SharedPtr& operator-=(ptrdiff_t n) { return *this = *this - n; }
    bool operator==(std::nullptr_t) const { return region_ == nullptr; }
    bool operator!=(std::nullptr_t) const { return region_ != nullptr; }
    explicit operator bool() const { return region_ != nullptr; }

    const SharedRegion* region() const { return region_; }
    ptrdiff_t lo() const { return lo_; }
    ptrdiff_t hi() const { return hi_; }
    ptrdiff_t offset() const { return offset_; }

private:
    const SharedRegion* region_ = nullptr;
    ptrdiff_t lo_ = 0, hi_ = 0, offset_ = 0;
};

template <typename T>
SharedPtr<T> operator+(ptrdiff_t n, const SharedPtr<T>& p) {
    return p + n;
}

// A __shared__ T name[rows][columns]: name[i] is a pointer limited to row i.
template <typename T>
class SharedArray2D {
public:
    SharedArray2D(const SharedRegion* region, size_t rows, size_t columns)
        : region_(region), rows_(static_cast<ptrdiff_t>(rows)), columns_(static_cast<ptrdiff_t>(columns)) {}
    SharedPtr<T> operator[](ptrdiff_t row) const {
        const ptrdiff_t row_bytes = columns_ * static_cast<ptrdiff_t>(sizeof(T));
        // A row outside the array keeps its (out-of-bounds) offsets, so that the first access reports it.
        return SharedPtr<T>(region_, row * row_bytes, (row + 1) * row_bytes, row * row_bytes);
    }

private:
    const SharedRegion* region_;
    ptrdiff_t rows_, columns_;
};

template <typename T>
SharedPtr<T> dynamic_shared() {
    const SharedRegion* region = dynamic_shared_region();
    return SharedPtr<T>(region, 0, static_cast<ptrdiff_t>(region_bytes(region)), 0);
}

template <typename T>
SharedArray2D<T> static_shared_2d(const void* tag, const char* name, size_t rows, size_t columns) {
    return SharedArray2D<T>(static_shared_region(tag, name, sizeof(T), rows, columns), rows, columns);
}

template <typename T>
SharedPtr<T> static_shared_1d(const void* tag, const char* name, size_t count) {
    const SharedRegion* region = static_shared_region(tag, name, sizeof(T), 1, count);
    return SharedPtr<T>(region, 0, static_cast<ptrdiff_t>(count * sizeof(T)), 0);
}

// ---- launches ----------------------------------------------------------------------------------------------------

template <typename... Params>
class Launcher {
public:
    Launcher(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block, size_t shared_bytes,
             cudaStream_t stream)
        : kernel_(kernel), name_(name), grid_(grid), block_(block), shared_bytes_(shared_bytes), stream_(stream) {}

    // Copies the arguments as a launch does (once per CUDA thread, by value) and runs the grid to completion.
    template <typename... Args>
    void operator()(Args&&... args) const {
        static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong number of arguments");
        struct Payload {
            void (*kernel)(Params...);
            std::tuple<std::decay_t<Params>...> params;
        };
        const Payload payload{kernel_, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
        auto invoke = [](const void* context) {
            const Payload* p = static_cast<const Payload*>(context);
            std::tuple<std::decay_t<Params>...> own = p->params;
            std::apply(p->kernel, own);
        };
        run_kernel(reinterpret_cast<const void*>(kernel_), name_, grid_, block_, shared_bytes_, stream_, invoke,
                   &payload);
    }

private:
    void (*kernel_)(Params...);
    const char* name_;
    dim3 grid_, block_;
    size_t shared_bytes_;
    cudaStream_t stream_;
};

template <typename... Params>
Launcher<Params...> launch(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block, size_t shared_bytes,
                           cudaStream_t stream) {
    return Launcher<Params...>(kernel, name, grid, block, shared_bytes, stream);
}

template <typename T>
uint64_t to_bits(T value) {
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable<T>::value, "shuffle of a large type");
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    return bits;
}

template <typename T>
T from_bits(uint64_t bits) {
    T value;
    std::memcpy(&value, &bits, sizeof(T));
    return value;
}

}  // namespace hs_emu

// ---- what kernels call ---------------------------------------------------------------------------------------------

#define __syncthreads() ::hs_emu::syncthreads(__FILE__, __LINE__)

inline void __syncwarp(unsigned int mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
    ::hs_emu::warp_collective(::hs_emu::WarpOp::SyncWarp, mask, 0, 0, warpSize, file, line);
}

template <typename T>
T __shfl_xor_sync(unsigned int mask, T value, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::hs_emu::from_bits<T>(::hs_emu::warp_collective(::hs_emu::WarpOp::ShflXor, mask,
                                                            ::hs_emu::to_bits(value), lane_mask, width, file, line));
}
template <typename T>
T __shfl_down_sync(unsigned int mask, T value, unsigned int delta, int width = warpSize,
                   const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::hs_emu::from_bits<T>(::hs_emu::warp_collective(::hs_emu::WarpOp::ShflDown, mask,
                                                            ::hs_emu::to_bits(value), static_cast<int>(delta), width,
                                                            file, line));
}
template <typename T>
T __shfl_up_sync(unsigned int mask, T value, unsigned int delta, int width = warpSize,
                 const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::hs_emu::from_bits<T>(::hs_emu::warp_collective(::hs_emu::WarpOp::ShflUp, mask,
                                                            ::hs_emu::to_bits(value), static_cast<int>(delta), width,
                                                            file, line));
}
template <typename T>
T __shfl_sync(unsigned int mask, T value, int source_lane, int width = warpSize, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
    return ::hs_emu::from_bits<T>(::hs_emu::warp_collective(::hs_emu::WarpOp::ShflIdx, mask,
                                                            ::hs_emu::to_bits(value), source_lane, width, file, line));
}
inline unsigned int __ballot_sync(unsigned int mask, int predicate, const char* file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
    return static_cast<unsigned int>(
        ::hs_emu::warp_collective(::hs_emu::WarpOp::Ballot, mask, predicate != 0, 0, warpSize, file, line));
}
inline int __all_sync(unsigned int mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
    return static_cast<int>(
        ::hs_emu::warp_collective(::hs_emu::WarpOp::All, mask, predicate != 0, 0, warpSize, file, line));
}
inline int __any_sync(unsigned int mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
    return static_cast<int>(
        ::hs_emu::warp_collective(::hs_emu::WarpOp::Any, mask, predicate != 0, 0, warpSize, file, line));
}

inline void __threadfence() { ::hs_emu::yield_point(); }
inline void __threadfence_block() { ::hs_emu::yield_point(); }
inline void __nanosleep(unsigned int) { ::hs_emu::yield_point(); }

// Atomics: the fibers of a host thread never run at the same time, so a plain read-modify-write is atomic; each one
// then lets other threads run.
template <typename T>
T atomicAdd(T* address, T value) {
    const T old = *address;
    *address = old + value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicSub(T* address, T value) {
    const T old = *address;
    *address = old - value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicExch(T* address, T value) {
    const T old = *address;
    *address = value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicMax(T* address, T value) {
    const T old = *address;
    if (value > old) *address = value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicMin(T* address, T value) {
    const T old = *address;
    if (value < old) *address = value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
    const T old = *address;
    if (old == compare) *address = value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicOr(T* address, T value) {
    const T old = *address;
    *address = old | value;
    ::hs_emu::yield_point();
    return old;
}
template <typename T>
T atomicAnd(T* address, T value) {
    const T old = *address;
    *address = old & value;
    ::hs_emu::yield_point();
    return old;
}

template <typename T>
T __ldg(const T* address) {
    return *address;
}

// The device overloads of min / max that CUDA code calls unqualified.
#define HS_EMU_MIN_MAX(T)                                    \
    inline T min(T a, T b) { return b < a ? b : a; }         \
    inline T max(T a, T b) { return a < b ? b : a; }
HS_EMU_MIN_MAX(int)
HS_EMU_MIN_MAX(unsigned int)
HS_EMU_MIN_MAX(long)
HS_EMU_MIN_MAX(unsigned long)
HS_EMU_MIN_MAX(long long)
HS_EMU_MIN_MAX(unsigned long long)
#undef HS_EMU_MIN_MAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

// Fast-math intrinsics: the accurate functions (the emulation is about logic, not last-ulp agreement with the GPU).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline int __float_as_int(float x) { return ::hs_emu::from_bits<int>(::hs_emu::to_bits(x)); }
inline float __int_as_float(int x) { return ::hs_emu::from_bits<float>(::hs_emu::to_bits(x)); }
inline unsigned int __float_as_uint(float x) { return ::hs_emu::from_bits<unsigned int>(::hs_emu::to_bits(x)); }
inline float __uint_as_float(unsigned int x) { return ::hs_emu::from_bits<float>(::hs_emu::to_bits(x)); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }

// ---- the macros cuda/cuda_common.cuh defines for nvcc --------------------------------------------------------------

#define HS_CUDA_LAUNCH(kernel, grid, block, shared_bytes, stream) \
    ::hs_emu::launch(kernel, #kernel, (grid), (block), (shared_bytes), (stream))
#define HS_SHARED_DYNAMIC(type, name) const ::hs_emu::SharedPtr<type> name = ::hs_emu::dynamic_shared<type>()
#define HS_SHARED_ARRAY_2D(type, name, rows, columns)                                                     \
    static const char hs_shared_tag_##name = 0;                                                           \
    const ::hs_emu::SharedArray2D<type> name =                                                            \
        ::hs_emu::static_shared_2d<type>(&hs_shared_tag_##name, #name, (rows), (columns))
#define HS_SHARED_ARRAY(type, name, count)                                                                \
    static const char hs_shared_tag_##name = 0;                                                           \
    const ::hs_emu::SharedPtr<type> name = ::hs_emu::static_shared_1d<type>(&hs_shared_tag_##name, #name, (count))
#define HS_SHARED_PTR(type) ::hs_emu::SharedPtr<type>
