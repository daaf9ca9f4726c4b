using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The dense dilated causal convolution on CUDA, float32, Bt 32, C 256 -> 256, L 4096, K 3, dilation 4: HybridSeq's
/// DilatedCausalConv (implicit-GEMM kernels) vs TorchSharp's conv1d on the left-padded input (cuDNN, the baseline)
/// on the same GPU with the same weights, forward and forward+backward, in one process. TF32 is left as libtorch
/// sets it for convolutions (allow_tf32 on by default for cuDNN convolutions), so the baseline may use tensor cores;
/// HybridSeq computes in full fp32. Every call ends with a device synchronisation, so the times are GPU times. Needs
/// a CUDA device and a CUDA libtorch (tools/gpu/device-check.sh); Program.cs leaves [RequiresCuda] classes out where
/// there is none.
/// </summary>
[Config(typeof(Config))]
[RequiresCuda]
public class DilatedCausalConvCudaBenchmarks
{
    public const int Batch = 32, Channels = 256, Length = 4096, Width = 3, Dilation = 4;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 20, "TFLOP/s",
        "2*Bt*L*C_in*K*C_out flops of one convolution divided by the mean time of one call, in 1e12",
        2.0 * Batch * Length * Channels * Width * Channels / 1e12);

    private Tensor _x = null!, _weight = null!, _bias = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        CudaBenchmarks.RequireDevice();
        torch.manual_seed(0);
        _x = torch.randn(Batch, Channels, Length).cuda();
        _weight = (torch.randn(Channels, Channels, Width) * 0.03).cuda().requires_grad_(true);
        _bias = torch.zeros(Channels).cuda().requires_grad_(true);
        _gradOutput = torch.randn(Batch, Channels, Length).cuda();
    }

    private Tensor TorchCausal(Tensor x) =>
        nn.functional.conv1d(nn.functional.pad(x, [(Width - 1) * Dilation, 0]), _weight, _bias, dilation: Dilation);

    [Benchmark(Baseline = true, Description = "cuDNN conv1d fwd")]
    public void TorchForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            TorchCausal(_x);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq DilatedCausalConv fwd")]
    public void HybridSeqForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            DilatedCausalConv.Forward(_x, _weight, _bias, Dilation);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "cuDNN conv1d fwd+bwd")]
    public void TorchForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            _weight.grad?.zero_();
            _bias.grad?.zero_();
            Tensor x = _x.detach().requires_grad_(true);
            TorchCausal(x).backward([_gradOutput]);
        }
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq DilatedCausalConv fwd+bwd")]
    public void HybridSeqForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            _weight.grad?.zero_();
            _bias.grad?.zero_();
            Tensor x = _x.detach().requires_grad_(true);
            DilatedCausalConv.Forward(x, _weight, _bias, Dilation).Y.backward([_gradOutput]);
        }
        Native.Synchronize(0);
    }
}
