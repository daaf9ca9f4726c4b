using TorchSharp;
using static TorchSharp.torch;

namespace HybridSeq.Managed.Reference;

/// <summary>The Cauchy and Vandermonde kernels of the S4 family composed from plain TorchSharp ops: obviously correct,
/// differentiable by TorchSharp's own autograd (PyTorch's convention for complex inputs of a real loss), and
/// memory-hungry (they materialise the (H, N, L) complex matrix). They are the oracle of the tests and the baseline
/// of the benchmarks, never the production path (<see cref="CauchyKernel"/>, <see cref="VandermondeKernel"/>).
/// </summary>
public static class S4KernelReference
{
    /// <summary>out[h, l] = sum_n v[h, n] / (z[l] - w[h, n]); with <paramref name="conjugateSymmetric"/> each (v, w)
    /// also stands for its conjugate pair: out[h, l] = sum_n v / (z[l] - w) + conj(v) / (z[l] - conj(w)).</summary>
    /// <param name="v">(H, N) complex64 or complex128.</param>
    /// <param name="w">(H, N), the dtype of v.</param>
    /// <param name="z">(L), the dtype of v.</param>
    /// <param name="conjugateSymmetric">add the conjugate pair of every (v, w).</param>
    /// <returns>(H, L) in the dtype of v.</returns>
    public static Tensor Cauchy(Tensor v, Tensor w, Tensor z, bool conjugateSymmetric = false)
    {
        Tensor points = z.view(1, 1, -1);
        Tensor terms = v.unsqueeze(-1) / (points - w.unsqueeze(-1));
        if (conjugateSymmetric)
            terms = terms + v.conj().unsqueeze(-1) / (points - w.conj().unsqueeze(-1));
        return terms.sum(dim: 1);
    }

    /// <summary>out[h, l] = sum_n v[h, n] exp(x[h, n] l) for 0 &lt;= l &lt; <paramref name="length"/> (the log
    /// form: x is the log of the Vandermonde nodes). With <paramref name="conjugateSymmetric"/>:
    /// out = 2 Re(sum_n v exp(x l)), real (the sum over the conjugate pairs of v and x).</summary>
    /// <param name="v">(H, N) complex64 or complex128.</param>
    /// <param name="x">(H, N), the dtype of v.</param>
    /// <param name="length">L &gt;= 0.</param>
    /// <param name="conjugateSymmetric">sum over the conjugate pairs: 2 Re(...), real.</param>
    /// <returns>(H, L) in the dtype of v, or in its real dtype (float32 / float64) when conjugate-symmetric.</returns>
    public static Tensor Vandermonde(Tensor v, Tensor x, long length, bool conjugateSymmetric = false)
    {
        // arange has no complex dtype: the positions are real, in the real dtype of x.
        ScalarType real = x.dtype == ScalarType.ComplexFloat64 ? ScalarType.Float64 : ScalarType.Float32;
        Tensor positions = torch.arange(length, dtype: real, device: x.device);
        Tensor powers = torch.exp(x.unsqueeze(-1) * positions);
        Tensor sum = (v.unsqueeze(-1) * powers).sum(dim: 1);
        return conjugateSymmetric ? 2 * torch.real(sum) : sum;
    }
}
