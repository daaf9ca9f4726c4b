#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The one entry point of HybridSeq's build: native library (CMake), .NET solution, tests, the main job, benchmarks,
    bindings and the GPU check.

.DESCRIPTION
    Runs anywhere the .NET SDK is:  dotnet tool restore; dotnet pwsh ./build.ps1 <task> [options]

    Tasks
      native     configure + build the native library with CMake and install it to artifacts/native/lib
      build      native, then the .NET solution
      test       build, then native tests (ctest), the generated-bindings check and the .NET tests (NUnit);
                 ends with the line "N passed, N failed, N skipped"
      run        build, then `hybridseq <args>` (default: `train`, the selective-copying main job)
      bench      build, then the CPU benchmarks (BenchmarkDotNet); results under artifacts/bench
      bindings   regenerate src/Bindings/NativeMethods.g.cs from native/include/hybridseq.h (-Check: only compare)
      pack       native (library only), then every NuGet package into the folder feed artifacts/packages:
                 HybridSeq.Bindings, HybridSeq.Managed, HybridSeq.Models, HybridSeq.Runtime.linux-x64 (libhybridseq.so)
                 and the hybridseq .NET tool; version from build/Version.props
      samples    pack, then build the samples (samples/) from that feed, run them and the HTTP test of the sample
                 API (samples/run-samples.sh)
      gpu-pack   publish what a bare GPU machine needs (the .NET runtime, tests, benchmarks) into artifacts/gpu
      gpu        on a machine with a GPU and nvcc (no .NET SDK needed): tools/gpu/device-check.sh
      clean      remove artifacts/ and the .NET build outputs

.EXAMPLE
    dotnet pwsh ./build.ps1 run
    dotnet pwsh ./build.ps1 test -Cuda OFF
    dotnet pwsh ./build.ps1 pack -Cuda OFF
    dotnet pwsh ./build.ps1 run train --steps 200 --device cuda
