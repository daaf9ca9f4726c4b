using HybridSeq.Managed;
using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Models.StateSpace;

/// <summary>
/// The two kernel sums the S4 family is built on, behind one seam so the layers do not care where they run:
/// the Vandermonde sum of S4D (out[h, l] = Σ_n v[h, n] exp(x[h, n] l), l &lt; L) and the Cauchy sum of S4
/// (out[h, l] = Σ_n v[h, n] / (z[l] − w[h, n])). Both take the conjugate-symmetric form S4 uses: only one of each
/// conjugate pair of (v, w) or (v, x) is passed and the sum covers both, which for the Vandermonde sum is the real
/// 2 Re(Σ_n ...). Every argument is complex ((H, N) complex64 or complex128; z (L) complex) and differentiable.
/// <para>The composed TorchSharp forms in <see cref="ComposedSsmKernels"/> are the reference (and the benchmark's
/// baseline); <see cref="Cauchy"/> and <see cref="Vandermonde"/> route to the native ops where they exist.</para>
/// </summary>
public static class SsmKernels
{
    /// <summary>Conjugate-symmetric Vandermonde sum: 2 Re Σ_n v[h, n] exp(x[h, n] l) for l in [0, length):
    /// (H, N) complex, (H, N) complex -> (H, length) real (the complex dtype's real part type).</summary>
    public static Tensor Vandermonde(Tensor v, Tensor x, long length) => Native(v)
        ? VandermondeKernel.Forward(v, x, length, conjugateSymmetric: true)
        : ComposedSsmKernels.Vandermonde(v, x, length);

    /// <summary>Conjugate-symmetric Cauchy sum: Σ_n v/(z − w) + conj(v)/(z − conj(w)):
    /// v, w (H, N) complex, z (L) complex -> (H, L) complex.</summary>
    public static Tensor Cauchy(Tensor v, Tensor w, Tensor z) => Native(v)
        ? CauchyKernel.Forward(v, w, z, conjugateSymmetric: true)
        : ComposedSsmKernels.Cauchy(v, w, z);

    /// <summary>The native ops cover the CPU (complex64, complex128) and CUDA complex64; the rest is composed.</summary>
    private static bool Native(Tensor v) =>
        v is not null && (v.device_type == DeviceType.CPU || v.dtype == ScalarType.ComplexFloat32);
}

/// <summary>
/// The kernel sums of <see cref="SsmKernels"/> composed from TorchSharp ops: they materialise the (H, N, L) terms
/// and reduce over N (memory H·N·L complex values). The reference the native ops are measured against.
/// </summary>
public static class ComposedSsmKernels
{
    /// <summary>2 Re Σ_n v exp(x l): v, x (H, N) complex -> (H, length) real.</summary>
    public static Tensor Vandermonde(Tensor v, Tensor x, long length)
    {
        CheckComplexPair(v, x, nameof(v), nameof(x));
        if (length < 1)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"length: expected at least 1, got {length}.");
        var positions = arange(length, dtype: RealOf(x.dtype), device: x.device);
        var terms = exp(x.unsqueeze(-1) * positions) * v.unsqueeze(-1);     // (H, N, L)
        return terms.sum(1).real * 2;
    }

    /// <summary>Σ_n v/(z − w) + conj(v)/(z − conj(w)): v, w (H, N) complex, z (L) complex -> (H, L) complex.</summary>
    public static Tensor Cauchy(Tensor v, Tensor w, Tensor z)
    {
        CheckComplexPair(v, w, nameof(v), nameof(w));
        ArgumentNullException.ThrowIfNull(z);
        if (z.dim() != 1 || z.dtype != v.dtype)
            throw new ArgumentException(
                $"z: expected (L) {v.dtype} evaluation points, got {z.dtype} of shape ({string.Join(", ", z.shape)}).",
                nameof(z));
        var vv = v.unsqueeze(-1);
        var ww = w.unsqueeze(-1);
        var terms = vv / (z - ww) + vv.conj() / (z - ww.conj());             // (H, N, L)
        return terms.sum(1);
    }

    internal static ScalarType RealOf(ScalarType complexType) => complexType switch
    {
        ScalarType.ComplexFloat64 => ScalarType.Float64,
        ScalarType.ComplexFloat32 => ScalarType.Float32,
        _ => throw new ArgumentException($"expected complex64 or complex128, got {complexType}."),
    };

    internal static ScalarType ComplexOf(ScalarType realType) => realType switch
    {
        ScalarType.Float64 => ScalarType.ComplexFloat64,
        ScalarType.Float32 => ScalarType.ComplexFloat32,
        _ => throw new ArgumentException($"expected float32 or float64, got {realType}."),
    };

    private static void CheckComplexPair(Tensor a, Tensor b, string aName, string bName)
    {
        ArgumentNullException.ThrowIfNull(a, aName);
        ArgumentNullException.ThrowIfNull(b, bName);
        if (a.dim() != 2 || a.dtype is not (ScalarType.ComplexFloat32 or ScalarType.ComplexFloat64))
            throw new ArgumentException(
                $"{aName}: expected (H, N) complex, got {a.dtype} of shape ({string.Join(", ", a.shape)}).", aName);
        if (!b.shape.SequenceEqual(a.shape) || b.dtype != a.dtype)
            throw new ArgumentException(
                $"{bName}: expected (H, N) = ({string.Join(", ", a.shape)}) {a.dtype} like {aName}, got {b.dtype} of " +
                $"shape ({string.Join(", ", b.shape)}).", bName);
    }
}
