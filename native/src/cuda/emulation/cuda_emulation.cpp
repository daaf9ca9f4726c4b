// The emulated CUDA backend's runtime (library hybridseq_cuda_emulation): one emulated device over host memory, the
// runtime API of include/cuda_runtime_api.h, and the scheduler that runs a grid's CUDA threads as cooperative fibers
// with the checks described in include/cuda_runtime.h. docs/cuda-emulation.md says what this proves and what not.
//
// Execution model. A launch runs synchronously on the calling host thread, to completion, before the launch call
// returns (so streams are in-order queues that are always drained, and events record host time). Blocks are admitted
// in linear order while the resident budget allows (kResidentThreads threads, as on a small GPU), and all resident
// blocks' threads share one ready queue, so a kernel whose blocks wait for each other (spinning on an atomic flag)
// progresses as long as they fit. A thread runs until it blocks: at __syncthreads, at a warp collective until every
// lane of its mask has arrived, at an atomic or fence (it goes to the back of the queue), or (shuffled order) at a
// random shared-memory access. With HYBRIDSEQ_EMU_SHUFFLE=<seed> (non-zero) the next thread is drawn at random.
//
// A broken launch stops at the first error: the diagnostic (kernel, block, thread, source line, address) goes to
// stderr and to the thread's last error, which cudaGetLastError then returns (and cudaGetErrorString spells out).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cuda_runtime.h"

#if !defined(__x86_64__)
#error "the CUDA emulation's fibers switch with x86-64 code (hs_emu_switch_context); port it for this architecture"
#endif

extern "C" {
HS_EMU_API __thread hs_emu::ThreadView* hs_emu_current_thread __attribute__((tls_model("initial-exec"))) = nullptr;
}

// switch_context(save, load): saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save, and resumes the context whose stack pointer is `load`.
extern "C" void hs_emu_switch_context(void** save, void* load);
__asm__(
    ".text\n"
    ".globl hs_emu_switch_context\n"
    ".type hs_emu_switch_context,@function\n"
    "hs_emu_switch_context:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size hs_emu_switch_context, .-hs_emu_switch_context\n");

namespace hs_emu {
namespace {

// ---- the emulated device -----------------------------------------------------------------------------------------

constexpr size_t kDefaultSharedBytes = 48 * 1024;
constexpr size_t kOptinSharedBytes = 227 * 1024;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kMultiprocessors = 4;
constexpr int kThreadsPerMultiprocessor = 2048;
constexpr int kResidentThreads = kMultiprocessors * kThreadsPerMultiprocessor;
constexpr size_t kStackBytes = 128 * 1024;
constexpr uint64_t kSpinLimit = 200000000;  // consecutive yields without any thread finishing anything else

size_t device_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    const size_t physical = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
    const size_t cap = size_t(80) << 30;
    return physical == 0 ? cap : std::min(cap, physical / 2);
}

const char* error_name(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInitializationError: return "cudaErrorInitializationError";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
        case cudaErrorNoDevice: return "cudaErrorNoDevice";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorNotReady: return "cudaErrorNotReady";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
        case cudaErrorLaunchTimeout: return "cudaErrorLaunchTimeout";
        case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    }
    return "cudaErrorUnknown";
}

