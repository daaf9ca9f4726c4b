using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed;

/// <summary>S4's Cauchy kernel, out[h, l] = sum_n v[h, n] / (z[l] - w[h, n]), on the native kernels: CPU
/// (complex64, complex128) and CUDA (complex64). Differentiable with respect to v and w (z, the evaluation points, is
/// fixed); gradients follow PyTorch's convention for complex inputs of a real loss, so they equal what TorchSharp's
/// autograd gives for <see cref="Reference.S4KernelReference.Cauchy"/>. See native/include/hybridseq.h.</summary>
public static class CauchyKernel
{
    /// <summary>The Cauchy sum over the state dimension N.</summary>
    /// <param name="v">(H, N) complex64 or complex128: the numerators.</param>
    /// <param name="w">(H, N), the dtype and device of v: the poles.</param>
    /// <param name="z">(L), the dtype and device of v: the evaluation points, shared by every row h; it must not
    /// require grad (no gradient is computed for it).</param>
    /// <param name="conjugateSymmetric">each (v, w) also stands for its conjugate pair (S4 keeps one of each pair):
    /// out = sum_n v / (z - w) + conj(v) / (z - conj(w)). For real z that is 2 Re(sum_n v / (z - w)); for complex z
    /// (S4's points on the unit circle, bilinearly transformed) it is not, and this is what is computed.</param>
    /// <returns>(H, L) complex in the dtype of v, a new tensor on its device.</returns>
    public static Tensor Forward(Tensor v, Tensor w, Tensor z, bool conjugateSymmetric = false)
    {
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(z);
        if (z.requires_grad && torch.is_grad_enabled())
            throw new ArgumentException(
                "z: the Cauchy kernel computes no gradient for the evaluation points z, but z requires grad; " +
                "pass z.detach() (S4's points are fixed).", nameof(z));
        Native.Load();
        if (!Autograd.NeedsGraph(v, w))
        {
            using var noGrad = torch.no_grad();
            return S4KernelsNative.CauchyForward(v.contiguous(), w.contiguous(), z.contiguous(), conjugateSymmetric);
        }
        return CauchyFunction.Apply(v, w, z, conjugateSymmetric);
    }
}
