using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// Selective scan on CPU, float32, B1 D256 L512 N16 with time-varying B/C, D, z and softplus(delta + bias):
/// HybridSeq's native kernel vs the sequential scan composed from TorchSharp ops (the baseline), forward and
/// forward+backward. In-process, so the native library and the TorchSharp load fix of the build output are used as is.
/// </summary>
[Config(typeof(Config))]
public class SelectiveScanCpuBenchmarks
{
    public const int Batch = 1, Dim = 256, SeqLen = 512, DState = 16;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 15, "State updates/s",
        "B*D*L*N state updates divided by the mean time of one call", (double)Batch * Dim * SeqLen * DState);

    private Tensor _u = null!, _delta = null!, _a = null!, _b = null!, _c = null!, _d = null!, _z = null!, _bias = null!;
    private Tensor _gradOut = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _u = torch.randn(Batch, Dim, SeqLen);
        _delta = torch.randn(Batch, Dim, SeqLen) * 0.5;
        _a = -torch.rand(Dim, DState) - 0.5;
        _b = torch.randn(Batch, 1, DState, SeqLen);
        _c = torch.randn(Batch, 1, DState, SeqLen);
        _d = torch.randn(Dim);
        _z = torch.randn(Batch, Dim, SeqLen);
        _bias = torch.randn(Dim) * 0.1;
        _gradOut = torch.randn(Batch, Dim, SeqLen);
    }

    private Tensor[] Leaves() => new[] { _u, _delta, _a, _b, _c, _d, _z, _bias }
        .Select(t => t.detach().requires_grad_(true)).ToArray();

    [Benchmark(Baseline = true, Description = "composed TorchSharp fwd")]
    public void ComposedForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        SelectiveScanReference.Forward(_u, _delta, _a, _b, _c, _d, _z, _bias, deltaSoftplus: true);
    }

    [Benchmark(Description = "HybridSeq native fwd")]
    public void NativeForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        SelectiveScan.Forward(_u, _delta, _a, _b, _c, _d, _z, _bias, deltaSoftplus: true);
    }

    [Benchmark(Description = "composed TorchSharp fwd+bwd")]
    public void ComposedForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        var x = Leaves();
        var (y, _) = SelectiveScanReference.Forward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], deltaSoftplus: true);
        y.backward(new[] { _gradOut });
    }

    [Benchmark(Description = "HybridSeq native fwd+bwd")]
    public void NativeForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        var x = Leaves();
        var (y, _) = SelectiveScan.Forward(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], deltaSoftplus: true);
        y.backward(new[] { _gradOut });
    }
}
