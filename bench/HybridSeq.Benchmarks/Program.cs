// Benchmarks of HybridSeq's native kernels against a baseline measured in the same run (the same computation composed
// from TorchSharp ops, or libtorch's own op). Run: dotnet pwsh ./build.ps1 bench   (results: artifacts/bench/results/*.md)
// Classes marked [RequiresCuda] run only where libtorch and the native library both see a device.
using BenchmarkDotNet.Running;
using HybridSeq.Benchmarks;

Type[] types = typeof(SelectiveScanCpuBenchmarks).Assembly.GetTypes()
    .Where(t => t.IsClass && !t.IsAbstract && t.IsPublic &&
                t.GetMethods().Any(m => m.IsDefined(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false)))
    .ToArray();
if (!CudaBenchmarks.DeviceAvailable(out string reason))
{
    Console.WriteLine($"CUDA benchmarks left out: {reason}.");
    types = types.Where(t => !t.IsDefined(typeof(RequiresCudaAttribute), inherit: false)).ToArray();
}
BenchmarkSwitcher.FromTypes(types).Run(args);
