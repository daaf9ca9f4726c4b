using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// The dense projection on CPU, float32, x (16384, 256) by W (1024, 256) plus bias: the input projection of an LSTM
/// with B16 T1024 I256 H256. HybridSeq's Linear (hs_linear_*) vs TorchSharp's nn.functional.linear (libtorch,
/// oneMKL), forward and forward+backward (gradients of x, W and b). Each call allocates its outputs as a user's
/// would, so both sides pay the same first-touch cost for fresh 64 MB tensors.
/// </summary>
[Config(typeof(Config))]
public class LinearCpuBenchmarks
{
    public const int Rows = 16384, InFeatures = 256, OutFeatures = 1024;

    private sealed class Config() : InProcessConfig(warmups: 3, iterations: 10, "GFLOP/s",
        "2*M*K*N floating-point operations of one product divided by the mean time of one call, in 1e9",
        2.0 * Rows * InFeatures * OutFeatures / 1e9);

    private Tensor _x = null!, _weight = null!, _bias = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _x = torch.randn(Rows, InFeatures);
        _weight = (torch.randn(OutFeatures, InFeatures) * 0.05).requires_grad_(true);
        _bias = torch.zeros(OutFeatures).requires_grad_(true);
        _gradOutput = torch.randn(Rows, OutFeatures);
    }

    [Benchmark(Baseline = true, Description = "TorchSharp linear fwd")]
    public void TorchForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        nn.functional.linear(_x, _weight, _bias);
    }

    [Benchmark(Description = "HybridSeq Linear fwd")]
    public void HybridSeqForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Linear.Forward(_x, _weight, _bias);
    }

    [Benchmark(Description = "TorchSharp linear fwd+bwd")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _weight.grad?.zero_();
        _bias.grad?.zero_();
        Tensor x = _x.detach().requires_grad_(true);
        nn.functional.linear(x, _weight, _bias).backward([_gradOutput]);
    }

    [Benchmark(Description = "HybridSeq Linear fwd+bwd")]
    public void HybridSeqForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _weight.grad?.zero_();
        _bias.grad?.zero_();
        Tensor x = _x.detach().requires_grad_(true);
        Linear.Forward(x, _weight, _bias).backward([_gradOutput]);
    }
}
