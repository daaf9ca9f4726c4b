using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The CUDA kernels against the CPU twin (float32) through the managed op, with TorchSharp CUDA tensors:
/// forward, every gradient and the step. Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA device.
/// </summary>
[TestFixture]
[Category("Cuda")]
public sealed class DilatedCausalConvCudaTests
{
    [SetUp]
    public void RequireCuda() => CudaRequirement.EnsureAvailable();

    public static IEnumerable<DilatedConvCase> Cases()
    {
        yield return new DilatedConvCase(3, 17, 9, 4, 7, 129, HasBias: true, HasState: true, HasLengths: true);
        yield return new DilatedConvCase(2, 5, 13, 31, 1, 1031, HasState: true, HasLengths: true);
        yield return new DilatedConvCase(4, 64, 70, 3, 4, 300, HasBias: true);
        yield return new DilatedConvCase(1, 1, 2, 1, 1, 1, HasBias: true);
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardBackwardAndStepMatchTheCpu(DilatedConvCase c)
    {
        using var scope = torch.NewDisposeScope();
        DilatedConvInputs cpu = c.MakeInputs(ScalarType.Float32, seed: 31).RequiringGrad();
        DilatedConvInputs gpu = c.MakeInputs(ScalarType.Float32, seed: 31, torch.CUDA).RequiringGrad();
        using var generator = new Generator(37);
        Tensor yWeights = torch.randn([c.Batch, c.OutChannels, c.Length], generator: generator);
        Tensor stateWeights = torch.randn([c.Batch, c.InChannels, c.StateLength], generator: generator);

        var cpuResult = cpu.RunManaged();
        var gpuResult = gpu.RunManaged();
        double scale = 1 + c.InChannels * c.Width / 50.0;
        TensorAssert.Close(gpuResult.Y, cpuResult.Y, "y", scale);
        TensorAssert.Identical(gpuResult.FinalState.cpu(), cpuResult.FinalState, "final state");
        DilatedConvInputs.Loss(cpuResult, yWeights, stateWeights).backward();
        DilatedConvInputs.Loss(gpuResult, yWeights.cuda(), stateWeights.cuda()).backward();
        HybridSeq.Managed.Native.Synchronize(0);
        foreach (((string name, Tensor g), (_, Tensor cpuInput)) in gpu.FloatInputs().Zip(cpu.FloatInputs()))
            TensorAssert.Close(g.grad!, cpuInput.grad!, $"d{name}", 10 * scale);

        Tensor state = (gpu.InitialState ?? torch.zeros([c.Batch, c.InChannels, c.StateLength], device: torch.CUDA))
            .detach().clone();
        Tensor y = HybridSeq.Managed.DilatedCausalConv.Step(state, gpu.X.detach(), gpu.Weight.detach(),
            gpu.Bias?.detach(), c.Dilation);
        (Tensor fullY, Tensor fullState) = HybridSeq.Managed.DilatedCausalConv.Forward(gpu.X.detach(),
            gpu.Weight.detach(), gpu.Bias?.detach(), c.Dilation, gpu.InitialState?.detach());
        TensorAssert.Close(y, fullY, "step y", scale);
        TensorAssert.Identical(state, fullState, "step state");
    }
}
