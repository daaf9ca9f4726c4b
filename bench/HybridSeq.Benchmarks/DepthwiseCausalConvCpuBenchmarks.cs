using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// Depthwise causal convolution on CPU, float32, Bt 8, D 1536, L 2048, K 4, with bias (Mamba's short convolution at
/// d_inner 1536): HybridSeq's native op vs TorchSharp's conv1d with groups = D (left padding K-1 and the first L
/// outputs, as Mamba used it before), forward and forward+backward (x, weight and bias), in the same run. The memory
/// bound is measured in the same run too: a plain copy of x (100 MB) into a preallocated tensor moves exactly the
/// bytes the forward must move (read x, write y), so its time is the forward's floor; the forward+backward must move
/// at least 2.5x that (forward 2, backward 3: read x and dy, write dx). Both ops return new tensors, whose fresh pages
/// the kernel faults in on first write, so a clone of x (allocate + copy) is measured as the bound of an op that
/// allocates its output.
/// </summary>
[Config(typeof(Config))]
public class DepthwiseCausalConvCpuBenchmarks
{
    public const int Batch = 8, Channels = 1536, Length = 2048, Width = 4;

    private sealed class Config() : InProcessConfig(warmups: 3, iterations: 10, "GB/s",
        "bytes one forward must move (read x, write y: 2 * Bt*D*L * 4 bytes) divided by the mean time of one call",
        2.0 * Batch * Channels * Length * sizeof(float) / 1e9);

    private Tensor _x = null!, _weight = null!, _bias = null!, _gradY = null!, _copyTarget = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _x = torch.randn(Batch, Channels, Length);
        _weight = torch.randn(Channels, 1, Width) * 0.5;
        _bias = torch.randn(Channels) * 0.1;
        _gradY = torch.randn(Batch, Channels, Length);
        _copyTarget = torch.empty_like(_x);
    }

    private static Tensor TorchConv(Tensor x, Tensor weight, Tensor bias) =>
        nn.functional.conv1d(x, weight, bias, padding: Width - 1, groups: Channels).narrow(2, 0, Length);

    [Benchmark(Description = "memory bound: copy of x (same bytes as fwd)")]
    public void CopyBound() => _copyTarget.copy_(_x);

    [Benchmark(Description = "memory bound with allocation: x.clone()")]
    public void CloneBound()
    {
        using var scope = torch.NewDisposeScope();
        _x.clone();
    }

    [Benchmark(Baseline = true, Description = "TorchSharp conv1d groups=D fwd")]
    public void TorchForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        TorchConv(_x, _weight, _bias);
    }

    [Benchmark(Description = "HybridSeq native fwd")]
    public void NativeForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        DepthwiseCausalConv.Forward(_x, _weight.squeeze(1), _bias);
    }

    [Benchmark(Description = "TorchSharp conv1d groups=D fwd+bwd")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = _x.detach().requires_grad_(true), w = _weight.detach().requires_grad_(true),
            b = _bias.detach().requires_grad_(true);
        TorchConv(x, w, b).backward([_gradY]);
    }

    [Benchmark(Description = "HybridSeq native fwd+bwd")]
    public void NativeForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = _x.detach().requires_grad_(true), w = _weight.detach().squeeze(1).requires_grad_(true),
            b = _bias.detach().requires_grad_(true);
        DepthwiseCausalConv.Forward(x, w, b).Y.backward([_gradY]);
    }
}
