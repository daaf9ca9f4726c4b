using BenchmarkDotNet.Attributes;
using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HybridSeq.Benchmarks;

/// <summary>
/// Dense LSTM on CUDA, float32, B16 T1024 I256 H256, one layer, time-major: HybridSeq's FusedLSTM vs TorchSharp's
/// nn.LSTM on the same GPU (cuDNN, the baseline) with the same weights, forward and forward+backward, in one process.
/// Every call ends with a device synchronisation, so the times are GPU times. Needs a CUDA device and a CUDA libtorch
/// (the GPU machine: tools/gpu/device-check.sh); Program.cs leaves [RequiresCuda] classes out where there is none.
/// </summary>
[Config(typeof(Config))]
[RequiresCuda]
public class RnnCudaBenchmarks
{
    public const int Batch = 16, Steps = 1024, InputSize = 256, Hidden = 256;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 20, "µs per step",
        "mean time of one call divided by T = 1024 steps, in microseconds", Steps, perUnitTime: true);

    private LSTM _torchLstm = null!;
    private FusedLSTM _fusedLstm = null!;
    private Tensor _input = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        CudaBenchmarks.RequireDevice();
        torch.manual_seed(0);
        _torchLstm = nn.LSTM(InputSize, Hidden);
        _fusedLstm = new FusedLSTM(InputSize, Hidden);
        _fusedLstm.LoadFromTorch(_torchLstm);
        _torchLstm.to(DeviceType.CUDA);
        _fusedLstm.to(DeviceType.CUDA);
        _input = torch.randn(Steps, Batch, InputSize).cuda();
        _gradOutput = torch.randn(Steps, Batch, Hidden).cuda();
    }

    [Benchmark(Baseline = true, Description = "cuDNN nn.LSTM fwd")]
    public void TorchForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            _torchLstm.forward(_input);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq FusedLSTM fwd")]
    public void FusedForward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            _fusedLstm.forward(_input);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "cuDNN nn.LSTM fwd+bwd")]
    public void TorchForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            _torchLstm.zero_grad();
            Tensor input = _input.detach().requires_grad_(true);
            (Tensor output, _, _) = _torchLstm.forward(input);
            output.backward([_gradOutput]);
        }
        Native.Synchronize(0);
    }

    [Benchmark(Description = "HybridSeq FusedLSTM fwd+bwd")]
    public void FusedForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            _fusedLstm.zero_grad();
            Tensor input = _input.detach().requires_grad_(true);
            (Tensor output, _) = _fusedLstm.forward(input);
            output.backward([_gradOutput]);
        }
        Native.Synchronize(0);
    }
}

/// <summary>
/// The fused recurrence alone (FusedRnn: wx given, so the input projection is excluded) on CUDA, float32, B16 T1024,
/// for the head-wise shapes of the issue and FlashRNN: H256 as NH4 x DH64 and H768 as NH12 x DH64, for LSTM, GRU and
/// sLSTM, forward and forward+backward (gradients of wx, R and b). No baseline in .NET (cuDNN has no head-wise
/// cells); the reference figures are FlashRNN's, in shared/research/perf-anchors.md.
/// </summary>
[Config(typeof(Config))]
[RequiresCuda]
public class RnnCudaHeadwiseBenchmarks
{
    private const int Batch = 16, Steps = 1024;

    private sealed class Config() : InProcessConfig(warmups: 5, iterations: 20, "µs per step",
        "mean time of one call divided by T = 1024 steps, in microseconds", Steps, perUnitTime: true);

    [Params(RnnCell.Lstm, RnnCell.Gru, RnnCell.Slstm)]
    public RnnCell Cell { get; set; }

    [Params(4, 12)]
    public int Heads { get; set; }

    private const int HeadDim = 64;
    private Tensor _wx = null!, _r = null!, _b = null!, _gradOutput = null!;

    [GlobalSetup]
    public void Setup()
    {
        CudaBenchmarks.RequireDevice();
        torch.manual_seed(0);
        long hidden = Heads * HeadDim, gates = Cell.Gates();
        _wx = torch.randn(Steps, Batch, gates * hidden).cuda();
        _r = (torch.randn(Heads, gates * HeadDim, HeadDim) / Math.Sqrt(HeadDim)).cuda().requires_grad_(true);
        _b = torch.zeros(gates * hidden).cuda().requires_grad_(true);
        _gradOutput = torch.randn(Steps, Batch, hidden).cuda();
    }

    [Benchmark(Description = "fwd")]
    public void Forward()
    {
        using (torch.NewDisposeScope())
        using (torch.no_grad())
            FusedRnn.Forward(Cell, _wx, _r, _b);
        Native.Synchronize(0);
    }

    [Benchmark(Description = "fwd+bwd")]
    public void ForwardBackward()
    {
        using (torch.NewDisposeScope())
        {
            Tensor wx = _wx.detach().requires_grad_(true);
            (Tensor y, _) = FusedRnn.Forward(Cell, wx, _r, _b);
            y.backward([_gradOutput]);
        }
        Native.Synchronize(0);
    }
}

/// <summary>Marks a benchmark class that needs a CUDA device: Program.cs leaves it out where there is none.</summary>
[AttributeUsage(AttributeTargets.Class)]
internal sealed class RequiresCudaAttribute : Attribute;

/// <summary>What the CUDA benchmark classes share.</summary>
internal static class CudaBenchmarks
{
    /// <summary>Both libtorch and the native library must see a device.</summary>
    public static bool DeviceAvailable(out string reason)
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            if (!torch.cuda.is_available())
            {
                reason = "libtorch sees no CUDA device";
                return false;
            }
        }
        catch (Exception e)
        {
            // The CPU-only libtorch package throws here.
            reason = "TorchSharp cannot use CUDA: " + e.Message.Split('\n')[0].Trim();
            return false;
        }
        if (Native.CudaDeviceCount == 0)
        {
            reason = "the HybridSeq native library has no CUDA device: " + Native.CudaUnavailableReason;
            return false;
        }
        reason = "";
        return true;
    }

    public static void RequireDevice()
    {
        if (!DeviceAvailable(out string reason))
            throw new InvalidOperationException("CUDA benchmark without a usable device: " + reason);
    }
}
