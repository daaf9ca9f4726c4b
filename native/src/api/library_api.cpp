// extern "C" entry points for the library as a whole: version, errors, CUDA devices and ABI self-description.
#include <cstddef>
#include <cstring>
#include <string>

#include "common/cuda_device_guard.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"

#if defined(HYBRIDSEQ_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

#ifndef HYBRIDSEQ_VERSION
#error "HYBRIDSEQ_VERSION must be defined by the build (CMake passes the project version)"
#endif

namespace {

#if defined(HYBRIDSEQ_WITH_CUDA)
#ifndef HYBRIDSEQ_CUDA_VERSION
#error "HYBRIDSEQ_CUDA_VERSION must be defined by the build (CMake passes the CUDA toolkit's major.minor)"
#endif
constexpr const char* kVersionString = HYBRIDSEQ_VERSION " (cuda " HYBRIDSEQ_CUDA_VERSION ")";

using hs::CurrentDeviceGuard;
using hs::throw_cuda;
#else
constexpr const char* kVersionString = HYBRIDSEQ_VERSION " (cpu)";
#endif

// Whether CUDA is usable, decided once per process: the runtime caches the answer of cudaGetDeviceCount too.
struct CudaAvailability {
    int device_count = 0;
    std::string reason;  // "" when device_count > 0
};

const CudaAvailability& cuda_availability() {
    static const CudaAvailability availability = [] {
        CudaAvailability result;
#if defined(HYBRIDSEQ_WITH_CUDA)
        int count = 0;
        const cudaError_t error = cudaGetDeviceCount(&count);
        if (error != cudaSuccess) {
            cudaGetLastError();  // do not leave the failure behind for the caller's next CUDA call
            result.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(error) + " (" +
                            cudaGetErrorString(error) + ")";
        } else if (count == 0) {
            result.reason = "the CUDA driver reports no devices";
        } else {
            result.device_count = count;
        }
#else
        result.reason = "this HybridSeq library was built without CUDA (HYBRIDSEQ_CUDA=OFF or no nvcc at build time)";
#endif
        return result;
    }();
    return availability;
}

void check_device_ordinal(int32_t device) {
    const CudaAvailability& availability = cuda_availability();
#if !defined(HYBRIDSEQ_WITH_CUDA)
    hs::throw_unsupported("argument 'device' names CUDA device " + std::to_string(device) + ", but " +
                          availability.reason);
#else
    if (device < 0 || device >= availability.device_count) {
        std::string message = "argument 'device' must be a CUDA device ordinal in [0, " +
                              std::to_string(availability.device_count) + "), got " + std::to_string(device);
        if (!availability.reason.empty()) message += " (" + availability.reason + ")";
        hs::throw_invalid(message);
    }
#endif
}

// ABI self-description: one row per struct field, checked by the managed layer against its own layout.
struct AbiField {
    const char* type_name;
    const char* field_name;
    std::size_t offset;
};
struct AbiType {
    const char* type_name;
    std::size_t size;
};

#define HS_ABI_FIELD(type, field) AbiField{#type, #field, offsetof(type, field)}

// The rows are generated from the header by tools/BindingsGen (--write; --check in the tests fails when stale), so
// every struct of the header is described; the numbers are this compiler's sizeof / offsetof.
#include "api/abi_layout.g.inc"

const AbiType* find_abi_type(const char* type_name) {
    for (const AbiType& type : kAbiTypes) {
        if (std::strcmp(type.type_name, type_name) == 0) return &type;
    }
    return nullptr;
}

std::string known_abi_type_names() {
    std::string names;
    for (const AbiType& type : kAbiTypes) {
        if (!names.empty()) names += ", ";
        names += type.type_name;
    }
    return names;
}

const AbiType& require_abi_type(const char* type_name) {
    if (type_name == nullptr) hs::throw_invalid("argument 'type_name' must not be NULL");
    const AbiType* type = find_abi_type(type_name);
    if (type == nullptr) {
        hs::throw_invalid(std::string("argument 'type_name' must be one of ") + known_abi_type_names() + ", got '" +
                          type_name + "'");
    }
    return *type;
}

}  // namespace