#>
[CmdletBinding(PositionalBinding = $false)]
param(
    [Parameter(Position = 0)]
    [ValidateSet('native', 'build', 'test', 'run', 'bench', 'bindings', 'pack', 'samples', 'gpu-pack', 'gpu', 'clean')]
    [string] $Task = 'build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # HYBRIDSEQ_CUDA for CMake: AUTO compiles the CUDA kernels when a CUDA compiler is found; ON requires one.
    # Defaults to the environment variable HYBRIDSEQ_CUDA, else AUTO.
    [ValidateSet('AUTO', 'ON', 'OFF')]
    [string] $Cuda = $(if ($env:HYBRIDSEQ_CUDA) { $env:HYBRIDSEQ_CUDA.ToUpperInvariant() } else { 'AUTO' }),

    # CMAKE_CUDA_ARCHITECTURES, e.g. "90" (default in CMake: "80;90").
    [ValidatePattern('^[0-9;]+$')]
    [string] $CudaArchitectures,

    # Skip the CMake step (use the library already in artifacts/native).
    [switch] $SkipNative,

    # With `test`: also build the library on the emulated CUDA backend (HYBRIDSEQ_CUDA=EMULATED, in
    # artifacts/cmake/emulated; docs/cuda-emulation.md) and run the native CUDA tests and the emulation's own tests
    # there; their counts join the closing line. Defaults to the environment variable HYBRIDSEQ_TEST_EMULATED_CUDA=1,
    # which .ci/run sets.
    [switch] $EmulatedCuda = ($env:HYBRIDSEQ_TEST_EMULATED_CUDA -eq '1'),

    # With `bindings`: compare only, fail on any difference.
    [switch] $Check,

    # Arguments passed on to `hybridseq` (task run) or to the benchmark runner (task bench).
    [Parameter(ValueFromRemainingArguments = $true)]
    [string[]] $Rest
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $true

if ($Cuda -notin 'AUTO', 'ON', 'OFF') { throw "build.ps1: -Cuda (or HYBRIDSEQ_CUDA) must be AUTO, ON or OFF, got '$Cuda'." }

$Root = $PSScriptRoot
$NativeBuildDir = Join-Path $Root "artifacts/cmake/$($Configuration.ToLowerInvariant())"
$NativePrefix = Join-Path $Root 'artifacts/native'
$Solution = Join-Path $Root 'HybridSeq.sln'
$CliProject = Join-Path $Root 'src/Cli/HybridSeq.Cli.csproj'
$TestProject = Join-Path $Root 'tests/HybridSeq.Tests/HybridSeq.Tests.csproj'
$BenchProject = Join-Path $Root 'bench/HybridSeq.Benchmarks/HybridSeq.Benchmarks.csproj'
$BindingsGenProject = Join-Path $Root 'tools/BindingsGen/BindingsGen.csproj'
$PackageFeed = Join-Path $Root 'artifacts/packages'

function Write-Step([string] $message) {
    Write-Host "==> $message" -ForegroundColor Cyan
}

function Assert-Tool([string] $name, [string] $hint) {
    if (-not (Get-Command $name -ErrorAction SilentlyContinue)) {
        throw "build.ps1: '$name' was not found on PATH. $hint"
    }
}

# Configures, builds and installs the native library; -LibraryOnly skips the native tests and benchmarks.
function Invoke-Native([switch] $LibraryOnly) {
    if ($SkipNative) {
        Write-Step 'native: skipped (-SkipNative)'
        return
    }
    Assert-Tool 'cmake' 'Install CMake >= 3.25 (Debian: apt-get install cmake).'
    $configure = @('-S', $Root, '-B', $NativeBuildDir, "-DCMAKE_BUILD_TYPE=$Configuration", "-DHYBRIDSEQ_CUDA=$Cuda")
    if ($CudaArchitectures) { $configure += "-DCMAKE_CUDA_ARCHITECTURES=$CudaArchitectures" }
    if ((Get-Command 'ninja' -ErrorAction SilentlyContinue) -and -not (Test-Path (Join-Path $NativeBuildDir 'CMakeCache.txt'))) {
        $configure += @('-G', 'Ninja')
    }
    Write-Step "native: cmake configure ($NativeBuildDir, CUDA $Cuda)"
    & cmake @configure
    Write-Step 'native: cmake build'
    $targets = if ($LibraryOnly) { @('--target', 'hybridseq') } else { @() }
    & cmake --build $NativeBuildDir --parallel ([Environment]::ProcessorCount) @targets
    & cmake --install $NativeBuildDir --prefix $NativePrefix | Out-Null
    Write-Step "native: installed $(Join-Path $NativePrefix 'lib/libhybridseq.so')"
}

function Invoke-DotnetBuild {
    Write-Step "dotnet build ($Configuration)"
    & dotnet build $Solution -c $Configuration --nologo -v:minimal
}

function Get-CliDll {
    return Join-Path $Root "src/Cli/bin/$Configuration/net10.0/hybridseq.dll"
}

# Runs ctest and returns @{ passed; failed; skipped } read from its JUnit report.
function Invoke-NativeTests {
    $junit = Join-Path $NativeBuildDir 'ctest-junit.xml'
    Remove-Item $junit -ErrorAction SilentlyContinue
    Write-Step 'test: native (ctest)'
    # ctest lists every skipped test (the CUDA ones on a machine without a GPU): count them instead of listing them.
    & ctest --test-dir $NativeBuildDir --output-on-failure --output-junit $junit -j ([Environment]::ProcessorCount) 2>&1 |
        Where-Object { "$_" -notmatch '\(Skipped\)\s*$' } | Out-Host
    $ctestExit = $LASTEXITCODE
    if (-not (Test-Path $junit)) { throw "ctest wrote no report ($junit); exit code $ctestExit" }
    [xml] $report = Get-Content $junit
    $suite = $report.testsuite
    $total = [int] $suite.tests
    $failed = [int] $suite.failures
    $skipped = [int] $suite.skipped
    $skippedNames = @($suite.testcase | Where-Object { $_.GetAttribute('status') -eq 'notrun' -or $_.SelectSingleNode('skipped') } |
        ForEach-Object { $_.GetAttribute('name') })
    return @{ passed = $total - $failed - $skipped; failed = $failed; skipped = $skipped; skippedNames = $skippedNames }
}

# Builds the library and native tests on the emulated CUDA backend and runs every test whose name has "Cuda" (the
# native CUDA suites and the emulation's own tests); returns @{ passed; failed; skipped; ranNames }. A build failure
# counts as one failed test.
function Invoke-EmulatedCudaTests {
    $dir = Join-Path $Root 'artifacts/cmake/emulated'
    $junit = Join-Path $dir 'ctest-junit.xml'
    Remove-Item $junit -ErrorAction SilentlyContinue
    $configure = @('-S', $Root, '-B', $dir, '-DCMAKE_BUILD_TYPE=Release', '-DHYBRIDSEQ_CUDA=EMULATED',
                   '-DHYBRIDSEQ_BUILD_BENCH=OFF')
    if ((Get-Command 'ninja' -ErrorAction SilentlyContinue) -and -not (Test-Path (Join-Path $dir 'CMakeCache.txt'))) {
        $configure += @('-G', 'Ninja')
    }
    Write-Step "test: native CUDA tests on the emulated CUDA backend ($dir)"
    $start = Get-Date
    & cmake @configure | Out-Null
    if ($LASTEXITCODE -eq 0) { & cmake --build $dir --parallel ([Environment]::ProcessorCount) | Out-Host }
    if ($LASTEXITCODE -ne 0) {
        Write-Host 'FAILED: the emulated CUDA build (output above)'
        return @{ passed = 0; failed = 1; skipped = 0; ranNames = @(); skippedNames = @() }
    }
    & ctest --test-dir $dir -R Cuda --output-on-failure --output-junit $junit -j ([Environment]::ProcessorCount) 2>&1 |
        Where-Object { "$_" -notmatch '^\s*\d+/\d+ Test\s+#\d+: .* Passed ' } | Out-Host
    if (-not (Test-Path $junit)) { throw "ctest wrote no report ($junit); exit code $LASTEXITCODE" }
    [xml] $report = Get-Content $junit
    $suite = $report.testsuite
    $total = [int] $suite.tests
    $failed = [int] $suite.failures
    $skipped = [int] $suite.skipped
    $isSkipped = { param($case) $case.GetAttribute('status') -eq 'notrun' -or $case.SelectSingleNode('skipped') }
    $ranNames = @($suite.testcase | Where-Object { -not (& $isSkipped $_) } | ForEach-Object { $_.GetAttribute('name') })
    $skippedNames = @($suite.testcase | Where-Object { & $isSkipped $_ } | ForEach-Object { $_.GetAttribute('name') })
    Write-Host "emulated CUDA: $($total - $failed - $skipped) passed, $failed failed, $skipped skipped ($([int]((Get-Date) - $start).TotalSeconds) s with the build)"
    return @{ passed = $total - $failed - $skipped; failed = $failed; skipped = $skipped; ranNames = $ranNames
              skippedNames = $skippedNames }
}

# Runs the .NET tests (Microsoft.Testing.Platform through `dotnet test`) and reads the summary it prints.
# The platform prints six lines for every skipped test (reason, assembly, the reason again as standard output, ...):
# like the ctest step, this counts them instead, one line per distinct reason at the end ("41 skipped: No CUDA
# device ..."). Everything else, failures with their messages and stack traces included, passes through as it comes.
function Invoke-DotnetTests {
    Write-Step 'test: .NET (NUnit)'
    $lines = [System.Collections.Generic.List[string]]::new()
    $skipReasons = [ordered]@{}
    $state = @{ inSkipped = $false; reasonSeen = $false }
    & dotnet test --project $TestProject -c $Configuration --no-build 2>&1 | ForEach-Object {
        $line = "$_"
        $lines.Add($line)
        $plain = $line -replace "`e\[[0-9;]*[A-Za-z]", ''
        if ($plain -match '^skipped (.+)$') {
            $state.inSkipped = $true
            $state.reasonSeen = $false
            return
        }
        if ($state.inSkipped -and $plain -match '^\s') {
            # The first indented line of a skipped test's block is its reason; the rest repeats it.
            if (-not $state.reasonSeen) {
                $reason = $plain.Trim()
                $skipReasons[$reason] = 1 + [int] $skipReasons[$reason]
                $state.reasonSeen = $true
            }
            return
        }
        $state.inSkipped = $false
        Write-Host $line
    }
    foreach ($reason in $skipReasons.Keys) { Write-Host "  $($skipReasons[$reason]) skipped: $reason" }
    $text = $lines -join "`n"
    $total = [regex]::Match($text, 'total:\s*(\d+)')
    if (-not $total.Success) { throw 'dotnet test printed no summary; see its output above.' }
    $failed = [int] [regex]::Match($text, 'failed:\s*(\d+)').Groups[1].Value
    $passed = [int] [regex]::Match($text, 'succeeded:\s*(\d+)').Groups[1].Value
    $skipped = [int] [regex]::Match($text, 'skipped:\s*(\d+)').Groups[1].Value
    return @{ passed = $passed; failed = $failed; skipped = $skipped }
}

# Packs every packable project of the solution (IsPackable: the four library packages and the tool) into the folder
# feed, emptied first so that it holds exactly this build's packages.
function Invoke-Pack {
    Invoke-Native -LibraryOnly
    if (Test-Path $PackageFeed) { Get-ChildItem $PackageFeed -Filter '*.nupkg' | Remove-Item }
    Write-Step "dotnet pack ($Configuration) -> $PackageFeed"
    & dotnet pack $Solution -c $Configuration --nologo -v:minimal -o $PackageFeed
    Get-ChildItem $PackageFeed -Filter '*.nupkg' | Sort-Object Name | ForEach-Object {
        Write-Host ("  {0,-48} {1,10:N0} KB" -f $_.Name, ($_.Length / 1KB))
    }
}

function Invoke-Bindings([bool] $checkOnly) {
    $mode = if ($checkOnly) { '--check' } else { '--write' }
    Write-Step "bindings: $mode"
    & dotnet run --project $BindingsGenProject -c Release -- $mode
}

switch ($Task) {
    'native' { Invoke-Native }
    'build' { Invoke-Native; Invoke-DotnetBuild }
    'test' {
        Invoke-Native
        Invoke-DotnetBuild
        $counts = @{ passed = 0; failed = 0; skipped = 0 }
        $add = { param($c) foreach ($k in 'passed', 'failed', 'skipped') { $counts[$k] += $c[$k] } }
        $PSNativeCommandUseErrorActionPreference = $false   # failures are counted, not thrown
        if (-not $SkipNative) {
            $native = Invoke-NativeTests
            if ($EmulatedCuda) {
                # A CUDA test skipped here for want of a device ran on the emulated one: count it there, not twice.
                $emulated = Invoke-EmulatedCudaTests
                $ran = @{}
                foreach ($name in $emulated.ranNames) { $ran[$name] = $true }
                $replaced = @($native.skippedNames | Where-Object { $ran.ContainsKey($_) }).Count
                $native.skipped -= $replaced
                if ($replaced -gt 0) { Write-Host "  $replaced native tests skipped without a device ran on the emulated device" }
                # A test that skips in both builds (one for CPU-only builds) is one skipped test.
                $emulated.skipped -= @($emulated.skippedNames | Where-Object { $native.skippedNames -contains $_ }).Count
                & $add $emulated
            }
            & $add $native
        }
        & dotnet run --project $BindingsGenProject -c Release -- --check
        if ($LASTEXITCODE -eq 0) { $counts.passed++ } else { $counts.failed++; Write-Host 'FAILED: generated bindings are out of date (dotnet pwsh ./build.ps1 bindings)' }
        & $add (Invoke-DotnetTests)
        Write-Host ''
        Write-Host "$($counts.passed) passed, $($counts.failed) failed, $($counts.skipped) skipped"
        if ($counts.failed -gt 0) { exit 1 }
    }
    'run' {
        Invoke-Native -LibraryOnly
        Write-Step "dotnet build src/Cli ($Configuration)"
        & dotnet build $CliProject -c $Configuration --nologo -v:quiet
        $cliArgs = @(if ($Rest) { $Rest } else { 'train' })
        Write-Step "hybridseq $($cliArgs -join ' ')"
        & dotnet (Get-CliDll) @cliArgs
    }
    'bench' {
        Invoke-Native -LibraryOnly
        $out = Join-Path $Root 'artifacts/bench'
        Write-Step 'bench: BenchmarkDotNet (CPU)'
        $benchArgs = @(if ($Rest) { $Rest } else { '--filter', 'HybridSeq.Benchmarks.*' })
        & dotnet run --project $BenchProject -c Release -- --artifacts $out @benchArgs
    }
    'bindings' { Invoke-Bindings $Check.IsPresent }
    'pack' { Invoke-Pack }
    'samples' {
        Invoke-Pack
        & bash (Join-Path $Root 'samples/run-samples.sh') $PackageFeed
    }
    'gpu-pack' {
        & bash (Join-Path $Root 'tools/gpu/pack.sh') $Configuration
    }
    'gpu' {
        & bash (Join-Path $Root 'tools/gpu/device-check.sh')
    }
    'clean' {
        $path = Join-Path $Root 'artifacts'
        if (Test-Path $path) { Remove-Item -Recurse -Force $path; Write-Step "removed $path" }
        & dotnet clean $Solution -c $Configuration --nologo -v:quiet
    }
}
