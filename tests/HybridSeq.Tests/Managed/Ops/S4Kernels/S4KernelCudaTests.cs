using HybridSeq.Managed;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>The CUDA S4 kernels (complex64) against the CPU twin through the managed ops, values and autograd
/// gradients, end to end with TorchSharp CUDA tensors; complex128 on CUDA is a NotSupportedException naming v.
/// Ignored (skipped) wherever HybridSeq or TorchSharp has no CUDA device.</summary>
[TestFixture]
[Category("Cuda")]
public sealed class S4KernelCudaTests
{
    [SetUp]
    public void RequireCuda() => CudaRequirement.EnsureAvailable();

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (S4Case c in new S4Case[] { new(1, 1, 1), new(3, 7, 33), new(4, 64, 2049), new(2, 300, 257) })
        foreach (bool conjugate in new[] { false, true })
            yield return new TestCaseData(c, conjugate).SetArgDisplayNames(c.ToString(),
                conjugate ? "conjugate" : "plain");
    }

    [TestCaseSource(nameof(Cases))]
    public void CauchyAndVandermondeMatchTheCpu(S4Case c, bool conjugate)
    {
        using var scope = torch.NewDisposeScope();
        S4Inputs cpu = S4Inputs.Make(c, ScalarType.ComplexFloat32, seed: 21).RequiringGrad();
        S4Inputs gpu = S4Inputs.Make(c, ScalarType.ComplexFloat32, seed: 21, torch.CUDA).RequiringGrad();
        Tensor weights = torch.randn([c.H, c.L], dtype: ScalarType.ComplexFloat32);

        Tensor cauchyCpu = CauchyKernel.Forward(cpu.V, cpu.W, cpu.Z, conjugate);
        Tensor cauchyGpu = CauchyKernel.Forward(gpu.V, gpu.W, gpu.Z, conjugate);
        Tensor vanderCpu = VandermondeKernel.Forward(cpu.V, cpu.X, c.L, conjugate);
        Tensor vanderGpu = VandermondeKernel.Forward(gpu.V, gpu.X, c.L, conjugate);
        double scale = S4KernelTests.Scale(ScalarType.ComplexFloat32, c.N);
        // CUDA evaluates exp(x l) from the float32 argument x * l: the angle's rounding grows with l.
        double lengthScale = 1 + c.L / 64.0;
        ComplexAssert.Close(cauchyGpu.cpu(), cauchyCpu, "cauchy", scale);
        ComplexAssert.Close(vanderGpu.cpu(), vanderCpu, "vandermonde", scale * lengthScale);

        (S4KernelTests.Loss(cauchyCpu, weights) + S4KernelTests.Loss(vanderCpu, weights)).backward();
        (S4KernelTests.Loss(cauchyGpu, weights.cuda()) + S4KernelTests.Loss(vanderGpu, weights.cuda())).backward();
        HybridSeq.Managed.Native.Synchronize(0);
        double gradScale = S4KernelTests.Scale(ScalarType.ComplexFloat32, c.L) * lengthScale;
        ComplexAssert.Close(gpu.V.grad!.cpu(), cpu.V.grad!, "dv", gradScale);
        ComplexAssert.Close(gpu.W.grad!.cpu(), cpu.W.grad!, "dw", gradScale);
        ComplexAssert.Close(gpu.X.grad!.cpu(), cpu.X.grad!, "dx", gradScale);
    }

    [Test]
    public void Complex128IsNotSupportedOnCuda()
    {
        S4Inputs x = S4Inputs.Make(new S4Case(2, 3, 5), ScalarType.ComplexFloat64, seed: 1, torch.CUDA);
        var error = Assert.Throws<HybridSeqUnsupportedException>(() => VandermondeKernel.Forward(x.V, x.X, 5))!;
        Assert.That(error.Message, Does.Contain("argument 'v' is complex128 on cuda:0"));
    }
}
