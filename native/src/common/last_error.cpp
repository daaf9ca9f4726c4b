#include "common/entry_point.h"

namespace hs {
namespace {

thread_local std::string t_last_error;

}  // namespace

const char* last_error_message() noexcept { return t_last_error.c_str(); }

void set_last_error_message(const char* entry_point, const char* message) noexcept {
    try {
        t_last_error.assign(entry_point);
        t_last_error.append(": ");
        t_last_error.append(message);
    } catch (...) {
        // Out of memory while recording an error: keep whatever fits rather than throw across the C ABI.
        t_last_error.clear();
    }
}

void clear_last_error_message() noexcept { t_last_error.clear(); }

}  // namespace hs