const char* error_text(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInvalidDeviceFunction: return "invalid device function";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
        case cudaErrorLaunchTimeout: return "the launch timed out and was terminated";
        case cudaErrorMisalignedAddress: return "misaligned address";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

// Per host thread, as in the real runtime.
thread_local cudaError_t t_last_error = cudaSuccess;
thread_local int t_device = 0;
thread_local std::string t_diagnostic;
thread_local cudaError_t t_diagnostic_error = cudaSuccess;
thread_local std::string t_error_string;

cudaError_t record(cudaError_t error) {
    if (error != cudaSuccess) t_last_error = error;
    return error;
}

// Device memory: host allocations registered here, so that copies and sets can check their device ranges.
struct Memory {
    std::mutex mutex;
    std::map<uintptr_t, size_t> allocations;  // start -> bytes
    size_t allocated = 0;
    const size_t total = device_memory_bytes();
};

Memory& memory() {
    static Memory* instance = new Memory();  // never destroyed: cudaFree may run in static destructors
    return *instance;
}

bool is_device_range(const void* pointer, size_t bytes) {
    if (bytes == 0) return true;
    Memory& m = memory();
    std::lock_guard<std::mutex> lock(m.mutex);
    const uintptr_t start = reinterpret_cast<uintptr_t>(pointer);
    auto it = m.allocations.upper_bound(start);
    if (it == m.allocations.begin()) return false;
    --it;
    return start >= it->first && start - it->first <= it->second && bytes <= it->second - (start - it->first);
}

struct StreamRegistry {
    std::mutex mutex;
    std::set<const void*> streams;
    std::set<const void*> events;
};

StreamRegistry& registry() {
    static StreamRegistry* instance = new StreamRegistry();
    return *instance;
}

bool valid_stream(cudaStream_t stream) {
    if (stream == nullptr) return true;
    StreamRegistry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.streams.count(stream) != 0;
}

// Per-kernel attributes (cudaFuncSetAttribute), keyed by the kernel's address.
struct KernelAttributes {
    std::mutex mutex;
    std::map<const void*, size_t> max_dynamic_shared;
};

KernelAttributes& kernel_attributes() {
    static KernelAttributes* instance = new KernelAttributes();
    return *instance;
}

std::atomic<uint64_t> g_shuffle_seed{[] {
    const char* value = std::getenv("HYBRIDSEQ_EMU_SHUFFLE");
    return value == nullptr ? uint64_t(0) : static_cast<uint64_t>(std::strtoull(value, nullptr, 10));
}()};
std::atomic<uint64_t> g_launch_counter{0};

// ---- fibers ------------------------------------------------------------------------------------------------------

// Stacks are reused across launches; each has a guard page below it, so an overflow faults instead of corrupting.
struct StackPool {
    std::vector<unsigned char*> free;
    ~StackPool() {
        for (unsigned char* stack : free) munmap(stack - page(), kStackBytes + page());
    }
    static size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
    unsigned char* take() {
        if (!free.empty()) {
            unsigned char* stack = free.back();
            free.pop_back();
            return stack;
        }
        void* memory = mmap(nullptr, kStackBytes + page(), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (memory == MAP_FAILED) return nullptr;
        mprotect(memory, page(), PROT_NONE);
        return static_cast<unsigned char*>(memory) + page();
    }
    void give(unsigned char* stack) { free.push_back(stack); }
};

thread_local StackPool t_stacks;

enum class State { Ready, Running, AtBarrier, AtWarp, Exited };


struct Thread {
    ThreadView view{};
    Block* block = nullptr;
    int tid = 0;
    int lane = 0;
    int warp = 0;
    unsigned char* stack = nullptr;
    void* sp = nullptr;
    State state = State::Ready;
    // Where it waits, and what it brought to a warp collective.
    const char* file = "";
    int line = 0;
    WarpOp op = WarpOp::SyncWarp;
    unsigned int mask = 0;
    uint64_t value = 0;
    int operand = 0;
    int width = 32;
    uint64_t result = 0;
};

using Shadow = ShadowCell;

size_t shadow_cells(size_t bytes) { return (bytes + (size_t(1) << kShadowShift) - 1) >> kShadowShift; }

}  // namespace

struct Block {
    uint3 index{};
    std::vector<Thread> threads;
    int live = 0;
    int exited = 0;
    int at_barrier = 0;
    uint32_t epoch = 1;
    std::vector<unsigned char> dynamic_data;
    std::vector<Shadow> dynamic_shadow;
    SharedRegion dynamic_region;
    // Static __shared__ arrays, allocated when the block first reaches their declaration.
    std::vector<std::pair<const void*, std::unique_ptr<SharedRegion>>> statics;
    std::vector<std::unique_ptr<unsigned char[]>> static_data;
    std::vector<std::unique_ptr<Shadow[]>> static_shadow;
    size_t static_bytes = 0;
};

namespace {

struct Launch {
    const char* name = "";
    dim3 grid, block_dim;
    size_t dynamic_shared_bytes = 0;
    void (*invoke)(const void*) = nullptr;
    const void* context = nullptr;
    int threads_per_block = 0;
    std::deque<Thread*> ready;
    std::vector<std::unique_ptr<Block>> resident;
    uint64_t next_block = 0;
    uint64_t total_blocks = 0;
    int resident_threads = 0;
    bool shuffled = false;
    std::mt19937_64 rng;
    void* scheduler_sp = nullptr;
    Thread* current = nullptr;
    bool failed = false;
    cudaError_t error = cudaSuccess;
    std::string diagnostic;
    uint64_t spins = 0;
};

thread_local Launch* t_launch = nullptr;

std::string dim_text(unsigned int x, unsigned int y, unsigned int z) {
    return "(" + std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(z) + ")";
}

std::string thread_text(const Thread& t) {
    return "thread " + dim_text(t.view.thread_idx.x, t.view.thread_idx.y, t.view.thread_idx.z);
}

std::string site_text(const char* file, int line) {
    const char* slash = std::strrchr(file, '/');
    return std::string(slash != nullptr ? slash + 1 : file) + ":" + std::to_string(line);
}

const char* op_name(WarpOp op) {
    switch (op) {
        case WarpOp::ShflXor: return "__shfl_xor_sync";
        case WarpOp::ShflDown: return "__shfl_down_sync";
        case WarpOp::ShflUp: return "__shfl_up_sync";
        case WarpOp::ShflIdx: return "__shfl_sync";
        case WarpOp::Ballot: return "__ballot_sync";
        case WarpOp::All: return "__all_sync";
        case WarpOp::Any: return "__any_sync";
        case WarpOp::SyncWarp: return "__syncwarp";
    }
    return "warp collective";
}

std::string mask_text(unsigned int mask) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%08x", mask);
    return text;
}

void switch_to_scheduler() {
    Thread* t = t_launch->current;
    hs_emu_switch_context(&t->sp, t_launch->scheduler_sp);
}

Thread* pick_ready(Launch& launch);

// The running thread blocks (its state says why) or has queued itself: the next ready thread runs, switched to
// directly (one context switch instead of two through the scheduler); with none ready, the scheduler decides
// (admits blocks, detects a deadlock). Returns when someone resumes this thread.
void run_next() {
    Launch& launch = *t_launch;
    Thread* me = launch.current;
    if (launch.failed || launch.ready.empty()) {
        switch_to_scheduler();
        return;
    }
    Thread* next = pick_ready(launch);
    next->state = State::Running;
    if (next == me) return;
    launch.current = next;
    hs_emu_current_thread = &next->view;
    hs_emu_switch_context(&me->sp, next->sp);
}

// Fails the launch at the running thread and never returns to it.
[[noreturn]] void fail(cudaError_t error, const std::string& what) {
    Launch& launch = *t_launch;
    const Thread& t = *launch.current;
    if (!launch.failed) {
        launch.failed = true;
        launch.error = error;
        launch.diagnostic = std::string(launch.name) + ": " + thread_text(t) + " of block " +
                            dim_text(t.view.block_idx.x, t.view.block_idx.y, t.view.block_idx.z) + ": " + what;
    }
    switch_to_scheduler();
    std::abort();  // unreachable: a failed launch never resumes its threads
}

void make_ready(Thread* t) {
    t->state = State::Ready;
    t_launch->ready.push_back(t);
}

// The running thread goes to the back of the queue (or, shuffled, anywhere) and lets the others run.
void yield_running() {
    Thread* t = t_launch->current;
    make_ready(t);
    run_next();
}

void fiber_main() {
    Launch& launch = *t_launch;
    launch.invoke(launch.context);
    // The thread returned from the kernel.
    Thread* t = t_launch->current;
    Block& b = *t->block;
    t->state = State::Exited;
    --b.live;
    ++b.exited;
    t_launch->spins = 0;
    if (b.at_barrier > 0) {
        for (const Thread& other : b.threads) {
            if (other.state == State::AtBarrier) {
                fail(cudaErrorLaunchFailure, "exits while " + std::to_string(b.at_barrier) + " thread(s) of the block "
                                             "wait at __syncthreads, e.g. " + thread_text(other) + " at " +
                                             site_text(other.file, other.line) + " (a barrier not reached by every "
                                             "thread of the block)");
            }
        }
    }
    const int warp_base = t->warp * 32;
    for (int lane = 0; lane < 32 && warp_base + lane < static_cast<int>(b.threads.size()); ++lane) {
        const Thread& other = b.threads[warp_base + lane];
        if (other.state == State::AtWarp && ((other.mask >> t->lane) & 1u)) {
            fail(cudaErrorLaunchFailure, "exits while lane " + std::to_string(lane) + " waits for it at " +
                                         op_name(other.op) + " with mask " + mask_text(other.mask) + " (" +
                                         site_text(other.file, other.line) + ")");
        }
    }
    switch_to_scheduler();
    std::abort();  // unreachable: an exited thread is never resumed
}

void prepare_fiber(Thread& t) {
    // Stack layout for the first switch into the fiber (see hs_emu_switch_context): MXCSR / x87 control word, six
    // callee-saved registers, then fiber_main as the return address, with a zero "return address" above it so that
    // fiber_main starts with the alignment of a called function (rsp = 8 mod 16).
    auto* top = reinterpret_cast<uint64_t*>(t.stack + kStackBytes);
    top[-1] = 0;
    top[-2] = reinterpret_cast<uint64_t>(&fiber_main);
    for (int i = 3; i <= 8; ++i) top[-i] = 0;
    uint32_t control[2] = {0, 0};
    __asm__ volatile("stmxcsr %0" : "=m"(control[0]));
    __asm__ volatile("fnstcw %0" : "=m"(control[1]));
    uint64_t packed = 0;
    std::memcpy(&packed, control, 4);
    packed |= static_cast<uint64_t>(control[1] & 0xFFFFu) << 32;
    top[-9] = packed;
    t.sp = &top[-9];
}

std::unique_ptr<Block> admit_block(Launch& launch, uint64_t linear) {
    auto block = std::make_unique<Block>();
    const uint64_t gx = launch.grid.x;
    const uint64_t gy = launch.grid.y;
    block->index = uint3{static_cast<unsigned int>(linear % gx), static_cast<unsigned int>((linear / gx) % gy),
                         static_cast<unsigned int>(linear / (gx * gy))};
    block->dynamic_data.resize(launch.dynamic_shared_bytes);
    block->dynamic_shadow.assign(shadow_cells(launch.dynamic_shared_bytes), Shadow{0, 0, 0, 0});
    block->dynamic_region.data = block->dynamic_data.data();
    block->dynamic_region.shadow = block->dynamic_shadow.data();
    block->dynamic_region.bytes = launch.dynamic_shared_bytes;
    block->dynamic_region.name = "dynamic shared memory";
    block->dynamic_region.epoch = &block->epoch;
    block->dynamic_region.block = block.get();
    const int n = launch.threads_per_block;
    block->threads.resize(static_cast<size_t>(n));
    block->live = n;
    const unsigned int bx = launch.block_dim.x;
    const unsigned int by = launch.block_dim.y;
    for (int tid = 0; tid < n; ++tid) {
        Thread& t = block->threads[static_cast<size_t>(tid)];
        t.block = block.get();
        t.tid = tid;
        t.lane = tid % 32;
        t.warp = tid / 32;
        const unsigned int u = static_cast<unsigned int>(tid);
        t.view.thread_idx = uint3{u % bx, (u / bx) % by, u / (bx * by)};
        t.view.block_idx = block->index;
        t.view.block_dim = launch.block_dim;
        t.view.grid_dim = launch.grid;
        t.view.shadow_id = static_cast<uint16_t>(tid + 1);
        t.view.shuffled = launch.shuffled;
        t.stack = t_stacks.take();
        if (t.stack == nullptr) return nullptr;
        prepare_fiber(t);
    }
    for (Thread& t : block->threads) make_ready(&t);
    return block;
}

void release_block(Block& block) {
    for (Thread& t : block.threads) {
        if (t.stack != nullptr) t_stacks.give(t.stack);
        t.stack = nullptr;
    }
}

Thread* pick_ready(Launch& launch) {
    if (!launch.shuffled) {
        Thread* t = launch.ready.front();
        launch.ready.pop_front();
        return t;
    }
    const size_t i = static_cast<size_t>(launch.rng() % launch.ready.size());
    std::swap(launch.ready[i], launch.ready.back());
    Thread* t = launch.ready.back();
    launch.ready.pop_back();
    return t;
}

std::string describe_wait(const Thread& t) {
    switch (t.state) {
        case State::AtBarrier: return thread_text(t) + " waits at __syncthreads (" + site_text(t.file, t.line) + ")";
        case State::AtWarp:
            return thread_text(t) + " waits at " + op_name(t.op) + " with mask " + mask_text(t.mask) + " (" +
                   site_text(t.file, t.line) + ")";
        default: return thread_text(t) + " is not waiting";
    }
}

// No thread can run, but some have not finished: describe two waiting threads that wait for different things.
void fail_deadlock(Launch& launch) {
    for (auto& block : launch.resident) {
        const Thread* first = nullptr;
        const Thread* second = nullptr;
        for (const Thread& t : block->threads) {
            if (t.state == State::Exited) continue;
            if (first == nullptr) {
                first = &t;
            } else if (t.state != first->state || t.line != first->line || t.file != first->file) {
                second = &t;
                break;
            }
        }
        if (first == nullptr) continue;
        launch.failed = true;
        launch.error = cudaErrorLaunchFailure;
        launch.diagnostic = std::string(launch.name) + ": block " +
                            dim_text(block->index.x, block->index.y, block->index.z) +
                            " cannot continue (divergent barrier or warp collective): " + describe_wait(*first) +
                            (second != nullptr ? "; " + describe_wait(*second) : std::string()) +
                            (block->exited > 0 ? "; " + std::to_string(block->exited) + " thread(s) have exited"
                                               : std::string());
        return;
    }
    launch.failed = true;
    launch.error = cudaErrorLaunchFailure;
    launch.diagnostic = std::string(launch.name) + ": no thread can run";
}

cudaError_t run_grid(Launch& launch) {
    const uint64_t blocks_at_once =
        std::max<uint64_t>(1, static_cast<uint64_t>(kResidentThreads / launch.threads_per_block));
    while (!launch.failed) {
        while (launch.next_block < launch.total_blocks && launch.resident.size() < blocks_at_once) {
            std::unique_ptr<Block> block = admit_block(launch, launch.next_block);
            if (block == nullptr) {
                launch.failed = true;
                launch.error = cudaErrorMemoryAllocation;
                launch.diagnostic = std::string(launch.name) + ": no memory for the fibers' stacks";
                break;
            }
            ++launch.next_block;
            launch.resident.push_back(std::move(block));
        }
        if (launch.failed) break;
        if (launch.ready.empty()) {
            if (launch.resident.empty()) break;  // done
            fail_deadlock(launch);
            break;
        }
        Thread* t = pick_ready(launch);
        t->state = State::Running;
        launch.current = t;
        hs_emu_current_thread = &t->view;
        hs_emu_switch_context(&launch.scheduler_sp, t->sp);
        // Back from whichever thread gave up last (threads switch to each other directly while some are ready).
        Thread* back = launch.current;
        hs_emu_current_thread = nullptr;
        launch.current = nullptr;
        if (launch.failed) break;
        Block* block = back->block;
        if (block->live == 0) {
            release_block(*block);
            auto it = std::find_if(launch.resident.begin(), launch.resident.end(),
                                   [&](const std::unique_ptr<Block>& b) { return b.get() == block; });
            launch.resident.erase(it);
        }
    }
    for (auto& block : launch.resident) release_block(*block);
    launch.resident.clear();
    if (!launch.failed) return cudaSuccess;
    t_diagnostic = launch.diagnostic;
    t_diagnostic_error = launch.error;
    std::fprintf(stderr, "hybridseq CUDA emulation: %s\n", launch.diagnostic.c_str());
    return launch.error;
}

// ---- shared memory checks ----------------------------------------------------------------------------------------

std::string where_in(const SharedRegion& region, ptrdiff_t lo, ptrdiff_t offset) {
    const auto element = static_cast<ptrdiff_t>(region.element_size);
    if (region.columns > 0 && region.rows > 1) {
        const ptrdiff_t row_bytes = static_cast<ptrdiff_t>(region.columns) * element;
        const ptrdiff_t row = lo / row_bytes;
        const ptrdiff_t column = (offset - lo) / element;
        return "'" + std::string(region.name) + "'[" + std::to_string(row) + "][" + std::to_string(column) +
               "] of [" + std::to_string(region.rows) + "][" + std::to_string(region.columns) + "]";
    }
    return "byte " + std::to_string(offset) + " of '" + region.name + "' (" + std::to_string(region.bytes) +
           " bytes)";
}

std::string writer_text(const Block& block, uint16_t id) {
    return thread_text(block.threads[static_cast<size_t>(id - 1)]);
}

}  // namespace

