using BenchmarkDotNet.Attributes;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// GRU on CPU, float32, B16 T1024 I256 H256, one layer, time-major: HybridSeq's FusedGRU vs TorchSharp's nn.GRU (the
/// baseline) with the same weights, forward and forward+backward, as <see cref="RnnCpuBenchmarks"/> does for the LSTM.
/// </summary>
[Config(typeof(Config))]
public class GruCpuBenchmarks
{
    public const int Batch = 16, Steps = 1024, InputSize = 256, Hidden = 256;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 10, "Cell steps/s",
        "B*T cell updates (H = 256 wide) divided by the mean time of one call", (double)Batch * Steps);

    private GRU _torchGru = null!;
    private FusedGRU _fusedGru = null!;
    private Tensor _input = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _torchGru = nn.GRU(InputSize, Hidden);
        _fusedGru = new FusedGRU(InputSize, Hidden);
        _fusedGru.LoadFromTorch(_torchGru);
        _input = torch.randn(Steps, Batch, InputSize);
        _gradOutput = torch.randn(Steps, Batch, Hidden);
    }

    [Benchmark(Baseline = true, Description = "TorchSharp nn.GRU fwd")]
    public void TorchForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _torchGru.forward(_input);
    }

    [Benchmark(Description = "HybridSeq FusedGRU fwd")]
    public void FusedForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _fusedGru.forward(_input);
    }

    [Benchmark(Description = "TorchSharp nn.GRU fwd+bwd")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _torchGru.zero_grad();
        Tensor input = _input.detach().requires_grad_(true);
        (Tensor output, _) = _torchGru.forward(input);
        output.backward([_gradOutput]);
    }

    [Benchmark(Description = "HybridSeq FusedGRU fwd+bwd")]
    public void FusedForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _fusedGru.zero_grad();
        Tensor input = _input.detach().requires_grad_(true);
        (Tensor output, _) = _fusedGru.forward(input);
        output.backward([_gradOutput]);
    }
}
