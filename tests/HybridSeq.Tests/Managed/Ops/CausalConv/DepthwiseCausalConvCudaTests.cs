using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The CUDA kernels against the CPU twin (float32) through the managed op, with TorchSharp CUDA tensors:
/// forward, every gradient, and the step. Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA device.
/// </summary>
[TestFixture]
[Category("Cuda")]
public sealed class DepthwiseCausalConvCudaTests
{
    [SetUp]
    public void RequireCuda() => CudaRequirement.EnsureAvailable();

    public static IEnumerable<DepthwiseConvCase> Cases()
    {
        yield return new DepthwiseConvCase(3, 9, 1031, 4, 1, HasBias: true, Silu: true, HasState: true, HasLengths: true);
        yield return new DepthwiseConvCase(2, 5, 7, 31, 2, HasState: true, HasLengths: true);
        yield return new DepthwiseConvCase(2, 17, 129, 3, 64, HasBias: true, Silu: false, HasState: true);
        yield return new DepthwiseConvCase(1, 3, 1, 1, 1, Silu: true);
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardBackwardAndStepMatchTheCpu(DepthwiseConvCase convCase)
    {
        using var scope = torch.NewDisposeScope();
        DepthwiseConvInputs cpu = convCase.MakeInputs(ScalarType.Float32, 61).RequiringGrad();
        DepthwiseConvInputs gpu = convCase.MakeInputs(ScalarType.Float32, 61, torch.CUDA).RequiringGrad();
        (Tensor yWeights, Tensor stateWeights) = DepthwiseCausalConvTests.LossWeights(convCase, 62, ScalarType.Float32);
        var cpuResult = cpu.RunManaged();
        var gpuResult = gpu.RunManaged();
        TensorAssert.Close(gpuResult.Y, cpuResult.Y, "y");
        TensorAssert.Close(gpuResult.FinalState, cpuResult.FinalState, "final state");
        DepthwiseConvInputs.Loss(cpuResult, yWeights, stateWeights).backward();
        DepthwiseConvInputs.Loss(gpuResult, yWeights.cuda(), stateWeights.cuda()).backward();
        Native.Synchronize(0);
        double sumScale = Math.Sqrt(convCase.Batch * convCase.Length);
        foreach (((string name, Tensor g), (_, Tensor c)) in gpu.FloatInputs().Zip(cpu.FloatInputs()))
            TensorAssert.Close(g.grad!, c.grad!, $"d{name}", sumScale);

        Tensor state = (gpu.InitialState ?? torch.zeros([convCase.Batch, convCase.Channels, convCase.StateLength],
            device: torch.CUDA)).detach().clone();
        Tensor stepped = DepthwiseCausalConv.Step(state, gpu.X.detach(), gpu.Weight.detach(), gpu.Bias?.detach(),
            gpu.Dilation, gpu.Silu);
        (Tensor noLengthsY, Tensor noLengthsState) = DepthwiseCausalConv.Forward(cpu.X.detach(), cpu.Weight.detach(),
            cpu.Bias?.detach(), cpu.Dilation, cpu.Silu, cpu.InitialState?.detach());
        TensorAssert.Close(stepped, noLengthsY, "step y");
        TensorAssert.Close(state, noLengthsState, "stepped state");
    }
}
