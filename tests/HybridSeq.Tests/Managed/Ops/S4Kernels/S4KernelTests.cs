using HybridSeq.Managed;
using HybridSeq.Managed.Reference;
using HybridSeq.Tests.TestSupport;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.Managed.Ops;

/// <summary>One S4 kernel problem: H rows, N terms, L positions.</summary>
public sealed record S4Case(long H, long N, long L)
{
    public override string ToString() => $"H={H} N={N} L={L}";
}

/// <summary>S4-like inputs of one problem: poles / log-nodes with negative real parts, points off the poles.</summary>
public sealed record S4Inputs(Tensor V, Tensor W, Tensor X, Tensor Z)
{
    public static S4Inputs Make(S4Case c, ScalarType dtype, int seed, Device? device = null)
    {
        torch.manual_seed(seed);
        ScalarType real = dtype == ScalarType.ComplexFloat64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor Complex(Tensor re, Tensor im) => torch.complex(re, im).to(device ?? torch.CPU);
        Tensor Uniform(long[] shape, double low, double high) =>
            torch.rand(shape, dtype: real) * (high - low) + low;
        return new S4Inputs(
            Complex(Uniform([c.H, c.N], -1, 1), Uniform([c.H, c.N], -1, 1)),
            Complex(Uniform([c.H, c.N], -1, -0.1), Uniform([c.H, c.N], -4, 4)),
            Complex(Uniform([c.H, c.N], -0.02, -0.001), Uniform([c.H, c.N], -3, 3)),
            Complex(Uniform([c.L], 0.1, 0.3), Uniform([c.L], -5, 5)));
    }

    public S4Inputs RequiringGrad() => new(V.detach().requires_grad_(), W.detach().requires_grad_(),
        X.detach().requires_grad_(), Z.detach());

    /// <summary>The same values in complex128: the composed oracle of a complex64 run, which then measures the
    /// kernel's own rounding rather than the composed version's.</summary>
    public S4Inputs InComplex128() => new(V.to(ScalarType.ComplexFloat64), W.to(ScalarType.ComplexFloat64),
        X.to(ScalarType.ComplexFloat64), Z.to(ScalarType.ComplexFloat64));
}

