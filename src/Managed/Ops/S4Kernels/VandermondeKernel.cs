using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>The Vandermonde kernel of S4D and DSS in its log form, out[h, l] = sum_n v[h, n] exp(x[h, n] l) for
/// 0 &lt;= l &lt; L, on the native kernels: CPU (complex64, complex128) and CUDA (complex64). Differentiable with
/// respect to v and x; gradients follow PyTorch's convention for complex inputs of a real loss, so they equal what
/// TorchSharp's autograd gives for <see cref="Reference.S4KernelReference.Vandermonde"/>. See
/// native/include/hybridseq.h.</summary>
public static class VandermondeKernel
{
    /// <summary>The Vandermonde sum over the state dimension N at positions 0 .. L-1.</summary>
    /// <param name="v">(H, N) complex64 or complex128: the coefficients (S4D: C B (exp(dt A) - 1) / A).</param>
    /// <param name="x">(H, N), the dtype and device of v: the log of the nodes (S4D: dt A).</param>
    /// <param name="length">L &gt;= 0, the number of positions.</param>
    /// <param name="conjugateSymmetric">v and x stand for conjugate pairs (S4D keeps one of each pair): the result is
    /// out = 2 Re(sum_n v exp(x l)), real.</param>
    /// <returns>(H, L), a new tensor on the device of v: complex in the dtype of v, or real (float32 for complex64,
    /// float64 for complex128) when <paramref name="conjugateSymmetric"/>.</returns>
    public static Tensor Forward(Tensor v, Tensor x, long length, bool conjugateSymmetric = false)
    {
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(x);
        if (length < 0)
            throw new ArgumentException($"length: expected L >= 0, got {length}.", nameof(length));
        Native.Load();
        if (!Autograd.NeedsGraph(v, x))
        {
            using var noGrad = torch.no_grad();
            return S4KernelsNative.VandermondeForward(v.contiguous(), x.contiguous(), length, conjugateSymmetric);
        }
        return VandermondeFunction.Apply(v, x, length, conjugateSymmetric);
    }
}
