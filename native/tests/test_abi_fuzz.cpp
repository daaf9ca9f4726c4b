// A fuzz test of the C ABI (hybridseq.h): random, mostly invalid calls into every entry point, each checked against an
// independent model of the header's rules that this file implements on its own (shapes, dtypes, devices, strides,
// element-count overflow, the no-alias rule, flags, lengths values).
//
// Entry points covered: the selective scan, the fused recurrence, the dense projection, the S4 kernels (Cauchy,
// Vandermonde), the streaming convolutions (depthwise, dense dilated) and the library's own functions.
//
// Invariants, per call:
//   - no crash and no hang: calls run in forked children, one child per batch; a child that dies by a signal or runs
//     past its time limit fails the test, and the parent prints the seed and the index of the call it was in;
//   - a call the model finds invalid is refused; a call the model finds valid is accepted (and a query's answer is
//     checked where the model knows it);
//   - every non-OK status comes with a message that starts with the entry point's name and names an argument
//     ("argument '" or "field '").
// Every call is generated from (seed, call index) alone, so `hybridseq_abi_fuzz --seed S --call I` replays one call
// in-process (under a debugger or a sanitizer) and `--calls N` / `--seed S` change the run.
//
// Buffers: every tensor whose view is small gets real memory of exactly its byte size, so a valid call never crashes
// for lack of it; views of huge sizes point at a small real buffer, and the model must find such a call invalid (a
// call the model finds valid with a view larger than its buffer is skipped, never run).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "hybridseq.h"

namespace {

// Mutations push sizes and strides past int64's ends on purpose (the shims must refuse them): add as unsigned, wrap,
// instead of signed overflow, which is undefined behaviour (and stops the run under UBSan).
int64_t wrapping_add(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}


constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Views up to this many bytes get real memory; larger ones share a small buffer that a valid call may never touch.
constexpr int64_t kRealBufferLimit = int64_t(1) << 20;
constexpr size_t kFakeBufferBytes = 256;

// ---- random numbers ------------------------------------------------------------------------------------------------

struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed) : state(seed) {}
    uint64_t next() {  // splitmix64
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
    bool chance(int percent) { return below(100) < percent; }
    template <typename T>
    T pick(std::initializer_list<T> values) {
        return *(values.begin() + below(static_cast<int64_t>(values.size())));
    }
};

// A size: mostly small (0, 1, odd), sometimes huge or negative.
int64_t random_size(Rng& rng, int huge_percent) {
    if (rng.chance(huge_percent)) {
        return rng.pick<int64_t>({int64_t(1) << 31, (int64_t(1) << 62) + 1 + rng.below(5), kInt64Max, int64_t(1) << 40,
                                  (int64_t(1) << 32) + 1, -1, -(int64_t(1) << 62)});
    }
    // Now and then a medium size, so that valid calls also reach the kernels' parallel and multi-chunk paths
    // (HS_SELECTIVE_SCAN_CHUNK = 256 steps).
    if (rng.chance(4)) return rng.pick<int64_t>({16, 33, 64, 257});
    return rng.pick<int64_t>({0, 1, 1, 2, 2, 3, 3, 4, 5, 7});
}

// ---- overflow-checked arithmetic of the model -------------------------------------------------------------------

bool product_fits(const std::vector<int64_t>& sizes, int64_t* out) {
    for (int64_t s : sizes) {
        if (s < 0) return false;
    }
    for (int64_t s : sizes) {
        if (s == 0) {
            *out = 0;
            return true;
        }
    }
    __int128 p = 1;
    for (int64_t s : sizes) {
        p *= s;
        if (p > kInt64Max) return false;
    }
    *out = static_cast<int64_t>(p);
    return true;
}

int64_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case HS_DTYPE_FLOAT32:
        case HS_DTYPE_INT32: return 4;
        case HS_DTYPE_FLOAT64:
        case HS_DTYPE_INT64:
        case HS_DTYPE_COMPLEX64: return 8;
        case HS_DTYPE_COMPLEX128: return 16;
        default: return 0;
    }
}

// ---- tensor arguments -----------------------------------------------------------------------------------------------

enum class Role { Input, Output, InPlace, Scratch };

struct Arg {
    std::string name;
    Role role = Role::Input;
    bool present = false;
    hs_tensor view{};
    std::shared_ptr<std::vector<unsigned char>> storage;  // real memory, or the shared small buffer
    int64_t capacity = 0;                                 // bytes behind view.data
};

std::vector<int64_t> sizes_of(const hs_tensor& t) {
    const int rank = std::clamp(t.rank, 0, static_cast<int>(HS_MAX_RANK));
    return std::vector<int64_t>(t.sizes, t.sizes + rank);
}

hs_tensor make_view(int32_t dtype, const std::vector<int64_t>& shape) {
    hs_tensor t{};
    t.dtype = dtype;
    t.device_type = HS_DEVICE_CPU;
    t.rank = static_cast<int32_t>(shape.size());
    __int128 stride = 1;
    for (int i = t.rank - 1; i >= 0; --i) {
        t.sizes[i] = shape[static_cast<size_t>(i)];
        t.strides[i] = stride > kInt64Max || stride < 0 ? 1 : static_cast<int64_t>(stride);
        stride *= std::max<int64_t>(shape[static_cast<size_t>(i)], 1);
        if (stride > kInt64Max) stride = kInt64Max;
    }
    return t;
}

// Memory for a view: exactly its bytes when small, else the shared small buffer.
void back_with_memory(Arg& a, Rng& rng, const std::shared_ptr<std::vector<unsigned char>>& fake) {
    int64_t count = 0;
    const bool fits = product_fits(sizes_of(a.view), &count) && count <= kRealBufferLimit;
    const int64_t bytes = fits ? count * std::max<int64_t>(dtype_size(a.view.dtype), 1) : -1;
    if (fits && bytes <= kRealBufferLimit) {
        a.storage = std::make_shared<std::vector<unsigned char>>(static_cast<size_t>(std::max<int64_t>(bytes, 1)));
        // Small finite values: float32 1/64 steps, float64 likewise, the complex dtypes as pairs of them; int64
        // lengths are set by their op.
        if (a.view.dtype == HS_DTYPE_FLOAT32 || a.view.dtype == HS_DTYPE_COMPLEX64) {
            auto* f = reinterpret_cast<float*>(a.storage->data());
            const int64_t reals = a.view.dtype == HS_DTYPE_COMPLEX64 ? 2 * count : count;
            for (int64_t i = 0; i < reals; ++i) f[i] = static_cast<float>(rng.below(64) - 32) / 64.0f;
        } else if (a.view.dtype == HS_DTYPE_FLOAT64 || a.view.dtype == HS_DTYPE_COMPLEX128) {
            auto* d = reinterpret_cast<double*>(a.storage->data());
            const int64_t reals = a.view.dtype == HS_DTYPE_COMPLEX128 ? 2 * count : count;
            for (int64_t i = 0; i < reals; ++i) d[i] = static_cast<double>(rng.below(64) - 32) / 64.0;
        }
        a.capacity = bytes;
    } else {
        a.storage = fake;
        a.capacity = static_cast<int64_t>(fake->size());
    }
    a.view.data = a.storage->data();
}

// ---- the model: what the header says about one view ---------------------------------------------------------------

struct Verdict {
    bool valid = true;
    std::string why;  // the first rule broken (for the failure report)
    void fail(const std::string& reason) {
        if (valid) why = reason;
        valid = false;
    }
};

// Well formed (rank, dtype, device, sizes, counts, data); returns the element count (0 when not well formed).
int64_t check_header(const Arg& a, Verdict& v) {
    const hs_tensor& t = a.view;
    if (t.rank < 0 || t.rank > HS_MAX_RANK) return v.fail(a.name + ": rank"), 0;
    if (t.dtype < 0 || t.dtype > 5) return v.fail(a.name + ": dtype"), 0;
    if (t.device_type == HS_DEVICE_CPU ? t.device_index != 0
                                       : t.device_type != HS_DEVICE_CUDA || t.device_index < 0) {
        return v.fail(a.name + ": device"), 0;
    }
    int64_t count = 0;
    if (!product_fits(sizes_of(t), &count)) return v.fail(a.name + ": negative or overflowing sizes"), 0;
    if (static_cast<__int128>(count) * dtype_size(t.dtype) > kInt64Max) return v.fail(a.name + ": bytes overflow"), 0;
    if (t.data == nullptr && count != 0) return v.fail(a.name + ": NULL data"), 0;
    return count;
}

bool contiguous(const hs_tensor& t) {
    int64_t count = 0;
    if (!product_fits(sizes_of(t), &count) || count == 0) return true;
    int64_t stride = 1;
    for (int i = t.rank - 1; i >= 0; --i) {
        if (t.sizes[i] != 1 && t.strides[i] != stride) return false;
        stride *= t.sizes[i];
    }
    return true;
}

// A present tensor of `shape` in `dtype` on the primary's device, contiguous.
void expect(const Arg& a, const std::vector<int64_t>& shape, int32_t dtype, const hs_tensor& primary, Verdict& v) {
    if (!a.present) return;
    check_header(a, v);
    if (sizes_of(a.view) != shape || a.view.rank != static_cast<int32_t>(shape.size())) v.fail(a.name + ": shape");
    if (a.view.dtype != dtype) v.fail(a.name + ": dtype mismatch");
    if (a.view.device_type != primary.device_type || a.view.device_index != primary.device_index) {
        v.fail(a.name + ": device mismatch");
    }
    if (!contiguous(a.view)) v.fail(a.name + ": strides");
}

void expect_required(const Arg& a, Verdict& v) {
    if (!a.present) v.fail(a.name + ": required but NULL");
}

void expect_absent(const Arg& a, Verdict& v) {
    if (a.present) v.fail(a.name + ": must be NULL");
}

