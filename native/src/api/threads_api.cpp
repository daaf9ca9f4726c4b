// extern "C" entry points of the CPU thread policy (common/cpu_threads.h).
#include "common/cpu_threads.h"
#include "common/entry_point.h"
#include "common/error.h"
#include "hybridseq.h"

extern "C" {

HS_API hs_status hs_set_num_threads(int32_t threads) {
    return hs::run_entry_point("hs_set_num_threads", [&] { hs::cpu::set_explicit_threads(threads); });
}

HS_API hs_status hs_get_num_threads(int32_t* threads) {
    return hs::run_entry_point("hs_get_num_threads", [&] {
        if (threads == nullptr) hs::throw_invalid("argument 'threads' must not be NULL");
        *threads = hs::cpu::kernel_threads();
    });
}

}  // extern "C"
