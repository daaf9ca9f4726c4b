// The one way an extern "C" entry point runs its body: every exception becomes an hs_status plus a thread-local
// message that starts with the entry point's name; success clears the message. Nothing else may cross the C ABI.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "common/error.h"
#include "hybridseq.h"

namespace hs {

// The calling thread's last error message (what hs_last_error returns).
const char* last_error_message() noexcept;
void set_last_error_message(const char* entry_point, const char* message) noexcept;
void clear_last_error_message() noexcept;

// Runs body() (returning void) and maps what it throws:
//   hs::Error -> its status; std::bad_alloc -> HS_ERR_OUT_OF_MEMORY; anything else -> HS_ERR_INTERNAL.
template <typename Body>
hs_status run_entry_point(const char* entry_point, Body&& body) noexcept {
    try {
        body();
        clear_last_error_message();
        return HS_OK;
    } catch (const Error& e) {
        set_last_error_message(entry_point, e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error_message(entry_point, "out of host memory (std::bad_alloc)");
        return HS_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error_message(entry_point, (std::string("internal error: ") + e.what()).c_str());
        return HS_ERR_INTERNAL;
    } catch (...) {
        set_last_error_message(entry_point, "internal error: unknown exception");
        return HS_ERR_INTERNAL;
    }
}

}  // namespace hs
