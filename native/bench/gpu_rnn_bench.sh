#!/usr/bin/env bash
# One-shot GPU check of the CUDA fused recurrence, for the GPU machine (see shared/notes/platform.md: GPU time is
# scarce, so build, test and time in one go). From the repository root:
#   native/bench/gpu_rnn_bench.sh [out_dir]        (default out_dir: $OUT, else ./gpu-rnn-results)
# Builds libhybridseq for sm_90 only (keeps nvcc time short), runs the CUDA rnn tests (CUDA vs the CPU twin) and the
# timing table, and writes build.log, tests.log and bench.md into out_dir. Exits non-zero when the build or a test
# fails; the bench still runs after failed tests so that one run gives both answers.
set -u
out_dir="${1:-${OUT:-gpu-rnn-results}}"
build_dir="build/gpu-rnn"
mkdir -p "$out_dir"
nvidia-smi > "$out_dir/nvidia-smi.txt" 2>&1

generator="Unix Makefiles"
command -v ninja > /dev/null && generator=Ninja
start=$(date +%s)
# GoogleTest may be missing on the GPU machine: then build the library and the bench only.
if ! cmake -S . -B "$build_dir" -G "$generator" -DHYBRIDSEQ_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        > "$out_dir/build.log" 2>&1; then
    echo "configure with tests failed; retrying without tests" >> "$out_dir/build.log"
    rm -rf "$build_dir"
    cmake -S . -B "$build_dir" -G "$generator" -DHYBRIDSEQ_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
        -DHYBRIDSEQ_BUILD_TESTS=OFF >> "$out_dir/build.log" 2>&1 || exit 2
fi
cmake --build "$build_dir" -j "$(nproc)" >> "$out_dir/build.log" 2>&1 || { tail -40 "$out_dir/build.log"; exit 3; }
echo "build seconds: $(( $(date +%s) - start ))" | tee -a "$out_dir/build.log"

status=0
if [ -x "$build_dir/native/hybridseq_native_tests" ]; then
    "$build_dir/native/hybridseq_native_tests" --gtest_filter='*RnnCuda*:*RnnForward*:*RnnBackward*' \
        > "$out_dir/tests.log" 2>&1 || status=4
    grep -E "cuda-vs-cpu|FAILED|PASSED|SKIPPED \] [0-9]" "$out_dir/tests.log" | tail -60
fi
"$build_dir/native/hybridseq_gpu_rnn_bench" | tee "$out_dir/bench.md" || status=5
exit $status