// The primary float tensor: well formed, `rank`, float32/float64, a device this build serves, contiguous.
void expect_primary(const Arg& a, int32_t rank, Verdict& v) {
    if (!a.present) return v.fail(a.name + ": required primary is NULL");
    check_header(a, v);
    if (a.view.rank != rank) v.fail(a.name + ": primary rank");
    if (a.view.dtype != HS_DTYPE_FLOAT32 && a.view.dtype != HS_DTYPE_FLOAT64) v.fail(a.name + ": primary dtype");
    // The fuzz never runs a kernel on CUDA (its buffers are host memory): a CUDA primary is refused on a CPU build and
    // skipped on a CUDA build (see run_call).
    if (a.view.device_type == HS_DEVICE_CUDA && hs_cuda_compiled() == 0) v.fail(a.name + ": CUDA on a CPU build");
    if (!contiguous(a.view)) v.fail(a.name + ": primary strides");
}

// The primary complex tensor of the S4 kernels: as expect_primary, with complex64 / complex128.
void expect_primary_complex(const Arg& a, int32_t rank, Verdict& v) {
    if (!a.present) return v.fail(a.name + ": required primary is NULL");
    check_header(a, v);
    if (a.view.rank != rank) v.fail(a.name + ": primary rank");
    if (a.view.dtype != HS_DTYPE_COMPLEX64 && a.view.dtype != HS_DTYPE_COMPLEX128) v.fail(a.name + ": primary dtype");
    if (a.view.device_type == HS_DEVICE_CUDA && hs_cuda_compiled() == 0) v.fail(a.name + ": CUDA on a CPU build");
    if (!contiguous(a.view)) v.fail(a.name + ": primary strides");
}

// The no-alias rule: no written tensor overlaps any other present tensor.
void expect_no_overlap(const std::vector<const Arg*>& args, Verdict& v) {
    for (size_t i = 0; i < args.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            const Arg& a = *args[i];
            const Arg& b = *args[j];
            if (!a.present || !b.present || (a.role == Role::Input && b.role == Role::Input)) continue;
            int64_t ca = 0, cb = 0;
            if (!product_fits(sizes_of(a.view), &ca) || !product_fits(sizes_of(b.view), &cb)) continue;
            const __int128 bytes_a = static_cast<__int128>(ca) * dtype_size(a.view.dtype);
            const __int128 bytes_b = static_cast<__int128>(cb) * dtype_size(b.view.dtype);
            if (bytes_a == 0 || bytes_b == 0 || a.view.data == nullptr || b.view.data == nullptr) continue;
            const auto pa = static_cast<__int128>(reinterpret_cast<uintptr_t>(a.view.data));
            const auto pb = static_cast<__int128>(reinterpret_cast<uintptr_t>(b.view.data));
            if (pa < pb + bytes_b && pb < pa + bytes_a) v.fail(a.name + " overlaps " + b.name);
        }
    }
}

void expect_flag(const char* name, int32_t value, Verdict& v) {
    if (value != 0 && value != 1) v.fail(std::string(name) + ": flag");
}

// 64 * product fits in int64 (the kernels' headroom), for a problem with steps.
void expect_extent(const std::vector<int64_t>& extents, Verdict& v) {
    __int128 p = 64;
    for (int64_t e : extents) {
        p *= e;
        if (p > kInt64Max) return v.fail("extent overflow");
    }
}

// The caller's scratch: absent only when nothing is needed; when present well formed, 1-D with at least `needed`
// elements, `dtype`, on the primary's device, contiguous.
void expect_workspace(const Arg& ws, int64_t needed, int32_t dtype, const hs_tensor& primary, Verdict& v) {
    if (!ws.present) {
        if (needed > 0) v.fail("workspace required");
        return;
    }
    check_header(ws, v);
    if (ws.view.rank != 1 || ws.view.sizes[0] < needed) v.fail("workspace size");
    if (ws.view.dtype != dtype) v.fail("workspace dtype");
    if (ws.view.device_type != primary.device_type || ws.view.device_index != primary.device_index) {
        v.fail("ws device");
    }
    if (!contiguous(ws.view)) v.fail("workspace strides");
}

// CPU lengths values in [0, max]; only readable when the view is real memory.
void expect_lengths_values(const Arg& lengths, int64_t max, Verdict& v) {
    if (!lengths.present || !v.valid || lengths.view.device_type != HS_DEVICE_CPU) return;
    const int64_t count = lengths.view.sizes[0];
    if (count * 8 > lengths.capacity) return;  // a fake buffer: some other rule is broken (checked by the caller)
    const auto* values = static_cast<const int64_t*>(lengths.view.data);
    for (int64_t i = 0; i < count; ++i) {
        if (values[i] < 0 || values[i] > max) return v.fail("lengths value");
    }
}

// ---- one generated call -------------------------------------------------------------------------------------------

enum Entry {
    kScanForward, kScanBackward, kScanStep, kScanWorkspace, kScanNumChunks,
    kRnnForward, kRnnBackward, kRnnStep, kRnnWorkspace, kRnnCellInfo,
    kLinearForward, kLinearBackward,
    kCauchyForward, kCauchyBackward, kVandermondeForward, kVandermondeBackward,
    kDepthwiseForward, kDepthwiseBackward, kDepthwiseStep, kDepthwiseWorkspace,
    kDilatedForward, kDilatedBackward, kDilatedStep,
    kLibrary,
    kEntryCount
};

const char* const kEntryNames[kEntryCount] = {
    "hs_selective_scan_forward", "hs_selective_scan_backward", "hs_selective_scan_step",
    "hs_selective_scan_workspace_elements", "hs_selective_scan_num_chunks",
    "hs_rnn_forward", "hs_rnn_backward", "hs_rnn_step", "hs_rnn_workspace_elements", "hs_rnn_cell_info",
    "hs_linear_forward", "hs_linear_backward",
    "hs_cauchy_forward", "hs_cauchy_backward", "hs_vandermonde_forward", "hs_vandermonde_backward",
    "hs_depthwise_conv_forward", "hs_depthwise_conv_backward", "hs_depthwise_conv_step",
    "hs_depthwise_conv_workspace_elements",
    "hs_dilated_conv_forward", "hs_dilated_conv_backward", "hs_dilated_conv_step",
    "library (hs_abi_*, hs_cuda_*, hs_status_name, ...)"};

struct Call {
    Entry entry = kScanForward;
    std::vector<Arg> args;  // every tensor argument, present or not, in the order the entry point takes them
    std::vector<int32_t> flags;
    bool null_struct = false;      // inputs / grads pointer NULL
    bool null_out_pointer = false;  // int64_t* elements NULL
    bool null_grads = false;        // the convolutions' grads pointer NULL
    int64_t dilation = 1;           // the convolutions' int64 field (flags are int32)
    std::shared_ptr<std::vector<unsigned char>> fake;

    Arg& arg(const char* name) {
        for (Arg& a : args) {
            if (a.name == name) return a;
        }
        std::fprintf(stderr, "abi fuzz: no argument %s\n", name);
        std::abort();
    }
    const hs_tensor* ptr(const char* name) {
        Arg& a = arg(name);
        return a.present ? &a.view : nullptr;
    }
};

void add(Call& c, Rng& rng, const char* name, Role role, bool present, int32_t dtype, const std::vector<int64_t>& shape) {
    Arg a;
    a.name = name;
    a.role = role;
    a.present = present;
    a.view = make_view(dtype, shape);
    back_with_memory(a, rng, c.fake);
    c.args.push_back(std::move(a));
}

// Random damage to a call that starts out valid (most calls get some).
void mutate(Call& c, Rng& rng) {
    const int mutations = rng.chance(25) ? 0 : 1 + static_cast<int>(rng.below(2));
    for (int m = 0; m < mutations && !c.args.empty(); ++m) {
        Arg& a = c.args[static_cast<size_t>(rng.below(static_cast<int64_t>(c.args.size())))];
        hs_tensor& t = a.view;
        const int dim = t.rank > 0 ? static_cast<int>(rng.below(t.rank)) : 0;
        switch (rng.below(12)) {
            case 0: a.present = !a.present; break;
            case 1:
                if (t.rank > 0) {
                    t.sizes[dim] =
                        rng.pick<int64_t>({wrapping_add(t.sizes[dim], 1), wrapping_add(t.sizes[dim], -1), 0, -1});
                }
                break;
            case 2:
                if (t.rank > 0) t.sizes[dim] = random_size(rng, 100);
                break;
            case 3: t.rank = static_cast<int32_t>(rng.pick<int64_t>({t.rank - 1, t.rank + 1, -1, 7})); break;
            case 4: t.dtype = static_cast<int32_t>(rng.pick<int64_t>({0, 1, 2, 3, 4, 5, 7, -1})); break;
            case 5:
                t.device_type = static_cast<int32_t>(rng.pick<int64_t>({1, 1, 5}));
                break;
            case 6: t.device_index = static_cast<int32_t>(rng.pick<int64_t>({1, -1})); break;
            case 7:
                if (t.rank > 0) t.strides[dim] = rng.pick<int64_t>({0, 2, -1, wrapping_add(t.strides[dim], 1)});
                break;
            case 8: t.data = nullptr; break;
            case 9: {
                // Alias: point this tensor at another one's memory (the no-alias rule).
                const Arg& other = c.args[static_cast<size_t>(rng.below(static_cast<int64_t>(c.args.size())))];
                a.storage = other.storage;
                a.capacity = other.capacity;
                t.data = other.view.data;
                a.present = true;
                break;
            }
            case 10:
                if (!c.flags.empty()) {
                    c.flags[static_cast<size_t>(rng.below(static_cast<int64_t>(c.flags.size())))] =
                        static_cast<int32_t>(rng.pick<int64_t>({-1, 0, 1, 2, 3, 7}));
                }
                break;
            case 11:
                // Only through the tensor's own memory (an earlier mutation may have moved or nulled its pointer).
                if (a.name == "lengths" && a.capacity >= 8 && t.data == a.storage->data()) {
                    static_cast<int64_t*>(t.data)[0] = rng.pick<int64_t>({-1, kInt64Max, 1000});
                } else {
                    c.null_struct = rng.chance(30);
                    c.null_out_pointer = rng.chance(30);
                }
                break;
        }
    }
}

