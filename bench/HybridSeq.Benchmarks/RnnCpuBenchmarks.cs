using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// LSTM and GRU on CPU, float32, B16 T1024 I256 H256, one layer, time-major (the default layout of both): HybridSeq's
/// FusedLSTM / FusedGRU (one FusedRnnLayer: the native input projection + the native fused recurrence) vs TorchSharp's
/// nn.LSTM / nn.GRU (libtorch's CPU implementation; its LSTM runs through oneDNN) with the same weights, forward and
/// forward+backward. In-process, so the native library and the TorchSharp load fix of the build output are used as
/// is. Five warm-up calls: nn.LSTM's first calls in a process (oneDNN primitive creation) take several times longer.
/// </summary>
[Config(typeof(Config))]
public class RnnCpuBenchmarks
{
    public const int Batch = 16, Steps = 1024, InputSize = 256, Hidden = 256;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 10, "Cell steps/s",
        "B*T cell updates (H = 256 wide) divided by the mean time of one call", (double)Batch * Steps);

    [Params(RnnCell.Lstm, RnnCell.Gru)]
    public RnnCell Cell { get; set; }

    // The output of each module's forward (their state types differ).
    private Func<Tensor, Tensor> _torchForward = null!, _fusedForward = null!;
    private nn.Module _torchModule = null!, _fusedModule = null!;
    private Tensor _input = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        torch.set_num_threads(Environment.ProcessorCount);
        torch.manual_seed(0);
        if (Cell == RnnCell.Lstm)
        {
            var torchLstm = nn.LSTM(InputSize, Hidden);
            var fusedLstm = new FusedLSTM(InputSize, Hidden);
            fusedLstm.LoadFromTorch(torchLstm);
            (_torchModule, _fusedModule) = (torchLstm, fusedLstm);
            _torchForward = x => torchLstm.forward(x).Item1;
            _fusedForward = x => fusedLstm.forward(x).Output;
        }
        else
        {
            var torchGru = nn.GRU(InputSize, Hidden);
            var fusedGru = new FusedGRU(InputSize, Hidden);
            fusedGru.LoadFromTorch(torchGru);
            (_torchModule, _fusedModule) = (torchGru, fusedGru);
            _torchForward = x => torchGru.forward(x).Item1;
            _fusedForward = x => fusedGru.forward(x).Output;
        }
        _input = torch.randn(Steps, Batch, InputSize);
        _gradOutput = torch.randn(Steps, Batch, Hidden);
    }

    [Benchmark(Baseline = true, Description = "TorchSharp nn fwd")]
    public void TorchForward() => Forward(_torchForward);

    [Benchmark(Description = "HybridSeq fused fwd")]
    public void FusedForward() => Forward(_fusedForward);

    [Benchmark(Description = "TorchSharp nn fwd+bwd")]
    public void TorchForwardBackward() => ForwardBackward(_torchModule, _torchForward);

    [Benchmark(Description = "HybridSeq fused fwd+bwd")]
    public void FusedForwardBackward() => ForwardBackward(_fusedModule, _fusedForward);

    private void Forward(Func<Tensor, Tensor> forward)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        forward(_input);
    }

    private void ForwardBackward(nn.Module module, Func<Tensor, Tensor> forward)
    {
        using var scope = torch.NewDisposeScope();
        module.zero_grad();
        Tensor input = _input.detach().requires_grad_(true);
        forward(input).backward([_gradOutput]);
    }
}
