using BenchmarkDotNet.Attributes;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// LSTM on CPU, float32, B16 T1024 I256 H256, one layer, time-major (the default layout of both): HybridSeq's
/// FusedLSTM (one FusedRnnLayer: the native input projection + the native fused recurrence) vs TorchSharp's nn.LSTM
/// (libtorch's CPU LSTM through oneDNN, the baseline) with the same weights, forward and forward+backward.
/// In-process, so the native library and the TorchSharp load fix of the build output are used as is. Five warm-up
/// calls: nn.LSTM's first calls in a process (oneDNN primitive creation) take several times longer.
/// </summary>
[Config(typeof(Config))]
public class RnnCpuBenchmarks
{
    public const int Batch = 16, Steps = 1024, InputSize = 256, Hidden = 256;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 10, "Cell steps/s",
        "B*T cell updates (H = 256 wide) divided by the mean time of one call", (double)Batch * Steps);

    private LSTM _torchLstm = null!;
    private FusedLSTM _fusedLstm = null!;
    private Tensor _input = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        _torchLstm = nn.LSTM(InputSize, Hidden);
        _fusedLstm = new FusedLSTM(InputSize, Hidden);
        _fusedLstm.LoadFromTorch(_torchLstm);
        _input = torch.randn(Steps, Batch, InputSize);
        _gradOutput = torch.randn(Steps, Batch, Hidden);
    }

    [Benchmark(Baseline = true, Description = "TorchSharp nn.LSTM fwd")]
    public void TorchForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _torchLstm.forward(_input);
    }

    [Benchmark(Description = "HybridSeq FusedLSTM fwd")]
    public void FusedForward()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _fusedLstm.forward(_input);
    }

    [Benchmark(Description = "TorchSharp nn.LSTM fwd+bwd")]
    public void TorchForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _torchLstm.zero_grad();
        Tensor input = _input.detach().requires_grad_(true);
        (Tensor output, _, _) = _torchLstm.forward(input);
        output.backward([_gradOutput]);
    }

    [Benchmark(Description = "HybridSeq FusedLSTM fwd+bwd")]
    public void FusedForwardBackward()
    {
        using var scope = torch.NewDisposeScope();
        _fusedLstm.zero_grad();
        Tensor input = _input.detach().requires_grad_(true);
        (Tensor output, _) = _fusedLstm.forward(input);
        output.backward([_gradOutput]);
    }
}