// Lengths values in [0, max] (the model re-checks them after mutation).
void fill_lengths(Arg& lengths, Rng& rng, int64_t max) {
    if (lengths.capacity < 8 || lengths.view.rank != 1) return;
    auto* values = static_cast<int64_t*>(lengths.view.data);
    const int64_t count = std::min<int64_t>(lengths.view.sizes[0], lengths.capacity / 8);
    // [0, max] without computing max + 1 when max is INT64_MAX (then [0, max) is close enough).
    const int64_t bound = max == INT64_MAX ? max : max + 1;
    for (int64_t i = 0; i < count; ++i) values[i] = max <= 0 ? 0 : rng.below(bound);
}

// A full pass's optional initial state (`name`, of `state`) and lengths (Bt) int64; a step must leave both NULL.
void expect_initial_state(Call& c, bool step, const char* name, const std::vector<int64_t>& state, int64_t Bt,
                          int32_t dtype, const hs_tensor& primary, Verdict& v) {
    if (step) {
        expect_absent(c.arg(name), v);
        expect_absent(c.arg("lengths"), v);
    } else {
        expect(c.arg(name), state, dtype, primary, v);
        expect(c.arg("lengths"), {Bt}, HS_DTYPE_INT64, primary, v);
    }
}

// ---- per op: generate, model, run ------------------------------------------------------------------------------------

struct Outcome {
    bool ran = false;  // false: skipped (a valid call over too-small buffers, or a CUDA call)
    hs_status status = HS_OK;
    Verdict verdict;
    std::string answer_problem;  // a query's answer that contradicts the model
};

// -- selective scan

struct ScanDims {
    int64_t Bt, Dm, G, N, L;
    bool b_varying, c_varying;
};

void generate_scan(Call& c, Rng& rng, Entry entry) {
    const int huge = 6;
    ScanDims d{random_size(rng, huge), random_size(rng, huge), 1, random_size(rng, huge), random_size(rng, huge),
               rng.chance(50), rng.chance(50)};
    if (rng.chance(30) && d.Dm > 1 && d.Dm % 2 == 0) d.G = 2;
    const bool step = entry == kScanStep;
    const int32_t dtype = rng.chance(70) ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    const std::vector<int64_t> seq = step ? std::vector<int64_t>{d.Bt, d.Dm} : std::vector<int64_t>{d.Bt, d.Dm, d.L};
    const std::vector<int64_t> vary = step ? std::vector<int64_t>{d.Bt, d.G, d.N} : std::vector<int64_t>{d.Bt, d.G, d.N, d.L};
    const std::vector<int64_t> state{d.Bt, d.Dm, d.N};
    const std::vector<int64_t> bshape = d.b_varying ? vary : std::vector<int64_t>{d.Dm, d.N};
    const std::vector<int64_t> cshape = d.c_varying ? vary : std::vector<int64_t>{d.Dm, d.N};
    const bool D = rng.chance(50), z = rng.chance(50), bias = rng.chance(50);
    add(c, rng, "u", Role::Input, true, dtype, seq);
    add(c, rng, "delta", Role::Input, true, dtype, seq);
    add(c, rng, "A", Role::Input, true, dtype, {d.Dm, d.N});
    add(c, rng, "B", Role::Input, true, dtype, bshape);
    add(c, rng, "C", Role::Input, true, dtype, cshape);
    add(c, rng, "D", Role::Input, D, dtype, {d.Dm});
    add(c, rng, "z", Role::Input, z, dtype, seq);
    add(c, rng, "delta_bias", Role::Input, bias, dtype, {d.Dm});
    add(c, rng, "h0", Role::Input, !step && rng.chance(50), dtype, state);
    add(c, rng, "lengths", Role::Input, !step && rng.chance(40), HS_DTYPE_INT64, {d.Bt});
    fill_lengths(c.arg("lengths"), rng, d.L);
    c.flags = {rng.chance(50) ? 1 : 0};  // delta_softplus
    const int64_t K = hs_selective_scan_num_chunks(d.L);
    if (entry == kScanForward) {
        add(c, rng, "out", Role::Output, true, dtype, seq);
        add(c, rng, "h_last", Role::Output, rng.chance(60), dtype, state);
        add(c, rng, "checkpoints", Role::Output, rng.chance(60), dtype, {d.Bt, d.Dm, K, d.N});
    } else if (entry == kScanStep) {
        add(c, rng, "state", Role::InPlace, true, dtype, state);
        add(c, rng, "out", Role::Output, true, dtype, seq);
    } else if (entry == kScanBackward) {
        add(c, rng, "checkpoints", Role::Input, true, dtype, {d.Bt, d.Dm, K, d.N});
        add(c, rng, "dout", Role::Input, true, dtype, seq);
        add(c, rng, "dh_last", Role::Input, rng.chance(50), dtype, state);
        add(c, rng, "grads->du", Role::Output, true, dtype, seq);
        add(c, rng, "grads->ddelta", Role::Output, true, dtype, seq);
        add(c, rng, "grads->dA", Role::Output, true, dtype, {d.Dm, d.N});
        add(c, rng, "grads->dB", Role::Output, true, dtype, bshape);
        add(c, rng, "grads->dC", Role::Output, true, dtype, cshape);
        add(c, rng, "grads->dD", Role::Output, D, dtype, {d.Dm});
        add(c, rng, "grads->dz", Role::Output, z, dtype, seq);
        add(c, rng, "grads->ddelta_bias", Role::Output, bias, dtype, {d.Dm});
        add(c, rng, "grads->dh0", Role::Output, rng.chance(50), dtype, state);
        add(c, rng, "workspace", Role::Scratch, rng.chance(20), HS_DTYPE_FLOAT32, {rng.below(4)});
        c.flags.push_back(rng.chance(50) ? 1 : 0);  // deterministic
    } else {
        c.flags.push_back(rng.chance(50) ? 1 : 0);  // deterministic
    }
}

void model_scan(Call& c, Verdict& v) {
    const bool step = c.entry == kScanStep;
    if (c.null_struct) return v.fail("inputs NULL");
    const Arg& u = c.arg("u");
    expect_primary(u, step ? 2 : 3, v);
    if (!v.valid) return;
    const hs_tensor& p = u.view;
    const int32_t dt = p.dtype;
    const int64_t Bt = p.sizes[0], Dm = p.sizes[1], L = step ? 1 : p.sizes[2];
    auto seq = [&] { return step ? std::vector<int64_t>{Bt, Dm} : std::vector<int64_t>{Bt, Dm, L}; };
    expect_required(c.arg("delta"), v);
    expect(c.arg("delta"), seq(), dt, p, v);
    const Arg& A = c.arg("A");
    expect_required(A, v);
    check_header(A, v);
    if (!v.valid || A.view.rank != 2) return v.fail("A rank");
    const int64_t N = A.view.sizes[1];
    expect(A, {Dm, N}, dt, p, v);
    int64_t G = -1;  // the varying operands' groups, once one fixes it
    auto b_or_c = [&](const Arg& a) {
        expect_required(a, v);
        if (!v.valid) return std::vector<int64_t>{};
        check_header(a, v);
        if (!v.valid) return std::vector<int64_t>{};
        if (a.view.rank == 2) return std::vector<int64_t>{Dm, N};
        if (a.view.rank != (step ? 3 : 4)) return v.fail(a.name + " rank"), std::vector<int64_t>{};
        if (G < 0) {
            G = a.view.sizes[1];
            if (G < 1 || Dm % G != 0) return v.fail(a.name + " groups"), std::vector<int64_t>{};
        }
        return step ? std::vector<int64_t>{Bt, G, N} : std::vector<int64_t>{Bt, G, N, L};
    };
    const std::vector<int64_t> bshape = b_or_c(c.arg("B"));
    if (!v.valid) return;
    expect(c.arg("B"), bshape, dt, p, v);
    const std::vector<int64_t> cshape = b_or_c(c.arg("C"));
    if (!v.valid) return;
    expect(c.arg("C"), cshape, dt, p, v);
    expect(c.arg("D"), {Dm}, dt, p, v);
    expect(c.arg("z"), seq(), dt, p, v);
    expect(c.arg("delta_bias"), {Dm}, dt, p, v);
    const std::vector<int64_t> state{Bt, Dm, N};
    expect_initial_state(c, step, "h0", state, Bt, dt, p, v);
    expect_flag("delta_softplus", c.flags[0], v);
    if (Bt > 0 && Dm > 0 && L > 0) expect_extent({Bt, Dm, std::max<int64_t>(N, 1), L}, v);
    const int64_t K = hs_selective_scan_num_chunks(L);
    if (c.entry == kScanForward) {
        expect_required(c.arg("out"), v);
        expect(c.arg("out"), seq(), dt, p, v);
        expect(c.arg("h_last"), state, dt, p, v);
        expect(c.arg("checkpoints"), {Bt, Dm, K, N}, dt, p, v);
    } else if (step) {
        expect_required(c.arg("state"), v);
        expect(c.arg("state"), state, dt, p, v);
        expect_required(c.arg("out"), v);
        expect(c.arg("out"), seq(), dt, p, v);
    } else if (c.entry == kScanBackward) {
        for (const char* name : {"checkpoints", "dout"}) expect_required(c.arg(name), v);
        expect(c.arg("checkpoints"), {Bt, Dm, K, N}, dt, p, v);
        expect(c.arg("dout"), seq(), dt, p, v);
        expect(c.arg("dh_last"), state, dt, p, v);
        const struct {
            const char* grad;
            const char* input;
        } pairs[] = {{"grads->du", "u"}, {"grads->ddelta", "delta"}, {"grads->dA", "A"}, {"grads->dB", "B"},
                     {"grads->dC", "C"}, {"grads->dD", "D"}, {"grads->dz", "z"},
                     {"grads->ddelta_bias", "delta_bias"}};
        for (const auto& pair : pairs) {
            const Arg& input = c.arg(pair.input);
            const Arg& grad = c.arg(pair.grad);
            if (input.present != grad.present) v.fail(std::string(pair.grad) + " presence");
            if (input.present && grad.present) expect(grad, sizes_of(input.view), dt, p, v);
        }
        expect(c.arg("grads->dh0"), state, dt, p, v);
        expect_flag("deterministic", c.flags[1], v);
        expect_workspace(c.arg("workspace"), 0, HS_DTYPE_FLOAT32, p, v);  // no scratch on the CPU
    } else {
        expect_flag("deterministic", c.flags[1], v);
        if (c.null_out_pointer) v.fail("elements NULL");
    }
    std::vector<const Arg*> all;
    for (const Arg& a : c.args) all.push_back(&a);
    if (v.valid) expect_no_overlap(all, v);
    if (!step) expect_lengths_values(c.arg("lengths"), L, v);
}