extern "C" {

HS_API int32_t hs_api_version(void) { return HS_API_VERSION; }

HS_API const char* hs_version_string(void) { return kVersionString; }

HS_API const char* hs_last_error(void) { return hs::last_error_message(); }

HS_API const char* hs_status_name(int32_t status) {
    switch (status) {
        case HS_OK: return "HS_OK";
        case HS_ERR_INVALID_ARGUMENT: return "HS_ERR_INVALID_ARGUMENT";
        case HS_ERR_UNSUPPORTED: return "HS_ERR_UNSUPPORTED";
        case HS_ERR_CUDA: return "HS_ERR_CUDA";
        case HS_ERR_OUT_OF_MEMORY: return "HS_ERR_OUT_OF_MEMORY";
        case HS_ERR_INTERNAL: return "HS_ERR_INTERNAL";
        default: return "HS_STATUS_UNKNOWN";
    }
}

HS_API int32_t hs_cuda_compiled(void) {
#if defined(HYBRIDSEQ_WITH_CUDA)
    return 1;
#else
    return 0;
#endif
}

HS_API hs_status hs_cuda_device_count(int32_t* count) {
    return hs::run_entry_point("hs_cuda_device_count", [&] {
        if (count == nullptr) hs::throw_invalid("argument 'count' must not be NULL");
        *count = cuda_availability().device_count;
    });
}

HS_API const char* hs_cuda_unavailable_reason(void) {
    try {
        return cuda_availability().reason.c_str();
    } catch (...) {
        return "could not determine CUDA availability (out of memory)";
    }
}

HS_API hs_status hs_cuda_device_info(int32_t device, hs_device_info* info) {
    return hs::run_entry_point("hs_cuda_device_info", [&] {
        if (info == nullptr) hs::throw_invalid("argument 'info' must not be NULL");
        check_device_ordinal(device);
#if defined(HYBRIDSEQ_WITH_CUDA)
        cudaDeviceProp properties{};
        cudaError_t error = cudaGetDeviceProperties(&properties, device);
        if (error != cudaSuccess) throw_cuda("cudaGetDeviceProperties", error);
        std::size_t free_bytes = 0;
        std::size_t total_bytes = 0;
        {
            CurrentDeviceGuard guard(device);
            error = cudaMemGetInfo(&free_bytes, &total_bytes);
            if (error != cudaSuccess) throw_cuda("cudaMemGetInfo", error);
        }
        hs_device_info result{};
        // cudaDeviceProp::name is NUL-terminated within its 256 bytes; copy what fits and terminate.
        const std::size_t name_length = ::strnlen(properties.name, sizeof(result.name) - 1);
        std::memcpy(result.name, properties.name, name_length);
        result.name[name_length] = '\0';
        result.compute_major = properties.major;
        result.compute_minor = properties.minor;
        result.multiprocessor_count = properties.multiProcessorCount;
        result.total_memory_bytes = static_cast<int64_t>(total_bytes);
        result.free_memory_bytes = static_cast<int64_t>(free_bytes);
        *info = result;
#endif
    });
}

HS_API hs_status hs_cuda_synchronize(int32_t device) {
    return hs::run_entry_point("hs_cuda_synchronize", [&] {
        check_device_ordinal(device);
#if defined(HYBRIDSEQ_WITH_CUDA)
        CurrentDeviceGuard guard(device);
        const cudaError_t error = cudaDeviceSynchronize();
        if (error != cudaSuccess) throw_cuda("cudaDeviceSynchronize", error);
#endif
    });
}

HS_API hs_status hs_abi_sizeof(const char* type_name, int64_t* size) {
    return hs::run_entry_point("hs_abi_sizeof", [&] {
        if (size == nullptr) hs::throw_invalid("argument 'size' must not be NULL");
        *size = static_cast<int64_t>(require_abi_type(type_name).size);
    });
}

HS_API hs_status hs_abi_offsetof(const char* type_name, const char* field_name, int64_t* offset) {
    return hs::run_entry_point("hs_abi_offsetof", [&] {
        if (offset == nullptr) hs::throw_invalid("argument 'offset' must not be NULL");
        const AbiType& type = require_abi_type(type_name);
        if (field_name == nullptr) hs::throw_invalid("argument 'field_name' must not be NULL");
        for (const AbiField& field : kAbiFields) {
            if (std::strcmp(field.type_name, type.type_name) == 0 && std::strcmp(field.field_name, field_name) == 0) {
                *offset = static_cast<int64_t>(field.offset);
                return;
            }
        }
        hs::throw_invalid(std::string("argument 'field_name': '") + field_name + "' is not a field of " +
                          type.type_name);
    });
}

}  // extern "C"
