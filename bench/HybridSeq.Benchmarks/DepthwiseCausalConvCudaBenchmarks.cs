using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// Depthwise causal convolution on CUDA, float32, Bt 8, D 1536, L 2048, K 4, with bias: HybridSeq's kernels vs
/// TorchSharp's conv1d with groups = D (cuDNN) on the same GPU, forward and forward+backward, with a device copy of x
/// as the memory bound (the same bytes as the forward), in one process. Every call ends with a device
/// synchronisation, so the times are GPU times. Goal (issue 9): the forward at >= 85% of the copy's bandwidth. Needs a
/// CUDA device and a CUDA libtorch (tools/gpu/device-check.sh); Program.cs leaves it out where there is none.
/// </summary>
[Config(typeof(Config))]
[RequiresCuda]
public class DepthwiseCausalConvCudaBenchmarks
{
    public const int Batch = 8, Channels = 1536, Length = 2048, Width = 4;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 20, "GB/s",
        "bytes one forward must move (read x, write y: 2 * Bt*D*L * 4 bytes) divided by the mean time of one call",
        2.0 * Batch * Channels * Length * sizeof(float) / 1e9);

    private Tensor _x = null!, _weight = null!, _bias = null!, _gradY = null!, _copyTarget = null!;

    [GlobalSetup]
    public void Setup()
    {
        CudaBenchmarks.RequireDevice();
        torch.manual_seed(0);
        _x = torch.randn(Batch, Channels, Length).cuda();
        _weight = (torch.randn(Channels, 1, Width) * 0.5).cuda();
        _bias = (torch.randn(Channels) * 0.1).cuda();
        _gradY = torch.randn(Batch, Channels, Length).cuda();
        _copyTarget = torch.empty_like(_x);
    }

    private static Tensor TorchConv(Tensor x, Tensor weight, Tensor bias) =>
        nn.functional.conv1d(x, weight, bias, padding: Width - 1, groups: Channels).narrow(2, 0, Length);

    [Benchmark(Description = "memory bound: device copy of x")]
    public void CopyBound()
    {
        _copyTarget.copy_(_x);
        Native.Synchronize(0);
    }

    [Benchmark(Baseline = true, Description = "cuDNN conv1d groups=D fwd")]
    public void TorchForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            TorchConv(_x, _weight, _bias);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq CUDA fwd")]
    public void NativeForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            DepthwiseCausalConv.Forward(_x, _weight.squeeze(1), _bias);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "cuDNN conv1d groups=D fwd+bwd")]
    public void TorchForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            Tensor x = _x.detach().requires_grad_(true), w = _weight.detach().requires_grad_(true),
                b = _bias.detach().requires_grad_(true);
            TorchConv(x, w, b).backward([_gradY]);
        }
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq CUDA fwd+bwd")]
    public void NativeForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            Tensor x = _x.detach().requires_grad_(true), w = _weight.detach().squeeze(1).requires_grad_(true),
                b = _bias.detach().requires_grad_(true);
            DepthwiseCausalConv.Forward(x, w, b).Y.backward([_gradY]);
        }
        Native.Synchronize(0);
    }
}
