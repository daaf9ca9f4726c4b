#!/usr/bin/env bash
# Builds and runs the samples from the HybridSeq NuGet packages, as a consumer would: the CI test that a consumer's
# experience works (build.ps1 samples runs it after build.ps1 pack; .ci/run runs that).
#
#   bash samples/run-samples.sh [FEED]        FEED: the folder feed build.ps1 pack wrote (default artifacts/packages)
#
# 1. Restores the samples with HybridSeq's packages taken from FEED into an EMPTY package folder
#    (artifacts/samples/packages), and checks that each one restored there is byte for byte the file in FEED.
#    Third-party packages (TorchSharp, libtorch: about 600 MB) are not downloaded again: the machine's global packages
#    folder serves as a NuGet fallback folder (read in place, nothing copied), through a folder of links that leaves
#    out every hybridseq* package, so a stale HybridSeq package of the same version there can never be used.
# 2. Builds them, checks that no plotting library (ScottPlot, SkiaSharp, HarfBuzzSharp) reached their output.
# 3. Runs the LSTM training sample and the Mamba generation sample (which trains a tiny model first), then the
#    prediction API with that checkpoint, and tests it over HTTP (samples/test-api.sh).
# 4. Installs the hybridseq tool from FEED into a tool folder of its own and runs it (info, tasks, a short train).
# Quiet on success apart from one line per stage; on failure the stage's output, and a non-zero exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
feed=$(cd "${1:-$root/artifacts/packages}" && pwd)
work=$root/artifacts/samples
version=$(sed -n 's:.*<HybridSeqVersion>\(.*\)</HybridSeqVersion>.*:\1:p' "$root/build/Version.props")
log() { echo "[samples] $*"; }
fail() { log "FAILED: $*"; exit 1; }
# Runs a stage quietly: its output goes to $work/logs/NAME.log and is shown only when it fails.
stage() {
    local name=$1; shift
    if ! "$@" >"$work/logs/$name.log" 2>&1; then
        cat "$work/logs/$name.log"
        fail "$name (log above: $work/logs/$name.log)"
    fi
}

for id in HybridSeq.Bindings HybridSeq.Managed HybridSeq.Models HybridSeq.Runtime.linux-x64 hybridseq; do
    [ -f "$feed/$id.$version.nupkg" ] || fail "$feed has no $id.$version.nupkg (run: dotnet pwsh ./build.ps1 pack)"
done
rm -rf "$work"
mkdir -p "$work/logs"
# Every sample builds afresh: no output or restore state of an earlier run can hide a missing file.
rm -rf "$root"/samples/*/bin "$root"/samples/*/obj
packages=$work/packages
mkdir -p "$packages"