hs_status run_scan(Call& c, std::string& answer_problem) {
    hs_selective_scan_inputs in{};
    in.u = c.ptr("u");
    in.delta = c.ptr("delta");
    in.A = c.ptr("A");
    in.B = c.ptr("B");
    in.C = c.ptr("C");
    in.D = c.ptr("D");
    in.z = c.ptr("z");
    in.delta_bias = c.ptr("delta_bias");
    in.h0 = c.ptr("h0");
    in.lengths = c.ptr("lengths");
    in.delta_softplus = c.flags[0];
    const hs_selective_scan_inputs* inputs = c.null_struct ? nullptr : &in;
    switch (c.entry) {
        case kScanForward: return hs_selective_scan_forward(inputs, c.ptr("out"), c.ptr("h_last"), c.ptr("checkpoints"), nullptr);
        case kScanStep: return hs_selective_scan_step(inputs, c.ptr("state"), c.ptr("out"), nullptr);
        case kScanBackward: {
            hs_selective_scan_grads g{};
            g.du = c.ptr("grads->du");
            g.ddelta = c.ptr("grads->ddelta");
            g.dA = c.ptr("grads->dA");
            g.dB = c.ptr("grads->dB");
            g.dC = c.ptr("grads->dC");
            g.dD = c.ptr("grads->dD");
            g.dz = c.ptr("grads->dz");
            g.ddelta_bias = c.ptr("grads->ddelta_bias");
            g.dh0 = c.ptr("grads->dh0");
            // A NULL inputs struct is the model's first rule; the grads struct is never NULL here.
            return hs_selective_scan_backward(inputs, c.ptr("checkpoints"), c.ptr("dout"), c.ptr("dh_last"), &g,
                                              c.flags[1], c.ptr("workspace"), nullptr);
        }
        default: {
            int64_t elements = -7;
            const hs_status s =
                hs_selective_scan_workspace_elements(inputs, c.flags[1], c.null_out_pointer ? nullptr : &elements);
            if (s == HS_OK && elements != 0) answer_problem = "CPU workspace " + std::to_string(elements) + " != 0";
            return s;
        }
    }
}

// -- fused recurrence

// T + 1 without overflow (T = INT64_MAX is refused by the library: its (T+1, ...) saved states cannot exist).
int64_t plus_one(int64_t value) { return value == kInt64Max ? value : value + 1; }

int64_t gates_of(int32_t cell) { return cell == HS_RNN_CELL_GRU ? 3 : 4; }
int64_t states_of(int32_t cell) { return cell == HS_RNN_CELL_LSTM ? 2 : (cell == HS_RNN_CELL_GRU ? 1 : 4); }

void generate_rnn(Call& c, Rng& rng, Entry entry) {
    const int huge = 6;
    const int32_t cell = static_cast<int32_t>(rng.below(3));
    const int64_t G = gates_of(cell), S = states_of(cell), Cg = 4;
    const int64_t T = random_size(rng, huge), Bt = random_size(rng, huge);
    const int64_t NH = rng.pick<int64_t>({1, 1, 2}), DH = rng.pick<int64_t>({1, 2, 3, 5});
    const int64_t H = NH * DH;
    const int32_t dtype = rng.chance(70) ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    const bool step = entry == kRnnStep || (entry == kRnnWorkspace && rng.chance(30));
    const std::vector<int64_t> state{S, Bt, H};
    add(c, rng, "wx", Role::Input, true, dtype, step ? std::vector<int64_t>{Bt, G * H} : std::vector<int64_t>{T, Bt, G * H});
    add(c, rng, "R", Role::Input, true, dtype, {NH, G * DH, DH});
    add(c, rng, "b", Role::Input, true, dtype, {G * H});
    add(c, rng, "s0", Role::Input, !step && rng.chance(50), dtype, state);
    add(c, rng, "lengths", Role::Input, !step && rng.chance(40), HS_DTYPE_INT64, {Bt});
    fill_lengths(c.arg("lengths"), rng, T);
    c.flags = {cell, rng.chance(50) ? 1 : 0, rng.chance(20) ? 1 : 0};  // cell, reverse, allow_tf32
    int64_t ws_elements = 0;
    if (entry == kRnnBackward && T > 0 && Bt > 0 && T < 64 && Bt < 64) {
        ws_elements = T * Bt * NH * ((G * DH + 15) / 16 * 16);  // ops/rnn.h: rows (T, Bt, NH, round_up(G*DH, 16))
    }
    if (entry == kRnnForward) {
        add(c, rng, "y", Role::Output, true, dtype, {T, Bt, H});
        add(c, rng, "s_last", Role::Output, rng.chance(60), dtype, state);
        add(c, rng, "states", Role::Output, rng.chance(60), dtype, {plus_one(T), S, Bt, H});
        add(c, rng, "cache", Role::Output, rng.chance(50), dtype, {T, Bt, Cg * H});
        add(c, rng, "workspace", Role::Scratch, rng.chance(20), dtype, {rng.below(3)});
    } else if (entry == kRnnStep) {
        add(c, rng, "state", Role::InPlace, true, dtype, state);
        add(c, rng, "y", Role::Output, true, dtype, {Bt, H});
        add(c, rng, "workspace", Role::Scratch, rng.chance(20), dtype, {rng.below(3)});
    } else if (entry == kRnnBackward) {
        add(c, rng, "states", Role::Input, true, dtype, {plus_one(T), S, Bt, H});
        add(c, rng, "cache", Role::Input, true, dtype, {T, Bt, Cg * H});
        add(c, rng, "dy", Role::Input, true, dtype, {T, Bt, H});
        add(c, rng, "ds_last", Role::Input, rng.chance(50), dtype, state);
        add(c, rng, "dwx", Role::Output, true, dtype, {T, Bt, G * H});
        add(c, rng, "dR", Role::Output, true, dtype, {NH, G * DH, DH});
        add(c, rng, "db", Role::Output, true, dtype, {G * H});
        add(c, rng, "ds0", Role::Output, rng.chance(50), dtype, state);
        add(c, rng, "workspace", Role::Scratch, ws_elements > 0 || rng.chance(20), dtype,
            {ws_elements + (rng.chance(80) ? 0 : rng.pick<int64_t>({-1, 1}))});
        if (rng.chance(50)) c.arg("wx").present = false;  // the backward never reads wx
    } else {
        // The query: pass, and dwx for the backward.
        const int32_t pass = step ? HS_RNN_PASS_STEP : static_cast<int32_t>(rng.below(2));
        c.flags.push_back(pass);
        add(c, rng, "dwx", Role::Input, pass == HS_RNN_PASS_BACKWARD && rng.chance(50), dtype, {T, Bt, G * H});
        if (pass == HS_RNN_PASS_BACKWARD && c.arg("dwx").present && rng.chance(50)) c.arg("wx").present = false;
    }
}

