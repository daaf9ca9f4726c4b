using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>What the scan guarantees on every device, one fixture instance per device: the CPU one (float64 and
/// float32) and the CUDA one (float32), which is Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA
/// device.</summary>
[TestFixture("cpu")]
[TestFixture("cuda", Category = "Cuda")]
public sealed class SelectiveScanDeviceTests(string deviceName)
{
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

    public static IEnumerable<ScanCase> StepCases()
    {
        yield return new ScanCase(3, 4, 5, 9, HasD: true, HasZ: true, HasDeltaBias: true, Softplus: true, HasH0: true);
        yield return new ScanCase(2, 4, 16, 7, Groups: 2, BVarying: true, CVarying: true);
        yield return new ScanCase(1, 1, 1, 3, CVarying: true, HasH0: true);
        yield return new ScanCase(2, 8, 16, 5, Groups: 2, BVarying: true, HasD: true, HasZ: true, HasH0: true);
    }

    /// <summary>Step called token by token reproduces Forward's output and last state.</summary>
    [TestCaseSource(nameof(StepCases))]
    public void StepLoopEqualsForward(ScanCase scanCase)
    {
        foreach (ScalarType dtype in DTypes)
        {
            using var scope = torch.NewDisposeScope();
            ScanInputs x = scanCase.MakeInputs(dtype, seed: 31, _device);
            (Tensor expected, Tensor expectedState) = x.RunManaged();

            Tensor state = x.H0?.clone() ??
                           torch.zeros([scanCase.Batch, scanCase.Dim, scanCase.State], dtype: dtype, device: _device);
            var outputs = new List<Tensor>();
            for (int t = 0; t < scanCase.Length; t++)
            {
                Tensor b = scanCase.BVarying ? x.B[.., .., .., t] : x.B;
                Tensor c = scanCase.CVarying ? x.C[.., .., .., t] : x.C;
                outputs.Add(HybridSeq.Managed.SelectiveScan.Step(state, x.U[.., .., t], x.Delta[.., .., t], x.A, b, c,
                    x.D, x.Z?[.., .., t], x.DeltaBias, x.Softplus));
            }
            TensorAssert.Close(torch.stack(outputs, dim: 2), expected, $"{dtype} step outputs");
            TensorAssert.Close(state, expectedState, $"{dtype} state after the last step");
        }
    }

    public static IEnumerable<ScanCase> RepeatableCases()
    {
        yield return new ScanCase(3, 4, 5, 300, Groups: 2, BVarying: true, CVarying: true, HasD: true, HasZ: true,
            HasDeltaBias: true, Softplus: true, HasH0: true);
        yield return new ScanCase(4, 64, 16, 513, BVarying: true, CVarying: true, HasD: true, HasDeltaBias: true);
    }

    /// <summary>With deterministic = true the backward gives the same bits on every run (the CPU backward always;
    /// CUDA reduces in a fixed order then).</summary>
    [TestCaseSource(nameof(RepeatableCases))]
    public void DeterministicBackwardIsBitwiseRepeatable(ScanCase scanCase)
    {
        using var scope = torch.NewDisposeScope();
        ScanInputs x = scanCase.MakeInputs(ScalarType.Float32, seed: 51, _device);
        (Tensor outputWeights, Tensor stateWeights) =
            SelectiveScanTests.LossWeights(scanCase, seed: 52, ScalarType.Float32, _device);
        List<Tensor> Gradients()
        {
            ScanInputs leaves = x.RequiringGrad();
            ScanInputs.Loss(leaves.RunManaged(deterministic: true), outputWeights, stateWeights).backward();
            return leaves.FloatInputs().Select(p => p.Tensor.grad!).ToList();
        }
        List<Tensor> first = Gradients(), second = Gradients();
        for (int i = 0; i < first.Count; i++)
            TensorAssert.Identical(second[i], first[i], $"gradient {i} of the second run");
    }
}