unsigned char* shared_access_slow(const SharedRegion* region, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t offset,
                                  size_t size, Access access) {
    Launch& launch = *t_launch;
    if (launch.shuffled && (launch.rng() & 7u) == 0) yield_running();
    Thread& t = *launch.current;
    const char* verb = access == Access::Read ? "reads" : "writes";
    if (region == nullptr) fail(cudaErrorIllegalAddress, std::string(verb) + " through a null shared-memory pointer");
    const auto end = offset + static_cast<ptrdiff_t>(size);
    if (lo < 0 || hi > static_cast<ptrdiff_t>(region->bytes) || offset < lo || end > hi) {
        const bool two_d = region->columns > 0 && region->rows > 1;
        fail(cudaErrorIllegalAddress,
             std::string(verb) + " shared memory out of bounds: " + where_in(*region, two_d ? lo : 0, offset) +
                 (two_d ? "" : " (allowed bytes [" + std::to_string(lo) + ", " + std::to_string(hi) + "))"));
    }
    if (size > 1 && (reinterpret_cast<uintptr_t>(region->data + offset) % size) != 0) {
        fail(cudaErrorMisalignedAddress, std::string(verb) + " " + std::to_string(size) +
                                             " bytes at a misaligned shared-memory address: " +
                                             where_in(*region, lo, offset));
    }
    Block& block = *t.block;
    const uint32_t epoch = block.epoch;
    const auto me = static_cast<uint16_t>(t.tid + 1);
    Shadow* shadow = region->shadow + (offset >> kShadowShift);
    const size_t cells = static_cast<size_t>(((end - 1) >> kShadowShift) - (offset >> kShadowShift) + 1);
    if (access == Access::Read) {
        for (size_t i = 0; i < cells; ++i) {
            Shadow& s = shadow[i];
            if (s.writer == 0) {
                fail(cudaErrorLaunchFailure, "reads shared memory that no thread has written (uninitialised): " +
                                                 where_in(*region, lo, offset));
            }
            if (s.write_epoch == epoch && s.writer != me) {
                fail(cudaErrorLaunchFailure, "reads shared memory that " + writer_text(block, s.writer) +
                                                 " wrote since the last __syncthreads (a missing barrier): " +
                                                 where_in(*region, lo, offset));
            }
            if (s.read_epoch != epoch) {
                s.read_epoch = epoch;
                s.reader = me;
            } else if (s.reader != me) {
                s.reader = kManyReaders;
            }
        }
    } else {
        for (size_t i = 0; i < cells; ++i) {
            Shadow& s = shadow[i];
            if (s.write_epoch == epoch && s.writer != 0 && s.writer != me) {
                fail(cudaErrorLaunchFailure, "writes shared memory that " + writer_text(block, s.writer) +
                                                 " also wrote since the last __syncthreads (a write race): " +
                                                 where_in(*region, lo, offset));
            }
            if (s.read_epoch == epoch && s.reader != me) {
                fail(cudaErrorLaunchFailure,
                     "writes shared memory that " +
                         (s.reader == kManyReaders ? std::string("other threads") : writer_text(block, s.reader)) +
                         " read since the last __syncthreads (a missing barrier): " + where_in(*region, lo, offset));
            }
            s.writer = me;
            s.write_epoch = epoch;
        }
    }
    return region->data + offset;
}

