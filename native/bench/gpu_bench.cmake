# GPU timing executables (native/bench/gpu_*.cpp): host C++ that calls the public C API on CUDA tensors and times it
# with cudaEvents. Meant to be included from native/CMakeLists.txt after the hybridseq target exists:
#
#   if(HYBRIDSEQ_BUILD_BENCH AND HYBRIDSEQ_WITH_CUDA)
#       include(${CMAKE_CURRENT_SOURCE_DIR}/bench/gpu_bench.cmake)
#   endif()
#
# Run: build/native-cuda/native/hybridseq_gpu_selective_scan_bench (prints markdown rows; exits 0 without a GPU).
file(GLOB HYBRIDSEQ_GPU_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/gpu_*.cpp)
foreach(_gpu_bench_source IN LISTS HYBRIDSEQ_GPU_BENCH_SOURCES)
    get_filename_component(_gpu_bench_name "${_gpu_bench_source}" NAME_WE)
    add_executable(hybridseq_${_gpu_bench_name} "${_gpu_bench_source}")
    target_compile_options(hybridseq_${_gpu_bench_name} PRIVATE -O2 -Wall -Wextra)
    target_link_libraries(hybridseq_${_gpu_bench_name} PRIVATE hybridseq CUDA::cudart_static)
endforeach()