# The fallback folder: one link per package id of the global packages folder, hybridseq* left out.
global=$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')
global=${global%/}
fallback=$work/third-party-fallback
mkdir -p "$fallback"
if [ -d "$global" ]; then
    for dir in "$global"/*/; do
        id=$(basename "$dir")
        case "$id" in hybridseq*) continue ;; esac
        ln -s "${dir%/}" "$fallback/$id"
    done
fi
log "restore: HybridSeq packages from $feed into the empty $packages; fallback folder: $global without hybridseq*"
restore_props=(-p:RestorePackagesPath="$packages" -p:RestoreFallbackFolders="$fallback")
stage restore dotnet restore "$root/samples/HybridSeq.Samples.slnx" "${restore_props[@]}"
for id in HybridSeq.Bindings HybridSeq.Managed HybridSeq.Models HybridSeq.Runtime.linux-x64; do
    lower=$(echo "$id" | tr '[:upper:]' '[:lower:]')
    restored=$packages/$lower/$version/$lower.$version.nupkg
    [ -f "$restored" ] || fail "$id $version was not restored into $packages"
    cmp -s "$restored" "$feed/$id.$version.nupkg" || fail "$restored differs from the one in $feed"
done
# Nothing large was downloaded again: libtorch resolved from the fallback folder, not into the samples' folder.
[ ! -d "$packages/libtorch-cpu-linux-x64" ] || log "note: libtorch-cpu-linux-x64 was not in $global and was downloaded"

stage build dotnet build "$root/samples/HybridSeq.Samples.slnx" -c Release --no-restore --nologo
plotting=$(find "$root/samples" -path '*/bin/Release/*' \( -iname '*scottplot*' -o -iname '*skiasharp*' -o -iname '*harfbuzz*' \) | head -5)
[ -z "$plotting" ] || fail "plotting libraries in a sample's output: $plotting"
for sample in LstmTraining MambaGeneration PredictionApi; do
    bin=$root/samples/$sample/bin/Release/net10.0
    [ -f "$bin/runtimes/linux-x64/native/libhybridseq.so" ] || fail "$sample: no runtimes/linux-x64/native/libhybridseq.so in $bin"
    log "$sample built: $(du -sm "$bin" | cut -f1) MB in bin/Release/net10.0, no plotting libraries"
done

stage lstm dotnet "$root/samples/LstmTraining/bin/Release/net10.0/LstmTraining.dll" --out "$work/lstm"
grep -q '^OK: trained, saved and reloaded' "$work/logs/lstm.log" || fail "LstmTraining printed no OK line"
log "LstmTraining: $(grep 'held-out accuracy' "$work/logs/lstm.log")"

# Without the runtime package's file the load error says so (a copy of the output with hard links, the library removed).
cp -al "$root/samples/LstmTraining/bin/Release/net10.0" "$work/lstm-without-native"
rm "$work/lstm-without-native/runtimes/linux-x64/native/libhybridseq.so"
# (Through an inner shell, so that its report of the abort goes to the log, not here.)
if bash -c '"$@"; exit $?' _ dotnet "$work/lstm-without-native/LstmTraining.dll" --out "$work/lstm-bad" \
        >"$work/logs/lstm-without-native.log" 2>&1; then
    fail "LstmTraining ran without libhybridseq.so"
fi
grep -q 'does not reference the NuGet package HybridSeq.Runtime.linux-x64' "$work/logs/lstm-without-native.log" ||
    { cat "$work/logs/lstm-without-native.log"; fail "the load error without libhybridseq.so does not name the runtime package"; }
rm -rf "$work/lstm-without-native"
log "LstmTraining without libhybridseq.so: the load error names the missing HybridSeq.Runtime.linux-x64 package"

mamba=$root/samples/MambaGeneration/bin/Release/net10.0/MambaGeneration.dll
stage mamba-train dotnet "$mamba" --out "$work/mamba"
[ -f "$work/mamba/model.ckpt" ] && [ -f "$work/mamba/example.json" ] || fail "MambaGeneration wrote no checkpoint or example"
# And the loading path on its own: the checkpoint just written, given with --checkpoint.
stage mamba-load dotnet "$mamba" --checkpoint "$work/mamba/model.ckpt" --out "$work/mamba-reload"
grep -q '^OK: generated step by step' "$work/logs/mamba-load.log" || fail "MambaGeneration printed no OK line"
cmp -s "$work/mamba/example.json" "$work/mamba-reload/example.json" || fail "the reloaded checkpoint predicted differently"
log "MambaGeneration: $(grep 'expected answers' "$work/logs/mamba-load.log")"
# A damaged checkpoint is refused by name (exit 1), never a crash.
head -c 200 "$work/mamba/model.ckpt" > "$work/truncated.ckpt"
set +e
dotnet "$mamba" --checkpoint "$work/truncated.ckpt" --out "$work/mamba-bad" >"$work/logs/mamba-bad.log" 2>&1
code=$?
set -e
[ "$code" = 1 ] && grep -q 'truncated.ckpt' "$work/logs/mamba-bad.log" || { cat "$work/logs/mamba-bad.log"; fail "a truncated checkpoint gave exit code $code, expected 1 naming the file"; }

stage api bash "$root/samples/test-api.sh" "$root/samples/PredictionApi/bin/Release/net10.0/PredictionApi.dll" \
    "$work/mamba/model.ckpt" "$work/mamba/example.json"
log "PredictionApi: $(tail -n 1 "$work/logs/api.log")"

# The .NET tool: installed from the feed into its own folder (not the user's tools), then run.
stage tool-install dotnet tool install hybridseq --version "$version" --tool-path "$work/tool" --add-source "$feed"
stage tool-info "$work/tool/hybridseq" info
grep -q "$version" "$work/logs/tool-info.log" || fail "hybridseq info does not report version $version"
stage tool-tasks "$work/tool/hybridseq" tasks
# A short training run: libtorch, libhybridseq.so and the plotting libraries (the curve PNG) all load from the tool.
# Exit code 2 (finished below the accuracy target) is expected after 20 steps.
set +e
"$work/tool/hybridseq" train --steps 20 --eval-every 20 --d-model 16 --out "$work/tool-run" >"$work/logs/tool-train.log" 2>&1
code=$?
set -e
[ "$code" = 0 ] || [ "$code" = 2 ] || { cat "$work/logs/tool-train.log"; fail "hybridseq train exited with $code"; }
[ -f "$work/tool-run/model.ckpt" ] && [ -f "$work/tool-run/training-curve.png" ] ||
    { cat "$work/logs/tool-train.log"; fail "hybridseq train wrote no checkpoint or curve"; }
log "hybridseq tool $version installed from $feed: info, tasks and a 20-step train ran ($(du -sm "$work/tool" | cut -f1) MB installed)"
log "all samples built from the packages and passed"
