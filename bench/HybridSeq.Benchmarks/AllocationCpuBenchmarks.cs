using BenchmarkDotNet.Attributes;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// What a fresh large CPU tensor costs before any math: filling a newly allocated 64 MB float32 tensor (the size of
/// an LSTM B16 T1024 H256 input projection, wx) vs filling one that is reused, as the scratch pool
/// (HybridSeq.Managed.NativeScratch) reuses its buffers. The difference is the allocation: glibc maps every block over
/// 32 MB anew and the kernel then faults in each page.
/// </summary>
[Config(typeof(Config))]
public class AllocationCpuBenchmarks
{
    private const long Elements = 16L * 1024 * 1024;

    private sealed class Config() : InProcessConfig(warmups: 3, iterations: 15, "GB/s",
        "bytes filled (64 MiB) divided by the mean time of one call, in 1e9", Elements * sizeof(float) / 1e9);

    private Tensor _reused = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        _reused = torch.empty(Elements);
    }

    [Benchmark(Baseline = true, Description = "fresh 64 MB tensor, fill")]
    public void Fresh()
    {
        using Tensor fresh = torch.empty(Elements);
        fresh.fill_(1);
    }

    [Benchmark(Description = "reused 64 MB tensor, fill")]
    public void Reused() => _reused.fill_(1);
}