void model_rnn(Call& c, Verdict& v, int64_t* expected_workspace) {
    if (c.null_struct) return v.fail("inputs NULL");
    const int32_t cell = c.flags[0];
    if (cell < 0 || cell > 2) return v.fail("cell");
    expect_flag("reverse", c.flags[1], v);
    expect_flag("allow_tf32", c.flags[2], v);
    if (!v.valid) return;
    const bool query = c.entry == kRnnWorkspace;
    const int32_t pass = query ? c.flags[3] : -1;
    if (query && pass != HS_RNN_PASS_FORWARD && pass != HS_RNN_PASS_BACKWARD && pass != HS_RNN_PASS_STEP) {
        return v.fail("pass");
    }
    if (query && c.null_out_pointer) return v.fail("elements NULL");
    const bool step = c.entry == kRnnStep || pass == HS_RNN_PASS_STEP;
    const bool backward = c.entry == kRnnBackward || pass == HS_RNN_PASS_BACKWARD;
    if (query && !backward && c.arg("dwx").present) return v.fail("dwx must be NULL");
    const Arg& wx = c.arg("wx");
    const bool stand_in = backward && !wx.present;
    const Arg& primary = stand_in ? c.arg("dwx") : wx;
    expect_primary(primary, step ? 2 : 3, v);
    if (!v.valid) return;
    const hs_tensor& p = primary.view;
    const int32_t dt = p.dtype;
    const int64_t G = gates_of(cell), S = states_of(cell);
    const int64_t T = step ? 1 : p.sizes[0], Bt = p.sizes[p.rank - 2], GH = p.sizes[p.rank - 1];
    if (GH % G != 0) return v.fail("G*H");
    const int64_t H = GH / G;
    if (!step && T == kInt64Max) return v.fail("T + 1 overflows");
    if (static_cast<__int128>(4) * H > kInt64Max) return v.fail("cache width C*H overflows");
    const Arg& R = c.arg("R");
    expect_required(R, v);
    check_header(R, v);
    if (!v.valid || R.view.rank != 3) return v.fail("R rank");
    const int64_t NH = R.view.sizes[0], DH = R.view.sizes[2];
    if (NH < 1 || DH < 1 || static_cast<__int128>(NH) * DH != H) return v.fail("R heads");
    expect(R, {NH, G * DH, DH}, dt, p, v);
    expect_required(c.arg("b"), v);
    expect(c.arg("b"), {G * H}, dt, p, v);
    const std::vector<int64_t> state{S, Bt, H};
    expect_initial_state(c, step, "s0", state, Bt, dt, p, v);
    const bool has_steps = T > 0 && Bt > 0;
    if (has_steps) expect_extent({T + 1, Bt, G, H}, v);
    const int64_t needed = backward && has_steps && v.valid ? T * Bt * NH * ((G * DH + 15) / 16 * 16) : 0;
    auto expect_rnn_workspace = [&] { expect_workspace(c.arg("workspace"), needed, dt, p, v); };
    if (c.entry == kRnnForward) {
        expect_required(c.arg("y"), v);
        expect(c.arg("y"), {T, Bt, H}, dt, p, v);
        expect(c.arg("s_last"), state, dt, p, v);
        expect(c.arg("states"), {plus_one(T), S, Bt, H}, dt, p, v);
        expect(c.arg("cache"), {T, Bt, 4 * H}, dt, p, v);
        expect_rnn_workspace();
    } else if (c.entry == kRnnStep) {
        expect_required(c.arg("state"), v);
        expect(c.arg("state"), state, dt, p, v);
        expect_required(c.arg("y"), v);
        expect(c.arg("y"), {Bt, H}, dt, p, v);
        expect_rnn_workspace();
    } else if (c.entry == kRnnBackward) {
        for (const char* name : {"states", "cache", "dy", "dwx", "dR", "db"}) expect_required(c.arg(name), v);
        expect(c.arg("states"), {plus_one(T), S, Bt, H}, dt, p, v);
        expect(c.arg("cache"), {T, Bt, 4 * H}, dt, p, v);
        expect(c.arg("dy"), {T, Bt, H}, dt, p, v);
        expect(c.arg("ds_last"), state, dt, p, v);
        expect(c.arg("dwx"), {T, Bt, G * H}, dt, p, v);
        expect(c.arg("dR"), {NH, G * DH, DH}, dt, p, v);
        expect(c.arg("db"), {G * H}, dt, p, v);
        expect(c.arg("ds0"), state, dt, p, v);
        expect_rnn_workspace();
    } else if (backward && !stand_in) {
        expect(c.arg("dwx"), {T, Bt, G * H}, dt, p, v);
    }
    std::vector<const Arg*> all;
    for (const Arg& a : c.args) {
        // The stand-in is one tensor in two places of the model (primary and dwx); the library sees one view.
        all.push_back(&a);
    }
    if (v.valid) expect_no_overlap(all, v);
    if (!step) expect_lengths_values(c.arg("lengths"), T, v);
    *expected_workspace = needed;
}

hs_status run_rnn(Call& c, int64_t expected_workspace, std::string& answer_problem) {
    hs_rnn_inputs in{};
    in.cell = c.flags[0];
    in.reverse = c.flags[1];
    in.allow_tf32 = c.flags[2];
    in.wx = c.ptr("wx");
    in.R = c.ptr("R");
    in.b = c.ptr("b");
    in.s0 = c.ptr("s0");
    in.lengths = c.ptr("lengths");
    const hs_rnn_inputs* inputs = c.null_struct ? nullptr : &in;
    switch (c.entry) {
        case kRnnForward:
            return hs_rnn_forward(inputs, c.ptr("y"), c.ptr("s_last"), c.ptr("states"), c.ptr("cache"),
                                  c.ptr("workspace"), nullptr);
        case kRnnStep: return hs_rnn_step(inputs, c.ptr("state"), c.ptr("y"), c.ptr("workspace"), nullptr);
        case kRnnBackward:
            return hs_rnn_backward(inputs, c.ptr("states"), c.ptr("cache"), c.ptr("dy"), c.ptr("ds_last"),
                                   c.ptr("dwx"), c.ptr("dR"), c.ptr("db"), c.ptr("ds0"), c.ptr("workspace"), nullptr);
        default: {
            int64_t elements = -7;
            const hs_status s =
                hs_rnn_workspace_elements(inputs, c.flags[3], c.ptr("dwx"), c.null_out_pointer ? nullptr : &elements);
            if (s == HS_OK && elements != expected_workspace) {
                answer_problem = "workspace " + std::to_string(elements) + ", model " + std::to_string(expected_workspace);
            }
            return s;
        }
    }
}

// -- dense projection

void generate_linear(Call& c, Rng& rng, Entry entry) {
    const int huge = 8;
    const int64_t M = random_size(rng, huge), K = random_size(rng, huge), N = random_size(rng, huge);
    const int32_t dtype = rng.chance(70) ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    add(c, rng, "x", Role::Input, true, dtype, {M, K});
    add(c, rng, "w", Role::Input, true, dtype, {N, K});
    if (entry == kLinearForward) {
        add(c, rng, "b", Role::Input, rng.chance(50), dtype, {N});
        add(c, rng, "y", Role::Output, true, dtype, {M, N});
    } else {
        add(c, rng, "dy", Role::Input, true, dtype, {M, N});
        add(c, rng, "dx", Role::Output, rng.chance(70), dtype, {M, K});
        add(c, rng, "dw", Role::Output, rng.chance(70), dtype, {N, K});
        add(c, rng, "db", Role::Output, rng.chance(70), dtype, {N});
    }
}

void model_linear(Call& c, Verdict& v) {
    const Arg& x = c.arg("x");
    if (x.present && x.view.device_type == HS_DEVICE_CUDA) return v.fail("x on CUDA");
    expect_primary(x, 2, v);
    if (!v.valid) return;
    const hs_tensor& p = x.view;
    const int64_t M = p.sizes[0], K = p.sizes[1];
    const Arg& w = c.arg("w");
    expect_required(w, v);
    check_header(w, v);
    if (!v.valid || w.view.rank != 2) return v.fail("w rank");
    const int64_t N = w.view.sizes[0];
    expect(w, {N, K}, p.dtype, p, v);
    if (c.entry == kLinearForward) {
        expect(c.arg("b"), {N}, p.dtype, p, v);
        expect_required(c.arg("y"), v);
        expect(c.arg("y"), {M, N}, p.dtype, p, v);
    } else {
        expect_required(c.arg("dy"), v);
        expect(c.arg("dy"), {M, N}, p.dtype, p, v);
        expect(c.arg("dx"), {M, K}, p.dtype, p, v);
        expect(c.arg("dw"), {N, K}, p.dtype, p, v);
        expect(c.arg("db"), {N}, p.dtype, p, v);
    }
    std::vector<const Arg*> all;
    for (const Arg& a : c.args) all.push_back(&a);
    if (v.valid) expect_no_overlap(all, v);
}

hs_status run_linear(Call& c) {
    if (c.entry == kLinearForward) return hs_linear_forward(c.ptr("x"), c.ptr("w"), c.ptr("b"), c.ptr("y"), nullptr);
    return hs_linear_backward(c.ptr("x"), c.ptr("w"), c.ptr("dy"), c.ptr("dx"), c.ptr("dw"), c.ptr("db"), nullptr);
}

// -- S4 kernels

void generate_s4(Call& c, Rng& rng, Entry entry) {
    const int huge = 6;
    const int64_t H = random_size(rng, huge), N = random_size(rng, huge), L = random_size(rng, huge);
    const int32_t dtype = rng.chance(70) ? HS_DTYPE_COMPLEX64 : HS_DTYPE_COMPLEX128;
    const int32_t conjugate = rng.chance(50) ? 1 : 0;
    c.flags = {conjugate};
    const bool cauchy = entry == kCauchyForward || entry == kCauchyBackward;
    const bool forward = entry == kCauchyForward || entry == kVandermondeForward;
    // The Vandermonde output is real when conjugate-symmetric.
    const int32_t out_dtype = !cauchy && conjugate == 1 ? (dtype == HS_DTYPE_COMPLEX64 ? HS_DTYPE_FLOAT32
                                                                                       : HS_DTYPE_FLOAT64)
                                                        : dtype;
    add(c, rng, "v", Role::Input, true, dtype, {H, N});
    add(c, rng, cauchy ? "w" : "x", Role::Input, true, dtype, {H, N});
    if (cauchy) add(c, rng, "z", Role::Input, true, dtype, {L});
    if (forward) {
        add(c, rng, "out", Role::Output, true, out_dtype, {H, L});
    } else {
        add(c, rng, "dout", Role::Input, true, out_dtype, {H, L});
        add(c, rng, "dv", Role::Output, rng.chance(70), dtype, {H, N});
        add(c, rng, cauchy ? "dw" : "dx", Role::Output, rng.chance(70), dtype, {H, N});
    }
}

// The size L carried by a rank-`rank` argument (its last size), or a failed verdict.
int64_t length_of(const Arg& a, int32_t rank, Verdict& v) {
    expect_required(a, v);
    if (!v.valid) return 0;
    check_header(a, v);
    if (!v.valid || a.view.rank != rank) return v.fail(a.name + " rank"), 0;
    return a.view.sizes[rank - 1];
}

