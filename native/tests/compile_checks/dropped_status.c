/* Compile check of HS_NODISCARD (native/CMakeLists.txt runs it as C and as C++ with -Werror=unused-result): with
 * HS_CHECK_STATUS defined the status is used and the file compiles; without it the status is dropped, which must be
 * a compile error. */
#include "hybridseq.h"

int main(void) {
    int64_t size = 0;
#if defined(HS_CHECK_STATUS)
    if (hs_abi_sizeof("hs_tensor", &size) != HS_OK) return 1;
#else
    hs_abi_sizeof("hs_tensor", &size);
#endif
    return size > 0 ? 0 : 1;
}