const SharedRegion* dynamic_shared_region() { return &t_launch->current->block->dynamic_region; }

const SharedRegion* static_shared_region(const void* tag, const char* name, size_t element_size, size_t rows,
                                         size_t columns) {
    Block& block = *t_launch->current->block;
    for (auto& entry : block.statics) {
        if (entry.first == tag) return entry.second.get();
    }
    const size_t bytes = element_size * rows * columns;
    if (block.static_bytes + bytes > kDefaultSharedBytes ||
        block.static_bytes + bytes + t_launch->dynamic_shared_bytes > kOptinSharedBytes) {
        fail(cudaErrorLaunchOutOfResources,
             "static shared array '" + std::string(name) + "' (" + std::to_string(bytes) +
                 " bytes) exceeds the shared memory of a block (48 KiB static, 227 KiB in all)");
    }
    block.static_bytes += bytes;
    auto region = std::make_unique<SharedRegion>();
    block.static_data.emplace_back(new unsigned char[bytes > 0 ? bytes : 1]);
    block.static_shadow.emplace_back(new Shadow[shadow_cells(bytes) + 1]());
    region->data = block.static_data.back().get();
    region->shadow = block.static_shadow.back().get();
    region->bytes = bytes;
    region->name = name;
    region->element_size = element_size;
    region->rows = rows;
    region->columns = columns;
    region->block = &block;
    region->epoch = &block.epoch;
    block.statics.emplace_back(tag, std::move(region));
    return block.statics.back().second.get();
}

