// Internal error type of the native library. Kernels, launchers and shims throw hs::Error; the extern "C" entry
// points (native/src/api) catch it (and everything else) and turn it into an hs_status plus the thread-local message.
#pragma once

#include <stdexcept>
#include <string>

#include "hybridseq.h"

namespace hs {

class Error : public std::runtime_error {
public:
    Error(hs_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    hs_status status() const noexcept { return status_; }

private:
    hs_status status_;
};

[[noreturn]] inline void throw_invalid(const std::string& message) {
    throw Error(HS_ERR_INVALID_ARGUMENT, message);
}

[[noreturn]] inline void throw_unsupported(const std::string& message) {
    throw Error(HS_ERR_UNSUPPORTED, message);
}

}  // namespace hs
