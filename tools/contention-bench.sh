#!/usr/bin/env bash
# CPU speed beside a busy process: the thread policy of HybridSeq (docs/benchmarks.md, "CPU under contention").
#
# Runs, on an idle machine and beside one busy competing process (a bash busy loop, pinned nowhere), each with the
# behaviour before the policy and with today's defaults:
#   (a) hybridseq train --steps 200 (the default Mamba on selective copying, all 200 steps: --early-stop 101), and
#   (b) the GRU forward at B16 T1024 H256 (native/bench cpu_rnn_bench: the fused recurrence through the C API).
# "before" = GOMP_SPINCOUNT=300000 (libgomp's own default when nothing is set) and HYBRIDSEQ_ADAPTIVE_THREADS=0,
# which is exactly what the code did before the policy; "after" = nothing set (the CLI applies
# GOMP_SPINCOUNT=10000; the native bench has no managed loader, so it gets the same value explicitly).
# Every figure is printed with /proc/loadavg taken just before it. Run it on a quiet machine: other load shows
# up as noise (and, for "after", as fewer threads, which is the point of the policy).
#
#   tools/contention-bench.sh [--quick]     --quick: (b) only, 3 repeats per figure
# Prerequisite: dotnet pwsh ./build.ps1 build -Cuda OFF (the CLI and artifacts/cmake/release).
# Environment: RUNS (train runs per cell, default 1), STEPS (default 200), BUILD (native build folder).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/artifacts/cmake/release}
runs=${RUNS:-1}
steps=${STEPS:-200}
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1
cli="$root/src/Cli/bin/Release/net10.0/hybridseq.dll"
rnn_bench=$(find "$build" -name hybridseq_cpu_rnn_bench -type f -perm -u+x 2>/dev/null | head -n 1)
if [[ -z "$rnn_bench" ]]; then echo "no hybridseq_cpu_rnn_bench under $build: build first" >&2; exit 1; fi
if [[ $quick -eq 0 && ! -f "$cli" ]]; then echo "no $cli: build first" >&2; exit 1; fi

competitor=""
stop_competitor() {
    if [[ -n "$competitor" ]]; then
        kill "$competitor" 2>/dev/null
        wait "$competitor" 2>/dev/null
        competitor=""
    fi
}
trap stop_competitor EXIT

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo "machine: $(nproc) CPUs, $cpu_model; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# policy_env before|after native|cli -> the environment assignments of that policy
policy_env() {
    if [[ $1 == before ]]; then echo "GOMP_SPINCOUNT=300000 HYBRIDSEQ_ADAPTIVE_THREADS=0"
    elif [[ $2 == native ]]; then echo "GOMP_SPINCOUNT=10000"
    else echo ""; fi
}

load() { cut -d' ' -f1-4 /proc/loadavg; }

gru_forward() {  # policy -> prints the median inference-forward milliseconds
    local repeats=$(( quick ? 3 : 5 ))
    env $(policy_env "$1" native) "$rnn_bench" gru 16 1024 256 1 "$repeats" |
        awk '/forward \(inference\)/ { print $3 }'
}

train_seconds() {  # policy -> prints the wall seconds of one train run
    local out start end
    out=$(mktemp -d)
    start=$(date +%s.%N)
    # Exit code 2 means "finished below the accuracy target", which 200 steps always are: only 1 is a failure.
    local code=0
    env $(policy_env "$1" cli) dotnet "$cli" train --steps "$steps" --early-stop 101 --out "$out/run" \
        >"$out/train.log" 2>&1 || code=$?
    if [[ $code -ne 0 && $code -ne 2 ]]; then echo "FAILED with exit code $code (see $out/train.log)"; return; fi
    end=$(date +%s.%N)
    rm -rf "$out"
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f\n", e - s }'
}

for scenario in idle busy; do
    stop_competitor
    if [[ $scenario == busy ]]; then
        bash -c 'while :; do :; done' &
        competitor=$!
        sleep 1
    fi
    for policy in before after; do
        label="[$scenario, $policy]"
        echo "$label load $(load): GRU forward B16 T1024 H256 $(gru_forward $policy) ms"
        if [[ $quick -eq 0 ]]; then
            for ((r = 1; r <= runs; ++r)); do
                echo "$label load $(load): train --steps $steps $(train_seconds $policy) s"
            done
        fi
    done
done