void model_s4(Call& c, Verdict& v) {
    const bool cauchy = c.entry == kCauchyForward || c.entry == kCauchyBackward;
    const bool forward = c.entry == kCauchyForward || c.entry == kVandermondeForward;
    const Arg& primary = c.arg("v");
    expect_primary_complex(primary, 2, v);
    if (!v.valid) return;
    const hs_tensor& p = primary.view;
    const int64_t H = p.sizes[0], N = p.sizes[1];
    const Arg& nodes = c.arg(cauchy ? "w" : "x");
    expect_required(nodes, v);
    expect(nodes, {H, N}, p.dtype, p, v);
    expect_flag("conjugate_symmetric", c.flags[0], v);
    if (!v.valid) return;
    const int32_t real = p.dtype == HS_DTYPE_COMPLEX64 ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    const int32_t out_dtype = !cauchy && c.flags[0] == 1 ? real : p.dtype;
    const Arg& carrier = cauchy ? c.arg("z") : c.arg(forward ? "out" : "dout");
    const int64_t L = length_of(carrier, cauchy ? 1 : 2, v);
    if (!v.valid) return;
    if (cauchy) expect(c.arg("z"), {L}, p.dtype, p, v);
    const Arg& out = c.arg(forward ? "out" : "dout");
    expect_required(out, v);
    expect(out, {H, L}, out_dtype, p, v);
    if (!forward) {
        expect(c.arg("dv"), {H, N}, p.dtype, p, v);
        expect(c.arg(cauchy ? "dw" : "dx"), {H, N}, p.dtype, p, v);
    }
    std::vector<const Arg*> all;
    for (const Arg& a : c.args) all.push_back(&a);
    if (v.valid) expect_no_overlap(all, v);
    if (!v.valid) return;
    // The extents are checked only when some output has elements (otherwise the call returns at once).
    bool outputs_empty = true;
    for (const Arg& a : c.args) {
        int64_t count = 0;
        if (a.role == Role::Output && a.present && product_fits(sizes_of(a.view), &count) && count != 0) {
            outputs_empty = false;
        }
    }
    if (outputs_empty) return;
    if (H > 0 && N > 0) expect_extent({H, N}, v);
    if (H > 0 && L > 0) expect_extent({H, L}, v);
}

hs_status run_s4(Call& c) {
    const int32_t conjugate = c.flags[0];
    switch (c.entry) {
        case kCauchyForward:
            return hs_cauchy_forward(c.ptr("v"), c.ptr("w"), c.ptr("z"), conjugate, c.ptr("out"), nullptr);
        case kCauchyBackward:
            return hs_cauchy_backward(c.ptr("v"), c.ptr("w"), c.ptr("z"), conjugate, c.ptr("dout"), c.ptr("dv"),
                                      c.ptr("dw"), nullptr);
        case kVandermondeForward:
            return hs_vandermonde_forward(c.ptr("v"), c.ptr("x"), conjugate, c.ptr("out"), nullptr);
        default:
            return hs_vandermonde_backward(c.ptr("v"), c.ptr("x"), conjugate, c.ptr("dout"), c.ptr("dv"),
                                           c.ptr("dx"), nullptr);
    }
}

// -- streaming convolutions (depthwise and dense dilated)

bool is_depthwise(Entry entry) {
    return entry == kDepthwiseForward || entry == kDepthwiseBackward || entry == kDepthwiseStep ||
           entry == kDepthwiseWorkspace;
}
bool is_conv_step(Entry entry) { return entry == kDepthwiseStep || entry == kDilatedStep; }
bool is_conv_backward(Entry entry) {
    return entry == kDepthwiseBackward || entry == kDilatedBackward || entry == kDepthwiseWorkspace;
}

// A dilation: mostly small, sometimes 0, negative or large enough that S = (K - 1) * dilation, S + L or the kernels'
// extents leave int64 (or that a small call has a huge state it must never walk).
int64_t random_dilation(Rng& rng) {
    if (rng.chance(10)) {
        return rng.pick<int64_t>({0, -1, std::numeric_limits<int64_t>::min(), int64_t(1) << 40, int64_t(1) << 57,
                                  (int64_t(1) << 62) + 1, kInt64Max});
    }
    return rng.pick<int64_t>({1, 1, 2, 3, 4});
}

void generate_conv(Call& c, Rng& rng, Entry entry) {
    const int huge = 6;
    const bool depthwise = is_depthwise(entry), step = is_conv_step(entry), backward = is_conv_backward(entry);
    const int64_t Bt = random_size(rng, huge), C = random_size(rng, huge), L = random_size(rng, huge);
    const int64_t Cout = depthwise ? C : random_size(rng, huge);
    const int64_t K = rng.chance(5) ? random_size(rng, 100) : rng.pick<int64_t>({1, 2, 3, 4});
    c.dilation = random_dilation(rng);
    const int64_t S = K >= 1 && c.dilation >= 1 && static_cast<__int128>(K - 1) * c.dilation <= kInt64Max
                          ? (K - 1) * c.dilation
                          : 0;
    const int32_t dtype = rng.chance(70) ? HS_DTYPE_FLOAT32 : HS_DTYPE_FLOAT64;
    const std::vector<int64_t> seq{Bt, C, L}, out_seq{Bt, Cout, L}, state{Bt, C, S};
    const std::vector<int64_t> weight = depthwise ? std::vector<int64_t>{C, K} : std::vector<int64_t>{Cout, C, K};
    const bool bias = rng.chance(50);
    c.flags = {depthwise && rng.chance(50) ? 1 : 0};  // silu (depthwise only; always 0 for the dense op)
    c.null_grads = backward && rng.chance(3);
    add(c, rng, "x", Role::Input, true, dtype, seq);
    add(c, rng, "weight", Role::Input, true, dtype, weight);
    add(c, rng, "bias", Role::Input, bias, dtype, {Cout});
    add(c, rng, "initial_state", Role::Input, !step && rng.chance(50), dtype, state);
    add(c, rng, "lengths", Role::Input, !step && rng.chance(40), HS_DTYPE_INT64, {Bt});
    fill_lengths(c.arg("lengths"), rng, L);
    if (entry == kDepthwiseForward || entry == kDilatedForward) {
        add(c, rng, "y", Role::Output, true, dtype, out_seq);
        add(c, rng, "final_state", Role::Output, rng.chance(60), dtype, state);
    } else if (step) {
        add(c, rng, "state", Role::InPlace, true, dtype, state);
        add(c, rng, "y", Role::Output, true, dtype, out_seq);
    } else if (entry != kDepthwiseWorkspace) {
        add(c, rng, "dy", Role::Input, true, dtype, out_seq);
        add(c, rng, "d_final_state", Role::Input, rng.chance(50), dtype, state);
        // The depthwise op requires dx and dweight; the dense one takes each gradient optionally.
        add(c, rng, "grads->dx", Role::Output, depthwise || rng.chance(70), dtype, seq);
        add(c, rng, "grads->dweight", Role::Output, depthwise || rng.chance(70), dtype, weight);
        add(c, rng, "grads->dbias", Role::Output, bias && (depthwise || rng.chance(70)), dtype, {Cout});
        add(c, rng, "grads->d_initial_state", Role::Output, rng.chance(50), dtype, state);
        if (depthwise) add(c, rng, "workspace", Role::Scratch, rng.chance(20), HS_DTYPE_FLOAT32, {rng.below(3)});
    }
}

void model_conv(Call& c, Verdict& v) {
    const bool depthwise = is_depthwise(c.entry), step = is_conv_step(c.entry);
    if (c.entry == kDepthwiseWorkspace && c.null_out_pointer) return v.fail("elements NULL");
    if (c.null_struct) return v.fail("inputs NULL");
    const Arg& x = c.arg("x");
    expect_primary(x, 3, v);
    if (!v.valid) return;
    const hs_tensor& p = x.view;
    const int32_t dt = p.dtype;
    const int64_t Bt = p.sizes[0], C = p.sizes[1], L = p.sizes[2];
    const Arg& weight = c.arg("weight");
    expect_required(weight, v);
    check_header(weight, v);
    if (!v.valid) return;
    if (weight.view.rank != (depthwise ? 2 : 3)) return v.fail("weight rank");
    const int64_t K = weight.view.sizes[weight.view.rank - 1];
    if (K < 1) return v.fail("weight width");
    const int64_t Cout = depthwise ? C : weight.view.sizes[0];
    expect(weight, depthwise ? std::vector<int64_t>{C, K} : std::vector<int64_t>{Cout, C, K}, dt, p, v);
    expect(c.arg("bias"), {Cout}, dt, p, v);
    if (c.dilation < 1) return v.fail("dilation");
    const __int128 S128 = static_cast<__int128>(K - 1) * c.dilation;
    if (depthwise) {
        if (S128 + L > kInt64Max) return v.fail("state length (K - 1) * dilation + L");
        expect_flag("silu", c.flags[0], v);
    } else {
        expect_extent({K, c.dilation}, v);
        if (!v.valid) return;
        if (S128 + L > kInt64Max) return v.fail("padded length S + L");
    }
    const int64_t S = static_cast<int64_t>(S128);
    const std::vector<int64_t> state{Bt, C, S};
    expect_initial_state(c, step, "initial_state", state, Bt, dt, p, v);
    if (depthwise) {
        if (Bt > 0 && C > 0) expect_extent({Bt, C, std::max<int64_t>(L + S, 1), K}, v);
    } else {
        expect_extent({std::max<int64_t>(Bt, 1), std::max<int64_t>(std::max(C, Cout), 1), std::max<int64_t>(S + L, 1)},
                      v);
        expect_extent({std::max<int64_t>(Cout, 1), std::max<int64_t>(C, 1), K}, v);
    }
    const std::vector<int64_t> seq{Bt, C, L}, out_seq{Bt, Cout, L};
    if (c.entry == kDepthwiseForward || c.entry == kDilatedForward) {
        expect_required(c.arg("y"), v);
        expect(c.arg("y"), out_seq, dt, p, v);
        expect(c.arg("final_state"), state, dt, p, v);
    } else if (step) {
        expect_required(c.arg("state"), v);
        expect(c.arg("state"), state, dt, p, v);
        expect_required(c.arg("y"), v);
        expect(c.arg("y"), out_seq, dt, p, v);
    } else if (c.entry != kDepthwiseWorkspace) {
        expect_required(c.arg("dy"), v);
        expect(c.arg("dy"), out_seq, dt, p, v);
        expect(c.arg("d_final_state"), state, dt, p, v);
        if (c.null_grads) return v.fail("grads NULL");
        if (depthwise) {
            expect_required(c.arg("grads->dx"), v);
            expect_required(c.arg("grads->dweight"), v);
            if (c.arg("bias").present && !c.arg("grads->dbias").present) v.fail("dbias required with bias");
        }
        if (!c.arg("bias").present && c.arg("grads->dbias").present) v.fail("dbias without bias");
        expect(c.arg("grads->dx"), seq, dt, p, v);
        expect(c.arg("grads->dweight"), sizes_of(weight.view), dt, p, v);
        expect(c.arg("grads->dbias"), {Cout}, dt, p, v);
        expect(c.arg("grads->d_initial_state"), state, dt, p, v);
        if (depthwise) {
            // On the CPU the backward needs no scratch; a workspace that is given is still checked.
            expect_workspace(c.arg("workspace"), 0, HS_DTYPE_FLOAT32, p, v);
        }
    }
    std::vector<const Arg*> all;
    for (const Arg& a : c.args) all.push_back(&a);
    if (v.valid) expect_no_overlap(all, v);
    if (!step) expect_lengths_values(c.arg("lengths"), L, v);
}

