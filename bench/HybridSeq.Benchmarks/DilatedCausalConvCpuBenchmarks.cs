using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The dense dilated causal convolution on CPU, float32, C 256 -> 256, K 3, dilation 4 (a TCN level): HybridSeq's
/// DilatedCausalConv (hs_dilated_conv_*, on the project's GEMM micro-kernel) vs TorchSharp's conv1d (libtorch,
/// oneDNN) on the input padded with (K-1)*dilation zeros in front, forward and forward+backward (gradients of x,
/// weight and bias), in the same run. The rate column counts one convolution (2*Bt*L*C_in*K*C_out flops) per call,
/// also for forward+backward (which does three), so it compares with the GEMM rate of LinearCpuBenchmarks.
/// Two shapes: the Bt 32 x L 4096 (51.5 GFLOP per convolution) and Bt 8 x L 2048 (6.4 GFLOP), which a
/// shared 2-core machine gets through in a reasonable time.
/// </summary>
public abstract class DilatedCausalConvCpuBenchmarksBase
{
    public const int Channels = 256, Width = 3, Dilation = 4;

    public static double Flops(int batch, int length) => 2.0 * batch * length * Channels * Width * Channels;

    protected abstract int Batch { get; }
    protected abstract int Length { get; }

    private Tensor _x = null!, _weight = null!, _bias = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _x = torch.randn(Batch, Channels, Length);
        _weight = (torch.randn(Channels, Channels, Width) * 0.03).requires_grad_(true);
        _bias = torch.zeros(Channels).requires_grad_(true);
        _gradOutput = torch.randn(Batch, Channels, Length);
    }

    // What a causal conv1d costs a TorchSharp user: the left padding, then the unpadded convolution.
    private Tensor TorchCausal(Tensor x) =>
        nn.functional.conv1d(nn.functional.pad(x, [(Width - 1) * Dilation, 0]), _weight, _bias, dilation: Dilation);

    [Benchmark(Baseline = true, Description = "TorchSharp conv1d fwd")]
    public void TorchForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        TorchCausal(_x);
    }

    [Benchmark(Description = "HybridSeq DilatedCausalConv fwd")]
    public void HybridSeqForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        DilatedCausalConv.Forward(_x, _weight, _bias, Dilation);
    }

    [Benchmark(Description = "TorchSharp conv1d fwd+bwd")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _weight.grad?.zero_();
        _bias.grad?.zero_();
        Tensor x = _x.detach().requires_grad_(true);
        TorchCausal(x).backward([_gradOutput]);
    }

    [Benchmark(Description = "HybridSeq DilatedCausalConv fwd+bwd")]
    public void HybridSeqForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _weight.grad?.zero_();
        _bias.grad?.zero_();
        Tensor x = _x.detach().requires_grad_(true);
        DilatedCausalConv.Forward(x, _weight, _bias, Dilation).Y.backward([_gradOutput]);
    }
}

/// <summary>The shape: Bt 32, C 256 -> 256, L 4096, K 3, dilation 4.</summary>
[Config(typeof(Config))]
public class DilatedCausalConvCpuBenchmarks : DilatedCausalConvCpuBenchmarksBase
{
    private sealed class Config() : InProcessConfig(warmups: 1, iterations: 5, "GFLOP/s",
        "2*Bt*L*C_in*K*C_out flops of one convolution divided by the mean time of one call, in 1e9",
        Flops(32, 4096) / 1e9);

    protected override int Batch => 32;
    protected override int Length => 4096;
}

/// <summary>A smaller shape for a shared machine: Bt 8, C 256 -> 256, L 2048, K 3, dilation 4.</summary>
[Config(typeof(Config))]
public class DilatedCausalConvSmallCpuBenchmarks : DilatedCausalConvCpuBenchmarksBase
{
    private sealed class Config() : InProcessConfig(warmups: 2, iterations: 8, "GFLOP/s",
        "2*Bt*L*C_in*K*C_out flops of one convolution divided by the mean time of one call, in 1e9",
        Flops(8, 2048) / 1e9);

    protected override int Batch => 8;
    protected override int Length => 2048;
}
