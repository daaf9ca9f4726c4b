#!/usr/bin/env bash
# Packs into artifacts/gpu/bundle.tar.xz what a bare GPU machine (no .NET SDK, no network) needs to run the GPU
# check: the .NET runtime and the framework-dependent published tests, benchmarks and CLI. libtorch is left out:
# on the GPU machine TorchSharp uses that machine's own CUDA-enabled torch libraries (recipe: docs/platform.md).
# Usage: tools/gpu/pack.sh [Release|Debug]     (or: dotnet pwsh ./build.ps1 gpu-pack)
set -euo pipefail
cfg=${1:-Release}
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=$root/artifacts/gpu/stage
rm -rf "$root/artifacts/gpu"
mkdir -p "$stage"

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
mkdir -p "$stage/dotnet"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$stage/dotnet/"
mkdir -p "$stage/dotnet/shared"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$stage/dotnet/shared/"

for project in tests/HybridSeq.Tests bench/HybridSeq.Benchmarks src/Cli; do
    name=$(basename "$project")
    dotnet publish "$root/$project" -c "$cfg" -o "$stage/$name" --nologo -v:quiet
    # Drop the CPU libtorch (the GPU machine brings its own CUDA build); keep everything else (our library, the
    # patched TorchSharp glue, SkiaSharp/HarfBuzz for the plots).
    libtorch_native="$(find "${NUGET_PACKAGES:-$HOME/.nuget/packages}/libtorch-cpu-linux-x64" -path '*/runtimes/linux-x64/native' -type d | head -n 1)"
    for file in "$libtorch_native"/*; do
        rm -f "$stage/$name/runtimes/linux-x64/native/$(basename "$file")"
    done
    find "$stage/$name/runtimes" -mindepth 1 -maxdepth 1 -type d ! -name 'linux-x64' -exec rm -rf {} +
done

tar cJf "$root/artifacts/gpu/bundle.tar.xz" -C "$stage" .
rm -rf "$stage"
echo "packed $(du -h "$root/artifacts/gpu/bundle.tar.xz" | cut -f1) into artifacts/gpu/bundle.tar.xz"
echo "on the GPU machine: bash tools/gpu/device-check.sh   (carry: artifacts/gpu)"
