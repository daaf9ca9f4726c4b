using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Tests.TestSupport;

/// <summary>Tolerances per dtype and a closeness assertion that reports where and by how much tensors differ.</summary>
public static class TensorAssert
{
    /// <summary>Relative and absolute tolerance for comparing two implementations of the same float math.</summary>
    public static (double Relative, double Absolute) TolerancesFor(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => (1e-9, 1e-11),
        ScalarType.Float32 => (2e-4, 2e-5),
        _ => throw new ArgumentException($"dtype: expected Float32 or Float64, got {dtype}.", nameof(dtype)),
    };

    /// <summary>Asserts |actual - expected| &lt;= absolute + relative * |expected| elementwise, with equal shapes.
    /// The failure message names <paramref name="what"/>, the worst element and the largest differences.</summary>
    public static void Close(Tensor actual, Tensor expected, double relative, double absolute, string what)
    {
        Assert.That(actual.shape, Is.EqualTo(expected.shape), $"{what}: shape");
        using var scope = torch.NewDisposeScope();
        Tensor a = actual.detach().to(ScalarType.Float64).cpu();
        Tensor e = expected.detach().to(ScalarType.Float64).cpu();
        Tensor excess = (a - e).abs() - (absolute + relative * e.abs());
        if (a.numel() == 0)
            return;
        Assert.That(a.isfinite().all().item<bool>(), Is.EqualTo(e.isfinite().all().item<bool>()),
            $"{what}: non-finite values differ");
        double worstExcess = excess.max().item<double>();
        if (worstExcess <= 0)
            return;
        long worst = excess.flatten().argmax().item<long>();
        double maxAbs = (a - e).abs().max().item<double>();
        Assert.Fail($"{what}: differs beyond rtol={relative:g3}, atol={absolute:g3}: max |diff| = {maxAbs:g6}; " +
                    $"worst at flat index {worst}: actual {a.flatten()[worst].item<double>():g10}, " +
                    $"expected {e.flatten()[worst].item<double>():g10}.");
    }

    /// <summary><see cref="Close(Tensor, Tensor, double, double, string)"/> with the dtype's default tolerances,
    /// optionally scaled (long recurrences accumulate float32 rounding).</summary>
    public static void Close(Tensor actual, Tensor expected, string what, double scale = 1.0)
    {
        (double relative, double absolute) = TolerancesFor(expected.dtype);
        Close(actual, expected, relative * scale, absolute * scale, what);
    }

    /// <summary>Asserts the same shape, dtype and bit-identical values (no tolerance).</summary>
    public static void Identical(Tensor actual, Tensor expected, string what)
    {
        Assert.That(actual.shape, Is.EqualTo(expected.shape), $"{what}: shape");
        Assert.That(actual.dtype, Is.EqualTo(expected.dtype), $"{what}: dtype");
        long differing = actual.ne(expected).sum().item<long>();
        Assert.That(differing, Is.Zero, $"{what}: {differing} of {actual.numel()} elements differ");
    }
}