size_t region_bytes(const SharedRegion* region) { return region->bytes; }

// ---- barriers and warp collectives -------------------------------------------------------------------------------

void syncthreads(const char* file, int line) {
    Launch& launch = *t_launch;
    Thread& t = *launch.current;
    Block& block = *t.block;
    t.state = State::AtBarrier;
    t.file = file;
    t.line = line;
    ++block.at_barrier;
    if (block.exited > 0) {
        for (const Thread& other : block.threads) {
            if (other.state == State::Exited) {
                fail(cudaErrorLaunchFailure, "waits at __syncthreads (" + site_text(file, line) + ") that " +
                                                 thread_text(other) + " of the block, which has exited, never "
                                                 "reaches (a barrier not reached by every thread of the block)");
            }
        }
    }
    if (block.at_barrier < block.live) {
        run_next();
        return;
    }
    for (const Thread& other : block.threads) {
        if (other.line != line || std::strcmp(other.file, file) != 0) {
            fail(cudaErrorLaunchFailure, "waits at __syncthreads (" + site_text(file, line) + ") while " +
                                             thread_text(other) + " waits at __syncthreads (" +
                                             site_text(other.file, other.line) + "): divergent barriers");
        }
    }
    block.at_barrier = 0;
    ++block.epoch;
    launch.spins = 0;
    for (Thread& other : block.threads) make_ready(&other);
    run_next();
}

