// Library-level entry points: version, status names, CUDA device queries without a GPU, ABI self-description.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <thread>

#include "hybridseq.h"

namespace {

TEST(LibraryApi, VersionMatchesHeader) {
    EXPECT_EQ(hs_api_version(), HS_API_VERSION);
    const std::string version = hs_version_string();
    const std::string expected_backend = hs_cuda_compiled() ? " (cuda " : " (cpu)";
    EXPECT_NE(version.find(expected_backend), std::string::npos) << version;
    EXPECT_EQ(version.find_first_not_of("0123456789."), version.find(' ')) << "starts with major.minor.patch: "
                                                                            << version;
}

TEST(LibraryApi, StatusNames) {
    EXPECT_STREQ(hs_status_name(HS_OK), "HS_OK");
    EXPECT_STREQ(hs_status_name(HS_ERR_INVALID_ARGUMENT), "HS_ERR_INVALID_ARGUMENT");
    EXPECT_STREQ(hs_status_name(HS_ERR_UNSUPPORTED), "HS_ERR_UNSUPPORTED");
    EXPECT_STREQ(hs_status_name(HS_ERR_CUDA), "HS_ERR_CUDA");
    EXPECT_STREQ(hs_status_name(HS_ERR_OUT_OF_MEMORY), "HS_ERR_OUT_OF_MEMORY");
    EXPECT_STREQ(hs_status_name(HS_ERR_INTERNAL), "HS_ERR_INTERNAL");
    EXPECT_STREQ(hs_status_name(42), "HS_STATUS_UNKNOWN");
}

TEST(LibraryApi, DeviceCountIsOkWithAReasonWhenNoDevice) {
    int32_t count = -1;
    ASSERT_EQ(hs_cuda_device_count(&count), HS_OK) << hs_last_error();
    EXPECT_GE(count, 0);
    const std::string reason = hs_cuda_unavailable_reason();
    if (count == 0) {
        EXPECT_FALSE(reason.empty());
    } else {
        EXPECT_TRUE(reason.empty()) << reason;
    }
    if (!hs_cuda_compiled()) {
        EXPECT_EQ(count, 0);
        EXPECT_NE(reason.find("without CUDA"), std::string::npos) << reason;
    }
    EXPECT_EQ(hs_cuda_device_count(nullptr), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("hs_cuda_device_count: argument 'count'"), std::string::npos)
        << hs_last_error();
}

TEST(LibraryApi, DeviceQueriesOutOfRangeFail) {
    int32_t count = 0;
    ASSERT_EQ(hs_cuda_device_count(&count), HS_OK);
    hs_device_info info{};
    const hs_status expected = hs_cuda_compiled() ? HS_ERR_INVALID_ARGUMENT : HS_ERR_UNSUPPORTED;
    EXPECT_EQ(hs_cuda_device_info(count, &info), expected);
    EXPECT_NE(std::string(hs_last_error()).find("hs_cuda_device_info: "), std::string::npos) << hs_last_error();
    EXPECT_EQ(hs_cuda_synchronize(-1), expected);
    EXPECT_NE(std::string(hs_last_error()).find("hs_cuda_synchronize: "), std::string::npos) << hs_last_error();
    EXPECT_EQ(hs_cuda_device_info(0, nullptr), HS_ERR_INVALID_ARGUMENT);
}

TEST(LibraryApi, AbiSizesAndOffsetsMatchThisCompiler) {
    struct Expected {
        const char* type;
        const char* field;
        size_t offset;
    };
    const Expected fields[] = {
        {"hs_tensor", "data", offsetof(hs_tensor, data)},
        {"hs_tensor", "dtype", offsetof(hs_tensor, dtype)},
        {"hs_tensor", "device_type", offsetof(hs_tensor, device_type)},
        {"hs_tensor", "device_index", offsetof(hs_tensor, device_index)},
        {"hs_tensor", "rank", offsetof(hs_tensor, rank)},
        {"hs_tensor", "sizes", offsetof(hs_tensor, sizes)},
        {"hs_tensor", "strides", offsetof(hs_tensor, strides)},
        {"hs_device_info", "name", offsetof(hs_device_info, name)},
        {"hs_device_info", "compute_major", offsetof(hs_device_info, compute_major)},
        {"hs_device_info", "compute_minor", offsetof(hs_device_info, compute_minor)},
        {"hs_device_info", "multiprocessor_count", offsetof(hs_device_info, multiprocessor_count)},
        {"hs_device_info", "reserved", offsetof(hs_device_info, reserved)},
        {"hs_device_info", "total_memory_bytes", offsetof(hs_device_info, total_memory_bytes)},
        {"hs_device_info", "free_memory_bytes", offsetof(hs_device_info, free_memory_bytes)},
        {"hs_selective_scan_inputs", "u", offsetof(hs_selective_scan_inputs, u)},
        {"hs_selective_scan_inputs", "delta", offsetof(hs_selective_scan_inputs, delta)},
        {"hs_selective_scan_inputs", "A", offsetof(hs_selective_scan_inputs, A)},
        {"hs_selective_scan_inputs", "B", offsetof(hs_selective_scan_inputs, B)},
        {"hs_selective_scan_inputs", "C", offsetof(hs_selective_scan_inputs, C)},
        {"hs_selective_scan_inputs", "D", offsetof(hs_selective_scan_inputs, D)},
        {"hs_selective_scan_inputs", "z", offsetof(hs_selective_scan_inputs, z)},
        {"hs_selective_scan_inputs", "delta_bias", offsetof(hs_selective_scan_inputs, delta_bias)},
        {"hs_selective_scan_inputs", "h0", offsetof(hs_selective_scan_inputs, h0)},
        {"hs_selective_scan_inputs", "lengths", offsetof(hs_selective_scan_inputs, lengths)},
        {"hs_selective_scan_inputs", "delta_softplus", offsetof(hs_selective_scan_inputs, delta_softplus)},
        {"hs_selective_scan_inputs", "reserved", offsetof(hs_selective_scan_inputs, reserved)},
        {"hs_selective_scan_grads", "du", offsetof(hs_selective_scan_grads, du)},
        {"hs_selective_scan_grads", "ddelta", offsetof(hs_selective_scan_grads, ddelta)},
        {"hs_selective_scan_grads", "dA", offsetof(hs_selective_scan_grads, dA)},
        {"hs_selective_scan_grads", "dB", offsetof(hs_selective_scan_grads, dB)},
        {"hs_selective_scan_grads", "dC", offsetof(hs_selective_scan_grads, dC)},
        {"hs_selective_scan_grads", "dD", offsetof(hs_selective_scan_grads, dD)},
        {"hs_selective_scan_grads", "dz", offsetof(hs_selective_scan_grads, dz)},
        {"hs_selective_scan_grads", "ddelta_bias", offsetof(hs_selective_scan_grads, ddelta_bias)},
        {"hs_selective_scan_grads", "dh0", offsetof(hs_selective_scan_grads, dh0)},
    };
    for (const Expected& f : fields) {
        int64_t offset = -1;
        ASSERT_EQ(hs_abi_offsetof(f.type, f.field, &offset), HS_OK) << f.type << "." << f.field << ": "
                                                                     << hs_last_error();
        EXPECT_EQ(offset, static_cast<int64_t>(f.offset)) << f.type << "." << f.field;
    }
    const std::pair<const char*, size_t> sizes[] = {
        {"hs_tensor", sizeof(hs_tensor)},
        {"hs_device_info", sizeof(hs_device_info)},
        {"hs_selective_scan_inputs", sizeof(hs_selective_scan_inputs)},
        {"hs_selective_scan_grads", sizeof(hs_selective_scan_grads)},
    };
    for (const auto& [type, size] : sizes) {
        int64_t reported = -1;
        ASSERT_EQ(hs_abi_sizeof(type, &reported), HS_OK) << type << ": " << hs_last_error();
        EXPECT_EQ(reported, static_cast<int64_t>(size)) << type;
    }
    // The layout the managed side hard-codes for x64: 8-byte pointer, four int32, then 6 + 6 int64.
    int64_t tensor_size = 0;
    ASSERT_EQ(hs_abi_sizeof("hs_tensor", &tensor_size), HS_OK);
    EXPECT_EQ(tensor_size, 8 + 4 * 4 + 2 * 6 * 8);
}

TEST(LibraryApi, AbiQueriesRejectUnknownNames) {
    int64_t value = 0;
    EXPECT_EQ(hs_abi_sizeof("hs_nothing", &value), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("'hs_nothing'"), std::string::npos) << hs_last_error();
    EXPECT_EQ(hs_abi_offsetof("hs_tensor", "nothing", &value), HS_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(hs_last_error()).find("'nothing' is not a field of hs_tensor"), std::string::npos)
        << hs_last_error();
    EXPECT_EQ(hs_abi_sizeof(nullptr, &value), HS_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(hs_abi_offsetof("hs_tensor", nullptr, &value), HS_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(hs_abi_sizeof("hs_tensor", nullptr), HS_ERR_INVALID_ARGUMENT);
}

TEST(LibraryApi, LastErrorIsPerThread) {
    int64_t value = 0;
    ASSERT_EQ(hs_abi_sizeof("hs_nothing", &value), HS_ERR_INVALID_ARGUMENT);
    std::string seen_on_other_thread = "unset";
    std::thread other([&] { seen_on_other_thread = hs_last_error(); });
    other.join();
    EXPECT_EQ(seen_on_other_thread, "");
    EXPECT_STRNE(hs_last_error(), "");
}


// ---------------------------------------------------------------------------------------------------------------
// Regressions from an independent fuzz of the C ABI (the suite's own fuzz: hybridseq_abi_fuzz)
// ---------------------------------------------------------------------------------------------------------------

hs_tensor view_of(void* data, int32_t dtype, std::initializer_list<int64_t> shape) {
    hs_tensor t{};
    t.data = data;
    t.dtype = dtype;
    t.device_type = HS_DEVICE_CPU;
    t.rank = static_cast<int32_t>(shape.size());
    int64_t stride = 1;
    for (int i = t.rank - 1; i >= 0; --i) {
        t.sizes[i] = *(shape.begin() + i);
        t.strides[i] = stride;
        if (i > 0) stride *= std::max<int64_t>(t.sizes[i], 1);  // the outermost size never enters a stride
    }
    return t;
}

// x of shape (2^62 + 1, 4) has 2^64 + 4 elements: the product wrapped to 4 and passed validation.
TEST(LibraryApi, ElementCountsThatOverflowInt64AreRefusedNamingTheArgument) {
    static float small[16];
    const hs_tensor x = view_of(small, HS_DTYPE_FLOAT32, {(int64_t(1) << 62) + 1, 4});
    const hs_tensor w = view_of(small, HS_DTYPE_FLOAT32, {1, 4});
    const hs_tensor y = view_of(small + 8, HS_DTYPE_FLOAT32, {(int64_t(1) << 62) + 1, 1});
    EXPECT_EQ(hs_linear_forward(&x, &w, nullptr, &y, nullptr), HS_ERR_INVALID_ARGUMENT);
    const std::string message = hs_last_error();
    EXPECT_NE(message.find("hs_linear_forward: argument 'x'"), std::string::npos) << message;
    EXPECT_NE(message.find("more elements than int64 can index"), std::string::npos) << message;
}

// Without CUDA, the device queries name the argument they cannot serve.
TEST(LibraryApi, DeviceQueriesNameTheDeviceArgument) {
    if (hs_cuda_compiled() != 0) GTEST_SKIP() << "a CUDA build answers these from the driver";
    hs_device_info info{};
    EXPECT_EQ(hs_cuda_device_info(0, &info), HS_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'device'"), std::string::npos) << hs_last_error();
    EXPECT_EQ(hs_cuda_synchronize(0), HS_ERR_UNSUPPORTED);
    EXPECT_NE(std::string(hs_last_error()).find("argument 'device'"), std::string::npos) << hs_last_error();
}

}  // namespace
