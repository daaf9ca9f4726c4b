using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>What the fused recurrence guarantees on every device, one fixture instance per device: the CPU one
/// (float64 and float32) and the CUDA one (float32), which is Ignored (skipped) wherever HybridSeq or TorchSharp has no
/// CUDA device.</summary>
[TestFixture("cpu")]
[TestFixture("cuda", Category = "Cuda")]
public sealed class FusedRnnDeviceTests(string deviceName)
{
    private static readonly RnnCell[] Cells = [RnnCell.Lstm, RnnCell.Gru, RnnCell.Slstm];
    private Device _device = torch.CPU;

    [SetUp]
    public void SelectDevice()
    {
        if (deviceName == "cuda")
            CudaRequirement.EnsureAvailable();
        _device = torch.device(deviceName);
    }

    // The CUDA kernels are float32 only.
    private ScalarType[] DTypes => deviceName == "cuda"
        ? [ScalarType.Float32]
        : [ScalarType.Float64, ScalarType.Float32];

    /// <summary>Step called step by step reproduces Forward's outputs and final states.</summary>
    [TestCaseSource(nameof(Cells))]
    public void StepLoopEqualsForward(RnnCell cell)
    {
        foreach (ScalarType dtype in DTypes)
        {
            using var scope = torch.NewDisposeScope();
            var rnnCase = new RnnCase(cell, Batch: 3, Steps: 7, Heads: 3, HeadDim: 3, HasS0: true);
            RnnInputs x = rnnCase.MakeInputs(dtype, seed: 41, _device);
            (Tensor expectedY, Tensor expectedSLast) = x.RunManaged();

            Tensor state = x.S0!.clone();
            var ys = new List<Tensor>();
            for (int t = 0; t < rnnCase.Steps; t++)
                ys.Add(FusedRnn.Step(cell, x.Wx[t], x.R, x.B, state));
            // The CPU bound is the one this test has always had; on CUDA the float32 bound grows with T, as in the
            // CUDA-vs-CPU comparison of FusedRnnCudaTests (not yet run on a GPU machine with this fixture).
            double scale = deviceName == "cuda" ? 1 + rnnCase.Steps / 10.0 : 1;
            TensorAssert.Close(torch.stack(ys), expectedY, $"{dtype} step outputs", scale);
            TensorAssert.Close(state, expectedSLast, $"{dtype} state after the last step", scale);
        }
    }
}