uint64_t warp_collective(WarpOp op, unsigned int mask, uint64_t value, int operand, int width, const char* file,
                         int line) {
    Launch& launch = *t_launch;
    Thread& t = *launch.current;
    Block& block = *t.block;
    // "<intrinsic> (<file:line>) with mask <mask>", formatted only when a check fails.
    auto where = [&] {
        return std::string(op_name(op)) + " (" + site_text(file, line) + ") with mask " + mask_text(mask);
    };
    if (((mask >> t.lane) & 1u) == 0) {
        fail(cudaErrorLaunchFailure, where() +
                                         ", which does not name the calling lane " + std::to_string(t.lane));
    }
    if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
        fail(cudaErrorLaunchFailure, std::string(op_name(op)) + " (" + site_text(file, line) + ") with width " +
                                         std::to_string(width) + ", which is not a power of two in [1, 32]");
    }
    const int warp_base = t.warp * 32;
    const int block_threads = static_cast<int>(block.threads.size());
    t.op = op;
    t.mask = mask;
    t.value = value;
    t.operand = operand;
    t.width = width;
    t.file = file;
    t.line = line;
    t.state = State::AtWarp;
    bool complete = true;
    for (int lane = 0; lane < 32; ++lane) {
        if (((mask >> lane) & 1u) == 0 || lane == t.lane) continue;
        if (warp_base + lane >= block_threads) {
            fail(cudaErrorLaunchFailure, where() +
                                             " names lane " + std::to_string(lane) + ", which does not exist (the "
                                             "block has " + std::to_string(block_threads) + " threads)");
        }
        const Thread& other = block.threads[static_cast<size_t>(warp_base + lane)];
        if (other.state == State::Exited) {
            fail(cudaErrorLaunchFailure, where() +
                                             " names lane " + std::to_string(lane) + ", which has exited");
        }
        if (other.state != State::AtWarp) complete = false;
    }
    if (!complete) {
        run_next();
        return t.result;
    }
    // Every lane of the mask is here: check that they agree, then compute every lane's result.
    uint64_t vote = 0;
    int all = 1;
    int any = 0;
    for (int lane = 0; lane < 32; ++lane) {
        if (((mask >> lane) & 1u) == 0) continue;
        const Thread& other = block.threads[static_cast<size_t>(warp_base + lane)];
        if (other.op != op || other.mask != mask || other.width != width) {
            fail(cudaErrorLaunchFailure, where() +
                                             " meets lane " + std::to_string(lane) + " at " + op_name(other.op) +
                                             " with mask " + mask_text(other.mask) + " (" +
                                             site_text(other.file, other.line) + "): divergent warp collectives");
        }
        const bool predicate = other.value != 0;
        if (predicate) vote |= uint64_t(1) << lane;
        all = all && predicate;
        any = any || predicate;
    }
    for (int lane = 0; lane < 32; ++lane) {
        if (((mask >> lane) & 1u) == 0) continue;
        Thread& other = block.threads[static_cast<size_t>(warp_base + lane)];
        const int segment = lane / width * width;
        int source = lane;
        switch (op) {
            case WarpOp::ShflXor: source = lane ^ other.operand; break;
            case WarpOp::ShflDown: source = lane + other.operand; break;
            case WarpOp::ShflUp: source = lane - other.operand; break;
            case WarpOp::ShflIdx: source = segment + ((other.operand % width) + width) % width; break;
            default: break;
        }
        // A source outside the lane's segment of `width` lanes leaves the lane's own value (CUDA's rule).
        if (source < segment || source >= segment + width) source = lane;
        switch (op) {
            case WarpOp::Ballot: other.result = vote; break;
            case WarpOp::All: other.result = static_cast<uint64_t>(all); break;
            case WarpOp::Any: other.result = static_cast<uint64_t>(any); break;
            case WarpOp::SyncWarp: other.result = 0; break;
            default:
                if (((mask >> source) & 1u) == 0) {
                    fail(cudaErrorLaunchFailure, where() + ": lane " + std::to_string(lane) + " reads lane " +
                                                     std::to_string(source) +
                                                     ", which is not in the mask (undefined value)");
                }
                other.result = block.threads[static_cast<size_t>(warp_base + source)].value;
                break;
        }
    }
    launch.spins = 0;
    if (!launch.shuffled) {
        // Fixed order: the lanes continue in lane order after the one that completed the collective.
        for (int lane = 0; lane < 32; ++lane) {
            if (((mask >> lane) & 1u) == 0 || lane == t.lane) continue;
            make_ready(&block.threads[static_cast<size_t>(warp_base + lane)]);
        }
        t.state = State::Running;
        return t.result;
    }
    for (int lane = 0; lane < 32; ++lane) {
        if (((mask >> lane) & 1u) != 0) make_ready(&block.threads[static_cast<size_t>(warp_base + lane)]);
    }
    run_next();
    return t.result;
}

void yield_point() {
    Launch* launch = t_launch;
    if (launch == nullptr || launch->current == nullptr) return;
    if (++launch->spins > kSpinLimit) {
        fail(cudaErrorLaunchTimeout, "no thread made progress in " + std::to_string(kSpinLimit) +
                                         " atomics / fences (a spin wait for a block that is not resident, "
                                         "or for a write that never comes)");
    }
    yield_running();
}

