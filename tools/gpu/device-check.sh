#!/usr/bin/env bash
# The GPU check, run on a GPU machine from the repository root (no .NET SDK needed there):
#   1. builds the native library with that machine's nvcc (sm_90 unless CUDA_ARCHS says otherwise),
#   2. runs the native tests (ctest) and the GPU benchmarks (selective scan, fused recurrence),
#   3. runs the .NET tests (the published executable from artifacts/gpu/bundle.tar.xz, see tools/gpu/pack.sh)
#      against the fresh library and the machine's own CUDA libtorch, then the .NET CUDA benchmarks (FusedLSTM vs
#      cuDNN's nn.LSTM in one process, head-wise shapes).
# Everything it finds is written to $OUT (default artifacts/gpu-results). Exit code: non-zero if any step failed.
# CUDA_ARCHS (default 90) and TORCH_LIB (default: the libraries of python3's torch) can be overridden.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/artifacts/gpu-results}
archs=${CUDA_ARCHS:-90}
mkdir -p "$out"
work=$(mktemp -d)
status=0
step() { echo "==> $*" | tee -a "$out/summary.txt"; }

step "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)"
step "nvcc: $(nvcc --version | tail -n 1)"

start=$(date +%s)
if cmake -S "$root" -B "$work/native" -DCMAKE_BUILD_TYPE=Release -DHYBRIDSEQ_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/cmake-configure.log" 2>&1 &&
   cmake --build "$work/native" --parallel "$(nproc)" >"$out/cmake-build.log" 2>&1; then
    step "native build: ok in $(( $(date +%s) - start )) s"
else
    step "native build: FAILED (see cmake-*.log)"; exit 1
fi
lib=$(find "$work/native" -name libhybridseq.so | head -n 1)

ctest --test-dir "$work/native" --output-on-failure --output-junit "$out/ctest-junit.xml" >"$out/ctest.log" 2>&1 \
    && step "ctest: ok" || { step "ctest: FAILED"; status=1; }
step "ctest: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -n 1)"

for bench in $(find "$work/native" -type f -name 'hybridseq_gpu_*_bench' | sort); do
    name=$(basename "$bench")
    "$bench" >"$out/$name.md" 2>&1 && step "$name: ok" || { step "$name: FAILED"; status=1; }
done

if [ -f "$root/artifacts/gpu/bundle.tar.xz" ]; then
    mkdir -p "$work/bundle" && tar xJf "$root/artifacts/gpu/bundle.tar.xz" -C "$work/bundle"
    export DOTNET_ROOT=$work/bundle/dotnet
    # libtorch: TORCH_LIB if set, else the machine's PyTorch installation (CUDA-enabled on the GPU machine).
    torch_lib=${TORCH_LIB:-$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__)+'/lib')" 2>/dev/null || true)}
    cp "$lib" "$work/bundle/HybridSeq.Tests/runtimes/linux-x64/native/libhybridseq.so"
    export HYBRIDSEQ_NATIVE_PATH=$lib
    (cd "$work/bundle/HybridSeq.Tests" &&
        LD_LIBRARY_PATH="$torch_lib:$PWD/runtimes/linux-x64/native" "$DOTNET_ROOT/dotnet" HybridSeq.Tests.dll \
        >"$out/dotnet-tests.log" 2>&1) && step ".NET tests: ok" || { step ".NET tests: FAILED"; status=1; }
    step ".NET tests: $(grep -E '^ *(total|failed|succeeded|skipped): [0-9]+' "$out/dotnet-tests.log" | tr -s ' \n' ' ')"
    # The in-process CUDA benchmarks: FusedLSTM vs cuDNN's nn.LSTM in one process, and the head-wise shapes.
    # BENCH_TIMEOUT (seconds, default 300) bounds them: device time is scarce.
    cp "$lib" "$work/bundle/HybridSeq.Benchmarks/runtimes/linux-x64/native/libhybridseq.so"
    (cd "$work/bundle/HybridSeq.Benchmarks" &&
        LD_LIBRARY_PATH="$torch_lib:$PWD/runtimes/linux-x64/native" timeout "${BENCH_TIMEOUT:-300}" \
        "$DOTNET_ROOT/dotnet" HybridSeq.Benchmarks.dll --filter '*Cuda*' --artifacts "$out/dotnet-bench" \
        >"$out/dotnet-bench.log" 2>&1) && step ".NET CUDA benchmarks: ok" || { step ".NET CUDA benchmarks: FAILED"; status=1; }
else
    step ".NET tests: skipped (no artifacts/gpu/bundle.tar.xz; run tools/gpu/pack.sh first)"
fi
rm -rf "$work"
exit $status