/// <summary><see cref="CauchyKernel"/> and <see cref="VandermondeKernel"/> on the native CPU kernels against the composed
/// TorchSharp sums of <see cref="S4KernelReference"/>: values, and gradients of a real loss through TorchSharp's
/// autograd (PyTorch's convention for complex inputs), in complex64 and complex128 (the composed oracle runs in
/// complex128 on the same values, so a complex64 run is held to its own rounding); complex128 finite differences of
/// re and im separately; every bad input an ArgumentException naming it.</summary>
[TestFixture]
public sealed class S4KernelTests
{
    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (S4Case c in new S4Case[] { new(1, 1, 1), new(3, 7, 33), new(2, 64, 129), new(1, 129, 2049) })
        foreach (ScalarType dtype in new[] { ScalarType.ComplexFloat32, ScalarType.ComplexFloat64 })
        foreach (bool conjugate in new[] { false, true })
            yield return new TestCaseData(c, dtype, conjugate).SetArgDisplayNames(c.ToString(), dtype.ToString(),
                conjugate ? "conjugate" : "plain");
    }

    // A real loss: Re(sum conj(c) out) for a complex out, sum c out for a real one.
    internal static Tensor Loss(Tensor output, Tensor weights)
        => output.is_complex() ? torch.real(output * weights.conj()).sum() : (output * torch.real(weights)).sum();

    internal static double Scale(ScalarType dtype, long terms) =>
        dtype == ScalarType.ComplexFloat64 ? 1 : 1 + terms / 128.0;

    [TestCaseSource(nameof(Cases))]
    public void CauchyMatchesTheComposedSumAndItsAutograd(S4Case c, ScalarType dtype, bool conjugate)
    {
        using var scope = torch.NewDisposeScope();
        S4Inputs native = S4Inputs.Make(c, dtype, seed: 3).RequiringGrad();
        S4Inputs composed = S4Inputs.Make(c, dtype, seed: 3).InComplex128().RequiringGrad();
        Tensor output = CauchyKernel.Forward(native.V, native.W, native.Z, conjugate);
        Tensor expected = S4KernelReference.Cauchy(composed.V, composed.W, composed.Z, conjugate);
        Assert.That(output.dtype, Is.EqualTo(dtype));
        ComplexAssert.Close(output, expected.to(dtype), "out", Scale(dtype, c.N));

        Tensor weights = torch.randn([c.H, c.L], dtype: dtype);
        Loss(output, weights).backward();
        Loss(expected, weights.to(ScalarType.ComplexFloat64)).backward();
        ComplexAssert.Close(native.V.grad!, composed.V.grad!.to(dtype), "dv", Scale(dtype, c.L));
        ComplexAssert.Close(native.W.grad!, composed.W.grad!.to(dtype), "dw", Scale(dtype, c.L));
    }

    [TestCaseSource(nameof(Cases))]
    public void VandermondeMatchesTheComposedSumAndItsAutograd(S4Case c, ScalarType dtype, bool conjugate)
    {
        using var scope = torch.NewDisposeScope();
        S4Inputs native = S4Inputs.Make(c, dtype, seed: 5).RequiringGrad();
        S4Inputs composed = S4Inputs.Make(c, dtype, seed: 5).InComplex128().RequiringGrad();
        Tensor output = VandermondeKernel.Forward(native.V, native.X, c.L, conjugate);
        Tensor expected = S4KernelReference.Vandermonde(composed.V, composed.X, c.L, conjugate);
        Assert.That(output.dtype, Is.EqualTo(conjugate ? S4KernelsNativeDtypes.RealOf(dtype) : dtype));
        ComplexAssert.Close(output, expected.to(output.dtype), "out", Scale(dtype, c.N));

        Tensor weights = torch.randn([c.H, c.L], dtype: dtype);
        Loss(output, weights).backward();
        Loss(expected, weights.to(ScalarType.ComplexFloat64)).backward();
        // dx carries the factor l of d exp(x l) / dx: its rounding grows with L.
        ComplexAssert.Close(native.V.grad!, composed.V.grad!.to(dtype), "dv", Scale(dtype, c.L));
        ComplexAssert.Close(native.X.grad!, composed.X.grad!.to(dtype), "dx", Scale(dtype, c.L) * 2);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void GradientsMatchFiniteDifferencesInComplex128(bool conjugate)
    {
        using var scope = torch.NewDisposeScope();
        S4Case c = new(2, 5, 17);
        S4Inputs x = S4Inputs.Make(c, ScalarType.ComplexFloat64, seed: 8).RequiringGrad();
        Tensor weights = torch.randn([c.H, c.L], dtype: ScalarType.ComplexFloat64);

        Loss(CauchyKernel.Forward(x.V, x.W, x.Z, conjugate), weights).backward();
        Loss(VandermondeKernel.Forward(x.V, x.X, c.L, conjugate), weights).backward();
        Tensor dvBoth = x.V.grad!.clone();
        using (torch.no_grad())
        {
            // Each loss alone, differentiated along re and im of every element (the real view shares the memory).
            double CauchyLoss() => Loss(CauchyKernel.Forward(x.V, x.W, x.Z, conjugate), weights).item<double>();
            double VandermondeLoss() =>
                Loss(VandermondeKernel.Forward(x.V, x.X, c.L, conjugate), weights).item<double>();
            Tensor dw = FiniteDifference.Gradient(CauchyLoss, torch.view_as_real(x.W));
            Tensor dx = FiniteDifference.Gradient(VandermondeLoss, torch.view_as_real(x.X));
            Tensor dv = FiniteDifference.Gradient(CauchyLoss, torch.view_as_real(x.V)) +
                        FiniteDifference.Gradient(VandermondeLoss, torch.view_as_real(x.V));
            TensorAssert.Close(torch.view_as_real(x.W.grad!), dw, 1e-6, 1e-7, "dw");
            TensorAssert.Close(torch.view_as_real(x.X.grad!), dx, 1e-6, 1e-7, "dx");
            TensorAssert.Close(torch.view_as_real(dvBoth), dv, 1e-6, 1e-7, "dv");
        }
    }

    [Test]
    public void OnlyTheInputsThatRequireGradGetOne()
    {
        using var scope = torch.NewDisposeScope();
        S4Inputs x = S4Inputs.Make(new S4Case(2, 3, 9), ScalarType.ComplexFloat32, seed: 9);
        Tensor v = x.V.detach().requires_grad_();
        torch.real(CauchyKernel.Forward(v, x.W, x.Z)).sum().backward();
        Assert.That(v.grad, Is.Not.Null);
        Assert.That(x.W.grad, Is.Null);
        Tensor inference = VandermondeKernel.Forward(x.V, x.X, 9, conjugateSymmetric: true);
        Assert.That(inference.requires_grad, Is.False);
        Assert.That(inference.shape, Is.EqualTo(new long[] { 2, 9 }));
        Assert.That(inference.dtype, Is.EqualTo(ScalarType.Float32));
    }

    [Test]
    public void NonContiguousInputsGiveTheContiguousResult()
    {
        using var scope = torch.NewDisposeScope();
        S4Inputs x = S4Inputs.Make(new S4Case(4, 6, 11), ScalarType.ComplexFloat64, seed: 10);
        Tensor vT = x.V.t().contiguous().t();
        Assert.That(vT.is_contiguous(), Is.False);
        TensorAssert.Identical(CauchyKernel.Forward(vT, x.W, x.Z), CauchyKernel.Forward(x.V, x.W, x.Z), "cauchy");
        TensorAssert.Identical(VandermondeKernel.Forward(vT, x.X, 11), VandermondeKernel.Forward(x.V, x.X, 11),
            "vandermonde");
    }

    public static IEnumerable<TestCaseData> BadCalls()
    {
        S4Inputs x = S4Inputs.Make(new S4Case(2, 3, 5), ScalarType.ComplexFloat32, seed: 1);
        yield return Bad("v", "complex64 or complex128", () => CauchyKernel.Forward(torch.real(x.V), x.W, x.Z));
        yield return Bad("v", "view_as_complex",
            () => CauchyKernel.Forward(torch.view_as_real(x.V), x.W, x.Z));
        yield return Bad("w", "(2, 3) (H, N) complex", () => CauchyKernel.Forward(x.V, x.W.t(), x.Z));
        yield return Bad("w", "complex64 like 'v'",
            () => CauchyKernel.Forward(x.V, x.W.to(ScalarType.ComplexFloat64), x.Z));
        yield return Bad("z", "rank 1 (L) complex", () => CauchyKernel.Forward(x.V, x.W, x.Z.view(1, 5)));
        yield return Bad("z", "no gradient for the evaluation points",
            () => CauchyKernel.Forward(x.V, x.W, x.Z.detach().requires_grad_()));
        yield return Bad("x", "(2, 3) (H, N) complex", () => VandermondeKernel.Forward(x.V, x.X[..1], 5));
        yield return Bad("x", "complex64 like 'v'",
            () => VandermondeKernel.Forward(x.V, torch.real(x.X), 5, conjugateSymmetric: true));
        yield return Bad("length", "L >= 0, got -1", () => VandermondeKernel.Forward(x.V, x.X, -1));
        yield return Bad("v", "Float16", () => VandermondeKernel.Forward(torch.real(x.V).half(), x.X, 5));
    }

    private static TestCaseData Bad(string parameter, string fragment, TestDelegate call)
        => new TestCaseData(parameter, fragment, call).SetArgDisplayNames(parameter, fragment);

    [TestCaseSource(nameof(BadCalls))]
    public void BadInputsAreArgumentExceptionsNamingTheArgument(string parameter, string fragment, TestDelegate call)
    {
        var error = Assert.Throws(Is.InstanceOf<ArgumentException>(), call) as ArgumentException;
        Assert.That(error!.ParamName, Is.EqualTo(parameter));
        Assert.That(error.Message, Does.Contain(fragment));
    }

    [Test]
    public void TheScanRefusesComplexTensorsNamingU()
    {
        Tensor u = torch.zeros([1, 2, 3], dtype: ScalarType.ComplexFloat32);
        Tensor real = torch.zeros([1, 2, 3]);
        Tensor a = torch.zeros([2, 4]);
        var error = Assert.Throws<HybridSeqArgumentException>(() =>
            HybridSeq.Managed.SelectiveScan.Forward(u, real, a, a, a))!;
        Assert.That(error.ParamName, Is.EqualTo("u"));
        Assert.That(error.Message, Does.Contain("float32 or float64, got complex64"));
    }
}

internal static class S4KernelsNativeDtypes
{
    public static ScalarType RealOf(ScalarType dtype) =>
        dtype == ScalarType.ComplexFloat64 ? ScalarType.Float64 : ScalarType.Float32;
}

/// <summary>Closeness of complex (or real) tensors through their real views, with the tolerances of the real dtype.
/// </summary>
public static class ComplexAssert
{
    public static void Close(Tensor actual, Tensor expected, string what, double scale = 1.0)
    {
        Assert.That(actual.dtype, Is.EqualTo(expected.dtype), $"{what}: dtype");
        Tensor a = actual.is_complex() ? torch.view_as_real(actual.detach().resolve_conj()) : actual;
        Tensor e = expected.is_complex() ? torch.view_as_real(expected.detach().resolve_conj()) : expected;
        TensorAssert.Close(a, e, what, scale);
    }
}
