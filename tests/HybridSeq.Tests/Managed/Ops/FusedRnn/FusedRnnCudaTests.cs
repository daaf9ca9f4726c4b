using HybridSeq.Managed;
using HybridSeq.Models.Recurrent;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The CUDA fused recurrence against the CPU twin (float32) through the managed op and the modules, end to
/// end with TorchSharp CUDA tensors. Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA device. What holds
/// on every device (step equals forward) is in <see cref="FusedRnnDeviceTests"/>.</summary>
[TestFixture]
[Category("Cuda")]
public sealed class FusedRnnCudaTests
{
    [SetUp]
    public void RequireCuda() => CudaRequirement.EnsureAvailable();

    public static IEnumerable<RnnCase> Cases()
    {
        foreach (RnnCell cell in new[] { RnnCell.Lstm, RnnCell.Gru, RnnCell.Slstm })
        {
            yield return new RnnCase(cell, Batch: 5, Steps: 37, Heads: 1, HeadDim: 33, HasS0: true, HasLengths: true);
            yield return new RnnCase(cell, Batch: 3, Steps: 1, Heads: 3, HeadDim: 7, Reverse: true);
            yield return new RnnCase(cell, Batch: 16, Steps: 64, Heads: 4, HeadDim: 32, HasS0: true, HasLengths: true,
                Reverse: true);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void ForwardAndBackwardMatchTheCpu(RnnCase rnnCase)
    {
        foreach (bool allowTf32 in new[] { false, true })
        {
            using var scope = torch.NewDisposeScope();
            RnnInputs cpu = rnnCase.MakeInputs(ScalarType.Float32, seed: 81).RequiringGrad();
            RnnInputs gpu = rnnCase.MakeInputs(ScalarType.Float32, seed: 81, torch.CUDA).RequiringGrad();
            (Tensor weightsY, Tensor weightsS) = rnnCase.LossWeights(seed: 82, ScalarType.Float32);

            var cpuResult = cpu.RunManaged();
            var gpuResult = gpu.RunManaged(allowTf32);
            // TF32 rounds R h to a 10-bit mantissa (about 1e-3 relative), which the recurrence carries on.
            double scale = (1 + rnnCase.Steps / 10.0) * (allowTf32 ? 50 : 1);
            TensorAssert.Close(gpuResult.Y, cpuResult.Y, $"y (tf32={allowTf32})", scale);
            TensorAssert.Close(gpuResult.SLast, cpuResult.SLast, $"s_last (tf32={allowTf32})", scale);

            RnnInputs.Loss(cpuResult, weightsY, weightsS).backward();
            RnnInputs.Loss(gpuResult, weightsY.cuda(), weightsS.cuda()).backward();
            HybridSeq.Managed.Native.Synchronize(0);
            foreach (((string name, Tensor g), (_, Tensor c)) in gpu.FloatInputs().Zip(cpu.FloatInputs()))
                TensorAssert.Close(g.grad!, c.grad!, $"d{name} (tf32={allowTf32})", 10 * scale);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public void StepMatchesTheCpu(RnnCase rnnCase)
    {
        using var scope = torch.NewDisposeScope();
        RnnInputs cpu = rnnCase.MakeInputs(ScalarType.Float32, seed: 83);
        RnnInputs gpu = rnnCase.MakeInputs(ScalarType.Float32, seed: 83, torch.CUDA);
        Tensor cpuState = torch.zeros([rnnCase.States, rnnCase.Batch, rnnCase.Hidden]);
        Tensor gpuState = cpuState.cuda();
        Tensor cpuY = FusedRnn.Step(rnnCase.Cell, cpu.Wx[0], cpu.R, cpu.B, cpuState);
        Tensor gpuY = FusedRnn.Step(rnnCase.Cell, gpu.Wx[0], gpu.R, gpu.B, gpuState);
        TensorAssert.Close(gpuY, cpuY, "y");
        TensorAssert.Close(gpuState, cpuState, "state");
    }

    /// <summary>A 2-layer bidirectional FusedLSTM with lengths on CUDA equals the same module on the CPU (forward, input
    /// and parameter gradients: FusedRnnLayer's CUDA path, projection through libtorch and dwx in CUDA scratch).</summary>
    [Test]
    public void BidirectionalModuleMatchesTheCpu()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(84);
        var cpuModule = new FusedLSTM(12, 32, numLayers: 2, bidirectional: true, batchFirst: true);
        var gpuModule = new FusedLSTM(12, 32, numLayers: 2, bidirectional: true, batchFirst: true);
        gpuModule.load_state_dict(cpuModule.state_dict());
        gpuModule.to(torch.CUDA);
        Tensor input = torch.randn(6, 40, 12);
        Tensor cpuInput = input.clone().requires_grad_(true), gpuInput = input.cuda().requires_grad_(true);
        Tensor lengths = torch.tensor(new long[] { 40, 17, 1, 0, 39, 20 });

        (Tensor cpuOutput, _) = cpuModule.forward(cpuInput, null, lengths);
        (Tensor gpuOutput, _) = gpuModule.forward(gpuInput, null, lengths);
        TensorAssert.Close(gpuOutput, cpuOutput, "output", scale: 5);
        cpuOutput.square().sum().backward();
        gpuOutput.square().sum().backward();
        HybridSeq.Managed.Native.Synchronize(0);
        TensorAssert.Close(gpuInput.grad!, cpuInput.grad!, "d input", scale: 50);
        foreach (((string name, var g), (_, var c)) in gpuModule.named_parameters().Zip(cpuModule.named_parameters()))
            TensorAssert.Close(g.grad!, c.grad!, $"d{name}", scale: 50);

        // Inference (no-grad) on CUDA gives the output of the recorded forward.
        using (torch.no_grad())
        {
            (Tensor inference, _) = gpuModule.forward(gpuInput, null, lengths);
            TensorAssert.Close(inference, gpuOutput, "no-grad output", scale: 1);
        }
    }
}
