// CPU benchmarks of HybridSeq's native kernels against the same computation composed from TorchSharp ops,
// measured in the same run. Run: dotnet pwsh ./build.ps1 bench   (results: artifacts/bench/results/*.md)
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(HybridSeq.Benchmarks.SelectiveScanCpuBenchmarks).Assembly).Run(args);