// The fields both convolutions' inputs structs share.
template <typename Inputs>
Inputs conv_inputs(Call& c) {
    Inputs in{};
    in.x = c.ptr("x");
    in.weight = c.ptr("weight");
    in.bias = c.ptr("bias");
    in.initial_state = c.ptr("initial_state");
    in.lengths = c.ptr("lengths");
    in.dilation = c.dilation;
    return in;
}

hs_status run_conv(Call& c, std::string& answer_problem) {
    const bool depthwise = is_depthwise(c.entry);
    hs_depthwise_conv_grads dg{};
    hs_dilated_conv_grads ng{};
    dg.dx = ng.dx = c.entry == kDepthwiseBackward || c.entry == kDilatedBackward ? c.ptr("grads->dx") : nullptr;
    if (c.entry == kDepthwiseBackward || c.entry == kDilatedBackward) {
        dg.dweight = ng.dweight = c.ptr("grads->dweight");
        dg.dbias = ng.dbias = c.ptr("grads->dbias");
        dg.d_initial_state = ng.d_initial_state = c.ptr("grads->d_initial_state");
    }
    if (depthwise) {
        hs_depthwise_conv_inputs in = conv_inputs<hs_depthwise_conv_inputs>(c);
        in.silu = c.flags[0];
        const hs_depthwise_conv_inputs* inputs = c.null_struct ? nullptr : &in;
        switch (c.entry) {
            case kDepthwiseForward: return hs_depthwise_conv_forward(inputs, c.ptr("y"), c.ptr("final_state"), nullptr);
            case kDepthwiseStep: return hs_depthwise_conv_step(inputs, c.ptr("state"), c.ptr("y"), nullptr);
            case kDepthwiseBackward:
                return hs_depthwise_conv_backward(inputs, c.ptr("dy"), c.ptr("d_final_state"),
                                                  c.null_grads ? nullptr : &dg, c.ptr("workspace"), nullptr);
            default: {
                int64_t elements = -7;
                const hs_status s =
                    hs_depthwise_conv_workspace_elements(inputs, c.null_out_pointer ? nullptr : &elements);
                if (s == HS_OK && elements != 0) answer_problem = "CPU workspace " + std::to_string(elements) + " != 0";
                return s;
            }
        }
    }
    const hs_dilated_conv_inputs in = conv_inputs<hs_dilated_conv_inputs>(c);
    const hs_dilated_conv_inputs* inputs = c.null_struct ? nullptr : &in;
    switch (c.entry) {
        case kDilatedForward: return hs_dilated_conv_forward(inputs, c.ptr("y"), c.ptr("final_state"), nullptr);
        case kDilatedStep: return hs_dilated_conv_step(inputs, c.ptr("state"), c.ptr("y"), nullptr);
        default:
            return hs_dilated_conv_backward(inputs, c.ptr("dy"), c.ptr("d_final_state"), c.null_grads ? nullptr : &ng,
                                            nullptr);
    }
}



// -- the library's own entry points (sizes, errors, devices, ABI self-description)

struct LibraryCall {
    int kind = 0;
    int64_t number = 0;
    bool null_pointer = false;
    const char* type_name = nullptr;
    const char* field_name = nullptr;
};

// Runs one call of `kind` (0 num_chunks, 1 cell_info, 2.. the rest); returns its status (HS_OK for the functions
// that return none) and sets `checked_name`: the entry point's name.
hs_status run_library(Rng& rng, int kind, Verdict& v, std::string& checked_name, std::string& answer_problem) {
    const char* const types[] = {"hs_tensor", "hs_rnn_inputs", "hs_selective_scan_grads", "nope", ""};
    const char* const fields[] = {"sizes", "wx", "dh0", "nope", "", "data"};
    const bool null_pointer = rng.chance(25);
    switch (kind) {
        case 0: {
            checked_name = "hs_selective_scan_num_chunks";
            const int64_t L = rng.pick<int64_t>({0, 1, 255, 256, 257, -1, kInt64Max, kInt64Max - 255,
                                                 std::numeric_limits<int64_t>::min(), int64_t(1) << 62});
            const int64_t k = hs_selective_scan_num_chunks(L);
            const int64_t expected = L <= 0 ? 1 : L / HS_SELECTIVE_SCAN_CHUNK + (L % HS_SELECTIVE_SCAN_CHUNK != 0);
            if (k != expected) answer_problem = "num_chunks(" + std::to_string(L) + ") = " + std::to_string(k);
            return HS_OK;
        }
        case 1: {
            checked_name = "hs_rnn_cell_info";
            const int32_t cell = static_cast<int32_t>(rng.pick<int64_t>({0, 1, 2, 3, -1}));
            int32_t a = 0, b = 0, cc = 0;
            if (cell < 0 || cell > 2) v.fail("cell");
            if (null_pointer) v.fail("NULL pointer");
            return hs_rnn_cell_info(cell, null_pointer ? nullptr : &a, &b, &cc);
        }
        case 2: {
            checked_name = "hs_abi_sizeof";
            const char* type = rng.chance(10) ? nullptr : types[rng.below(5)];
            int64_t size = 0;
            if (type == nullptr || std::strcmp(type, "nope") == 0 || type[0] == '\0') v.fail("type");
            if (null_pointer) v.fail("NULL pointer");
            return hs_abi_sizeof(type, null_pointer ? nullptr : &size);
        }
        case 3: {
            checked_name = "hs_abi_offsetof";
            const int64_t t = rng.below(5);
            const char* type = rng.chance(10) ? nullptr : types[t];
            const int64_t f = rng.below(6);
            const char* field = rng.chance(10) ? nullptr : fields[f];
            int64_t offset = 0;
            const bool known = type != nullptr && field != nullptr &&
                               ((t == 0 && (f == 0 || f == 5)) || (t == 1 && f == 1) || (t == 2 && f == 2));
            if (!known) v.fail("type or field");
            if (null_pointer) v.fail("NULL pointer");
            return hs_abi_offsetof(type, field, null_pointer ? nullptr : &offset);
        }
        case 4: {
            checked_name = "hs_cuda_device_count";
            int32_t count = -1;
            if (null_pointer) v.fail("NULL pointer");
            return hs_cuda_device_count(null_pointer ? nullptr : &count);
        }
        case 5: {
            checked_name = "hs_cuda_device_info";
            hs_device_info info{};
            if (hs_cuda_compiled() == 0 || null_pointer) v.fail("no CUDA or NULL");
            if (hs_cuda_compiled() != 0 && !null_pointer) return HS_OK;  // a real device is not this test's concern
            return hs_cuda_device_info(static_cast<int32_t>(rng.pick<int64_t>({0, 1, -1})),
                                       null_pointer ? nullptr : &info);
        }
        case 6: {
            checked_name = "hs_cuda_synchronize";
            if (hs_cuda_compiled() != 0) return HS_OK;
            v.fail("no CUDA");
            return hs_cuda_synchronize(static_cast<int32_t>(rng.pick<int64_t>({0, 1, -1})));
        }
        default: {
            checked_name = "hs_status_name";
            const char* name = hs_status_name(static_cast<int32_t>(rng.pick<int64_t>({0, 3, 5, 6, -1, 1000})));
            if (name == nullptr || name[0] == '\0') answer_problem = "hs_status_name gave an empty name";
            if (hs_version_string() == nullptr || hs_api_version() != HS_API_VERSION) answer_problem = "version";
            return HS_OK;
        }
    }
}

// ---- one call, end to end -------------------------------------------------------------------------------------------

uint64_t call_seed(uint64_t seed, int64_t index) {
    Rng mix(seed ^ (0x632BE59BD9B4E019ull * static_cast<uint64_t>(index + 1)));
    return mix.next();
}

struct Stats {
    int64_t calls[kEntryCount];
    int64_t accepted[kEntryCount];
    int64_t refused[kEntryCount];
    int64_t skipped[kEntryCount];
};