void run_kernel(const void* key, const char* name, dim3 grid, dim3 block, size_t dynamic_shared_bytes,
                cudaStream_t stream, void (*invoke)(const void*), const void* context) {
    auto reject = [&](cudaError_t error, const std::string& what) {
        t_diagnostic = std::string(name) + ": " + what;
        t_diagnostic_error = error;
        record(error);
    };
    if (t_launch != nullptr) return reject(cudaErrorLaunchFailure, "launched from inside a kernel");
    const uint64_t threads = uint64_t(block.x) * block.y * block.z;
    if (threads == 0 || threads > kMaxThreadsPerBlock || block.x > 1024 || block.y > 1024 || block.z > 64) {
        return reject(cudaErrorInvalidConfiguration, "block " + dim_text(block.x, block.y, block.z) +
                                                         " is not a valid block (1 to 1024 threads)");
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
        return reject(cudaErrorInvalidConfiguration, "grid " + dim_text(grid.x, grid.y, grid.z) +
                                                         " is not a valid grid");
    }
    if (!valid_stream(stream)) return reject(cudaErrorInvalidResourceHandle, "launched on an invalid stream");
    size_t limit = kDefaultSharedBytes;
    {
        KernelAttributes& attributes = kernel_attributes();
        std::lock_guard<std::mutex> lock(attributes.mutex);
        auto it = attributes.max_dynamic_shared.find(key);
        if (it != attributes.max_dynamic_shared.end()) limit = it->second;
    }
    if (dynamic_shared_bytes > limit) {
        return reject(cudaErrorInvalidValue, std::to_string(dynamic_shared_bytes) +
                                                 " bytes of dynamic shared memory, more than the kernel's limit of " +
                                                 std::to_string(limit) + " (raise it with cudaFuncSetAttribute)");
    }
    Launch launch;
    launch.name = name;
    launch.grid = grid;
    launch.block_dim = block;
    launch.dynamic_shared_bytes = dynamic_shared_bytes;
    launch.invoke = invoke;
    launch.context = context;
    launch.threads_per_block = static_cast<int>(threads);
    launch.total_blocks = uint64_t(grid.x) * grid.y * grid.z;
    const uint64_t seed = g_shuffle_seed.load();
    launch.shuffled = seed != 0;
    launch.rng.seed(seed * 0x9E3779B97F4A7C15ull + g_launch_counter.fetch_add(1));
    t_launch = &launch;
    const cudaError_t error = run_grid(launch);
    t_launch = nullptr;
    record(error);
}

const char* last_diagnostic() { return t_diagnostic.c_str(); }
void set_shuffle_seed(uint64_t seed) { g_shuffle_seed.store(seed); }
uint64_t shuffle_seed() { return g_shuffle_seed.load(); }

}  // namespace hs_emu

// ---- the runtime API -----------------------------------------------------------------------------------------------

using hs_emu::is_device_range;
using hs_emu::record;

