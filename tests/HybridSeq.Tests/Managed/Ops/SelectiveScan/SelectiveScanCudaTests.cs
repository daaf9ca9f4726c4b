using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The CUDA kernels against the CPU twin (float32) through the managed op, end to end with TorchSharp CUDA
/// tensors. Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA device. The properties that hold on every
/// device (step equals forward, repeatable backward) are in <see cref="SelectiveScanDeviceTests"/>.</summary>
[TestFixture]
[Category("Cuda")]
public sealed class SelectiveScanCudaTests
{
    [SetUp]
    public void RequireCuda() => CudaRequirement.EnsureAvailable();

    public static IEnumerable<ScanCase> Cases()
    {
        yield return new ScanCase(2, 4, 16, 300, Groups: 2, BVarying: true, CVarying: true, HasD: true, HasZ: true,
            HasDeltaBias: true, Softplus: true, HasH0: true, HasLengths: true);
        yield return new ScanCase(3, 5, 5, 7, HasD: true);
        yield return new ScanCase(1, 3, 1, 1, CVarying: true, HasH0: true);
        yield return new ScanCase(2, 64, 16, 1029, BVarying: true, CVarying: true, HasD: true, HasZ: true,
            Softplus: true, HasLengths: true);
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardAndBackwardMatchTheCpu(ScanCase scanCase)
    {
        foreach (bool deterministic in new[] { false, true })
        {
            using var scope = torch.NewDisposeScope();
            ScanInputs cpu = scanCase.MakeInputs(ScalarType.Float32, seed: 61).RequiringGrad();
            ScanInputs gpu = scanCase.MakeInputs(ScalarType.Float32, seed: 61, torch.CUDA).RequiringGrad();
            (Tensor outputWeights, Tensor stateWeights) =
                SelectiveScanTests.LossWeights(scanCase, seed: 62, ScalarType.Float32);

            var cpuResult = cpu.RunManaged();
            var gpuResult = gpu.RunManaged(deterministic);
            double scale = 1 + scanCase.Length / 30.0;
            TensorAssert.Close(gpuResult.Output, cpuResult.Output, "output", scale);
            TensorAssert.Close(gpuResult.LastState, cpuResult.LastState, "last state", scale);

            ScanInputs.Loss(cpuResult, outputWeights, stateWeights).backward();
            ScanInputs.Loss(gpuResult, outputWeights.cuda(), stateWeights.cuda()).backward();
            HybridSeq.Managed.Native.Synchronize(0);
            foreach (((string name, Tensor g), (_, Tensor c)) in gpu.FloatInputs().Zip(cpu.FloatInputs()))
                TensorAssert.Close(g.grad!, c.grad!, $"d{name} (deterministic={deterministic})", 10 * scale);
        }
    }
}