// Runs call `index`; on a broken invariant writes a description into `failure` and returns false.
bool run_call(uint64_t seed, int64_t index, Stats& stats, char* failure, size_t failure_size) {
    Rng rng(call_seed(seed, index));
    Call c;
    c.entry = static_cast<Entry>(rng.below(kEntryCount));
    c.fake = std::make_shared<std::vector<unsigned char>>(kFakeBufferBytes);
    Outcome o;
    std::string name = kEntryNames[c.entry];
    int64_t expected_workspace = 0;
    if (c.entry == kLibrary) {
        o.status = run_library(rng, 2 + static_cast<int>(rng.below(6)), o.verdict, name, o.answer_problem);
        o.ran = true;
    } else {
        switch (c.entry) {
            case kScanForward: case kScanBackward: case kScanStep: case kScanWorkspace:
                generate_scan(c, rng, c.entry);
                break;
            case kRnnForward: case kRnnBackward: case kRnnStep: case kRnnWorkspace:
                generate_rnn(c, rng, c.entry);
                break;
            case kLinearForward: case kLinearBackward: generate_linear(c, rng, c.entry); break;
            case kCauchyForward: case kCauchyBackward: case kVandermondeForward: case kVandermondeBackward:
                generate_s4(c, rng, c.entry);
                break;
            case kDepthwiseForward: case kDepthwiseBackward: case kDepthwiseStep: case kDepthwiseWorkspace:
            case kDilatedForward: case kDilatedBackward: case kDilatedStep:
                generate_conv(c, rng, c.entry);
                break;
            case kScanNumChunks: case kRnnCellInfo: {
                // Plain-value entry points share the library driver.
                o.status = run_library(rng, c.entry == kScanNumChunks ? 0 : 1, o.verdict, name, o.answer_problem);
                o.ran = true;
                break;
            }
            default: break;
        }
        if (!o.ran) {
            mutate(c, rng);
            switch (c.entry) {
                case kScanForward: case kScanBackward: case kScanStep: case kScanWorkspace:
                    model_scan(c, o.verdict);
                    break;
                case kRnnForward: case kRnnBackward: case kRnnStep: case kRnnWorkspace:
                    model_rnn(c, o.verdict, &expected_workspace);
                    break;
                case kCauchyForward: case kCauchyBackward: case kVandermondeForward: case kVandermondeBackward:
                    model_s4(c, o.verdict);
                    break;
                case kDepthwiseForward: case kDepthwiseBackward: case kDepthwiseStep: case kDepthwiseWorkspace:
                case kDilatedForward: case kDilatedBackward: case kDilatedStep:
                    model_conv(c, o.verdict);
                    break;
                default: model_linear(c, o.verdict); break;
            }
            // A valid call runs a kernel: it must not see a view larger than its memory, nor (in a CUDA build)
            // host memory passed as CUDA memory.
            bool runnable = true;
            for (const Arg& a : c.args) {
                if (!a.present || !o.verdict.valid) continue;
                int64_t count = 0;
                product_fits(sizes_of(a.view), &count);
                if (count * dtype_size(a.view.dtype) > a.capacity || a.view.device_type == HS_DEVICE_CUDA) {
                    runnable = false;
                }
            }
            if (runnable) {
                switch (c.entry) {
                    case kScanForward: case kScanBackward: case kScanStep: case kScanWorkspace:
                        o.status = run_scan(c, o.answer_problem);
                        break;
                    case kRnnForward: case kRnnBackward: case kRnnStep: case kRnnWorkspace:
                        o.status = run_rnn(c, expected_workspace, o.answer_problem);
                        break;
                    case kCauchyForward: case kCauchyBackward: case kVandermondeForward: case kVandermondeBackward:
                        o.status = run_s4(c);
                        break;
                    case kDepthwiseForward: case kDepthwiseBackward: case kDepthwiseStep: case kDepthwiseWorkspace:
                    case kDilatedForward: case kDilatedBackward: case kDilatedStep:
                        o.status = run_conv(c, o.answer_problem);
                        break;
                    default: o.status = run_linear(c); break;
                }
                o.ran = true;
            }
        }
    }
    const int e = c.entry;
    ++stats.calls[e];
    if (!o.ran) {
        ++stats.skipped[e];
        return true;
    }
    (o.status == HS_OK ? stats.accepted : stats.refused)[e] += 1;
    std::string problem;
    if (o.status == HS_OK && !o.verdict.valid) problem = "accepted a call the model finds invalid (" + o.verdict.why + ")";
    if (o.status != HS_OK && o.verdict.valid) problem = "refused a call the model finds valid";
    if (o.status != HS_OK) {
        const std::string message = hs_last_error();
        if (message.rfind(name + ": ", 0) != 0 && c.entry != kLibrary && c.entry != kScanNumChunks &&
            c.entry != kRnnCellInfo) {
            problem += "; message does not start with '" + name + ": '";
        }
        if (message.find("argument '") == std::string::npos && message.find("field '") == std::string::npos) {
            problem += "; message names no argument";
        }
        if (!problem.empty()) problem += "; message: " + message;
    }
    if (!o.answer_problem.empty()) problem += (problem.empty() ? "" : "; ") + o.answer_problem;
    if (problem.empty()) return true;
    std::snprintf(failure, failure_size, "call %lld (%s, status %s): %s", static_cast<long long>(index), name.c_str(),
                  hs_status_name(o.status), problem.c_str());
    return false;
}

// ---- the driver: batches in forked children ---------------------------------------------------------------------

struct Shared {
    int64_t current_call;
    int64_t failed_call;
    char failure[4096];
    Stats stats;
};

int usage() {
    std::fprintf(stderr, "usage: hybridseq_abi_fuzz [--seed S] [--calls N] [--batch B] [--timeout-s T] [--call I]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t seed = 20261201;
    // About 30 s on a 2-core CI machine; every call is a few microseconds to a few milliseconds.
    int64_t calls = 350000, batch = 10000, only = -1;
    int timeout_s = 30;
    for (int i = 1; i < argc; ++i) {
        const std::string option = argv[i];
        if (i + 1 >= argc) return usage();
        const char* value = argv[++i];
        if (option == "--seed") seed = std::strtoull(value, nullptr, 10);
        else if (option == "--calls") calls = std::atoll(value);
        else if (option == "--batch") batch = std::max<long long>(1, std::atoll(value));
        else if (option == "--timeout-s") timeout_s = std::atoi(value);
        else if (option == "--call") only = std::atoll(value);
        else return usage();
    }
    if (hs_api_version() != HS_API_VERSION) {
        std::fprintf(stderr, "abi fuzz: library API %d, header %d\n", hs_api_version(), HS_API_VERSION);
        return 1;
    }
    if (only >= 0) {
        // Replay one call in this process (for a debugger or a sanitizer).
        Stats stats{};
        char failure[4096] = "";
        const bool ok = run_call(seed, only, stats, failure, sizeof(failure));
        std::printf("call %lld of seed %llu: %s\n", static_cast<long long>(only), static_cast<unsigned long long>(seed),
                    ok ? "ok" : failure);
        return ok ? 0 : 1;
    }

    auto* shared = static_cast<Shared*>(
        mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    if (shared == MAP_FAILED) {
        std::perror("mmap");
        return 1;
    }
    std::memset(shared, 0, sizeof(Shared));
    const auto start = std::chrono::steady_clock::now();
    std::printf("abi fuzz: seed %llu, %lld calls in batches of %lld (replay one: --seed %llu --call I)\n",
                static_cast<unsigned long long>(seed), static_cast<long long>(calls), static_cast<long long>(batch),
                static_cast<unsigned long long>(seed));
    std::fflush(stdout);
    bool failed = false;
    for (int64_t first = 0; first < calls && !failed; first += batch) {
        const int64_t last = std::min(calls, first + batch);
        shared->failed_call = -1;
        const pid_t child = fork();
        if (child < 0) {
            std::perror("fork");
            return 1;
        }
        if (child == 0) {
            // The child: a hang ends it by SIGALRM, which the parent reports like any other signal.
            alarm(static_cast<unsigned>(timeout_s));
            for (int64_t i = first; i < last; ++i) {
                shared->current_call = i;
                if (!run_call(seed, i, shared->stats, shared->failure, sizeof(shared->failure))) {
                    shared->failed_call = i;
                    _exit(1);
                }
            }
            _exit(0);
        }
        int status = 0;
        if (waitpid(child, &status, 0) != child) {
            std::perror("waitpid");
            return 1;
        }
        if (WIFSIGNALED(status)) {
            const int signal = WTERMSIG(status);
            std::printf("FAILED: call %lld died by signal %d (%s)%s; replay: --seed %llu --call %lld\n",
                        static_cast<long long>(shared->current_call), signal, strsignal(signal),
                        signal == SIGALRM ? " after the batch's time limit (a hang)" : "",
                        static_cast<unsigned long long>(seed), static_cast<long long>(shared->current_call));
            failed = true;
        } else if (WEXITSTATUS(status) != 0) {
            std::printf("FAILED: %s; replay: --seed %llu --call %lld\n", shared->failure,
                        static_cast<unsigned long long>(seed), static_cast<long long>(shared->failed_call));
            failed = true;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    int64_t total = 0, accepted = 0;
    std::printf("%-52s %8s %8s %8s %8s\n", "entry point", "calls", "accepted", "refused", "skipped");
    for (int e = 0; e < kEntryCount; ++e) {
        std::printf("%-52s %8lld %8lld %8lld %8lld\n", kEntryNames[e], static_cast<long long>(shared->stats.calls[e]),
                    static_cast<long long>(shared->stats.accepted[e]), static_cast<long long>(shared->stats.refused[e]),
                    static_cast<long long>(shared->stats.skipped[e]));
        total += shared->stats.calls[e];
        accepted += shared->stats.accepted[e];
    }
    std::printf("abi fuzz: %lld calls (%lld accepted) in %.1f s: %s\n", static_cast<long long>(total),
                static_cast<long long>(accepted), seconds, failed ? "FAILED" : "passed");
    return failed ? 1 : 0;
}