struct CUstream_st {
    int unused;
};
struct CUevent_st {
    bool recorded;
    std::chrono::steady_clock::time_point time;
};

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
    if (count == nullptr) return record(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
    if (device == nullptr) return record(cudaErrorInvalidValue);
    *device = hs_emu::t_device;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
    if (device != 0) return record(cudaErrorInvalidDevice);
    hs_emu::t_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device) {
    if (properties == nullptr) return record(cudaErrorInvalidValue);
    if (device != 0) return record(cudaErrorInvalidDevice);
    cudaDeviceProp p{};
    std::snprintf(p.name, sizeof(p.name), "HybridSeq CUDA emulation (CPU fibers, sm_90-like limits)");
    p.totalGlobalMem = hs_emu::memory().total;
    p.sharedMemPerBlock = hs_emu::kDefaultSharedBytes;
    p.sharedMemPerBlockOptin = hs_emu::kOptinSharedBytes;
    p.sharedMemPerMultiprocessor = 228 * 1024;
    p.regsPerBlock = 65536;
    p.warpSize = 32;
    p.maxThreadsPerBlock = hs_emu::kMaxThreadsPerBlock;
    p.maxThreadsDim[0] = 1024;
    p.maxThreadsDim[1] = 1024;
    p.maxThreadsDim[2] = 64;
    p.maxGridSize[0] = 2147483647;
    p.maxGridSize[1] = 65535;
    p.maxGridSize[2] = 65535;
    p.maxThreadsPerMultiProcessor = hs_emu::kThreadsPerMultiprocessor;
    p.multiProcessorCount = hs_emu::kMultiprocessors;
    p.major = 9;
    p.minor = 0;
    p.clockRate = 1000;
    p.l2CacheSize = 50 * 1024 * 1024;
    *properties = p;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
    if (value == nullptr) return record(cudaErrorInvalidValue);
    if (device != 0) return record(cudaErrorInvalidDevice);
    switch (attribute) {
        case cudaDevAttrMaxThreadsPerBlock: *value = hs_emu::kMaxThreadsPerBlock; break;
        case cudaDevAttrMaxBlockDimX: *value = 1024; break;
        case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
        case cudaDevAttrMaxGridDimY: *value = 65535; break;
        case cudaDevAttrMaxGridDimZ: *value = 65535; break;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(hs_emu::kDefaultSharedBytes); break;
        case cudaDevAttrWarpSize: *value = 32; break;
        case cudaDevAttrMultiProcessorCount: *value = hs_emu::kMultiprocessors; break;
        case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
        case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(hs_emu::kOptinSharedBytes); break;
        default: return record(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

// Work runs when it is issued, so there is never anything to wait for.
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaDeviceReset(void) { return cudaSuccess; }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    if (free_bytes == nullptr || total_bytes == nullptr) return record(cudaErrorInvalidValue);
    hs_emu::Memory& m = hs_emu::memory();
    std::lock_guard<std::mutex> lock(m.mutex);
    *total_bytes = m.total;
    *free_bytes = m.total - std::min(m.total, m.allocated);
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    const cudaError_t error = hs_emu::t_last_error;
    hs_emu::t_last_error = cudaSuccess;
    return error;
}

cudaError_t cudaPeekAtLastError(void) { return hs_emu::t_last_error; }

const char* cudaGetErrorName(cudaError_t error) { return hs_emu::error_name(error); }

// The standard text; for the error of this thread's last failed launch also what the emulation found (valid until
// the next call on this thread).
const char* cudaGetErrorString(cudaError_t error) {
    if (error != cudaSuccess && error == hs_emu::t_diagnostic_error && !hs_emu::t_diagnostic.empty()) {
        hs_emu::t_error_string =
            std::string(hs_emu::error_text(error)) + "; CUDA emulation: " + hs_emu::t_diagnostic;
        return hs_emu::t_error_string.c_str();
    }
    return hs_emu::error_text(error);
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
    if (pointer == nullptr) return record(cudaErrorInvalidValue);
    *pointer = nullptr;
    if (bytes == 0) return cudaSuccess;
    hs_emu::Memory& m = hs_emu::memory();
    {
        std::lock_guard<std::mutex> lock(m.mutex);
        if (bytes > m.total - std::min(m.total, m.allocated)) return record(cudaErrorMemoryAllocation);
    }
    const size_t rounded = (bytes + 255) / 256 * 256;
    void* memory = std::aligned_alloc(256, rounded);
    if (memory == nullptr) return record(cudaErrorMemoryAllocation);
    // Fresh device memory holds garbage: all-ones bytes (NaN as float), so that an unwritten output shows.
    std::memset(memory, 0xFF, rounded);
    std::lock_guard<std::mutex> lock(m.mutex);
    m.allocations[reinterpret_cast<uintptr_t>(memory)] = bytes;
    m.allocated += bytes;
    *pointer = memory;
    return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
    if (pointer == nullptr) return cudaSuccess;
    hs_emu::Memory& m = hs_emu::memory();
    {
        std::lock_guard<std::mutex> lock(m.mutex);
        auto it = m.allocations.find(reinterpret_cast<uintptr_t>(pointer));
        if (it == m.allocations.end()) return record(cudaErrorInvalidValue);
        m.allocated -= it->second;
        m.allocations.erase(it);
    }
    std::free(pointer);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
    if (!hs_emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    if (destination == nullptr || source == nullptr) return record(cudaErrorInvalidValue);
    const bool device_destination = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool device_source = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return record(cudaErrorInvalidMemcpyDirection);
    if ((device_destination && !is_device_range(destination, bytes)) ||
        (device_source && !is_device_range(source, bytes))) {
        return record(cudaErrorInvalidValue);
    }
    std::memmove(destination, source, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind) {
    return cudaMemcpyAsync(destination, source, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
    if (!hs_emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (bytes == 0) return cudaSuccess;
    if (!is_device_range(pointer, bytes)) return record(cudaErrorInvalidValue);
    std::memset(pointer, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemset(void* pointer, int value, size_t bytes) {
    return cudaMemsetAsync(pointer, value, bytes, nullptr);
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int /*flags*/) {
    if (stream == nullptr) return record(cudaErrorInvalidValue);
    auto* created = new CUstream_st{0};
    hs_emu::StreamRegistry& r = hs_emu::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.streams.insert(created);
    *stream = created;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    if (stream == nullptr) return record(cudaErrorInvalidResourceHandle);
    hs_emu::StreamRegistry& r = hs_emu::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.streams.erase(stream) == 0) return record(cudaErrorInvalidResourceHandle);
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    return hs_emu::valid_stream(stream) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

static bool valid_event(cudaEvent_t event) {
    if (event == nullptr) return false;
    hs_emu::StreamRegistry& r = hs_emu::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.events.count(event) != 0;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int /*flags*/) {
    if (!hs_emu::valid_stream(stream) || !valid_event(event)) return record(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int /*flags*/) {
    if (event == nullptr) return record(cudaErrorInvalidValue);
    auto* created = new CUevent_st{false, {}};
    hs_emu::StreamRegistry& r = hs_emu::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.events.insert(created);
    *event = created;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    hs_emu::StreamRegistry& r = hs_emu::registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (event == nullptr || r.events.erase(event) == 0) return record(cudaErrorInvalidResourceHandle);
    delete event;
    return cudaSuccess;
}

// Host time when the event is recorded: every earlier piece of work on the stream has already run.
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!valid_event(event) || !hs_emu::valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    event->recorded = true;
    event->time = std::chrono::steady_clock::now();
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    return valid_event(event) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
    if (milliseconds == nullptr) return record(cudaErrorInvalidValue);
    if (!valid_event(start) || !valid_event(end) || !start->recorded || !end->recorded) {
        return record(cudaErrorInvalidResourceHandle);
    }
    *milliseconds = std::chrono::duration<float, std::milli>(end->time - start->time).count();
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* function, cudaFuncAttribute attribute, int value) {
    if (function == nullptr) return record(cudaErrorInvalidDeviceFunction);
    if (attribute == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
    if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
        static_cast<size_t>(value) > hs_emu::kOptinSharedBytes) {
        return record(cudaErrorInvalidValue);
    }
    hs_emu::KernelAttributes& attributes = hs_emu::kernel_attributes();
    std::lock_guard<std::mutex> lock(attributes.mutex);
    attributes.max_dynamic_shared[function] = static_cast<size_t>(value);
    return cudaSuccess;
}

}  // extern "C"
